"""Portability: encode every image of a folder under one setting (thread count, oneDNN off,
CUDA when present) and decode it under every other. Prints a table of failures (must be 0)
and of decoded pixels that differ from the encoder setting's own decode, and writes JSON.

    python benchmarks/portability.py [--codecs hyperprior,gmm] [--data kodak,train]
        [--threads 1,2] [--onednn-off] [--qualities 1,2,3,4,5,6] [--limit N]
        [--out results/bench/portability.json]

--data takes names under $NEUROCODEC_DATA (kodak, train = train_images/...) or folder paths.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from neurocodec.codecs import registry
from neurocodec.data import data_path
from neurocodec.evaluate.portability import _Codecs, check_image, default_settings, summarize
from neurocodec.io.images import list_images, load_image, to_tensor

DATASETS = {"kodak": ("kodak",), "train": ("train_images", "wikipedia_photos_downsampled")}


def folder(name: str) -> Path:
    p = data_path(*DATASETS[name]) if name in DATASETS else Path(name)
    if p is None or not p.is_dir():
        raise SystemExit(f"data set {name!r} not found (set NEUROCODEC_DATA or pass a folder)")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codecs", default="hyperprior,gmm", help="checkpoint names or paths")
    ap.add_argument("--data", default="kodak,train")
    ap.add_argument("--threads", default="1,2", help="CPU thread counts to encode and decode under")
    ap.add_argument("--onednn-off", action="store_true", help="also a setting with oneDNN disabled")
    ap.add_argument("--qualities", default=None, help="default: all of each codec")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each data set")
    ap.add_argument("--out", default="results/bench/portability.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = default_settings(tuple(int(t) for t in args.threads.split(",")), onednn_off=args.onednn_off)
    images = [(ds, p) for ds in args.data.split(",") for p in list_images(folder(ds))[: args.limit]]
    report = {"settings": [s.name for s in settings], "platform": platform.platform(), "torch": torch.__version__,
              "args": vars(args), "codecs": {}}
    t0 = time.time()
    for name in args.codecs.split(","):
        codec = registry.load_image_codec(name) if "/" not in name else registry.load(name)
        codecs = _Codecs(codec)
        qs = [int(q) for q in args.qualities.split(",")] if args.qualities else codec.qualities
        per_ds: dict[str, list] = {}
        for ds, path in tqdm(images, desc=codec.name, file=sys.stderr):
            x = to_tensor(load_image(path))
            for q in qs:
                r = check_image(codecs, f"{ds}/{path.name}", x, q, settings)
                for f in r.failures:
                    print(f"FAIL {codec.name} {r.image} q{q}: {f}", file=sys.stderr)
                per_ds.setdefault(ds, []).append(r)
        report["codecs"][codec.name] = {
            "weights_hash": codec.weights_hash().hex(),
            "qualities": qs,
            "datasets": {ds: summarize(rs, settings) for ds, rs in per_ds.items()},
            "items": [vars(r) for rs in per_ds.values() for r in rs],
        }
    report["seconds"] = time.time() - t0

    print(f"\nPortability: settings {', '.join(report['settings'])}; {platform.machine()}, torch {torch.__version__}")
    hdr = f"{'codec':11} {'data':6} {'encode -> decode':24} {'files':>6} {'failures':>8} {'files w/ px diff':>16} {'px differing':>13} {'of px':>12}"
    print(hdr)
    print("-" * len(hdr))
    for cname, c in report["codecs"].items():
        for ds, s in c["datasets"].items():
            for pair, v in s["pairs"].items():
                print(f"{cname:11} {ds:6} {pair:24} {v['files']:6d} {v['failures']:8d} {v['files_with_pixel_diffs']:16d} "
                      f"{v['differing_pixels']:13d} {s['pixels_per_decode']:12d}")
            print(f"{'':11} {ds:6} max |pixel difference| between settings: {s['max_abs_pixel_diff']}")
    total = sum(s["failures"] for c in report["codecs"].values() for s in c["datasets"].values())
    print(f"\nfiles with any failure: {total}   ({report['seconds']:.0f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
