"""BD-rate tables: every test curve against every anchor curve, on one quality value; and per
item (e.g. per video clip) against one anchor, with the mean of the per-item values."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.bd import BDError, bd_quality, bd_rate
from neurocodec.evaluate.results import Curve

log = logging.getLogger(__name__)


def _higher_is_better(curves: list[Curve], key: str) -> bool:
    """The direction of `key` as the curves' modality registers it (True when unknown)."""
    from neurocodec.evaluate.metrics import values_for

    for c in curves:
        try:
            v = values_for(c.modality).get(key)
        except InputError:
            continue
        if v is not None:
            return v.higher_is_better
    return True


def bd_table(tests: list[Curve], anchors: list[Curve], key: str, kind: str = "rate",
             higher_is_better: bool | None = None) -> list[dict[str, Any]]:
    """Rows ``{"test": label, anchor label: value or None, ...}``.

    kind "rate": BD-rate in percent (negative = fewer bits than the anchor);
    kind "quality": BD-quality, test minus anchor in the value's unit (e.g. BD-PSNR in dB;
    better is positive for higher-is-better values, negative for the others).
    A lower-is-better value (e.g. mel distance; `higher_is_better` None: as its metric is
    registered) is negated for the interpolation, so BD-rate keeps its meaning.
    None where a curve lacks `key` or the curves do not overlap.
    """
    fn = bd_rate if kind == "rate" else bd_quality
    if higher_is_better is None:
        higher_is_better = _higher_is_better(tests + anchors, key)
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for t in tests:
        row: dict[str, Any] = {"test": t.label}
        for a in anchors:
            if a is t or (a.label == t.label):
                row[a.label] = None
                continue
            ra, qa = a.points(key)
            rt, qt = t.points(key)
            try:
                value = fn(ra, sign * qa, rt, sign * qt)
                row[a.label] = value if kind == "rate" else sign * value
            except BDError as e:
                log.info("no BD %s of %s vs %s on %s: %s", kind, t.label, a.label, key, e)
                row[a.label] = None
        rows.append(row)
    return rows


def bd_item_table(tests: list[Curve], anchor: Curve, key: str, kind: str = "rate",
                  higher_is_better: bool | None = None) -> list[dict[str, Any]]:
    """Per-item BD of each test curve against `anchor` (their ``items`` curves): one row per item
    of the anchor, ``{"test": item, test label: value or None, ...}``, then a row ``{"test":
    "mean", ...}``: the arithmetic mean of the per-item values (the video CTC convention), None
    where any item has none. Items where the anchor lacks the value altogether (e.g. MS-SSIM of
    small frames) are left out of the mean, whose row then reads "mean (k of n)". Values as
    :func:`bd_table`."""
    if not anchor.items:
        raise InputError(f"{anchor.label} has no per-item curves (a published curve?)")
    if higher_is_better is None:
        higher_is_better = _higher_is_better(tests + [anchor], key)
    rows: list[dict[str, Any]] = []
    for item, a in anchor.items.items():
        row: dict[str, Any] = {"test": item}
        for t in tests:
            tc = t.items.get(item)
            if tc is None:
                row[t.label] = None
                continue
            (r,) = bd_table([tc], [a], key, kind, higher_is_better)
            row[t.label] = r[a.label]
        rows.append(row)
    # items where the anchor has no such value at all (e.g. MS-SSIM of frames too small for it)
    # are left out of the mean, which then says over how many it is
    measurable = [r for r, a in zip(rows, anchor.items.values()) if a.points(key)[0].size >= 2]
    name = "mean" if len(measurable) == len(rows) else f"mean ({len(measurable)} of {len(rows)})"
    mean: dict[str, Any] = {"test": name}
    for t in tests:
        vals = [r[t.label] for r in measurable]
        mean[t.label] = float(np.mean(vals)) if vals and all(v is not None for v in vals) else None
    rows.append(mean)
    return rows


def markdown_table(rows: list[dict[str, Any]], anchors: list[str], fmt: str = "{:+.1f} %", corner: str = "vs") -> str:
    """A Markdown table of `bd_table` rows; "n/a" where there is no value."""
    head = f"| {corner} | " + " | ".join(anchors) + " |"
    sep = "|---|" + "|".join("---:" for _ in anchors) + "|"
    lines = [head, sep]
    for r in rows:
        cells = ["—" if r.get(a) is None and a == r["test"] else ("n/a" if r.get(a) is None else fmt.format(r[a])) for a in anchors]
        lines.append(f"| {r['test']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
