"""Fixtures every test folder shares."""

from __future__ import annotations

import pytest
import torch

from neurocodec.demo import sample_image_path
from neurocodec.io.images import load_image, to_tensor


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """The real 512x600 photo: about Kodak's size, where the 1% bound is stated."""
    return to_tensor(load_image(sample_image_path()))
