"""Image metrics on values with known answers; the per-modality registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurocodec.errors import InputError
from neurocodec.evaluate import metrics


def test_psnr_of_a_constant_error_is_exact():
    a = np.full((20, 30, 3), 100, np.uint8)
    b = a + 5  # MSE 25
    assert metrics.psnr_rgb(a, b)["psnr_rgb"] == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    assert metrics.psnr_rgb(a, a)["psnr_rgb"] == metrics.PSNR_CAP_DB


def test_psnr_counts_all_three_channels():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 30  # MSE over R alone 900, over RGB 300
    assert metrics.psnr_rgb(a, b)["psnr_rgb"] == pytest.approx(10 * math.log10(255**2 / 300), abs=1e-12)


def test_ms_ssim_and_its_db_form(kodak_crop):
    same = metrics.ms_ssim_rgb(kodak_crop, kodak_crop)
    assert same["ms_ssim"] == pytest.approx(1.0, abs=1e-5)
    noisy = np.clip(kodak_crop.astype(int) + np.random.default_rng(0).integers(-12, 13, kodak_crop.shape), 0, 255).astype(np.uint8)
    m = metrics.ms_ssim_rgb(kodak_crop, noisy)
    assert 0.8 < m["ms_ssim"] < 0.999
    assert m["ms_ssim_db"] == pytest.approx(-10 * math.log10(1 - m["ms_ssim"]))


def test_ms_ssim_is_nan_below_its_minimum_size():
    a = np.zeros((100, 300, 3), np.uint8)
    assert math.isnan(metrics.ms_ssim_rgb(a, a)["ms_ssim"])


def test_mismatched_shapes_are_an_input_error():
    with pytest.raises(InputError):
        metrics.psnr_rgb(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_image_means_follow_compressai_conventions():
    recs = [{"psnr_rgb": 30.0, "ms_ssim": 0.9, "ms_ssim_db": 10.0}, {"psnr_rgb": 40.0, "ms_ssim": 0.99, "ms_ssim_db": 20.0}]
    m = metrics.mean_values("image", recs)
    assert m["psnr_rgb"] == pytest.approx(35.0)
    assert m["ms_ssim"] == pytest.approx(0.945)
    assert m["ms_ssim_db"] == pytest.approx(-10 * math.log10(1 - 0.945))  # dB of the mean


def test_registry_is_per_modality():
    metrics.register_metric("test-signal", "abs-err", lambda r, d: {"max_abs": float(np.max(np.abs(r - d)))},
                            [metrics.Value("max_abs", "max |error|", higher_is_better=False)])
    assert metrics.compute("test-signal", np.zeros(3), np.array([0.0, -2.0, 1.0])) == {"max_abs": 2.0}
    assert "max_abs" not in metrics.values_for("image")
    assert metrics.plot_keys("image") == ["psnr_rgb", "ms_ssim_db"]
    with pytest.raises(InputError, match="no metrics"):
        metrics.metrics_for("smell")
