"""Torch layers: training likelihoods, compress/decompress round trips, real vs estimated rate."""

from __future__ import annotations

import io

import pytest
import torch

from neurocodec.entropy import Family
from neurocodec.entropy.layers import (
    CategoricalPrior,
    EntropyBottleneck,
    GaussianConditional,
    GaussianMixtureConditional,
)


def _bits(lik: torch.Tensor) -> float:
    return float(-torch.log2(lik.detach()).sum())


@pytest.mark.parametrize("family", list(Family))
def test_gaussian_conditional_roundtrip_and_rate(family):
    g = torch.Generator().manual_seed(0)
    shape = (2, 32, 48, 64)
    scales = torch.exp(torch.empty(shape).uniform_(-1.5, 2.5, generator=g))
    means = torch.randn(shape, generator=g) * 3
    y = means + torch.randn(shape, generator=g) * scales
    layer = GaussianConditional(family).eval()
    y_hat, lik = layer(y, scales, means)
    data, y_hat_c = layer.compress(y, scales, means)
    assert torch.equal(y_hat_c, y_hat)
    assert torch.equal(layer.decompress(data, scales, means), y_hat)
    est = _bits(lik)
    # the real stream vs the float estimate: scales on a 4% grid, 16-bit probabilities
    assert abs(8 * len(data) / est - 1) < 0.01, 8 * len(data) / est


def test_training_quantization_modes():
    y = torch.randn(4, 8, 5, 5, requires_grad=True)
    scales = torch.ones_like(y)
    for mode in ("noise", "ste"):
        layer = GaussianConditional(quantization=mode).train()
        y_hat, lik = layer(y, scales)
        if mode == "ste":
            assert torch.equal(y_hat, torch.round(y))
        else:
            assert (y_hat - y).abs().max() <= 0.5 and not torch.equal(y_hat, torch.round(y))
        (y_hat.sum() + lik.log().sum()).backward()
        assert y.grad is not None and torch.isfinite(y.grad).all()
        y.grad = None
    with pytest.raises(ValueError):
        GaussianConditional(quantization="bogus").train()(y, scales)


def test_mixture_roundtrip_and_rate():
    g = torch.Generator().manual_seed(1)
    shape, k = (1, 16, 32, 32), 3
    means = torch.randn(*shape, k, generator=g) * 4
    scales = torch.exp(torch.empty(*shape, k).uniform_(-1, 2, generator=g))
    weights = torch.softmax(torch.randn(*shape, k, generator=g), -1)
    comp = torch.multinomial(weights.reshape(-1, k), 1, generator=g).reshape(shape)
    y = torch.gather(means, -1, comp[..., None])[..., 0] + torch.randn(shape, generator=g) * torch.gather(scales, -1, comp[..., None])[..., 0]
    layer = GaussianMixtureConditional(k).eval()
    y_hat, lik = layer(y, means, scales, weights)
    data, y_hat_c = layer.compress(y, means, scales, weights)
    assert torch.equal(y_hat_c, y_hat) and torch.equal(layer.decompress(data, means, scales, weights), y_hat)
    assert abs(8 * len(data) / _bits(lik) - 1) < 0.02


def test_entropy_bottleneck_tables_travel_in_state_dict():
    torch.manual_seed(0)
    eb = EntropyBottleneck(8)
    opt = torch.optim.Adam(eb.parameters(), lr=1e-2)
    for _ in range(200):  # fit the density to N(0, 2) data a little
        y = torch.randn(16, 8, 8, 8) * 2
        _, lik = eb(y)
        loss = -torch.log2(lik).mean() + eb.loss()
        opt.zero_grad(); loss.backward(); opt.step()
    eb.eval()
    with pytest.raises(RuntimeError, match="update"):
        eb.compress(torch.zeros(1, 8, 2, 2))
    assert eb.update()
    y = torch.randn(1, 8, 64, 64) * 2
    y_hat, lik = eb(y)
    data, y_hat_c = eb.compress(y)
    assert torch.allclose(y_hat_c, y_hat)
    buf = io.BytesIO()
    torch.save(eb.state_dict(), buf)
    fresh = EntropyBottleneck(8)
    fresh.load_state_dict(torch.load(io.BytesIO(buf.getvalue())))
    assert torch.equal(fresh.nc_cdfs, eb.nc_cdfs)
    assert torch.equal(fresh.eval().decompress(data, y.shape), y_hat_c)
    assert abs(8 * len(data) / _bits(lik) - 1) < 0.02


def test_categorical_prior():
    torch.manual_seed(0)
    prior = CategoricalPrior(num_codebooks=4, codebook_size=64)
    with torch.no_grad():
        prior.logits.copy_(torch.randn(4, 64) * 2)
    probs = torch.softmax(prior.logits.detach(), -1)
    idx = torch.stack([torch.multinomial(probs[q], 3000, replacement=True) for q in range(4)])[None]  # [1, 4, 3000]
    lik = prior(idx)
    assert torch.allclose(lik[0], probs.gather(1, idx[0]))
    prior.update()
    data = prior.compress(idx)
    assert torch.equal(prior.decompress(data, idx.shape), idx)
    assert abs(8 * len(data) / _bits(lik) - 1) < 0.01


def test_training_mode_drops_stale_tables():
    from neurocodec.codecs import registry

    codec = registry.build("hyperprior", N=8, M=8, qualities=2).eval()
    codec.update()
    assert codec.entropy_bottleneck.tables_ready
    codec.train()
    assert not codec.entropy_bottleneck.tables_ready
    codec.eval().update()
    assert codec.entropy_bottleneck.tables_ready


def test_rates_stay_float32_under_bf16_autocast():
    """bf16-mixed training: the layers widen bfloat16 inputs and compute noise, rounding and
    likelihoods in float32 with autocast off, so the rate equals the float32 computation on the
    same (bfloat16-valued) inputs exactly; without the guard the factorised density's
    sigmoid differences would be bfloat16 (steps of 2^-9)."""
    g = torch.Generator().manual_seed(3)
    y = (torch.randn(2, 8, 6, 5, generator=g) * 20).bfloat16()
    scales = torch.exp(torch.empty(y.shape).uniform_(-1, 3, generator=g)).bfloat16()
    means = torch.randn(y.shape, generator=g).bfloat16()
    gc = GaussianConditional(Family.GAUSSIAN).train()
    eb = EntropyBottleneck(8).train()
    gmm = GaussianMixtureConditional(k=3).train()
    w = torch.softmax(torch.randn(*y.shape, 3, generator=g), -1).bfloat16()
    mix = (means[..., None] + torch.arange(3.0), scales[..., None].expand(*y.shape, 3), w)
    for layer, args in ((gc, (scales, means)), (eb, ()), (gmm, mix)):
        layer.quantization = "ste"  # deterministic, so both passes see the same y_hat
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y_hat, lik = layer(y, *args)
        y_ref, lik_ref = layer(y.float(), *(a.float() for a in args))
        assert y_hat.dtype == lik.dtype == torch.float32
        assert torch.equal(y_hat, y_ref) and torch.equal(lik, lik_ref), type(layer).__name__
    # the uniform-noise proxy is drawn in float32 as well: a latent near 100 keeps its fractions
    gc.quantization = "noise"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_hat, _ = gc(torch.full((1, 1, 64, 64), 100.0).bfloat16(), torch.ones(1, 1, 64, 64))
    assert len(torch.unique(y_hat)) > 1000
