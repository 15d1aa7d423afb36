"""How many latent channels a mean-scale image codec actually uses, per quality level.

The rate term of rate-distortion training can switch channels off: their rounded symbols
are all zero and cost almost nothing. This counts, from the codec's own integer path (the
symbols a file would hold: ``round(y - mean)`` with the integer hyper-synthesis' means), the
fraction of nonzero symbols per channel, and the estimated bits per channel (the coder's
scales, unit bins). With ``split`` it reports the channels from that index on separately:
after ``neurocodec.train.widen`` they are the new ones.

    python -m neurocodec.evaluate.latent_usage runs/wide2/hyperprior.pt --split 96 [--images 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from neurocodec.codecs import registry
from neurocodec.data import kodak_tensors
from neurocodec.entropy import integer_nets as inet
from neurocodec.errors import InputError

log = logging.getLogger(__name__)

ACTIVE = 0.01  # a channel is active when at least this fraction of its symbols is nonzero


@dataclass
class LevelUsage:
    """One quality level, pooled over the images."""

    quality: int
    y_bpp: float  # estimated bits of y per pixel
    nonzero: float  # fraction of nonzero symbols, all channels
    active_channels: int  # channels with at least ACTIVE nonzero symbols
    split_nonzero: float | None = None  # fraction of nonzero symbols in channels >= split
    split_active: int | None = None
    split_bit_share: float | None = None  # share of y's bits in channels >= split


@torch.no_grad()
def symbols_and_bits(codec, x: Tensor, quality: int) -> tuple[Tensor, Tensor]:
    """The rounded latent symbols [M, h*w] of one image [1, 3, H, W] in [0, 1] at a quality
    level (1-based), and their estimated bits [M, h*w]."""
    if not all(hasattr(codec, a) for a in ("hyper_int", "analyze", "entropy_bottleneck", "gaussian_conditional")):
        raise InputError(f"latent usage needs a mean-scale hyperprior codec, got {codec.name!r}")
    q = codec.level(quality)
    latents = codec.analyze(codec.pad(x), q)
    _, z_hat = codec.entropy_bottleneck.compress(latents["z"])
    idx, means_q = codec.hyper_int(z_hat)
    means, scales = inet.means_of_q8(means_q), inet.scales_of_indexes(idx)
    sym = torch.round(latents["y"] - means)
    bits = -torch.log2(codec.gaussian_conditional.likelihood(sym + means, scales, means))
    m = sym.shape[1]
    return sym[0].reshape(m, -1), bits[0].reshape(m, -1)


def latent_usage(codec, images: list[Tensor], split: int | None = None) -> list[LevelUsage]:
    """Per quality level: rate, nonzero fraction and active channels over `images`."""
    codec.eval()
    pixels = sum(x.shape[-2] * x.shape[-1] for x in images)
    out = []
    for quality in codec.qualities:
        per = [symbols_and_bits(codec, x, quality) for x in images]
        sym = torch.cat([s for s, _ in per], 1)
        bits = torch.cat([b for _, b in per], 1)
        nz = (sym != 0).float().mean(1)  # [M]
        row = LevelUsage(quality, float(bits.sum()) / pixels, float((sym != 0).float().mean()),
                         int((nz >= ACTIVE).sum()))
        if split is not None:
            if not 0 < split < sym.shape[0]:
                raise InputError(f"split {split} is outside the latent's {sym.shape[0]} channels")
            row.split_nonzero = float((sym[split:] != 0).float().mean())
            row.split_active = int((nz[split:] >= ACTIVE).sum())
            row.split_bit_share = float(bits[split:].sum() / bits.sum())
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a codec name or checkpoint path")
    ap.add_argument("--split", type=int, help="report channels from this index on separately")
    ap.add_argument("--images", type=int, default=4, help="the first K Kodak images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    codec = registry.load(args.checkpoint)
    images = kodak_tensors(args.images)
    rows = latent_usage(codec, images, args.split)
    m = codec.config.get("M", "?")
    head = f"{args.checkpoint} (M={m}, first {len(images)} Kodak images; active: >= {ACTIVE:.0%} nonzero)\n"
    cols = "| q | y bpp | nonzero | active channels |"
    if args.split is not None:
        cols += f" nonzero, ch >= {args.split} | active, ch >= {args.split} | bit share, ch >= {args.split} |"
    lines = [head, cols + "\n", "|" + "---:|" * (cols.count("|") - 1) + "\n"]
    for r in rows:
        line = f"| {r.quality} | {r.y_bpp:.3f} | {r.nonzero:.1%} | {r.active_channels} |"
        if args.split is not None:
            line += f" {r.split_nonzero:.1%} | {r.split_active} | {r.split_bit_share:.1%} |"
        lines.append(line + "\n")
    sys.stdout.write("".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint": args.checkpoint, "images": len(images), "split": args.split,
                       "levels": [asdict(r) for r in rows]}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
