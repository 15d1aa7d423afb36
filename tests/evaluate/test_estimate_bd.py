"""scripts/estimate_bd.py: estimated RD curves rise with quality, a codec scores 0 against
itself, and A@B starts A from B's parts (a mambaic on a hyperprior codes as that hyperprior)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from neurocodec.evaluate.bd import bd_rate
from tests.codecs.conftest import shipped

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("estimate_bd", ROOT / "scripts" / "estimate_bd.py")
eb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eb)


def test_curves_and_start_from_parts():
    shipped("hyperprior")
    shipped("mambaic")
    x = torch.rand(1, 3, 8, 8).repeat_interleave(16, -1).repeat_interleave(12, -2)[..., :96, :128]  # blocky, compressible
    hp = eb.curve(eb.load("hyperprior"), [x])
    assert all(a < b for a, b in zip(hp[0], hp[0][1:])) and hp[1][-1] > hp[1][0]
    assert bd_rate(*hp, *hp) == pytest.approx(0.0, abs=1e-9)
    moved = eb.load("mambaic@hyperprior")
    assert torch.equal(moved.g_s[0].weight, eb.load("hyperprior").g_s[0].weight)
    assert not torch.equal(moved.g_s[0].weight, eb.load("mambaic").g_s[0].weight)
