"""The linear bound on a latent's width: PSNR of Kodak reconstructed from the top-k principal
components of its own 16x16x3 blocks (PCA fitted on all 24 images; an optimistic bound for a
linear transform of the codecs' shape: 16x downsampling, k latent channels).

    python scripts/pca_bound.py [--k 96,128,192,320] [--block 16]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from neurocodec.data import data_path
from neurocodec.io.images import list_images, load_image


def blocks(a: np.ndarray, b: int) -> np.ndarray:
    """[H, W, 3] uint8 -> [n, b*b*3] float in [0, 1] (whole blocks only)."""
    h, w = a.shape[0] // b * b, a.shape[1] // b * b
    x = a[:h, :w].astype(np.float64) / 255
    return x.reshape(h // b, b, w // b, b, 3).transpose(0, 2, 1, 3, 4).reshape(-1, b * b * 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", default="96,128,192,320")
    ap.add_argument("--block", type=int, default=16)
    args = ap.parse_args(argv)
    kodak = data_path("kodak")
    if kodak is None:
        raise SystemExit("no Kodak folder: set NEUROCODEC_DATA")
    x = np.concatenate([blocks(load_image(p), args.block) for p in list_images(kodak)])
    mu = x.mean(0)
    _, vecs = np.linalg.eigh(np.cov((x - mu).T))
    vecs = vecs[:, ::-1]
    sys.stdout.write("| components | PSNR (dB) |\n|---:|---:|\n")
    for k in (int(v) for v in args.k.split(",")):
        p = vecs[:, :k]
        mse = float((((x - mu) @ p @ p.T + mu - x) ** 2).mean())
        sys.stdout.write(f"| {k} | {10 * np.log10(1 / mse):.2f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
