"""Iterative encoding: stochastic Gumbel annealing (SGA; Yang, Bamler, Mandt, NeurIPS 2020).

The encoder's latents are optimised for one image through the fixed decoder and entropy
model; the file format and the decoder do not change. Each step:

- every latent element v (y around its mean, z around its median) is soft-rounded between
  floor and ceil: weights softmax((logit + Gumbel noise) / tau) with
  logit = -atanh(distance to the candidate) / tau, so that the nearer integer is likelier and
  tau -> 0 gives hard rounding;
- the loss is the training objective on the soft-rounded latents,
  lambda_q * 255^2 * MSE(g_s) + bits per pixel (the entropy model's float simulation);
- Adam updates the continuous latents; tau anneals geometrically from 0.5 to 0.05.

Every `eval_every` steps (and at the end) the current latents are coded for real (hard
rounding, the exact integer entropy model) and their real cost lambda_q * 255^2 * MSE +
8 * bytes / pixels is measured; the returned file is the best iterate, starting with the
unrefined one, so it is never worse than ``steps=0`` by that cost. ``steps=0`` returns exactly
the unrefined bytes. The noise is seeded: the same input, settings and thread count give the
same file.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

TAU_START, TAU_END = 0.5, 0.05
_EPS = 1e-5


def sga_round(v: Tensor, offset: Tensor | float, tau: float, generator: torch.Generator) -> Tensor:
    """Soft-round v - offset between its floor and ceil (Gumbel-softmax sample at temperature
    tau), plus the offset. Differentiable in v."""
    u = v - offset
    lo = torch.floor(u).detach()
    d_lo = (u - lo).clamp(_EPS, 1 - _EPS)  # distance to floor; 1 - d_lo to ceil
    logits = torch.stack((-torch.atanh(d_lo), -torch.atanh(1 - d_lo)), -1) / tau
    gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator).clamp(1e-10, 1.0)))
    w = torch.softmax((logits + gumbel.to(logits.device)) / tau, -1)
    return lo + w[..., 1] + offset  # floor * w0 + (floor + 1) * w1


@dataclass
class RefineResult:
    """What refinement did: the real cost of the unrefined file and of the returned one, and
    the steps made (a time limit may stop early)."""

    steps: int
    seconds: float
    cost_start: float
    cost_best: float
    best_step: int
    history: list[tuple[int, float]] = field(default_factory=list)


def real_cost(codec, sections: dict[str, bytes], y_hat: Tensor, x: Tensor, q: Tensor, size: tuple[int, int]) -> float:  # noqa: ANN001
    """lambda_q * 255^2 * MSE + bpp of a coded image (x padded; cost over the real pixels)."""
    h, w = size
    with torch.no_grad():
        x_hat = codec.synthesize(y_hat, q)[..., :h, :w].clamp(0, 1)
    mse = float(F.mse_loss(x_hat, x[..., :h, :w]))
    bits = 8.0 * sum(len(v) for v in sections.values())
    return codec.lambdas[int(q[0])] * 255.0**2 * mse + bits / (h * w)


def refine(codec, x: Tensor, q: Tensor, size: tuple[int, int], steps: int, lr: float = 5e-3,  # noqa: ANN001
           seconds: float | None = None, seed: int = 0, eval_every: int = 10,
           tau_end: float = TAU_END) -> tuple[dict[str, bytes], Tensor, RefineResult]:
    """Code the padded image x [1, 3, H, W] of real `size` with SGA-refined latents.

    Returns (sections, y_hat, result) for the best iterate by real cost. `seconds` bounds the
    wall time (the best iterate so far is returned); `tau_end` is the temperature of the last
    step (from TAU_START, geometrically)."""
    t0 = time.perf_counter()
    with torch.no_grad():
        latents = codec.analyze(x, q)
    sections, y_hat = codec.compress_latents(latents, q)
    start = real_cost(codec, sections, y_hat, x, q, size)
    res = RefineResult(0, 0.0, start, start, 0, [(0, start)])
    if steps <= 0:
        return sections, y_hat, res
    best = (sections, y_hat)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in latents.items()}
    opt = torch.optim.Adam(params.values(), lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    h, w = size
    lam = codec.lambdas[int(q[0])]
    was_training = codec.training
    codec.eval()
    try:
        for step in range(1, steps + 1):
            tau = TAU_START * (tau_end / TAU_START) ** ((step - 1) / max(steps - 1, 1))
            x_hat, bits = codec.relaxed(params, q, tau, gen)
            loss = lam * 255.0**2 * F.mse_loss(x_hat[..., :h, :w], x[..., :h, :w]) + bits / (h * w)
            opt.zero_grad()
            loss.backward()
            opt.step()
            res.steps = step
            out_of_time = seconds is not None and time.perf_counter() - t0 > seconds
            if step % eval_every == 0 or step == steps or out_of_time:
                with torch.no_grad():
                    cand = codec.compress_latents({k: v.detach() for k, v in params.items()}, q)
                cost = real_cost(codec, *cand, x, q, size)
                res.history.append((step, cost))
                if cost < res.cost_best:
                    best, res.cost_best, res.best_step = cand, cost, step
            if out_of_time:
                break
    finally:
        if was_training:
            codec.train()
    res.seconds = time.perf_counter() - t0
    if not math.isfinite(res.cost_best):
        raise RuntimeError("refinement diverged")
    log.info("refined %d steps in %.1f s: cost %.4f -> %.4f (step %d)", res.steps, res.seconds, res.cost_start,
             res.cost_best, res.best_step)
    return best[0], best[1], res
