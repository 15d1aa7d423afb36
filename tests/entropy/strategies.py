"""Hypothesis strategies and helpers for entropy-layer tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from neurocodec.entropy import Family, MixtureModel, ParametricModel, TableModel

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

families = st.sampled_from(list(Family))


@st.composite
def parametric_cases(draw, max_n: int = 400):
    """(symbols, model): random means (incl. far away), scales over the whole table, and
    symbols near the mean, far away, and at the int32 extremes."""
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mean_span = draw(st.sampled_from([0.0, 3.0, 1e3, 8e6]))
    means = rng.uniform(-mean_span, mean_span, n)
    scales = np.exp(rng.uniform(np.log(0.01), np.log(1e4), n))
    sym = np.round(rng.normal(means, scales)).clip(INT32_MIN, INT32_MAX)
    far = rng.random(n) < draw(st.sampled_from([0.0, 0.05, 0.5]))
    sym[far] = rng.integers(INT32_MIN, INT32_MAX, far.sum(), endpoint=True)
    return sym.astype(np.int32), ParametricModel.from_float(means, scales, draw(families))


@st.composite
def mixture_cases(draw, max_n: int = 300):
    n = draw(st.integers(0, max_n))
    k = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    means = rng.normal(0, draw(st.sampled_from([1.0, 50.0, 1e5])), (n, k))
    scales = np.exp(rng.uniform(np.log(0.05), np.log(5e3), (n, k)))
    w = rng.dirichlet(np.full(k, draw(st.sampled_from([0.05, 1.0, 10.0]))), n)
    w[rng.random((n, k)) < 0.2] = 1e-9  # near-zero weights
    comp = rng.integers(0, k, n)
    sym = np.round(rng.normal(means[np.arange(n), comp], scales[np.arange(n), comp]))
    far = rng.random(n) < 0.05
    sym[far] = rng.integers(INT32_MIN, INT32_MAX, far.sum(), endpoint=True)
    sym = sym.clip(INT32_MIN, INT32_MAX).astype(np.int32)
    return sym, MixtureModel.from_float(means, scales, w, draw(families))


@st.composite
def table_cases(draw, max_n: int = 400):
    n = draw(st.integers(0, max_n))
    t = draw(st.integers(1, 6))
    size = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pmfs = rng.dirichlet(np.full(size, draw(st.sampled_from([0.01, 1.0]))), t)
    lengths = rng.integers(1, size + 1, t)
    offsets = rng.integers(-1000, 1000, t)
    idx = rng.integers(0, t, n)
    sym = offsets[idx] + rng.integers(-5, size + 5, n)
    far = rng.random(n) < 0.02
    sym[far] = rng.integers(INT32_MIN, INT32_MAX, far.sum(), endpoint=True)
    model = TableModel.from_pmfs(pmfs, offsets=offsets.astype(np.int32), indexes=idx.astype(np.int32), lengths=lengths)
    return sym.clip(INT32_MIN, INT32_MAX).astype(np.int32), model
