"""LightningModule for the video codec: rate-distortion training over frame sequences with
the I-frame codec frozen and back-propagation through the hybrid buffer."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from neurocodec.codecs import registry
from neurocodec.codecs.video.hytip import HyTIP
from neurocodec.codecs.video.motion import pyramid_flow, resize_flow, warp
from neurocodec.train.image_module import ImageCodecModule

log = logging.getLogger(__name__)


class VideoCodecModule(L.LightningModule):
    """Trains ``hytip``.

    Per batch: a level q (uniform), the I-frame coded by the frozen image codec at its mapped
    quality, then P-frames 1..T-1 through the buffer (not detached: gradients flow back through
    earlier frames). loss = mean over P-frames of (lambda_q * 255^2 * MSE + bpp of all four
    coded quantities). Curriculum: `frames_schedule` [[step, T], ...] gives the number of
    frames T (I + T-1 P) from each step on (HyTIP and DCVC train I+1P, then longer chains).
    `init_from_intra`: the conditional coder starts from the I-frame codec's weights (when its
    layout matches), so that P-frames start as well coded as I-frames.
    Motion warm-up (as DVC pre-trains its motion coding): for the first `motion_warmup_steps`
    steps the loss also has lambda_q * 255^2 * MSE(warp(previous decoded frame, decoded flow), x)
    with a weight falling linearly from 1 to 0, so that the motion coder learns to carry motion
    before the residual coder learns to do without it.
    """

    def __init__(
        self,
        codec: str = "hytip",
        codec_config: dict[str, Any] | None = None,
        intra_checkpoint: str = "hyperprior",
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        clip: float = 1.0,
        frames_schedule: list[list[int]] | None = None,
        lr_drop_steps: list[int] | None = None,
        motion_warmup_steps: int = 0,
        init_from_intra: bool = True,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        if codec != "hytip":
            raise ValueError(f"VideoCodecModule trains hytip, not {codec!r}")
        cfg = dict(codec_config or {})
        intra = registry.load(intra_checkpoint)
        cfg.setdefault("intra", intra.name)
        cfg.setdefault("intra_hash", intra.weights_hash().hex())
        self.save_hyperparameters()
        self.hparams["codec_config"] = cfg  # with the I-frame codec's name and hash: registry.load rebuilds it
        if frames_schedule is None:
            self.hparams["frames_schedule"] = [[0, 2]]
        self.codec = HyTIP(**cfg)
        self.codec.attach_intra(intra)
        if init_from_intra and not init_from and self.codec.init_from_intra(intra):
            log.info("hytip's conditional coder starts from %s's weights", intra.name)
        if init_from:
            self.codec.load_state_dict(registry.load(init_from).state_dict())
            self.codec.train()
        self.automatic_optimization = False
        from torch.nn.parallel import DistributedDataParallel

        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            self, [f"codec.{n}" for n, _ in self.codec.named_parameters() if n.endswith("quantiles")])

    def frames_now(self) -> int:
        t = 2
        for step, frames in sorted(self.hparams.frames_schedule):
            if self.global_step >= step:
                t = frames
        return t

    def sequence(self, x: torch.Tensor, q: torch.Tensor) -> dict[str, torch.Tensor]:
        """x [B, T, 3, H, W] (H, W multiples of 64) -> per-P-frame losses and metrics, each [T-1]."""
        codec = self.codec
        buf = codec.reset(codec.intra_reconstruct(x[:, 0], q))
        lam = torch.tensor(codec.lambdas, device=x.device)[q]
        out: dict[str, list[torch.Tensor]] = {"loss": [], "bpp": [], "mse": [], "mse_pred": [], "bpp_motion": []}
        npx = x.shape[-2] * x.shape[-1]
        warmup = self.hparams.motion_warmup_steps
        w_motion = max(0.0, 1.0 - self.global_step / warmup) if warmup and self.training else 0.0
        for t in range(1, x.shape[1]):
            cur = x[:, t]
            flow = pyramid_flow(cur, buf.frame.detach())
            o = codec(cur, buf, q, flow)
            bits = {k: -torch.log2(v).flatten(1).sum(1) for k, v in o["likelihoods"].items()}
            bpp = sum(bits.values()) / npx
            mse = F.mse_loss(o["x_hat"], cur, reduction="none").flatten(1).mean(1)
            loss = lam * 255.0**2 * mse + bpp
            if w_motion > 0:
                warped = warp(buf.frame, resize_flow(o["buffer"].flow, cur.shape[-2:]))
                loss = loss + w_motion * lam * 255.0**2 * F.mse_loss(warped, cur, reduction="none").flatten(1).mean(1)
            out["loss"].append(loss.mean())
            out["bpp"].append(bpp.mean())
            out["bpp_motion"].append(((bits["motion_y"] + bits["motion_z"]) / npx).mean())
            with torch.no_grad():
                out["mse"].append(F.mse_loss(o["x_hat"].clamp(0, 1), cur))
                out["mse_pred"].append(F.mse_loss(o["x_c"].clamp(0, 1), cur))
            buf = o["buffer"]
        # the last frame's implicit feature feeds no loss (with one P-frame, the feature head is
        # unused altogether): a zero-weighted term keeps every parameter in the graph, as DDP needs
        out["loss"][-1] = out["loss"][-1] + 0.0 * buf.feature.mean()
        return {k: torch.stack(v) for k, v in out.items()}

    def training_step(self, x: torch.Tensor, batch_idx: int) -> torch.Tensor:
        opt, aux_opt = self.optimizers()
        x = x[:, : self.frames_now()]
        q = torch.randint(0, self.codec.num_qualities, (1,), device=x.device).expand(x.shape[0])
        r = self.sequence(x, q)
        loss = r["loss"].mean()
        opt.zero_grad()
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=self.hparams.clip, gradient_clip_algorithm="norm")
        opt.step()
        aux = self.codec.entropy_bottleneck.loss() + self.codec.motion_bottleneck.loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.optimizer.step()
        sched = self.lr_schedulers()
        if sched is not None:
            sched.step()
        self.log_dict({"train/loss": loss, "train/bpp": r["bpp"].mean(), "train/bpp_motion": r["bpp_motion"].mean(),
                       "train/psnr": -10 * torch.log10(r["mse"].mean()), "train/psnr_pred": -10 * torch.log10(r["mse_pred"].mean()),
                       "train/frames": float(x.shape[1]), "train/aux": aux}, prog_bar=True)
        return loss

    def validation_step(self, x: torch.Tensor, batch_idx: int) -> None:
        """Whole held-out clips (padded as the codec pads them), eval mode: the exact entropy
        parameters; P-frame rate and PSNR at the lowest, middle and highest levels."""
        h, w = x.shape[-2:]
        xp = HyTIP.pad(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        qn = self.codec.num_qualities
        for level in sorted({0, qn // 2, qn - 1}):
            q = torch.full((x.shape[0],), level, dtype=torch.long, device=x.device)
            r = self.sequence(xp, q)
            self.log_dict({f"val/bpp_q{level + 1}": r["bpp"].mean() * xp.shape[-2] * xp.shape[-1] / (h * w),
                           f"val/psnr_q{level + 1}": -10 * torch.log10(r["mse"].mean())}, batch_size=x.shape[0], sync_dist=True)

    # Adam on everything but the factorised priors' quantiles, which have their own optimiser;
    # the optional step drops of the learning rate: the image module's, unchanged
    configure_optimizers = ImageCodecModule.configure_optimizers
