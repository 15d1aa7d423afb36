"""The CPU coder's SIMD kernels against its scalar ones: identical bytes and identical decodes.

The AVX2 mixture kernel and the scalar kernel compute the same integer CDFs; the decoder's
search (started from the components' quantiles; 4 or 8 probes per step with AVX2, one at a
time without) only changes which points are evaluated, never the decoded symbol. Golden
streams (committed) must decode the same on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocodec.entropy import MixtureModel, _core, decode, encode, set_simd, simd_enabled, simd_supported
from neurocodec.entropy.models import Family
from neurocodec.errors import CorruptStreamError

from .golden.make_golden import load
from .strategies import mixture_cases

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOLDEN = load()
needs_simd = pytest.mark.skipif(not simd_supported(), reason="this CPU has no AVX2")


@contextmanager
def simd(enabled: bool) -> Iterator[None]:
    before = set_simd(enabled)
    try:
        yield
    finally:
        set_simd(before)


def both(fn):  # noqa: ANN001, ANN201
    """fn() with the scalar kernels, then with the SIMD kernels."""
    with simd(False):
        a = fn()
    with simd(True):
        b = fn()
    return a, b


def test_switch():
    with simd(False):
        assert not simd_enabled()
    with simd(True):
        assert simd_enabled() == simd_supported()


@needs_simd
@SETTINGS
@given(mixture_cases(max_n=400), st.sampled_from([None, 1, 3, 17]), st.sampled_from([1, 2]))
def test_mixture_bytes_and_decodes_identical(case, lanes, threads):
    sym, model = case
    d_scalar, d_simd = both(lambda: encode(sym, model, lanes=lanes, threads=threads))
    assert d_scalar == d_simd
    out_scalar, out_simd = both(lambda: decode(d_simd, model, threads=threads).numpy())
    np.testing.assert_array_equal(out_scalar, sym.reshape(model.shape))
    np.testing.assert_array_equal(out_simd, sym.reshape(model.shape))


@needs_simd
@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_every_slot_and_extreme_parameters(family, k):
    """Symbols covering whole supports (every escape boundary), means at the Q8 limits, the
    smallest and largest scales, weights of 1/65536, in both kernels."""
    rng = np.random.default_rng(k * 10 + int(family))
    n = 3000
    means = rng.choice([0.0, 0.49, -0.5, 7.3e6, -8.3e6, 1e9, -1e9], (n, k)) + rng.normal(0, 2, (n, k))
    scales = rng.choice([1e-3, 0.11, 0.5, 3.0, 400.0, 4096.0, 1e6], (n, k))
    w = rng.dirichlet(np.full(k, 0.3), n)
    w[:, 0] += rng.random(n) < 0.3  # one dominant component now and then
    w[rng.random((n, k)) < 0.1] = 1.5e-5  # about one Q16 step
    model = MixtureModel.from_float(means, scales, w, family)
    centre = np.round(means[np.arange(n), rng.integers(0, k, n)])
    sym = (centre + np.round(rng.normal(0, 1, n) * rng.choice([1, 30, 5000], n))).clip(-(2**31), 2**31 - 1)
    sym[::37] = rng.integers(-(2**31), 2**31 - 1, len(sym[::37]))
    sym = sym.astype(np.int32)
    d_scalar, d_simd = both(lambda: encode(sym, model, lanes=5))
    assert d_scalar == d_simd
    for out in both(lambda: decode(d_simd, model).numpy()):
        np.testing.assert_array_equal(out, sym)


@needs_simd
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Family)), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_kernel_cdf_equals_scalar_at_every_point(family, k, seed):
    """The AVX2 kernel's c(v) against the scalar CDF at every point of the support: means near
    zero and at the Q8 limits, every scale index, zero weights."""
    rng = np.random.default_rng(seed)
    means = np.where(rng.random(k) < 0.2, rng.choice([-(2**31) + 128, 2**31 - 128, 2**24], k), rng.normal(0, 2000, k))
    scale_idx = rng.integers(0, 256, k)
    w = rng.dirichlet(np.full(k, 0.5)) * 65536
    w[rng.random(k) < 0.3] = 0
    q = np.floor(w).astype(np.int64)
    q[np.argmax(q)] += 65536 - q.sum()
    args = [np.asarray(a, np.int32) for a in (np.round(means).clip(-(2**31), 2**31 - 1), scale_idx, q)]
    lo_s, c_scalar = _core.mixture_cdfs(int(family), *args, False)
    lo_v, c_simd = _core.mixture_cdfs(int(family), *args, True)
    assert lo_s == lo_v
    np.testing.assert_array_equal(c_scalar, c_simd)
    assert (np.diff(c_scalar) > 0).all() and c_scalar[-1] <= 65535


@needs_simd
@pytest.mark.parametrize("case", [c for c in GOLDEN if isinstance(c["model"], MixtureModel)], ids=lambda c: c["name"])
def test_golden_mixture_streams_decode_on_both(case):
    for enabled in (False, True):
        with simd(enabled):
            assert encode(case["symbols"], case["model"], lanes=case["lanes"], lane_bytes=case["lane_bytes"]) == case["data"]
            np.testing.assert_array_equal(decode(case["data"], case["model"]).numpy(), case["symbols"])


@needs_simd
def test_corrupt_streams_raise_on_both():
    rng = np.random.default_rng(3)
    n = 2000
    model = MixtureModel.from_float(rng.normal(0, 5, (n, 3)), np.exp(rng.uniform(-1, 3, (n, 3))), np.ones((n, 3)))
    data = bytearray(encode(rng.integers(-20, 20, n).astype(np.int32), model, lanes=4))
    for pos in rng.integers(12, len(data), 40):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        results = []
        for enabled in (False, True):
            with simd(enabled):
                try:
                    results.append(decode(bytes(bad), model).numpy())
                except CorruptStreamError:
                    results.append(None)
        if results[0] is None or results[1] is None:
            assert results[0] is None and results[1] is None
        else:
            np.testing.assert_array_equal(results[0], results[1])
