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


def kodak_tensors(limit: int | None = None) -> list:
    """The first `limit` Kodak images (all when None) as [1, 3, H, W] float tensors in [0, 1],
    for the scripts that measure on a Kodak subset. InputError when Kodak is not found."""
    from neurocodec.errors import InputError

    kodak = data_path("kodak")
    if kodak is None:
        raise InputError("Kodak not found: set NEUROCODEC_DATA (see README)")
    return folder_tensors(kodak, limit)


def folder_tensors(folder: Path, limit: int | None = None) -> list:
    """The first `limit` images of a folder (all when None, in list_images' order) as
    [1, 3, H, W] float tensors in [0, 1]."""
    from neurocodec.io.images import list_images, load_image, to_tensor

    return [to_tensor(load_image(p)) for p in list_images(folder)[:limit]]
