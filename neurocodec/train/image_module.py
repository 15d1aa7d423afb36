"""LightningModule for learned image codecs: rate-distortion training over quality levels."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim

from neurocodec.codecs import registry
from neurocodec.codecs.image.base import ImageCodec


class ImageCodecModule(L.LightningModule):
    """Trains an image codec by name.

    loss = lambda_q * D + bpp, with D = 255^2 * MSE (or 1 - MS-SSIM), a quality level q drawn
    per batch; the factorised prior's quantiles have their own auxiliary loss and optimiser;
    gradients are clipped. Validation logs estimated bpp and PSNR at the lowest, middle and
    highest levels.
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
    ) -> None:
        """init_from: start from this checkpoint's weights (fresh optimiser), e.g. to continue
        with another learning rate; --ckpt_path instead resumes a run exactly.
        init_hyperprior_from: a trained codec whose shared parts start this one where layouts
        and shapes match: a mean-scale hyperprior's h_a, h_s, factorised prior and gains for the
        shallow codecs (and g_a too from a trained shallow codec); for mambaic, all of a
        hyperprior's parts (or a gmm's g_a, g_s, prior and gains) (each codec's
        ``init_from_hyperprior``)."""
        super().__init__()
        self.save_hyperparameters()
        self.codec: ImageCodec = registry.build(codec, **(codec_config or {}))
        if init_from:
            self.codec.load_state_dict(registry.load(init_from).state_dict())
            self.codec.train()
        elif init_hyperprior_from:
            if not hasattr(self.codec, "init_from_hyperprior"):
                raise ValueError(f"{codec} cannot start from a hyperprior's parts")
            self.codec.init_from_hyperprior(registry.load(init_hyperprior_from))
            self.codec.train()
        self.automatic_optimization = False
        # Under DDP: the factorised prior's quantiles are trained by their own auxiliary loss,
        # which depends on parameters only (the same on every rank, so every rank makes the same
        # step); DDP must neither expect nor average their gradients.
        from torch.nn.parallel import DistributedDataParallel

        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            self, [f"codec.{n}" for n, _ in self.codec.named_parameters() if n.endswith("quantiles")])

    def _distortion(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.distortion == "mse":
            return 255.0**2 * F.mse_loss(x_hat, x, reduction="none").flatten(1).mean(1)
        return 1.0 - ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0, size_average=False)

    def training_step(self, x: torch.Tensor, batch_idx: int) -> torch.Tensor:
        opt, aux_opt = self.optimizers()
        q = torch.randint(0, self.codec.num_qualities, (1,), device=x.device).expand(x.shape[0])
        out = self.codec(x, q)
        bpp = self.codec.bpp(out["likelihoods"], x.shape[-2] * x.shape[-1])
        lam = torch.tensor(self.codec.lambdas, device=x.device)[q]
        dist = self._distortion(out["x_hat"], x)
        loss = (lam * dist + bpp).mean()
        opt.zero_grad()
        self.manual_backward(loss)
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
        self.log_dict({"train/loss": loss, "train/bpp": bpp.mean(), "train/psnr": -10 * torch.log10(mse), "train/aux": aux}, prog_bar=True)
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
            psnr = -10 * torch.log10(F.mse_loss(out["x_hat"][..., :h, :w].clamp(0, 1), x))
            self.log_dict({f"val/bpp_q{level + 1}": bpp, f"val/psnr_q{level + 1}": psnr}, batch_size=x.shape[0],
                          sync_dist=True)  # averaged over ranks

    def configure_optimizers(self):  # noqa: ANN201 - Lightning's union type
        aux_params = [p for n, p in self.codec.named_parameters() if n.endswith("quantiles")]
        main_params = [p for n, p in self.codec.named_parameters() if not n.endswith("quantiles")]
        opt = torch.optim.Adam(main_params, lr=self.hparams.lr)
        aux = torch.optim.Adam(aux_params, lr=self.hparams.aux_lr)
        if self.hparams.lr_drop_steps:
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, self.hparams.lr_drop_steps, gamma=0.1)
            return [opt, aux], [{"scheduler": sched, "interval": "step"}]
        return [opt, aux]
