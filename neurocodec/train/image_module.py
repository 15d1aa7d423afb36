"""LightningModule for learned image codecs: rate-distortion training over quality levels."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from pytorch_msssim import ms_ssim

from neurocodec.codecs import registry
from neurocodec.codecs.image.base import ImageCodec
from neurocodec.nn.precision import widen


class ImageCodecModule(L.LightningModule):
    """Trains an image codec by name.

    loss = lambda_q * D + bpp, with D = 255^2 * MSE (or 1 - MS-SSIM), a quality level q drawn
    per batch; the factorised prior's quantiles have their own auxiliary loss and optimiser;
    gradients are clipped. Validation logs estimated bpp and PSNR at the lowest, middle and
    highest levels, and the transform ceiling (PSNR of g_s(g_a(x)) with the latent unquantised;
    also logged in training every ``log_every_n_steps``).

    Recipe options (the recipe study, ``scripts/recipe_study.py``): a learning-rate schedule over
    the run's progress, a CPU-time budget, level sampling weights and a distortion-only warm-up.
    Progress is the fraction of ``cpu_budget_s`` used when a budget is set (CPU seconds of this
    process, summed over resumed runs: fair between jobs sharing cores) or of ``wall_budget_s``
    (whichever is further), else of ``trainer.max_steps``.
    """

    def __init__(
        self,
        codec: str = "hyperprior",
        codec_config: dict[str, Any] | None = None,
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        clip: float = 1.0,
        distortion: Literal["mse", "ms-ssim"] = "mse",
        lr_drop_steps: list[int] | None = None,
        init_from: str | None = None,
        init_hyperprior_from: str | None = None,
        schedule: Literal["constant", "linear", "cosine"] = "constant",
        warmup: float = 0.0,
        cpu_budget_s: float | None = None,
        wall_budget_s: float | None = None,
        level_weights: list[float] | None = None,
        distortion_warmup: float = 0.0,
        synthesis_quantization: Literal["ste", "noise"] = "ste",
        frozen: list[str] | None = None,
        frozen_until: float = 0.0,
        lr_scale: dict[str, float] | None = None,
        channels_last: bool = False,
        compile: list[str] | None = None,  # noqa: A002 - the option's name in configs
    ) -> None:
        """init_from: start from this checkpoint's weights (fresh optimiser), e.g. to continue
        with another learning rate; --ckpt_path instead resumes a run exactly.
        init_hyperprior_from: a trained codec whose shared parts start this one where layouts
        and shapes match: a mean-scale hyperprior's h_a, h_s, factorised prior and gains for the
        shallow codecs (and g_a too from a trained shallow codec); for mambaic, all of a
        hyperprior's parts (or a gmm's g_a, g_s, prior and gains) (each codec's
        ``init_from_hyperprior``).
        schedule: the learning rate over progress p in [0, 1]: constant, or decayed to 0 at p = 1
        linearly ("budgeted training", Li et al., ICLR 2020) or by a half cosine, after a linear
        warm-up over the first ``warmup`` of progress.
        cpu_budget_s: stop when this process has used this many CPU seconds in training (counted
        across resumes; data loading counts only with ``workers: 0``).
        wall_budget_s: the same in wall-clock seconds of training (a GPU burst); with both
        budgets, the first one spent ends the run.
        level_weights: relative probabilities of drawing each quality level (default uniform).
        distortion_warmup: train on distortion alone (rate term off: an autoencoder warm-up that
        lifts the transform ceiling) for this first fraction of progress.
        synthesis_quantization: what the synthesis sees in training: the rounded latent with a
        straight-through gradient ("ste", the default) or the noisy one ("noise"); the rate term
        uses noise either way.
        frozen, frozen_until: the codec's submodules (by name, e.g. ``[g_a, g_s]``) that do not
        learn for this first fraction of progress: parts started from a trained codec
        (``init_hyperprior_from``) wait while the parts that start from random weights learn
        enough not to send them large, meaningless gradients.
        lr_scale: learning-rate multipliers of named codec submodules (e.g. ``{context: 10}``):
        parts that start from scratch beside parts started from a trained codec learn faster.
        channels_last: keep the codec's weights and the batches in channels-last memory format
        (the same arithmetic, reordered; with ``precision: bf16-mixed`` a CPU step takes about half
        the time of a float32 one: ``benchmarks/train_step.py``).
        compile: codec submodules (e.g. ``[g_a, g_s, h_a]``, the float transforms) compiled in
        place with ``torch.compile`` (``nn.Module.compile``: the state dict and checkpoints are
        unchanged). A bf16 CPU step of the hyperprior or gmm takes about 0.85x the eager one
        (``benchmarks/train_step.py --compile g_a,g_s,h_a``) after a one-off compile of about
        30 s, repeated for validation's whole images and the ceiling's no-grad pass. Parts on
        the probability path (``h_s``'s integer simulation, the entropy models) stay eager: with
        them, compiling the whole codec fails in inductor's CPU code (an int64 vector conversion
        that does not build, torch 2.11)."""
        super().__init__()
        self.save_hyperparameters()
        if level_weights is not None and (len(level_weights) == 0 or min(level_weights) < 0 or sum(level_weights) <= 0):
            raise ValueError(f"level_weights must be non-negative with a positive sum, got {level_weights}")
        if not 0.0 <= warmup < 1.0 or not 0.0 <= distortion_warmup < 1.0:
            raise ValueError("warmup and distortion_warmup are fractions of the run in [0, 1)")
        if not 0.0 <= frozen_until <= 1.0:
            raise ValueError("frozen_until is a fraction of the run in [0, 1]")
        self.cpu_seconds = 0.0  # training CPU time of earlier (resumed) runs
        self.wall_seconds = 0.0  # and their wall-clock time
        self._cpu_start: float | None = None
        self._wall_start: float | None = None
        self.codec: ImageCodec = registry.build(codec, **(codec_config or {}))
        if synthesis_quantization not in ("ste", "noise"):
            raise ValueError(f"synthesis_quantization must be 'ste' or 'noise', got {synthesis_quantization!r}")
        self.codec.synthesis_quantization = synthesis_quantization
        named = [*(frozen or []), *(lr_scale or {}), *(compile or [])]
        unknown = [n for n in named if not isinstance(getattr(self.codec, n, None), nn.Module)]
        if unknown:
            raise ValueError(f"frozen / lr_scale / compile name no submodule of {codec}: {unknown}")
        if init_from:
            self.codec.load_state_dict(registry.load(init_from).state_dict())
            self.codec.train()
        elif init_hyperprior_from:
            if not hasattr(self.codec, "init_from_hyperprior"):
                raise ValueError(f"{codec} cannot start from a hyperprior's parts")
            self.codec.init_from_hyperprior(registry.load(init_hyperprior_from))
            self.codec.train()
        if channels_last:
            self.codec.to(memory_format=torch.channels_last)
        for name in compile or []:
            getattr(self.codec, name).compile()
        self.automatic_optimization = False
        # Under DDP: the factorised prior's quantiles are trained by their own auxiliary loss,
        # which depends on parameters only (the same on every rank, so every rank makes the same
        # step); DDP must neither expect nor average their gradients.
        from torch.nn.parallel import DistributedDataParallel

        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            self, [f"codec.{n}" for n, _ in self.codec.named_parameters() if n.endswith("quantiles")])

    def _distortion(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x_hat = widen(x_hat)  # a bf16-mixed synthesis' output: the loss in float32
        if self.hparams.distortion == "mse":
            return 255.0**2 * F.mse_loss(x_hat, x, reduction="none").flatten(1).mean(1)
        return 1.0 - ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0, size_average=False)

    # ---- recipe: progress, schedule, budget ------------------------------------------------------
    def cpu_used(self) -> float:
        """CPU seconds spent training, this run and the runs it resumed."""
        return self.cpu_seconds + (time.process_time() - self._cpu_start if self._cpu_start is not None else 0.0)

    def wall_used(self) -> float:
        """Wall-clock seconds spent training, this run and the runs it resumed."""
        return self.wall_seconds + (time.perf_counter() - self._wall_start if self._wall_start is not None else 0.0)

    def progress(self) -> float:
        """Fraction of the run done, in [0, 1]. Under DDP the ranks agree on it (the largest):
        each measures its own CPU time, and ranks stepping with different learning rates, or
        stopping at different steps, would drift apart."""
        hp = self.hparams
        if hp.cpu_budget_s or hp.wall_budget_s:
            cpu = self.cpu_used() / hp.cpu_budget_s if hp.cpu_budget_s else 0.0
            wall = self.wall_used() / hp.wall_budget_s if hp.wall_budget_s else 0.0
            return self._agreed(min(1.0, max(cpu, wall)))
        max_steps = self.trainer.max_steps if self._trainer is not None else -1
        return min(1.0, self.global_step / max_steps) if max_steps and max_steps > 0 else 0.0

    def _agreed(self, value: float) -> float:
        """The largest `value` over the DDP ranks (every rank must call this at the same point)."""
        if self._trainer is None or self.trainer.world_size <= 1 or not torch.distributed.is_initialized():
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return float(t)

    def lr_factor(self, p: float) -> float:
        """Learning-rate multiplier at progress p."""
        hp = self.hparams
        if p < hp.warmup:
            return (p + 1e-3) / (hp.warmup + 1e-3)
        if hp.schedule == "constant":
            return 1.0
        t = (p - hp.warmup) / (1.0 - hp.warmup)
        return max(0.0, 1.0 - t) if hp.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))

    def draw_level(self, device: torch.device) -> torch.Tensor:
        """One quality level for the batch: uniform, or by ``level_weights``."""
        w = self.hparams.level_weights
        if w is None:
            return torch.randint(0, self.codec.num_qualities, (1,), device=device)
        if len(w) != self.codec.num_qualities:
            raise ValueError(f"level_weights has {len(w)} entries for {self.codec.num_qualities} levels")
        return torch.multinomial(torch.tensor(w, dtype=torch.float), 1).to(device)

    def loss(self, dist: torch.Tensor, bpp: torch.Tensor, lam: torch.Tensor, p: float) -> torch.Tensor:
        """Mean of lambda * D + R over the batch [B]; D alone during the distortion warm-up."""
        if p < self.hparams.distortion_warmup:
            return (lam * dist).mean()
        return (lam * dist + bpp).mean()

    def on_train_start(self) -> None:
        self._cpu_start, self._wall_start = time.process_time(), time.perf_counter()

    def on_train_end(self) -> None:
        """A run ended by its budget stops between checkpoints: write the last checkpoint now,
        so that it (and what is exported from it) holds the final weights and time used, not
        those of up to ``every_n_train_steps`` steps earlier."""
        from lightning.pytorch.callbacks import ModelCheckpoint

        hp = self.hparams
        if not (hp.cpu_budget_s or hp.wall_budget_s) or self.progress() < 1.0:
            return
        for cb in self.trainer.checkpoint_callbacks:
            if isinstance(cb, ModelCheckpoint) and cb.save_last and cb.dirpath:
                last = Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
                if self.trainer.is_global_zero and last.is_symlink():
                    last.unlink()
                cb.last_model_path = str(last)  # the callback's own last file: a resumed run overwrites it
                self.trainer.save_checkpoint(last)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cpu_seconds"], checkpoint["wall_seconds"] = self.cpu_used(), self.wall_used()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.cpu_seconds = float(checkpoint.get("cpu_seconds", 0.0))
        self.wall_seconds = float(checkpoint.get("wall_seconds", 0.0))

    def training_step(self, x: torch.Tensor, batch_idx: int) -> torch.Tensor:
        opt, aux_opt = self.optimizers()
        p = self.progress()
        if self.hparams.schedule != "constant" or self.hparams.warmup > 0:
            for group in opt.optimizer.param_groups:
                group["lr"] = self.hparams.lr * group.get("lr_scale", 1.0) * self.lr_factor(p)
        if self.hparams.get("channels_last"):
            x = x.contiguous(memory_format=torch.channels_last)
        q = self.draw_level(x.device).expand(x.shape[0])
        out = self.codec(x, q)
        bpp = self.codec.bpp(out["likelihoods"], x.shape[-2] * x.shape[-1])
        lam = torch.tensor(self.codec.lambdas, device=x.device)[q]
        dist = self._distortion(out["x_hat"], x)
        loss = self.loss(dist, bpp, lam, p)
        opt.zero_grad()
        self.manual_backward(loss)
        if self.hparams.frozen and p < self.hparams.frozen_until:
            for name in self.hparams.frozen:  # no gradient: Adam leaves them (and their moments) alone
                for w in getattr(self.codec, name).parameters():
                    w.grad = None
        self.clip_gradients(opt, gradient_clip_val=self.hparams.clip, gradient_clip_algorithm="norm")
        opt.step()
        aux = self.codec.entropy_bottleneck.loss()
        aux_opt.zero_grad()
        aux.backward()  # plain autograd: reaches the quantiles only, outside DDP's reducer
        aux_opt.optimizer.step()  # the raw optimiser: global_step counts training steps once
        sched = self.lr_schedulers()
        if sched is not None:
            sched.step()
        with torch.no_grad():
            mse = F.mse_loss(out["x_hat"].clamp(0, 1), x)
            logs = {"train/loss": loss, "train/bpp": bpp.mean(), "train/psnr": -10 * torch.log10(mse), "train/aux": aux}
            if self._trainer is not None and self.global_step % max(1, self.trainer.log_every_n_steps) == 0:
                # the batch's level: its rate, PSNR and transform ceiling, per level
                lvl = int(q[0]) + 1
                logs["train/ceiling_psnr"] = _psnr(self.codec.ceiling(x, q), x)
                self.log_dict({f"train/bpp_q{lvl}": bpp.mean(), f"train/psnr_q{lvl}": logs["train/psnr"],
                               f"train/ceiling_q{lvl}": logs["train/ceiling_psnr"]})
                logs["train/lr"] = torch.tensor(opt.optimizer.param_groups[0]["lr"])
                logs["train/cpu_s"] = torch.tensor(self.cpu_used())
                logs["train/wall_s"] = torch.tensor(self.wall_used())
        self.log_dict(logs, prog_bar=True)
        if (self.hparams.cpu_budget_s or self.hparams.wall_budget_s) and self.progress() >= 1.0:
            self.trainer.should_stop = True
        return loss

    def validation_step(self, x: torch.Tensor, batch_idx: int) -> None:
        """Whole images, padded as the codec pads them; rate and PSNR over the real pixels."""
        qn = self.codec.num_qualities
        h, w = x.shape[-2:]
        xp = self.codec.pad(x)
        for level in sorted({0, qn // 2, qn - 1}):
            q = torch.full((x.shape[0],), level, dtype=torch.long, device=x.device)
            out = self.codec(xp, q)
            bpp = self.codec.bpp(out["likelihoods"], h * w).mean()
            psnr = _psnr(out["x_hat"][..., :h, :w], x)
            ceiling = _psnr(self.codec.ceiling(xp, q)[..., :h, :w], x)
            self.log_dict({f"val/bpp_q{level + 1}": bpp, f"val/psnr_q{level + 1}": psnr, f"val/ceiling_q{level + 1}": ceiling},
                          batch_size=x.shape[0], sync_dist=True)  # averaged over ranks

    def configure_optimizers(self):  # noqa: ANN201 - Lightning's union type
        aux_params = [p for n, p in self.codec.named_parameters() if n.endswith("quantiles")]
        scales = self.hparams.get("lr_scale") or {}
        groups: dict[float, list[torch.nn.Parameter]] = {}
        for n, p in self.codec.named_parameters():
            if not n.endswith("quantiles"):
                groups.setdefault(float(scales.get(n.split(".")[0], 1.0)), []).append(p)
        opt = torch.optim.Adam([{"params": ps, "lr": self.hparams.lr * k, "lr_scale": k} for k, ps in groups.items()],
                               lr=self.hparams.lr)
        aux = torch.optim.Adam(aux_params, lr=self.hparams.aux_lr)
        if self.hparams.lr_drop_steps:
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, self.hparams.lr_drop_steps, gamma=0.1)
            return [opt, aux], [{"scheduler": sched, "interval": "step"}]
        return [opt, aux]


def _psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [0, 1] (x_hat clamped), over the whole batch."""
    return -10 * torch.log10(F.mse_loss(widen(x_hat).clamp(0, 1), x))
