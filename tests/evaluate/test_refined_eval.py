"""`NAME+refineN` in the evaluation runner: the codec NAME with N refinement steps, recorded as
such, decoded by NAME's unchanged decoder, never costlier than NAME by real RD cost."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from neurocodec.cli import main
from neurocodec.errors import InputError
from neurocodec.evaluate import refined
from neurocodec.evaluate.modalities import get_modality


def test_names_parse():
    assert refined.parse("hyperprior+refine100") == ("hyperprior", 100)
    assert refined.parse("hyperprior") is None
    with pytest.raises(InputError):
        refined.parse("gmm+refine0")


def test_runner_records_the_refined_variant(tmp_path):
    from neurocodec.demo import sample_image_path
    from neurocodec.io.images import load_image

    photo = load_image(sample_image_path())
    folder = tmp_path / "imgs"
    folder.mkdir()
    rgb = np.ascontiguousarray(photo[200:264, 150:246])
    Image.fromarray(rgb).save(folder / "a.png")
    assert main(["eval", "--data", str(folder), "--codecs", "hyperprior,hyperprior+refine4", "--out", str(tmp_path / "r"),
                 "--qualities", "3", "--no-progress"]) == 0
    plain = json.loads((tmp_path / "r" / "imgs-hyperprior.json").read_text())
    ref = json.loads((tmp_path / "r" / "imgs-hyperprior+refine4.json").read_text())
    assert ref["codec"]["settings"]["refine_steps"] == 4 and ref["codec"]["weights_hash"] == plain["codec"]["weights_hash"]
    p, r = plain["levels"][0]["items"][0], ref["levels"][0]["items"][0]
    lam = 0.0067 * 255 ** 2  # quality 3 of the shipped hyperprior: cost = lambda * 255^2 * MSE + bpp
    cost = lambda rec: lam * 10 ** (-rec["psnr_rgb"] / 10) + rec["bpp"]  # noqa: E731  (MSE = 10^(-PSNR/10))
    assert cost(r) <= cost(p) * 1.001  # the runner measures on uint8 output: allow rounding
    codec = get_modality("image").load_codec("hyperprior+refine4")
    data = codec.encode_image(rgb, 3)
    assert codec.decode_image(data).shape == rgb.shape
