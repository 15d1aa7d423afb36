"""Continuing a shipped model across sessions: the first call starts from checkpoints/NAME.pt,
the next resumes the run (steps, optimiser, time used) with a larger budget; the export decodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

from neurocodec.codecs import registry
from neurocodec.errors import ModelMismatchError
from tests.codecs.conftest import shipped
from tests.train.test_train_cli import _photos

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("train_continue", ROOT / "scripts" / "train_continue.py")
train_continue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_continue)


def test_start_from_shipped_then_resume(tmp_path, capsys):
    shipped("hyperprior")
    _photos(tmp_path / "train", 3, (100, 110))
    _photos(tmp_path / "val", 1, (64, 64))
    common = ["hyperprior", "--runs", str(tmp_path / "runs"), "--threads", "1", "--batch-size", "2", "--patch-size", "64",
              "--precision", "32-true", "--compile", "none",
              "--train-dir", str(tmp_path / "train"), "--val-dir", str(tmp_path / "val"), "--save-every", "5"]
    assert train_continue.main([*common, "--minutes", "0.01", "--dry-run"]) == 0
    cmd = capsys.readouterr().out
    assert "--ckpt_path" not in cmd  # nothing to resume yet
    assert train_continue.main([*common, "--minutes", "0.01"]) == 0
    last = tmp_path / "runs" / "hyperprior" / "version_0" / "checkpoints" / "last.ckpt"
    ck1 = torch.load(last, map_location="cpu", weights_only=False)
    assert ck1["hyper_parameters"]["init_from"].endswith("checkpoints/hyperprior.pt") and ck1["global_step"] > 0

    assert train_continue.main([*common, "--minutes", "0.01", "--dry-run"]) == 0
    assert f"--ckpt_path {last}" in capsys.readouterr().out
    assert train_continue.main([*common, "--minutes", "0.01"]) == 0
    ck2 = torch.load(last, map_location="cpu", weights_only=False)
    # the first segment's training log survives the resume beside the new one
    kept = last.parent.parent / f"metrics-to-step-{ck1['global_step']}.csv"
    assert kept.exists() and "train/loss" in kept.read_text() and (last.parent.parent / "metrics.csv").exists()
    # resumed: more steps, the time used carried over, the budget extended by 0.6 CPU seconds
    assert ck2["global_step"] > ck1["global_step"] and ck2["cpu_seconds"] >= ck1["cpu_seconds"]
    assert abs(ck2["hyper_parameters"]["cpu_budget_s"] - (ck1["cpu_seconds"] + 0.6)) < 1e-6
    codec = registry.load(tmp_path / "runs" / "hyperprior.pt")
    assert codec.name == "hyperprior" and codec.weights_hash() != shipped("hyperprior").weights_hash()
    # one last checkpoint, rewritten by each segment, and the export is of it
    assert [p.name for p in last.parent.glob("last*.ckpt")] == ["last.ckpt"]
    assert codec.weights_hash() == registry.load(last).weights_hash()
    # a run folder from before the version counter was turned off: a newer last-v1.ckpt beside a
    # stale last.ckpt is the one to resume
    import os

    newer = last.with_name("last-v1.ckpt")
    newer.write_bytes(last.read_bytes())
    os.utime(last, (1, 1))
    assert train_continue.main([*common, "--minutes", "0.01", "--dry-run"]) == 0
    assert f"--ckpt_path {newer}" in capsys.readouterr().out


def test_parts_from_moves_parts_into_the_start(tmp_path, capsys):
    """--parts-from B: the fresh run starts from the shipped weights with B's matching parts moved
    in, saved as <runs>/<name>-start.pt and recorded as init_from; a codec that takes no parts
    is refused."""
    mambaic, hyperprior = shipped("mambaic"), shipped("hyperprior")
    runs = tmp_path / "runs"
    assert train_continue.main(["mambaic", "--runs", str(runs), "--parts-from", "hyperprior", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "--ckpt_path" not in out.out and "moved g_a, g_s" in out.err
    start = runs / "mambaic-start.pt"
    overlay = yaml.safe_load((runs / "mambaic.yaml").read_text())
    assert overlay["model"]["init_args"]["init_from"] == str(start.resolve())
    moved = registry.load(start)
    for name in ("g_a", "g_s", "entropy_bottleneck", "gains"):  # the hyperprior's ...
        for k, v in getattr(hyperprior, name).state_dict().items():
            assert torch.equal(getattr(moved, name).state_dict()[k], v), (name, k)
    for k, v in mambaic.spatial_context.state_dict().items():  # ... around the mambaic's context
        assert torch.equal(moved.spatial_context.state_dict()[k], v), k
    assert moved.weights_hash() not in (mambaic.weights_hash(), hyperprior.weights_hash())
    with pytest.raises(ModelMismatchError):
        train_continue.main(["hyperprior", "--runs", str(tmp_path / "r2"), "--parts-from", "gmm", "--dry-run"])


def test_parts_from_keeps_a_trained_gmm_context(tmp_path, capsys):
    """A shipped gmm moved onto the hyperprior's parts keeps its trained context and
    entropy-parameter networks bit for bit (its init_from_hyperprior would shrink the parameter
    network's last layer to restart it as a hyperprior)."""
    gmm, hyperprior = shipped("gmm"), shipped("hyperprior")
    runs = tmp_path / "runs"
    assert train_continue.main(["gmm", "--runs", str(runs), "--parts-from", "hyperprior", "--dry-run"]) == 0
    assert "moved g_a, g_s, h_a, h_s" in capsys.readouterr().err
    moved = registry.load(runs / "gmm-start.pt")
    for name in ("g_a", "g_s", "h_a", "h_s", "gains"):
        for k, v in getattr(hyperprior, name).state_dict().items():
            assert torch.equal(getattr(moved, name).state_dict()[k], v), (name, k)
    for name in ("context", "entropy_parameters"):
        for k, v in getattr(gmm, name).state_dict().items():
            assert torch.equal(getattr(moved, name).state_dict()[k], v), (name, k)
    assert moved.weights_hash() not in (gmm.weights_hash(), hyperprior.weights_hash())


def test_gmm_continues_every_part_at_one_rate(tmp_path, capsys):
    """A continued gmm trains every part at 1x after a 2 % warm-up (its training config has the new
    context and mixture networks at 20x); --set still overrides that; other codecs keep the recipe."""
    def overlay(name: str, *extra: str) -> dict:
        runs = tmp_path / f"{name}{len(extra)}"
        assert train_continue.main([name, "--runs", str(runs), "--precision", "32-true", "--dry-run", *extra]) == 0
        capsys.readouterr()
        return yaml.safe_load((runs / f"{name}.yaml").read_text())["model"]["init_args"]

    gmm = overlay("gmm")
    assert gmm["lr_scale"] == {"context": 1, "entropy_parameters": 1} and gmm["warmup"] == 0.02
    assert gmm["lr"] == 1e-4 and gmm["schedule"] == "linear"
    assert overlay("gmm", "--set", "lr_scale={context: 5}")["lr_scale"] == {"context": 5}
    hyperprior = overlay("hyperprior")
    assert "lr_scale" not in hyperprior and hyperprior["warmup"] == 0.0


def test_explicit_precision_is_kept():
    """An explicit --precision passes through; auto resolves to one of the two trainer values."""
    assert train_continue.pick_precision("32-true", "cpu") == "32-true"
    assert train_continue.pick_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert train_continue.pick_precision("auto", "cpu") in ("32-true", "bf16-mixed")


def test_compile_choice():
    """--compile auto compiles the float transforms of the models where it was measured, on a CPU
    only; none and explicit lists pass through."""
    assert train_continue.pick_compile("auto", "hyperprior", "cpu") == ["g_a", "g_s", "h_a"]
    assert train_continue.pick_compile("auto", "gmm", "cpu") == ["g_a", "g_s", "h_a"]
    assert train_continue.pick_compile("auto", "mambaic", "cpu") == ["g_a", "g_s"]  # its h_a does not build
    assert train_continue.pick_compile("auto", "shallow-2l", "cpu") == ["g_a", "g_s", "h_a"]
    assert train_continue.pick_compile("auto", "unmeasured", "cpu") == []
    assert train_continue.pick_compile("auto", "hyperprior", "auto") == []
    assert train_continue.pick_compile("none", "hyperprior", "cpu") == []
    assert train_continue.pick_compile("g_s,h_a", "shallow-2l", "gpu") == ["g_s", "h_a"]


def test_bf16_mixed_run_trains_and_exports_float32(tmp_path):
    """--precision bf16-mixed reaches the trainer (and turns on channels-last weights and batches),
    with a part compiled (--compile); the run trains (the rate in float32 under autocast:
    neurocodec.nn.precision) and exports contiguous float32 weights that differ from the start."""
    start = shipped("hyperprior")
    _photos(tmp_path / "train", 3, (100, 110))
    _photos(tmp_path / "val", 1, (64, 64))
    runs = tmp_path / "runs"
    assert train_continue.main(["hyperprior", "--runs", str(runs), "--threads", "1", "--batch-size", "2",
                                "--patch-size", "64", "--train-dir", str(tmp_path / "train"),
                                "--val-dir", str(tmp_path / "val"), "--minutes", "0.01",
                                "--precision", "bf16-mixed", "--compile", "g_s"]) == 0
    overlay = yaml.safe_load((runs / "hyperprior.yaml").read_text())
    assert overlay["trainer"]["precision"] == "bf16-mixed" and overlay["model"]["init_args"]["channels_last"] is True
    assert overlay["model"]["init_args"]["compile"] == ["g_s"]  # trains and exports with a compiled part
    ck = torch.load(runs / "hyperprior" / "version_0" / "checkpoints" / "last.ckpt", map_location="cpu",
                    weights_only=False)
    assert ck["global_step"] > 0
    assert all(torch.isfinite(v).all() for v in ck["state_dict"].values() if v.is_floating_point())
    codec = registry.load(runs / "hyperprior.pt")
    assert {p.dtype for p in codec.parameters()} == {torch.float32}
    assert all(p.is_contiguous() for p in codec.parameters())
    assert codec.weights_hash() != start.weights_hash()
