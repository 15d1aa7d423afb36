"""Training: LightningModules and DataModules per modality, and the LightningCLI entry point
(`neurocodec-train fit --config <yaml>`; shipped configs under train/configs/)."""
