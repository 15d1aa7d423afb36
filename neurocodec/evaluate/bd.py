"""Bjøntegaard delta rate and delta quality, with piecewise cubic (PCHIP) interpolation.

BD-rate: the average difference in log rate between two RD curves over the quality range both
cover, as a percentage (negative: the test curve needs fewer bits for the same quality).
Each curve's log rate is interpolated as a function of quality with a monotone PCHIP cubic and
integrated exactly over the overlap; BD-quality (BD-PSNR) is the same with the roles swapped
(quality as a function of log rate, over the overlapping log-rate range).

The functions take plain arrays, so any rate unit (bpp, kbps) and any quality value (PSNR,
MS-SSIM dB, PESQ, ...) work; the anchor is always the first curve. Quality must grow with rate:
negate a lower-is-better value (e.g. mel distance) first, as :func:`report.bd_table` does.
"""

from __future__ import annotations

import logging

import numpy as np

from neurocodec.errors import InputError

log = logging.getLogger(__name__)


class BDError(InputError):
    """The curves cannot be compared (too few points, no overlap, bad values)."""


def _prepare(rate: np.ndarray, quality: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted by rate, finite, rate > 0, each point better than every cheaper one.

    Points whose quality does not exceed that of a cheaper point (same rate repeated, or a
    non-monotone sweep) are dominated and dropped, with a log line; interpolation needs a
    strictly increasing curve.
    """
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise BDError(f"{what}: {r.size} rates but {q.size} quality values")
    ok = np.isfinite(r) & np.isfinite(q)
    r, q = r[ok], q[ok]
    if np.any(r <= 0):
        raise BDError(f"{what}: rates must be positive")
    order = np.lexsort((-q, r))  # by rate, best quality first among equal rates
    r, q = r[order], q[order]
    keep = []
    best = -np.inf
    for i in range(r.size):
        if q[i] > best and (not keep or r[i] > r[keep[-1]]):
            keep.append(i)
            best = q[i]
    if len(keep) < r.size:
        log.info("%s: %d dominated or repeated point(s) dropped for BD", what, r.size - len(keep))
    r, q = r[keep], q[keep]
    if r.size < 2:
        raise BDError(f"{what}: at least 2 distinct RD points are needed, got {r.size}")
    return r, q


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Mean of the PCHIP interpolant of y(x) over [lo, hi]."""
    from scipy.interpolate import PchipInterpolator

    f = PchipInterpolator(x, y, extrapolate=False)
    return float(f.integrate(lo, hi)) / (hi - lo)


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if not hi > lo:
        raise BDError(f"the curves do not overlap in {what} ([{a.min():.4g}, {a.max():.4g}] vs [{b.min():.4g}, {b.max():.4g}])")
    return lo, hi


def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality) -> float:  # type: ignore[no-untyped-def]
    """BD-rate of the test curve against the anchor, in percent (negative = fewer bits)."""
    ra, qa = _prepare(anchor_rate, anchor_quality, "anchor")
    rt, qt = _prepare(test_rate, test_quality, "test")
    lo, hi = _overlap(qa, qt, "quality")
    diff = _mean_over(qt, np.log(rt), lo, hi) - _mean_over(qa, np.log(ra), lo, hi)
    return float((np.exp(diff) - 1) * 100)


def bd_quality(anchor_rate, anchor_quality, test_rate, test_quality) -> float:  # type: ignore[no-untyped-def]
    """BD-quality (e.g. BD-PSNR in dB) of the test curve against the anchor (positive = better)."""
    ra, qa = _prepare(anchor_rate, anchor_quality, "anchor")
    rt, qt = _prepare(test_rate, test_quality, "test")
    la, lt = np.log(ra), np.log(rt)
    lo, hi = _overlap(la, lt, "rate")
    return _mean_over(lt, qt, lo, hi) - _mean_over(la, qa, lo, hi)


bd_psnr = bd_quality
