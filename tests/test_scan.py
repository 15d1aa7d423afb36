"""The selective scan: the chunked float scan against the step-by-step recurrence (outputs and
gradients), cross-scan/merge, long sequences, the analytic FLOP count."""

from __future__ import annotations

import pytest
import torch

from neurocodec.nn.scan import (
    count_scan_flops,
    cross_merge,
    cross_scan,
    selective_scan,
    selective_scan_reference,
)


def _inputs(b: int, d: int, n: int, length: int, groups: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, d, length, generator=g, dtype=torch.float64)
    delta = torch.nn.functional.softplus(torch.randn(b, d, length, generator=g, dtype=torch.float64) - 2)
    A = -torch.rand(d, n, generator=g, dtype=torch.float64) * 3 - 0.1
    Bm = torch.randn(b, groups, n, length, generator=g, dtype=torch.float64)
    Cm = torch.randn(b, groups, n, length, generator=g, dtype=torch.float64)
    D = torch.randn(d, generator=g, dtype=torch.float64)
    return [t.requires_grad_() for t in (u, delta, A, Bm, Cm, D)]


@pytest.mark.parametrize("n", [1, 16])
@pytest.mark.parametrize("length,chunk", [(37, 1), (37, 8), (64, 16), (5, 32)])
def test_chunked_scan_matches_the_recurrence(n, length, chunk):
    args = _inputs(2, 8, n, length, groups=4)
    y = selective_scan(*args, chunk=chunk)
    ref = selective_scan_reference(*args)
    assert y.shape == (2, 8, length)
    assert torch.allclose(y, ref, rtol=1e-5, atol=1e-8 * ref.abs().max().item())
    w = torch.randn_like(y)
    grads = torch.autograd.grad((y * w).sum(), args)
    grads_ref = torch.autograd.grad((ref * w).sum(), args)
    for a, r in zip(grads, grads_ref):
        assert torch.allclose(a, r, rtol=1e-5, atol=1e-8 * r.abs().max().item())


def test_long_sequences_stay_finite():
    u, delta, A, Bm, Cm, D = (t.detach().float() for t in _inputs(1, 4, 16, 5000, groups=1))
    delta = delta * 20  # strong decays: exp(S_t) underflows in a naive cumulative product
    y = selective_scan(u, delta, A, Bm, Cm, D, chunk=64)
    assert torch.isfinite(y).all()
    assert torch.allclose(y[..., :300], selective_scan_reference(u[..., :300], delta[..., :300], A, Bm[..., :300],
                                                                 Cm[..., :300], D), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h,w", [(1, 1), (3, 5), (8, 8)])
def test_cross_scan_and_merge_are_inverses(h, w):
    x = torch.randn(2, 3, h, w)
    seq = cross_scan(x)
    assert seq.shape == (2, 4, 3, h * w)
    for k in range(4):  # each direction alone merges back to the input
        only = torch.zeros_like(seq)
        only[:, k] = seq[:, k]
        assert torch.equal(cross_merge(only, h, w), x)
    assert torch.equal(cross_merge(seq, h, w), 4 * x)


def test_flops_are_counted_analytically():
    args = [t.detach() for t in _inputs(2, 8, 4, 10, groups=1)]
    with count_scan_flops() as box:
        selective_scan(*args)
    assert box[0] == 9 * 2 * 10 * 8 * 4
    selective_scan(*args)  # outside a block: nothing to count, nothing kept
    assert box[0] == 9 * 2 * 10 * 8 * 4


def test_scan_runs_in_float32_under_bf16_autocast():
    """bf16-mixed training: bfloat16 inputs under autocast give exactly the float32 scan of the
    same values (the recurrence never runs in bfloat16)."""
    args = [t.detach().float().bfloat16() for t in _inputs(2, 8, 16, 45, groups=4)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = selective_scan(*args, chunk=16)
    ref = selective_scan(*(t.float() for t in args), chunk=16)
    assert y.dtype == torch.float32 and torch.equal(y, ref)
