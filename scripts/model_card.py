"""Export a trained image codec to checkpoints/<name>.pt and write its model card
(checkpoints/<name>.json) from measured Kodak results.

    python scripts/model_card.py --name hyperprior \
        --checkpoint runs/hyperprior-cpu/version_0/checkpoints/last.ckpt \
        --config neurocodec/train/configs/hyperprior-cpu.yaml [--results results/kodak] [--notes "..."]

Measures, on all 24 Kodak images and every quality level (bits from real .bin files):
the RD points (via `neurocodec eval`), BD-rates against the classical baselines found in
--results, and the real file size against the model's estimated rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.data import data_path
from neurocodec.entropy import integer_nets as inet
from neurocodec.evaluate.bd import bd_rate
from neurocodec.evaluate.results import curve_from_result, read_json
from neurocodec.io.images import list_images, load_image, to_tensor


def rate_vs_estimate(codec, images: list[Path]) -> dict:
    """Real .bin bits vs the model's estimated bits (eval-mode likelihoods), per quality."""
    out = {}
    for quality in codec.qualities:
        ratios, overhead = [], []
        for p in images:
            x = to_tensor(load_image(p))
            payload, _ = codec.compress(x, quality, reconstruct=False)
            real = 8 * len(bitstream.dumps(payload))
            header = real - 8 * payload.payload_bytes
            ratios.append((real - header) / codec.estimated_bits(x, quality) - 1)
            overhead.append(header / 8)
        out[str(quality)] = {"mean_pct": 100 * float(np.mean(ratios)), "max_abs_pct": 100 * float(np.max(np.abs(ratios))), "header_bytes": float(np.mean(overhead))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--checkpoint", required=True, help="Lightning .ckpt from neurocodec-train")
    ap.add_argument("--config", required=True, help="the training config used")
    ap.add_argument("--results", default="results/kodak")
    ap.add_argument("--notes", default="")
    ap.add_argument("--stages", default="", help="earlier training stages, 'steps:hours:description;...', counted into the totals")
    ap.add_argument("--skip-eval", action="store_true", help="reuse an existing result file")
    args = ap.parse_args()

    ckpt_path = Path(args.checkpoint)
    raw = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    codec = registry.load(ckpt_path)
    out = registry.save_checkpoint(codec, registry.CHECKPOINT_DIR / f"{args.name}.pt", update_quantiles=True, half=True)
    codec = registry.load(out)  # exactly what ships
    run_dir = ckpt_path.parent.parent
    started = min(p.stat().st_mtime for p in run_dir.rglob("*") if p.is_file())
    wall_h = (ckpt_path.stat().st_mtime - started) / 3600

    stages = []
    for st in filter(None, args.stages.split(";")):
        steps_s, hours_s, desc = st.split(":", 2)
        stages.append({"steps": int(steps_s), "wall_time_hours": float(hours_s), "how": desc})
    stages.append({"steps": int(raw.get("global_step", -1)), "wall_time_hours": round(wall_h, 2), "how": f"neurocodec-train fit --config {args.config} ({ckpt_path})"})

    if not args.skip_eval:
        subprocess.run([sys.executable, "-m", "neurocodec.cli", "eval", "--modality", "image", "--data", "kodak",
                        "--codecs", args.name, "--out", args.results, "--workers", "1", "--force"], check=True)
    doc = read_json(Path(args.results) / f"kodak-{args.name}.json")
    ours = curve_from_result(doc)
    bd = {}
    for base in ("jpeg", "jpeg-444", "webp", "avif", "hevc-intra", "av1-intra"):
        f = Path(args.results) / f"kodak-{base}.json"
        if not f.exists():
            continue
        c = curve_from_result(read_json(f))
        for key in ("psnr_rgb", "ms_ssim_db"):
            try:
                bd[f"{base}/{key}"] = round(bd_rate(*c.points(key), *ours.points(key)), 2)
            except Exception as e:  # noqa: BLE001 - no overlap etc.: record why
                bd[f"{base}/{key}"] = f"n/a ({e})"
    kodak = data_path("kodak")
    images = list_images(kodak) if kodak else []
    int_layers = [m for m in codec.modules() if isinstance(m, inet.IntConv2d | inet.IntConvTranspose2d)]
    card = {
        "codec": codec.name,
        "checkpoint": f"checkpoints/{args.name}.pt",
        "weights_hash": codec.weights_hash().hex(),
        "format_version": bitstream.FORMAT_VERSION,
        "arithmetic": {
            "name": codec.arithmetic,
            "integer_layers": len(int_layers),
            "activation_fixed_point_bits": inet.ACT_FRAC,
            "activation_limit": inet.ACT_LIMIT,
            "weight_max_abs": 1 << inet.WEIGHT_BITS,
            "largest_accumulator_bound_log2": round(float(np.log2(max(m.accumulator_bound() for m in int_layers))), 2),
            "exact_below_log2": 52,
        },
        "config": codec.config,
        "parameters": sum(p.numel() for p in codec.parameters()),
        "file_mb": round(out.stat().st_size / 1e6, 2),
        "training": {
            "config": args.config,
            "data": "train_images/wikipedia_photos_downsampled (49 photos, ~1.1 MP, from ../shared/data; Kodak never used for training)",
            "stages": stages,
            "steps": sum(s["steps"] for s in stages),
            "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores, shared with other jobs; no GPU",
            "wall_time_hours": round(sum(s["wall_time_hours"] for s in stages), 2),
            "finished": dt.datetime.fromtimestamp(ckpt_path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="minutes"),
        },
        "kodak": {
            "images": 24,
            "bpp_from": "real .bin files (container included)",
            "points": [
                {"quality": lv["quality"], "bpp": round(lv["mean"]["bpp"], 4), "psnr_rgb": round(lv["mean"]["psnr_rgb"], 3),
                 "ms_ssim": round(lv["mean"]["ms_ssim"], 5), "ms_ssim_db": round(lv["mean"]["ms_ssim_db"], 3)}
                for lv in doc["levels"]
            ],
            "bd_rate_pct_vs": bd,
            "file_vs_estimated_rate": rate_vs_estimate(codec, images) if images else "Kodak not found",
        },
        "notes": args.notes,
    }
    card_path = registry.CHECKPOINT_DIR / f"{args.name}.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
