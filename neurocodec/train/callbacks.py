"""Lightning callbacks of neurocodec training."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import lightning as L
import torch


class RankProbe(L.Callback):
    """Writes, per rank, a fingerprint of every training batch and, at the end, a checksum of
    every parameter and buffer (``<dir>/rank<R>.json``): the evidence that under DDP the ranks
    drew different samples and ended with identical weights."""

    def __init__(self, dir: str) -> None:  # noqa: A002 - the CLI option name
        self.dir = Path(dir)
        self.batches: list[str] = []
        self.times: list[float] = []  # perf_counter at each batch start (seconds)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:  # noqa: ANN001
        self.times.append(time.perf_counter())
        x = batch if isinstance(batch, torch.Tensor) else batch[0]
        self.batches.append(hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        h = hashlib.sha256()
        for k, v in sorted(pl_module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        self.dir.mkdir(parents=True, exist_ok=True)
        doc = {"rank": trainer.global_rank, "world": trainer.world_size, "step": trainer.global_step,
               "batches": self.batches, "times": self.times, "state_sha256": h.hexdigest()}
        (self.dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(doc))
