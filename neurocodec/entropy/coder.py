"""encode()/decode(): symbols and an integer model to bytes and back.

Example::

    import numpy as np
    from neurocodec.entropy import ParametricModel, encode, decode

    x = np.random.default_rng(0).normal(0, 3, 10_000).round().astype(np.int32)
    model = ParametricModel.from_float(means=0.0, scales=np.full(x.shape, 3.0))
    data = encode(x, model)
    assert (decode(data, model).numpy() == x).all()

The stream is split into lanes (symbol i in lane i % L); L is chosen from the estimated
output size (about `lane_bytes` per lane) unless given, and written in the stream. Bytes
depend on the symbols, the model and L only: never on the thread count or the device, nor on
whether the CPU decoder's SIMD kernel is used (:func:`set_simd`; the environment variable
``NEUROCODEC_SIMD=0`` turns it off at import).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from neurocodec.entropy import _core
from neurocodec.entropy.models import EntropyModel, MixtureModel, ParametricModel, TableModel

DEFAULT_LANE_BYTES = 4096
_PROB_BITS = float(_core.PROB_BITS)

if os.environ.get("NEUROCODEC_SIMD", "1").strip().lower() in ("0", "false", "off", "no"):
    _core.set_simd(False)


def simd_supported() -> bool:
    """Whether this CPU can run the coder's SIMD kernels (x86-64 with AVX2)."""
    return bool(_core.simd_supported())


def simd_enabled() -> bool:
    """Whether the CPU coder uses its SIMD kernels now (mixture decoding)."""
    return bool(_core.simd_enabled())


def set_simd(enabled: bool) -> bool:
    """Use the SIMD kernels where the CPU supports them (True) or the scalar ones (False);
    returns the previous setting. Symbols and bytes are identical either way: only speed
    differs. Process-wide; takes effect at the next encode/decode call."""
    return bool(_core.set_simd(bool(enabled)))


def default_threads() -> int:
    """Worker threads for the CPU coder: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.int32).contiguous().numpy()


def _symbols(symbols: Tensor | np.ndarray, model: EntropyModel) -> np.ndarray:
    s = symbols if isinstance(symbols, Tensor) else torch.as_tensor(np.asarray(symbols))
    if s.is_floating_point() or s.dtype == torch.bool:
        raise TypeError(f"symbols must be integers, got {s.dtype}")
    if tuple(s.shape) != tuple(model.shape):
        raise ValueError(f"symbols have shape {tuple(s.shape)}, model expects {tuple(model.shape)}")
    if s.dtype != torch.int32 and s.numel():
        if int(s.min()) < -(2**31) or int(s.max()) > 2**31 - 1:
            raise ValueError("symbols must fit in int32")
    return _np(s).reshape(-1)


def _args(model: EntropyModel) -> tuple[str, tuple]:
    if isinstance(model, TableModel):
        return "table", (_np(model.indexes).reshape(-1), _np(model.cdfs), _np(model.lengths), _np(model.offsets))
    if isinstance(model, ParametricModel):
        return "param", (int(model.family), _np(model.means_q).reshape(-1), _np(model.scale_idx).reshape(-1))
    if isinstance(model, MixtureModel):
        k = model.k
        return "mixture", (
            int(model.family),
            _np(model.means_q).reshape(-1, k),
            _np(model.scale_idx).reshape(-1, k),
            _np(model.weights_q).reshape(-1, k),
        )
    raise TypeError(f"not an entropy model: {type(model).__name__}")


def _use_gpu(model: EntropyModel, device: str | torch.device | None) -> bool:
    dev = torch.device(device) if device is not None else model.device
    return dev.type == "cuda"


def encode(
    symbols: Tensor | np.ndarray,
    model: EntropyModel,
    *,
    lanes: int | None = None,
    threads: int | None = None,
    lane_bytes: int = DEFAULT_LANE_BYTES,
    device: str | torch.device | None = None,
) -> bytes:
    """Entropy-code int32 `symbols` (shape `model.shape`) under `model`.

    Args:
        lanes: number of rANS lanes; None chooses about one per `lane_bytes` of output.
        threads: CPU threads (default :func:`default_threads`); bytes do not depend on it.
        device: "cpu" or "cuda"; default: where the model's tensors are.
    """
    if lanes is not None and lanes < 1:
        raise ValueError("lanes must be >= 1")
    if _use_gpu(model, device):
        from neurocodec.entropy import gpu

        return gpu.encode(symbols, model, lanes=lanes, lane_bytes=lane_bytes)
    kind, args = _args(model)
    sym = _symbols(symbols, model)
    t = default_threads() if threads is None else int(threads)
    lanes_arg = 0 if lanes is None else int(lanes)
    return getattr(_core, f"encode_{kind}")(sym, *args, lanes_arg, t, lane_bytes)


def decode(
    data: bytes | bytearray | memoryview,
    model: EntropyModel,
    *,
    threads: int | None = None,
    device: str | torch.device | None = None,
) -> Tensor:
    """Decode a stream made by :func:`encode` with the same model: int32 tensor of `model.shape`.

    Raises:
        neurocodec.errors.CorruptStreamError: truncated, corrupt or foreign data.
    """
    if _use_gpu(model, device):
        from neurocodec.entropy import gpu

        return gpu.decode(data, model)
    kind, args = _args(model)
    t = default_threads() if threads is None else int(threads)
    buf = np.frombuffer(bytes(data) if not isinstance(data, (bytes, bytearray)) else data, dtype=np.uint8)
    out = getattr(_core, f"decode_{kind}")(buf, *args, t)
    return torch.from_numpy(out).reshape(model.shape)


def code_length_bits(symbols: Tensor | np.ndarray, model: EntropyModel) -> float:
    """Exact ideal code length (bits) of `symbols` under the integer model:
    sum(16 - log2 freq) plus the raw bits of escapes. A real stream adds only the lane
    headers and at most a few bytes per lane."""
    kind, args = _args(model)
    freq, extra = getattr(_core, f"costs_{kind}")(_symbols(symbols, model), *args)
    return float((_PROB_BITS - np.log2(freq.astype(np.float64))).sum() + extra.sum())

