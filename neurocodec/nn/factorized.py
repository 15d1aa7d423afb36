"""The learned factorised density of a hyper-latent (Ballé, Minnen, Singh, Hwang, Johnston,
ICLR 2018, appendix 6.1): per channel, a monotone scalar function c(x) built from softplus
matrices, biases and tanh "factors" is the logit of a CDF, so
P(x - 1/2 < X <= x + 1/2) = sigmoid(c(x + 1/2)) - sigmoid(c(x - 1/2)).

Parameter and buffer names are those of the published models (``matrices.i``, ``biases.i``,
``factors.i``, ``quantiles``, ``target``, ``likelihood_lower_bound.bound``), so checkpoints load
unchanged. ``quantiles`` holds, per channel, the points where the CDF is tail/2, 1/2 and
1 - tail/2; they are trained by :meth:`loss` (an auxiliary loss) or set exactly by
:meth:`_update_quantiles`, and bound the integer tables the coder uses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec.nn.bounds import LowerBound
from neurocodec.nn.precision import full_precision, widen


class FactorizedDensity(nn.Module):
    """Per-channel learned density; inputs [B, C, ...]."""

    def __init__(
        self,
        channels: int,
        *,
        tail_mass: float = 1e-9,
        init_scale: float = 10.0,
        filters: tuple[int, ...] = (3, 3, 3, 3),
        likelihood_bound: float = 1e-9,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.tail_mass = float(tail_mass)
        widths = (1, *self.filters, 1)
        scale = float(init_scale) ** (1.0 / (len(self.filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(self.filters) + 1):
            # softplus(init) = 1 / (scale * fan_out): the initial CDF is a wide logistic
            init = math.log(math.expm1(1.0 / scale / widths[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, widths[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(self.filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))
        s = float(init_scale)
        self.quantiles = nn.Parameter(torch.tensor([-s, 0.0, s]).repeat(channels, 1, 1))
        t = math.log(2.0 / self.tail_mass - 1.0)
        self.register_buffer("target", torch.tensor([-t, 0.0, t]))
        self.use_likelihood_bound = likelihood_bound > 0
        if self.use_likelihood_bound:
            self.likelihood_lower_bound = LowerBound(likelihood_bound)
        # empty integer buffers of compressai's coder: kept so that checkpoints written with its
        # layer (ours before this module) load with strict key matching and the same hash
        for name in ("_offset", "_quantized_cdf", "_cdf_length"):
            self.register_buffer(name, torch.zeros(0, dtype=torch.int32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        for name in ("_offset", "_quantized_cdf", "_cdf_length"):  # any size (compressai fills them)
            if prefix + name in state_dict:
                setattr(self, name, torch.zeros_like(state_dict[prefix + name], dtype=torch.int32))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _get_medians(self) -> Tensor:
        """[C, 1, 1]: the per-channel median (quantiles[:, :, 1])."""
        return self.quantiles[:, :, 1:2]

    def _logits_cumulative(self, x: Tensor, stop_gradient: bool) -> Tensor:
        """c(x) for x [C, 1, N] (one row of points per channel) -> [C, 1, N], in float32 (autocast
        off: its sigmoid differences are the rate)."""
        with full_precision(x):
            out = widen(x)
            for i, matrix in enumerate(self.matrices):
                m, b = matrix, self.biases[i]
                if stop_gradient:
                    m, b = m.detach(), b.detach()
                out = torch.matmul(F.softplus(m), out) + b
                if i < len(self.factors):
                    f = self.factors[i].detach() if stop_gradient else self.factors[i]
                    out = out + torch.tanh(f) * torch.tanh(out)
            return out

    def _likelihood(self, x: Tensor, stop_gradient: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """(P(bin of x), c(x - 1/2), c(x + 1/2)) for x [C, 1, N]."""
        lower = self._logits_cumulative(x - 0.5, stop_gradient)
        upper = self._logits_cumulative(x + 0.5, stop_gradient)
        return torch.sigmoid(upper) - torch.sigmoid(lower), lower, upper

    def loss(self) -> Tensor:
        """Auxiliary loss that moves `quantiles` to where c equals its targets."""
        return (self._logits_cumulative(self.quantiles, stop_gradient=True) - self.target).abs().sum()

    def forward(self, y: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        """y [B, C, ...] -> (y + uniform noise in training, else y rounded around the median;
        the likelihood of each element)."""
        training = self.training if training is None else training
        y = widen(y)  # noise and rounding in float32 under autocast too
        c = y.shape[1]
        perm = (1, 0, *range(2, y.dim()))
        v = y.permute(*perm).contiguous()
        shape = v.shape
        v = v.reshape(c, 1, -1)
        if training:
            out = v + torch.empty_like(v).uniform_(-0.5, 0.5)
        else:
            med = self._get_medians()
            out = torch.round(v - med) + med
        lik, _, _ = self._likelihood(out)
        if self.use_likelihood_bound:
            lik = self.likelihood_lower_bound(lik)
        back = lambda t: t.reshape(shape).permute(*perm).contiguous()  # noqa: E731 - the same permutation inverts itself
        return back(out), back(lik)

    @torch.no_grad()
    def _update_quantiles(self, radius: float = 1e5, rtol: float = 1e-4, atol: float = 1e-3) -> None:
        """Set the quantiles exactly: per channel, bisect c(x) = target_i on [-radius, radius]."""
        for i, t in enumerate(self.target):
            lo = torch.full((self.channels, 1, 1), -radius, device=self.quantiles.device)
            hi = torch.full_like(lo, radius)
            f = lambda x: self._logits_cumulative(x, stop_gradient=True)  # noqa: E731
            lo = torch.where(t <= f(hi), lo, hi)  # c is increasing; clamp targets out of reach
            hi = torch.where(f(lo) <= t, hi, lo)
            while not torch.isclose(lo, hi, rtol=rtol, atol=atol).all():
                mid = (lo + hi) / 2
                below = f(mid) <= t
                lo = torch.where(below, mid, lo)
                hi = torch.where(below, hi, mid)
            self.quantiles[:, :, i] = ((lo + hi) / 2)[:, :, 0]
