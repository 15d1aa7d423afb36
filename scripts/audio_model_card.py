"""Write the model card (checkpoints/<name>.json) of a shipped audio codec from measured results.

    python scripts/audio_model_card.py --name dac --run runs/dac-cpu/version_0 \
        --config neurocodec/train/configs/dac-cpu.yaml [--results results/librispeech] \
        [--bench results/bench/audio_codecs.json] [--notes "..."]

Reads: the shipped checkpoint (checkpoints/<name>.pt, written by scripts/audio_export.py), the
training run's last checkpoint and CSV log (steps, wall time), the runner's result files for the
codec and Opus on the 106 evaluation utterances (`make results-audio`), and the speed benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
from pathlib import Path

import torch

from neurocodec.bitstream import FORMAT_VERSION
from neurocodec.codecs import registry

KEYS = ("kbps", "payload_kbps", "pesq_wb", "stoi", "si_sdr", "mel_distance", "level_db")


def rd_points(path: Path) -> list[dict]:
    doc = json.loads(path.read_text())
    out = []
    for lv in doc["levels"]:
        m = lv["mean"]
        out.append({"quality": lv["quality"], "items": lv["n_items"],
                    **{k: round(float(m[k]), 4) for k in KEYS if k in m and m[k] is not None and not math.isnan(m[k])}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, choices=["dac", "snac"])
    ap.add_argument("--run", required=True, help="the training run folder (runs/<config>/version_N)")
    ap.add_argument("--config", required=True)
    ap.add_argument("--results", default="results/librispeech")
    ap.add_argument("--bench", default="results/bench/audio_codecs.json")
    ap.add_argument("--export-report", default=None, help="JSON printed by scripts/audio_export.py")
    ap.add_argument("--notes", default="")
    ap.add_argument("--stages", default="", help="earlier training stages, 'steps:hours:description;...', "
                                                  "counted into the totals")
    args = ap.parse_args()

    ckpt = registry.CHECKPOINT_DIR / f"{args.name}.pt"
    codec = registry.load(ckpt)
    run = Path(args.run)
    last = run / "checkpoints" / "last.ckpt"
    raw = torch.load(last, map_location="cpu", weights_only=False)
    files = [p for p in run.rglob("*") if p.is_file()]
    wall_h = (max(p.stat().st_mtime for p in files) - min(p.stat().st_mtime for p in files)) / 3600
    res = Path(args.results)
    card: dict = {
        "codec": args.name,
        "checkpoint": f"checkpoints/{args.name}.pt",
        "weights_hash": codec.weights_hash().hex(),
        "format_version": FORMAT_VERSION,
        "config": codec.config,
        "parameters": sum(p.numel() for p in codec.parameters()),
        "file_mb": round(ckpt.stat().st_size / 1e6, 2),
        "sample_rate": codec.sample_rate,
        "frame_rate_hz": codec.frame_rate,
        "stage_rates_hz": [codec.frame_rate / s for s in codec.quantizer.strides],
        "training": {
            "config": args.config,
            "command": f"neurocodec-train fit --config {args.config}",
            "data": "LibriSpeech train-clean-100 subset in ../shared/data (186 utterances, 38.6 min; the last 6 "
                    "by utterance id held out for validation, so 180 trained on); never test-other, test-clean "
                    "or dev-clean",
            "stages": [*({"steps": int(a), "wall_time_hours": float(b), "how": c}
                         for a, b, c in (st.split(":", 2) for st in filter(None, args.stages.split(";")))),
                       {"steps": int(raw.get("global_step", -1)), "wall_time_hours": round(wall_h, 2),
                        "how": f"{args.config} ({last})"}],
            "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores, no GPU (see each stage for threads "
                        "and sharing)",
            "loss": "15 x 7-scale log-mel L1 + 1 x codebook + 0.25 x commitment; no adversarial phase",
        },
        "priors": {
            "how": "index counts of every stage over the 180 training utterances (greedy, at the encoder's "
                   "gain), add-one smoothed, quantised to 16-bit integer CDFs stored in the checkpoint "
                   "(covered by the weights hash); a channel's section falls back to raw packing when that "
                   "is shorter",
            "bits_per_index": [round(b, 3) for b in codec.stage_bits()],
            "raw_bits_per_index": codec.bits_per_index,
            "saving_vs_raw_pct": round(100 * (1 - sum(codec.stage_bits()) / (codec.bits_per_index * codec.n_q)), 2),
        },
        "expected_kbps_by_stages": [[n, round(k, 3)] for n, k in codec.kbps_table()],
        "evaluation": {
            "data": "LibriSpeech test-other (100) + test-clean (4) + dev-clean (2) = 106 utterances, "
                    "read from the FLAC files; kbps = 8 x whole .bin bytes / duration",
            "command": f"neurocodec eval --modality audio --data librispeech-eval --codecs {args.name},opus "
                       f"--out {args.results}",
        },
        "created": dt.date.today().isoformat(),
    }
    mine = res / f"librispeech-eval-{args.name}.json"
    if mine.exists():
        card["evaluation"]["points"] = rd_points(mine)
    opus = res / "librispeech-eval-opus.json"
    if opus.exists():
        card["evaluation"]["opus_points"] = rd_points(opus)
    if args.export_report and Path(args.export_report).exists():
        card["priors"]["export"] = json.loads(Path(args.export_report).read_text())
    bench = Path(args.bench)
    if bench.exists():
        b = json.loads(bench.read_text())
        card["speed"] = {"how": "python benchmarks/audio_codecs.py (1 thread, I/O included, 106 files)",
                         "rows": [r for r in b["rows"] if r["codec"] in (args.name, "opus")]}
    if args.notes:
        card["notes"] = args.notes
    st = card["training"]["stages"]
    card["training"]["steps"] = sum(x["steps"] for x in st)
    card["training"]["wall_time_hours"] = round(sum(x["wall_time_hours"] for x in st), 2)
    out = registry.CHECKPOINT_DIR / f"{args.name}.json"
    out.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
