"""Published Kodak RD curves, to draw and compare beside ours (always labelled "published").

The series ship with the package (``data/kodak_published.json``: a results-only copy of the
project's ``shared/reference/kodak_published.json``, each series with its source), so plots and
tables work without ``../shared``. Mostly CompressAI's results files (commit 869a9f5), plus a few
papers' own RD data; read each series' ``source`` and ``note`` before quoting it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.metrics import ms_ssim_db
from neurocodec.evaluate.results import Curve

# What every series of the file was measured on (its "_about": "Kodak PhotoCD, 24 images"): plots
# say so when our results are on other data.
PUBLISHED_DATASET = "kodak"
PUBLISHED_ITEMS = 24

# drawn by default beside our image results
DEFAULT_PUBLISHED = [
    "BPG 0.9.8 444 x265 YCbCr",
    "VTM (intra, 444 YCbCr)",
    "compressai bmshj2018-hyperprior mse",
    "compressai mbt2018-mean mse",
]


@lru_cache(maxsize=4)
def _load(path: str | None) -> dict[str, Any]:
    if path is None:
        text = resources.files("neurocodec.evaluate").joinpath("data/kodak_published.json").read_text()
    else:
        text = Path(path).read_text()
    return json.loads(text)


def published_series(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every published series: name -> {"source", "results": {"bpp", "psnr-rgb", ...}, ...}.

    `path` reads another file of the same layout (e.g. the full shared reference file)."""
    doc = _load(None if path is None else str(path))
    series = dict(doc["series"])
    for name, s in doc.get("other_published_series", {}).items():  # the shared file's layout
        series.setdefault(name, s)
    return series


def find_series(name: str, path: str | Path | None = None) -> str:
    """The series name matching `name` exactly, or as the one case-insensitive substring match."""
    series = published_series(path)
    if name in series:
        return name
    hits = [k for k in series if name.lower() in k.lower()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise InputError(f"no published series matches {name!r}; known: {'; '.join(series)}")
    raise InputError(f"{name!r} matches several published series: {'; '.join(hits)}")


def published_curve(name: str, path: str | Path | None = None) -> Curve:
    """A published Kodak series as an image Curve (bpp; psnr_rgb, ms_ssim, ms_ssim_db where given)."""
    key = find_series(name, path)
    s = published_series(path)[key]
    res = s["results"]
    n = len(res["bpp"])
    values: dict[str, np.ndarray] = {}
    if "psnr-rgb" in res:
        values["psnr_rgb"] = np.asarray(res["psnr-rgb"], dtype=np.float64)
    if "ms-ssim-rgb" in res:
        values["ms_ssim"] = np.asarray(res["ms-ssim-rgb"], dtype=np.float64)
        values["ms_ssim_db"] = np.array([ms_ssim_db(v) for v in res["ms-ssim-rgb"]])
    elif "ms-ssim-db-rgb" in res:
        values["ms_ssim_db"] = np.asarray(res["ms-ssim-db-rgb"], dtype=np.float64)
    for k, v in values.items():
        if v.size != n:
            raise InputError(f"published series {key!r}: {k} has {v.size} points, bpp {n}")
    rate = np.asarray(res["bpp"], dtype=np.float64)
    order = np.argsort(rate, kind="stable")
    source = s.get("source") or s.get("source_path", "")
    return Curve(
        label=f"{key} (published)",
        modality="image",
        rate_key="bpp",
        rate=rate[order],
        values={k: v[order] for k, v in values.items()},
        published=True,
        source=source,
        codec=key,
        extra={"note": s.get("note", ""), "dataset": PUBLISHED_DATASET, "n_items": [PUBLISHED_ITEMS]},
    )
