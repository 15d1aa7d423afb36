"""Integer entropy-model descriptions: what the coder consumes.

A model describes, for every symbol position, a distribution over int32 values in integers
only. Three kinds:

- :class:`TableModel`: indexed CDF tables (learned factorised priors, VQ index priors); each
  symbol names its table.
- :class:`ParametricModel`: Gaussian / Laplace / logistic with a Q8 fixed-point mean and a scale
  index into a 256-level log-spaced table (0.11 .. 4096).
- :class:`MixtureModel`: mixtures of K = 1..8 components of one family, weights in Q16 summing
  to exactly 2^16. The decoder binary-searches the CDF computed from the parameters (FlashGMM).

The float-to-integer step (``from_float``) is exact given the same float inputs: means are
scaled by a power of two and rounded, scales are compared against float32 boundaries,
weights are floored then repaired to sum to 2^16. Every model leaves each symbol of its support
(and an escape for values outside it) a frequency >= 1, so any int32 value round-trips.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from neurocodec.entropy import _core

PROB_BITS: int = _core.PROB_BITS
PROB_SCALE: int = 1 << PROB_BITS
MEAN_FRAC_BITS: int = _core.MEAN_FRAC_BITS
NUM_SCALES: int = _core.NUM_SCALES
MAX_MIXTURE: int = _core.MAX_MIXTURE


class Family(enum.IntEnum):
    """Distribution families of parametric and mixture models."""

    GAUSSIAN = 0
    LAPLACE = 1
    LOGISTIC = 2


@lru_cache(maxsize=None)
def tables() -> dict[str, np.ndarray]:
    """The committed integer constant tables (see ``scripts/gen_tables.py``)."""
    return {k: np.asarray(v) for k, v in _core.tables().items()}


def scale_table() -> Tensor:
    """The 256 scale levels (float32), index i -> 0.11 * (4096 / 0.11)^(i / 255)."""
    return torch.from_numpy(tables()["scales"].copy())


def _as_tensor(x: Tensor | np.ndarray | float, dtype: torch.dtype | None = None) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return t if dtype is None else t.to(dtype)


def _int32(x: Tensor | np.ndarray, what: str) -> Tensor:
    t = _as_tensor(x)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{what} must be integers, got {t.dtype}")
    if t.dtype != torch.int32:
        if t.numel() and (int(t.min()) < -(2**31) or int(t.max()) > 2**31 - 1):
            raise ValueError(f"{what} must fit in int32")
        t = t.to(torch.int32)
    return t.contiguous()


_QLIM = 2147483520.0  # 2^31 - 128: the largest |Q8 mean| (exact in float32 and float64)


def _float(x: Tensor | np.ndarray | float) -> Tensor:
    t = _as_tensor(x)
    return t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float64)


def _on_cpu(t: Tensor) -> bool:
    return t.device.type == "cpu"


def quantize_means(means: Tensor | np.ndarray) -> Tensor:
    """Means (float, symbol units) -> Q8 fixed point int32 (about +-8.4e6 at most).

    round-half-even(clamp(m * 2^8, +-(2^31 - 128))), NaN -> 0: scaling by 2^8 is exact, so the
    result depends only on the input floats. CPU tensors take the C++ path, others torch ops;
    both give the same integers.
    """
    m = _float(means)
    if _on_cpu(m):
        return torch.from_numpy(_core.quantize_means(m.contiguous().numpy())).reshape(m.shape)
    return torch.round((m * (1 << MEAN_FRAC_BITS)).nan_to_num(0.0).clamp(-_QLIM, _QLIM)).to(torch.int32)


@lru_cache(maxsize=None)
def _scale_consts(device: str) -> tuple[Tensor, float, float]:
    t = tables()
    bounds = torch.from_numpy(np.concatenate([t["scale_bounds"], [np.inf]]).astype(np.float32)).to(device)
    s = t["scales"].astype(np.float64)
    return bounds, float(np.log(s[0])), float((NUM_SCALES - 1) / np.log(s[-1] / s[0]))


def quantize_scales(scales: Tensor | np.ndarray) -> Tensor:
    """Scales (float) -> index of the nearest level (log domain) in :func:`scale_table`.

    Exactly the number of float32 level boundaries <= scale (NaN -> 0): below 0.11 is level 0,
    above 4096 level 255. The torch path (non-CPU devices) estimates in the log domain and
    corrects with two exact comparisons; the C++ path binary-searches: the same integers.
    """
    s = _as_tensor(scales).to(torch.float32)
    if _on_cpu(s):
        return torch.from_numpy(_core.quantize_scales(s.contiguous().numpy())).reshape(s.shape)
    s = s.nan_to_num(0.0)
    bounds, log_min, inv_step = _scale_consts(str(s.device))
    est = torch.floor((torch.log(s.clamp_min(1e-30)) - log_min) * inv_step + 0.5).clamp_(0, NUM_SCALES - 1).long()
    idx = est + (s >= bounds[est]).long()  # bounds[i] separates levels i and i + 1
    idx = idx - (s < bounds[(idx - 1).clamp_min(0)]).long() * (idx > 0).long()
    return idx.clamp_(0, NUM_SCALES - 1).to(torch.int32)


def quantize_weights(weights: Tensor | np.ndarray) -> Tensor:
    """Mixture weights [..., K] -> int32 Q16 summing to exactly 2^16.

    Non-finite or negative weights count as 0; q = floor(w / max(sum, 1e-30) * 2^16) with the
    sum taken in component order, and the remainder goes to the first largest q.
    """
    w = _float(weights)
    k = w.shape[-1]
    if _on_cpu(w):
        return torch.from_numpy(_core.quantize_weights(w.contiguous().numpy(), k)).reshape(w.shape)
    w = torch.where(torch.isfinite(w) & (w > 0), w, torch.zeros((), dtype=w.dtype, device=w.device))
    total = w[..., 0]
    for c in range(1, k):
        total = total + w[..., c]
    q = torch.floor(w / total.clamp_min(1e-30).unsqueeze(-1) * PROB_SCALE).to(torch.int32)
    qsum = q[..., 0]
    for c in range(1, k):
        qsum = qsum + q[..., c]
    q.scatter_add_(-1, q.argmax(-1, keepdim=True), (PROB_SCALE - qsum).unsqueeze(-1))
    return q


@dataclass(frozen=True)
class TableModel:
    """Indexed CDF tables.

    Attributes:
        cdfs: int32 [T, S]; row t holds c[0..n_t] (c[0] = 0, strictly increasing, c[n_t] <=
            65535 the escape start), the rest is padding.
        lengths: int32 [T], n_t symbols in table t.
        offsets: int32 [T], the value coded by slot 0 of table t.
        indexes: int32 [...], the table of each symbol; its shape is the symbols' shape.
    """

    cdfs: Tensor
    lengths: Tensor
    offsets: Tensor
    indexes: Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "cdfs", _int32(self.cdfs, "cdfs"))
        object.__setattr__(self, "lengths", _int32(self.lengths, "lengths"))
        object.__setattr__(self, "offsets", _int32(self.offsets, "offsets"))
        object.__setattr__(self, "indexes", _int32(self.indexes, "indexes"))
        if self.cdfs.dim() != 2:
            raise ValueError("cdfs must be [tables, entries]")

    @property
    def shape(self) -> torch.Size:
        return self.indexes.shape

    @property
    def device(self) -> torch.device:
        return self.cdfs.device

    def with_indexes(self, indexes: Tensor | np.ndarray) -> TableModel:
        """The same tables for other symbol positions."""
        return TableModel(self.cdfs, self.lengths, self.offsets, indexes)

    @classmethod
    def from_pmfs(
        cls,
        pmfs: Tensor | np.ndarray,
        offsets: Tensor | np.ndarray | None = None,
        indexes: Tensor | np.ndarray | None = None,
        lengths: Tensor | np.ndarray | None = None,
    ) -> TableModel:
        """Quantise probability tables [T, n] (rows need not sum to 1) with leaky rounding.

        c(k) = floor(W * P(<k)) + k with W = 2^16 - n - 1, so every symbol and the escape keep
        frequency >= 1. `lengths` (default: n for every row) lets rows have fewer symbols.
        """
        p = _as_tensor(pmfs, torch.float64).cpu()
        if p.dim() == 1:
            p = p[None]
        t, n = p.shape
        lens = torch.full((t,), n, dtype=torch.int64) if lengths is None else _as_tensor(lengths).long().cpu()
        if n < 1 or n > PROB_SCALE // 2 or int(lens.min()) < 1 or int(lens.max()) > n:
            raise ValueError("each table needs 1 to 32768 symbols")
        col = torch.arange(n + 1, dtype=torch.int64)
        p = torch.where(col[None, :n] < lens[:, None], p.clamp_min(0), torch.zeros(()))
        p = p / p.sum(1, keepdim=True).clamp_min(1e-300)
        cum = torch.cat([torch.zeros(t, 1, dtype=torch.float64), torch.cumsum(p, 1)], 1).clamp(0, 1)
        w = (PROB_SCALE - lens - 1).to(torch.float64)[:, None]
        cdf = torch.floor(w * cum).to(torch.int64) + col[None]
        cdf[:, 0] = 0
        cdf = torch.where(col[None] <= lens[:, None], cdf, torch.zeros((), dtype=torch.int64))
        offs = torch.zeros(t, dtype=torch.int32) if offsets is None else offsets
        idx = torch.zeros(0, dtype=torch.int32) if indexes is None else indexes
        return cls(cdf.to(torch.int32), lens.to(torch.int32), _as_tensor(offs), _as_tensor(idx))


@dataclass(frozen=True)
class ParametricModel:
    """One Gaussian / Laplace / logistic per symbol.

    Attributes:
        family: the distribution family.
        means_q: int32 [...], means in Q8 fixed point (symbol units * 256).
        scale_idx: int32 [...], index into :func:`scale_table` (0..255).
    """

    family: Family
    means_q: Tensor
    scale_idx: Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.family))
        object.__setattr__(self, "means_q", _int32(self.means_q, "means_q"))
        object.__setattr__(self, "scale_idx", _int32(self.scale_idx, "scale_idx"))
        if self.means_q.shape != self.scale_idx.shape:
            raise ValueError("means and scales must have the same shape")

    @property
    def shape(self) -> torch.Size:
        return self.means_q.shape

    @property
    def device(self) -> torch.device:
        return self.means_q.device

    @classmethod
    def from_float(
        cls,
        means: Tensor | np.ndarray | float,
        scales: Tensor | np.ndarray,
        family: Family = Family.GAUSSIAN,
    ) -> ParametricModel:
        """Quantise float means and scales (broadcast to one shape)."""
        s = _as_tensor(scales)
        m = _as_tensor(means).to(s.device)
        m, s = torch.broadcast_tensors(m, s)
        return cls(family, quantize_means(m), quantize_scales(s))


@dataclass(frozen=True)
class MixtureModel:
    """A mixture of K components of one family per symbol.

    Attributes:
        family: the components' family.
        means_q, scale_idx, weights_q: int32 [..., K]; weights sum to 65536 along the last axis.
    """

    family: Family
    means_q: Tensor
    scale_idx: Tensor
    weights_q: Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.family))
        for name in ("means_q", "scale_idx", "weights_q"):
            object.__setattr__(self, name, _int32(getattr(self, name), name))
        if not (self.means_q.shape == self.scale_idx.shape == self.weights_q.shape):
            raise ValueError("mixture means, scales and weights must have the same shape")
        if self.means_q.dim() < 1 or not 1 <= self.means_q.shape[-1] <= MAX_MIXTURE:
            raise ValueError(f"mixtures have 1 to {MAX_MIXTURE} components on the last axis")

    @property
    def k(self) -> int:
        return int(self.means_q.shape[-1])

    @property
    def shape(self) -> torch.Size:
        return self.means_q.shape[:-1]

    @property
    def device(self) -> torch.device:
        return self.means_q.device

    @classmethod
    def from_float(
        cls,
        means: Tensor | np.ndarray,
        scales: Tensor | np.ndarray,
        weights: Tensor | np.ndarray,
        family: Family = Family.GAUSSIAN,
    ) -> MixtureModel:
        """Quantise float parameters [..., K] (weights need not be normalised)."""
        return cls(family, quantize_means(means), quantize_scales(scales), quantize_weights(weights))


EntropyModel = TableModel | ParametricModel | MixtureModel
