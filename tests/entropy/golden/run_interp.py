"""Run the GPU kernels under the Triton interpreter on the golden cases; print JSON results.

Started by tests/entropy/test_gpu_interp.py in a subprocess with TRITON_INTERPRET=1 (the
variable must be set before the kernels are defined). Can be run by hand::

    TRITON_INTERPRET=1 .venv/bin/python -m tests.entropy.golden.run_interp
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def corruptions(data: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Damaged copies of a stream: lane-data byte flips, a zeroed state, a cut."""
    out = []
    for q in range(5):
        b = bytearray(data)
        p = int(rng.integers(len(b) // 3, len(b)))
        b[p] ^= int(rng.integers(1, 256))
        out.append((f"flip{q}@{p}", bytes(b)))
    b = bytearray(data)
    b[-6:-2] = bytes(4)  # lands in the last lane's state or words
    out.append(("zeros", bytes(b)))
    out.append(("cut", data[:-2]))
    return out


def main() -> None:
    from neurocodec.entropy import decode as cpu_decode
    from neurocodec.entropy import gpu
    from neurocodec.entropy.gpu import backend
    from neurocodec.errors import CorruptStreamError
    from tests.entropy.golden.make_golden import load

    assert gpu.interpreting(), "run with TRITON_INTERPRET=1"
    cases = load()
    res: dict = {"encode": {}, "decode": {}, "corrupt": [], "seconds": {}}

    t = time.time()
    enc = gpu.encode_batch([(c["symbols"], c["model"]) for c in cases],
                           lanes=[c["lanes"] for c in cases],
                           lane_bytes=[c["lane_bytes"] for c in cases])
    res["seconds"]["encode"] = time.time() - t
    res["encode_retries"] = backend.STATS["encode_retries"]
    for c, e in zip(cases, enc):
        res["encode"][c["name"]] = {"equal": e == c["data"], "len": len(e), "golden_len": len(c["data"])}

    t = time.time()
    dec = gpu.decode_batch([(c["data"], c["model"]) for c in cases])
    res["seconds"]["decode"] = time.time() - t
    for c, d in zip(cases, dec):
        res["decode"][c["name"]] = bool(np.array_equal(d.numpy().reshape(-1), c["symbols"].reshape(-1)))

    # damaged streams: the GPU must fail exactly when the CPU fails, and agree otherwise
    t = time.time()
    rng = np.random.default_rng(7)
    items, meta = [], []
    for c in cases:
        if c["name"] in ("param_laplace_L10", "mix_k4_gauss_L10", "table_L11", "param_gauss_escape_heavy"):
            for how, data in corruptions(c["data"], rng):
                items.append((data, c["model"]))
                meta.append((c["name"], how))
    errors: list = [None] * len(items)
    out = backend.decode_batch(items, backend.resolve_device(items[0][1], None), errors=errors)
    for (name, how), (data, model), o, e in zip(meta, items, out, errors):
        try:
            ref, cpu_err = cpu_decode(data, model).numpy(), None
        except CorruptStreamError as x:
            ref, cpu_err = None, str(x)
        same = (cpu_err is None) == (e is None) and (ref is None or np.array_equal(ref, o.numpy()))
        res["corrupt"].append({"case": f"{name}:{how}", "cpu": cpu_err, "gpu": e, "same": bool(same)})
    # the single-stream API raises CorruptStreamError
    try:
        gpu.decode(items[0][0][:-2], items[0][1])
        res["single_raises"] = False
    except CorruptStreamError:
        res["single_raises"] = True
    res["seconds"]["corrupt"] = time.time() - t
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
