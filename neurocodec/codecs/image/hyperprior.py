"""Mean-scale hyperprior (Minnen, Ballé, Toderici 2018), variable rate through gain units.

g_a: 4 x (5x5 conv, stride 2) with GDN; g_s mirrors it with IGDN. h_a/h_s: the hyper
analysis/synthesis predicting a mean and a scale per latent element. y is coded with the
Gaussian conditional (symbols round(y - mean)), z with the learned factorised prior.

Portable files: h_s is an integer network (:mod:`neurocodec.entropy.integer_nets`) whose last
layer emits Q12 scales (mapped to the coder's scale index in integers) and Q8 means, so the
decoder picks every probability with exact arithmetic; g_a, g_s and h_a stay float.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neurocodec.codecs.image.base import GainUnits, ImageCodec, latent_size, section_bytes
from neurocodec.entropy import integer_nets as inet
from neurocodec.codecs.image.refine import sga_round
from neurocodec.entropy.layers import EntropyBottleneck, GaussianConditional, quantize_train
from neurocodec.nn.transforms import GDN, conv, deconv


def gdn_transforms(N: int, M: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(g_a, g_s): 4 x (5x5 conv, stride 2) with GDN, mirrored with IGDN; y at 1/16, M channels."""
    g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
    g_s = nn.Sequential(
        deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
    )
    return g_a, g_s


def mean_scale_hyper_networks(N: int, M: int, out_frac: int | list[int] = inet.ACT_FRAC,
                               out_limit: int = inet.ACT_LIMIT) -> tuple[nn.Sequential, inet.IntSequential]:
    """(h_a, h_s) in the layout of compressai's mbt2018-mean: h_a 3x3/1, 5x5/2, 5x5/2 convs;
    h_s deconv 5x5/2, deconv 5x5/2, conv 3x3 to 2M channels (a scale and a mean per latent
    channel), in integer arithmetic with the last layer's fixed point `out_frac`. Shared by the
    codecs that start from a trained hyperprior's weights, so the layouts cannot drift apart."""
    h_a = nn.Sequential(
        conv(M, N, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
        conv(N, N), nn.LeakyReLU(inplace=True), conv(N, N),
    )
    h_s = inet.IntSequential(
        inet.IntConvTranspose2d(N, M, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
        inet.IntConvTranspose2d(M, M * 3 // 2, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
        inet.IntConv2d(M * 3 // 2, M * 2, 3, padding=1, out_frac=out_frac, out_limit=out_limit),
    )
    return h_a, h_s


class MeanScaleHyperprior(ImageCodec):
    name = "hyperprior"

    def __init__(self, N: int = 128, M: int = 192, qualities: int = 6, lambdas: tuple[float, ...] | None = None) -> None:
        super().__init__(qualities=qualities, lambdas=lambdas, N=N, M=M)
        self.g_a, self.g_s = gdn_transforms(N, M)
        # h_s: channels [0, M) are Q12 scales, [M, 2M) Q8 means
        self.h_a, self.h_s = mean_scale_hyper_networks(
            N, M, out_frac=[inet.SCALE_FRAC] * M + [inet.MEAN_FRAC] * M, out_limit=inet.OUT_LIMIT)
        self.gains = GainUnits(qualities, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional()
        self.N, self.M = N, M

    def hyper_int(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """Exact path: z_hat -> (int32 scale indexes, int32 Q8 means), each [B, M, h, w]."""
        out = self.h_s.forward_int(inet.to_fixed(z_hat))
        s, m = out.chunk(2, 1)
        return inet.scale_indexes(s), m.to(torch.int32)

    def hyper_params(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) as floats. Training: the integer network's float simulation; eval:
        exactly the scale levels and means the coder uses."""
        if self.h_s.training:
            return self.h_s(z_hat).chunk(2, 1)
        idx, means_q = self.hyper_int(z_hat)
        return inet.scales_of_indexes(idx), inet.means_of_q8(means_q)

    def forward(self, x: Tensor, q: Tensor) -> dict:
        """Training / estimation pass. x [B, 3, H, W] (H, W multiples of 64), q [B] levels."""
        y = self.g_a(x) * self.gains.gain(q)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.hyper_params(z_hat)
        _, y_lik = self.gaussian_conditional(y, scales, means)
        # mixed quantisation: rate with noise, reconstruction from rounded y (straight-through)
        y_hat = quantize_train(y, self.synthesis_quantization, means) if self.training else torch.round(y - means) + means
        x_hat = self.synthesize(y_hat, q)
        return {"x_hat": x_hat, "likelihoods": {"y": y_lik, "z": z_lik}}

    def analyze(self, x: Tensor, q: Tensor) -> dict[str, Tensor]:
        y = self.g_a(x) * self.gains.gain(q)
        return {"y": y, "z": self.h_a(y)}

    def compress_latents(self, latents: dict[str, Tensor], q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        z_bytes, z_hat = self.entropy_bottleneck.compress(latents["z"])
        y_bytes, y_hat = self.gaussian_conditional.compress_int(latents["y"], *self.hyper_int(z_hat))
        return {"z": z_bytes, "y": y_bytes}, y_hat

    def relaxed(self, latents: dict[str, Tensor], q: Tensor, tau: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        z = latents["z"]
        z_s = sga_round(z, eb._medians_like(z), tau, generator)
        scales, means = self.h_s.forward_sim(z_s).chunk(2, 1)
        y_s = sga_round(latents["y"], means, tau, generator)
        bits = -torch.log2(eb.likelihood_at(z_s)).sum() - torch.log2(gc.likelihood(y_s, scales, means)).sum()
        return self.synthesize(y_s, q), bits

    def compress_tensor(self, x: Tensor, q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        return self.compress_latents(self.analyze(x, q), q)

    def decompress_tensor(self, sections: dict[str, bytes], q: Tensor, size: tuple[int, int]) -> Tensor:
        zh, zw = latent_size(size, 64)
        z_hat = self.entropy_bottleneck.decompress(section_bytes("z", sections), (1, self.N, zh, zw))
        return self.gaussian_conditional.decompress_int(section_bytes("y", sections), *self.hyper_int(z_hat))
