"""neurocodec's own transform layers and factorised density give exactly what compressai's give
for the same weights (the shipped checkpoints were trained with compressai's), and never import it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from neurocodec.nn import transforms as T
from neurocodec.nn.factorized import FactorizedDensity

compressai = pytest.importorskip("compressai", reason="compressai is the reference these layers are checked against")


def _same(ours: torch.nn.Module, ref: torch.nn.Module, *inputs: torch.Tensor) -> None:
    ref.load_state_dict(ours.state_dict())  # same names and shapes, strictly
    assert set(ours.state_dict()) == set(ref.state_dict())
    a, b = ours(*inputs), ref(*inputs)
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        assert torch.equal(x, y)


def test_transform_layers_match_compressai():
    from compressai import layers as L
    from compressai.models import utils as U

    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 12)
    with torch.no_grad():
        for ours, ref in [
            (T.GDN(8), L.GDN(8)), (T.GDN(8, inverse=True), L.GDN(8, inverse=True)),
            (T.ResidualBlock(8, 8), L.ResidualBlock(8, 8)), (T.ResidualBlock(8, 6), L.ResidualBlock(8, 6)),
            (T.ResidualBlockWithStride(8, 6), L.ResidualBlockWithStride(8, 6)),
            (T.ResidualBlockUpsample(8, 6), L.ResidualBlockUpsample(8, 6)),
            (T.subpel_conv3x3(8, 4, 2), L.subpel_conv3x3(8, 4, 2)),
            (T.conv(8, 5), U.conv(8, 5)), (T.deconv(8, 5), U.deconv(8, 5)),
        ]:
            for p in ours.parameters():
                p.add_(0.05 * torch.randn_like(p))  # away from the initial values
            _same(ours, ref, x)


def test_factorized_density_matches_compressai():
    from compressai.entropy_models import EntropyBottleneck

    torch.manual_seed(1)
    ours, ref = FactorizedDensity(6), EntropyBottleneck(6)
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.load_state_dict(ours.state_dict())
    y = torch.randn(2, 6, 5, 7) * 3
    a, b = ours(y, training=False), ref(y, training=False)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(ours.loss(), ref.loss())
    ours.train()
    torch.manual_seed(2)
    out, lik = ours(y)
    lik.log().sum().neg().backward()
    assert ours.matrices[0].grad is not None and ours.quantiles.grad is None  # quantiles: aux loss only
    ours._update_quantiles()
    ref._update_quantiles()
    assert torch.allclose(ours.quantiles, ref.quantiles, atol=2e-3)


def test_codecs_do_not_import_compressai():
    code = ("import sys; from neurocodec.codecs import registry; registry.build('gmm', N=8, M=12); "
            "registry.build('hyperprior', N=8, M=12); assert 'compressai' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_factorized_density_loads_a_compressai_layer_with_tables():
    from compressai.entropy_models import EntropyBottleneck

    ref = EntropyBottleneck(4)
    ref.update(force=True)  # fills compressai's own coder tables
    ours = FactorizedDensity(4)
    ours.load_state_dict(ref.state_dict())
    assert torch.equal(ours.quantiles, ref.quantiles)
