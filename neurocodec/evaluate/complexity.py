"""Decoder complexity: FLOPs per pixel of ``decompress``, and parameter counts.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode` around the decoder (a
multiply-add counts 2 FLOPs; convolutions, transposed convolutions and matmuls, in any dtype,
so the integer networks' float64 accumulations count too). What it does not see is added
analytically: every selective scan adds ``9 * B * L * D * N``
(:func:`neurocodec.nn.scan.count_scan_flops`). Elementwise work (GDN's square root aside, which
is a 1x1 convolution and counted) is not counted, as is customary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from neurocodec.bitstream import Payload
from neurocodec.codecs.base import Codec
from neurocodec.nn.scan import count_scan_flops


@dataclass
class DecodeComplexity:
    """FLOPs of one decode of an image of `pixels` pixels (the original size, not padded)."""

    pixels: int
    flops: int  # counted by FlopCounterMode
    scan_flops: int  # added analytically

    @property
    def total(self) -> int:
        return self.flops + self.scan_flops

    @property
    def kflop_per_px(self) -> float:
        return self.total / self.pixels / 1e3

    def as_dict(self) -> dict:
        return {**asdict(self), "total_flops": self.total, "kflop_per_px": round(self.kflop_per_px, 3),
                "kmac_per_px": round(self.kflop_per_px / 2, 3)}


@torch.no_grad()
def decode_complexity(codec: Codec, payload: Payload) -> DecodeComplexity:
    """Count the FLOPs of ``codec.decompress(payload)`` (an image payload)."""
    h, w = int(payload.metadata["height"]), int(payload.metadata["width"])
    with count_scan_flops() as scan, FlopCounterMode(display=False) as fc:
        codec.decompress(payload)
    return DecodeComplexity(pixels=h * w, flops=int(fc.get_total_flops()), scan_flops=int(scan[0]))


@torch.no_grad()
def image_decode_complexity(codec: Codec, x: torch.Tensor, quality: int) -> DecodeComplexity:
    """Encode x [1, 3, H, W] at `quality`, then count the decoder's FLOPs."""
    payload, _ = codec.compress(x, quality, reconstruct=False)
    return decode_complexity(codec, payload)


def image_speed(codec: Codec, images: list[torch.Tensor], quality: int, threads: tuple[int, ...] = (1, 2)) -> dict:
    """Mean encode and decode seconds per image at each torch thread count (after a warm-up),
    keys ``encode_s_<n>t`` / ``decode_s_<n>t``, and the mean bpp of the files."""
    import time

    from neurocodec import bitstream

    out: dict = {}
    before = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            codec.compress(images[0][..., :64, :64], quality, reconstruct=False)  # tables, caches
            enc = dec = 0.0
            bits = 0
            for x in images:
                t0 = time.perf_counter()
                payload, _ = codec.compress(x, quality, reconstruct=False)
                t1 = time.perf_counter()
                codec.decompress(payload)
                enc, dec = enc + t1 - t0, dec + time.perf_counter() - t1
                bits += 8 * len(bitstream.dumps(payload))
            out[f"encode_s_{n}t"], out[f"decode_s_{n}t"] = enc / len(images), dec / len(images)
    finally:
        torch.set_num_threads(before)
    out["bpp"] = bits / sum(x.shape[-2] * x.shape[-1] for x in images)
    return out


def parameter_count(codec: torch.nn.Module) -> int:
    return sum(p.numel() for p in codec.parameters())
