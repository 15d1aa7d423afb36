"""Audio metrics: known values (PESQ ceiling, SI-SDR at a set SNR, STOI and mel distance of
identical signals), their registration, optional packages, and BD-rate on a lower-is-better value."""

from __future__ import annotations

import math

import logging
import sys

import numpy as np
import pytest

from neurocodec.errors import InputError
from neurocodec.evaluate import audio_metrics, metrics
from neurocodec.evaluate.report import bd_table
from neurocodec.evaluate.results import Curve

from .conftest import speechlike


def _white_noise_at(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """White noise whose power is `snr_db` below that of zero-mean `x`."""
    n = np.random.default_rng(seed).standard_normal(x.shape)
    n -= n.mean()
    p_x = np.mean((x - x.mean()) ** 2)
    return n * np.sqrt(p_x / np.mean(n**2) / 10 ** (snr_db / 10))


def test_pesq_of_speech_against_itself_is_the_ceiling(speech):
    pytest.importorskip("pesq", reason="pesq is not installed (the audio-metrics extra)")
    v = audio_metrics.pesq_wb(speech, speech)["pesq_wb"]
    assert v == pytest.approx(4.644, abs=1e-3) and round(v, 2) == 4.64
    noisy = (speech + _white_noise_at(speech, 10)).astype(np.float32)
    assert 1.0 < audio_metrics.pesq_wb(speech, noisy)["pesq_wb"] < 3.0


def test_si_sdr_of_white_noise_at_20_db_is_20_db():
    x = speechlike(4.0)
    noisy = x + _white_noise_at(x, 20.0)
    assert audio_metrics.si_sdr(x, noisy)["si_sdr"] == pytest.approx(20.0, abs=0.1)
    # scale- and offset-invariant: zero-mean, the reference scaled to fit
    value = audio_metrics.si_sdr(x, noisy)["si_sdr"]
    assert audio_metrics.si_sdr(x, 0.3 * noisy + 0.05)["si_sdr"] == pytest.approx(value)
    assert audio_metrics.si_sdr(x, x)["si_sdr"] == audio_metrics.SI_SDR_CAP_DB
    assert np.isnan(audio_metrics.si_sdr(np.zeros_like(x), x)["si_sdr"])


def test_stoi_of_identical_signals_is_one():
    pytest.importorskip("pystoi", reason="pystoi is not installed (the audio-metrics extra)")
    x = speechlike(3.0)
    assert audio_metrics.stoi(x, x)["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert audio_metrics.stoi(x, x + _white_noise_at(x, 0.0))["stoi"] < 0.9


def test_mel_distance_is_zero_for_identical_signals_and_grows_with_noise():
    x = speechlike(2.0)
    assert audio_metrics.mel_distance(x, x)["mel_distance"] == 0.0
    d20 = audio_metrics.mel_distance(x, x + _white_noise_at(x, 20))["mel_distance"]
    d0 = audio_metrics.mel_distance(x, x + _white_noise_at(x, 0))["mel_distance"]
    assert 0 < d20 < d0


def test_audio_values_are_registered_with_their_direction():
    desc = metrics.values_for("audio")
    assert list(desc) == ["pesq_wb", "stoi", "si_sdr", "mel_distance", "level_db"]
    assert metrics.plot_keys("audio") == ["pesq_wb", "stoi", "si_sdr", "mel_distance"]
    assert desc["mel_distance"].higher_is_better is False and desc["si_sdr"].unit == "dB"
    x = speechlike(1.0)
    out = metrics.compute("audio", x, x)
    assert set(out) == set(desc) and out["mel_distance"] == 0.0


def test_level_change_in_db():
    x = speechlike(1.0)
    assert audio_metrics.level_db(x, x)["level_db"] == 0.0
    assert audio_metrics.level_db(x, 0.5 * x)["level_db"] == pytest.approx(-6.0206, abs=1e-3)
    assert math.isnan(audio_metrics.level_db(x, 0 * x)["level_db"])


def test_signals_of_other_shapes_are_refused():
    x = speechlike(1.0)
    with pytest.raises(InputError, match="align"):
        audio_metrics.si_sdr(x, x[:, :-10])
    with pytest.raises(InputError, match="mono"):
        audio_metrics.mel_distance(np.vstack([x, x]), np.vstack([x, x]))


def test_a_missing_package_gives_nan_and_one_warning(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "pesq", None)  # import pesq now raises ImportError
    monkeypatch.setattr(audio_metrics, "_warned", set())
    x = speechlike(1.0)
    with caplog.at_level(logging.WARNING, logger=audio_metrics.__name__):
        assert np.isnan(audio_metrics.pesq_wb(x, x)["pesq_wb"])
        assert np.isnan(audio_metrics.pesq_wb(x, x)["pesq_wb"])
    warnings = [r for r in caplog.records if "pesq is not installed" in r.getMessage()]
    assert len(warnings) == 1 and "audio-metrics" in warnings[0].getMessage()


def _curve(label: str, rate: list[float], mel: list[float]) -> Curve:
    return Curve(label, "audio", "kbps", np.array(rate), {"mel_distance": np.array(mel)})


def test_bd_rate_on_a_lower_is_better_value():
    anchor = _curve("anchor", [6, 12, 24], [4.0, 2.5, 1.5])
    half = _curve("half", [3, 6, 12], [4.0, 2.5, 1.5])  # the same distances at half the rate
    (row,) = bd_table([half], [anchor], "mel_distance")
    assert row["anchor"] == pytest.approx(-50.0, abs=1e-6)
    # BD-quality stays in the value's unit: at equal rates `anchor` is 1 to 1.5 further away
    (row,) = bd_table([anchor], [half], "mel_distance", kind="quality")
    assert 0.9 < row["half"] < 1.6
