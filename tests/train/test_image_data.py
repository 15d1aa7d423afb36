"""Training crops: size, range, flips, and reproducible under a seed."""

import numpy as np
import torch
from PIL import Image

from neurocodec.train.image_data import FullImages, RandomCrops


def test_random_crops(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    ds = RandomCrops(tmp_path, 32, length=10)
    torch.manual_seed(0)
    a = torch.stack([ds[i] for i in range(10)])
    torch.manual_seed(0)
    b = torch.stack([ds[i] for i in range(10)])
    assert a.shape == (10, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    full = FullImages(tmp_path)
    assert [tuple(full[i].shape) for i in range(3)] == [(3, 40, 50), (3, 41, 50), (3, 42, 50)]
