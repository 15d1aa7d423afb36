"""Layers of the analysis and synthesis transforms: GDN, strided and sub-pixel convolutions,
and the residual blocks of Cheng et al. 2020. Float layers: they never choose a probability."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec.nn.bounds import NonNegative


class GDN(nn.Module):
    """Generalised divisive normalisation (Ballé, Laparra, Simoncelli 2016) over channels:
    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2); ``inverse=True`` multiplies instead (IGDN).
    Input [B, C, H, W]."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_reparam = NonNegative(minimum=beta_min)
        self.gamma_reparam = NonNegative()
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(channels)))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        norm = F.conv2d(x**2, gamma, beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


def conv(in_ch: int, out_ch: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """Convolution that divides the size by `stride` (same padding)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_ch: int, out_ch: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the size by `stride` exactly."""
    return nn.ConvTranspose2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2,
                              output_padding=stride - 1)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride)


def subpel_conv3x3(in_ch: int, out_ch: int, r: int = 1) -> nn.Sequential:
    """3x3 convolution to out_ch * r^2 channels, then pixel shuffle: upsampling by r."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch * r * r, 3, padding=1), nn.PixelShuffle(r))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with leaky ReLUs, plus the input (1x1-projected if the width changes)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.skip = conv1x1(in_ch, out_ch) if in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.leaky_relu(self.conv2(self.leaky_relu(self.conv1(x))))
        return out + (x if self.skip is None else self.skip(x))


class ResidualBlockWithStride(nn.Module):
    """Downsampling residual block: strided 3x3, leaky ReLU, 3x3, GDN; plus a strided 1x1 skip."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride=stride)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.gdn = GDN(out_ch)
        self.skip = conv1x1(in_ch, out_ch, stride=stride) if stride != 1 or in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.gdn(self.conv2(self.leaky_relu(self.conv1(x))))
        return out + (x if self.skip is None else self.skip(x))


class ResidualBlockUpsample(nn.Module):
    """Upsampling residual block: sub-pixel 3x3, leaky ReLU, 3x3, IGDN; plus a sub-pixel skip."""

    def __init__(self, in_ch: int, out_ch: int, upsample: int = 2) -> None:
        super().__init__()
        self.subpel_conv = subpel_conv3x3(in_ch, out_ch, upsample)
        self.leaky_relu = nn.LeakyReLU(inplace=True)
        self.conv = conv3x3(out_ch, out_ch)
        self.igdn = GDN(out_ch, inverse=True)
        self.upsample = subpel_conv3x3(in_ch, out_ch, upsample)

    def forward(self, x: Tensor) -> Tensor:
        out = self.igdn(self.conv(self.leaky_relu(self.subpel_conv(x))))
        return out + self.upsample(x)


class ResidualBottleneck(nn.Module):
    """ELIC's residual bottleneck (He et al. 2022): 1x1 to half width, 3x3, 1x1 back, ReLUs,
    plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = max(channels // 2, 1)
        self.body = nn.Sequential(conv1x1(channels, mid), nn.ReLU(inplace=True), conv3x3(mid, mid), nn.ReLU(inplace=True),
                                  conv1x1(mid, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class AttentionBlock(nn.Module):
    """Simplified attention of Cheng et al. 2020 (no non-local part): a trunk of three residual
    units and a mask branch of three residual units, 1x1 and sigmoid; x + trunk * mask."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(ResidualBottleneck(channels) for _ in range(3)))
        self.mask = nn.Sequential(*(ResidualBottleneck(channels) for _ in range(3)), conv1x1(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.trunk(x) * torch.sigmoid(self.mask(x))
