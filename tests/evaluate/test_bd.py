"""BD-rate / BD-quality on cases with known answers, and the published CompressAI check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurocodec.evaluate.bd import BDError, bd_psnr, bd_quality, bd_rate
from neurocodec.evaluate.metrics import ms_ssim_db
from neurocodec.evaluate.reference import published_curve, published_series

from .conftest import SHARED_REFERENCE

RATE = np.array([0.12, 0.25, 0.5, 0.9, 1.5])
PSNR = np.array([27.0, 29.8, 32.9, 35.7, 38.4])

# CompressAI mbt2018-mean (MSE) against BPG 0.9.8 4:4:4, both as published in CompressAI's
# results files: Bjøntegaard/PCHIP gives -3.2835 % (the reference file's own derivation agrees).
MBT_VS_BPG = -3.2835
TOL = 0.01  # percentage points


def test_curve_against_itself_is_zero():
    assert bd_rate(RATE, PSNR, RATE, PSNR) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATE, PSNR, RATE, PSNR) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("scale", [0.9, 0.5, 1.25])
def test_scaled_rates_give_exact_bd_rate(scale):
    assert bd_rate(RATE, PSNR, RATE * scale, PSNR) == pytest.approx((scale - 1) * 100, abs=1e-9)


def test_shifted_quality_gives_exact_bd_psnr():
    assert bd_quality(RATE, PSNR, RATE, PSNR + 0.5) == pytest.approx(0.5, abs=1e-9)
    assert bd_quality(RATE, PSNR + 0.5, RATE, PSNR) == pytest.approx(-0.5, abs=1e-9)


def test_better_curve_has_negative_bd_rate_and_order_does_not_matter():
    perm = np.array([3, 0, 4, 2, 1])
    better = bd_rate(RATE, PSNR, RATE[perm] * 0.8, PSNR[perm] + 0.2)
    assert better < -20.0
    assert bd_rate(RATE[::-1], PSNR[::-1], RATE, PSNR) == pytest.approx(0.0, abs=1e-12)


def test_only_the_overlapping_quality_range_counts():
    # PSNR linear in log rate (PCHIP then reproduces the line exactly); the test curve exists only
    # in the upper part, where it is 10 % cheaper; the anchor's lower points must not matter
    q = 30 + 4 * np.log(RATE)
    assert bd_rate(RATE, q, RATE[2:] * 0.9, q[2:]) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(RATE, q, np.r_[RATE[:2] * 0.5, RATE[2:] * 0.9], q) < -10.5


def test_dominated_points_are_dropped():
    r = np.append(RATE, 1.0)  # costs more than 0.9 bpp but is worse: not on the curve
    q = np.append(PSNR, 35.0)
    assert bd_rate(RATE, PSNR, r, q) == pytest.approx(0.0, abs=1e-12)


def test_errors():
    with pytest.raises(BDError, match="overlap"):
        bd_rate(RATE, PSNR, RATE, PSNR + 20)
    with pytest.raises(BDError, match="at least 2"):
        bd_rate(RATE, PSNR, RATE[:1], PSNR[:1])
    with pytest.raises(BDError, match="positive"):
        bd_rate(RATE, PSNR, RATE - 1, PSNR)


def test_published_mbt2018_mean_vs_bpg_from_the_package_copy():
    bpg, mbt = published_curve("BPG 0.9.8 444 x265 YCbCr"), published_curve("compressai mbt2018-mean mse")
    got = bd_rate(*bpg.points("psnr_rgb"), *mbt.points("psnr_rgb"))
    assert got == pytest.approx(MBT_VS_BPG, abs=TOL)
    assert "(published)" in mbt.label


def test_published_mbt2018_mean_vs_bpg_from_the_shared_reference_file():
    if not SHARED_REFERENCE.exists():
        pytest.skip(f"{SHARED_REFERENCE} not found")
    s = json.loads(SHARED_REFERENCE.read_text())["series"]
    bpg, mbt = s["BPG 0.9.8 444 x265 YCbCr"]["results"], s["compressai mbt2018-mean mse"]["results"]
    got = bd_rate(bpg["bpp"], bpg["psnr-rgb"], mbt["bpp"], mbt["psnr-rgb"])
    assert got == pytest.approx(MBT_VS_BPG, abs=TOL)
    assert got == pytest.approx(-3.3, abs=0.05)  # "about -3.3 %"
    # and every BD-rate the reference file derived (PSNR and MS-SSIM dB) is reproduced
    checked = 0
    for name, series in s.items():
        for field, key in (("derived_bd_rate_psnr_percent", "psnr-rgb"), ("derived_bd_rate_msssim_db_percent", "ms-ssim-rgb")):
            for anchor, want in series.get(field, {}).items():
                a, t = s[anchor.removeprefix("vs ")]["results"], series["results"]
                f = (lambda v: v) if key == "psnr-rgb" else (lambda v: [ms_ssim_db(x) for x in v])
                assert bd_rate(a["bpp"], f(a[key]), t["bpp"], f(t[key])) == pytest.approx(want, abs=1e-3), (name, anchor)
                checked += 1
    assert checked > 150


def test_package_copy_matches_the_shared_file():
    if not SHARED_REFERENCE.exists():
        pytest.skip(f"{SHARED_REFERENCE} not found")
    shared = json.loads(SHARED_REFERENCE.read_text())["series"]
    ours = published_series()
    for name, s in shared.items():
        assert ours[name]["results"]["bpp"] == s["results"]["bpp"]
        if "psnr-rgb" in s["results"]:
            assert ours[name]["results"]["psnr-rgb"] == s["results"]["psnr-rgb"]
