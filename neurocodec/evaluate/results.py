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

Video files (``"rate_key": "bpp"``; ``kbps`` beside it) also hold the run ``"options"``
(``{"gop": 32}``) and, for items with options of their data set, ``dataset.item_options``
(``{item: {"max_frames": 96}}``, also in the item's record). Items are clips sized by ``width``,
``height``, ``pixels`` (per frame), ``frames`` (coded), ``source_frames``, ``fps``, ``seconds``,
``source`` and ``color``; ``container_bytes`` (counted but in no frame) and ``per_frame``:
``{"type": ["I", "P", ...], "bits": [...], "psnr_rgb": [...], "ms_ssim": [...], "ms_ssim_db": [...]}``
in display order. Clip values are means over frames.

Rates come from the byte strings the codec returned (``bytes``); metrics from the decoded
output. Means are arithmetic means over items (CompressAI's convention), except values whose
metric says otherwise (MS-SSIM dB is the dB of the mean MS-SSIM). Non-finite numbers are null.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def result_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on a result file while a run reads, extends and rewrites it, so
    that two evaluations into the same file cannot drop each other's entries: a second one is
    refused at once (:class:`InputError`) rather than waiting. The lock is an advisory ``flock``
    on a hidden sibling ``.NAME.lock`` (left in place: removing it would race); the kernel
    releases it when its holder exits, also when killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another evaluation is writing {path}; wait for it to end, or write elsewhere "
                             "with --out") from None
        yield
    finally:
        os.close(fd)  # releases the lock


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
    items: dict[str, "Curve"] = field(default_factory=dict)  # per-item curves (measured results only)

    def points(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(rate, value) of the points where `key` is known, sorted by rate."""
        if key not in self.values:
            return np.empty(0), np.empty(0)
        v = np.asarray(self.values[key], dtype=np.float64)
        r = np.asarray(self.rate, dtype=np.float64)
        ok = np.isfinite(v) & np.isfinite(r)
        order = np.argsort(r[ok], kind="stable")
        return r[ok][order], v[ok][order]


def _check_rate_key(doc: dict[str, Any], rate_key: str | None) -> str:
    rk = rate_key or doc["rate_key"]
    levels = [lv for lv in doc["levels"] if lv.get("n_items")]
    if any(rk not in lv["mean"] for lv in levels):
        have = sorted(k for k in ("bpp", "kbps") if all(k in lv["mean"] for lv in levels))
        raise InputError(f"the {doc['codec']['name']} results on {doc['dataset']['name']} have no {rk!r} rates "
                         f"(they have: {', '.join(have) or 'none'})")
    return rk


def item_curves(doc: dict[str, Any], rate_key: str | None = None, label: str | None = None) -> dict[str, Curve]:
    """One RD curve per item of a result file (one point per quality level holding it), by item
    name; `rate_key` (default the file's) picks the rate, e.g. ``kbps`` of video results."""
    rk = _check_rate_key(doc, rate_key)
    keys = list(doc.get("metrics", {}))
    points: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for lv in doc["levels"]:
        for rec in lv["items"]:
            points.setdefault(rec["item"], []).append((lv["quality"], rec))
    out = {}
    for item, pts in sorted(points.items()):
        rate = np.array([r[rk] for _, r in pts], dtype=np.float64)
        order = np.argsort(rate, kind="stable")
        values = {k: np.array([np.nan if r.get(k) is None else r[k] for _, r in pts], dtype=np.float64)[order]
                  for k in keys}
        out[item] = Curve(
            label=label or doc["codec"].get("label") or doc["codec"]["name"], modality=doc["modality"], rate_key=rk,
            rate=rate[order], values=values, codec=doc["codec"]["name"], source=f"measured on {item}",
            extra={"qualities": [pts[i][0] for i in order], "dataset": doc["dataset"]["name"], "item": item,
                   "kind": doc["codec"].get("kind", "")})
    return out


def item_records(doc: dict[str, Any], item: str) -> list[tuple[int, dict[str, Any]]]:
    """The (quality, record) pairs of one item in a result file, by quality."""
    return sorted(((lv["quality"], rec) for lv in doc["levels"] for rec in lv["items"] if rec["item"] == item),
                  key=lambda t: t[0])


def curve_from_result(doc: dict[str, Any], label: str | None = None, rate_key: str | None = None) -> Curve:
    """The mean RD curve of a result file (one point per quality level), with its per-item
    curves in ``items``; `rate_key` (default the file's) picks the rate, e.g. ``kbps``."""
    rk = _check_rate_key(doc, rate_key)
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
        items=item_curves(doc, rk, label),
    )


def load_curves(paths: list[str | Path], rate_key: str | None = None) -> list[Curve]:
    """Curves of several result files; they must share one modality. `rate_key`: the rate to
    read (default each file's own)."""
    docs = [read_json(p) for p in paths]
    curves = [curve_from_result(d, rate_key=rate_key) for d in docs]
    mods = {c.modality for c in curves}
    if len(mods) > 1:
        raise InputError(f"result files mix modalities {sorted(mods)}")
    _tell_apart(curves, docs, paths)
    return curves


def _tell_apart(curves: list[Curve], docs: list[dict[str, Any]], paths: list[str | Path]) -> None:
    """Curves of one codec from several files (e.g. two checkpoints of the gmm) get the name and
    label ``NAME#HASH`` (the first 8 hex digits of their weights), or ``NAME#FOLDER`` when the
    weights do not tell them apart, so that each can be a table row or an anchor."""
    for name in {c.codec for c in curves}:
        same = [i for i, c in enumerate(curves) if c.codec == name]
        if len(same) < 2:
            continue
        tags = [str(docs[i]["codec"].get("weights_hash") or "")[:8] for i in same]
        if "" in tags or len(set(tags)) < len(tags):
            tags = [Path(paths[i]).resolve().parent.name for i in same]
        for i, tag in zip(same, tags):
            curves[i].codec = curves[i].label = f"{name}#{tag}"
