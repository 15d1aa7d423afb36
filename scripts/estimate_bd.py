"""Quick BD-rate estimate of image checkpoints against the first one, on the first K Kodak
images: rate from the models' eval-mode likelihoods (the coder's own parameters; real files are
within about 1 % plus a few bytes per section), PSNR-RGB of the 8-bit reconstruction. For
deciding during training; the model card measures real files on all 24 images.

    python scripts/estimate_bd.py hyperprior shallow-2l runs/x.pt [--images 4] [--threads 1]

A codec may be given as A@B: load A, then start it from B's parts (A's ``init_from_hyperprior``),
e.g. ``mambaic@hyperprior`` (a mambaic's context on the shipped hyperprior's transforms).
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

from neurocodec.codecs import registry
from neurocodec.data import kodak_tensors
from neurocodec.evaluate.bd import bd_rate


def load(spec: str):  # noqa: ANN201 - an image codec
    """A checkpoint name or path, or A@B (A started from B's parts)."""
    name, _, start = spec.partition("@")
    codec = registry.load(name)
    if start:
        codec.init_from_hyperprior(registry.load(start))
    return codec.eval()


def curve(codec, images: list[torch.Tensor]) -> tuple[list[float], list[float]]:
    """(bpp, PSNR-RGB dB) per quality level, pooled over the images."""
    rates, psnrs = [], []
    pixels = sum(x.shape[-2] * x.shape[-1] for x in images)
    for q in codec.qualities:
        bits, mse = 0.0, 0.0
        for x in images:
            with torch.no_grad():
                out = codec(codec.pad(x), codec.level(q))
            bits += sum(float(-torch.log2(v).sum()) for v in out["likelihoods"].values())
            x_hat = (out["x_hat"][..., : x.shape[-2], : x.shape[-1]].clamp(0, 1) * 255).round() / 255
            mse += float((x_hat - x).pow(2).mean())
        rates.append(bits / pixels)
        psnrs.append(10 * math.log10(len(images) / mse))
    return rates, psnrs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("codecs", nargs="+", help="the anchor first; names, paths or A@B")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = kodak_tensors(args.images)
    curves = {}
    for spec in args.codecs:
        curves[spec] = curve(load(spec), images)
        pts = " ".join(f"{r:.3f}/{p:.2f}" for r, p in zip(*curves[spec]))
        sys.stdout.write(f"{spec}: bpp/dB {pts}\n")
    anchor = args.codecs[0]
    for spec in args.codecs[1:]:
        sys.stdout.write(f"BD-rate {spec} vs {anchor}: {bd_rate(*curves[anchor], *curves[spec]):+.2f} %\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
