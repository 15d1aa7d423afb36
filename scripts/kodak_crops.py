"""Write centre crops of the first K Kodak images (for evaluations too slow on whole images,
e.g. 500 refinement steps of gmm).

    python scripts/kodak_crops.py OUT_DIR [--images 2] [--size 256]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from neurocodec.data import data_path
from neurocodec.io.images import list_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    kodak = data_path("kodak")
    if kodak is None:
        raise SystemExit("Kodak not found: set NEUROCODEC_DATA (see README)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for p in list_images(kodak)[: args.images]:
        with Image.open(p) as im:
            w, h, s = im.width, im.height, args.size
            im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).save(out / p.name)


if __name__ == "__main__":
    main()
