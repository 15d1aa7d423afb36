"""Write tests/entropy/golden/golden.npz: small streams made by the CPU coder.

These bytes pin the stream format: the CPU coder must keep reproducing them, and the GPU
kernels (Triton, also under its interpreter) must reproduce them bit for bit. Each case keeps
at most about 24 symbols per lane so that the interpreter tests stay fast.

    .venv/bin/python tests/entropy/golden/make_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurocodec.entropy import Family, MixtureModel, ParametricModel, TableModel, encode
from neurocodec.entropy.models import tables

OUT = Path(__file__).with_name("golden.npz")
I32 = np.iinfo(np.int32)


def _escapes(rng, sym: np.ndarray, frac: float) -> np.ndarray:
    sym = sym.astype(np.int64)
    far = rng.random(sym.shape) < frac
    sym[far] = rng.integers(I32.min, I32.max, int(far.sum()), endpoint=True)
    if sym.size >= 4:  # the extremes and one just outside any support
        sym.flat[:3] = [I32.min, I32.max, 40_000]
    return np.clip(sym, I32.min, I32.max).astype(np.int32)


def param_case(rng, n, family, scale_span=(0.2, 20.0), mean_span=4.0, esc=0.05, extreme=False):
    mu = rng.uniform(-mean_span, mean_span, n)
    sc = np.exp(rng.uniform(np.log(scale_span[0]), np.log(scale_span[1]), n))
    sym = np.round(rng.normal(mu, sc))
    model = ParametricModel.from_float(mu, sc, family)
    if extreme:  # the ends of the scale table and means near the Q8 limit
        s = model.scale_idx.numpy().copy()
        m = model.means_q.numpy().copy()
        s[: n // 4] = 0
        s[n // 4: n // 2] = 255
        m[n // 2: 3 * n // 4] = rng.choice([2**31 - 1, -(2**31), 2**31 - 200], n // 4)
        model = ParametricModel(family, m, s)
        sym[n // 2: 3 * n // 4] = m[n // 2: 3 * n // 4] / 256 + rng.normal(0, 3, n // 4)
    return _escapes(rng, sym, esc), model


def mixture_case(rng, n, k, family, spread=3.0, esc=0.05):
    mu = rng.normal(0, spread, (n, k))
    sc = np.exp(rng.uniform(np.log(0.1), np.log(3e3), (n, k)))
    w = rng.dirichlet(np.full(k, 0.7), n)
    w[rng.random((n, k)) < 0.2] = 1e-9  # near-zero (quantised to 0) weights
    comp = rng.integers(0, k, n)
    sym = np.round(rng.normal(mu[np.arange(n), comp], sc[np.arange(n), comp]))
    return _escapes(rng, sym, esc), MixtureModel.from_float(mu, sc, w, family)


def table_case(rng, n, t=5, size=40, esc=0.05):
    pmfs = rng.dirichlet(np.full(size, 0.3), t)
    lengths = rng.integers(1, size + 1, t)
    lengths[0] = 1  # a one-symbol table
    offsets = rng.integers(-50, 50, t).astype(np.int32)
    idx = rng.integers(0, t, n).astype(np.int32)
    sym = offsets[idx] + rng.integers(-3, size + 3, n)
    model = TableModel.from_pmfs(pmfs, offsets=offsets, indexes=idx, lengths=lengths)
    return _escapes(rng, sym, esc), model


def cases():
    rng = np.random.default_rng(20240605)
    G, La, Lo = Family.GAUSSIAN, Family.LAPLACE, Family.LOGISTIC
    yield "param_gauss_L1", *param_case(rng, 24, G), 1, 4096
    yield "param_gauss_L9_extreme", *param_case(rng, 216, G, (0.05, 5000.0), 1e4, extreme=True), 9, 4096
    yield "param_gauss_escape_heavy", *param_case(rng, 96, G, esc=0.6), 4, 4096
    yield "param_gauss_empty", *param_case(rng, 0, G), None, 4096
    yield "param_gauss_one", *param_case(rng, 1, G, esc=0.0), None, 4096
    yield "param_laplace_L10", *param_case(rng, 230, La, (0.11, 4096.0)), 10, 4096
    yield "param_laplace_auto", *param_case(rng, 200, La), None, 4
    yield "param_logistic_L17", *param_case(rng, 390, Lo, extreme=True), 17, 4096
    yield "param_logistic_auto", *param_case(rng, 300, Lo, (1.0, 50.0)), None, 8
    yield "mix_k1_gauss_L5", *mixture_case(rng, 100, 1, G), 5, 4096
    yield "mix_k4_gauss_L10", *mixture_case(rng, 230, 4, G), 10, 4096
    yield "mix_k4_gauss_auto", *mixture_case(rng, 200, 4, G, spread=20.0), None, 6
    yield "mix_k4_laplace_L8", *mixture_case(rng, 180, 4, La, spread=1e5), 8, 4096
    yield "mix_k4_logistic_L1", *mixture_case(rng, 20, 4, Lo), 1, 4096
    yield "mix_k8_logistic_L8", *mixture_case(rng, 190, 8, Lo, spread=1e5), 8, 4096
    yield "mix_k8_gauss_L12", *mixture_case(rng, 250, 8, G, spread=50.0, esc=0.2), 12, 4096
    yield "table_L1", *table_case(rng, 24), 1, 4096
    yield "table_L11", *table_case(rng, 250, esc=0.1), 11, 4096
    yield "table_auto", *table_case(rng, 300, t=3, size=200), None, 5


def model_arrays(model) -> dict[str, np.ndarray]:
    if isinstance(model, TableModel):
        return {"kind": np.array(0), "cdfs": model.cdfs.numpy(), "lengths": model.lengths.numpy(),
                "offsets": model.offsets.numpy(), "indexes": model.indexes.numpy()}
    d = {"family": np.array(int(model.family)), "means_q": model.means_q.numpy(),
         "scale_idx": model.scale_idx.numpy()}
    if isinstance(model, MixtureModel):
        return {"kind": np.array(2), **d, "weights_q": model.weights_q.numpy()}
    return {"kind": np.array(1), **d}


def model_from(arrays: dict[str, np.ndarray]):
    kind = int(arrays["kind"])
    if kind == 0:
        return TableModel(arrays["cdfs"], arrays["lengths"], arrays["offsets"], arrays["indexes"])
    if kind == 1:
        return ParametricModel(Family(int(arrays["family"])), arrays["means_q"], arrays["scale_idx"])
    return MixtureModel(Family(int(arrays["family"])), arrays["means_q"], arrays["scale_idx"], arrays["weights_q"])


def load(path: Path = OUT) -> list[dict]:
    """[{name, symbols, model, lanes (None: automatic), lane_bytes, data}] of the golden file."""
    z = np.load(path)
    names = json.loads(bytes(z["names"]).decode())
    out = []
    for name in names:
        arr = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(name + "/")}
        lanes = int(arr["lanes"])
        out.append({"name": name, "symbols": arr["symbols"], "model": model_from(arr),
                    "lanes": None if lanes < 0 else lanes, "lane_bytes": int(arr["lane_bytes"]),
                    "data": arr["data"].tobytes()})
    return out


def main() -> None:
    # tables() is part of the format (pinned by test_tables_are_pinned); record its digest
    assert tables()["cdf_q30"].shape == (3, 4097)
    arrays: dict[str, np.ndarray] = {}
    names = []
    for name, sym, model, lanes, lane_bytes in cases():
        data = encode(sym, model, lanes=lanes, lane_bytes=lane_bytes)
        names.append(name)
        for k, v in {**model_arrays(model), "symbols": sym, "data": np.frombuffer(data, np.uint8),
                     "lanes": np.array(-1 if lanes is None else lanes),
                     "lane_bytes": np.array(lane_bytes)}.items():
            arrays[f"{name}/{k}"] = np.asarray(v)
        L = data[3] if len(data) > 3 else 0
        print(f"{name:28s} n={sym.size:4d} bytes={len(data):5d} header-L~{L}")
    arrays["names"] = np.frombuffer(json.dumps(names).encode(), np.uint8)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
