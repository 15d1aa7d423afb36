"""Rate–distortion figures: rate against each quality value, measured solid, published dashed.

Read without flags:

- the default title names the data set and its item count, from the result files
  (e.g. "kodak (24 images)");
- the rate axis is fitted to the measured curves (a 5 % margin each side, not below 0), and every
  curve, published ones included, is clipped to it (cut at the axis edges by linear
  interpolation, markers only at real points), so the quality axis is fitted to what is shown;
- each quality axis is labelled by its metric description (MS-SSIM dB states its transform,
  -10 log10(1 - MS-SSIM));
- when the curves were measured on different data (another data set or item count, e.g. ours on
  3 crops beside published numbers on all 24 Kodak images), every legend label says which:
  "JPEG (measured, 3 images)", "BPG (published, 24 images)".

Matplotlib's object API (no pyplot state), so it works headless, in tests and in notebooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurocodec.evaluate.metrics import plot_keys, values_for
from neurocodec.evaluate.modalities import get_modality
from neurocodec.evaluate.results import Curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

X_MARGIN = 0.05  # of the measured rate span, each side of the fitted rate axis
Y_MARGIN = 0.04  # of the shown quality span


def _counts(c: Curve) -> str:
    """The item counts of a curve's points, e.g. "24" or "2/3" (levels on unequal counts)."""
    return "/".join(str(n) for n in c.extra.get("n_items", []))


def _dataset(c: Curve) -> str:
    return str(c.extra.get("dataset", ""))


def default_title(curves: list[Curve], items_name: str = "items") -> str | None:
    """The data set(s) and item count(s) of the measured curves (of all curves when none is
    measured), e.g. "kodak (24 images)"; None when the curves do not say."""
    shown = [c for c in curves if not c.published] or curves
    names = list(dict.fromkeys(d for d in map(_dataset, shown) if d))
    counts = sorted({n for c in shown for n in c.extra.get("n_items", [])})
    if not names:
        return None
    return f"{', '.join(names)} ({'/'.join(map(str, counts))} {items_name})" if counts else ", ".join(names)


def legend_labels(curves: list[Curve], items_name: str = "items") -> list[str]:
    """One legend label per curve. Published curves are marked "(published)"; when the curves
    do not all share one data set and item count, every label names its own (and the data set
    when those differ too): "WebP (measured, 3 images)", "BPG (published, 24 images)"."""
    bases = {(_dataset(c).casefold(), _counts(c)) for c in curves}
    mixed = len(bases) > 1
    show_names = len({b[0] for b in bases}) > 1
    labels = []
    for c in curves:
        base = c.label.removesuffix(" (published)") if c.published else c.label
        kind = "published" if c.published else "measured"
        if not mixed:
            labels.append(f"{base} (published)" if c.published else base)
            continue
        parts = [kind] + ([_dataset(c)] if show_names and _dataset(c) else []) + ([f"{_counts(c)} {items_name}"] if _counts(c) else [])
        labels.append(f"{base} ({', '.join(parts)})")
    return labels


def rate_range(curves: list[Curve], xmax: float | None = None) -> tuple[float, float] | None:
    """The rate axis: the measured curves' rates (all curves' when none is measured) with a
    margin of X_MARGIN of their span each side, not below 0; `xmax` sets the upper end."""
    shown = [c for c in curves if not c.published] or curves
    r = np.concatenate([np.asarray(c.rate, dtype=np.float64) for c in shown]) if shown else np.empty(0)
    r = r[np.isfinite(r)]
    if not r.size:
        return (0.0, float(xmax)) if xmax else None
    lo, hi = float(r.min()), float(r.max())
    pad = X_MARGIN * (hi - lo) if hi > lo else X_MARGIN * max(abs(hi), 1.0)
    lo, hi = max(0.0, lo - pad), hi + pad
    if xmax:
        hi = float(xmax)
        lo = lo if lo < hi else 0.0
    return lo, hi


def clip_curve(r: np.ndarray, v: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of a curve (rates r sorted ascending, values v) inside [lo, hi]; where it
    crosses an end, a point interpolated linearly at that end. Returns rates, values, and
    which of them are real points (False for the interpolated ends: drawn without a marker)."""
    inside = (r >= lo) & (r <= hi)
    rr, vv = list(r[inside]), list(v[inside])
    real = [True] * len(rr)
    if r.size >= 2:
        if r[0] < lo < r[-1] and lo not in rr:
            rr.insert(0, lo)
            vv.insert(0, float(np.interp(lo, r, v)))
            real.insert(0, False)
        if r[0] < hi < r[-1] and hi not in rr:
            rr.append(hi)
            vv.append(float(np.interp(hi, r, v)))
            real.append(False)
    return np.asarray(rr, dtype=np.float64), np.asarray(vv, dtype=np.float64), np.asarray(real, dtype=bool)


def plot_rd(curves: list[Curve], modality: str = "image", keys: list[str] | None = None, title: str | None = None,
            out: str | Path | None = None, xmax: float | None = None) -> "Figure":
    """One panel per quality value (default: the modality's plotted values, e.g. PSNR-RGB and
    MS-SSIM dB); measured curves solid with markers, published ones dashed. The rate axis is
    fitted to the measured curves (`xmax` sets its upper end) and all curves are clipped to it.
    `title` None: the data set and item count (:func:`default_title`); "" for none. Saved to
    `out` when given (format from the suffix)."""
    from matplotlib.figure import Figure

    mod = get_modality(modality)
    desc = values_for(modality)
    keys = keys or plot_keys(modality)
    fig = Figure(figsize=(6.0 * len(keys), 4.6), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    measured = [c for c in curves if not c.published]
    published = [c for c in curves if c.published]
    ordered = measured + published
    labels = dict(zip(map(id, ordered), legend_labels(ordered, mod.items_name)))
    xr = rate_range(ordered, xmax)
    for ax, key in zip(axes, keys):
        seen: list[np.ndarray] = []
        for i, c in enumerate(ordered):
            r, v = c.points(key)
            real = np.ones(r.size, dtype=bool)
            if xr is not None:
                r, v, real = clip_curve(r, v, *xr)
            if not r.size:
                continue
            seen.append(v)
            marks = np.flatnonzero(real).tolist()
            if c.published:
                ax.plot(r, v, ls="--", marker=".", ms=3, lw=1.1, color=f"C{i % 10}", alpha=0.8, label=labels[id(c)],
                        markevery=marks)
            else:
                ax.plot(r, v, marker="o", ms=3.5, lw=1.6, color=f"C{i % 10}", label=labels[id(c)], markevery=marks)
        if xr is not None:
            ax.set_xlim(*xr)
        if seen:
            lo, hi = float(min(s.min() for s in seen)), float(max(s.max() for s in seen))
            pad = Y_MARGIN * (hi - lo or 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"{mod.rate_label} [{mod.rate_key}]")
        ax.set_ylabel(desc[key].axis_label if key in desc else key)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            # away from the curves: they rise with rate, or fall for lower-is-better values
            ax.legend(fontsize=7, loc="lower right" if key not in desc or desc[key].higher_is_better else "upper right")
    if title is None:
        title = default_title(curves, mod.items_name)
    if title:
        fig.suptitle(title)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=130)
    return fig
