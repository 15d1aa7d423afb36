"""Selective scan (Mamba's S6 recurrence) in PyTorch, and SS2D's four-direction cross-scan.

The recurrence, per channel d and state n (diagonal A < 0)::

    h_t = exp(delta_t[d] * A[d, n]) * h_{t-1} + delta_t[d] * B_t[n] * u_t[d]
    y_t[d] = sum_n C_t[n] * h_t[n] + D[d] * u_t[d]

:func:`selective_scan` evaluates it in chunks of T steps, all chunks at once: inside a chunk
every state is a masked sum over its earlier steps with decay exp(S_t - S_s) (S the cumulative
sum of delta * A within the chunk), which only ever exponentiates non-positive numbers (no
overflow, no NaN for long sequences); then one multiply-add per chunk carries the state from
chunk to chunk. The default T = 1 (the carry alone: L multiply-adds on precomputed decays and
inputs) is the fastest on a CPU: forward and backward at a 384^2 training crop's latent (L = 576,
4 x 64 channels, state 4, 2 threads, quiet machine) take 0.017 s against 0.039 s with T = 4,
0.052 s with T = 8 and 0.34 s for the step-by-step reference (``python benchmarks/scan.py``).
The implementation before d05ec3b looped over chunks, slicing [T, T] blocks out one at a time:
side by side on one loaded thread it took 0.30 s at T = 8 against 0.041 s, and a whole mambaic
training step (384^2 crop, bf16) went from 1.19 to 0.54 s. Larger T trades the carry's loop for
O(L * T * D * N) tensor work, which may pay on a GPU (not measured).
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
                   chunk: int = 1) -> Tensor:
    """Chunked selective scan (T = chunk steps per chunk; see the module docstring).

    u, delta: [B, D, L]; A: [D, N] (negative); Bm, Cm: [B, G, N, L] with G dividing D;
    D: [D] or None. Returns y [B, D, L] in u's dtype, or in float32 when the inputs are in a half
    type: the recurrence always runs with autocast off (its decays and sums in bfloat16 would
    lose the state; :mod:`neurocodec.nn.precision`).
    """
    with full_precision(u):
        return _selective_scan(*(widen(t) for t in (u, delta, A, Bm, Cm)), None if D is None else widen(D), chunk)


class _Carry(torch.autograd.Function):
    """h_0 = 0, h_{j+1} = carry_j * h_j + end_j over the first dimension ([K, ...] in, [K, ...]
    out: the state entering each chunk). Forward and backward are each one in-place
    multiply-add per step into preallocated buffers (the gradient runs the same recurrence
    backwards: g_j = dL/dh_j + carry_j * g_{j+1}), instead of autograd nodes per step."""

    @staticmethod
    def forward(ctx, carry: Tensor, ends: Tensor) -> Tensor:  # noqa: ANN001
        carry, ends = carry.contiguous(), ends.contiguous()
        h = torch.empty_like(ends)
        h[0].zero_()
        for j in range(h.shape[0] - 1):
            torch.addcmul(ends[j], carry[j], h[j], out=h[j + 1])
        ctx.save_for_backward(carry, h)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:  # noqa: ANN001
        carry, h = ctx.saved_tensors
        acc = grad.contiguous().clone()  # acc_j = dL/dh_j, all paths through later states included
        for j in range(acc.shape[0] - 2, -1, -1):
            acc[j].addcmul_(carry[j], acc[j + 1])
        d_ends = torch.zeros_like(acc)
        d_ends[:-1] = acc[1:]
        d_carry = torch.zeros_like(acc)
        torch.mul(acc[1:], h[:-1], out=d_carry[:-1])
        return d_carry, d_ends


def _selective_scan(u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, Cm: Tensor, D: Tensor | None,
                    chunk: int) -> Tensor:
    b, d, length = u.shape
    n = A.shape[1]
    add_scan_flops(b, length, d, n)
    Bm, Cm = _expand_groups(Bm, d), _expand_groups(Cm, d)
    t = max(1, min(chunk, length))
    k = -(-length // t)
    pad = k * t - length
    if pad:  # delta = 0 and u = 0 past the end: the state passes unchanged, outputs dropped
        u_p, delta, Bm, Cm = (torch.nn.functional.pad(v, (0, pad)) for v in (u, delta, Bm, Cm))
    else:
        u_p = u
    # every chunk at once: [B, D, K, T(, N)]
    dl = delta.reshape(b, d, k, t)
    s = torch.cumsum(dl.unsqueeze(-1) * A[:, None, None, :], 3)  # S_t within its chunk, <= 0
    # seg[t, s'] = S_t - S_s' for s' <= t (non-positive), -inf above the diagonal
    tri = torch.ones(t, t, dtype=torch.bool, device=u.device).tril()
    seg = (s.unsqueeze(4) - s.unsqueeze(3)).masked_fill(~tri[:, :, None], float("-inf"))  # [B, D, K, T, T, N]
    bm = Bm.reshape(b, d, n, k, t).permute(0, 1, 3, 4, 2)  # [B, D, K, T, N]
    xb = (dl * u_p.reshape(b, d, k, t)).unsqueeze(-1) * bm
    local = torch.einsum("bdktsn,bdksn->bdktn", torch.exp(seg), xb)  # each chunk from a zero state
    decay = torch.exp(s)  # from each chunk's start
    # the state entering each chunk: one multiply-add per chunk (_Carry)
    entering = _Carry.apply(decay[:, :, :, -1].movedim(2, 0), local[:, :, :, -1].movedim(2, 0))
    states = local + decay * entering.movedim(0, 2).unsqueeze(3)
    cm = Cm.reshape(b, d, n, k, t).permute(0, 1, 3, 4, 2)
    y = (states * cm).sum(-1).reshape(b, d, k * t)[..., :length]
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
