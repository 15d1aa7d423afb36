"""Float32 islands for mixed-precision training (``trainer.precision: bf16-mixed``).

Under autocast, convolutions and matrix products run in bfloat16 (8 significant bits). That is
fine for the transforms but not for the rate: a bin's probability is a difference of two CDF
values near each other, which bfloat16 rounds to steps of 2^-9, and noise or rounding added to a
latent of magnitude 64 moves in steps of 0.25. The entropy layers therefore compute
quantisation proxies and likelihoods in float32 with autocast off (:func:`full_precision`), as do
the integer layers' training simulation (its 2^-10 grid is finer than bfloat16) and the selective
scan; without autocast these are no-ops.
"""

from __future__ import annotations

import torch
from torch import Tensor


def full_precision(t: Tensor) -> torch.autocast:
    """A context that turns autocast off on ``t``'s device type (cast the inputs with :func:`widen`)."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def widen(t: Tensor) -> Tensor:
    """``t`` in float32 when it is in a half type (bfloat16, float16); other dtypes unchanged."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t
