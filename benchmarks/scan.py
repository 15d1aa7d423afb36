"""Cost of MambaIC's exact selective scan: the integer fixed-point recurrence (evaluated step by
step in time order, the decoder's path) beside the chunked float scan (training) and the float
step-by-step reference, at the sizes of a Kodak image's latent (512x768 -> 32x48, L = 1536) and
of its hyper-synthesis (16x24), with MambaIC's CPU configuration (4 directions x 48 channels,
state size 4); then the share of a whole mambaic decode spent in scans.

    python benchmarks/scan.py [--threads 2] [--repeat 3] [--out results/bench/scan.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from neurocodec.codecs import registry
from neurocodec.entropy import integer_vss
from neurocodec.nn import scan


def best_of(fn, repeat: int) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def training_rows(chunks: list[int], repeat: int) -> list[dict]:
    """Forward + backward seconds of the float scan per chunk size and of the step-by-step
    reference, at a 384^2 training crop's latent; each with its speed-up over the reference."""
    g = torch.Generator().manual_seed(1)
    length, d, n = 576, 256, 4
    u = torch.randn(1, d, length, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(1, d, length, generator=g) - 3)
    a = -(torch.rand(d, n, generator=g) * 4 + 0.5)
    bm, cm = torch.randn(1, 4, n, length, generator=g), torch.randn(1, 4, n, length, generator=g)
    args = [t.requires_grad_() for t in (u, delta, a, bm, cm, torch.ones(d))]

    def run(fn):  # noqa: ANN001, ANN202
        return lambda: fn(*args).sum().backward()

    seq = best_of(run(scan.selective_scan_reference), repeat)
    rows = [{"scan": "sequential reference", "s": seq, "x_sequential": 1.0}]
    for c in chunks:
        t = best_of(run(lambda *a, c=c: scan.selective_scan(*a, chunk=c)), repeat)
        rows.append({"scan": f"chunked, T = {c}", "chunk": c, "s": t, "x_sequential": seq / t})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunks", default="1,2,4,8,16", help="chunk sizes of the training table")
    ap.add_argument("--out", default="results/bench/scan.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    rows = []
    for label, length, d in (("latent 32x48, 4x48 ch", 1536, 192), ("hyper 16x24, 4x96 ch", 384, 384)):
        n = 4
        u = torch.randn(1, d, length, generator=g)
        delta = torch.rand(1, d, length, generator=g) * 0.1
        a = torch.rand(d, n, generator=g) * 4 + 0.5
        bm, cm = torch.randn(1, 4, n, length, generator=g), torch.randn(1, 4, n, length, generator=g)
        dd = torch.ones(d)
        q = lambda t, f: torch.round(t.double() * 2**f).long()  # noqa: E731
        ints = (q(u, 10), q(delta, 16), q(a, 12), q(bm, 10), q(cm, 10), q(dd, 12))
        t_int = best_of(lambda: integer_vss.int_selective_scan(*ints), args.repeat)
        t_chunk = best_of(lambda: scan.selective_scan(u, delta, -a, bm, cm, dd), args.repeat)
        t_seq = best_of(lambda: scan.selective_scan_reference(u, delta, -a, bm, cm, dd), args.repeat)
        rows.append({"case": label, "L": length, "D": d, "N": n, "exact_integer_s": t_int, "float_chunked_s": t_chunk,
                     "float_sequential_s": t_seq, "exact_vs_chunked": t_int / t_chunk, "exact_vs_sequential": t_int / t_seq})
    # share of a whole decode (untrained CPU-size model: the network cost does not depend on the weights)
    torch.manual_seed(0)
    codec = registry.build("mambaic", N=64, M=96, slices=4, state=4, context=48, agg=64, window=4).eval()
    codec.update()
    x = torch.rand(1, 3, 512, 768, generator=g)
    payload, _ = codec.compress(x, 3, reconstruct=False)
    spent = [0.0]
    original = integer_vss.int_selective_scan

    def timed(*a):  # noqa: ANN002, ANN202
        t0 = time.perf_counter()
        try:
            return original(*a)
        finally:
            spent[0] += time.perf_counter() - t0

    integer_vss.int_selective_scan = timed
    try:
        codec.decompress(payload)
        spent[0] = 0.0
        t0 = time.perf_counter()
        codec.decompress(payload)
        total = time.perf_counter() - t0
    finally:
        integer_vss.int_selective_scan = original
    decode = {"decode_s": total, "scan_s": spent[0], "scan_share": spent[0] / total}
    training = training_rows([int(c) for c in args.chunks.split(",")], args.repeat)
    print(f"selective scan, {args.threads} thread(s), best of {args.repeat}, seconds")
    hdr = f"{'case':24} {'exact int':>10} {'float chunked':>13} {'float seq':>10} {'int/chunked':>11} {'int/seq':>8}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['case']:24} {r['exact_integer_s']:10.4f} {r['float_chunked_s']:13.4f} {r['float_sequential_s']:10.4f} "
              f"{r['exact_vs_chunked']:11.2f} {r['exact_vs_sequential']:8.2f}")
    print(f"\nmambaic decode of a 512x768 image: {total:.3f} s, of which exact scans {spent[0]:.3f} s "
          f"({100 * decode['scan_share']:.0f} %)")
    print("\ntraining: float scan forward + backward, L = 576, 4 x 64 channels, state 4, batch 1")
    print(f"{'scan':22} {'seconds':>8} {'x sequential':>12}")
    for r in training:
        print(f"{r['scan']:22} {r['s']:8.4f} {r['x_sequential']:11.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "decode": decode, "training": training, "args": vars(args),
                                          "platform": platform.platform()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
