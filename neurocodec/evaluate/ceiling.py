"""The transform ceiling of an image codec: how well g_s(g_a(x)) reconstructs with the latent not
quantised (gains applied as the codec applies them). No quality level can do better, so a
ceiling that does not rise with the level shows undertrained transforms, not a weak entropy
model."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from neurocodec.codecs.image.base import ImageCodec


@torch.no_grad()
def transform_ceiling(codec: ImageCodec, images: Iterable[np.ndarray], qualities: Iterable[int]) -> dict[int, float]:
    """Mean PSNR-RGB (dB, on 8-bit rounded output) of the unquantised reconstruction per quality.

    images: uint8 RGB arrays [H, W, 3] of any size (padded as the codec pads them).
    Returns {quality: mean PSNR over the images}.
    """
    codec.eval()
    sums: dict[int, list[float]] = {int(q): [] for q in qualities}
    for rgb in images:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255.0)
        h, w = x.shape[-2:]
        xp = codec.pad(x)
        for q in sums:
            x_hat = codec.ceiling(xp, codec.level(q))[..., :h, :w].clamp(0, 1).mul(255).round()
            mse = float(torch.mean((x_hat - x.mul(255).round()) ** 2))
            sums[q].append(10 * math.log10(255.0**2 / max(mse, 1e-12)))
    return {q: float(np.mean(v)) for q, v in sums.items()}
