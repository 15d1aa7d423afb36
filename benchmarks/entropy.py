"""Entropy-coder benchmark: neurocodec vs compressai and constriction, same symbols, one run.

Cases:
  gaussian  conditional Gaussian, zero mean, scales log-uniform in [0.11, 20] (latent-like):
            neurocodec (parametric model, scale index) vs compressai (RansEncoder/RansDecoder
            with its scale table) vs constriction (AnsCoder + QuantizedGaussian).
  gmm-k4    4-component Gaussian mixture per symbol: neurocodec (FlashGMM search on the
            integer CDF; its AVX2 kernel, and the scalar kernel on 1 thread when AVX2 is there)
            vs compressai's GaussianMixtureConditional (a CDF table per symbol).

Each coder is timed at the level a codec calls it (parameters in, bytes out, and back) and,
for compressai, also its bare C++ coder with pre-built Python lists. Rate overhead is measured
against the ideal -sum(log2 p) of the float distribution. Prints a table, writes JSON.

    python benchmarks/entropy.py [--symbols 1000000] [--gmm-symbols 65536] [--out results/bench/entropy.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm

from neurocodec.entropy import MixtureModel, ParametricModel, decode, encode, set_simd, simd_supported


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def row(name: str, n: int, t_enc: float, t_dec: float, nbytes: int, ideal_bits: float, exact: bool) -> dict:
    return {
        "coder": name,
        "symbols": n,
        "encode_msym_s": n / t_enc / 1e6,
        "decode_msym_s": n / t_dec / 1e6,
        "enc_dec_msym_s": n / (t_enc + t_dec) / 1e6,
        "bytes": nbytes,
        "overhead_pct": 100 * (8 * nbytes / ideal_bits - 1),
        "roundtrip_exact": exact,
    }


def bench_gaussian(n: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    side = int(np.sqrt(n / 192))
    shape = (1, 192, side, side)
    n = int(np.prod(shape))
    scales = np.exp(rng.uniform(np.log(0.11), np.log(20.0), shape)).astype(np.float32)
    y = (rng.normal(0, 1, shape) * scales).astype(np.float32)
    sym = np.round(y).astype(np.int32)
    ideal = float(-np.log2(norm.cdf(sym + 0.5, 0, scales) - norm.cdf(sym - 0.5, 0, scales)).sum())
    rows = []

    # neurocodec, as GaussianConditional calls it: quantise scales, encode; decode
    yt, st = torch.from_numpy(y), torch.from_numpy(scales)
    for threads in (1, 2):
        def enc():
            m = ParametricModel.from_float(torch.zeros(()), st)
            return encode(torch.round(yt).to(torch.int32), m, threads=threads)
        t_e, data = best_time(enc, repeats)
        def dec():
            return decode(data, ParametricModel.from_float(torch.zeros(()), st), threads=threads)
        t_d, out = best_time(dec, repeats)
        rows.append(row(f"neurocodec ({threads} thread{'s' * (threads > 1)})", n, t_e, t_d, len(data), ideal, bool((out.numpy() == sym).all())))

    # compressai GaussianConditional with its default scale table
    from compressai.entropy_models import GaussianConditional
    from compressai.models.google import get_scale_table

    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    gc.update()
    t_e, strings = best_time(lambda: gc.compress(yt, gc.build_indexes(st)), repeats)
    t_d, out = best_time(lambda: gc.decompress(strings, gc.build_indexes(st)), repeats)
    rows.append(row("compressai GaussianConditional", n, t_e, t_d, len(strings[0]), ideal, bool((out.numpy() == sym).all())))

    # compressai bare coder with pre-built lists (no .tolist() cost)
    from compressai.ans import RansDecoder, RansEncoder

    idx = gc.build_indexes(st).reshape(-1).int().tolist()
    cdfs, lens, offs = gc._quantized_cdf.tolist(), gc._cdf_length.reshape(-1).int().tolist(), gc._offset.reshape(-1).int().tolist()
    symbols_l = torch.from_numpy(sym).reshape(-1).int().tolist()  # the coder subtracts the offsets
    t_e, s = best_time(lambda: RansEncoder().encode_with_indexes(symbols_l, idx, cdfs, lens, offs), repeats)
    t_d, o = best_time(lambda: RansDecoder().decode_with_indexes(s, idx, cdfs, lens, offs), repeats)
    rows.append(row("compressai RansEncoder (lists)", n, t_e, t_d, len(s), ideal, o == symbols_l))

    # constriction: AnsCoder with QuantizedGaussian, vectorised means/stds
    import constriction

    r = int(np.abs(sym).max()) + 1
    model = constriction.stream.model.QuantizedGaussian(-r, r)
    flat_s = sym.reshape(-1)
    means64 = np.zeros(n, np.float64)
    stds64 = np.maximum(scales.reshape(-1).astype(np.float64), 0.11)

    def c_enc():
        c = constriction.stream.stack.AnsCoder()
        c.encode_reverse(flat_s, model, means64, stds64)
        return c.get_compressed()
    t_e, comp = best_time(c_enc, repeats)

    def c_dec():
        return constriction.stream.stack.AnsCoder(comp).decode(model, means64, stds64)
    t_d, o = best_time(c_dec, repeats)
    rows.append(row("constriction AnsCoder", n, t_e, t_d, comp.nbytes, ideal, bool((o == flat_s).all())))
    return rows


def bench_gmm(n: int, repeats: int, k: int = 4) -> list[dict]:
    rng = np.random.default_rng(1)
    side = int(np.sqrt(n / 16))
    m_ch = 16
    shape = (1, m_ch, side, side)
    n = int(np.prod(shape))
    means = rng.normal(0, 3, (k, *shape)).astype(np.float32)
    scales = np.exp(rng.uniform(np.log(0.3), np.log(8.0), (k, *shape))).astype(np.float32)
    logits = rng.normal(0, 1, (k, *shape))
    weights = (np.exp(logits) / np.exp(logits).sum(0)).astype(np.float32)
    comp = (rng.random(shape)[None] > np.cumsum(weights, 0)).sum(0).clip(0, k - 1)
    pick = lambda a: np.take_along_axis(a, comp[None], 0)[0]  # noqa: E731
    y = rng.normal(pick(means), pick(scales)).astype(np.float32)
    sym = np.round(y).astype(np.int32)
    p = (weights * (norm.cdf(sym + 0.5, means, scales) - norm.cdf(sym - 0.5, means, scales))).sum(0)
    ideal = float(-np.log2(p).sum())
    rows = []
    mt, st, wt = (torch.from_numpy(np.moveaxis(a, 0, -1).copy()) for a in (means, scales, weights))
    for threads in (1, 2):
        t_e, data = best_time(lambda: encode(torch.from_numpy(sym), MixtureModel.from_float(mt, st, wt), threads=threads), repeats)
        t_d, out = best_time(lambda: decode(data, MixtureModel.from_float(mt, st, wt), threads=threads), repeats)
        rows.append(row(f"neurocodec FlashGMM K={k} ({threads} thread{'s' * (threads > 1)})", n, t_e, t_d, len(data), ideal, bool((out.numpy() == sym).all())))
    if simd_supported():  # the same bytes from the scalar kernel
        before = set_simd(False)
        try:
            t_e, data_s = best_time(lambda: encode(torch.from_numpy(sym), MixtureModel.from_float(mt, st, wt), threads=1), repeats)
            t_d, out = best_time(lambda: decode(data_s, MixtureModel.from_float(mt, st, wt), threads=1), repeats)
        finally:
            set_simd(before)
        exact = data_s == data and bool((out.numpy() == sym).all())
        rows.append(row(f"neurocodec FlashGMM K={k} scalar (1 thread)", n, t_e, t_d, len(data_s), ideal, exact))

    from compressai.entropy_models import GaussianMixtureConditional

    gmm = GaussianMixtureConditional(K=k)
    gmm.update_scale_table(torch.linspace(0.11, 8, 8))
    gmm.update()
    cat = lambda a: torch.from_numpy(a.reshape(k * m_ch, side, side)[None].copy())  # noqa: E731
    # compressai's layout: [1, K*M, H, W] with component-major channels
    cm, cs, cw = cat(means), cat(scales), cat(weights)
    yt = torch.from_numpy(y)
    t_e, (enc_out, _) = best_time(lambda: gmm.compress(yt, cs, cm.clone(), cw), repeats)
    strings, abs_max, bitmap = enc_out
    t_d, out = best_time(lambda: gmm.decompress(strings, abs_max, bitmap, cs, cm.clone(), cw), repeats)
    rows.append(row(f"compressai GaussianMixtureConditional K={k}", n, t_e, t_d, len(strings), ideal, bool((out.numpy() == sym).all())))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=1_000_000)
    ap.add_argument("--gmm-symbols", type=int, default=65_536)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/bench/entropy.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {"gaussian": bench_gaussian(args.symbols, args.repeats), "gmm-k4": bench_gmm(args.gmm_symbols, args.repeats)}

    def get(case: str, prefix: str) -> dict:
        return next(r for r in results[case] if r["coder"].startswith(prefix))

    ours1, ours2 = get("gaussian", "neurocodec (1"), get("gaussian", "neurocodec (2")
    ca, cons = get("gaussian", "compressai Gaussian"), get("gaussian", "constriction")
    g1, g_ca = get("gmm-k4", "neurocodec FlashGMM K=4 (1"), get("gmm-k4", "compressai")
    targets = {
        "gaussian enc+dec vs compressai (>= 3x), 1 thread": ours1["enc_dec_msym_s"] / ca["enc_dec_msym_s"],
        "gaussian enc+dec vs constriction (>= 1x), 1 thread": ours1["enc_dec_msym_s"] / cons["enc_dec_msym_s"],
        "gaussian enc+dec vs compressai, 2 threads": ours2["enc_dec_msym_s"] / ca["enc_dec_msym_s"],
        "gmm K=4 decode Msym/s per thread (>= 5)": g1["decode_msym_s"],
        "gmm K=4 decode vs compressai GMM (>= 50x)": g1["decode_msym_s"] / g_ca["decode_msym_s"],
        "gaussian overhead % (<= 0.5)": ours1["overhead_pct"],
        "gmm overhead % (<= 0.5)": g1["overhead_pct"],
    }
    scalar = next((r for r in results["gmm-k4"] if "scalar" in r["coder"]), None)
    if scalar is not None:
        targets["gmm K=4 decode SIMD / scalar kernel, 1 thread"] = g1["decode_msym_s"] / scalar["decode_msym_s"]
    results["targets"] = targets
    results["machine"] = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(), "torch": torch.__version__}
    hdr = f"{'case':8} {'coder':44} {'symbols':>9} {'enc Msym/s':>10} {'dec Msym/s':>10} {'bytes':>9} {'overhead':>9} exact"
    print(hdr)
    print("-" * len(hdr))
    for case in ("gaussian", "gmm-k4"):
        for r in results[case]:
            print(f"{case:8} {r['coder']:44} {r['symbols']:9d} {r['encode_msym_s']:10.2f} {r['decode_msym_s']:10.2f} {r['bytes']:9d} {r['overhead_pct']:8.3f}% {r['roundtrip_exact']}")
    print()
    for k, v in targets.items():
        print(f"{k:55} {v:8.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
