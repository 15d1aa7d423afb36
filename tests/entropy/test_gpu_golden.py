"""Golden streams (bytes of the CPU coder, committed) and the GPU backend's host-side logic.

Runs without a GPU and without Triton kernels: the CPU coder must keep reproducing the golden
bytes (format drift is caught on any machine), and the GPU backend's header parser and lane
count estimate must agree with the CPU's. The kernels themselves are checked against the same
golden bytes in test_gpu_interp.py (Triton interpreter) and test_gpu_cuda.py (a real GPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocodec.entropy import decode, encode
from neurocodec.entropy.gpu import backend
from neurocodec.errors import CorruptStreamError

from .golden.make_golden import load
from .strategies import mixture_cases, parametric_cases, table_cases

GOLDEN = load()
NAMES = [c["name"] for c in GOLDEN]


def test_golden_file_is_small_and_covers_every_kind():
    assert Path(__file__).with_name("golden").joinpath("golden.npz").stat().st_size < 200_000
    keys = {backend.group_key(c["model"]) for c in GOLDEN}
    assert {k[0] for k in keys} == {0, 1, 2}
    assert {k[1] for k in keys if k[0] == 1} == {0, 1, 2}
    assert {k[1] for k in keys if k[0] == 2} == {0, 1, 2}
    assert {k[2] for k in keys if k[0] == 2} >= {1, 4, 8}
    assert any(c["lanes"] is None and len(c["symbols"]) > 100 for c in GOLDEN)


@pytest.mark.parametrize("case", GOLDEN, ids=NAMES)
def test_cpu_reproduces_golden_bytes(case):
    data = encode(case["symbols"], case["model"], lanes=case["lanes"], lane_bytes=case["lane_bytes"])
    assert data == case["data"], "the CPU coder's stream format changed: this needs a new stream version"
    np.testing.assert_array_equal(decode(case["data"], case["model"]).numpy(), case["symbols"])


@pytest.mark.parametrize("case", GOLDEN, ids=NAMES)
def test_header_parser_matches_stream(case):
    data, m = case["data"], case["model"]
    h = backend.parse_header(data, backend.model_tag(m), backend.symbol_count(m))
    assert h.n == case["symbols"].size
    assert h.data_pos + int(h.lane_bytes.sum()) == len(data)
    # rebuilding the header from the parsed values gives the same bytes
    rebuilt = backend.stream_bytes(data[1], h.n, h.lane_bytes, np.frombuffer(data, np.uint8, offset=h.data_pos))
    assert rebuilt == data


def test_varints_roundtrip():
    vals = np.array([0, 1, 127, 128, 300, 2**14, 2**35 + 5, 2**63 + 7, 2**64 - 1], np.uint64)
    enc = backend.varints(vals)
    pos, out = 0, []
    for _ in vals:
        v, pos = backend.get_varint(enc, pos, 2**64, "x")
        out.append(v)
    assert out == [int(v) for v in vals] and pos == len(enc)
    small = vals[:6]
    enc = backend.varints(small)
    got, end = backend._lane_lengths(enc + bytes(2**14), 0, len(small))
    assert got.tolist() == [int(v) for v in small] and end == len(enc)
    # a 10th byte with bits beyond 2^64 is refused, like the C++ reader
    with pytest.raises(CorruptStreamError, match="overflow"):
        backend.get_varint(b"\xff" * 9 + b"\x7f", 0, 2**64, "x")
    with pytest.raises(CorruptStreamError, match="overflow"):
        backend._lane_lengths(b"\xff" * 9 + b"\x02" + bytes(64), 0, 1)


def _cpu_error(data, model):
    try:
        decode(data, model)
    except CorruptStreamError as e:
        return str(e)
    return None


@pytest.mark.parametrize("case", [c for c in GOLDEN if len(c["data"]) > 8], ids=lambda c: c["name"])
def test_header_errors_match_cpu(case):
    """Every header-level damage the CPU rejects, the host parser rejects too (and a stream it
    accepts is accepted by the CPU's header checks)."""
    data, m = case["data"], case["model"]
    h = backend.parse_header(data, backend.model_tag(m), backend.symbol_count(m))
    variants = [data[:cut] for cut in range(h.data_pos + 1)] + [data + b"\0"]
    for p in range(h.data_pos):
        for x in (0x01, 0x80, 0xFF):
            b = bytearray(data)
            b[p] ^= x
            variants.append(bytes(b))
    for v in variants:
        cpu = _cpu_error(v, m)
        try:
            backend.parse_header(v, backend.model_tag(m), backend.symbol_count(m))
            host = None
        except CorruptStreamError as e:
            host = str(e)
        if host is not None:
            assert cpu is not None, (v, host)
        elif cpu is not None:  # the header is fine: the CPU failed inside a lane
            assert "lane" in cpu or "escape" in cpu, cpu


def test_huge_and_junk_headers_rejected():
    from neurocodec.entropy import ParametricModel

    n = 1000
    tag = 0x20
    hdr = bytes([1, tag, 0xE8, 0x07])
    for tail in (b"\xe8\x07" + bytes(8), b"\x01\xff\xff\xff\xff\x0f" + bytes(8), b"\x01" + b"\xff" * 11):
        with pytest.raises(CorruptStreamError):
            backend.parse_header(hdr + tail, tag, n)
    with pytest.raises(CorruptStreamError, match="symbol count"):
        backend.parse_header(bytes([1, tag]) + b"\xff" * 9 + b"\x01", tag, n)
    with pytest.raises(CorruptStreamError, match="another kind"):
        backend.parse_header(bytes([1, 0x21, 0]), tag, n)
    m = ParametricModel.from_float(np.zeros(n), np.ones(n))
    for junk in (b"", b"\x01", b"PK\x03\x04" + bytes(100), bytes(range(256)) * 4):
        with pytest.raises(CorruptStreamError):
            backend.parse_header(junk, backend.model_tag(m), n)


def _stream_lanes(data: bytes) -> int:
    n, pos = backend.get_varint(data, 2, 2**40, "n")
    return backend.get_varint(data, pos, 2**20, "L")[0]


def _host_auto_lanes(items, lane_bytes):
    groups, plan = backend.prepare_encode(items, None, lane_bytes, torch.device("cpu"))
    out = [0] * len(items)
    for g, lanes in zip(groups, plan):
        for w, i in enumerate(g.members):
            out[i] = lanes[w]
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(parametric_cases(3000), mixture_cases(3000), table_cases(3000)),
       st.sampled_from([1, 4, 16, 64, 4096]))
def test_auto_lanes_match_cpu(case, lane_bytes):
    """With lanes=None both backends choose L by the same integer estimate."""
    sym, model = case
    ref = _stream_lanes(encode(sym, model, lane_bytes=lane_bytes))
    assert _host_auto_lanes([(sym, model)], lane_bytes) == [ref]


def test_auto_lanes_large_and_batched():
    from neurocodec.entropy import ParametricModel

    rng = np.random.default_rng(0)
    items = []
    for n in (5000, 123_457, 1_000_000):
        mu, sc = rng.normal(0, 3, n), np.exp(rng.uniform(-1, 3, n))
        items.append((np.round(rng.normal(mu, sc)).astype(np.int32), ParametricModel.from_float(mu, sc)))
    for lb in (64, 4096):
        refs = [_stream_lanes(encode(s, m, lane_bytes=lb)) for s, m in items]
        assert _host_auto_lanes(items, lb) == refs
    assert refs[-1] > 1


def test_models_validated_like_cpu():
    from neurocodec.entropy import Family, MixtureModel, TableModel

    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="escape"):
        backend.validate([TableModel(np.array([[0, 70000]]), np.array([1]), np.array([0]), np.zeros(3, np.int32))], cpu)
    with pytest.raises(ValueError, match="increasing"):
        backend.validate([TableModel(np.array([[0, 5, 5]]), np.array([2]), np.array([0]), np.zeros(3, np.int32))], cpu)
    with pytest.raises(ValueError, match="index"):
        backend.validate([TableModel.from_pmfs(np.ones((1, 4)), indexes=np.array([0, 1], np.int32))], cpu)
    z = np.zeros((2, 2), np.int32)
    with pytest.raises(ValueError, match="65536"):
        backend.validate([MixtureModel(Family.GAUSSIAN, z, z, np.full((2, 2), 100))], cpu)
    with pytest.raises(ValueError, match="scale"):
        backend.validate([MixtureModel(Family.GAUSSIAN, z, z + 256, np.full((2, 2), 32768))], cpu)
