"""Training throughput with 1 process against 2 DDP processes (gloo) on the CPU, for the tiny
image config at a chosen size: steps per second and samples per second (all ranks).

    python benchmarks/ddp.py [--steps 40] [--size N=32,M=48] [--batch 4] [--out results/bench/ddp.json]

On a 2-core machine the two processes share the cores that one process would use with 2
threads, so the honest expectation is no speed-up, at best; the point of DDP is more devices.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(devices: int, steps: int, codec_config: str, batch: int, tmp: Path) -> dict:
    probe = tmp / f"probe{devices}"
    args = [sys.executable, "-m", "neurocodec.train.cli", "fit", "--config", str(ROOT / "neurocodec/train/configs/tiny.yaml"),
            "--trainer.accelerator", "cpu", "--trainer.devices", str(devices), "--trainer.max_steps", str(steps),
            "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0",
            "--trainer.logger.init_args.save_dir", str(tmp / "runs"),
            "--trainer.callbacks+=neurocodec.train.callbacks.RankProbe", f"--trainer.callbacks.dir={probe}",
            "--model.init_args.codec_config", codec_config,
            "--data.init_args.train_dir", str(tmp / "train"), "--data.init_args.val_dir", str(tmp / "train"),
            "--data.init_args.patch_size", "128", "--data.init_args.batch_size", str(batch),
            "--data.init_args.samples_per_epoch", str(batch * devices * steps), "--data.init_args.workers", "0"]
    if devices > 1:
        args += ["--trainer.strategy", "ddp"]
    threads = str(max(1, (os.cpu_count() or 1) // devices))  # the same cores in all: split between processes
    r = subprocess.run(args, cwd=tmp, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": threads})
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    t = json.loads((probe / "rank0.json").read_text())["times"]
    warm = min(5, len(t) // 4)
    sps = (len(t) - 1 - warm) / (t[-1] - t[warm])
    return {"processes": devices, "threads_per_process": int(threads), "steps_per_s": sps,
            "samples_per_s": sps * batch * devices, "batch_per_rank": batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--size", default="N=32,M=48")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default="results/bench/ddp.json")
    args = ap.parse_args()
    cfg = "{" + ", ".join(f"{k}: {v}" for k, v in (kv.split("=") for kv in args.size.split(","))) + ", qualities: 2}"
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "train").mkdir()
        rng = np.random.default_rng(0)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)).save(tmp / "train" / f"{i}.png")
        rows = [run(d, args.steps, cfg, args.batch, tmp) for d in (1, 2)]
    print(f"tiny hyperprior {cfg}, 128 px crops, batch {args.batch} per process, CPU ({os.cpu_count()} cores)")
    print(f"{'processes':>9} {'threads each':>12} {'steps/s':>8} {'samples/s':>10}")
    for r in rows:
        print(f"{r['processes']:9d} {r['threads_per_process']:12d} {r['steps_per_s']:8.2f} {r['samples_per_s']:10.1f}")
    scale = rows[1]["samples_per_s"] / rows[0]["samples_per_s"]
    print(f"\nsamples/s with 2 DDP processes / 1 process: {scale:.2f}x (both use all {os.cpu_count()} cores)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "scaling": scale, "args": vars(args), "platform": platform.platform()}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
