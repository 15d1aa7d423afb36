"""Pack the data a GPU burst needs into an ignored folder that travels with the checkout (the
device machine gets the checkout and at most 64 MiB in all): the training photos re-encoded as
JPEG (the PNGs alone would not fit) and the first K Kodak PNGs for the burst's quick card.

    python scripts/pack_burst_data.py [--out .data] [--quality 85] [--kodak-images 4]

Then carry `.data` and `results/kodak` in the device call (see scripts/gpu_burst.sh).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from neurocodec.data import data_path
from neurocodec.io.images import list_images

LIMIT_MB = 64 * 1.048576  # the device's 64 MiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".data")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality of the training photos")
    ap.add_argument("--kodak-images", type=int, default=4)
    args = ap.parse_args()
    train, kodak = data_path("train_images", "wikipedia_photos_downsampled"), data_path("kodak")
    if train is None or kodak is None:
        raise SystemExit("training photos or Kodak not found: set NEUROCODEC_DATA (see README)")
    out = Path(args.out)
    (out / "train_images" / "wikipedia_photos_downsampled").mkdir(parents=True, exist_ok=True)
    (out / "kodak").mkdir(parents=True, exist_ok=True)
    for p in list_images(train):
        with Image.open(p) as im:
            im.convert("RGB").save(out / "train_images" / "wikipedia_photos_downsampled" / f"{p.stem}.jpg", quality=args.quality)
    for p in list_images(kodak)[: args.kodak_images]:
        shutil.copy2(p, out / "kodak" / p.name)
    data_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.split(b"\0")
    tree_mb = sum(Path(f.decode()).stat().st_size for f in tracked if f and Path(f.decode()).is_file()) / 1e6
    results_mb = sum(f.stat().st_size for f in Path("results/kodak").glob("*.json")) / 1e6
    total = data_mb + tree_mb + results_mb
    print(f"{out}: {data_mb:.1f} MB; tracked files {tree_mb:.1f} MB, results/kodak {results_mb:.1f} MB; "
          f"total {total:.1f} of {LIMIT_MB:.1f} MB")
    if total > LIMIT_MB:
        raise SystemExit("over the device's limit: lower --quality or --kodak-images")


if __name__ == "__main__":
    main()
