"""BD-rate of one RD result file against another (same codec and data set), per metric.

    python scripts/compare_rd.py results/conv/float/kodak-gmm.json results/conv/int/kodak-gmm.json
"""

from __future__ import annotations

import argparse
import json

from neurocodec.evaluate.bd import bd_rate
from neurocodec.evaluate.results import curve_from_result, read_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("anchor", help="result JSON of the reference")
    ap.add_argument("test", help="result JSON compared with it")
    args = ap.parse_args()
    a, t = (curve_from_result(read_json(p)) for p in (args.anchor, args.test))
    out = {}
    for key in ("psnr_rgb", "ms_ssim_db"):
        out[key] = round(bd_rate(*a.points(key), *t.points(key)), 3)
    for name, c in (("anchor", a), ("test", t)):
        bpp, psnr = c.points("psnr_rgb")
        out[f"{name}_points"] = [(round(float(b), 4), round(float(p), 3)) for b, p in zip(bpp, psnr)]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
