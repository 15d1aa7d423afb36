"""GPU entropy backend (Triton): the CPU coder's integer math, byte-identical output.

One rANS lane per GPU thread; a batch of streams is coded in one launch per model kind. For
the same symbols, model integers and lane count the bytes equal the CPU coder's
(:mod:`neurocodec.entropy.coder`), and each backend decodes the other's streams. With
``lanes=None`` the lane count is the CPU's (the same integer estimate).

Usually reached through :func:`neurocodec.entropy.encode` / :func:`~neurocodec.entropy.decode`
with a model on a CUDA device; :func:`encode_batch` / :func:`decode_batch` code many streams
in one launch. Under ``TRITON_INTERPRET=1`` the same kernels run on CPU tensors (tests).

Speed needs many lanes: one lane is one thread, so a stream of L lanes keeps at most L threads
busy. Batches and small ``lane_bytes`` (or explicit ``lanes``) fill the GPU.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from neurocodec.entropy.gpu import backend
from neurocodec.entropy.gpu.backend import interpreting
from neurocodec.entropy.models import EntropyModel

DEFAULT_LANE_BYTES = 4096

__all__ = ["decode", "decode_batch", "encode", "encode_batch", "interpreting"]


def _device(models: Sequence[EntropyModel], device: str | torch.device | None) -> torch.device:
    if not models:
        return torch.device(device) if device is not None else torch.device("cuda")
    devs = {backend.resolve_device(m, device) for m in models}
    if len(devs) != 1:
        raise ValueError(f"a batch must be on one device, got {sorted(map(str, devs))}")
    return devs.pop()


def encode(symbols: Tensor | np.ndarray, model: EntropyModel, *, lanes: int | None = None,
           lane_bytes: int = DEFAULT_LANE_BYTES, device: str | torch.device | None = None) -> bytes:
    """Entropy-code int32 `symbols` (shape `model.shape`) on the GPU; same bytes as the CPU.

    Args:
        lanes: rANS lanes; None: about one per `lane_bytes` of output (the CPU's estimate).
        device: CUDA device; default the model's (or "cuda").
    """
    return encode_batch([(symbols, model)], lanes=lanes, lane_bytes=lane_bytes, device=device)[0]


def decode(data: bytes | bytearray | memoryview, model: EntropyModel, *,
           device: str | torch.device | None = None) -> Tensor:
    """Decode a stream (from either backend): int32 tensor of `model.shape` on the device.

    Raises:
        neurocodec.errors.CorruptStreamError: truncated, corrupt or foreign data.
    """
    dev = _device([model], device)
    return backend.decode_batch([(data, model)], dev, batch=False)[0]


def encode_batch(items: Sequence[tuple[Tensor | np.ndarray, EntropyModel]], *,
                 lanes: int | None | Sequence[int | None] = None,
                 lane_bytes: int | Sequence[int] = DEFAULT_LANE_BYTES,
                 device: str | torch.device | None = None) -> list[bytes]:
    """Encode many (symbols, model) streams; one kernel launch per model kind.

    `lanes` and `lane_bytes` are one value for all streams or one per stream. Stream i's bytes
    equal ``encode(*items[i], lanes=..., lane_bytes=...)`` on either backend.
    """
    dev = _device([m for _, m in items], device)
    return backend.encode_batch(items, lanes, lane_bytes, dev)


def decode_batch(items: Sequence[tuple[bytes | bytearray | memoryview, EntropyModel]], *,
                 device: str | torch.device | None = None) -> list[Tensor]:
    """Decode many (data, model) streams; one kernel launch per model kind.

    Raises:
        neurocodec.errors.CorruptStreamError: naming the first bad stream of the batch.
    """
    dev = _device([m for _, m in items], device)
    return backend.decode_batch(items, dev)
