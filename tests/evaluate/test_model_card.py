"""scripts/model_card.py: a stage's command is written as it was run, with its run's hours."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
mc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mc)


def test_stage_command():
    yaml = "neurocodec/train/configs/shallow-cpu.yaml --model.init_args.lr 1e-4"
    assert mc.stage_how(yaml, lightning=True) == f"neurocodec-train fit --config {yaml}"
    # train_continue.py runs neurocodec-train itself: its command line is the stage's command
    cont = "scripts/train_continue.py shallow-2l --threads 1 --minutes 120"
    assert mc.stage_how(cont, lightning=True) == cont
    # a codec .pt (entropy_finetune's): --config is the command
    ft = "python -m neurocodec.train.entropy_finetune gmm --minutes 40"
    assert mc.stage_how(ft, lightning=False) == ft
    assert mc.stage_how(yaml, lightning=False) == yaml


def test_run_hours(tmp_path):
    ckpt = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    # the checkpoint's own clock wins over file times (a later resume rewrites the folder's files)
    assert mc.run_hours({"wall_seconds": 4896.6}, ckpt) == 4896.6 / 3600
    # an older checkpoint without a clock: the folder's age at the checkpoint
    log = tmp_path / "version_0" / "hparams.yaml"
    log.write_text("a: 1")
    os.utime(log, (1000.0, 1000.0))
    os.utime(ckpt, (1000.0 + 7200, 1000.0 + 7200))
    assert mc.run_hours({}, ckpt) == 2.0


def test_carry_measurements_from_the_card_replaced():
    """What a new card did not measure comes from the card it replaces, marked with the weights
    it was measured on; what it did measure is never overwritten."""
    refined_a = {"images": ["k1"], "variants": {"100": {"bd_rate_pct_vs_unrefined_psnr_rgb": -8.0}}}
    previous = {"weights_hash": "bbbb", "kodak_refined": refined_a,
                "kodak_refined_previous_weights": [{"images": ["k1"], "weights": "aaaa"}],
                "speed": {"decode_s_1_threads": 0.7, "measured_on_weights": "aaaa"},
                "ablation": {"arms": [1, 2]}, "published_context": "paper: -12.5 %"}
    card = mc.carry_measurements({"weights_hash": "cccc"}, previous)
    assert [r["weights"] for r in card["kodak_refined_previous_weights"]] == ["aaaa", "bbbb"]
    assert card["kodak_refined_previous_weights"][1]["variants"] == refined_a["variants"]
    assert "kodak_refined" not in card
    assert card["speed"]["decode_s_1_threads"] == 0.7 and card["speed"]["measured_on_weights"] == "aaaa"
    assert card["ablation"]["measured_on_weights"] == "bbbb" and card["ablation"]["note"] == mc.EARLIER
    assert card["published_context"] == "paper: -12.5 %"
    # a note on how the speed was measured survives the mark, once
    noted = {**previous, "speed": {"decode_s_1_threads": 0.7, "note": "host 1.1x slow"}}
    card = mc.carry_measurements({"weights_hash": "cccc"}, noted)
    assert card["speed"]["note"] == f"{mc.EARLIER}; host 1.1x slow"
    again = mc.carry_measurements({"weights_hash": "dddd"}, card)
    assert again["speed"]["note"] == card["speed"]["note"] and again["speed"]["measured_on_weights"] == "bbbb"
    # measured on the new weights: kept as measured; the old refined points still join the history
    new = {"weights_hash": "cccc", "speed": {"decode_s_1_threads": 0.5}, "kodak_refined": {"images": ["k2"]}}
    card = mc.carry_measurements(new, previous)
    assert card["speed"] == {"decode_s_1_threads": 0.5} and card["kodak_refined"] == {"images": ["k2"]}
    assert [r["weights"] for r in card["kodak_refined_previous_weights"]] == ["aaaa", "bbbb"]
    assert mc.carry_measurements({"weights_hash": "x"}, {"weights_hash": "y"}) == {"weights_hash": "x"}


def test_speed_with_control_brackets_the_codec_with_the_shipped_hyperprior(tmp_path):
    """--update-speed --speed-control: the hyperprior is measured the same way before and after,
    and the host's slowdown is their mean over the hyperprior card's own decode time."""
    import json

    import numpy as np
    from PIL import Image

    from neurocodec.codecs import registry

    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(img)
    out = mc.speed_with_control(registry.load(registry.CHECKPOINT_DIR / "shallow-jpeg.pt"), [img])
    ctl = out["control"]
    card = json.loads((registry.CHECKPOINT_DIR / "hyperprior.json").read_text())["speed"]["decode_s_1_threads"]
    assert out["images"] == ["a.png"] and out["decode_s_1_threads"] > 0
    assert ctl["codec"] == "hyperprior" and len(ctl["weights"]) == 16 and ctl["its_card_decode_s_1_threads"] == card
    assert len(ctl["decode_s_1_threads"]) == 2 and min(ctl["decode_s_1_threads"]) > 0
    assert ctl["host_slowdown"] == round(sum(ctl["decode_s_1_threads"]) / 2 / card, 2)


def test_speed_note_names_the_command_that_measured_it():
    """--update-speed writes its own note: the date and the command line that reproduces it."""
    import datetime as dt

    today = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
    note = mc.speed_note("shallow-2l", 4, True)
    assert note == (f"measured on {today} (scripts/model_card.py --name shallow-2l --checkpoint checkpoints/shallow-2l.pt "
                    "--config - --update-speed --speed-images 4 --speed-control); control: the shipped hyperprior, "
                    "measured the same way before and after")
    assert mc.speed_note("hyperprior", 2, False).endswith("--update-speed --speed-images 2)")
