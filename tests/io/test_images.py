"""The image input policy: what is converted, what is refused, with which message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from neurocodec.errors import InputError
from neurocodec.io.images import load_image


def test_policy(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (5, 7, 3) and (out == gray[:, :, None]).all()

    g16 = (rng.integers(0, 65536, (4, 4))).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[:, :, 0], np.round(g16 * 255.0 / 65535).astype(np.uint8))

    rgba = np.concatenate([rng.integers(0, 256, (3, 3, 3), dtype=np.uint8), np.full((3, 3, 1), 255, np.uint8)], 2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(load_image(tmp_path / "opaque.png"), rgba[:, :, :3])
    rgba[1, 1, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(InputError, match="transparency"):
        load_image(tmp_path / "alpha.png")

    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read"):
        load_image(tmp_path / "bad.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError):
        load_image(tmp_path / "empty.png")
