"""neurocodec.data: the data folder from NEUROCODEC_DATA, and the Kodak subset the measuring
scripts share."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from neurocodec.data import kodak_tensors
from neurocodec.errors import InputError


def test_kodak_tensors_reads_the_first_k_in_order(tmp_path, monkeypatch):
    (tmp_path / "kodak").mkdir()
    for i, v in enumerate((10, 200, 90)):
        Image.fromarray(np.full((8, 12, 3), v, np.uint8)).save(tmp_path / "kodak" / f"kodim0{i + 1}.png")
    monkeypatch.setenv("NEUROCODEC_DATA", str(tmp_path))
    two = kodak_tensors(2)
    assert [tuple(x.shape) for x in two] == [(1, 3, 8, 12)] * 2
    assert [round(float(x.mean()) * 255) for x in two] == [10, 200]
    assert len(kodak_tensors()) == 3


def test_kodak_tensors_without_kodak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCODEC_DATA", str(tmp_path))
    with pytest.raises(InputError, match="NEUROCODEC_DATA"):
        kodak_tensors(1)
