"""Write the model card (checkpoints/hytip.json) of the shipped video codec from measured results.

    neurocodec export runs/hytip-cpu/version_N/checkpoints/last.ckpt -o checkpoints/hytip.pt --update-quantiles --fp16
    make results-video                                  # the runner's result files under results/video
    python benchmarks/video_codecs.py                   # results/bench/video_codecs.json
    python scripts/video_model_card.py --run runs/hytip-cpu/version_N --stages "1000:0.17:..." [--notes "..."]

Reads the shipped checkpoint, the training runs (last checkpoint: steps; CSV log and file times:
wall time), the runner's result files of hytip and its anchors on video-eval (per clip, GOP 32)
and the benchmark. BD-rates are PSNR-RGB per clip from real files, with their mean.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
from pathlib import Path

import torch

from neurocodec.bitstream import FORMAT_VERSION
from neurocodec.codecs import registry
from neurocodec.evaluate.report import bd_item_table
from neurocodec.evaluate.results import curve_from_result, read_json

ANCHORS = ("hyperprior-intra", "x264-medium", "x264-veryslow", "x265-medium", "x264-intra")


def _run_stage(run: Path, how: str) -> dict:
    last = run / "checkpoints" / "last.ckpt"
    steps = int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])
    files = [p for p in run.rglob("*") if p.is_file()]
    hours = (max(p.stat().st_mtime for p in files) - min(p.stat().st_mtime for p in files)) / 3600
    return {"steps": steps, "wall_time_hours": round(hours, 2), "how": how, "run": str(run)}


def rd_points(doc: dict) -> list[dict]:
    out = []
    for lv in doc["levels"]:
        m = lv["mean"]
        out.append({"quality": lv["quality"], "clips": lv["n_items"],
                    **{k: round(float(m[k]), 4) for k in ("bpp", "kbps", "psnr_rgb", "ms_ssim_db")
                       if m.get(k) is not None and not math.isnan(m[k])}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="the last training run folder (runs/hytip-cpu/version_N)")
    ap.add_argument("--how", default="neurocodec-train fit --config neurocodec/train/configs/hytip-cpu.yaml")
    ap.add_argument("--stages", default="", help="earlier stages, 'steps:hours:description;...', counted into the totals")
    ap.add_argument("--results", default="results/video")
    ap.add_argument("--dataset", default="video-eval")
    ap.add_argument("--bench", default="results/bench/video_codecs.json")
    ap.add_argument("--notes", default="")
    args = ap.parse_args()

    ckpt = registry.CHECKPOINT_DIR / "hytip.pt"
    codec = registry.load(ckpt)
    stages = []
    for part in filter(None, args.stages.split(";")):
        steps, hours, how = part.split(":", 2)
        stages.append({"steps": int(steps), "wall_time_hours": float(hours), "how": how})
    stages.append(_run_stage(Path(args.run), args.how))
    res = Path(args.results)
    doc = read_json(res / f"{args.dataset}-hytip.json")
    if doc["codec"].get("weights_hash") != codec.weights_hash().hex():
        raise SystemExit(f"{res} holds results of hytip weights {doc['codec'].get('weights_hash')}, not the shipped "
                         f"{codec.weights_hash().hex()}: re-run make results-video")
    test = curve_from_result(doc, label="hytip")
    bd: dict[str, dict] = {}
    for name in ANCHORS:
        p = res / f"{args.dataset}-{name}.json"
        if not p.exists():
            continue
        rows = bd_item_table([test], curve_from_result(read_json(p), label=name), "psnr_rgb")
        bd[name] = {r["test"]: (None if r["hytip"] is None else round(r["hytip"], 1)) for r in rows}
    bench = json.loads(Path(args.bench).read_text()) if Path(args.bench).exists() else None
    card = {
        "codec": "hytip",
        "checkpoint": "checkpoints/hytip.pt",
        "weights_hash": codec.weights_hash().hex(),
        "format_version": FORMAT_VERSION,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in codec.config.items()},
        "intra": {"codec": codec.intra.name, "weights_hash": codec.intra.weights_hash().hex(),
                  "checkpoint": f"checkpoints/{codec.intra.name}.pt",
                  "qualities": list(codec.intra_qualities)},
        "parameters": sum(p.numel() for p in codec.parameters()),
        "file_mb": round(ckpt.stat().st_size / 1e6, 2),
        "training": {
            "stages": stages,
            "steps": sum(s["steps"] for s in stages),
            "wall_time_hours": round(sum(s["wall_time_hours"] for s in stages), 2),
            "hardware": f"{platform.machine()} CPU, 2 cores, shared with other jobs; no GPU",
            "data": "Vimeo-90k septuplet sample (14 septuplets; 2 held out for validation) and synthetic motion "
                    "(pans, zooms and a moving occluding patch) made from the 49 training photos, 256 px crops; "
                    "no evaluation clip is read in training",
            "recipe": "I-frame codec frozen; curriculum I+1P -> I+2P -> I+4P with back-propagation through the "
                      "buffer; loss lambda_q * 255^2 * MSE + bpp averaged over P-frames; motion warm-up",
            "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M+00:00"),
        },
        "evaluation": {
            "data": f"{args.dataset}: BasketballPass 416x240 and Big Buck Bunny 320x240 (first 96 frames), bus CIF "
                    "(17), foreman QCIF (10), CiscoVT2people 320x192 (9), park_joy 160x90 (10)",
            "gop": doc.get("options", {}).get("gop"),
            "rate_from": "real .bin files (container included): bpp = 8 bytes / (frames W H)",
            "points": rd_points(doc),
            "bd_rate_psnr_rgb_pct_vs": bd,
        },
    }
    if bench:
        h = bench["hytip"]
        card["complexity"] = {
            "decode_kflop_per_px_p_frame": round(h["decode"]["p_frame"]["kflop_per_px"], 1),
            "decode_kmac_per_px_p_frame": round(h["decode"]["p_frame"]["kmac_per_px"], 1),
            "decode_kflop_per_px_i_frame": round(h["decode"]["i_frame"]["kflop_per_px"], 1),
            "buffer_full_resolution_channels": round(h["decode"]["buffer_full_res_channels"], 2),
            "seconds_per_416x240_frame": [{"threads": s["threads"],
                                           "encode": round(s["encode_s_per_frame"]["mean"], 3),
                                           "decode": round(s["decode_s_per_frame"]["mean"], 3)} for s in h["speed"]],
            "peak_rss_mb_by_frames": {str(m["frames"]): round(m["peak_rss_mb"]) for m in h["memory"]},
            "from": "python benchmarks/video_codecs.py",
        }
    if args.notes:
        card["notes"] = args.notes
    out = registry.CHECKPOINT_DIR / "hytip.json"
    out.write_text(json.dumps(card, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
