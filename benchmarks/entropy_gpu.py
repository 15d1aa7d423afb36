"""GPU entropy backend benchmark: throughput over a large batch, latency per latent, CPU beside.

    .venv/bin/python benchmarks/entropy_gpu.py                      # 100M symbols, ~3 min on an H100
    .venv/bin/python benchmarks/entropy_gpu.py --symbols 20000000   # quicker

Measures, for a Gaussian model and a K=4 Gaussian mixture (FlashGMM decoding):

* batch throughput (Gsym/s): about --symbols symbols as a batch of Kodak-size latents
  (48 x 32 x 192 = 294,912 symbols each) coded in one launch per kind. "kernel" times the
  device work (encode: the coder + lane compaction; decode: the decoder) with the inputs
  already on the device; "e2e" is the whole Python call (headers, host<->device copies).
  Lane counts: --symbols-per-lane (one GPU thread per lane) and "auto" (the CPU's default
  choice, about one lane per 4 KiB of output, which leaves a GPU mostly idle);
* latency (ms) of gpu.encode / gpu.decode for one Kodak-size and one 1080p-size latent
  (120 x 68 x 192 symbols), automatic and explicit lane counts;
* the CPU coder (its default threads) on the same kinds of data.

Every GPU stream of the batch is checked byte for byte against the CPU coder on a sample of
streams, and every decode against the symbols. Targets on one H100: Gaussian decode >= 5
Gsym/s, K=4 mixture decode >= 1 Gsym/s. Prints a table and writes JSON (--out).
Exits with status 2 and a message when no CUDA device is present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KODAK = (192, 32, 48)  # 768 x 512 image, 16x downsampling, 192 channels
HD1080 = (192, 68, 120)  # 1920 x 1080 (padded to 1088)
TARGETS = {"gaussian": 5.0, "mixture4": 1.0}  # decode Gsym/s on one H100


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: int = 1) -> tuple[float, object]:
    """Best wall time (s) of `repeats` calls after `warmup` calls; returns (time, last result)."""
    res = None
    for _ in range(warmup):
        res = fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        res = fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best, res


def make_latent(kind: str, shape: tuple[int, ...], gen: torch.Generator, dev: torch.device):
    """Symbols and an integer model that look like a learned latent: mean-scale Gaussian
    (scales log-uniform 0.1..30) or a K=4 mixture around it."""
    from neurocodec.entropy import MixtureModel, ParametricModel

    n = int(np.prod(shape))
    mu = torch.randn(n, generator=gen, device=dev) * 2
    sc = torch.exp(torch.empty(n, device=dev).uniform_(np.log(0.1), np.log(30.0), generator=gen))
    if kind == "gaussian":
        sym = torch.round(mu + sc * torch.randn(n, generator=gen, device=dev)).to(torch.int32)
        return sym.reshape(shape), ParametricModel.from_float(mu.reshape(shape), sc.reshape(shape))
    k = 4
    mus = mu[:, None] + torch.randn(n, k, generator=gen, device=dev) * 1.5
    scs = sc[:, None] * torch.exp(torch.empty(n, k, device=dev).uniform_(-0.7, 0.7, generator=gen))
    w = torch.distributions.Dirichlet(torch.ones(k, device=dev)).sample((n,))
    comp = torch.multinomial(w, 1, generator=gen)[:, 0]
    ar = torch.arange(n, device=dev)
    sym = torch.round(mus[ar, comp] + scs[ar, comp] * torch.randn(n, generator=gen, device=dev)).to(torch.int32)
    model = MixtureModel.from_float(mus.reshape(*shape, k), scs.reshape(*shape, k), w.reshape(*shape, k))
    return sym.reshape(shape), model


def to_cpu(model):
    fields = {k: getattr(model, k) for k in model.__dataclass_fields__}
    return type(model)(**{k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in fields.items()})


def bench_batch(kind: str, items, spl: str, args, dev) -> dict:
    """Throughput of one batch at one lane setting."""
    from neurocodec.entropy import encode as cpu_encode
    from neurocodec.entropy.gpu import backend

    n_total = sum(int(s.numel()) for s, _ in items)
    if spl == "auto":
        lanes, lane_bytes = None, 4096
    else:
        lanes, lane_bytes = [max(1, int(s.numel()) // int(spl)) for s, _ in items], 4096
    bk = dict(block=args.block, num_warps=args.num_warps)

    groups, _ = backend.prepare_encode(items, lanes, lane_bytes, dev)
    (g,) = groups
    total_lanes = int(sum(g.lanes))
    t_enc, enc = timed(lambda: backend.encode_group(g, g.lanes, dev, **bk), args.repeats)
    t_enc_e2e, streams = timed(lambda: backend.encode_batch(items, lanes, lane_bytes, dev, **bk),
                               max(1, args.repeats - 1), warmup=0)
    nbytes = sum(len(s) for s in streams)
    # byte identity with the CPU coder on a sample of streams
    sample = list(range(0, len(items), max(1, len(items) // args.check_streams)))[: args.check_streams]
    identical = all(
        cpu_encode(items[i][0].cpu(), to_cpu(items[i][1]), lanes=None if lanes is None else lanes[i],
                   lane_bytes=lane_bytes) == streams[i] for i in sample)
    dec_items = [(d, m) for d, (_, m) in zip(streams, items)]
    (plan,) = backend.prepare_decode(dec_items, dev)
    t_dec, (out, err) = timed(lambda: backend.run_decode(plan, dev, **bk), args.repeats)
    decoded_ok = bool((err == 0).all()) and bool(torch.equal(out, torch.cat([s.reshape(-1) for s, _ in items])))
    t_dec_e2e, _ = timed(lambda: backend.decode_batch(dec_items, dev, **bk), max(1, args.repeats - 1), warmup=0)
    del enc, out
    return {
        "kind": kind, "lanes": spl, "streams": len(items), "symbols": n_total, "total_lanes": total_lanes,
        "bits_per_symbol": 8 * nbytes / n_total,
        "encode_kernel_gsym_s": n_total / t_enc / 1e9, "encode_e2e_gsym_s": n_total / t_enc_e2e / 1e9,
        "decode_kernel_gsym_s": n_total / t_dec / 1e9, "decode_e2e_gsym_s": n_total / t_dec_e2e / 1e9,
        "byte_identical_to_cpu": identical, "checked_streams": len(sample), "decoded_exactly": decoded_ok,
    }


def bench_latency(kind: str, shape, gen, dev, args) -> list[dict]:
    from neurocodec.entropy import decode as cpu_decode
    from neurocodec.entropy import encode as cpu_encode
    from neurocodec.entropy import gpu

    sym, model = make_latent(kind, shape, gen, dev)
    n = int(sym.numel())
    rows = []
    for spl in ["auto", args.latency_spl]:
        lanes = None if spl == "auto" else max(1, n // int(spl))
        t_e, data = timed(lambda: gpu.encode(sym, model, lanes=lanes), args.repeats)
        t_d, out = timed(lambda: gpu.decode(data, model), args.repeats)
        assert torch.equal(out, sym)
        cs, cm = sym.cpu(), to_cpu(model)
        t_ce, cdata = timed(lambda: cpu_encode(cs, cm, lanes=lanes), args.repeats)
        t_cd, _ = timed(lambda: cpu_decode(cdata, cm), args.repeats)
        rows.append({"kind": kind, "latent": "x".join(map(str, shape)), "symbols": n, "lanes": spl,
                     "L": _lanes_of(data), "bytes": len(data), "byte_identical": data == cdata,
                     "gpu_encode_ms": 1e3 * t_e, "gpu_decode_ms": 1e3 * t_d,
                     "cpu_encode_ms": 1e3 * t_ce, "cpu_decode_ms": 1e3 * t_cd})
    return rows


def _lanes_of(data: bytes) -> int:
    from neurocodec.entropy.gpu.backend import get_varint

    _, pos = get_varint(data, 2, 2**40, "n")
    return get_varint(data, pos, 2**20, "L")[0]


def bench_cpu(kind: str, items, args) -> dict:
    from neurocodec.entropy import decode as cpu_decode
    from neurocodec.entropy import encode as cpu_encode
    from neurocodec.entropy.coder import default_threads

    sub, n = [], 0
    for s, m in items:
        if n >= args.cpu_symbols:
            break
        sub.append((s.cpu(), to_cpu(m)))
        n += int(s.numel())
    t = time.perf_counter()
    data = [cpu_encode(s, m) for s, m in sub]
    t_e = time.perf_counter() - t
    t = time.perf_counter()
    for d, (_, m) in zip(data, sub):
        cpu_decode(d, m)
    t_d = time.perf_counter() - t
    return {"kind": kind, "symbols": n, "threads": default_threads(), "lanes": "auto",
            "encode_gsym_s": n / t_e / 1e9, "decode_gsym_s": n / t_d / 1e9}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=100_000_000, help="symbols per batch (default 100M)")
    ap.add_argument("--symbols-per-lane", default="256,auto",
                    help="comma list: symbols per lane (one GPU thread each), or 'auto' (CPU default lanes)")
    ap.add_argument("--latency-spl", default="128", help="symbols per lane for the explicit latency rows")
    ap.add_argument("--kinds", default="gaussian,mixture4")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu-symbols", type=int, default=10_000_000, help="symbols for the CPU rows")
    ap.add_argument("--check-streams", type=int, default=4, help="streams compared with the CPU bytes")
    ap.add_argument("--block", type=int, default=32, help="lanes per Triton program")
    ap.add_argument("--num-warps", type=int, default=1)
    ap.add_argument("--kodak-shape", default="192,32,48", help=argparse.SUPPRESS)
    ap.add_argument("--hd-shape", default="192,68,120", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cuda",
                    help="'cuda'; 'cpu' only as a smoke test of this script under TRITON_INTERPRET=1")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "entropy_gpu.json"))
    args = ap.parse_args()

    interp = os.environ.get("TRITON_INTERPRET") == "1"
    if args.device == "cpu" and interp:  # smoke test of the script itself, nothing meaningful
        dev, name = torch.device("cpu"), "CPU (Triton interpreter: smoke test, not a measurement)"
    elif interp or not torch.cuda.is_available() or args.device != "cuda":
        print("entropy_gpu.py: no CUDA device here (or TRITON_INTERPRET=1); nothing measured. "
              "Run this on a machine with an NVIDIA GPU.", file=sys.stderr)
        return 2
    else:
        dev = torch.device("cuda")
        name = torch.cuda.get_device_name(dev)
    import triton

    kodak = tuple(int(v) for v in args.kodak_shape.split(","))
    hd = tuple(int(v) for v in args.hd_shape.split(","))
    info = {"device": name, "torch": torch.__version__, "triton": triton.__version__,
            "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "symbols": args.symbols, "block": args.block, "num_warps": args.num_warps}
    print(f"device: {info['device']}  torch {info['torch']}  triton {info['triton']}", flush=True)
    gen = torch.Generator(device=dev).manual_seed(0)
    per = int(np.prod(kodak))
    n_streams = max(1, args.symbols // per)
    batch_rows, cpu_rows, lat_rows = [], [], []
    for kind in args.kinds.split(","):
        t = time.perf_counter()
        items = [make_latent(kind, kodak, gen, dev) for _ in range(n_streams)]
        sync()
        print(f"[{kind}] {n_streams} Kodak-size latents generated in {time.perf_counter() - t:.1f}s", flush=True)
        for spl in args.symbols_per_lane.split(","):
            r = bench_batch(kind, items, spl.strip(), args, dev)
            batch_rows.append(r)
            print(f"[{kind}] lanes={spl}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                      for k, v in r.items()), flush=True)
        cpu_rows.append(bench_cpu(kind, items, args))
        print(f"[{kind}] cpu: {cpu_rows[-1]}", flush=True)
        del items
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        for shape in (kodak, hd):
            lat_rows.extend(bench_latency(kind, shape, gen, dev, args))
            print(f"[{kind}] latency {lat_rows[-2:]}", flush=True)

    print(f"\nGPU batch throughput on {info['device']} ({args.symbols / 1e6:.0f}M symbols, Kodak-size streams)")
    print(f"{'model':10s} {'lanes':>6s} {'L total':>9s} {'bits/sym':>8s} {'enc kern':>9s} {'enc e2e':>8s} "
          f"{'dec kern':>9s} {'dec e2e':>8s}  {'==CPU':>5s}  Gsym/s")
    for r in batch_rows:
        print(f"{r['kind']:10s} {r['lanes']:>6s} {r['total_lanes']:9d} {r['bits_per_symbol']:8.3f} "
              f"{r['encode_kernel_gsym_s']:9.3f} {r['encode_e2e_gsym_s']:8.3f} {r['decode_kernel_gsym_s']:9.3f} "
              f"{r['decode_e2e_gsym_s']:8.3f}  {str(r['byte_identical_to_cpu'] and r['decoded_exactly']):>5s}")
    print(f"\nCPU coder ({cpu_rows[0]['threads'] if cpu_rows else '?'} threads, auto lanes)")
    for r in cpu_rows:
        print(f"{r['kind']:10s} encode {r['encode_gsym_s']:.4f} Gsym/s  decode {r['decode_gsym_s']:.4f} Gsym/s "
              f"({r['symbols'] / 1e6:.0f}M symbols)")
    print("\nLatency per latent (ms, end to end incl. copies)")
    print(f"{'model':10s} {'latent':>12s} {'lanes':>5s} {'L':>6s} {'gpu enc':>8s} {'gpu dec':>8s} {'cpu enc':>8s} "
          f"{'cpu dec':>8s} ==CPU")
    for r in lat_rows:
        print(f"{r['kind']:10s} {r['latent']:>12s} {r['lanes']:>5s} {r['L']:6d} {r['gpu_encode_ms']:8.2f} "
              f"{r['gpu_decode_ms']:8.2f} {r['cpu_encode_ms']:8.2f} {r['cpu_decode_ms']:8.2f} {r['byte_identical']}")
    targets = {}
    for kind, goal in TARGETS.items():
        best = max((r["decode_kernel_gsym_s"] for r in batch_rows if r["kind"] == kind), default=None)
        if best is not None and dev.type == "cuda":
            targets[kind] = {"decode_target_gsym_s": goal, "best_decode_kernel_gsym_s": best, "met": best >= goal}
            print(f"target {kind} decode >= {goal} Gsym/s: best {best:.2f} -> {'met' if best >= goal else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"info": info, "batch": batch_rows, "cpu": cpu_rows, "latency": lat_rows,
                               "targets": targets}, indent=2))
    print(f"wrote {out}")
    ok = all(r["byte_identical_to_cpu"] and r["decoded_exactly"] for r in batch_rows) and all(
        r["byte_identical"] for r in lat_rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
