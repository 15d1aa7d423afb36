"""Training step cost of the image codecs in float32 and in bf16-mixed precision, side by side.

One step is what ``ImageCodecModule`` does per batch: forward at a quality level, rate +
lambda * 255^2 * MSE, backward, Adam. Under bf16-mixed the convolutions run in bfloat16 (AMX or
AVX-512 BF16 on a CPU that has them) while the rate stays in float32
(:mod:`neurocodec.nn.precision`); channels-last weights and batches (``channels_last``) let
oneDNN skip reorders. The table gives seconds per step in float32, bf16 and bf16 channels-last,
the speedups over float32, and how far the bf16 forward's rate and PSNR are from the float32
forward's on the same batch and noise (the loss it trains on). Crops come from the training
photos (``train_images``), else from seeded noise.

    python benchmarks/train_step.py [--codecs hyperprior,gmm,shallow-2l,mambaic] [--steps 6]
        [--batch 2] [--patch 256] [--threads 1] [--scan-chunk 1] [--compile g_a,g_s,h_a]
        [--out results/bench/train_step.json]

``--scan-chunk`` sets the chunk of the mambaic's float selective scan (the default is 1), to
compare chunk sizes. ``--compile`` adds a column: bf16 channels-last with those parts compiled in
place by ``torch.compile`` (the training option ``compile``), timed after its one-off compile.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from neurocodec.codecs import registry
from neurocodec.data import data_path, folder_tensors
from neurocodec.entropy import integer_vss
from neurocodec.evaluate.runner import cpu_model
from neurocodec.nn import scan


def crops(batch: int, patch: int, seed: int = 0) -> torch.Tensor:
    """[batch, 3, patch, patch] in [0, 1]: random crops of the training photos (seeded)."""
    g = torch.Generator().manual_seed(seed)
    folder = data_path("train_images", "wikipedia_photos_downsampled")
    images = [t for t in folder_tensors(folder, limit=8) if min(t.shape[-2:]) >= patch] if folder else []
    if not images:
        return torch.rand(batch, 3, patch, patch, generator=g)
    out = []
    for i in range(batch):
        t = images[i % len(images)]
        top = int(torch.randint(0, t.shape[-2] - patch + 1, (1,), generator=g))
        left = int(torch.randint(0, t.shape[-1] - patch + 1, (1,), generator=g))
        out.append(t[0, :, top:top + patch, left:left + patch])
    return torch.stack(out)


def forward(codec, x: torch.Tensor, q: torch.Tensor, bf16: bool, seed: int = 0) -> tuple[torch.Tensor, float, float]:
    """(loss, bpp, PSNR dB) of one training forward under the given precision."""
    torch.manual_seed(seed)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = codec(x, q)
    bpp = codec.bpp(out["likelihoods"], x.shape[-2] * x.shape[-1]).mean()
    mse = F.mse_loss(out["x_hat"].float(), x)
    lam = torch.tensor(codec.lambdas)[q].mean()
    return bpp + lam * 255.0**2 * mse, float(bpp.detach()), float(-10 * torch.log10(mse.detach()))


def measure(name: str, x: torch.Tensor, steps: int, compile_parts: list[str] | None = None) -> dict:
    codec = registry.load(name).train()
    q = torch.full((x.shape[0],), codec.num_qualities // 2, dtype=torch.long)
    with torch.no_grad():
        _, bpp32, psnr32 = forward(codec, x, q, False)
        _, bpp16, psnr16 = forward(codec, x, q, True)
    row = {"codec": name, "bpp_fp32": bpp32, "bpp_bf16": bpp16, "psnr_fp32": psnr32, "psnr_bf16": psnr16}
    opt = torch.optim.Adam(codec.parameters(), lr=1e-6)  # tiny steps: the weights barely move
    # key -> (codec, optimiser, bf16, channels-last)
    variants = {"fp32_s": (codec, opt, False, False), "bf16_s": (codec, opt, True, False),
                "bf16_cl_s": (codec, opt, True, True)}
    if compile_parts:  # a second copy with those parts compiled in place (the training option)
        compiled = registry.load(name).train()
        for part in compile_parts:
            getattr(compiled, part).compile()
        compiled.to(memory_format=torch.channels_last)
        variants["bf16_cl_compiled_s"] = (compiled, torch.optim.Adam(compiled.parameters(), lr=1e-6), True, True)
        t0 = time.perf_counter()  # the one-off compile, outside the timed rounds
        loss, _, _ = forward(compiled, x.contiguous(memory_format=torch.channels_last), q, True)
        loss.backward()
        row["compile_s"] = time.perf_counter() - t0
    for _ in range(2):  # interleaved rounds, each variant after a warm-up step
        for key, (model, optim, bf16, cl) in variants.items():
            fmt = torch.channels_last if cl else torch.contiguous_format
            model.to(memory_format=fmt)
            xb = x.contiguous(memory_format=fmt)
            times = []
            for i in range(steps + 1):
                t0 = time.perf_counter()
                loss, _, _ = forward(model, xb, q, bf16, seed=i)
                optim.zero_grad()
                loss.backward()
                optim.step()
                times.append(time.perf_counter() - t0)
            row[key] = min(row.get(key, float("inf")), sum(times[1:]) / steps)
    row["speedup_bf16"] = row["fp32_s"] / row["bf16_s"]
    row["speedup_bf16_cl"] = row["fp32_s"] / row["bf16_cl_s"]
    if compile_parts:
        row["speedup_compiled_vs_bf16_cl"] = row["bf16_cl_s"] / row["bf16_cl_compiled_s"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codecs", default="hyperprior,gmm,shallow-2l,mambaic")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scan-chunk", type=int, default=None)
    ap.add_argument("--compile", default="", help="codec parts to compile for an extra bf16 channels-last column, "
                    "e.g. g_a,g_s,h_a (the training option compile)")
    ap.add_argument("--out", default="results/bench/train_step.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.scan_chunk:
        integer_vss.selective_scan = functools.partial(scan.selective_scan, chunk=args.scan_chunk)
    x = crops(args.batch, args.patch)
    print(f"training step, batch {args.batch} x {args.patch}^2, middle quality, CPU, {args.threads} thread(s); "
          f"mean of {args.steps} steps, best of 2 interleaved rounds")
    hdr = (f"{'codec':11} {'fp32 s':>7} {'bf16 s':>7} {'bf16cl s':>8} {'x bf16':>7} {'x bf16cl':>8} "
           f"{'bpp fp32':>9} {'bpp bf16':>9} {'dB fp32':>8} {'dB bf16':>8}")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for name in args.codecs.split(","):
        r = measure(name, x, args.steps, [p for p in args.compile.split(",") if p])
        rows.append(r)
        print(f"{name:11} {r['fp32_s']:7.3f} {r['bf16_s']:7.3f} {r['bf16_cl_s']:8.3f} {r['speedup_bf16']:6.2f}x "
              f"{r['speedup_bf16_cl']:7.2f}x {r['bpp_fp32']:9.4f} "
              f"{r['bpp_bf16']:9.4f} {r['psnr_fp32']:8.2f} {r['psnr_bf16']:8.2f}")
        if "bf16_cl_compiled_s" in r:
            print(f"{'':11} compiled ({args.compile}): {r['bf16_cl_compiled_s']:.3f} s, "
                  f"{r['speedup_compiled_vs_bf16_cl']:.2f}x bf16cl, after a {r['compile_s']:.0f} s compile")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    out.write_text(json.dumps({"rows": rows, "args": vars(args), "cpu": cpu, "platform": platform.platform(),
                               "torch": torch.__version__}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
