"""Torch layers of the entropy layer, used by codecs.

Each layer gives training-time likelihoods (additive uniform noise, or rounding with a
straight-through gradient: ``quantization="noise" | "ste"``) and ``compress``/``decompress``
through neurocodec's coder. The float-to-integer step of the entropy parameters happens here,
once: learned tables become int32 buffers in ``update()`` (so they travel in checkpoints), and
per-element parameters are quantised by :mod:`neurocodec.entropy.models`.

Shapes: ``y`` is any shape (codecs use [B, C, H, W]); conditional parameters have y's shape, and
mixtures add a trailing K axis.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from neurocodec.entropy.coder import decode, encode
from neurocodec.entropy.integer_nets import means_of_q8
from neurocodec.entropy.models import Family, MixtureModel, ParametricModel, TableModel
from neurocodec.nn.bounds import LowerBound
from neurocodec.nn.precision import full_precision, widen
from neurocodec.nn.factorized import FactorizedDensity

Quantization = Literal["noise", "ste"]
_SQRT1_2 = 1.0 / math.sqrt(2.0)


def quantize_train(y: Tensor, mode: Quantization, offset: Tensor | float = 0.0) -> Tensor:
    """Training-time quantisation proxy: y + U(-1/2, 1/2), or round(y - offset) + offset with a
    straight-through gradient; in float32 (a bfloat16 latent's spacing can exceed the noise)."""
    y = widen(y)
    if mode == "noise":
        return y + torch.empty_like(y).uniform_(-0.5, 0.5)
    if mode == "ste":
        return y + (torch.round(y - offset) + offset - y).detach()
    raise ValueError(f"quantization must be 'noise' or 'ste', got {mode!r}")


def family_cdf(family: Family, t: Tensor) -> Tensor:
    """Standardised CDF of a family at t (float)."""
    if family == Family.GAUSSIAN:
        return 0.5 * torch.erfc(-t * _SQRT1_2)
    if family == Family.LAPLACE:
        return torch.where(t < 0, 0.5 * torch.exp(t.clamp(max=0)), 1 - 0.5 * torch.exp(-t.clamp(min=0)))
    if family == Family.LOGISTIC:
        return torch.sigmoid(t)
    raise ValueError(f"unknown family {family}")


def bin_likelihood(family: Family, y: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """P(y - 1/2 < Y < y + 1/2) for Y ~ family(mean, scale), computed on the lower tail side
    (|y - mean|) for precision; in float32 under autocast too."""
    with full_precision(y):
        d = (widen(y) - widen(mean)).abs()
        scale = widen(scale)
        return family_cdf(family, (0.5 - d) / scale) - family_cdf(family, (-0.5 - d) / scale)


class _TableBuffers(nn.Module):
    """Holds integer CDF tables as buffers (cdfs, lengths, offsets) that resize on load."""

    _TABLE_BUFFERS = ("nc_cdfs", "nc_lengths", "nc_offsets")

    def _init_tables(self) -> None:
        for name in self._TABLE_BUFFERS:
            self.register_buffer(name, torch.zeros(0, dtype=torch.int32))

    def _set_tables(self, tables: TableModel) -> None:
        self.nc_cdfs = tables.cdfs.to(self.nc_cdfs.device)
        self.nc_lengths = tables.lengths.to(self.nc_cdfs.device)
        self.nc_offsets = tables.offsets.to(self.nc_cdfs.device)

    def clear_tables(self) -> None:
        """Forget the integer tables (the density is about to change)."""
        for name in self._TABLE_BUFFERS:
            setattr(self, name, torch.zeros(0, dtype=torch.int32, device=getattr(self, name).device))

    @property
    def tables_ready(self) -> bool:
        return self.nc_cdfs.numel() > 0

    def _tables(self, indexes: Tensor) -> TableModel:
        if not self.tables_ready:
            raise RuntimeError(f"{type(self).__name__}: call update() before compress/decompress")
        return TableModel(self.nc_cdfs.cpu(), self.nc_lengths.cpu(), self.nc_offsets.cpu(), indexes)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        for name in self._TABLE_BUFFERS:
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.zeros_like(state_dict[key], dtype=torch.int32))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _channel_indexes(shape: torch.Size, dim: int = 1) -> Tensor:
    """int32 tensor of `shape` whose value is the index along `dim`."""
    view = [1] * len(shape)
    view[dim] = shape[dim]
    return torch.arange(shape[dim], dtype=torch.int32).reshape(view).expand(shape).contiguous()


class EntropyBottleneck(FactorizedDensity, _TableBuffers):
    """Learned factorised prior per channel (:class:`~neurocodec.nn.factorized.FactorizedDensity`,
    Ballé et al. 2018), coded through neurocodec's integer tables. Input [B, C, ...]; symbols
    are round(y - median)."""

    def __init__(self, channels: int, *, quantization: Quantization = "noise", **kwargs) -> None:
        super().__init__(channels, **kwargs)
        self.quantization = quantization
        self._init_tables()

    def _medians_like(self, y: Tensor) -> Tensor:
        return self._get_medians().reshape(1, -1, *([1] * (y.dim() - 2)))

    def forward(self, y: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        training = self.training if training is None else training
        if not training or self.quantization == "noise":
            return super().forward(y, training)
        y_hat = quantize_train(y, "ste", self._medians_like(y))
        return y_hat, self.likelihood_at(y_hat)

    def likelihood_at(self, v: Tensor) -> Tensor:
        """P(v - 1/2 < Y < v + 1/2) at the given values [B, C, ...] (differentiable in v: rounded,
        soft-rounded or noisy values alike), bounded below as in training."""
        values = v.transpose(0, 1).reshape(v.shape[1], 1, -1)
        lik, _, _ = self._likelihood(values)
        if self.use_likelihood_bound:
            lik = self.likelihood_lower_bound(lik)
        return lik.reshape(v.transpose(0, 1).shape).transpose(0, 1)

    @torch.no_grad()
    def update(self, force: bool = False, update_quantiles: bool = False) -> bool:
        """Quantise the learned densities into integer tables (once per trained model)."""
        if self.tables_ready and not force:
            return False
        if update_quantiles:
            self._update_quantiles()
        q = self.quantiles.detach().double()
        medians = q[:, 0, 1]
        minima = torch.ceil(medians - q[:, 0, 0]).clamp(min=0).long()
        maxima = torch.ceil(q[:, 0, 2] - medians).clamp(min=0).long()
        lengths = (minima + maxima + 1).clamp(max=32768)
        n = int(lengths.max())
        samples = torch.arange(n, dtype=q.dtype, device=q.device)[None, :] + (medians - minima)[:, None]
        pmf, _, _ = self._likelihood(samples[:, None, :].to(self.quantiles.dtype), stop_gradient=True)
        self._set_tables(TableModel.from_pmfs(pmf[:, 0, :].cpu(), offsets=(-minima).int().cpu(), lengths=lengths.cpu()))
        return True

    @torch.no_grad()
    def compress(self, y: Tensor, **coder_kw) -> tuple[bytes, Tensor]:
        """Code y [B, C, ...]; returns the stream and the decoder-side y_hat."""
        m = self._medians_like(y)
        q = torch.round(y - m).to(torch.int32).cpu()
        data = encode(q, self._tables(_channel_indexes(q.shape)), **coder_kw)
        return data, q.to(y.device, y.dtype) + m

    @torch.no_grad()
    def decompress(self, data: bytes, shape: torch.Size | tuple[int, ...], **coder_kw) -> Tensor:
        q = decode(data, self._tables(_channel_indexes(torch.Size(shape))), **coder_kw)
        dev = self.quantiles.device
        return q.to(dev, torch.float32) + self._medians_like(q).to(dev)


class _Conditional(nn.Module):
    """What the conditional layers share: family, training quantisation, bounds."""

    def __init__(
        self,
        family: Family = Family.GAUSSIAN,
        quantization: Quantization = "noise",
        scale_bound: float = 0.11,
        likelihood_bound: float = 1e-9,
    ) -> None:
        super().__init__()
        self.family = Family(family)
        self.quantization = quantization
        self.lower_bound_scale = LowerBound(scale_bound)
        self.likelihood_bound = likelihood_bound


class GaussianConditional(_Conditional):
    """Conditional Gaussian (or Laplace / logistic) per element: y ~ family(means, scales).

    Symbols are round(y - means) coded with the zero-mean model of the element's scale, so
    y_hat = symbols + means (mean-shifted rounding, Minnen et al. 2018).
    """

    def forward(self, y: Tensor, scales: Tensor, means: Tensor | None = None, training: bool | None = None) -> tuple[Tensor, Tensor]:
        training = self.training if training is None else training
        means = torch.zeros_like(y) if means is None else means
        y_hat = quantize_train(y, self.quantization, means) if training else torch.round(y - means) + means
        return y_hat, self.likelihood(y_hat, scales, means)

    def likelihood(self, y_hat: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        """Probability of the unit bin around each y_hat (any real values: SGA's soft-rounded
        latents too), bounded below like the coder."""
        return bin_likelihood(self.family, y_hat, means, self.lower_bound_scale(scales)).clamp_min(self.likelihood_bound)

    def model(self, scales: Tensor) -> ParametricModel:
        """The integer model: zero mean, quantised scales (cpu)."""
        s = scales.detach().float().cpu()
        return ParametricModel.from_float(torch.zeros_like(s), s, self.family)

    @torch.no_grad()
    def compress(self, y: Tensor, scales: Tensor, means: Tensor | None = None, **coder_kw) -> tuple[bytes, Tensor]:
        means = torch.zeros_like(y) if means is None else means
        q = torch.round(y - means).to(torch.int32)
        data = encode(q.cpu(), self.model(scales), **coder_kw)
        return data, q.to(y.dtype) + means

    @torch.no_grad()
    def decompress(self, data: bytes, scales: Tensor, means: Tensor | None = None, **coder_kw) -> Tensor:
        q = decode(data, self.model(scales), **coder_kw).to(scales.device, torch.float32)
        return q if means is None else q + means

    # ---- integer parameters (from an integer network: portable across devices) -------------
    def model_int(self, scale_idx: Tensor) -> ParametricModel:
        """The zero-mean integer model of each element's scale index (symbols are y - mean)."""
        idx = scale_idx.cpu()
        return ParametricModel(self.family, torch.zeros_like(idx, dtype=torch.int32), idx)

    @torch.no_grad()
    def compress_int(self, y: Tensor, scale_idx: Tensor, means_q: Tensor, **coder_kw) -> tuple[bytes, Tensor]:
        """Code round(y - mean) with the zero-mean model of each element's scale index; the mean
        is the Q8 integer means_q / 256. Returns the stream and y_hat = symbols + mean."""
        means = means_of_q8(means_q).to(y.device)
        q = torch.round(y - means).to(torch.int32)
        return encode(q.cpu(), self.model_int(scale_idx), **coder_kw), q.to(y.dtype) + means

    @torch.no_grad()
    def decompress_int(self, data: bytes, scale_idx: Tensor, means_q: Tensor, **coder_kw) -> Tensor:
        q = decode(data, self.model_int(scale_idx), **coder_kw).to(means_q.device, torch.float32)
        return q + means_of_q8(means_q)


class GaussianMixtureConditional(_Conditional):
    """Mixture of K components per element: y ~ sum_k w_k family(means_k, scales_k).

    Parameters are [*y.shape, K]; weights are probabilities along K (e.g. a softmax). Symbols
    are round(y), decoded by binary search on the mixture's integer CDF (FlashGMM).
    """

    def __init__(
        self,
        k: int = 3,
        family: Family = Family.GAUSSIAN,
        quantization: Quantization = "noise",
        scale_bound: float = 0.11,
        likelihood_bound: float = 1e-9,
    ) -> None:
        super().__init__(family, quantization, scale_bound, likelihood_bound)
        if not 1 <= k <= 8:
            raise ValueError("mixtures have 1 to 8 components")
        self.k = k

    def likelihood(self, y_hat: Tensor, means: Tensor, scales: Tensor, weights: Tensor) -> Tensor:
        lik = bin_likelihood(self.family, y_hat.unsqueeze(-1), means, self.lower_bound_scale(scales))
        return (weights * lik).sum(-1).clamp_min(self.likelihood_bound)

    def forward(self, y: Tensor, means: Tensor, scales: Tensor, weights: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        training = self.training if training is None else training
        y_hat = quantize_train(y, self.quantization) if training else torch.round(y)
        return y_hat, self.likelihood(y_hat, means, scales, weights)

    def model(self, means: Tensor, scales: Tensor, weights: Tensor) -> MixtureModel:
        f = [t.detach().float().cpu() for t in (means, scales, weights)]
        if f[0].shape[-1] != self.k:
            raise ValueError(f"expected {self.k} mixture components on the last axis")
        return MixtureModel.from_float(*f, family=self.family)

    @staticmethod
    def _encode(y: Tensor, model: MixtureModel, coder_kw: dict) -> tuple[bytes, Tensor]:
        q = torch.round(y)
        return encode(q.to(torch.int32).cpu(), model, **coder_kw), q

    @staticmethod
    def _decode(data: bytes, model: MixtureModel, device: torch.device, coder_kw: dict) -> Tensor:
        return decode(data, model, **coder_kw).to(device, torch.float32)

    @torch.no_grad()
    def compress(self, y: Tensor, means: Tensor, scales: Tensor, weights: Tensor, **coder_kw) -> tuple[bytes, Tensor]:
        return self._encode(y, self.model(means, scales, weights), coder_kw)

    @torch.no_grad()
    def decompress(self, data: bytes, means: Tensor, scales: Tensor, weights: Tensor, **coder_kw) -> Tensor:
        return self._decode(data, self.model(means, scales, weights), means.device, coder_kw)

    # ---- integer parameters (from an integer network: portable across devices) -------------
    def model_int(self, means_q: Tensor, scale_idx: Tensor, weights_q: Tensor) -> MixtureModel:
        """The mixture from integer parameters [..., K]: Q8 means, scale indexes, Q16 weights."""
        if means_q.shape[-1] != self.k:
            raise ValueError(f"expected {self.k} mixture components on the last axis")
        return MixtureModel(self.family, means_q.cpu(), scale_idx.cpu(), weights_q.cpu())

    @torch.no_grad()
    def compress_int(self, y: Tensor, means_q: Tensor, scale_idx: Tensor, weights_q: Tensor, **coder_kw) -> tuple[bytes, Tensor]:
        return self._encode(y, self.model_int(means_q, scale_idx, weights_q), coder_kw)

    @torch.no_grad()
    def decompress_int(self, data: bytes, means_q: Tensor, scale_idx: Tensor, weights_q: Tensor, **coder_kw) -> Tensor:
        return self._decode(data, self.model_int(means_q, scale_idx, weights_q), means_q.device, coder_kw)


class CategoricalPrior(_TableBuffers):
    """Learned categorical prior over VQ indices, one distribution per codebook.

    Indices are [B, Q, ...] (Q codebooks of `codebook_size` entries).
    """

    def __init__(self, num_codebooks: int, codebook_size: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_codebooks, codebook_size))
        self._init_tables()

    def forward(self, indices: Tensor) -> Tensor:
        """Likelihood of each index under its codebook's distribution (same shape as indices)."""
        logp = torch.log_softmax(self.logits, -1)  # [Q, S]
        q = _channel_indexes(indices.shape).to(indices.device).long()
        return logp[q, indices.long()].exp()

    @torch.no_grad()
    def update(self, force: bool = False) -> bool:
        if self.tables_ready and not force:
            return False
        self._set_tables(TableModel.from_pmfs(torch.softmax(self.logits.detach().double(), -1).cpu()))
        return True

    @torch.no_grad()
    def compress(self, indices: Tensor, **coder_kw) -> bytes:
        idx = indices.to(torch.int32).cpu()
        return encode(idx, self._tables(_channel_indexes(idx.shape)), **coder_kw)

    @torch.no_grad()
    def decompress(self, data: bytes, shape: torch.Size | tuple[int, ...], **coder_kw) -> Tensor:
        return decode(data, self._tables(_channel_indexes(torch.Size(shape))), **coder_kw).long()
