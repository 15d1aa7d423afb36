"""Training-recipe study at equal CPU budget: every arm continues the same starting weights with
the same seed for the same CPU seconds (one thread each, `--parallel` arms at a time), then is
measured on Kodak from real files (BD-rate against the starting model and WebP) and by its
transform ceiling (unquantised PSNR at the lowest and highest levels).

    python scripts/recipe_study.py [--arms constant,linear,...] [--budget-min 12] [--parallel 2]
        [--start checkpoints/hyperprior.pt] [--runs runs/recipe] [--results results/recipe]
        [--limit 24]

The mambaic ablation (issue 12: VSS blocks against convolutions of equal parameter count) is two
arms of this study: each starts a mambaic from the hyperprior's parts (context at zero, so both
begin as that hyperprior) and trains it with the shipped mambaic's last-stage recipe:

    python scripts/recipe_study.py --arms mambaic-vss,mambaic-conv --budget-min 45 \
        --runs runs/ablation --results results/ablation \
        --anchors hyperprior=results/kodak/kodak-hyperprior.json,vss=results/ablation/mambaic-vss/kodak-mambaic.json

Re-running resumes: a finished arm (its export exists) is not retrained, an interrupted one
continues from its last checkpoint (the CPU budget counts across resumes), finished evaluations
are skipped. Writes <results>/study.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from train_continue import keep_earlier_logs  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = ROOT / "neurocodec" / "train" / "configs" / "hyperprior-cpu.yaml"
CHECKPOINT_CB = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                 "init_args": {"every_n_train_steps": 200, "save_last": True, "enable_version_counter": False}}

# Each arm: (what it changes, model init_args, data init_args, extra callbacks). All continue
# the starting weights at the shipped recipe's last-stage learning rate unless stated.
ARMS: dict[str, tuple[str, dict, dict, list]] = {
    "constant": ("lr 1e-4 constant (the shipped model's last stage)", {"lr": 1e-4}, {}, []),
    "linear": ("lr 1e-4 decayed linearly to 0 over the budget", {"lr": 1e-4, "schedule": "linear"}, {}, []),
    "linear-hi": ("lr 3e-4, 5 % warm-up, linear decay to 0", {"lr": 3e-4, "schedule": "linear", "warmup": 0.05}, {}, []),
    "cosine-hi": ("lr 3e-4, 5 % warm-up, cosine decay to 0", {"lr": 3e-4, "schedule": "cosine", "warmup": 0.05}, {}, []),
    "levels-high": ("lr 1e-4, levels drawn 1:1:1:2:3:4 (towards high rates)",
                    {"lr": 1e-4, "level_weights": [1, 1, 1, 2, 3, 4]}, {}, []),
    "ema": ("lr 1e-4, EMA of weights (decay 0.999)", {"lr": 1e-4}, {},
            [{"class_path": "lightning.pytorch.callbacks.EMAWeightAveraging", "init_args": {"decay": 0.999}}]),
    "distortion-warmup": ("lr 1e-4, first 25 % distortion only (rate off)", {"lr": 1e-4, "distortion_warmup": 0.25}, {}, []),
    "noise": ("lr 1e-4, synthesis trained on noisy latents (not straight-through rounding)",
              {"lr": 1e-4, "synthesis_quantization": "noise"}, {}, []),
    "crop256": ("lr 1e-4, 256 px crops, batch 2 (same pixels per step)", {"lr": 1e-4}, {"patch_size": 256, "batch_size": 2}, []),
}
# the mambaic ablation: the shipped mambaic's last-stage recipe (scripts/train_continue.py's: 256 px
# crops, batch 2, lr 1e-4 decayed linearly after a 2 % warm-up, 10x on the context parts) with
# VSS blocks or with convolutions of equal parameter count in h_a/h_s and the channel context
_MAMBAIC = {"N": 64, "M": 96, "slices": 4, "state": 4, "context": 48, "agg": 64, "window": 4, "transform": "gdn"}
_CONTEXT_LR = {"lr": 1e-4, "schedule": "linear", "warmup": 0.02,
               "lr_scale": {"channel_context": 10, "spatial_context": 10, "parameters_net": 10}}
# arms that train another codec, started from the --start codec's parts (``init_hyperprior_from``)
# rather than its whole weights: arm -> its base training config
FROM_PARTS: dict[str, str] = {}
for _mixer in ("vss", "conv"):
    ARMS[f"mambaic-{_mixer}"] = (f"mambaic ({_mixer} mixer) from the hyperprior's parts, context lr x10",
                                 {**_CONTEXT_LR, "codec_config": {**_MAMBAIC, "mixer": _mixer}},
                                 {"patch_size": 256, "batch_size": 2}, [])
    FROM_PARTS[f"mambaic-{_mixer}"] = "mambaic-cpu.yaml"


def arm_config(name: str, start: str, budget_s: float, runs: Path) -> Path:
    """The YAML overlay of one arm (on top of hyperprior-cpu.yaml)."""
    _, model, data, callbacks = ARMS[name]
    doc = {
        "trainer": {"max_steps": 1_000_000, "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                                                       "init_args": {"save_dir": str(runs), "name": name, "version": 0}},
                    "callbacks": [CHECKPOINT_CB, *callbacks]},
        "model": {"init_args": {**({"init_from": None, "init_hyperprior_from": start} if name in FROM_PARTS
                                   else {"init_from": start}), "cpu_budget_s": budget_s, **model}},
        "data": {"init_args": {"workers": 0, **data}},
    }
    path = runs / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_training(name: str, start: str, budget_s: float, runs: Path) -> subprocess.Popen | None:
    """Launch (or resume) one arm's training on one thread; None when it is already done."""
    if (runs / f"{name}.pt").exists():
        return None
    config = CONFIG.parent / FROM_PARTS[name] if name in FROM_PARTS else CONFIG
    cmd = [str(BIN / "neurocodec-train"), "fit", "--config", str(config), "--config", str(arm_config(name, start, budget_s, runs))]
    last = runs / name / "version_0" / "checkpoints" / "last.ckpt"
    if last.exists():
        cmd += ["--ckpt_path", str(last)]
        keep_earlier_logs(last)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log = open(runs / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def export(name: str, runs: Path) -> Path:
    out = runs / f"{name}.pt"
    last = runs / name / "version_0" / "checkpoints" / "last.ckpt"
    subprocess.run([str(BIN / "neurocodec"), "export", str(last), "-o", str(out)], check=True, cwd=ROOT)
    return out


def evaluate(name: str, runs: Path, results: Path, limit: int) -> Path:
    """Kodak RD from real files (skips finished entries); returns the result JSON."""
    out = results / name
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([str(BIN / "neurocodec"), "eval", "--modality", "image", "--data", "kodak", "--limit", str(limit),
                    "--codecs", str(runs / f"{name}.pt"), "--out", str(out), "--workers", "1", "--no-progress"],
                   check=True, cwd=ROOT, env=env)
    return next(out.glob("*.json"))


def measure(name: str, runs: Path, result: Path, anchors: dict[str, Path], limit: int) -> dict:
    import torch

    from neurocodec.codecs import registry
    from neurocodec.data import data_path
    from neurocodec.evaluate.bd import bd_quality, bd_rate
    from neurocodec.evaluate.ceiling import transform_ceiling
    from neurocodec.evaluate.results import curve_from_result, read_json
    from neurocodec.evaluate.runner import restrict_items
    from neurocodec.io.images import list_images, load_image

    torch.set_num_threads(1)
    doc = read_json(result)
    items = doc["dataset"]["items"]
    curve = curve_from_result(doc)
    rate, psnr = curve.points("psnr_rgb")
    row: dict = {"arm": name, "what": ARMS[name][0]}
    for label, path in anchors.items():
        anchor = curve_from_result(restrict_items(read_json(path), items))  # on the same images
        row[f"bd_vs_{label}"] = bd_rate(*anchor.points("psnr_rgb"), rate, psnr)
        row[f"bdpsnr_vs_{label}"] = bd_quality(*anchor.points("psnr_rgb"), rate, psnr)  # dB; steadier on flat curves
    row["psnr_q1"], row["psnr_q6"] = float(psnr[0]), float(psnr[-1])
    row["bpp_q1"], row["bpp_q6"] = float(rate[0]), float(rate[-1])
    codec = registry.load(runs / f"{name}.pt")
    images = [load_image(p) for p in list_images(data_path("kodak"))[:limit]]
    ceiling = transform_ceiling(codec, images, (1, codec.num_qualities))
    row["ceiling_q1"], row["ceiling_q6"] = ceiling[1], ceiling[codec.num_qualities]
    ckpt = torch.load(runs / name / "version_0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    row["steps"], row["cpu_s"] = int(ckpt["global_step"]), float(ckpt.get("cpu_seconds", float("nan")))
    row["params"] = sum(p.numel() for p in codec.parameters())
    return row


def table(rows: list[dict], anchors: list[str]) -> str:
    head = ["arm", *[f"BD-rate / BD-PSNR vs {a}" for a in anchors], "PSNR q1 / q6 (dB)", "bpp q1 / q6", "ceiling q1 / q6 (dB)", "steps",
            "CPU min", "params", "what"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["arm"], *[f"{r[f'bd_vs_{a}']:+.1f} % / {r[f'bdpsnr_vs_{a}']:+.2f} dB" for a in anchors],
            f"{r['psnr_q1']:.2f} / {r['psnr_q6']:.2f}", f"{r['bpp_q1']:.3f} / {r['bpp_q6']:.3f}",
            f"{r['ceiling_q1']:.2f} / {r['ceiling_q6']:.2f}", str(r["steps"]), f"{r['cpu_s'] / 60:.1f}", f"{r['params'] / 1e6:.3f} M", r["what"]]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of: {', '.join(ARMS)}")
    ap.add_argument("--budget-min", type=float, default=12.0, help="CPU minutes per arm (one thread)")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--start", default="checkpoints/hyperprior.pt", help="weights every arm starts from")
    ap.add_argument("--runs", default="runs/recipe")
    ap.add_argument("--results", default="results/recipe")
    ap.add_argument("--limit", type=int, default=24, help="Kodak images evaluated")
    ap.add_argument("--anchors", default="start=results/kodak/kodak-hyperprior.json,webp=results/kodak/kodak-webp.json",
                    help="label=result JSON pairs to compute BD-rates against")
    args = ap.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    runs, results = (ROOT / args.runs).resolve(), (ROOT / args.results).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    anchors = {k: ROOT / v for k, v in (s.split("=", 1) for s in args.anchors.split(","))}

    pending, running = list(arms), {}
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            proc = start_training(name, args.start, args.budget_min * 60, runs)
            if proc is not None:
                running[name] = proc
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode != 0:
                    raise SystemExit(f"arm {name} failed (exit {proc.returncode}); see {runs / name}.log")
                export(name, runs)
        time.sleep(5)

    rows = [measure(a, runs, evaluate(a, runs, results, args.limit), anchors, args.limit) for a in arms]
    labels = list(anchors)
    (results / "study.json").write_text(json.dumps({"budget_cpu_min": args.budget_min, "start": args.start,
                                                    "kodak_images": args.limit, "rows": rows}, indent=2))
    sys.stdout.write(table(rows, labels) + "\n")


if __name__ == "__main__":
    main()
