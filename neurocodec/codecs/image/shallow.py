"""Shallow-decoder image codecs (Yang & Mandt, "Computationally-efficient neural image
compression with shallow decoders", ICCV 2023): a strong analysis transform, a mean-scale
hyperprior, and a synthesis of one or two layers, so that decoding costs a few kFLOP per pixel.
The gap a weak decoder leaves is closed at encoding time by iterative encoding
(:mod:`neurocodec.codecs.image.refine`, ``--refine-steps``).

- Analysis (ELIC-style, He et al. 2022): 5x5 stride-2 convolutions with residual bottleneck
  blocks and two simplified attention blocks; latent y [B, M, H/16, W/16].
- Hyperprior: the layout of :class:`~neurocodec.codecs.image.hyperprior.MeanScaleHyperprior`
  (h_a float; h_s an integer network emitting Q12 scales and Q8 means: portable files), so
  that it can start from the shipped hyperprior's weights when N and M match.
- Synthesis ``shallow-2l``: transposed conv k13/s8 to 12 channels with IGDN, plus a linear
  transposed conv of the same shape (a residual path), then transposed conv k5/s2 to RGB.
- Synthesis ``shallow-jpeg``: one transposed conv k18/s16 (a learned "JPEG-like" basis).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neurocodec.codecs.image.hyperprior import MeanScaleHyperprior
from neurocodec.nn.transforms import GDN, AttentionBlock, ResidualBottleneck, conv


def _deconv(in_ch: int, out_ch: int, k: int, s: int) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the size by s exactly (k >= s, k - s even or odd)."""
    pad = (k - s + 1) // 2
    return nn.ConvTranspose2d(in_ch, out_ch, k, stride=s, padding=pad, output_padding=2 * pad - (k - s))


class TwoLayerSynthesis(nn.Module):
    """shallow-2l: y [B, M, h, w] -> RGB [B, 3, 16h, 16w]."""

    def __init__(self, M: int, hidden: int = 12) -> None:
        super().__init__()
        self.up = _deconv(M, hidden, 13, 8)
        self.igdn = GDN(hidden, inverse=True)
        self.linear = _deconv(M, hidden, 13, 8)
        self.out = _deconv(hidden, 3, 5, 2)

    def forward(self, y: Tensor) -> Tensor:
        return self.out(self.igdn(self.up(y)) + self.linear(y))

    @torch.no_grad()
    def load_one_layer(self, jpeg: nn.ConvTranspose2d) -> None:
        """Become exactly the one-layer synthesis ``jpeg`` (k18/s16, M -> 3): the linear path
        writes each latent's 18x18x3 patch as 2x2 RGB blocks on the half-resolution grid
        (12 = 2 x 2 x 3 channels), the last layer puts every block back in place, and the IGDN
        path starts at zero (its weights get gradients from the first step: IGDN'(0) > 0).

        Geometry: latent i reaches half-resolution pixels 8i - 3 + t (t < 13) and full-resolution
        pixels 16i - 1 + v (v < 18); half-resolution pixel p reaches 2p - 2 + u (u < 5). With
        u = 2 + e (e in {0, 1}) a block lands on pixels 2p + e, so v = 2t + e - 5."""
        w = jpeg.weight  # [M, 3, 18, 18]
        if tuple(w.shape[1:]) != (3, 18, 18) or self.linear.weight.shape[0] != w.shape[0] or self.linear.weight.shape[1] != 12:
            raise ValueError(f"needs a k18/s16 synthesis of {self.linear.weight.shape[0]} channels, got {tuple(w.shape)}")
        lin = torch.zeros_like(self.linear.weight)  # [M, 12, 13, 13]
        out = torch.zeros_like(self.out.weight)  # [12, 3, 5, 5]
        for ey in range(2):
            for ex in range(2):
                t0, tx0 = (6 - ey) // 2, (6 - ex) // 2  # the first taps with v = 2t + e - 5 >= 0
                v0, vx0 = 2 * t0 + ey - 5, 2 * tx0 + ex - 5  # 0 or 1: then 9 taps, every other v
                for col in range(3):
                    c = (2 * ey + ex) * 3 + col
                    out[c, col, 2 + ey, 2 + ex] = 1.0
                    lin[:, c, t0:t0 + 9, tx0:tx0 + 9] = w[:, col, v0::2, vx0::2]
        self.linear.weight.copy_(lin)
        self.linear.bias.zero_()
        self.out.weight.copy_(out)
        self.out.bias.copy_(jpeg.bias)
        self.up.weight.zero_()
        self.up.bias.zero_()


class ShallowDecoderCodec(MeanScaleHyperprior):
    """The shallow-decoder codec; `synthesis` is "2l" or "jpeg" (the registered names are
    ``shallow-2l`` and ``shallow-jpeg``)."""

    synthesis_kind = "2l"

    def __init__(self, N: int = 64, M: int = 96, A: int = 96, qualities: int = 6,
                 lambdas: tuple[float, ...] | None = None) -> None:
        super().__init__(N=N, M=M, qualities=qualities, lambdas=lambdas)
        self.config["A"] = A
        self.g_a = nn.Sequential(
            conv(3, A), ResidualBottleneck(A), ResidualBottleneck(A),
            conv(A, A), ResidualBottleneck(A), ResidualBottleneck(A), AttentionBlock(A),
            conv(A, A), ResidualBottleneck(A), ResidualBottleneck(A),
            conv(A, M), AttentionBlock(M),
        )
        self.g_s = TwoLayerSynthesis(M) if self.synthesis_kind == "2l" else _deconv(M, 3, 18, 16)

    @torch.no_grad()
    def init_from_hyperprior(self, other: MeanScaleHyperprior) -> list[str]:
        """Copy the hyperprior parts (h_a, h_s, factorised prior, gains) of a trained
        mean-scale hyperprior whose shapes match, and the analysis g_a too when `other` is a
        shallow codec of the same widths (e.g. shallow-jpeg from a trained shallow-2l); a
        shallow-2l started from a shallow-jpeg also takes its synthesis, rewritten as the
        two-layer one (:meth:`TwoLayerSynthesis.load_one_layer`), so that it starts as exactly
        that codec. Returns the names of the copied parts."""
        names = ("g_a",) if isinstance(other, ShallowDecoderCodec) else ()  # a hyperprior's GDN g_a differs
        done = self.copy_parts_from(other, names + ("h_a", "h_s", "entropy_bottleneck", "gains"))
        if isinstance(other, ShallowJPEG) and isinstance(self.g_s, TwoLayerSynthesis):
            try:  # shallow-2l from a trained shallow-jpeg: start as exactly that codec
                self.g_s.load_one_layer(other.g_s)
            except ValueError:
                return done
            done.append("g_s")
            self.refresh_hash()
        return done


class ShallowTwoLayer(ShallowDecoderCodec):
    name = "shallow-2l"
    synthesis_kind = "2l"


class ShallowJPEG(ShallowDecoderCodec):
    name = "shallow-jpeg"
    synthesis_kind = "jpeg"
