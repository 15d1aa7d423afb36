"""`neurocodec-train`: LightningCLI over the codec modules and data modules.

    neurocodec-train fit --config neurocodec/train/configs/hyperprior.yaml
    neurocodec-train fit --config ... --ckpt_path runs/hyperprior/version_0/checkpoints/last.ckpt   # resume
"""

from __future__ import annotations

import sys

import lightning as L
from lightning.pytorch.cli import LightningCLI


def main(args: list[str] | None = None) -> None:
    LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
