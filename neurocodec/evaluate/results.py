"""The result file: one JSON per (codec, data set), and the RD curves read from it.

Schema ``neurocodec.rd/1``::

    {"schema": "neurocodec.rd/1", "modality": "image", "rate_key": "bpp",
     "dataset": {"name": "kodak", "path": ..., "items": [names...]},
     "codec": {"name", "label", "kind", "quality_meaning", "size_note", "settings", "versions"},
     "environment": {"neurocodec", "python", "numpy", "platform", "workers", ...},
     "metrics": {key: {"label", "unit", "higher_is_better"}},
     "created": ISO time, "updated": ISO time,
     "levels": [{"quality": q, "n_items": n,
                 "mean": {"bytes", "bpp", "psnr_rgb", ..., "encode_s", "decode_s"},
                 "items": [{"item": name, "height", "width", "pixels", "bytes", "bpp",
                            "psnr_rgb", ..., "encode_s", "decode_s"}]}]}

Audio files have ``"rate_key": "kbps"``, items sized by ``samples``, ``seconds`` and ``rate``,
and, for neural codecs, ``payload_kbps`` (the coded indices without the .bin container).

Rates come from the byte strings the codec returned (``bytes``); metrics from the decoded
output. Means are arithmetic means over items (CompressAI's convention), except values whose
metric says otherwise (MS-SSIM dB is the dB of the mean MS-SSIM). Non-finite numbers are null.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurocodec.errors import InputError

SCHEMA = "neurocodec.rd/1"


def result_path(out_dir: str | Path, dataset: str, codec: str) -> Path:
    """Where the result of `codec` on `dataset` lives inside `out_dir`."""
    return Path(out_dir) / f"{dataset}-{codec}.json"


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


def write_json(path: str | Path, doc: dict[str, Any]) -> None:
    """Write `doc` atomically (temporary file + rename), NaN/inf as null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(_clean(doc), f, indent=1, allow_nan=False)
        f.write("\n")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; results are ordinary files
    os.replace(tmp, path)


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a result file and check its schema."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{path} is not a neurocodec result file (schema {SCHEMA!r})")
    return doc


@dataclass
class Curve:
    """One RD curve: a rate per point and quality values per point, sorted by rate."""

    label: str
    modality: str
    rate_key: str
    rate: np.ndarray
    values: dict[str, np.ndarray]
    published: bool = False
    source: str = ""
    codec: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def points(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(rate, value) of the points where `key` is known, sorted by rate."""
        if key not in self.values:
            return np.empty(0), np.empty(0)
        v = np.asarray(self.values[key], dtype=np.float64)
        r = np.asarray(self.rate, dtype=np.float64)
        ok = np.isfinite(v) & np.isfinite(r)
        order = np.argsort(r[ok], kind="stable")
        return r[ok][order], v[ok][order]


def curve_from_result(doc: dict[str, Any], label: str | None = None) -> Curve:
    """The mean RD curve of a result file (one point per quality level)."""
    rk = doc["rate_key"]
    levels = [lv for lv in doc["levels"] if lv.get("n_items")]
    keys = list(doc.get("metrics", {}))
    rate = np.array([lv["mean"][rk] for lv in levels], dtype=np.float64)
    values = {k: np.array([np.nan if lv["mean"].get(k) is None else lv["mean"][k] for lv in levels], dtype=np.float64) for k in keys}
    order = np.argsort(rate, kind="stable")
    n_items = sorted({lv["n_items"] for lv in levels})
    return Curve(
        label=label or doc["codec"].get("label") or doc["codec"]["name"],
        modality=doc["modality"],
        rate_key=rk,
        rate=rate[order],
        values={k: v[order] for k, v in values.items()},
        codec=doc["codec"]["name"],
        source=f"measured on {doc['dataset']['name']} ({'/'.join(map(str, n_items))} items)",
        extra={"qualities": [levels[i]["quality"] for i in order], "dataset": doc["dataset"]["name"], "n_items": n_items,
               "kind": doc["codec"].get("kind", "")},
    )


def load_curves(paths: list[str | Path]) -> list[Curve]:
    """Curves of several result files; they must share one modality."""
    curves = [curve_from_result(read_json(p)) for p in paths]
    mods = {c.modality for c in curves}
    if len(mods) > 1:
        raise InputError(f"result files mix modalities {sorted(mods)}")
    return curves
