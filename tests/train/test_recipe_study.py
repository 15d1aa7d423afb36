"""scripts/recipe_study.py's mambaic ablation arms: both start as exactly the hyperprior they are
built from (context and mixers at zero), differ only in the mixer, and have equal parameter
counts (within 1 %), so what their runs measure is the mixer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from neurocodec.train.image_module import ImageCodecModule
from tests.codecs.conftest import shipped

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import recipe_study as rs  # noqa: E402 - a script, importable once scripts/ is on the path


def _arm_module(name: str, runs: Path) -> ImageCodecModule:
    """The module the arm's training would build: base config overlaid by the arm's YAML."""
    base = yaml.safe_load((rs.CONFIG.parent / rs.FROM_PARTS[name]).read_text())["model"]["init_args"]
    arm = yaml.safe_load(rs.arm_config(name, "hyperprior", 60.0, runs).read_text())["model"]["init_args"]
    return ImageCodecModule(**{**base, **arm})


def test_mambaic_ablation_arms_start_as_the_hyperprior(tmp_path):
    hp = shipped("hyperprior").eval()
    x = torch.rand(1, 3, 8, 8).repeat_interleave(8, -1).repeat_interleave(8, -2)  # 64 x 64, blocky
    with torch.no_grad():
        ref = hp(x, hp.level(3))
    params = {}
    for mixer in ("vss", "conv"):
        module = _arm_module(f"mambaic-{mixer}", tmp_path)
        codec = module.codec.eval()
        assert codec.config["mixer"] == mixer
        assert module.hparams.lr_scale == {"channel_context": 10, "spatial_context": 10, "parameters_net": 10}
        with torch.no_grad():
            out = codec(x, codec.level(3))
        assert torch.equal(out["x_hat"], ref["x_hat"])
        for key in ("y", "z"):
            assert torch.allclose(out["likelihoods"][key], ref["likelihoods"][key], rtol=1e-4, atol=1e-7), key
        params[mixer] = sum(p.numel() for p in codec.parameters())
    assert params["conv"] == pytest.approx(params["vss"], rel=0.01)
