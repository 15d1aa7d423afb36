"""scripts/context_potential.py: the fitted checkerboard context finds a planted spatial
correlation between anchors and non-anchors, and finds nothing in independent residuals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("context_potential", ROOT / "scripts" / "context_potential.py")
cp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cp)


def _latent(seed: int, smooth: bool, M: int = 6, h: int = 32, w: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    field = torch.randn(1, M, h, w, generator=g) * 3.0
    if smooth:  # neighbours nearly equal: the non-anchors are predictable from the anchors
        k = torch.ones(M, 1, 5, 5) / 25
        field = F.conv2d(F.pad(field, (2, 2, 2, 2), mode="replicate"), k, groups=M) * 5.0
    return torch.round(field), torch.full((1, M, h, w), 3.0)


def _saving(smooth: bool) -> float:
    train = cp._stack([cp.neighbour_features(*_latent(s, smooth)) for s in range(3)])
    test = cp.neighbour_features(*_latent(99, smooth))
    model = cp.fit(train, cross=False, steps=200)
    base = float(cp.gaussian_bits(test["r"], torch.zeros_like(test["r"]), test["s"]).sum())
    with torch.no_grad():
        new = float(model.bits(test).sum())
    return 100 * (1 - new / base)


def test_finds_a_planted_correlation_and_nothing_in_noise():
    assert _saving(smooth=True) > 25.0
    assert abs(_saving(smooth=False)) < 1.5


def test_neighbour_features_average_the_anchors_only():
    r = torch.zeros(1, 1, 4, 4)
    r[0, 0, 0, 0] = 4.0  # an anchor ((0 + 0) even)
    r[0, 0, 0, 1] = 100.0  # a non-anchor: never a feature
    f = cp.neighbour_features(r, torch.ones_like(r))
    # non-anchors in row-major order: (0,1), (0,3), (1,0), (1,2), ...; (0,1) sees anchors (0,0), (0,2), (1,1)
    assert f["r"][0, 0] == 100.0
    assert torch.isclose(f["mean_r"][0, 0], torch.tensor(4.0 / 3))
    assert torch.isclose(f["mean_r"][2, 0], torch.tensor(4.0 / 3))  # (1,0): anchors (0,0), (2,0), (1,1)
    assert f["mean_r"][1, 0] == 0.0
