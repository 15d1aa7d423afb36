"""Selective scan (Mamba's S6 recurrence) in PyTorch, and SS2D's four-direction cross-scan.

The recurrence, per channel d and state n (diagonal A < 0)::

    h_t = exp(delta_t[d] * A[d, n]) * h_{t-1} + delta_t[d] * B_t[n] * u_t[d]
    y_t[d] = sum_n C_t[n] * h_t[n] + D[d] * u_t[d]

:func:`selective_scan` evaluates it in chunks: inside a chunk of T steps every output is a
masked sum over earlier steps of the chunk with decay exp(S_t - S_s) (S the cumulative sum of
delta * A), which only ever exponentiates non-positive numbers (no overflow, no NaN for long
sequences); the state is carried from chunk to chunk. The default T = 8 is the fastest for
training: a float32 mambaic step (forward and backward, 2 x 256^2 crops, one thread) takes
1.05 s against 1.32 s with T = 32, whose [T, T] decay blocks grow with T squared
(``python benchmarks/train_step.py --codecs mambaic --scan-chunk 32``, then 8). Cost
O(L * T * D * N) memory-light work instead of a Python loop over L.
:func:`selective_scan_reference` is the step-by-step loop the tests compare it with.

FLOPs: ``torch.utils.flop_counter`` sees only matmuls and convolutions, not this elementwise
recurrence. Each call adds ``9 * B * L * D * N`` (the customary analytic count) to
:data:`SCAN_FLOPS` while a :func:`count_scan_flops` block is open.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor

from neurocodec.nn.precision import full_precision, widen

__all__ = ["cross_scan", "cross_merge", "selective_scan", "selective_scan_reference", "count_scan_flops",
           "add_scan_flops"]

_counters: list[list[int]] = []


@contextlib.contextmanager
def count_scan_flops() -> Iterator[list[int]]:
    """Within the block, every scan adds 9*B*L*D*N to the yielded one-element list."""
    box = [0]
    _counters.append(box)
    try:
        yield box
    finally:
        _counters.remove(box)


def add_scan_flops(b: int, length: int, d: int, n: int) -> None:
    """Record one scan of batch b, length L, D channels and state size N."""
    for box in _counters:
        box[0] += 9 * b * length * d * n


def cross_scan(x: Tensor) -> Tensor:
    """[B, C, H, W] -> [B, 4, C, H*W]: row-major, column-major, and both reversed."""
    b, c, h, w = x.shape
    rows = x.reshape(b, c, h * w)
    cols = x.transpose(-1, -2).reshape(b, c, h * w)
    return torch.stack((rows, cols, rows.flip(-1), cols.flip(-1)), 1)


def cross_merge(y: Tensor, h: int, w: int) -> Tensor:
    """[B, 4, C, H*W] -> [B, C, H, W]: each direction put back in place, then summed.
    (The exact inverse of :func:`cross_scan` up to that sum: merging one direction alone
    with the others zero gives the input back.)"""
    b, _, c, _ = y.shape
    rows = y[:, 0] + y[:, 2].flip(-1)
    cols = y[:, 1] + y[:, 3].flip(-1)
    return rows.reshape(b, c, h, w) + cols.reshape(b, c, w, h).transpose(-1, -2)


def _expand_groups(m: Tensor, d: int) -> Tensor:
    """B or C [B, G, N, L] -> [B, D, N, L] (each group shared by D/G channels)."""
    g = m.shape[1]
    return m.repeat_interleave(d // g, dim=1) if g != d else m


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, D: Tensor | None = None,
                   chunk: int = 8) -> Tensor:
    """Chunked selective scan.

    u, delta: [B, D, L]; A: [D, N] (negative); Bm, Cm: [B, G, N, L] with G dividing D;
    D: [D] or None. Returns y [B, D, L] in u's dtype, or in float32 when the inputs are in a half
    type: the recurrence always runs with autocast off (its decays and sums in bfloat16 would
    lose the state; :mod:`neurocodec.nn.precision`).
    """
    with full_precision(u):
        return _selective_scan(*(widen(t) for t in (u, delta, A, Bm, Cm)), None if D is None else widen(D), chunk)


def _selective_scan(u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, D: Tensor | None,
                    chunk: int) -> Tensor:
    b, d, length = u.shape
    n = A.shape[1]
    add_scan_flops(b, length, d, n)
    Bm, Cm = _expand_groups(Bm, d), _expand_groups(Cm, d)
    h = u.new_zeros(b, d, n)
    outs = []
    for t0 in range(0, length, chunk):
        t1 = min(length, t0 + chunk)
        dl = delta[..., t0:t1]  # [B, D, T]
        log_a = dl.unsqueeze(-1) * A[:, None, :]  # [B, D, T, N], <= 0
        s = torch.cumsum(log_a, 2)
        # seg[t, s'] = S_t - S_s' for s' <= t (non-positive), -inf above the diagonal
        seg = s.unsqueeze(3) - s.unsqueeze(2)  # [B, D, T, T, N]
        tri = torch.ones(t1 - t0, t1 - t0, dtype=torch.bool, device=u.device).tril()
        decay = torch.exp(seg.masked_fill(~tri[None, None, :, :, None], float("-inf")))
        xb = (dl * u[..., t0:t1]).unsqueeze(-1) * Bm[..., t0:t1].transpose(-1, -2)  # [B, D, T, N]
        states = torch.einsum("bdtsn,bdsn->bdtn", decay, xb) + torch.exp(s) * h.unsqueeze(2)
        outs.append(torch.einsum("bdtn,bdnt->bdt", states, Cm[..., t0:t1]))
        h = states[:, :, -1]
    y = torch.cat(outs, -1)
    if D is not None:
        y = y + D[:, None] * u
    return y


def selective_scan_reference(u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor,
                             D: Tensor | None = None) -> Tensor:
    """The recurrence step by step (for tests): same arguments and result as selective_scan."""
    b, d, length = u.shape
    Bm, Cm = _expand_groups(Bm, d), _expand_groups(Cm, d)
    h = u.new_zeros(b, d, A.shape[1])
    ys = []
    for t in range(length):
        h = torch.exp(delta[..., t, None] * A) * h + (delta[..., t] * u[..., t])[..., None] * Bm[..., t]
        ys.append((h * Cm[..., t]).sum(-1))
    y = torch.stack(ys, -1)
    if D is not None:
        y = y + D[:, None] * u
    return y
