"""Sweep iterative encoding's settings (Adam step size, steps) for one image codec on the first
K Kodak images: the mean change of the real rate-distortion cost (lambda_q * 255^2 * MSE + bpp
of the coded file, what refinement minimises), of bpp and of PSNR-RGB, per setting.

    python scripts/refine_sweep.py shallow-2l --lrs 5e-3,2e-2,5e-2 --steps 100 --images 2 \
        --qualities 1,3,6 [--tau-ends 0.05,0.2] [--json results/refine-sweep/shallow-2l.json]

For choosing a codec's ``refine_lr``; BD-rates of refined files come from the evaluation runner
(``make results-refine``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

from neurocodec.codecs import registry
from neurocodec.codecs.image.refine import TAU_END, refine
from neurocodec.data import kodak_tensors


def run(codec, x: torch.Tensor, quality: int, steps: int, lr: float, tau_end: float = TAU_END) -> dict:  # noqa: ANN001
    """Refine one image at one level; real cost, bpp and PSNR before and after."""
    h, w = x.shape[-2:]
    q = codec.level(quality)
    t0 = time.perf_counter()
    sections, y_hat, res = refine(codec, codec.pad(x), q, (h, w), steps, lr=lr, tau_end=tau_end)
    with torch.no_grad():
        x_hat = codec.synthesize(y_hat, q)[..., :h, :w].clamp(0, 1)
    x_hat = (x_hat * 255).round() / 255
    return {"quality": quality, "lr": lr, "tau_end": tau_end, "steps": steps, "cost_start": res.cost_start, "cost": res.cost_best,
            "best_step": res.best_step, "bpp": 8 * sum(len(v) for v in sections.values()) / (h * w),
            "psnr": 10 * math.log10(1 / float(F.mse_loss(x_hat, x))), "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("codec")
    ap.add_argument("--lrs", default="5e-3,2e-2")
    ap.add_argument("--steps", default="100", help="comma-separated step counts")
    ap.add_argument("--tau-ends", default=str(TAU_END), help="comma-separated last-step temperatures")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--qualities", default="1,3,6")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    codec = registry.load(args.codec).eval()
    images = kodak_tensors(args.images)
    rows = []
    sys.stdout.write(f"{args.codec}, first {len(images)} Kodak images, qualities {args.qualities}\n"
                     "| steps | lr | last tau | cost change | bpp change | PSNR change (dB) | s per image |\n"
                     "|---:|---:|---:|---:|---:|---:|---:|\n")
    base = {}
    for steps in (int(s) for s in args.steps.split(",")):
        for lr, tau_end in ((float(v), float(t)) for v in args.lrs.split(",") for t in args.tau_ends.split(",")):
            cur = [dict(run(codec, x, int(qs), steps, lr, tau_end), image=i) for i, x in enumerate(images)
                   for qs in args.qualities.split(",")]
            for r in cur:  # the unrefined file: cost_start; its bpp/PSNR from a 0-step run, once
                key = (r["image"], r["quality"])
                if key not in base:
                    base[key] = run(codec, images[r["image"]], r["quality"], 0, lr)
                r["bpp0"], r["psnr0"] = base[key]["bpp"], base[key]["psnr"]
            rows += cur
            n = len(cur)
            dc = sum(r["cost"] / r["cost_start"] - 1 for r in cur) / n
            db = sum(r["bpp"] / r["bpp0"] - 1 for r in cur) / n
            dp = sum(r["psnr"] - r["psnr0"] for r in cur) / n
            sec = sum(r["seconds"] for r in cur) / len(images)
            sys.stdout.write(f"| {steps} | {lr:g} | {tau_end:g} | {dc:+.2%} | {db:+.2%} | {dp:+.3f} | {sec:.0f} |\n")
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"codec": args.codec, "images": len(images), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
