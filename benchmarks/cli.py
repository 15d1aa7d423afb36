"""Command-line start-up and run times: wall clock of whole `neurocodec` processes (median of
several runs), against the targets of this 2-core machine, and where a shipped checkpoint's
load time goes.

    python benchmarks/cli.py [--runs 5] [--out results/bench/cli.json]

Targets: encode of one Kodak image <= 3 s; a bad-argument error <= 0.5 s; info <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neurocodec.data import data_path

TARGETS = {"encode one Kodak image": 3.0, "bad argument (unknown codec)": 0.5, "info": 0.3,
           "decode one Kodak image": None}


def wall(cmd: list[str], runs: int, ok_codes: tuple[int, ...]) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode not in ok_codes:
            raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr}")
    return times


def load_breakdown() -> dict:
    code = (
        "import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
        "from neurocodec.codecs import registry; t2 = time.perf_counter(); c = registry.load('hyperprior'); "
        "t3 = time.perf_counter(); import sys, json; "
        "print(json.dumps({'import torch': t1 - t0, 'import neurocodec codecs': t2 - t1, 'load hyperprior checkpoint': t3 - t2, "
        "'compressai imported': 'compressai' in sys.modules}))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="results/bench/cli.json")
    args = ap.parse_args()
    kodak = data_path("kodak")
    if kodak is None:
        raise SystemExit("Kodak not found: set NEUROCODEC_DATA (see README)")
    exe = [sys.executable, "-m", "neurocodec.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        binf = str(Path(tmp) / "k.bin")
        img = str(kodak / "kodim05.png")
        rows = {
            "encode one Kodak image": wall(exe + ["encode", img, "-o", binf, "-f"], args.runs, (0,)),
            "decode one Kodak image": wall(exe + ["decode", binf, "-o", str(Path(tmp) / "k.png"), "-f"], args.runs, (0,)),
            "bad argument (unknown codec)": wall(exe + ["encode", img, "--codec", "nosuch"], args.runs, (2,)),
            "info": wall(exe + ["info", binf], args.runs, (0,)),
        }
    breakdown = load_breakdown()
    print(f"neurocodec command line, {args.runs} runs each, median wall seconds ({platform.machine()}, {platform.python_version()})")
    print(f"{'command':32} {'median':>7} {'min':>7} {'target':>7}  met")
    report = {}
    for name, ts in rows.items():
        med, target = statistics.median(ts), TARGETS[name]
        met = "" if target is None else ("yes" if med <= target else "NO")
        print(f"{name:32} {med:7.2f} {min(ts):7.2f} {target if target else '':>7}  {met}")
        report[name] = {"median_s": med, "min_s": min(ts), "runs": ts, "target_s": target}
    print("\nwhere a shipped checkpoint's start goes (one process):")
    for k, v in breakdown.items():
        print(f"  {k:30} {v if isinstance(v, bool) else f'{v:.2f} s'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": report, "load_breakdown": breakdown, "platform": platform.platform()}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
