"""Every training config runs under DDP (2 CPU processes, gloo), at tiny sizes: the ranks draw
different samples, end with identical weights, write one checkpoint that resumes, and the
exported codec codes an image. Configs added later are covered automatically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neurocodec import bitstream
from neurocodec.codecs import registry

CONFIGS = sorted((Path(__file__).parents[2] / "neurocodec" / "train" / "configs").glob("*.yaml"))
SLOW = {"gmm.yaml", "hyperprior.yaml"}  # the same code paths as their -cpu configs; run with -m slow
TINY = {"hyperprior": "{N: 8, M: 8, qualities: 2}", "gmm": "{N: 8, M: 12, K: 2, qualities: 2}"}


def _folder(path: Path, n: int, size: int = 80) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(len(str(path)))
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def _train(cfg: Path, tmp: Path, steps: int, probe: str, resume: str | None = None) -> subprocess.CompletedProcess:
    codec = "gmm" if cfg.name.startswith("gmm") else "hyperprior"
    args = [
        sys.executable, "-m", "neurocodec.train.cli", "fit", "--config", str(cfg),
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger.init_args.save_dir", str(tmp / "runs"), "--trainer.logger.init_args.name", "ddp",
        "--trainer.callbacks+=neurocodec.train.callbacks.RankProbe", f"--trainer.callbacks.dir={probe}",
        "--model.init_args.codec_config", TINY[codec],
        "--data.init_args.train_dir", str(tmp / "train"), "--data.init_args.val_dir", str(tmp / "val"),
        "--data.init_args.patch_size", "64", "--data.init_args.batch_size", "2",
        "--data.init_args.samples_per_epoch", "8", "--data.init_args.val_images", "1", "--data.init_args.workers", "0",
    ]
    if resume:
        args += ["--ckpt_path", resume]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(args, cwd=tmp, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("cfg", [pytest.param(c, id=c.stem, marks=[pytest.mark.slow] if c.name in SLOW else [])
                                 for c in CONFIGS])
def test_config_trains_under_ddp(cfg, tmp_path):
    _folder(tmp_path / "train", 3)
    _folder(tmp_path / "val", 1)
    r = _train(cfg, tmp_path, 3, str(tmp_path / "probe"))
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / "probe" / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [d["world"] for d in ranks] == [2, 2] and [d["step"] for d in ranks] == [3, 3]
    # different samples on the two ranks, identical weights after the steps
    assert len(ranks[0]["batches"]) == 3 and not set(ranks[0]["batches"]) & set(ranks[1]["batches"])
    assert ranks[0]["state_sha256"] == ranks[1]["state_sha256"]
    # one run folder with its checkpoints, written once (by rank 0)
    runs = list((tmp_path / "runs" / "ddp").iterdir())
    assert len(runs) == 1
    last = runs[0] / "checkpoints" / "last.ckpt"
    assert last.exists() and torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 3
    # it resumes under DDP
    r = _train(cfg, tmp_path, 5, str(tmp_path / "probe2"), resume=str(last))
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = [json.loads((tmp_path / "probe2" / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [d["step"] for d in resumed] == [5, 5] and resumed[0]["state_sha256"] == resumed[1]["state_sha256"]
    assert not set(resumed[0]["batches"]) & set(ranks[0]["batches"] + ranks[1]["batches"])  # new epochs, new crops
    # the exported codec codes an image
    codec = registry.load(registry.save_checkpoint(registry.load(last), tmp_path / "exported.pt", update_quantiles=True))
    rgb = np.asarray(Image.open(tmp_path / "val" / "0.png"))
    data = codec.encode_image(rgb, 2)
    assert bitstream.loads(data).codec == codec.name
    assert codec.decode_image(data).shape == rgb.shape
