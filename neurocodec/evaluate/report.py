"""BD-rate tables: every test curve against every anchor curve, on one quality value."""

from __future__ import annotations

import logging
from typing import Any

from neurocodec.evaluate.bd import BDError, bd_quality, bd_rate
from neurocodec.evaluate.results import Curve

log = logging.getLogger(__name__)


def bd_table(tests: list[Curve], anchors: list[Curve], key: str, kind: str = "rate") -> list[dict[str, Any]]:
    """Rows ``{"test": label, anchor label: value or None, ...}``.

    kind "rate": BD-rate in percent (negative = fewer bits than the anchor);
    kind "quality": BD-quality in the value's unit (e.g. BD-PSNR in dB, positive = better).
    None where a curve lacks `key` or the curves do not overlap.
    """
    fn = bd_rate if kind == "rate" else bd_quality
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
                row[a.label] = fn(ra, qa, rt, qt)
            except BDError as e:
                log.info("no BD %s of %s vs %s on %s: %s", kind, t.label, a.label, key, e)
                row[a.label] = None
        rows.append(row)
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
