"""Integer networks: the layers that choose probabilities, computed exactly everywhere.

The rule (see the Codec contract in :mod:`neurocodec.codecs.base`): every value the decoder
uses to choose a probability (scale indexes, means, mixture weights, table indexes) comes out
of arithmetic whose result does not depend on summation order, thread count, instruction set,
library version or device. Float networks (the analysis and synthesis transforms, the encoder's
hyper-analysis) may stay float: they never decide a probability.

These layers follow integer networks (Ballé, Johnston, Minnen, ICLR 2019):

- **Fixed point.** Activations are integers ``a`` standing for ``a / 2^ACT_FRAC`` and clipped
  to ``+-ACT_LIMIT``. A layer's weights are ``round(w * 2^E_c)`` with one power-of-two
  exponent ``E_c`` per output channel, taken exactly from the float weights (``frexp``) so that
  the largest weight of a channel is below ``2^WEIGHT_BITS``; the bias is
  ``round(b * 2^(E_c + in_frac))``. The output is the accumulator divided by
  ``2^(E_c + in_frac - out_frac)`` with rounding (half up), then clipped. The last layer of a
  parameter network may give each output channel its own ``out_frac`` (Q8 means, Q12 scales).
- **Exact evaluation.** The accumulator is computed as a float64 convolution over
  integer-valued tensors. Every partial sum is an integer below the layer's accumulator bound
  ``sum|W| * in_limit + |B|``; while that bound is below 2^52 every partial sum is exactly
  representable, so the result is the same for any summation order, blocking, thread count or
  device. The bound is checked for every layer when it is built, when weights are loaded and
  before every exact evaluation; a layer that could overflow raises
  :class:`~neurocodec.errors.IntegerRangeError`. On CUDA, cuDNN is bypassed (no Winograd/FFT,
  no TF32): PyTorch's im2col + float64 GEMM is used, as on the CPU.
- **Nonlinearity.** A leaky ReLU with slope 41/4096 (about 0.01) on integers, with rounding.
- **Training.** In training mode the same computation is simulated in float with
  straight-through rounding (quantisation-aware training); in eval mode a module runs the
  exact integer path, so eval-mode likelihoods are those of the coded integers.
- **Heads.** :func:`scale_indexes` maps a fixed-point scale to the coder's scale index by
  integer comparison with the scale table's boundaries; :func:`mixture_weights_q16` turns
  fixed-point logits into Q16 mixture weights summing exactly to 2^16 with an integer
  exponential table (computed with :mod:`decimal`, correctly rounded, so identical everywhere).
"""

from __future__ import annotations

import decimal
from functools import lru_cache
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec.entropy.models import MEAN_FRAC_BITS, NUM_SCALES, PROB_BITS, tables
from neurocodec.errors import IntegerRangeError
from neurocodec.nn.precision import full_precision, widen

ACT_FRAC = 10  # activations: integer a stands for a / 2^10
ACT_LIMIT = (1 << 20) - 1  # activations are clipped to +-ACT_LIMIT (+-1024 in real units)
WEIGHT_BITS = 14  # the largest |weight| of each output channel is in [2^13, 2^14]
MAX_EXPONENT = 24  # weight exponents are at most this (bias integers stay moderate)
ACC_LIMIT = 1 << 52  # accumulator bound: every partial sum exact in float64 (< 2^53)
OUT_LIMIT = (1 << 30) - 1  # clip of a parameter network's last layer
SCALE_FRAC = 12  # fixed-point bits of scale outputs (0.11 is about 450 units)
MEAN_FRAC = MEAN_FRAC_BITS  # Q8 means: the coder's own mean format
LOGIT_FRAC = 8  # mixture logits in 1/256 units
LEAK_NUM, LEAK_SHIFT = 41, 12  # leaky slope 41/4096

__all__ = [
    "ACT_FRAC",
    "ACT_LIMIT",
    "IntConv2d",
    "IntConvTranspose2d",
    "IntLeakyReLU",
    "IntPixelShuffle",
    "IntSequential",
    "IntegerModule",
    "check_bounds",
    "means_of_q8",
    "mixture_weights_q16",
    "scale_indexes",
    "scales_of_indexes",
    "to_fixed",
]


def _ste_round(x: Tensor) -> Tensor:
    """round(x) with an identity gradient."""
    return x + (torch.round(x) - x).detach()


def _round_div_pow2(n: Tensor, shift: Tensor) -> Tensor:
    """floor((n + 2^(shift-1)) / 2^shift) on int64 (round half up); shift >= 0, broadcast.
    An arithmetic right shift is a floor division by 2^shift."""
    half = torch.where(shift > 0, torch.ones_like(shift) << (shift - 1).clamp_min(0), torch.zeros_like(shift))
    return (n + half) >> shift


def to_fixed(x: Tensor, frac: int = ACT_FRAC, limit: int = ACT_LIMIT) -> Tensor:
    """Real-valued tensor -> int64 fixed point round(x * 2^frac), clipped to +-limit (NaN -> 0).

    Exact and portable: scaling by a power of two is exact and rounding is half-to-even on
    every IEEE device.
    """
    return torch.round(x.double().nan_to_num(0.0) * float(1 << frac)).clamp_(-limit, limit).long()


class IntegerModule(nn.Module):
    """A module with a float training simulation and an exact integer path.

    ``forward`` runs the simulation in training mode, in float32 with autocast off (under
    bf16-mixed training a bfloat16 activation is coarser than the fixed-point grid it simulates);
    in eval mode it converts its input to fixed point, runs :meth:`forward_int` and returns the
    result in real units, so that eval-mode outputs are exactly what the coder sees.
    """

    in_frac: int = ACT_FRAC
    in_limit: int = ACT_LIMIT

    def forward_sim(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_int(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def out_fracs(self, channels: int) -> Tensor:
        """int64 [channels]: fixed-point bits of each output channel."""
        return torch.full((channels,), ACT_FRAC, dtype=torch.int64)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            with full_precision(x):
                return self.forward_sim(widen(x))
        y = self.forward_int(to_fixed(x, self.in_frac, self.in_limit))
        scale = torch.exp2(-self.out_fracs(y.shape[1]).to(y.device, torch.float64))
        return (y.double() * scale.reshape(1, -1, *([1] * (y.dim() - 2)))).float()


def _check_after_load(module: "_IntConvMixin", _keys: object) -> None:
    """load_state_dict post-hook: refuse weights that could overflow the exact range."""
    module.check_bounds()


class _IntConvMixin(IntegerModule):
    """Integer convolution (shared by the plain and transposed forms)."""

    transposed_layout: bool = False

    def _int_init(self, in_frac: int, out_frac: int | Sequence[int], in_limit: int, out_limit: int) -> None:
        self.in_frac, self.in_limit, self.out_limit = int(in_frac), int(in_limit), int(out_limit)
        out_ch = self.out_channels
        fr = [int(out_frac)] * out_ch if isinstance(out_frac, int) else [int(f) for f in out_frac]
        if len(fr) != out_ch:
            raise ValueError(f"out_frac needs one value per output channel ({out_ch})")
        self.register_buffer("out_frac_bits", torch.tensor(fr, dtype=torch.int64), persistent=False)
        fan_in = self.weight.numel() // out_ch
        worst = fan_in * (1 << WEIGHT_BITS) * self.in_limit
        if worst >= ACC_LIMIT // 2:
            raise IntegerRangeError(
                f"{type(self).__name__}({self.in_channels}, {out_ch}, k={self.kernel_size}): a fan-in of {fan_in} "
                f"with {WEIGHT_BITS}-bit weights and inputs up to {self.in_limit} can reach {worst:.3g}, "
                f"above the exact float64 range (2^51 for the products)"
            )
        self.register_load_state_dict_post_hook(_check_after_load)

    def out_fracs(self, channels: int | None = None) -> Tensor:
        return self.out_frac_bits

    def _channel_view(self, t: Tensor) -> Tensor:
        """[out] -> broadcastable over the weight tensor."""
        shape = [1] * self.weight.dim()
        shape[1 if self.transposed_layout else 0] = -1
        return t.reshape(shape)

    def _channel_absmax(self) -> Tensor:
        dims = [d for d in range(self.weight.dim()) if d != (1 if self.transposed_layout else 0)]
        w = self.weight.detach().double()
        if self.transposed_layout and self.groups != 1:
            raise NotImplementedError("grouped transposed integer convolutions")
        return w.abs().amax(dim=dims)

    def exponents(self) -> Tensor:
        """int64 [out]: per-channel weight exponents E_c (exact: frexp of the channel maximum)."""
        m = self._channel_absmax()
        _, e = torch.frexp(m)  # m = f * 2^e, f in [0.5, 1)
        exp = WEIGHT_BITS - e.long()
        exp = torch.where(m > 0, exp, torch.full_like(exp, MAX_EXPONENT))
        lo = self.out_fracs().to(exp.device) - self.in_frac  # the output shift must be >= 0
        return torch.maximum(exp.clamp(max=MAX_EXPONENT), lo)

    def _int_cache(self) -> tuple[Tensor, Tensor, Tensor, float]:
        """(W, B, shift, bound), rebuilt whenever the stored weights differ from the ones the
        cache was made from (compared by value: in-place writes that bypass version counters,
        fused optimisers, dtype or device changes all invalidate it)."""
        w = self.weight.detach()
        b = None if self.bias is None else self.bias.detach()
        cache = self.__dict__.get("_int_params")
        if cache is not None:
            cw, cb, value = cache
            same = (cw.dtype == w.dtype and cw.device == w.device and torch.equal(cw, w)
                    and ((b is None and cb is None) or (b is not None and cb is not None and torch.equal(cb, b))))
            if same:
                return value
        W, B, shift = self.integer_parameters()
        dims = [d for d in range(W.dim()) if d != (1 if self.transposed_layout else 0)]
        bound = float((W.abs().sum(dim=dims) * float(self.in_limit) + B.abs()).max()) if W.numel() else 0.0
        value = (W, B, shift, bound)
        self.__dict__["_int_params"] = (w.clone(), None if b is None else b.clone(), value)
        return value

    def integer_parameters(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W, B, shift): integer-valued float64 weights and biases, and the int64 output shift
        of each channel. Pure functions of the stored weights: the same on every device."""
        exp = self.exponents()
        w_scale = torch.exp2(exp.double())
        W = torch.round(self.weight.detach().double() * self._channel_view(w_scale))
        b = self.bias.detach().double() if self.bias is not None else torch.zeros(self.out_channels, dtype=torch.float64, device=W.device)
        B = torch.round(b * torch.exp2((exp + self.in_frac).double()))
        shift = exp + self.in_frac - self.out_fracs().to(exp.device)
        return W, B, shift

    def accumulator_bound(self) -> float:
        """The largest |accumulator| any input within +-in_limit can produce."""
        return self._int_cache()[3]

    def check_bounds(self) -> None:
        """Raise IntegerRangeError if some input could make a partial sum inexact."""
        self._checked_parameters()

    def _checked_parameters(self) -> tuple[Tensor, Tensor, Tensor]:
        """(W, B, shift) of the current weights, refused if their bound is not below 2^52."""
        W, B, shift, bound = self._int_cache()
        if not bound < ACC_LIMIT:
            raise IntegerRangeError(
                f"{type(self).__name__}({self.in_channels}, {self.out_channels}): accumulator bound {bound:.4g} "
                f"is not below 2^52: these weights cannot be evaluated exactly (weights or biases too large)"
            )
        return W, B, shift

    def _requantize(self, acc: Tensor, shift: Tensor) -> Tensor:
        """Exact integer accumulator [B, out, ...] (float64 or int64) -> the clipped fixed-point output."""
        view = [1, -1] + [1] * (acc.dim() - 2)
        out = _round_div_pow2(acc.long(), shift.to(acc.device).reshape(view))
        return out.clamp_(-self.out_limit, self.out_limit)

    def _sim_weights(self) -> tuple[Tensor, Tensor | None]:
        exp = self.exponents().to(self.weight.device)
        ws = self._channel_view(torch.exp2(exp.to(self.weight.dtype)))
        w = _ste_round(self.weight * ws) / ws
        if self.bias is None:
            return w, None
        bs = torch.exp2((exp + self.in_frac).to(self.bias.dtype))
        return w, _ste_round(self.bias * bs) / bs

    def forward_sim(self, x: Tensor) -> Tensor:
        w, b = self._sim_weights()
        y = self._conv(x, w, b)
        scale = torch.exp2(self.out_fracs().to(y.device, y.dtype)).reshape(1, -1, *([1] * (y.dim() - 2)))
        return _ste_round(y * scale).clamp(-self.out_limit, self.out_limit) / scale

    def forward_int(self, x: Tensor) -> Tensor:
        """int64 [B, in, H, W] fixed point (in_frac) -> int64 [B, out, H', W'] (out_frac).
        1x1 convolutions also take points: [N, in] -> [N, out]."""
        W, B, shift = self._checked_parameters()
        W, B = W.to(x.device), B.to(x.device)
        xd = x.clamp(-self.in_limit, self.in_limit).double()
        if xd.dim() == 2:  # points, 1x1 kernels only
            if self.kernel_size != (1, 1) or self.transposed_layout:
                raise ValueError("points input needs a 1x1 convolution")
            acc = torch.addmm(B, xd, W.reshape(W.shape[0], -1).t())
        elif xd.is_cuda:
            with torch.backends.cudnn.flags(enabled=False):  # no Winograd / FFT / TF32
                acc = self._conv(xd, W, B)
        else:
            acc = self._conv(xd, W, B)
        return self._requantize(acc, shift)

    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:  # pragma: no cover
        raise NotImplementedError


def _grouped_conv_f64(x: Tensor, w: Tensor, b: Tensor | None, padding: tuple[int, int], groups: int) -> Tensor:
    """Grouped stride-1 convolution of integer-valued float64 tensors, for the exact path.
    PyTorch's float64 grouped and depthwise convolutions take a slow generic path (0.8 s for a
    small depthwise layer); these are a batched matmul (1x1) and a sum of shifted products
    (depthwise). Every partial sum is an integer below 2^52, so the result is exact whatever
    the order."""
    bsz, cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    if (kh, kw) == (1, 1) and padding == (0, 0):
        xg = x.reshape(bsz, groups, cin_g, h * wd)
        out = torch.matmul(w.reshape(groups, cout // groups, cin_g), xg).reshape(bsz, cout, h, wd)
    elif cin_g == 1 and cout == cin:
        ph, pw = padding
        xp = F.pad(x, (pw, pw, ph, ph))
        ho, wo = h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1
        out = x.new_zeros(bsz, cout, ho, wo)
        for i in range(kh):
            for j in range(kw):
                out += w[:, 0, i, j].reshape(1, -1, 1, 1) * xp[:, :, i:i + ho, j:j + wo]
    else:
        return F.conv2d(x, w, b, 1, padding, 1, groups)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


class IntConv2d(nn.Conv2d, _IntConvMixin):
    """Integer Conv2d (same parameters and init as nn.Conv2d, so float weights load as is)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        groups: int = 1,
        in_frac: int = ACT_FRAC,
        out_frac: int | Sequence[int] = ACT_FRAC,
        in_limit: int = ACT_LIMIT,
        out_limit: int = ACT_LIMIT,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)
        self._int_init(in_frac, out_frac, in_limit, out_limit)

    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        if x.dtype == torch.float64 and self.groups > 1 and self.stride == (1, 1) and self.dilation == (1, 1):
            return _grouped_conv_f64(x, w, b, self.padding, self.groups)
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    forward = IntegerModule.forward

    def forward_int_at(self, x: Tensor, rows: Tensor, cols: Tensor, taps: Tensor | None = None) -> Tensor:
        """The exact output at some positions only: int64 [B, out, n] at (rows[i], cols[i]).

        taps: bool [kh, kw], the kernel taps that can see a nonzero input (e.g. a checkerboard
        context whose inputs are zero at half the positions); the others are skipped. The
        result equals forward_int(x)[..., rows, cols] (stride 1, no groups or dilation).
        """
        if self.stride != (1, 1) or self.groups != 1 or self.dilation != (1, 1):
            raise ValueError("forward_int_at needs stride 1, no groups, no dilation")
        W, B, shift = self._checked_parameters()
        kh, kw = self.kernel_size
        ph, pw = self.padding
        xp = F.pad(x.clamp(-self.in_limit, self.in_limit).double(), (pw, pw, ph, ph))
        use = [(i, j) for i in range(kh) for j in range(kw) if taps is None or bool(taps[i, j])]
        gathered = torch.stack([xp[:, :, rows + i, cols + j] for i, j in use], 2)  # [B, in, T, n]
        w = torch.stack([W[:, :, i, j] for i, j in use], 2).to(x.device)  # [out, in, T]
        acc = torch.matmul(w.reshape(w.shape[0], -1), gathered.flatten(1, 2)) + B.to(x.device)[:, None]
        return self._requantize(acc, shift)  # [B, out, n]


class IntConvTranspose2d(nn.ConvTranspose2d, _IntConvMixin):
    """Integer ConvTranspose2d (parameters as nn.ConvTranspose2d)."""

    transposed_layout = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        output_padding: int = 0,
        *,
        in_frac: int = ACT_FRAC,
        out_frac: int | Sequence[int] = ACT_FRAC,
        in_limit: int = ACT_LIMIT,
        out_limit: int = ACT_LIMIT,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, output_padding=output_padding)
        self._int_init(in_frac, out_frac, in_limit, out_limit)

    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding, self.groups, self.dilation)

    forward = IntegerModule.forward


class IntLeakyReLU(IntegerModule):
    """Leaky ReLU with slope 41/4096 on fixed-point integers (rounded half up)."""

    def forward_sim(self, x: Tensor) -> Tensor:
        s = float(1 << ACT_FRAC)
        neg = _ste_round(x * (s * LEAK_NUM / (1 << LEAK_SHIFT))) / s
        return torch.where(x >= 0, x, neg)

    def forward_int(self, x: Tensor) -> Tensor:
        neg = (x * LEAK_NUM + (1 << (LEAK_SHIFT - 1))) >> LEAK_SHIFT
        return torch.where(x >= 0, x, neg)


class IntPixelShuffle(nn.PixelShuffle, IntegerModule):
    """Pixel shuffle: a permutation, exact on integers and floats alike."""

    def forward_sim(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    def forward_int(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    forward = IntegerModule.forward


class IntSequential(nn.Sequential, IntegerModule):
    """A chain of integer modules (nested chains allowed); the first layer sets the input format."""

    def __init__(self, *layers: IntegerModule) -> None:
        super().__init__(*layers)
        for layer in layers:
            if not isinstance(layer, IntegerModule):
                raise TypeError(f"IntSequential takes integer modules, got {type(layer).__name__}")
        first = layers[0]
        self.in_frac, self.in_limit = first.in_frac, first.in_limit

    def forward_sim(self, x: Tensor) -> Tensor:
        for layer in self:
            x = layer.forward_sim(x)
        return x

    def forward_int(self, x: Tensor) -> Tensor:
        for layer in self:
            x = layer.forward_int(x)
        return x

    def out_fracs(self, channels: int) -> Tensor:
        for layer in reversed(self):
            if isinstance(layer, (_IntConvMixin, IntSequential)):
                fr = layer.out_fracs(channels)
                if fr.numel() != channels:  # a pixel shuffle followed: uniform bits, fewer channels
                    fr = torch.full((channels,), int(fr[0]), dtype=torch.int64)
                return fr
        return super().out_fracs(channels)

    forward = IntegerModule.forward


def int_subpel_conv3x3(in_ch: int, out_ch: int, r: int, **kw) -> IntSequential:
    """3x3 integer convolution to out_ch * r^2 channels, then pixel shuffle by r."""
    return IntSequential(IntConv2d(in_ch, out_ch * r * r, 3, padding=1, **kw), IntPixelShuffle(r))


def check_bounds(module: nn.Module) -> int:
    """Check the accumulator bound of every integer convolution in `module`; returns how many."""
    n = 0
    for m in module.modules():
        if isinstance(m, _IntConvMixin):
            m.check_bounds()
            n += 1
    return n


# ---- heads: fixed-point network outputs -> the coder's integers --------------------------------


@lru_cache(maxsize=None)
def _scale_boundaries(frac: int) -> Tensor:
    """int64 [255]: ceil(b * 2^frac) of the float32 level boundaries b of the scale table."""
    b = torch.from_numpy(tables()["scale_bounds"].astype("float64"))
    return torch.ceil(b * float(1 << frac)).long()


def scale_indexes(s: Tensor, frac: int = SCALE_FRAC) -> Tensor:
    """Fixed-point scales (int64, ``frac`` bits) -> int32 scale indexes 0..255.

    The number of table boundaries b with b <= s / 2^frac, decided in integers
    (b <= s / 2^frac  <=>  ceil(b * 2^frac) <= s): the same level the float path
    (:func:`~neurocodec.entropy.models.quantize_scales`) gives for that real value.
    """
    bounds = _scale_boundaries(frac).to(s.device)
    return torch.searchsorted(bounds, s.contiguous(), right=True).to(torch.int32)


@lru_cache(maxsize=None)
def scale_levels() -> Tensor:
    """float32 [256]: the coder's scale levels."""
    return torch.from_numpy(tables()["scales"].copy()).float()


def means_of_q8(means_q: Tensor) -> Tensor:
    """Q8 integer means -> float32 (exact: |means_q| <= 2^23 after the clamp)."""
    return means_q.clamp(-(1 << 23), 1 << 23).float() / float(1 << MEAN_FRAC)


def scales_of_indexes(idx: Tensor) -> Tensor:
    """Scale indexes -> the float scale levels the coder uses (for likelihoods)."""
    return scale_levels().to(idx.device)[idx.long().clamp(0, NUM_SCALES - 1)]


EXP_RANGE = 16  # logits more than 16 below the largest get weight 0 (exp(-16) * 2^16 < 0.01)


@lru_cache(maxsize=None)
def exp_table() -> Tensor:
    """int64 [EXP_RANGE * 2^LOGIT_FRAC]: round(2^16 * exp(-i / 2^LOGIT_FRAC)), correctly rounded
    (``decimal`` arithmetic: no libm, the same integers on every machine)."""
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    with decimal.localcontext(ctx):  # every operation in this context, whatever the caller's
        unit = decimal.Decimal(1 << LOGIT_FRAC)
        one = decimal.Decimal(1 << PROB_BITS)
        vals = [int((one * (-decimal.Decimal(i) / unit).exp()).to_integral_value(decimal.ROUND_HALF_EVEN))
                for i in range(EXP_RANGE << LOGIT_FRAC)]
    return torch.tensor(vals, dtype=torch.int64)


def mixture_weights_q16(logits: Tensor) -> Tensor:
    """Fixed-point logits (int64 [..., K], LOGIT_FRAC bits) -> int32 Q16 weights summing to 2^16.

    e_k = exp_table[max - l_k] (0 past the table), w_k = floor(e_k * 2^16 / sum e), and the
    remainder goes to the first largest e (the component with the largest logit). Integers only.
    """
    k = logits.shape[-1]
    # K <= 8: loops over the components are much faster than reductions along a tiny last axis
    cols = logits.unbind(-1)
    top = cols[0]
    for c in cols[1:]:
        top = torch.maximum(top, c)
    table = exp_table().to(logits.device)
    n = table.numel()
    es = []
    for c in cols:
        d = top - c
        es.append(torch.where(d < n, table[d.clamp(max=n - 1)], torch.zeros_like(d)))
    total = es[0]
    for e in es[1:]:
        total = total + e  # >= 2^16: the largest logit has e = 2^16
    ws = [torch.div(e << PROB_BITS, total, rounding_mode="floor") for e in es]
    rest = (1 << PROB_BITS) - sum(ws[1:], ws[0])
    # the remainder goes to the first component with the largest e (the first largest logit)
    first = torch.zeros_like(top)
    best = es[0]
    for i in range(1, k):
        better = es[i] > best
        first = torch.where(better, torch.full_like(first, i), first)
        best = torch.maximum(best, es[i])
    w = torch.stack(ws, -1)
    w.scatter_add_(-1, first.unsqueeze(-1), rest.unsqueeze(-1))
    return w.to(torch.int32)


def mixture_weights_float(logits: Tensor) -> Tensor:
    """Training counterpart of :func:`mixture_weights_q16` (real-valued logits): a softmax."""
    return torch.softmax(logits, -1)
