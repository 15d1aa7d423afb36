"""Training-recipe options of the image module: learning-rate schedules over progress, CPU and
wall-clock budgets that end a run and carry over a resume, level sampling weights, the
distortion-only warm-up, and the transform ceiling logged beside rate and PSNR."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from neurocodec.train.image_module import ImageCodecModule
from tests.train.test_train_cli import _photos, _train

TINY = {"codec": "hyperprior", "codec_config": {"N": 8, "M": 8, "qualities": 2}}


@pytest.mark.parametrize(("schedule", "warmup", "expected"), [
    ("constant", 0.0, {0.0: 1.0, 0.5: 1.0, 1.0: 1.0}),
    ("linear", 0.0, {0.0: 1.0, 0.25: 0.75, 0.5: 0.5, 1.0: 0.0}),
    ("cosine", 0.0, {0.0: 1.0, 0.5: 0.5, 1.0: 0.0}),
    ("linear", 0.2, {0.1: (0.1 + 1e-3) / (0.2 + 1e-3), 0.2: 1.0, 0.6: 0.5, 1.0: 0.0}),
    ("cosine", 0.5, {0.75: 0.5}),
])
def test_lr_factor(schedule, warmup, expected):
    m = ImageCodecModule(**TINY, schedule=schedule, warmup=warmup)
    for p, f in expected.items():
        assert math.isclose(m.lr_factor(p), f, abs_tol=1e-9), (p, m.lr_factor(p), f)


def test_level_weights_and_bad_options():
    m = ImageCodecModule(**TINY, level_weights=[0.0, 1.0])
    assert {int(m.draw_level(torch.device("cpu"))) for _ in range(50)} == {1}
    with pytest.raises(ValueError, match="level_weights"):
        ImageCodecModule(**TINY, level_weights=[-1.0, 2.0])
    with pytest.raises(ValueError, match="2 levels"):
        ImageCodecModule(**TINY, level_weights=[1.0, 1.0, 1.0]).draw_level(torch.device("cpu"))
    with pytest.raises(ValueError, match="fractions"):
        ImageCodecModule(**TINY, warmup=1.0)


@pytest.mark.parametrize("codec", ["hyperprior", "gmm"])
def test_synthesis_quantization(codec):
    """The option reaches the codec, and with the same weights and seed the synthesis of noisy
    latents differs from the straight-through rounded one (which the rate term never uses)."""
    config = {"codec": codec, "codec_config": {"N": 8, "M": 8, "qualities": 2}}
    ste, noise = ImageCodecModule(**config), ImageCodecModule(**config, synthesis_quantization="noise")
    noise.codec.load_state_dict(ste.codec.state_dict())
    assert (ste.codec.synthesis_quantization, noise.codec.synthesis_quantization) == ("ste", "noise")
    x, q = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), torch.zeros(1, dtype=torch.long)
    out = {}
    for name, m in (("ste", ste), ("noise", noise)):
        torch.manual_seed(1)
        out[name] = m.codec.train()(x, q)
    assert not torch.allclose(out["ste"]["x_hat"], out["noise"]["x_hat"])
    with pytest.raises(ValueError, match="synthesis_quantization"):
        ImageCodecModule(**TINY, synthesis_quantization="round")


def test_distortion_warmup_turns_the_rate_off():
    m = ImageCodecModule(**TINY, distortion_warmup=0.3)
    dist, bpp, lam = torch.tensor([100.0, 50.0]), torch.tensor([0.5, 0.25]), torch.tensor([0.01, 0.02])
    assert float(m.loss(dist, bpp, lam, 0.1)) == pytest.approx(1.0)  # (1 + 1) / 2
    assert float(m.loss(dist, bpp, lam, 0.3)) == pytest.approx(1.375)  # (1.5 + 1.25) / 2


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_cpu_budget_ends_the_run_and_resumes(tmp_path):
    _photos(tmp_path / "train", 3, (80, 90))
    _photos(tmp_path / "val", 1, (50, 70))
    budget = ["--trainer.max_steps", "100000", "--model.init_args.schedule", "linear"]
    # (the first step alone can take 2 CPU s on a loaded machine: lazy initialisation)
    _train(tmp_path, "runs", *budget, "--model.init_args.cpu_budget_s", "4")
    last = sorted((tmp_path / "runs").rglob("last.ckpt"))[0]
    ck = torch.load(last, map_location="cpu", weights_only=False)
    assert 0 < ck["global_step"] < 100000 and 4 <= ck["cpu_seconds"] < 10, (ck["global_step"], ck["cpu_seconds"])
    assert ck["wall_seconds"] > 0
    steps1 = ck["global_step"]

    rows = _rows(sorted((tmp_path / "runs").rglob("metrics.csv"))[0])
    lrs = [float(r["train/lr"]) for r in rows if r.get("train/lr")]
    assert lrs[0] > 0.9e-4 and lrs[-1] < 0.2e-4 and lrs == sorted(lrs, reverse=True)  # linear decay over the budget
    ceilings = [float(r["train/ceiling_psnr"]) for r in rows if r.get("train/ceiling_psnr")]
    val = [float(r["val/ceiling_q2"]) for r in rows if r.get("val/ceiling_q2")]
    assert ceilings and val and all(5 < c < 60 for c in ceilings + val)
    per_level = [r for r in rows if r.get("train/ceiling_q1") or r.get("train/ceiling_q2")]
    assert per_level and all(r.get("train/bpp_q1") or r.get("train/bpp_q2") for r in per_level)

    # a larger budget continues from where the first run stopped, counting the CPU time it used
    _train(tmp_path, "runs2", *budget, "--model.init_args.cpu_budget_s", "6", "--ckpt_path", str(last))
    ck2 = torch.load(sorted((tmp_path / "runs2").rglob("last.ckpt"))[0], map_location="cpu", weights_only=False)
    assert ck2["global_step"] > steps1 and 6 <= ck2["cpu_seconds"] < 12

    # a wall-clock budget (GPU bursts) ends a run the same way
    _train(tmp_path, "runs3", *budget, "--model.init_args.wall_budget_s", "1")
    ck3 = torch.load(sorted((tmp_path / "runs3").rglob("last.ckpt"))[0], map_location="cpu", weights_only=False)
    assert 0 < ck3["global_step"] < 100000 and ck3["wall_seconds"] >= 1


def test_budget_end_writes_the_last_checkpoint(tmp_path):
    """A run that its budget stops between step-interval checkpoints still leaves last.ckpt
    with the final step and time (the study and the continuations export from it)."""
    import yaml

    _photos(tmp_path / "train", 3, (80, 90))
    _photos(tmp_path / "val", 1, (50, 70))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"trainer": {"callbacks": [{
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"every_n_train_steps": 100000, "save_last": True}}]}}))
    _train(tmp_path, "runs", "--config", str(overlay), "--trainer.max_steps", "100000",
           "--model.init_args.cpu_budget_s", "1.5")
    last = sorted((tmp_path / "runs").rglob("last.ckpt"))
    assert last, "no last.ckpt after a budget stop"
    ck = torch.load(last[0], map_location="cpu", weights_only=False)
    steps = [int(r["step"]) for r in _rows(sorted((tmp_path / "runs").rglob("metrics.csv"))[0]) if r.get("train/loss")]
    assert ck["global_step"] >= max(steps) and ck["cpu_seconds"] >= 1.5


def test_frozen_parts_do_not_learn_until_their_time(tmp_path):
    """A run started from trained weights with g_a and h_s frozen for the whole run leaves them
    bit for bit as they were, while the other parts learn; unknown names are refused."""
    _photos(tmp_path / "train", 3, (80, 90))
    _photos(tmp_path / "val", 1, (50, 70))
    _train(tmp_path, "runs")
    start = sorted((tmp_path / "runs").rglob("last.ckpt"))[0]
    _train(tmp_path, "runs2", "--trainer.max_steps", "3", "--model.init_args.init_from", str(start),
           "--model.init_args.frozen", "[g_a, h_s]", "--model.init_args.frozen_until", "1.0")
    a = torch.load(start, map_location="cpu", weights_only=False)["state_dict"]
    b = torch.load(sorted((tmp_path / "runs2").rglob("last.ckpt"))[0], map_location="cpu", weights_only=False)["state_dict"]
    frozen = [k for k in a if k.startswith(("codec.g_a.", "codec.h_s.")) and a[k].is_floating_point()]
    assert frozen and all(torch.equal(a[k], b[k]) for k in frozen)
    assert not torch.equal(a["codec.g_s.0.weight"], b["codec.g_s.0.weight"])
    with pytest.raises(ValueError, match="frozen"):
        ImageCodecModule(**TINY, frozen=["g_x"])
    with pytest.raises(ValueError, match="frozen_until"):
        ImageCodecModule(**TINY, frozen_until=1.5)


def test_lr_scale_gives_named_parts_their_own_learning_rate():
    m = ImageCodecModule(**TINY, lr=1e-4, lr_scale={"g_s": 10.0})
    opt, _ = m.configure_optimizers()
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert sorted(by_lr) == [1e-4, pytest.approx(1e-3)]
    assert by_lr[max(by_lr)] == {id(p) for p in m.codec.g_s.parameters()}
    assert not by_lr[1e-4] & {id(p) for p in m.codec.g_s.parameters()}
    assert not any(n.endswith("quantiles") for n, p in m.codec.named_parameters() if id(p) in by_lr[1e-4] | by_lr[max(by_lr)])
    with pytest.raises(ValueError, match="lr_scale"):
        ImageCodecModule(**TINY, lr_scale={"nope": 2.0})


TINY_MAMBAIC = {"codec": "mambaic", "codec_config": {"N": 8, "M": 12, "slices": 2, "state": 2, "context": 4, "agg": 8,
                                                    "window": 4, "qualities": 2}}


@pytest.mark.parametrize(("tiny", "part"), [(TINY, "g_a"), (TINY_MAMBAIC, "g_s")], ids=["hyperprior", "mambaic"])
def test_compiled_parts_train_like_eager_ones_and_keep_the_state_dict(tiny, part):
    """compile=[...] compiles those parts in place: the state dict (so checkpoints and exports) keeps
    its keys, and a training forward and backward give the eager module's loss and gradients. The
    mambaic: one of the parts train_continue.py compiles for it (its CNN transforms)."""
    torch.manual_seed(0)
    eager = ImageCodecModule(**tiny)
    compiled = ImageCodecModule(**tiny, compile=[part])  # one part: a compile costs seconds
    compiled.codec.load_state_dict(eager.codec.state_dict())
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert getattr(compiled.codec, part)._compiled_call_impl is not None
    assert getattr(eager.codec, part)._compiled_call_impl is None
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    q = torch.tensor([1, 1])
    losses, grads = [], []
    for m in (eager, compiled):
        torch.manual_seed(2)  # the same training noise
        out = m.codec(x, q)
        loss = (m.codec.bpp(out["likelihoods"], 64 * 64) + 255.0**2 * ((out["x_hat"] - x) ** 2).flatten(1).mean(1)).mean()
        loss.backward()
        losses.append(loss.item())
        grads.append(next(p for p in getattr(m.codec, part).parameters() if p.grad is not None).grad.clone())
    assert math.isclose(losses[0], losses[1], rel_tol=1e-4)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="no submodule"):
        ImageCodecModule(**TINY, compile=["g_x"])
