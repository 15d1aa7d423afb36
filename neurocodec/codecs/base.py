"""The Codec contract shared by every modality.

- ``forward(x, ...)`` (training): reconstruction plus the likelihoods of every coded quantity.
- ``compress(x, ...) -> (Payload, x_hat)`` and ``decompress(Payload) -> x_hat``: the x_hat of
  decompress equals compress's own reconstruction bit for bit (same backend).
- ``weights_hash()``: 8 bytes identifying the weights; written in every .bin and checked on
  decoding, so that a file decoded with other weights is refused by name.

Portable files (the rule every codec keeps): every value the decoder uses to choose a
probability (scale indexes, means, mixture weights, table indexes, context and temporal priors,
priors over tokens) is computed in arithmetic whose result does not depend on summation order,
thread count, instruction set, library version or device. In practice:

- networks that feed the entropy parameters (hyper-synthesis, context models, entropy-parameter
  networks, temporal priors) are integer networks from
  :mod:`neurocodec.entropy.integer_nets`, whose last layer emits the coder's integers;
- learned tables (factorised priors, token priors) are integer buffers made once at export and
  stored in the checkpoint (covered by the weights hash);
- what may stay float: the analysis transform, the synthesis transform, the encoder-only
  hyper-analysis, and anything else that never decides a probability. Their thread
  dependence moves decoded pixels by at most a rounding step, never a symbol.

Tests encode under one thread count / backend / device and decode under the others.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import torch
from torch import nn

from neurocodec.bitstream import HASH_BYTES, Payload


class Codec(nn.Module):
    """Base class of all codecs: name, config, weights hash, payload checks."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    # How the decoder turns weights into probabilities; part of the weights hash, so the same
    # weights under other arithmetic are another model.
    arithmetic: ClassVar[str] = "integer-nets/1"

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = dict(config)
        self._hash: bytes | None = None

    def weights_hash(self) -> bytes:
        """SHA-256 over the config and every parameter and buffer (sorted by name), 8 bytes.
        Computed once; call :meth:`refresh_hash` after changing weights."""
        if self._hash is None:
            h = hashlib.sha256(self.name.encode())
            h.update(self.arithmetic.encode())
            h.update(repr(sorted(self.config.items())).encode())
            for k, v in sorted(self.state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().cpu().contiguous().numpy().tobytes())
            self._hash = h.digest()[:HASH_BYTES]
        return self._hash

    def refresh_hash(self) -> None:
        self._hash = None

    def payload(self, metadata: dict[str, Any], sections: dict[str, bytes]) -> Payload:
        return Payload(self.name, self.weights_hash(), metadata, sections)

    def check(self, payload: Payload) -> None:
        """Refuse a payload made by another codec or other weights (ModelMismatchError)."""
        payload.check_model(self.name, self.weights_hash())

    def train(self, mode: bool = True) -> "Codec":
        """Training mode also drops the integer tables of learned priors, so that a model can
        never code with tables older than its weights (update() rebuilds them)."""
        if mode:
            self._hash = None
            for m in self.modules():
                if hasattr(m, "clear_tables"):
                    m.clear_tables()
        return super().train(mode)

    @torch.no_grad()
    def update(self, force: bool = False) -> bool:
        """Quantise learned priors into integer tables (after training, before coding)."""
        changed = False
        for m in self.modules():
            if m is not self and hasattr(m, "update") and callable(m.update) and hasattr(m, "tables_ready"):
                changed |= bool(m.update(force=force))
        if changed:
            self._hash = None
        return changed
