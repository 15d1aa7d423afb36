"""The compiled GPU kernels on a real CUDA device: golden bytes, large inputs, cross-device
streams, batches, dispatch and corrupt data. Skipped (with the reason) without a GPU."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from neurocodec.entropy import Family, MixtureModel, ParametricModel, TableModel, decode, encode
from neurocodec.errors import CorruptStreamError

from .golden.make_golden import load

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none available)"),
]


def _cuda(model):
    fields = {k: getattr(model, k) for k in model.__dataclass_fields__}
    return type(model)(**{k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in fields.items()})


@pytest.fixture(scope="module")
def gpu():
    from neurocodec.entropy import gpu as g

    if g.interpreting():
        pytest.skip("TRITON_INTERPRET=1: the interpreter tests cover this")
    return g


def test_golden_bytes_on_gpu(gpu):
    cases = load()
    got = gpu.encode_batch([(c["symbols"], _cuda(c["model"])) for c in cases],
                           lanes=[c["lanes"] for c in cases], lane_bytes=[c["lane_bytes"] for c in cases])
    assert [g == c["data"] for g, c in zip(got, cases)] == [True] * len(cases)
    dec = gpu.decode_batch([(c["data"], _cuda(c["model"])) for c in cases])
    for d, c in zip(dec, cases):
        np.testing.assert_array_equal(d.cpu().numpy(), c["symbols"])


def _large(kind: str, n: int, rng):
    if kind == "table":
        pm = rng.dirichlet(np.ones(64), 16)
        idx = rng.integers(0, 16, n).astype(np.int32)
        sym = (rng.random(n)[:, None] > np.cumsum(pm[idx], 1)).sum(1).astype(np.int32) - 3
        return sym, TableModel.from_pmfs(pm, offsets=np.full(16, -3, np.int32), indexes=idx)
    mu = rng.normal(0, 5, n)
    sc = np.exp(rng.uniform(np.log(0.1), np.log(100), n))
    sym = np.round(rng.normal(mu, sc))
    far = rng.random(n) < 1e-3
    sym[far] = rng.integers(-(2**31), 2**31 - 1, far.sum())
    sym = sym.astype(np.int32)
    if kind in ("gaussian", "laplace", "logistic"):
        return sym, ParametricModel.from_float(mu, sc, Family[kind.upper()])
    k = int(kind[3:])
    mus = mu[:, None] + rng.normal(0, 3, (n, k))
    scs = sc[:, None] * np.exp(rng.uniform(-1, 1, (n, k)))
    return sym, MixtureModel.from_float(mus, scs, rng.dirichlet(np.ones(k), n), Family.GAUSSIAN)


@pytest.mark.parametrize("kind", ["gaussian", "laplace", "logistic", "mix1", "mix4", "mix8", "table"])
@pytest.mark.parametrize("lanes", [None, 4096, 100_003])
def test_large_inputs_match_cpu(gpu, kind, lanes):
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    sym, model = _large(kind, 2_000_000, rng)
    cpu_bytes = encode(sym, model, lanes=lanes, lane_bytes=1024)
    mg = _cuda(model)
    gpu_bytes = encode(torch.from_numpy(sym).cuda(), mg, lanes=lanes, lane_bytes=1024)  # dispatch
    assert gpu_bytes == cpu_bytes
    out = decode(cpu_bytes, mg)
    assert out.is_cuda
    np.testing.assert_array_equal(out.cpu().numpy(), sym)
    np.testing.assert_array_equal(decode(gpu_bytes, model, device="cpu").numpy(), sym)


def test_batch_of_many_streams(gpu):
    rng = np.random.default_rng(1)
    items = [_large(kind, int(n), rng) for kind, n in zip(
        ["gaussian", "mix4", "table", "gaussian", "laplace", "mix4"] * 8, rng.integers(0, 50_000, 48))]
    cpu = [encode(s, m, lane_bytes=256) for s, m in items]
    got = gpu.encode_batch([(torch.from_numpy(s).cuda(), _cuda(m)) for s, m in items], lane_bytes=256)
    assert got == cpu
    dec = gpu.decode_batch([(d, _cuda(m)) for d, (_, m) in zip(cpu, items)])
    for d, (s, _) in zip(dec, items):
        np.testing.assert_array_equal(d.cpu().numpy(), s)


def test_corrupt_streams_raise_on_gpu(gpu):
    rng = np.random.default_rng(2)
    sym, model = _large("mix4", 20_000, rng)
    data = encode(sym, model, lanes=64)
    mg = _cuda(model)
    for cut in (0, 1, 5, len(data) // 2, len(data) - 1):
        with pytest.raises(CorruptStreamError):
            gpu.decode(data[:cut], mg)
    detected = 0
    for _ in range(200):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
        try:
            cpu_out = decode(bytes(b), model).numpy()
        except CorruptStreamError:
            cpu_out = None
        try:
            g = gpu.decode(bytes(b), mg).cpu().numpy()
        except CorruptStreamError:
            g = None
            detected += 1
        assert (cpu_out is None) == (g is None)
        if g is not None:
            np.testing.assert_array_equal(g, cpu_out)
    assert detected >= 150
