"""Refined variants of the learned image codecs for the evaluation runner: ``NAME+refineN``
(e.g. ``hyperprior+refine100``) is the codec NAME with N steps of iterative encoding
(:mod:`neurocodec.codecs.image.refine`, seed 0). The decoder and the file format are NAME's;
the steps are part of the recorded settings and of the result file's name."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from neurocodec.errors import InputError

_PATTERN = re.compile(r"^(?P<base>.+)\+refine(?P<steps>\d+)$")


def parse(name: str) -> tuple[str, int] | None:
    """'hyperprior+refine100' -> ('hyperprior', 100); None for a plain name."""
    m = _PATTERN.match(name)
    if m is None:
        return None
    steps = int(m.group("steps"))
    if steps < 1:
        raise InputError(f"{name}: the number of refine steps must be 1 or more")
    return m.group("base"), steps


class RefinedImageCodec:
    """An image codec whose encoder runs `steps` refinement steps."""

    def __init__(self, codec: Any, steps: int, seed: int = 0) -> None:
        self.codec, self.steps, self.seed = codec, int(steps), int(seed)
        self.name = f"{codec.name}+refine{self.steps}"
        self.label = f"{codec.name} + {self.steps} refine steps"
        self.qualities = list(codec.qualities)

    @property
    def settings(self) -> dict[str, Any]:
        return {**dict(self.codec.config), "refine_steps": self.steps, "refine_seed": self.seed}

    def weights_hash(self) -> Any:  # noqa: ANN401
        return self.codec.weights_hash()

    def encode_image(self, rgb: np.ndarray, quality: int) -> bytes:
        return self.codec.encode_image(rgb, quality, refine_steps=self.steps, seed=self.seed)

    def decode_image(self, data: bytes) -> np.ndarray:
        return self.codec.decode_image(data)
