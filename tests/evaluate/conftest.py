"""Fixtures: Kodak from $NEUROCODEC_DATA (tests skip with a reason without it), small crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("NEUROCODEC_DATA", REPO.parent / "shared" / "data"))
KODAK = DATA / "kodak"
SHARED_REFERENCE = REPO.parent / "shared" / "reference" / "kodak_published.json"


@pytest.fixture(scope="session")
def kodak() -> Path:
    if not (KODAK / "kodim01.png").exists():
        pytest.skip(f"Kodak not found at {KODAK} (set NEUROCODEC_DATA)")
    return KODAK


@pytest.fixture(scope="session")
def kodak_crop(kodak: Path) -> np.ndarray:
    """A 192x256 crop of kodim23 (parrots): big enough for MS-SSIM's five scales."""
    from PIL import Image

    img = np.asarray(Image.open(kodak / "kodim23.png").convert("RGB"))
    return np.ascontiguousarray(img[160:352, 256:512])


@pytest.fixture(scope="session")
def crop_folder(tmp_path_factory: pytest.TempPathFactory, kodak: Path) -> Path:
    """A data set of three 192x192 Kodak crops saved as PNG."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("crops")
    for name in ("kodim03.png", "kodim07.png", "kodim23.png"):
        img = np.asarray(Image.open(kodak / name).convert("RGB"))
        Image.fromarray(img[100:292, 200:392]).save(folder / name)
    return folder
