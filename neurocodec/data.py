"""Where the data sets are: $NEUROCODEC_DATA, else ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path | None:
    """The data folder, or None when there is none."""
    env = os.environ.get("NEUROCODEC_DATA")
    if env:
        return Path(env)
    p = Path(__file__).resolve().parents[2] / "shared" / "data"
    return p if p.is_dir() else None


def data_path(*parts: str) -> Path | None:
    """A path under the data folder, or None when it does not exist."""
    root = data_root()
    if root is None:
        return None
    p = root.joinpath(*parts)
    return p if p.exists() else None
