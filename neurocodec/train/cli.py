"""`neurocodec-train`: LightningCLI over the codec modules and data modules.

    neurocodec-train fit --config neurocodec/train/configs/hyperprior.yaml
    neurocodec-train fit --config ... --ckpt_path runs/hyperprior/version_0/checkpoints/last.ckpt   # resume

A resumed run takes the model's arguments from its checkpoint (LightningCLI's rule), except its
budgets (``cpu_budget_s``, ``wall_budget_s``): those given now win, so a run can be extended.
"""

from __future__ import annotations

import sys

import lightning as L
from lightning.pytorch.cli import LightningCLI

# model arguments that belong to the run, not to the model: a resume may change them
RUN_ARGUMENTS = ("cpu_budget_s", "wall_budget_s")


class NeurocodecCLI(LightningCLI):
    def _parse_ckpt_path(self) -> None:
        sub = self.config.get("subcommand")
        init = self.config[sub].get("model", {}).get("init_args") if sub else None
        given = {k: init.get(k) for k in RUN_ARGUMENTS if init is not None and init.get(k) is not None}
        super()._parse_ckpt_path()
        if given:
            init = self.config[sub]["model"]["init_args"]
            for k, v in given.items():
                init[k] = v


def main(args: list[str] | None = None) -> None:
    NeurocodecCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
