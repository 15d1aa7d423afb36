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

Per item (:func:`plot_rd_items`: one panel per video clip) and per frame (:func:`plot_frames`:
a clip's per-frame quality and bits along its GOPs, from the stored ``per_frame`` arrays).

Matplotlib's object API (no pyplot state), so it works headless, in tests and in notebooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.metrics import plot_keys, values_for
from neurocodec.evaluate.modalities import get_modality
from neurocodec.evaluate.results import Curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

X_MARGIN = 0.05  # of the measured rate span, each side of the fitted rate axis
Y_MARGIN = 0.04  # of the shown quality span
RATE_LABELS = {"bpp": "bits per pixel", "kbps": "kilobits per second"}


def rate_axis_label(curves: list[Curve], modality: str) -> str:
    """E.g. "bits per pixel [bpp]": the curves' rate (the modality's own unless they were read
    with another, e.g. video in kbps)."""
    mod = get_modality(modality)
    rk = curves[0].rate_key if curves else mod.rate_key
    label = mod.rate_label if rk == mod.rate_key else RATE_LABELS.get(rk, rk)
    return f"{label} [{rk}]"


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


def _finish(fig: "Figure", title: str | None, out: str | Path | None) -> "Figure":
    """Title the figure and write it to `out` (its folder made), when given."""
    if title:
        fig.suptitle(title)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=130)
    return fig


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
        ax.set_xlabel(rate_axis_label(measured or ordered, modality))
        ax.set_ylabel(desc[key].axis_label if key in desc else key)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            # away from the curves: they rise with rate, or fall for lower-is-better values
            ax.legend(fontsize=7, loc="lower right" if key not in desc or desc[key].higher_is_better else "upper right")
    if title is None:
        title = default_title(curves, mod.items_name)
    return _finish(fig, title, out)


def plot_rd_items(curves: list[Curve], key: str | None = None, items: list[str] | None = None,
                  title: str | None = None, out: str | Path | None = None, cols: int = 3) -> "Figure":
    """One panel per item (e.g. per video clip): each measured curve's RD points on that item,
    `key` (default the modality's first plotted value, e.g. PSNR-RGB) against its rate.
    `items`: which and in what order (default every item of any curve, sorted)."""
    from matplotlib.figure import Figure

    measured = [c for c in curves if not c.published and c.items]
    if not measured:
        raise InputError("no measured curves with per-item points")
    modality = measured[0].modality
    key = key or plot_keys(modality)[0]
    desc = values_for(modality)
    items = items or sorted({i for c in measured for i in c.items})
    cols = max(1, min(cols, len(items)))
    rows = -(-len(items) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    xlabel = rate_axis_label(measured, modality)
    for ax, item in zip(axes, items):
        for i, c in enumerate(measured):
            ic = c.items.get(item)
            if ic is None:
                continue
            r, v = ic.points(key)
            if r.size:
                ax.plot(r, v, marker="o", ms=3, lw=1.4, color=f"C{i % 10}", label=c.label)
        ax.set_title(item, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(desc[key].axis_label if key in desc else key, fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[len(items):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1 : len(items)]:  # curves missing from the first panel
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=7)
    if title is None:
        title = default_title(measured, get_modality(modality).items_name)
    return _finish(fig, title, out)


def plot_frames(series: list[tuple[str, dict]], key: str = "psnr_rgb", title: str | None = None,
                out: str | Path | None = None) -> "Figure":
    """Per-frame quality (`key`, e.g. PSNR-RGB) and bits of one clip along its frames, one line
    per (label, record) of `series` (records of a video result file, with ``per_frame``);
    I frames are marked with a square, P frames with a dot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    for i, (label, rec) in enumerate(series):
        pf = rec.get("per_frame")
        if not pf:
            raise InputError(f"{label}: the record has no per-frame arrays (not a video result?)")
        x = np.arange(len(pf["bits"]))
        types = np.asarray(pf["type"])
        v = np.array([np.nan if y is None else y for y in pf.get(key, [None] * x.size)], dtype=np.float64)
        bits = np.asarray(pf["bits"], dtype=np.float64)
        color = f"C{i % 10}"
        for ax, y in ((top, v), (bottom, bits)):
            ax.plot(x, y, lw=1.2, color=color, label=label if ax is top else None)
            intra = types == "I"
            ax.plot(x[intra], y[intra], ls="none", marker="s", ms=4, color=color)
            ax.plot(x[~intra], y[~intra], ls="none", marker=".", ms=3, color=color)
    v_desc = values_for("video").get(key)
    top.set_ylabel(f"{v_desc.label} [{v_desc.unit}]" if v_desc and v_desc.unit else (v_desc.label if v_desc else key))
    bottom.set_ylabel("bits per frame")
    bottom.set_yscale("log")
    bottom.set_xlabel("frame (display order; squares: I frames)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    if series:
        top.legend(fontsize=7)
    return _finish(fig, title, out)
