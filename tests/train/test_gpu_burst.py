"""The GPU burst script end to end on CPU with a tiny budget: it continues the shipped
hyperprior, exports it, and writes a card measured from real files, in the folder that comes
back from the device (synthetic photos stand in for the training set and Kodak)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from neurocodec.codecs import registry
from tests.codecs.conftest import shipped
from tests.train.test_train_cli import _photos

ROOT = Path(__file__).resolve().parents[2]


def test_burst_end_to_end_on_cpu(tmp_path):
    shipped("hyperprior")
    data = tmp_path / "data"
    _photos(data / "train_images" / "wikipedia_photos_downsampled", 3, (160, 170))
    _photos(data / "kodak", 2, (192, 176))
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = dict(os.environ, PYTHON=sys.executable, MODELS="hyperprior", MINUTES="0.02", BATCH="2", PATCH="64",
               THREADS="1", CARD_IMAGES="1", ACCEL="cpu", DATA=str(data), OUT=str(out), RUNS=str(runs))
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_burst.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    card = json.loads((out / "hyperprior.json").read_text())
    old = json.loads((ROOT / "checkpoints" / "hyperprior.json").read_text())
    # the shipped stages come first, then the burst's own; quick card on 1 image, every level
    assert card["training"]["stages"][: len(old["training"]["stages"])] == old["training"]["stages"]
    assert len(card["training"]["stages"]) == len(old["training"]["stages"]) + 1
    new_steps = card["training"]["stages"][-1]["steps"]
    assert new_steps > 0 and card["training"]["steps"] == old["training"]["steps"] + new_steps
    assert card["kodak"]["images"] == 1 and len(card["kodak"]["points"]) == 6
    assert card["training"]["hardware"] == "CPU burst"
    ceiling = card["kodak"]["transform_ceiling_psnr_rgb"]
    assert ceiling["images"] == 1 and all(15 < ceiling[str(q)] < 60 for q in range(1, 7))

    # the exported weights are new (trained), and code a file that decodes to the card's numbers
    codec = registry.load(out / "hyperprior.pt")
    assert codec.weights_hash().hex() == card["weights_hash"] != old["weights_hash"]
    result = json.loads((out / "kodak-hyperprior.json").read_text())
    rec = result["levels"][2]["items"][0]
    from neurocodec.io.images import load_image

    img = load_image(data / "kodak" / rec["item"])
    assert len(codec.encode_image(img, 3)) == rec["bytes"]
    assert np.isclose(card["kodak"]["points"][2]["bpp"], round(rec["bpp"], 4))
    assert torch.load(runs / "hyperprior" / "version_0" / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=False)["wall_seconds"] >= 1.2
