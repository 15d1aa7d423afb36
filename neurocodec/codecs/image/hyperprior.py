"""Mean-scale hyperprior (Minnen, Ballé, Toderici 2018), variable rate through gain units.

g_a: 4 x (5x5 conv, stride 2) with GDN; g_s mirrors it with IGDN. h_a/h_s: the hyper
analysis/synthesis predicting a mean and a scale per latent element. y is coded with the
Gaussian conditional (symbols round(y - mean)), z with the learned factorised prior.
"""

from __future__ import annotations

import torch
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from neurocodec.codecs.image.base import GainUnits, ImageCodec, latent_size, section_bytes
from neurocodec.entropy.layers import EntropyBottleneck, GaussianConditional, quantize_train


class MeanScaleHyperprior(ImageCodec):
    name = "hyperprior"

    def __init__(self, N: int = 128, M: int = 192, qualities: int = 6, lambdas: tuple[float, ...] | None = None) -> None:
        super().__init__(qualities=qualities, lambdas=lambdas, N=N, M=M)
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
            conv(N, N), nn.LeakyReLU(inplace=True), conv(N, N),
        )
        self.h_s = nn.Sequential(
            deconv(N, M), nn.LeakyReLU(inplace=True),
            deconv(M, M * 3 // 2), nn.LeakyReLU(inplace=True),
            conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
        )
        self.gains = GainUnits(qualities, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional()
        self.N, self.M = N, M

    def forward(self, x: Tensor, q: Tensor) -> dict:
        """Training / estimation pass. x [B, 3, H, W] (H, W multiples of 64), q [B] levels."""
        y = self.g_a(x) * self.gains.gain(q)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.h_s(z_hat).chunk(2, 1)
        _, y_lik = self.gaussian_conditional(y, scales, means)
        # mixed quantisation: rate with noise, reconstruction from rounded y (straight-through)
        y_hat = quantize_train(y, "ste", means) if self.training else torch.round(y - means) + means
        x_hat = self.synthesize(y_hat, q)
        return {"x_hat": x_hat, "likelihoods": {"y": y_lik, "z": z_lik}}

    def compress_tensor(self, x: Tensor, q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        y = self.g_a(x) * self.gains.gain(q)
        z = self.h_a(y)
        z_bytes, z_hat = self.entropy_bottleneck.compress(z)
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_bytes, y_hat = self.gaussian_conditional.compress(y, scales, means)
        return {"z": z_bytes, "y": y_bytes}, y_hat

    def decompress_tensor(self, sections: dict[str, bytes], q: Tensor, size: tuple[int, int]) -> Tensor:
        zh, zw = latent_size(size, 64)
        z_hat = self.entropy_bottleneck.decompress(section_bytes("z", sections), (1, self.N, zh, zw))
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return self.gaussian_conditional.decompress(section_bytes("y", sections), scales, means)
