"""Continue training a shipped image codec for a time budget, resuming across sessions.

    python scripts/train_continue.py hyperprior [--minutes 60] [--clock cpu|wall] [--threads 2]
        [--runs runs/continue] [--accelerator cpu] [--batch-size 8] [--patch-size 128]
        [--precision auto|32-true|bf16-mixed] [--compile auto|none|g_a,g_s,h_a]
        [--train-dir DIR] [--set lr=2e-4 ...]
        [--export OUT.pt] [--start W.pt] [--parts-from B]

The run lives in <runs>/<name>/version_0 (ignored by git). When its last checkpoint exists the
run resumes from it (optimiser, step and time used included) and its budget grows by
--minutes; when it does not (a fresh machine, or runs/ deleted), it starts from the shipped
weights checkpoints/<name>.pt (or --start; ``init_from``) with a budget of --minutes;
--parts-from B first moves B's matching parts into those weights, keeping their trained context
model (e.g. a gmm's or mambaic's context onto a newer hyperprior's transforms) and saves the
result as <runs>/<name>-start.pt, the run's recorded starting point. The learning rate
follows the recipe below over the whole budget, so each extension is a warm restart from about
lr x minutes / budget that decays to zero again (a new --runs folder starts at lr). At the end
the weights are exported (--export, default <runs>/<name>.pt); measure them with
scripts/model_card.py before shipping.

The recipe is the winner of scripts/recipe_study.py (results/recipe/study.json).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIGS = ROOT / "neurocodec" / "train" / "configs"

# name -> (training config of the shipped weights, model arguments it needs besides)
MODELS: dict[str, tuple[str, dict]] = {
    "hyperprior": ("hyperprior-cpu.yaml", {}),
    "gmm": ("gmm-gdn-cpu.yaml", {}),
    "shallow-2l": ("shallow-cpu.yaml", {}),
    "shallow-jpeg": ("shallow-cpu.yaml", {"codec": "shallow-jpeg"}),
    "mambaic": ("mambaic-cpu.yaml", {}),
}
# the recipe study's winner (README, "Training recipes"): 256 px crops in batches of 2 (the same
# pixels per step as 8 x 128 px: -6.1 % BD in 8 CPU minutes, the largest gain of any arm) with
# the learning rate decayed linearly to zero over each budget (-2.2 %, the best schedule)
RECIPE = {"lr": 1e-4, "schedule": "linear", "warmup": 0.0}
DATA_RECIPE = {"patch_size": 256, "batch_size": 2}
# per-model changes to the recipe, over the training config's own values: the gmm config trains
# its new context and mixture networks at 20x; continuing a trained gmm, every part learns at
# 1x end to end after a 2 % warm-up (the recipe ae58d9c6, eba46f61 and b7f73a1e were trained with)
CONTINUE_RECIPE: dict[str, dict] = {
    "gmm": {"warmup": 0.02, "lr_scale": {"context": 1, "entropy_parameters": 1}},
}
# --compile auto: the float transforms compiled in place with torch.compile on a CPU, where it was
# measured (benchmarks/train_step.py --compile g_a,g_s,h_a, bf16 channels-last, 384 px crops in
# batches of 1: a hyperprior step 0.169 s against 0.194 s eager (1.15x), a gmm step 0.275 against
# 0.325 s (1.18x), after a compile of about 30 s; results/bench/train_step_compile.json). The
# shallow codecs and the mambaic, measured the same way (one thread, the other core training, so
# under load): shallow-2l 0.298 -> 0.271 s (1.10x), shallow-jpeg 0.277 -> 0.245 s (1.13x), mambaic
# with g_a and g_s 0.697 -> 0.631 s (1.10x). The mambaic's h_a holds VSS blocks, and inductor's CPU
# code for it does not build with torch 2.11 (the same failure as compiling a whole codec).
COMPILE_AUTO: dict[str, list[str]] = {
    "hyperprior": ["g_a", "g_s", "h_a"], "gmm": ["g_a", "g_s", "h_a"],
    "shallow-2l": ["g_a", "g_s", "h_a"], "shallow-jpeg": ["g_a", "g_s", "h_a"], "mambaic": ["g_a", "g_s"],
}


def _value(s: str):  # noqa: ANN202 - YAML scalar or list
    return yaml.safe_load(s)


def build_command(args: argparse.Namespace) -> tuple[list[str], Path]:
    """The neurocodec-train command line and the run's last-checkpoint path."""
    config, extra = MODELS[args.name]
    runs = Path(args.runs).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    last = newest_last(runs / args.name / "version_0" / "checkpoints")
    budget_key = "cpu_budget_s" if args.clock == "cpu" else "wall_budget_s"
    used = 0.0
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        used = float(ck.get("cpu_seconds" if args.clock == "cpu" else "wall_seconds", 0.0))
    model = {**extra, **RECIPE, **CONTINUE_RECIPE.get(args.name, {}), budget_key: used + 60 * args.minutes}
    precision = pick_precision(args.precision, args.accelerator)
    if precision == "bf16-mixed":
        model["channels_last"] = True
    compiled = pick_compile(args.compile, args.name, args.accelerator)
    if compiled:
        model["compile"] = compiled
    if not last.exists():
        start = Path(args.start or ROOT / "checkpoints" / f"{args.name}.pt").resolve()
        if args.parts_from:
            start = start_from_parts(start, args.parts_from, runs / f"{args.name}-start.pt")
        model["init_from"] = str(start)
    for kv in args.set:
        k, _, v = kv.partition("=")
        model[k] = _value(v)
    data = {"workers": 0, **DATA_RECIPE}  # CPU budgets count data loading only in the main process
    if args.batch_size:
        data["batch_size"] = args.batch_size
    if args.patch_size:
        data["patch_size"] = args.patch_size
    if args.train_dir:
        data["train_dir"] = str(Path(args.train_dir).resolve())
    if args.val_dir:
        data["val_dir"] = str(Path(args.val_dir).resolve())
    overlay = {
        "trainer": {"max_steps": 10_000_000, "accelerator": args.accelerator, "devices": args.devices,
                    "precision": precision,
                    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                               "init_args": {"save_dir": str(runs), "name": args.name, "version": 0}},
                    "callbacks": [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                   "init_args": {"every_n_train_steps": args.save_every, "save_last": True,
                                                 "enable_version_counter": False}}]},
        "model": {"init_args": model},
        "data": {"init_args": data},
    }
    overlay_path = runs / f"{args.name}.yaml"
    overlay_path.write_text(yaml.safe_dump(overlay))
    cmd = [str(BIN / "neurocodec-train"), "fit", "--config", str(CONFIGS / config), "--config", str(overlay_path)]
    if last.exists():
        cmd += ["--ckpt_path", str(last)]
    return cmd, last


def pick_precision(choice: str, accelerator: str) -> str:
    """``auto``: bf16-mixed where the device computes in bfloat16 natively (a CUDA GPU that
    supports it; a CPU with oneDNN bfloat16 kernels: AVX-512 BF16 or AMX), else float32."""
    if choice != "auto":
        return choice
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "32-true"


def pick_compile(choice: str, name: str, accelerator: str) -> list[str]:
    """The codec parts to compile: ``auto`` gives COMPILE_AUTO's on a CPU (none elsewhere, or
    for a model where it was not measured), ``none`` none, else a comma-separated list."""
    if choice == "auto":
        return list(COMPILE_AUTO.get(name, [])) if accelerator == "cpu" else []
    if choice == "none":
        return []
    return [p for p in choice.split(",") if p]


def start_from_parts(weights: Path, parts_from: str, out: Path) -> Path:
    """Load `weights`, move in the matching parts of `parts_from` (a codec name or path) while
    keeping the trained context model (``entropy_finetune.take_transforms``: a gmm keeps its
    context and entropy-parameter networks, which its ``init_from_hyperprior`` would restart),
    and save the result at `out`; refuses when nothing matched (the run would silently start
    from `weights` alone)."""
    from neurocodec.codecs import registry
    from neurocodec.errors import ModelMismatchError
    from neurocodec.train.entropy_finetune import take_transforms

    codec = registry.load(weights)
    moved = take_transforms(codec, registry.load(parts_from))
    if not moved:
        raise ModelMismatchError(f"no part of {parts_from} matches {weights} ({codec.name})")
    sys.stderr.write(f"moved {', '.join(moved)} of {parts_from} into {weights}: {out}\n")
    return registry.save_checkpoint(codec, out)


def newest_last(folder: Path) -> Path:
    """The run's last checkpoint: the newest of ``last*.ckpt`` (Lightning writes ``last-v1.ckpt``
    beside a ``last.ckpt`` it does not recognise as its own, e.g. after a budget stop wrote one),
    or ``last.ckpt`` when there is none yet."""
    found = sorted(folder.glob("last*.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else folder / "last.ckpt"


def keep_earlier_logs(last: Path) -> Path | None:
    """Lightning's CSVLogger deletes a version folder's metrics.csv when a run resumes into it:
    move the earlier segment's log aside first (metrics-to-step-N.csv); returns where."""
    metrics = last.parent.parent / "metrics.csv"
    if not (last.exists() and metrics.exists()):
        return None
    step = int(torch.load(last, map_location="cpu", weights_only=False).get("global_step", 0))
    kept = metrics.with_name(f"metrics-to-step-{step}.csv")
    metrics.replace(kept)
    return kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(MODELS))
    ap.add_argument("--minutes", type=float, default=60.0, help="budget added by this invocation")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="budget in CPU seconds of the process (fair on shared cores) or wall-clock seconds (GPU)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default="runs/continue")
    ap.add_argument("--start", default=None, help="weights of a fresh run (default checkpoints/NAME.pt)")
    ap.add_argument("--parts-from", default=None, metavar="B",
                    help="a fresh run: move B's matching parts (a codec name or path) into the start weights first")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--devices", default=1, type=_value)
    ap.add_argument("--precision", default="auto", choices=("auto", "32-true", "bf16-mixed"),
                    help="bf16-mixed: convolutions in bfloat16 under autocast, with channels-last weights and "
                         "batches; the rate and the integer layers' simulation stay in float32 "
                         "(neurocodec.nn.precision); auto (default): bf16-mixed where the CPU or GPU has "
                         "native bfloat16, else 32-true")
    ap.add_argument("--compile", default="auto", metavar="PARTS",
                    help="codec parts compiled in place by torch.compile (the model option compile), e.g. "
                         "g_a,g_s,h_a; auto (default): on a CPU, the float transforms measured to gain (a step 0.85-0.91x "
                         "the eager one; the mambaic's g_a and g_s only); none: eager")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--patch-size", type=int, default=None)
    ap.add_argument("--train-dir", default=None)
    ap.add_argument("--val-dir", default=None)
    ap.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model argument overrides")
    ap.add_argument("--export", default=None, help="export the result here (default <runs>/<name>.pt)")
    ap.add_argument("--dry-run", action="store_true", help="print the command only")
    args = ap.parse_args(argv)
    cmd, last = build_command(args)
    if args.dry_run:
        sys.stdout.write(" ".join(cmd) + "\n")
        return 0
    keep_earlier_logs(last)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    out = Path(args.export or Path(args.runs) / f"{args.name}.pt")
    last = newest_last(last.parent)  # what this run wrote last
    subprocess.run([str(BIN / "neurocodec"), "export", str(last), "-o", str(out), "--force"], check=True, cwd=ROOT)
    sys.stdout.write(f"{last}\n{out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
