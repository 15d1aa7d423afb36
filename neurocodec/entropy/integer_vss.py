"""Integer-exact visual state-space (VSS) blocks and window attention, for networks that choose
probabilities (MambaIC's hyper-synthesis and context model).

The rule and the fixed-point conventions are those of :mod:`neurocodec.entropy.integer_nets`
(Q10 activations, per-channel power-of-two weight scales, float64 accumulators kept below
2^52). What a VSS block adds to plain convolutions, and how each part stays exact:

- **LayerNorm** over channels: integer mean and variance (exact int64 sums, floor division),
  ``std = floor(sqrt(var + eps))`` with an IEEE double square root of an integer below 2^53
  (correctly rounded by the standard on every CPU and GPU), then a rounded integer division.
  No affine part: the linear layer after it absorbs one.
- **SiLU** and **softplus**: lookup tables over Q8 inputs in [-16, 16] (Q15 sigmoid, Q16
  softplus), computed with :mod:`decimal` (no libm), so the integers are the same everywhere.
- **Selective scan** (SS2D, four directions): delta (Q16) from the softplus table, decay
  ``exp(-delta * |A|)`` from two exact tables (coarse and fine steps of the exponent, Q16),
  then the recurrence ``h_t = round(dA_t * h_{t-1} / 2^16) + round(delta_t * u_t) * B_t`` in
  int64, step by step in time order: a fixed-point recurrence evaluated in one defined order.
  Its cost is a Python loop of L steps over [B, 4E, N] integers (measured in the model card).
- **Window attention**: integer dot products, logits in Q8, the exact softmax of
  :func:`~neurocodec.entropy.integer_nets.mixture_weights_q16` (Q16 weights summing to 2^16),
  an integer weighted sum. Windows are padded; padded keys get zero weight.

Training runs the float simulation (``forward_sim``: the same formulas with straight-through
rounding where it is cheap, and the chunked float scan of :mod:`neurocodec.nn.scan`); eval mode
runs the exact path. ``exact=False`` makes a block a plain float block (for the encoder's
hyper-analysis, off the probability path).
"""

from __future__ import annotations

import decimal
import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec.entropy import integer_nets as inet
from neurocodec.entropy.integer_nets import ACT_FRAC, ACT_LIMIT, IntConv2d, IntegerModule, _ste_round
from neurocodec.nn.scan import add_scan_flops, cross_merge, cross_scan, selective_scan

__all__ = ["IntLayerNorm", "IntSiLU", "VSSBlock", "WindowAttention", "ConvMixer", "int_selective_scan"]

TABLE_FRAC = 8  # table inputs: Q8 in [-16, 16]
TABLE_RANGE = 16
DELTA_FRAC = 16  # delta (step size) in Q16
DELTA_MAX = 8.0
A_FRAC = 12  # |A| and the decay exponent in Q12
EXP_MAX = 16  # decay exponents are clipped to [0, 16)
STATE_FRAC = 20  # the scan state in Q20
STATE_LIMIT = (1 << 40) - 1
BC_LIMIT = (1 << 15) - 1  # B and C are clipped to +-32 (Q10)
D_FRAC = 12
LN_EPS = 16  # LayerNorm epsilon in Q20 units (about 1.5e-5)


def _half_up_shift(n: Tensor, shift: int) -> Tensor:
    """round(n / 2^shift), half up, on int64."""
    return (n + (1 << (shift - 1))) >> shift if shift > 0 else n


def _decimal_table(fn, n: int, frac_out: int) -> Tensor:  # noqa: ANN001
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    with decimal.localcontext(ctx):
        one = decimal.Decimal(1 << frac_out)
        vals = [int((one * fn(i)).to_integral_value(decimal.ROUND_HALF_EVEN)) for i in range(n)]
    return torch.tensor(vals, dtype=torch.int64)


def _table_x(i: int) -> decimal.Decimal:
    return decimal.Decimal(i - (TABLE_RANGE << TABLE_FRAC)) / decimal.Decimal(1 << TABLE_FRAC)


@lru_cache(maxsize=None)
def sigmoid_table() -> Tensor:
    """int64 [8193]: round(2^15 * sigmoid(x)) for x = -16 .. 16 in steps of 1/256."""
    return _decimal_table(lambda i: 1 / (1 + (-_table_x(i)).exp()), (2 * TABLE_RANGE << TABLE_FRAC) + 1, 15)


@lru_cache(maxsize=None)
def softplus_table() -> Tensor:
    """int64 [8193]: round(2^16 * log(1 + exp(x))) for x = -16 .. 16 in steps of 1/256."""
    return _decimal_table(lambda i: (1 + _table_x(i).exp()).ln(), (2 * TABLE_RANGE << TABLE_FRAC) + 1, DELTA_FRAC)


@lru_cache(maxsize=None)
def decay_tables() -> tuple[Tensor, Tensor]:
    """(coarse [1024], fine [64]): round(2^16 exp(-j / 64)) and round(2^16 exp(-k / 4096));
    exp(-u) for u in Q12 is coarse[u >> 6] * fine[u & 63] / 2^16. The coarse table is every
    fourth entry of the mixture softmax's exp table (exp(-i / 256), the same rounding)."""
    coarse = inet.exp_table()[:: 1 << (inet.LOGIT_FRAC - 6)][: EXP_MAX * 64]
    fine = _decimal_table(lambda k: (-decimal.Decimal(k) / 4096).exp(), 64, 16)
    return coarse, fine


def _table_index(x: Tensor) -> Tensor:
    """Q10 integers -> indexes of the Q8 tables (rounded half up, clipped to the range)."""
    return (_half_up_shift(x, ACT_FRAC - TABLE_FRAC) + (TABLE_RANGE << TABLE_FRAC)).clamp(0, 2 * TABLE_RANGE << TABLE_FRAC)


def _table_input_sim(x: Tensor) -> Tensor:
    """The real input a table sees: x rounded to 1/256 and clipped to [-16, 16]."""
    s = float(1 << TABLE_FRAC)
    return (_ste_round(x * s) / s).clamp(-TABLE_RANGE, TABLE_RANGE)


def _act_round(x: Tensor) -> Tensor:
    s = float(1 << ACT_FRAC)
    return (_ste_round(x * s) / s).clamp(-ACT_LIMIT / s, ACT_LIMIT / s)


class IntLayerNorm(IntegerModule):
    """LayerNorm over the channel axis of [B, C, ...] (no affine part)."""

    def forward_sim(self, x: Tensor) -> Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return _act_round((x - mu) / torch.sqrt(var + LN_EPS / float(1 << 2 * ACT_FRAC)))

    def forward_int(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        mu = torch.div(x.sum(1, keepdim=True), c, rounding_mode="floor")
        d = x - mu
        var = torch.div((d * d).sum(1, keepdim=True), c, rounding_mode="floor")  # Q20
        std = torch.floor(torch.sqrt((var + LN_EPS).double())).long()  # Q10, >= 4
        out = torch.div(2 * (d << ACT_FRAC) + std, 2 * std, rounding_mode="floor")
        return out.clamp_(-ACT_LIMIT, ACT_LIMIT)


class IntSiLU(IntegerModule):
    """x * sigmoid(x), the sigmoid from a Q15 table over Q8 inputs."""

    def forward_sim(self, x: Tensor) -> Tensor:
        return _act_round(x * torch.sigmoid(_table_input_sim(x)))

    def forward_int(self, x: Tensor) -> Tensor:
        sig = sigmoid_table().to(x.device)[_table_index(x)]
        return _half_up_shift(x * sig, 15).clamp_(-ACT_LIMIT, ACT_LIMIT)


def _delta_sim(dt: Tensor) -> Tensor:
    sp = torch.where(dt > TABLE_RANGE, dt, F.softplus(_table_input_sim(dt)))
    s = float(1 << DELTA_FRAC)
    return (_ste_round(sp * s) / s).clamp(0.0, DELTA_MAX)


def _delta_int(dt: Tensor) -> Tensor:
    """Q10 -> Q16 softplus, clipped to DELTA_MAX."""
    sp = softplus_table().to(dt.device)[_table_index(dt)]
    big = dt << (DELTA_FRAC - ACT_FRAC)
    out = torch.where(dt > (TABLE_RANGE << ACT_FRAC), big, sp)
    return out.clamp_(0, int(DELTA_MAX * (1 << DELTA_FRAC)))


def int_selective_scan(u: Tensor, delta: Tensor, a_q: Tensor, b_q: Tensor, c_q: Tensor, d_q: Tensor) -> Tensor:
    """The exact scan.

    u: int64 [B, D, L] (Q10); delta: int64 [B, D, L] (Q16); a_q: int64 [D, N] (|A|, Q12);
    b_q, c_q: int64 [B, G, N, L] (Q10, clipped to +-2^15); d_q: int64 [D] (Q12).
    Returns int64 [B, D, L] (Q10). Every operation is on int64; time runs in one order.
    """
    b, d, length = u.shape
    n = a_q.shape[1]
    add_scan_flops(b, length, d, n)
    g = b_q.shape[1]
    bq = b_q.repeat_interleave(d // g, 1) if g != d else b_q  # [B, D, N, L]
    cq = c_q.repeat_interleave(d // g, 1) if g != d else c_q
    xdt = _half_up_shift(delta * u, DELTA_FRAC).clamp_(-ACT_LIMIT, ACT_LIMIT)  # Q10
    # time-major for the loop: [L, B, D, N]
    inc = (xdt.unsqueeze(2) * bq).permute(3, 0, 1, 2).contiguous()  # Q20
    ex = _half_up_shift(delta.unsqueeze(2) * a_q[None, :, :, None], DELTA_FRAC).clamp_(0, (EXP_MAX << A_FRAC) - 1)
    coarse, fine = (t.to(u.device) for t in decay_tables())
    decay = _half_up_shift(coarse[ex >> 6] * fine[ex & 63], 16).permute(3, 0, 1, 2).contiguous()  # Q16
    states = torch.empty_like(inc)
    h = torch.zeros_like(inc[0])
    half = torch.full_like(h, 1 << 15)
    for t in range(length):  # h = clamp(((decay * h + 2^15) >> 16) + inc), written in place
        cur = torch.addcmul(half, decay[t], h, out=states[t])
        cur.bitwise_right_shift_(16).add_(inc[t]).clamp_(-STATE_LIMIT, STATE_LIMIT)
        h = cur
    y = (states * cq.permute(3, 0, 1, 2)).sum(-1)  # [L, B, D], Q30
    y = _half_up_shift(y, STATE_FRAC).permute(1, 2, 0) + _half_up_shift(d_q[None, :, None] * u, D_FRAC)
    return y.clamp_(-ACT_LIMIT, ACT_LIMIT)


class SS2D(IntegerModule):
    """Four-direction selective scan over [B, E, H, W] (E channels, state size N, dt rank R)."""

    def __init__(self, channels: int, state: int = 4, rank: int | None = None) -> None:
        super().__init__()
        e, n = channels, state
        r = rank or max(1, math.ceil(e / 16))
        self.E, self.N, self.R = e, n, r
        k = 4
        self.x_proj = IntConv2d(k * e, k * (r + 2 * n), 1, groups=k)
        self.dt_proj = IntConv2d(k * r, k * e, 1, groups=k)
        # Mamba's initialisation: delta in [1e-3, 1e-1] (log-uniform), A_n = n + 1, D = 1
        with torch.no_grad():
            dt = torch.exp(torch.rand(k * e) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            self.dt_proj.weight.mul_(0.1)
        self.A = nn.Parameter(torch.arange(1, n + 1, dtype=torch.float32).repeat(k * e, 1))  # |A|
        self.D = nn.Parameter(torch.ones(k * e))

    def _split(self, proj: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[B, 4(R+2N), L] -> dt [B, 4R, L], B and C [B, 4, N, L]."""
        b, _, length = proj.shape
        p = proj.reshape(b, 4, self.R + 2 * self.N, length)
        dt = p[:, :, : self.R].reshape(b, 4 * self.R, length)
        return dt, p[:, :, self.R: self.R + self.N], p[:, :, self.R + self.N:]

    def _a_sim(self) -> Tensor:
        s = float(1 << A_FRAC)
        return (_ste_round(self.A.abs() * s) / s).clamp_min(1.0 / s)

    def _d_sim(self) -> Tensor:
        s = float(1 << D_FRAC)
        return _ste_round(self.D * s) / s

    def forward_sim(self, x: Tensor) -> Tensor:
        b, e, h, w = x.shape
        xs = cross_scan(x).reshape(b, 4 * e, h * w, 1)
        dt, bm, cm = self._split(self.x_proj.forward_sim(xs).squeeze(-1))
        delta = _delta_sim(self.dt_proj.forward_sim(dt.unsqueeze(-1)).squeeze(-1))
        lim = BC_LIMIT / float(1 << ACT_FRAC)
        y = selective_scan(xs.squeeze(-1), delta, -self._a_sim(), bm.clamp(-lim, lim), cm.clamp(-lim, lim), self._d_sim())
        return cross_merge(_act_round(y).reshape(b, 4, e, h * w), h, w)

    def forward_int(self, x: Tensor) -> Tensor:
        b, e, h, w = x.shape
        xs = cross_scan(x).reshape(b, 4 * e, h * w, 1)
        dt, bm, cm = self._split(self.x_proj.forward_int(xs).squeeze(-1))
        delta = _delta_int(self.dt_proj.forward_int(dt.unsqueeze(-1)).squeeze(-1))
        a_q = torch.round(self.A.detach().double().abs() * float(1 << A_FRAC)).long().clamp_(1, 1 << 20).to(x.device)
        d_q = torch.round(self.D.detach().double() * float(1 << D_FRAC)).long().clamp_(-(1 << 20), 1 << 20).to(x.device)
        y = int_selective_scan(xs.squeeze(-1), delta, a_q, bm.clamp(-BC_LIMIT, BC_LIMIT), cm.clamp(-BC_LIMIT, BC_LIMIT), d_q)
        return cross_merge(y.reshape(b, 4, e, h * w), h, w).clamp_(-ACT_LIMIT, ACT_LIMIT)


class _Block(IntegerModule):
    """Shared forward for blocks that may be exact (eval: integer path) or plain float."""

    exact: bool = True

    def forward(self, x: Tensor) -> Tensor:
        if self.training or not self.exact:
            return self.forward_sim(x)
        return IntegerModule.forward(self, x)


class VSSBlock(_Block):
    """x + out_proj(LN(SS2D(SiLU(dwconv(a)))) * SiLU(z)), (a, z) = in_proj(LN(x)); [B, C, H, W]."""

    def __init__(self, channels: int, state: int = 4, expand: int = 1, exact: bool = True) -> None:
        super().__init__()
        c, e = channels, channels * expand
        self.exact = exact
        self.norm = IntLayerNorm()
        self.in_proj = IntConv2d(c, 2 * e, 1)
        self.dwconv = IntConv2d(e, e, 3, padding=1, groups=e)
        self.act = IntSiLU()
        self.ss2d = SS2D(e, state)
        self.out_norm = IntLayerNorm()
        self.out_proj = IntConv2d(e, c, 1)

    @torch.no_grad()
    def zero_init(self) -> None:
        """Make the block the identity (its output projection zero), e.g. when it is inserted
        into a trained network."""
        self.out_proj.weight.zero_()
        self.out_proj.bias.zero_()

    def _body(self, x: Tensor, sim: bool) -> Tensor:
        run = (lambda m, t: m.forward_sim(t)) if sim else (lambda m, t: m.forward_int(t))  # noqa: E731
        a, z = run(self.in_proj, run(self.norm, x)).chunk(2, 1)
        a = run(self.out_norm, run(self.ss2d, run(self.act, run(self.dwconv, a))))
        g = run(self.act, z)
        if sim:
            gated = _act_round(a * g)
        else:
            gated = _half_up_shift(a * g, ACT_FRAC).clamp_(-ACT_LIMIT, ACT_LIMIT)
        return run(self.out_proj, gated)

    def forward_sim(self, x: Tensor) -> Tensor:
        return _act_round(x + self._body(x, True))

    def forward_int(self, x: Tensor) -> Tensor:
        return (x + self._body(x, False)).clamp_(-ACT_LIMIT, ACT_LIMIT)


class ConvMixer(_Block):
    """The ablation's stand-in for a VSS block: x + conv1x1(LeakyReLU(conv3x3(x))) with the
    hidden width chosen so that the parameter count matches a VSSBlock(channels, state)."""

    def __init__(self, channels: int, state: int = 4, expand: int = 1, exact: bool = True) -> None:
        super().__init__()
        target = sum(p.numel() for p in VSSBlock(channels, state, expand).parameters())
        hidden = max(1, round((target - channels) / (10 * channels + 1)))
        self.exact = exact
        self.body = inet.IntSequential(IntConv2d(channels, hidden, 3, padding=1), inet.IntLeakyReLU(),
                                       IntConv2d(hidden, channels, 1))

    @torch.no_grad()
    def zero_init(self) -> None:
        """Make the block the identity (its last convolution zero)."""
        self.body[-1].weight.zero_()
        self.body[-1].bias.zero_()

    def forward_sim(self, x: Tensor) -> Tensor:
        return _act_round(x + self.body.forward_sim(x))

    def forward_int(self, x: Tensor) -> Tensor:
        return (x + self.body.forward_int(x)).clamp_(-ACT_LIMIT, ACT_LIMIT)


def _windows(x: Tensor, w: int) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """[B, C, H, W] -> ([B*nw, w*w, C] windows, bool [1*nw... , w*w] valid mask, padded size)."""
    b, c, h, wd = x.shape
    ph, pw = (-h) % w, (-wd) % w
    xp = F.pad(x, (0, pw, 0, ph))
    hh, ww = h + ph, wd + pw
    win = xp.reshape(b, c, hh // w, w, ww // w, w).permute(0, 2, 4, 3, 5, 1).reshape(-1, w * w, c)
    valid = F.pad(torch.ones(1, 1, h, wd, dtype=torch.bool, device=x.device), (0, pw, 0, ph))
    valid = valid.reshape(1, hh // w, w, ww // w, w).permute(0, 1, 3, 2, 4).reshape(-1, w * w)
    return win, valid.repeat(b, 1), (hh, ww)


def _unwindows(win: Tensor, b: int, size: tuple[int, int], padded: tuple[int, int], w: int) -> Tensor:
    hh, ww = padded
    c = win.shape[-1]
    x = win.reshape(b, hh // w, ww // w, w, w, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, hh, ww)
    return x[..., : size[0], : size[1]]


class WindowAttention(_Block):
    """x + proj(softmax(q k^T / 2^s) v) within non-overlapping w x w windows (one head).

    The logit scale 2^-s (s = floor(log2(C) / 2)) is a power of two, so the exact path is a
    shift. [B, C, H, W] -> same; any H, W (windows are padded, padded keys masked)."""

    def __init__(self, channels: int, window: int = 4, exact: bool = True) -> None:
        super().__init__()
        self.window, self.exact = window, exact
        self.qkv = IntConv2d(channels, 3 * channels, 1)
        self.proj = IntConv2d(channels, channels, 1)
        self.shift = (channels.bit_length() - 1) // 2

    def forward_sim(self, x: Tensor) -> Tensor:
        b, _, h, wd = x.shape
        q, k, v = self.qkv.forward_sim(x).chunk(3, 1)
        (qw, valid, padded), (kw, _, _), (vw, _, _) = (_windows(t, self.window) for t in (q, k, v))
        logits = torch.einsum("nic,njc->nij", qw, kw) / float(1 << self.shift)
        logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
        out = torch.einsum("nij,njc->nic", torch.softmax(logits, -1), vw)
        out = _unwindows(_act_round(out), b, (h, wd), padded, self.window)
        return _act_round(x + self.proj.forward_sim(out))

    def forward_int(self, x: Tensor) -> Tensor:
        b, _, h, wd = x.shape
        q, k, v = self.qkv.forward_int(x).chunk(3, 1)
        (qw, valid, padded), (kw, _, _), (vw, _, _) = (_windows(t, self.window) for t in (q, k, v))
        # dot products of Q10 integers (exact in int64), to Q8 logits
        # exact in float64: |products| <= 2^40, at most 2^12 terms
        acc = torch.einsum("nic,njc->nij", qw.double(), kw.double()).long()
        logits = _half_up_shift(acc, 2 * ACT_FRAC - inet.LOGIT_FRAC + self.shift).clamp_(-inet.OUT_LIMIT, inet.OUT_LIMIT)
        logits = logits.masked_fill(~valid[:, None, :], -(1 << 40))
        weights = inet.mixture_weights_q16(logits).long()  # [n, i, j], rows sum to 2^16
        out = _half_up_shift(torch.einsum("nij,njc->nic", weights.double(), vw.double()).long(), 16).clamp_(-ACT_LIMIT, ACT_LIMIT)
        out = _unwindows(out, b, (h, wd), padded, self.window)
        return (x + self.proj.forward_int(out)).clamp_(-ACT_LIMIT, ACT_LIMIT)
