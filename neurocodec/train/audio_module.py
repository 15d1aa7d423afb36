"""LightningModule for the RVQ audio codecs.

loss = 15 * multi-scale log-mel L1 + 1 * codebook loss + 0.25 * commitment loss (DAC's weights
without the adversarial terms), quantiser dropout inside the codec. Validation on whole held-out
utterances at every `val_stages` number of stages logs the mel distance, STOI (when pystoi is
installed) and codebook usage (the fraction of entries used and the perplexity of each stage).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from neurocodec.codecs import registry
from neurocodec.codecs.audio.base import AudioCodec
from neurocodec.nn.mel import MultiScaleMel

log = logging.getLogger(__name__)


class AudioCodecModule(L.LightningModule):
    """Trains an audio codec by name (``dac``, ``snac``)."""

    def __init__(self, codec: str = "dac", codec_config: dict[str, Any] | None = None, lr: float = 3e-4,
                 lr_gamma: float = 1.0, betas: tuple[float, float] = (0.8, 0.99), mel_weight: float = 15.0,
                 codebook_weight: float = 1.0, commitment_weight: float = 0.25, clip: float = 1e3,
                 val_stages: list[int] | None = None, init_from: str | None = None) -> None:
        """lr_gamma: learning-rate decay per step. init_from: start from this checkpoint's weights
        (fresh optimiser; --ckpt_path instead resumes a run exactly)."""
        super().__init__()
        self.save_hyperparameters()
        self.codec: AudioCodec = registry.build(codec, **(codec_config or {}))
        if init_from:
            src = registry.load(init_from).state_dict()
            own = self.codec.state_dict()
            shared = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
            self.codec.load_state_dict(shared, strict=False)
            log.info("init_from %s: %d of %d tensors", init_from, len(shared), len(own))
            self.codec.train()
        self.mel = MultiScaleMel(self.codec.sample_rate)
        self._usage: dict[int, torch.Tensor] = {}

    def training_step(self, x: torch.Tensor, batch_idx: int) -> torch.Tensor:
        out = self.codec(x)
        mel = self.mel(out["x_hat"], x).mean()
        cb, cm = out["codebook"].mean(), out["commitment"].mean()
        loss = self.hparams.mel_weight * mel + self.hparams.codebook_weight * cb + self.hparams.commitment_weight * cm
        self.log_dict({"train/loss": loss, "train/mel": mel, "train/codebook": cb, "train/commitment": cm}, prog_bar=True)
        return loss

    def _stages(self) -> list[int]:
        n = self.codec.n_q
        return sorted({min(n, s) for s in (self.hparams.val_stages or [max(1, n // 3), max(1, 2 * n // 3), n])})

    def on_validation_epoch_start(self) -> None:
        self._usage = {}

    def validation_step(self, x: torch.Tensor, batch_idx: int) -> None:
        with torch.no_grad():
            self.log("val/latent_rms", self.codec.encoder(x).pow(2).mean().sqrt(), batch_size=1, sync_dist=True)
        for n in self._stages():
            out = self.codec(x, n)
            y = out["x_hat"]
            self.log(f"val/mel_n{n}", self.mel(y, x).mean(), batch_size=1, sync_dist=True)
            stoi = _stoi(x[0, 0], y[0, 0], self.codec.sample_rate)
            if stoi is not None:
                self.log(f"val/stoi_n{n}", stoi, batch_size=1, sync_dist=True)
            if n == self.codec.n_q:
                for i, c in enumerate(out["codes"]):
                    h = torch.bincount(c.flatten(), minlength=self.codec.quantizer.size).double()
                    self._usage[i] = self._usage.get(i, 0) + h

    def on_validation_epoch_end(self) -> None:
        if not self._usage:
            return
        used, perp = [], []
        for h in self._usage.values():
            p = h / h.sum().clamp_min(1)
            used.append(float((h > 0).double().mean()))
            perp.append(float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum())))
        self.log_dict({"val/codes_used": sum(used) / len(used), "val/perplexity": sum(perp) / len(perp)})

    def configure_optimizers(self):  # noqa: ANN201 - Lightning's union type
        opt = torch.optim.AdamW(self.codec.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas))
        if self.hparams.lr_gamma >= 1.0:
            return opt
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, self.hparams.lr_gamma)
        return [opt], [{"scheduler": sched, "interval": "step"}]


def _stoi(x: torch.Tensor, y: torch.Tensor, rate: int) -> float | None:
    try:
        from pystoi import stoi
    except ImportError:
        return None
    return float(stoi(x.double().cpu().numpy(), y.double().cpu().numpy(), rate, extended=False))
