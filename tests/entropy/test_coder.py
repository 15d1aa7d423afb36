"""Round trips, rates and robustness of the CPU rANS coder."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from neurocodec.entropy import (
    Family,
    MixtureModel,
    ParametricModel,
    TableModel,
    code_length_bits,
    decode,
    encode,
)
from neurocodec.entropy.models import tables
from neurocodec.errors import CorruptStreamError, NeurocodecError

from .strategies import mixture_cases, parametric_cases, table_cases

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def roundtrip(sym: np.ndarray, model, **kw) -> bytes:
    data = encode(sym, model, **kw)
    out = decode(data, model, threads=kw.get("threads"))
    np.testing.assert_array_equal(out.numpy(), sym.reshape(model.shape))
    return data


@SETTINGS
@given(parametric_cases(), st.sampled_from([None, 1, 3, 64]))
def test_parametric_roundtrip(case, lanes):
    sym, model = case
    roundtrip(sym, model, lanes=lanes)


@SETTINGS
@given(mixture_cases(), st.sampled_from([None, 2, 17]))
def test_mixture_roundtrip(case, lanes):
    sym, model = case
    roundtrip(sym, model, lanes=lanes)


@SETTINGS
@given(table_cases(), st.sampled_from([None, 1, 5]))
def test_table_roundtrip(case, lanes):
    sym, model = case
    roundtrip(sym, model, lanes=lanes)


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize("scale_idx", [0, 1, 128, 254, 255])
@pytest.mark.parametrize("mean", [0.0, 0.5, -0.49, 1e4, -8.4e6, 8.4e6])
def test_extreme_parameters(family, scale_idx, mean):
    rng = np.random.default_rng(scale_idx)
    scale = float(tables()["scales"][scale_idx])
    sym = np.concatenate([
        np.round(rng.normal(mean, scale, 300)),
        [mean, mean + 1e6, -(2**31), 2**31 - 1, 0, -1, 1],
    ]).clip(-(2**31), 2**31 - 1).astype(np.int32)
    model = ParametricModel(family, np.full(sym.shape, round(mean * 256), np.int32), np.full(sym.shape, scale_idx, np.int32))
    roundtrip(sym, model)


def test_empty_and_single_symbol():
    for n in (0, 1):
        sym = np.full(n, 7, np.int32)
        m = ParametricModel.from_float(np.zeros(n), np.ones(n))
        data = roundtrip(sym, m)
        assert len(data) <= 12
        roundtrip(sym, MixtureModel.from_float(np.zeros((n, 3)), np.ones((n, 3)), np.ones((n, 3))))
        roundtrip(sym, TableModel.from_pmfs(np.ones((1, 4)), indexes=np.zeros(n, np.int32)))


def test_multidimensional_shapes_and_dtypes():
    rng = np.random.default_rng(1)
    sym = rng.integers(-4, 5, (2, 3, 5, 7)).astype(np.int64)
    m = ParametricModel.from_float(np.zeros(sym.shape), np.full(sym.shape, 2.0))
    out = decode(encode(sym, m), m)
    assert out.shape == sym.shape and out.dtype.is_floating_point is False
    np.testing.assert_array_equal(out.numpy(), sym)
    with pytest.raises(TypeError):
        encode(sym.astype(np.float32), m)
    with pytest.raises(ValueError):
        encode(sym[:1], m)
    with pytest.raises(ValueError):
        encode(np.full(sym.shape, 2**40), m)


def test_bytes_do_not_depend_on_threads():
    rng = np.random.default_rng(2)
    n = 300_000
    mu, sc = rng.normal(0, 4, n), np.exp(rng.uniform(-2, 3, n))
    sym = np.round(rng.normal(mu, sc)).astype(np.int32)
    m = ParametricModel.from_float(mu, sc)
    ref = encode(sym, m, threads=1)
    assert ref[2:] != b""
    for t in (2, 3, 8):
        assert encode(sym, m, threads=t) == ref
        np.testing.assert_array_equal(decode(ref, m, threads=t).numpy(), sym)


def test_many_lanes():
    rng = np.random.default_rng(3)
    sym = rng.integers(-3, 4, 5000).astype(np.int32)
    m = ParametricModel.from_float(np.zeros(5000), np.full(5000, 1.5))
    d1, d_all = encode(sym, m, lanes=1), encode(sym, m, lanes=5000)
    np.testing.assert_array_equal(decode(d_all, m).numpy(), sym)
    assert len(d_all) > len(d1)  # every lane costs its state and length
    assert encode(sym, m, lanes=10**6) == d_all  # capped at one lane per symbol


def _ideal_bits_gaussian(sym, mu, sc):
    p = norm.cdf(sym + 0.5, mu, sc) - norm.cdf(sym - 0.5, mu, sc)
    return float(-np.log2(p).sum())


def _lane_overhead_bytes(data: bytes) -> int:
    # header (version, tag, varints) + 4 state bytes per lane: read L from the stream
    pos, vals = 2, []
    for _ in range(2):
        v = shift = 0
        while True:
            b = data[pos]; pos += 1
            v |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        vals.append(v)
    lanes = vals[1]
    return pos + lanes * (3 + 4 + 2)  # per lane: length varint <= 3, state 4, a final word


@pytest.mark.parametrize("kind", ["gaussian", "mixture", "table"])
def test_rate_close_to_ideal(kind):
    """On 200k symbols the stream is within 0.5% of -sum(log2 p) of the *continuous*
    distribution the symbols were drawn from, plus the fixed per-lane bytes."""
    rng = np.random.default_rng(4)
    n = 200_000
    if kind == "gaussian":
        mu, sc = rng.normal(0, 3, n), np.exp(rng.uniform(np.log(0.3), np.log(30), n))
        sym = np.round(rng.normal(mu, sc)).astype(np.int32)
        model = ParametricModel.from_float(mu, sc)
        ideal = _ideal_bits_gaussian(sym, mu, sc)
    elif kind == "mixture":
        k = 4
        mu = rng.normal(0, 6, (n, k)); sc = np.exp(rng.uniform(np.log(0.5), np.log(8), (n, k)))
        w = rng.dirichlet(np.ones(k), n)
        comp = (rng.random(n)[:, None] > np.cumsum(w, 1)).sum(1).clip(0, k - 1)
        sym = np.round(rng.normal(mu[np.arange(n), comp], sc[np.arange(n), comp])).astype(np.int32)
        model = MixtureModel.from_float(mu, sc, w)
        p = (w * (norm.cdf(sym[:, None] + 0.5, mu, sc) - norm.cdf(sym[:, None] - 0.5, mu, sc))).sum(1)
        ideal = float(-np.log2(p).sum())
    else:
        pm = rng.dirichlet(np.ones(64), 8)
        idx = rng.integers(0, 8, n)
        sym = np.array([rng.choice(64, p=pm[i]) for i in idx[:n]], dtype=np.int32)
        model = TableModel.from_pmfs(pm, indexes=idx.astype(np.int32))
        ideal = float(-np.log2(pm[idx, sym]).sum())
    data = encode(sym, model)
    payload = len(data) - _lane_overhead_bytes(data)
    assert payload * 8 <= ideal * 1.005, (payload * 8 / ideal - 1)
    # and the coder itself is within 0.05% of the integer model's exact code length
    assert abs(payload * 8 / code_length_bits(sym, model) - 1) < 5e-4


def test_tables_are_pinned():
    """The integer tables are part of the stream format: a change needs a new stream version."""
    t = tables()
    h = hashlib.sha256()
    for k in sorted(t):
        h.update(k.encode())
        h.update(np.ascontiguousarray(t[k]).tobytes())
    assert h.hexdigest() == "7b034ce838582812c4117abc68773f238d27b0819cc64f09dd1f4f45c63f5df8"


def _valid_streams(escapes: bool = True):
    rng = np.random.default_rng(5)
    n = 3000
    mu, sc = rng.normal(0, 3, n), np.exp(rng.uniform(-1, 2, n))
    sym = np.round(rng.normal(mu, sc)).astype(np.int32)
    if escapes:
        sym[::97] = rng.integers(-(2**31), 2**31 - 1, len(sym[::97]))
    pm = ParametricModel.from_float(mu, sc)
    mm = MixtureModel.from_float(np.stack([mu, mu + 3], 1), np.stack([sc, sc], 1), np.ones((n, 2)))
    tsym = np.clip(sym, -10, 9)
    tm = TableModel.from_pmfs(rng.dirichlet(np.ones(20), 3), offsets=np.full(3, -10, np.int32), indexes=rng.integers(0, 3, n).astype(np.int32))
    return [(encode(s, m, lanes=lanes), m) for s, m in ((sym, pm), (sym, mm), (tsym if escapes else tsym, tm)) for lanes in (1, 7)]


def test_truncations_raise():
    for data, model in _valid_streams():
        for cut in range(len(data)):
            with pytest.raises(CorruptStreamError):
                decode(data[:cut], model)
        with pytest.raises(CorruptStreamError):
            decode(data + b"\0", model)


@pytest.mark.parametrize("escapes", [False, True])
def test_byte_flips(escapes):
    """3000 random byte flips: never a crash or a hang. Without escapes nearly every flip is
    caught by the lane-end check (state back at 2^16, all words used: about 2^-16 chance to
    miss). Escapes carry raw bypass bits with no redundancy at all, so a flip there changes one
    value undetectably; integrity of files is the container's CRC32 (tests/test_bitstream.py)."""
    rng = np.random.default_rng(6)
    flips = detected = 0
    for data, model in _valid_streams(escapes):
        ref = decode(data, model).numpy()
        for _ in range(500):
            b = bytearray(data)
            b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
            flips += 1
            try:
                out = decode(bytes(b), model).numpy()
            except CorruptStreamError:
                detected += 1
            else:
                assert out.shape == ref.shape
                if escapes:  # an undetected flip only changes escaped (raw) values
                    assert (out != ref).sum() <= 2
    assert flips == 3000
    assert detected >= (flips - 2 if not escapes else 0.9 * flips), detected


def test_wrong_model_kind_and_foreign_data():
    data, model = _valid_streams()[0]
    other = MixtureModel.from_float(np.zeros((model.shape[0], 2)), np.ones((model.shape[0], 2)), np.ones((model.shape[0], 2)))
    with pytest.raises(CorruptStreamError, match="another kind"):
        decode(data, other)
    with pytest.raises(CorruptStreamError, match="symbols"):
        decode(data, ParametricModel.from_float(np.zeros(10), np.ones(10)))
    for junk in (b"", b"\x01", b"PK\x03\x04" + bytes(100), bytes(range(256)) * 4):
        with pytest.raises(NeurocodecError):
            decode(junk, model)


def test_huge_declared_sizes_do_not_allocate():
    m = ParametricModel.from_float(np.zeros(1000), np.ones(1000))
    hdr = bytes([1, 0x20, 0xE8, 0x07])  # version, Gaussian tag, n = 1000
    # a lane count far above what the bytes could hold; a huge lane length; a huge symbol count
    for tail in (b"\xe8\x07" + bytes(8), b"\x01\xff\xff\xff\xff\x0f" + bytes(8)):
        with pytest.raises(CorruptStreamError):
            decode(hdr + tail, m)
    with pytest.raises(CorruptStreamError, match="symbol count"):
        decode(bytes([1, 0x20]) + b"\xff" * 9 + b"\x01", m)


def test_invalid_models_are_rejected():
    with pytest.raises(ValueError, match="escape"):
        encode(np.zeros(3, np.int32), TableModel(np.array([[0, 70000]]), np.array([1]), np.array([0]), np.zeros(3, np.int32)))
    bad = TableModel(np.array([[0, 5, 5]]), np.array([2]), np.array([0]), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="increasing"):
        encode(np.zeros(3, np.int32), bad)
    oob = TableModel.from_pmfs(np.ones((1, 4)), indexes=np.array([0, 1], np.int32))
    with pytest.raises(ValueError, match="index"):
        encode(np.zeros(2, np.int32), oob)
    z = np.zeros((2, 2), np.int32)
    mm = MixtureModel(Family.GAUSSIAN, z, z, np.full((2, 2), 100))
    with pytest.raises(ValueError, match="65536"):
        encode(np.zeros(2, np.int32), mm)


def test_cpu_and_torch_quantizers_agree():
    """The C++ float-to-integer step (CPU) and the torch one (GPU) give identical integers,
    including boundaries, their float neighbours, NaN, infinities and extremes."""
    import torch

    from neurocodec.entropy import models

    b = torch.from_numpy(tables()["scale_bounds"].copy())
    edges = torch.tensor([0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-40, 0.11, 4096.0, 3e38])
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        s = torch.cat([torch.exp(torch.empty(20000).uniform_(-6, 10, generator=g)), b, torch.nextafter(b, torch.tensor(0.0)), torch.nextafter(b, torch.tensor(1e9)), edges]).to(dtype)
        m = torch.cat([torch.randn(20000, generator=g) * 10 ** torch.empty(20000).uniform_(-3, 8, generator=g), torch.arange(-4, 4) / 512 + 0.5 / 256, edges, -edges]).to(dtype)
        w = torch.cat([torch.rand(5000, 5, generator=g) ** 4, torch.tensor([[0.0] * 5, [1e-38] * 5, [float("nan"), 1, 2, float("inf"), -1]])]).to(dtype)
        saved = models._on_cpu
        try:
            cpp = (models.quantize_scales(s), models.quantize_means(m), models.quantize_weights(w))
            models._on_cpu = lambda t: False  # run the torch (device) path on CPU tensors
            tch = (models.quantize_scales(s), models.quantize_means(m), models.quantize_weights(w))
        finally:
            models._on_cpu = saved
        for a, t in zip(cpp, tch):
            assert torch.equal(a, t)
        assert torch.equal(cpp[0][:20000], torch.searchsorted(b, s[:20000].float(), right=True).int())
        assert (cpp[2].sum(-1) == 65536).all() and (cpp[2] >= 0).all()


@pytest.mark.parametrize("k", range(1, 10))
def test_weight_quantizers_agree_for_every_k(k):
    """The C++ weight quantiser (one specialisation per K = 1..8, a generic loop beyond) and
    the torch one: the same integers, ties going to the first largest."""
    import torch

    from neurocodec.entropy import models

    g = torch.Generator().manual_seed(k)
    w = torch.cat([torch.rand(3000, k, generator=g) ** 3, torch.ones(5, k), torch.zeros(2, k),
                   torch.randint(0, 3, (500, k), generator=g).float(), torch.full((3, k), float("nan"))])
    for dtype in (torch.float32, torch.float64):
        saved = models._on_cpu
        try:
            cpp = models.quantize_weights(w.to(dtype))
            models._on_cpu = lambda t: False
            tch = models.quantize_weights(w.to(dtype))
        finally:
            models._on_cpu = saved
        assert torch.equal(cpp, tch)
        assert (cpp.sum(-1) == 65536).all()


def test_varint_overflow_is_refused():
    m = ParametricModel.from_float(np.zeros(3), np.ones(3))
    # symbol count as a 10-byte varint whose last byte sets bits beyond 64
    with pytest.raises(CorruptStreamError, match="overflow"):
        decode(bytes([1, 0x20]) + b"\x83" + b"\x80" * 8 + b"\x02" + bytes(20), m)
