"""Waveform encoder and decoder of the audio codecs (DAC-style backbone).

Convolutions are weight-normalised; activations are Snake, x + sin^2(a x) / a with a learned
per-channel a (Ziyin et al., 2020, as used by DAC). The encoder maps [B, 1, T] to
[B, D, T / hop] with hop = prod(strides); the decoder maps it back. Every layer is a
convolution with "same" padding, so both are fully convolutional: a chunk with enough context
on each side gives the same frames as the whole signal (see :func:`receptive_field`).

The decoder can add noise blocks (SNAC): x + conv1x1(x) * n, where n is a pseudo-random
normal field seeded by the absolute sample position (:func:`position_noise`), so decoding is
reproducible and chunks agree with the whole signal.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm


def wn_conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1, groups: int = 1) -> nn.Module:
    """Weight-normalised Conv1d with 'same' padding for stride 1 (k odd)."""
    pad = (k - 1) * dilation // 2 if stride == 1 else (k - stride + 1) // 2
    return weight_norm(nn.Conv1d(cin, cout, k, stride=stride, dilation=dilation, padding=pad, groups=groups))


def wn_tconv(cin: int, cout: int, stride: int) -> nn.Module:
    """Weight-normalised ConvTranspose1d upsampling by `stride` exactly (kernel 2 * stride)."""
    return weight_norm(nn.ConvTranspose1d(cin, cout, 2 * stride, stride=stride,
                                          padding=math.ceil(stride / 2), output_padding=stride % 2))


class Snake(nn.Module):
    """x + sin^2(alpha x) / alpha, alpha per channel (initialised to 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    """Snake -> dilated conv7 -> Snake -> conv1, plus the input. `depthwise`: the conv7 is
    per-channel (SNAC's cheaper variant)."""

    def __init__(self, c: int, dilation: int, depthwise: bool = False) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake(c), wn_conv(c, c, 7, dilation=dilation, groups=c if depthwise else 1), Snake(c), wn_conv(c, c, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Sequential):
    """Three residual units (dilations 1, 3, 9) at c channels, then a strided conv to cout."""

    def __init__(self, c: int, cout: int, stride: int, depthwise: bool = False) -> None:
        super().__init__(*(ResidualUnit(c, d, depthwise) for d in (1, 3, 9)), Snake(c), wn_conv(c, cout, 2 * stride, stride=stride))


class DecoderBlock(nn.Module):
    """Upsample by `stride` (transposed conv, c -> cout), optional noise, three residual units."""

    def __init__(self, c: int, cout: int, stride: int, depthwise: bool = False, noise: bool = False) -> None:
        super().__init__()
        self.up = nn.Sequential(Snake(c), wn_tconv(c, cout, stride))
        self.noise = wn_conv(cout, cout, 1) if noise else None
        if self.noise is not None:  # starts nearly silent: a block added to a trained backbone does not disrupt it
            with torch.no_grad():
                self.noise.parametrizations.weight.original0.fill_(1e-3)
        self.res = nn.Sequential(*(ResidualUnit(cout, d, depthwise) for d in (1, 3, 9)))

    def forward(self, x: Tensor, start: int = 0) -> Tensor:
        """start: absolute index (at this block's output rate) of the first output sample."""
        x = self.up(x)
        if self.noise is not None:
            x = x + self.noise(x) * position_noise(x.shape[0], x.shape[1], x.shape[2], start, x.device, x.dtype)
        return self.res(x)


def position_noise(b: int, c: int, t: int, start: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A standard-normal field [b, c, t] that is a pure function of (channel, absolute position
    start + i): an integer hash (exact in int64 on every device) and Box-Muller. The same for
    every batch item."""
    pos = torch.arange(start, start + t, dtype=torch.int64, device=device)[None, :]
    ch = torch.arange(c, dtype=torch.int64, device=device)[:, None]

    def mix(v: Tensor) -> Tensor:  # 31-bit integer hash (xorshift-multiply), no overflow in int64
        v = v & 0x7FFFFFFF
        v = ((v >> 16) ^ v) * 0x45D9F3B & 0x7FFFFFFF
        v = ((v >> 16) ^ v) * 0x45D9F3B & 0x7FFFFFFF
        return (v >> 16) ^ v

    key = pos * 1024 + ch
    u1 = (mix(key * 2 + 0x1234567) + 1).to(torch.float64) / 2**31
    u2 = mix(key * 2 + 0x2345678 + 1).to(torch.float64) / 2**31
    z = torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
    return z.to(dtype)[None].expand(b, c, t)


class Encoder(nn.Module):
    """[B, 1, T] -> [B, latent, T / prod(strides)]. Channels double at each block from `channels`."""

    def __init__(self, channels: int = 16, strides: tuple[int, ...] = (2, 4, 5, 8), latent: int = 128,
                 depthwise: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [wn_conv(1, channels, 7)]
        c = channels
        for s in strides:
            layers.append(EncoderBlock(c, 2 * c, s, depthwise))
            c *= 2
        layers += [Snake(c), wn_conv(c, latent, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """[B, latent, F] -> [B, 1, F * prod(strides)] in [-1, 1]. Channels halve at each block from
    `channels`; `noise` adds position-seeded noise blocks after each upsampling."""

    def __init__(self, channels: int = 256, strides: tuple[int, ...] = (8, 5, 4, 2), latent: int = 128,
                 depthwise: bool = False, noise: bool = False) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.inp = wn_conv(latent, channels, 7)
        c = channels
        blocks = []
        for s in strides:
            blocks.append(DecoderBlock(c, c // 2, s, depthwise, noise))
            c //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(Snake(c), wn_conv(c, 1, 7), nn.Tanh())

    def forward(self, z: Tensor, start_frame: int = 0) -> Tensor:
        """start_frame: absolute index of z's first frame (seeds the noise)."""
        x = self.inp(z)
        pos = start_frame
        for s, blk in zip(self.strides, self.blocks):
            pos *= s
            x = blk(x, pos)
        return self.out(x)


__all__ = ["Decoder", "Encoder", "Snake", "position_noise", "wn_conv"]
