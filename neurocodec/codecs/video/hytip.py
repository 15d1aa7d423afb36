"""``hytip``: a low-delay (P-frame) learned video codec after HyTIP (ICCV 2025), small enough to
train on two CPU cores.

Every GOP starts with an I-frame coded by a registered image codec (config ``intra``, default
``hyperprior``; its name and weights hash are part of this model's config, hence its hash).
A P-frame is coded in two steps, both conditioned on the **hybrid buffer** of the previous
decoded frame (reset at every I-frame):

======================  =========================  ========================================
buffer entry            shape                      used by
======================  =========================  ========================================
decoded frame x_hat     [B, 3, H, W]   (float)     feature extraction, prediction
implicit feature f      [B, 2, H, W]   (float)     feature extraction (the decoder's 2 extra outputs)
decoded flow            [B, 2, H/4, W/4] (float)   motion coder (temporal motion prediction)
motion feature          [B, 2, H/4, W/4] (float)   motion coder (its decoder's 2 extra outputs)
previous latents        [B, M, H/16, W/16] and     temporal priors of the two entropy models
                        [B, Mm, H/16, W/16] (exact)
======================  =========================  ========================================

1. **Motion.** The encoder estimates a flow (pluggable, :mod:`.motion`; the decoder never
   runs it) and codes it with a small motion autoencoder conditioned on the previous decoded
   flow and motion feature. The decoded flow is the previous flow plus the decoded update.
2. **Contexts.** Features of (x_hat, f) at 1, 1/2 and 1/4 resolution are warped by the
   decoded flow (multi-scale feature warping) and refined, giving contexts C1..C3, a
   prediction x_c (the warped frame plus a learned correction) and a mask m in [0, 1] per
   pixel and channel, all from decoded data only.
3. **Conditional residual coding.** The encoder codes x - m * x_c, conditioned on the
   contexts (they enter the analysis and the synthesis at every scale); the decoder outputs
   the residual and the next implicit feature; x_hat = m * x_c + residual.

Both latents (motion and frame) use mean-scale Gaussians through the shared entropy layers.
Their parameters come from an **integer network** fed with the decoded hyper latent and the
previous frame's latent of the same kind (the temporal prior). Portable files: only exact
values decide a probability. Hyper latents and latents are integers plus Q8 means. The
float part of the buffer (frame, features, flow) feeds the float transforms only. So a file
decodes with identical symbols under any thread count, CPU or device. The float
reconstruction may differ by rounding steps between machines, never by a symbol.
HyTIP also conditions its prior on the warped feature contexts; that is float data here, and
it is left out to keep the files portable.

Six quality levels: gain vectors on both latents, each level mapped to an I-frame quality
(``intra_qualities``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec.codecs.base import Codec
from neurocodec.codecs.image.base import DEFAULT_LAMBDAS, GainUnits, ImageCodec, section_bytes
from neurocodec.codecs.video.motion import resize_flow, warp
from neurocodec.entropy import integer_nets as inet
from neurocodec.entropy.layers import EntropyBottleneck, GaussianConditional, quantize_train
from neurocodec.errors import InputError, ModelMismatchError
from neurocodec.nn.transforms import GDN, conv, conv3x3, deconv

PAD = 64  # frames are padded (border replicated) to multiples of this


@dataclass
class Buffer:
    """The hybrid buffer carried from one decoded frame to the next (see the module docstring)."""

    frame: Tensor
    feature: Tensor
    flow: Tensor
    motion_feature: Tensor
    latent: Tensor
    motion_latent: Tensor

    def as_tuple(self) -> tuple[Tensor, ...]:
        return (self.frame, self.feature, self.flow, self.motion_feature, self.latent, self.motion_latent)

    @property
    def full_res_channels(self) -> float:
        """Size of the buffer in full-resolution channels (per pixel of the padded frame)."""
        h, w = self.frame.shape[-2:]
        return sum(t.shape[1] * t.shape[2] * t.shape[3] for t in self.as_tuple()) / (h * w)


class TemporalPrior(nn.Module):
    """Integer-exact entropy parameters of a latent [B, M, h, w] from its hyper latent
    [B, N, h/4, w/4] and the previous frame's latent of the same kind [B, M, h, w]:
    (scale indexes, Q8 means) for coding, or float (scales, means) for training.

    ``out(hyper(z_hat) + temporal(prev))``: `hyper` and `out` have the layout of the image
    hyperprior's h_s (deconv, deconv, conv; `hidden` = 3M/2 there), so they can start from its
    weights; the temporal branch's last layer starts at zero, so the prior starts as the image
    codec's. The sum of two fixed-point tensors of the same format is exact."""

    def __init__(self, n: int, m: int, hidden: int) -> None:
        super().__init__()
        self.m = m
        self.hyper = inet.IntSequential(
            inet.IntConvTranspose2d(n, m, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
            inet.IntConvTranspose2d(m, hidden, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
        )
        self.temporal = inet.IntSequential(inet.IntConv2d(m, hidden, 3, padding=1), inet.IntLeakyReLU(),
                                           inet.IntConv2d(hidden, hidden, 3, padding=1))
        nn.init.zeros_(self.temporal[2].weight), nn.init.zeros_(self.temporal[2].bias)
        self.out = inet.IntConv2d(hidden, 2 * m, 3, padding=1, out_frac=[inet.SCALE_FRAC] * m + [inet.MEAN_FRAC] * m,
                                  out_limit=inet.OUT_LIMIT)

    def exact(self, z_hat: Tensor, prev: Tensor) -> tuple[Tensor, Tensor]:
        """int32 scale indexes and int32 Q8 means, each [B, M, h, w]."""
        h = self.hyper.forward_int(inet.to_fixed(z_hat)) + self.temporal.forward_int(inet.to_fixed(prev))
        s, mu = self.out.forward_int(h.clamp_(-inet.ACT_LIMIT, inet.ACT_LIMIT)).split(self.m, 1)
        return inet.scale_indexes(s), mu.to(torch.int32)

    def forward(self, z_hat: Tensor, prev: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) as floats: the quantisation-aware simulation in training, exactly
        the coder's levels in eval mode."""
        if self.training:
            lim = inet.ACT_LIMIT / (1 << inet.ACT_FRAC)
            h = (self.hyper.forward_sim(z_hat) + self.temporal.forward_sim(prev)).clamp(-lim, lim)
            return self.out.forward_sim(h).split(self.m, 1)
        idx, mq = self.exact(z_hat, prev)
        return inet.scales_of_indexes(idx), inet.means_of_q8(mq)


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1, inplace=True)


class HyTIP(Codec):
    """The video codec (see the module docstring). Frames are float [B, 3, H, W] in [0, 1]
    with H, W multiples of 64 (callers pad with :meth:`pad`)."""

    name = "hytip"
    modality = "video"

    def __init__(
        self,
        intra: str = "hyperprior",
        intra_hash: str = "",
        intra_qualities: tuple[int, ...] = (1, 2, 3, 4, 5, 6),
        N: int = 64,
        M: int = 96,
        Nm: int = 32,
        Mm: int = 64,
        ctx: tuple[int, int, int] = (16, 32, 48),
        qualities: int = 6,
        lambdas: tuple[float, ...] | None = None,
    ) -> None:
        lambdas = tuple(lambdas or DEFAULT_LAMBDAS[:qualities])
        intra_qualities = tuple(int(q) for q in intra_qualities)
        if len(lambdas) != qualities or len(intra_qualities) != qualities:
            raise ValueError("need one lambda and one I-frame quality per quality level")
        ctx = tuple(int(c) for c in ctx)
        super().__init__(intra=intra, intra_hash=intra_hash, intra_qualities=intra_qualities, N=N, M=M, Nm=Nm,
                         Mm=Mm, ctx=ctx, qualities=qualities, lambdas=lambdas)
        self.num_qualities, self.lambdas, self.intra_qualities = qualities, lambdas, intra_qualities
        self.M, self.N, self.Mm, self.Nm = M, N, Mm, Nm
        c1, c2, c3 = ctx
        # ---- motion coder (works at 1/4 resolution; latent at 1/16, hyper latent at 1/64)
        self.motion_enc = nn.Sequential(
            conv(6, 64, 3), _lrelu(), conv(64, 64, 3), _lrelu(), nn.Conv2d(64, Mm, 3, padding=1))
        self.motion_up = nn.Sequential(deconv(Mm, 64, 3), _lrelu(), deconv(64, 32, 3), _lrelu())
        self.motion_out = nn.Sequential(conv3x3(32 + 4, 32), _lrelu(), conv3x3(32, 4))
        self.motion_h_a = nn.Sequential(conv(Mm, Nm, 3, 1), _lrelu(), conv(Nm, Nm), _lrelu(), conv(Nm, Nm))
        self.motion_gains = GainUnits(qualities, Mm)
        self.motion_bottleneck = EntropyBottleneck(Nm)
        self.motion_prior = TemporalPrior(Nm, Mm, Mm * 3 // 2)
        # ---- feature extraction from the buffer and context refinement
        self.feat1 = nn.Sequential(conv3x3(5, c1), _lrelu(), conv3x3(c1, c1))
        self.feat2 = nn.Sequential(conv3x3(c1, c2, stride=2), _lrelu(), conv3x3(c2, c2))
        self.feat3 = nn.Sequential(conv3x3(c2, c3, stride=2), _lrelu(), conv3x3(c3, c3))
        self.refine2 = nn.Sequential(conv3x3(c2, c2), _lrelu())
        self.refine3 = nn.Sequential(conv3x3(c3, c3), _lrelu())
        self.predict = conv3x3(c1, 3)
        self.mask = conv3x3(c1, 3)
        nn.init.zeros_(self.predict.weight), nn.init.zeros_(self.predict.bias)
        # the mask starts near 0: x - m * x_c is about x, and the P-frame coder starts as the image codec
        nn.init.zeros_(self.mask.weight), nn.init.constant_(self.mask.bias, -3.0)
        # ---- conditional residual coder (latent at 1/16, hyper latent at 1/64)
        # The transforms have the layout of the image hyperprior's g_a / g_s / h_a (so that they can
        # start from its weights, see init_from_intra); the contexts enter through projections
        # added before each GDN, which start at zero.
        self.g_a = nn.ModuleList([conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M)])
        self.ctx_a = nn.ModuleList([conv(c1, N), conv(c2, N), conv(c3, N)])
        self.g_s = nn.ModuleList([deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                  deconv(N, N), GDN(N, inverse=True), deconv(N, 3)])
        self.ctx_s = nn.ModuleList([conv3x3(c3, N), conv3x3(c2, N), conv3x3(c1, 3)])
        self.feature_out = deconv(N, 2)
        for layer in (*self.ctx_a, *self.ctx_s):
            nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True),
                                 conv(N, N))
        self.gains = GainUnits(qualities, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.prior = TemporalPrior(N, M, M * 3 // 2)
        self.gaussian_conditional = GaussianConditional()
        self.motion_conditional = GaussianConditional()
        self.__dict__["_intra"] = None  # the I-frame codec: not a submodule (its own checkpoint)

    # ---- the I-frame codec -------------------------------------------------------------------
    @property
    def intra(self) -> ImageCodec:
        if self._intra is None:
            raise InputError("hytip has no I-frame codec attached (attach_intra, or load it with registry.load)")
        return self._intra

    def attach_intra(self, codec: ImageCodec, check: bool = True) -> None:
        """Use `codec` for I-frames. With check, its name and weights hash must be the ones this
        model was trained with (config ``intra``/``intra_hash``), else ModelMismatchError."""
        if codec.modality != "image":
            raise InputError(f"{codec.name} is not an image codec")
        if check and codec.name != self.config["intra"]:
            raise ModelMismatchError(f"hytip was trained with I-frame codec {self.config['intra']!r}, not {codec.name!r}")
        if check and self.config["intra_hash"] and codec.weights_hash().hex() != self.config["intra_hash"]:
            raise ModelMismatchError(
                f"hytip was trained with I-frame codec {codec.name!r} weights {self.config['intra_hash']}, "
                f"but the loaded ones are {codec.weights_hash().hex()}")
        codec.eval()
        for p in codec.parameters():
            p.requires_grad_(False)
        self.__dict__["_intra"] = codec

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001, ANN202 - nn.Module's signature
        if self._intra is not None:
            self._intra._apply(fn, recurse)
        return super()._apply(fn, recurse)

    # ---- shared helpers ----------------------------------------------------------------------
    @property
    def qualities(self) -> list[int]:
        return list(range(1, self.num_qualities + 1))

    def level(self, quality: int) -> Tensor:
        if not 1 <= int(quality) <= self.num_qualities:
            raise InputError(f"quality must be 1..{self.num_qualities}, got {quality}")
        return torch.tensor([int(quality) - 1])

    def intra_level(self, q: Tensor) -> Tensor:
        """The I-frame codec's level index of each video level index [B]."""
        return torch.tensor(self.intra_qualities, device=q.device)[q] - 1

    @staticmethod
    def pad(x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % PAD, (-w) % PAD
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x

    def reset(self, frame: Tensor) -> Buffer:
        """The buffer after an I-frame: its decoded frame, everything else zero."""
        b, _, h, w = frame.shape
        z = frame.new_zeros
        return Buffer(frame, z(b, 2, h, w), z(b, 2, h // 4, w // 4), z(b, 2, h // 4, w // 4),
                      z(b, self.M, h // 16, w // 16), z(b, self.Mm, h // 16, w // 16))

    def motion_decode(self, m_hat: Tensor, buf: Buffer, q: Tensor) -> tuple[Tensor, Tensor]:
        """Decoded motion latent -> (flow, motion feature), each [B, 2, H/4, W/4]."""
        up = self.motion_up((m_hat * self.motion_gains.inv_gain(q)).contiguous())
        out = self.motion_out(torch.cat((up, buf.flow, buf.motion_feature), 1))
        return buf.flow + out[:, :2], out[:, 2:]

    def contexts(self, buf: Buffer, flow: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(x_c, mask, C1, C2, C3) from the buffer and the decoded flow."""
        h, w = buf.frame.shape[-2:]
        f1 = self.feat1(torch.cat((buf.frame, buf.feature), 1).contiguous())
        f2 = self.feat2(f1)
        f3 = self.feat3(f2)
        fl1 = resize_flow(flow, (h, w))
        c1 = warp(f1, fl1)
        c2 = self.refine2(warp(f2, resize_flow(flow, (h // 2, w // 2))))
        c3 = self.refine3(warp(f3, flow))
        x_c = warp(buf.frame, fl1) + self.predict(c1)
        return x_c, torch.sigmoid(self.mask(c1)), c1, c2, c3

    def analysis(self, x: Tensor, x_c: Tensor, mask: Tensor, c1: Tensor, c2: Tensor, c3: Tensor) -> Tensor:
        a, p = self.g_a, self.ctx_a
        e = a[1](a[0](x - mask * x_c) + p[0](c1))  # 1/2
        e = a[3](a[2](e) + p[1](c2))  # 1/4
        e = a[5](a[4](e) + p[2](c3))  # 1/8
        return a[6](e)  # 1/16

    def synthesis(self, y_hat: Tensor, q: Tensor, x_c: Tensor, mask: Tensor, c1: Tensor, c2: Tensor,
                  c3: Tensor) -> tuple[Tensor, Tensor]:
        """Decoded latent -> (frame before clamping, implicit feature)."""
        s, p = self.g_s, self.ctx_s
        d = s[1](s[0]((y_hat * self.gains.inv_gain(q)).contiguous()))  # 1/8
        d = s[3](s[2](d) + p[0](c3))  # 1/4
        d = s[5](s[4](d) + p[1](c2))  # 1/2
        return mask * x_c + s[6](d) + p[2](c1), self.feature_out(d)

    @torch.no_grad()
    def init_from_intra(self, intra: ImageCodec) -> bool:
        """Start the conditional coder from the I-frame codec's weights when it is a mean-scale
        hyperprior of the same N and M: transforms, hyper-analysis, factorised prior, gains and
        the prior's hyper-synthesis. With the context projections, the mask and the temporal
        prior at (about) zero, a P-frame is then coded as the image codec codes it; training
        learns from there what the contexts save. Returns whether it applied."""
        from neurocodec.codecs.image.hyperprior import MeanScaleHyperprior

        if not isinstance(intra, MeanScaleHyperprior) or (intra.N, intra.M) != (self.N, self.M):
            return False
        for mine, theirs in zip(self.g_a, intra.g_a):
            mine.load_state_dict(theirs.state_dict())
        for mine, theirs in zip(self.g_s, intra.g_s):
            mine.load_state_dict(theirs.state_dict())
        self.h_a.load_state_dict(intra.h_a.state_dict())
        self.entropy_bottleneck.load_state_dict(intra.entropy_bottleneck.state_dict())
        q = min(self.num_qualities, intra.num_qualities)
        idx = torch.tensor(self.intra_qualities[:q]) - 1
        self.gains.log_gain[:q] = intra.gains.log_gain[idx]
        self.gains.log_inv_gain[:q] = intra.gains.log_inv_gain[idx]
        for i, j in ((0, 0), (2, 2)):
            self.prior.hyper[i].load_state_dict(intra.h_s[j].state_dict())
        self.prior.out.load_state_dict(intra.h_s[4].state_dict())
        self.refresh_hash()
        return True

    # ---- training / estimation ---------------------------------------------------------------
    def forward(self, x: Tensor, buf: Buffer, q: Tensor, flow_est: Tensor) -> dict[str, Any]:
        """One P-frame: x [B, 3, H, W], the buffer, levels q [B], the estimated flow
        [B, 2, H/4, W/4]. Returns x_hat, the likelihoods of every coded quantity, the next
        buffer and the prediction x_c. Eval mode uses the coder's exact parameters."""
        mot_in = torch.cat((flow_est, buf.flow, buf.motion_feature), 1)
        my = self.motion_enc(mot_in) * self.motion_gains.gain(q)
        mz_hat, mz_lik = self.motion_bottleneck(self.motion_h_a(my))
        m_scales, m_means = self.motion_prior(mz_hat, buf.motion_latent)
        _, my_lik = self.motion_conditional(my, m_scales, m_means)
        my_hat = quantize_train(my, "ste", m_means) if self.training else torch.round(my - m_means) + m_means
        flow, mfeat = self.motion_decode(my_hat, buf, q)
        x_c, mask, c1, c2, c3 = self.contexts(buf, flow)
        y = self.analysis(x, x_c, mask, c1, c2, c3) * self.gains.gain(q)
        z_hat, z_lik = self.entropy_bottleneck(self.h_a(y))
        scales, means = self.prior(z_hat, buf.latent)
        _, y_lik = self.gaussian_conditional(y, scales, means)
        y_hat = quantize_train(y, "ste", means) if self.training else torch.round(y - means) + means
        x_hat, feat = self.synthesis(y_hat, q, x_c, mask, c1, c2, c3)
        nxt = Buffer(x_hat.clamp(0, 1), feat, flow, mfeat, y_hat, my_hat)
        return {"x_hat": x_hat, "x_c": x_c, "buffer": nxt,
                "likelihoods": {"motion_z": mz_lik, "motion_y": my_lik, "z": z_lik, "y": y_lik}}

    @torch.no_grad()
    def intra_reconstruct(self, x: Tensor, q: Tensor) -> Tensor:
        """The I-frame codec's decoded frame (padded x [B, 3, H, W]; eval-mode rounding, what the
        coder produces up to float summation order), clamped to [0, 1]."""
        return self.intra(x, self.intra_level(q))["x_hat"].clamp(0, 1)

    # ---- coding (batch 1) --------------------------------------------------------------------
    @torch.no_grad()
    def encode_intra(self, x: Tensor, q: Tensor) -> tuple[dict[str, bytes], Buffer]:
        """Padded frame [1, 3, H, W] -> the I-frame codec's sections and the reset buffer."""
        qi = self.intra_level(q)
        sections, y_hat = self.intra.compress_tensor(x.contiguous(), qi)
        return sections, self.reset(self.intra.synthesize(y_hat, qi).clamp(0, 1))

    @torch.no_grad()
    def decode_intra(self, sections: dict[str, bytes], q: Tensor, size: tuple[int, int]) -> Buffer:
        qi = self.intra_level(q)
        y_hat = self.intra.decompress_tensor(sections, qi, size)
        return self.reset(self.intra.synthesize(y_hat, qi).clamp(0, 1))

    @torch.no_grad()
    def encode_inter(self, x: Tensor, buf: Buffer, q: Tensor, flow_est: Tensor) -> tuple[dict[str, bytes], Buffer]:
        """Padded frame [1, 3, H, W], buffer, level, estimated flow -> sections and the next
        buffer (exactly the decoder's)."""
        my = self.motion_enc(torch.cat((flow_est, buf.flow, buf.motion_feature), 1)) * self.motion_gains.gain(q)
        mz_bytes, mz_hat = self.motion_bottleneck.compress(self.motion_h_a(my))
        my_bytes, my_hat = self.motion_conditional.compress_int(my, *self.motion_prior.exact(mz_hat, buf.motion_latent))
        flow, mfeat = self.motion_decode(my_hat, buf, q)
        x_c, mask, c1, c2, c3 = self.contexts(buf, flow)
        y = self.analysis(x, x_c, mask, c1, c2, c3) * self.gains.gain(q)
        z_bytes, z_hat = self.entropy_bottleneck.compress(self.h_a(y))
        y_bytes, y_hat = self.gaussian_conditional.compress_int(y, *self.prior.exact(z_hat, buf.latent))
        x_hat, feat = self.synthesis(y_hat, q, x_c, mask, c1, c2, c3)
        sections = {"mz": mz_bytes, "my": my_bytes, "z": z_bytes, "y": y_bytes}
        return sections, Buffer(x_hat.clamp(0, 1), feat, flow, mfeat, y_hat, my_hat)

    @torch.no_grad()
    def decode_inter(self, sections: dict[str, bytes], buf: Buffer, q: Tensor) -> Buffer:
        h, w = buf.frame.shape[-2:]
        mz_hat = self.motion_bottleneck.decompress(section_bytes("mz", sections), (1, self.Nm, h // 64, w // 64))
        my_hat = self.motion_conditional.decompress_int(section_bytes("my", sections),
                                                        *self.motion_prior.exact(mz_hat, buf.motion_latent))
        flow, mfeat = self.motion_decode(my_hat, buf, q)
        x_c, mask, c1, c2, c3 = self.contexts(buf, flow)
        z_hat = self.entropy_bottleneck.decompress(section_bytes("z", sections), (1, self.N, h // 64, w // 64))
        y_hat = self.gaussian_conditional.decompress_int(section_bytes("y", sections), *self.prior.exact(z_hat, buf.latent))
        x_hat, feat = self.synthesis(y_hat, q, x_c, mask, c1, c2, c3)
        return Buffer(x_hat.clamp(0, 1), feat, flow, mfeat, y_hat, my_hat)
