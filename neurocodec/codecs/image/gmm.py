"""Gaussian-mixture image codec: residual-block transforms in the style of Cheng et al. 2020
(anchor), a hyperprior, a two-pass checkerboard context (He et al. 2021) so that decoding
stays parallel, and a K-component Gaussian mixture per latent element coded with the
entropy layer's FlashGMM path (binary search on the integer mixture CDF).

Pass 1 codes the anchor positions ((i + j) even) from the hyperprior alone; pass 2 codes the
others from the hyperprior plus a 5x5 convolution over the decoded anchors.

Transforms (``transform``): "residual" (the default) is Cheng et al. 2020's residual-block
g_a/g_s with their 3x3 hyper networks; "gdn" takes the mean-scale hyperprior's layout for
g_a, g_s, h_a and h_s (:func:`gdn_transforms`), so that a trained hyperprior of the same N and
M can start every one of those parts (:meth:`CheckerboardGMM.init_from_hyperprior`) and only
the context and entropy-parameter networks learn from scratch. With it, h_s predicts a scale
and a mean per latent channel, as in the hyperprior, and every mixture component's scale and
mean are offsets from them (the entropy-parameter network predicts the offsets and the
logits): started with its last layer near zero, the codec begins as the hyperprior, and
training only has to improve on it. Its synthesis costs about a tenth of the residual one's
per pixel, which is most of the decoder's time.

Portable files: h_s, the context convolution and the entropy-parameter network are integer
networks (:mod:`neurocodec.entropy.integer_nets`); the last layer emits Q8 means, Q12 scales
(mapped to scale indexes in integers) and Q8 logits (mapped to Q16 weights by an integer
softmax). g_a, g_s and h_a stay float.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neurocodec.codecs.image.base import GainUnits, ImageCodec, latent_size, section_bytes
from neurocodec.codecs.image.hyperprior import gdn_transforms, mean_scale_hyper_networks
from neurocodec.entropy import integer_nets as inet
from neurocodec.codecs.image.refine import sga_round
from neurocodec.entropy.layers import EntropyBottleneck, GaussianMixtureConditional, quantize_train
from neurocodec.errors import InputError
from neurocodec.nn.transforms import (
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv3x3,
    subpel_conv3x3,
)


def anchor_mask(h: int, w: int, device: torch.device | None = None) -> Tensor:
    """bool [1, 1, h, w]: True at checkerboard anchors ((i + j) even)."""
    i = torch.arange(h, device=device)[:, None]
    j = torch.arange(w, device=device)[None, :]
    return ((i + j) % 2 == 0)[None, None]


def residual_transforms(N: int, M: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(g_a, g_s) of Cheng et al. 2020's anchor: residual blocks, y at 1/16 with M channels."""
    g_a = nn.Sequential(
        ResidualBlockWithStride(3, N), ResidualBlock(N, N),
        ResidualBlockWithStride(N, N), ResidualBlock(N, N),
        ResidualBlockWithStride(N, N), ResidualBlock(N, N),
        conv3x3(N, M, stride=2),
    )
    g_s = nn.Sequential(
        ResidualBlock(M, N), ResidualBlockUpsample(N, N),
        ResidualBlock(N, N), ResidualBlockUpsample(N, N),
        ResidualBlock(N, N), ResidualBlockUpsample(N, N),
        ResidualBlock(N, N), subpel_conv3x3(N, 3, 2),
    )
    return g_a, g_s


class CheckerboardGMM(ImageCodec):
    name = "gmm"

    def __init__(self, N: int = 128, M: int = 192, K: int = 3, transform: str = "residual", qualities: int = 6,
                 lambdas: tuple[float, ...] | None = None) -> None:
        if transform not in ("residual", "gdn"):
            raise InputError(f"transform must be 'residual' or 'gdn', got {transform!r}")
        # "residual" stays out of the stored config, so that the shipped residual checkpoints
        # keep their config (and hash) byte for byte
        extra = {} if transform == "residual" else {"transform": transform}
        super().__init__(qualities=qualities, lambdas=lambdas, N=N, M=M, K=K, **extra)
        self.transform = transform
        if transform == "gdn":
            self.g_a, self.g_s = gdn_transforms(N, M)
            # h_s's 2M outputs: a scale ([0, M)) and a mean ([M, 2M)) per channel, in the usual
            # Q10 activations (the hyperprior emits them in Q12 and Q8)
            self.h_a, self.h_s = mean_scale_hyper_networks(N, M)
        else:
            self.g_a, self.g_s = residual_transforms(N, M)
            self.h_a, self.h_s = self._hyper_residual(N, M)
        self.context = inet.IntConv2d(M, 2 * M, 5, padding=2)  # input: y_hat (integers)
        # output channels: (means Q8, scales Q12, logits Q8) x K x M
        fracs = [inet.MEAN_FRAC] * K * M + [inet.SCALE_FRAC] * K * M + [inet.LOGIT_FRAC] * K * M
        self.entropy_parameters = inet.IntSequential(
            inet.IntConv2d(4 * M, 10 * M // 3, 1), inet.IntLeakyReLU(),
            inet.IntConv2d(10 * M // 3, 8 * M // 3, 1), inet.IntLeakyReLU(),
            inet.IntConv2d(8 * M // 3, 3 * K * M, 1, out_frac=fracs, out_limit=inet.OUT_LIMIT),
        )
        self.gains = GainUnits(qualities, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gmm = GaussianMixtureConditional(K)
        self.N, self.M, self.K = N, M, K

    @staticmethod
    def _hyper_residual(N: int, M: int) -> tuple[nn.Sequential, inet.IntSequential]:
        """Cheng 2020's hyper networks (3x3 convs; sub-pixel upsampling in integers)."""
        h_a = nn.Sequential(
            conv3x3(M, N), nn.LeakyReLU(inplace=True), conv3x3(N, N), nn.LeakyReLU(inplace=True),
            conv3x3(N, N, stride=2), nn.LeakyReLU(inplace=True), conv3x3(N, N), nn.LeakyReLU(inplace=True),
            conv3x3(N, N, stride=2),
        )
        h_s = inet.IntSequential(
            inet.IntConv2d(N, M, 3, padding=1), inet.IntLeakyReLU(),
            inet.int_subpel_conv3x3(M, M, 2), inet.IntLeakyReLU(),
            inet.IntConv2d(M, M * 3 // 2, 3, padding=1), inet.IntLeakyReLU(),
            inet.int_subpel_conv3x3(M * 3 // 2, M * 3 // 2, 2), inet.IntLeakyReLU(),
            inet.IntConv2d(M * 3 // 2, M * 2, 3, padding=1),
        )
        return h_a, h_s

    def init_from_hyperprior(self, other: ImageCodec) -> list[str]:
        """Start from a trained image codec's parts where layout and shapes match; returns their
        names. From a ``hyperprior`` of the same N and M into ``transform="gdn"``: g_a, g_s, h_a,
        h_s, the factorised prior and the gains (the context and entropy-parameter networks
        start fresh). The hyperprior's h_s outputs (scales, means) become hyper features that
        carry the same values."""
        done = self.copy_parts_from(other, ("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck", "gains"))
        if "h_s" in done:
            self._start_as_hyperprior()
        return done

    SYMMETRY_BREAK = 0.003  # the last layer's share of its random initial weights (gdn: offsets start near 0)

    @torch.no_grad()
    def _start_as_hyperprior(self) -> None:
        """(gdn) Shrink the entropy-parameter network's last layer (bias zero, weights x
        SYMMETRY_BREAK): every component's offsets from the hyper (scale, mean) start near zero and
        the weights near equal, so the codec starts as the hyperprior it was given, up to a small
        random spread that lets the K components diverge; training improves on it from there."""
        last = self.entropy_parameters[-1]
        last.weight.mul_(self.SYMMETRY_BREAK)
        last.bias.zero_()
        self.refresh_hash()

    def _split(self, p: Tensor) -> Tensor:
        """[B, 3KM, H, W] -> [3, B, M, H, W, K]: means, scales, logits."""
        b, _, h, w = p.shape
        return p.reshape(b, 3, self.K, self.M, h, w).permute(1, 0, 3, 4, 5, 2)

    def _params(self, hyper: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training and refinement: mixture parameters [B, M, H, W, K] each (means, scales, softmax
        weights) from the integer networks' float simulation."""
        p = self._split(self.entropy_parameters.forward_sim(torch.cat([hyper, ctx], 1)))
        means, scales = p[0], p[1]
        if self.transform == "gdn":  # offsets from the hyper scale and mean
            s, m = hyper.chunk(2, 1)
            means, scales = means + m[..., None], scales + s[..., None]
        return means, scales, inet.mixture_weights_float(p[2])

    # ---- exact path: the parameters are computed only where each pass codes -------------------
    # Pass 1 needs them at the anchors, pass 2 at the other half; the entropy-parameter network
    # is pointwise (1x1), and the context of a non-anchor sees decoded anchors only through the
    # taps with (i + j) odd: both are evaluated on those points alone.

    @staticmethod
    def _points(h: int, w: int, anchors: bool, device: torch.device) -> tuple[Tensor, Tensor]:
        """Row-major (rows, cols) of the anchors ((i + j) even) or of the other positions."""
        sel = anchor_mask(h, w, device)[0, 0]
        i, j = torch.nonzero(sel if anchors else ~sel, as_tuple=True)
        return i, j

    def _context_taps(self) -> Tensor:
        k = self.context.kernel_size[0]
        i = torch.arange(k)[:, None]
        j = torch.arange(k)[None, :]
        return (i + j) % 2 == 1

    def _hyper_int(self, z_hat: Tensor) -> Tensor:
        """Fixed-point hyper features [B, 2M, H, W] (int64)."""
        return self.h_s.forward_int(inet.to_fixed(z_hat))

    def _params_int(self, hyper: Tensor, rows: Tensor, cols: Tensor, y_anchors: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Exact mixture parameters at points: int32 [B, M, n, K] each (Q8 means, scale indexes,
        Q16 weights summing to 2^16). y_anchors: the decoded latent with zeros off the anchors
        (pass 2), or None (pass 1: no context)."""
        b = hyper.shape[0]
        feats = hyper[:, :, rows, cols]  # [B, 2M, n]
        if y_anchors is None:
            ctx = torch.zeros_like(feats)
        else:
            ctx = self.context.forward_int_at(inet.to_fixed(y_anchors), rows, cols, self._context_taps())
        pts = torch.cat([feats, ctx], 1).permute(0, 2, 1).reshape(-1, feats.shape[1] * 2)  # [B n, 4M]
        p = self.entropy_parameters.forward_int(pts)  # [B n, 3KM]
        p = p.reshape(b, -1, 3, self.K, self.M).permute(2, 0, 4, 1, 3)  # [3, B, M, n, K]
        scales = p[1]
        if self.transform == "gdn":  # the scale is an offset from the hyper scale (Q10 -> Q12: exact); the
            # means stay relative to the hyper mean, which the coded symbols round(y - mean) are too
            scales = scales + feats[:, :self.M, :, None] * (1 << (inet.SCALE_FRAC - inet.ACT_FRAC))
        return p[0].to(torch.int32), inet.scale_indexes(scales), inet.mixture_weights_q16(p[2])

    def _offset(self, hyper: Tensor, exact: bool) -> Tensor:
        """The quantisation offset o [B, M, h, w] (y is coded as round(y - o), y_hat = that + o):
        for transform "gdn" the hyper mean (exact: the Q10 integers / 2^10, exactly representable),
        as in the mean-scale hyperprior; 0 for "residual" (plain rounding)."""
        if self.transform != "gdn":
            return hyper.new_zeros(()).float()
        m = hyper[:, self.M:]
        return m.double().div(1 << inet.ACT_FRAC).float() if exact else m

    @staticmethod
    def _float_params(means_q: Tensor, scale_idx: Tensor, weights_q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The coder's integer parameters as floats (eval-mode likelihoods)."""
        return (inet.means_of_q8(means_q), inet.scales_of_indexes(scale_idx),
                weights_q.float() / float(1 << 16))

    def forward(self, x: Tensor, q: Tensor) -> dict:
        y = self.g_a(x) * self.gains.gain(q)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        mask = anchor_mask(*y.shape[-2:], device=y.device)
        if self.training:
            hyper = self.h_s(z_hat)
            y_round = quantize_train(y, self.synthesis_quantization, self._offset(hyper, exact=False))
            ctx = self.context(y_round * mask)
            pa = self._params(hyper, torch.zeros_like(ctx))
            pn = self._params(hyper, ctx)
            m5 = mask[..., None]
            means, scales, weights = (torch.where(m5, a, n) for a, n in zip(pa, pn))
            _, y_lik = self.gmm(y, means, scales, weights)
        else:  # exactly the parameters the coder uses, at the points where it uses them
            hyper = self._hyper_int(z_hat)
            o = self._offset(hyper, exact=True)
            y_rel = (y - o).expand_as(y)
            y_round = torch.round(y_rel) + o
            y_lik = torch.empty_like(y)
            for anchors in (True, False):
                r, c = self._points(*y.shape[-2:], anchors, y.device)
                params = self._float_params(*self._params_int(hyper, r, c, None if anchors else y_round * mask))
                y_lik[:, :, r, c] = self.gmm(y_rel[:, :, r, c], *params)[1]
        x_hat = self.synthesize(y_round, q)
        return {"x_hat": x_hat, "likelihoods": {"y": y_lik, "z": z_lik}}

    def analyze(self, x: Tensor, q: Tensor) -> dict[str, Tensor]:
        y = self.g_a(x) * self.gains.gain(q)
        return {"y": y, "z": self.h_a(y)}

    def relaxed(self, latents: dict[str, Tensor], q: Tensor, tau: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        eb = self.entropy_bottleneck
        z = latents["z"]
        z_s = sga_round(z, eb._medians_like(z), tau, generator)
        hyper = self.h_s.forward_sim(z_s)
        y_s = sga_round(latents["y"], self._offset(hyper, exact=False), tau, generator)
        mask = anchor_mask(*y_s.shape[-2:], device=y_s.device)
        ctx = self.context.forward_sim(y_s * mask)
        pa, pn = self._params(hyper, torch.zeros_like(ctx)), self._params(hyper, ctx)
        means, scales, weights = (torch.where(mask[..., None], a, n) for a, n in zip(pa, pn))
        bits = -torch.log2(eb.likelihood_at(z_s)).sum() - torch.log2(self.gmm.likelihood(y_s, means, scales, weights)).sum()
        return self.synthesize(y_s, q), bits

    def compress_tensor(self, x: Tensor, q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        return self.compress_latents(self.analyze(x, q), q)

    def compress_latents(self, latents: dict[str, Tensor], q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        y, z = latents["y"], latents["z"]
        z_bytes, z_hat = self.entropy_bottleneck.compress(z)
        hyper = self._hyper_int(z_hat)
        o = self._offset(hyper, exact=True)
        y_rel = (y - o).expand_as(y)
        y_hat = torch.round(y_rel) + o
        h, w = y.shape[-2:]
        ra, ca = self._points(h, w, True, y.device)
        rn, cn = self._points(h, w, False, y.device)
        y0, _ = self.gmm.compress_int(y_rel[:, :, ra, ca], *self._params_int(hyper, ra, ca, None))
        y_anchors = y_hat * anchor_mask(h, w, device=y.device)
        y1, _ = self.gmm.compress_int(y_rel[:, :, rn, cn], *self._params_int(hyper, rn, cn, y_anchors))
        return {"z": z_bytes, "y0": y0, "y1": y1}, y_hat

    def decompress_tensor(self, sections: dict[str, bytes], q: Tensor, size: tuple[int, int]) -> Tensor:
        zh, zw = latent_size(size, 64)
        z_hat = self.entropy_bottleneck.decompress(section_bytes("z", sections), (1, self.N, zh, zw))
        hyper = self._hyper_int(z_hat)
        yh, yw = latent_size(size, 16)
        ra, ca = self._points(yh, yw, True, hyper.device)
        rn, cn = self._points(yh, yw, False, hyper.device)
        o = self._offset(hyper, exact=True).expand(1, self.M, yh, yw)
        y_hat = torch.zeros(1, self.M, yh, yw, device=hyper.device)
        y_hat[:, :, ra, ca] = (self.gmm.decompress_int(section_bytes("y0", sections), *self._params_int(hyper, ra, ca, None))
                               + o[:, :, ra, ca])
        y_hat[:, :, rn, cn] = (self.gmm.decompress_int(section_bytes("y1", sections), *self._params_int(hyper, rn, cn, y_hat))
                               + o[:, :, rn, cn])
        return y_hat
