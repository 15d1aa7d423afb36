"""Rate–distortion figures: rate against each quality value, ours solid, published dashed.

Matplotlib's object API (no pyplot state), so it works headless, in tests and in notebooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurocodec.evaluate.metrics import plot_keys, values_for
from neurocodec.evaluate.modalities import get_modality
from neurocodec.evaluate.results import Curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_rd(curves: list[Curve], modality: str = "image", keys: list[str] | None = None, title: str | None = None,
            out: str | Path | None = None, xmax: float | None = None) -> "Figure":
    """One panel per quality value (default: the modality's plotted values, e.g. PSNR-RGB and
    MS-SSIM dB); measured curves solid with markers, published ones dashed and labelled
    "(published)". Saved to `out` when given (format from the suffix). `xmax` crops the rate axis."""
    import numpy as np

    from matplotlib.figure import Figure

    mod = get_modality(modality)
    desc = values_for(modality)
    keys = keys or plot_keys(modality)
    fig = Figure(figsize=(6.0 * len(keys), 4.6), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    measured = [c for c in curves if not c.published]
    published = [c for c in curves if c.published]
    for ax, key in zip(axes, keys):
        seen: list[float] = []
        for i, c in enumerate(measured):
            r, v = c.points(key)
            if r.size:
                seen += list(v[r <= xmax]) if xmax else list(v)
                ax.plot(r, v, marker="o", ms=3.5, lw=1.6, color=f"C{i % 10}", label=c.label)
        for j, c in enumerate(published):
            r, v = c.points(key)
            if r.size:
                seen += list(v[r <= xmax]) if xmax else list(v)
                ax.plot(r, v, ls="--", marker=".", ms=3, lw=1.1, color=f"C{(len(measured) + j) % 10}", alpha=0.8,
                        label=c.label if c.label.endswith("(published)") else f"{c.label} (published)")
        if xmax:
            ax.set_xlim(0, xmax)
            if seen:
                lo, hi = float(np.min(seen)), float(np.max(seen))
                pad = 0.04 * (hi - lo or 1.0)
                ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"{mod.rate_label} [{mod.rate_key}]")
        ax.set_ylabel(desc[key].axis_label if key in desc else key)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=130)
    return fig
