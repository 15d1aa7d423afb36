"""A new modality plugs into the runner, result files, BD-rate and plots without changing them."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from neurocodec.evaluate import metrics
from neurocodec.evaluate.modalities import CodecUnavailableError, Modality, register_modality
from neurocodec.evaluate.plots import plot_rd
from neurocodec.evaluate.report import bd_table
from neurocodec.evaluate.results import load_curves, read_json
from neurocodec.evaluate.runner import EvalConfig, run_eval

RATE_HZ = 8000


class Quantiser:
    """A toy 'audio' codec: uniform quantiser with step 2**(12 - quality), zlib-packed int16."""

    def __init__(self, name: str, level: int) -> None:
        self.name, self.qualities, self.level = name, [2, 4, 6, 8], level

    def encode(self, x: np.ndarray, quality: int) -> bytes:
        step = 2.0 ** (12 - quality)
        return zlib.compress(np.rint(x / step).astype("<i2").tobytes(), self.level) + bytes([quality])

    def decode(self, data: bytes) -> np.ndarray:
        step = 2.0 ** (12 - data[-1])
        return np.frombuffer(zlib.decompress(data[:-1]), "<i2").astype(np.float64) * step


def _codec(name: str) -> Quantiser:
    levels = {"quant-fast": 1, "quant-best": 9}
    if name not in levels:
        raise CodecUnavailableError(f"unknown toy codec {name!r}")
    return Quantiser(name, levels[name])


def _snr(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    return {"snr": 10 * math.log10(np.sum(ref**2) / max(np.sum((ref - dec) ** 2), 1e-12))}


TOY = Modality(
    name="toy-audio", rate_key="kbps", rate_label="kilobits per second",
    list_items=lambda folder: sorted(folder.glob("*.npy")),
    load=lambda path: np.load(path),
    describe=lambda x: {"samples": int(x.size), "seconds": x.size / RATE_HZ},
    rate=lambda n, size: {"kbps": 8 * n / size["seconds"] / 1000},
    load_codec=_codec, encode=lambda c, x, q: c.encode(x, q), decode=lambda c, d: c.decode(d),
    known_codecs=lambda: ["quant-fast", "quant-best"],
)


def test_toy_modality_through_runner_bd_and_plot(tmp_path: Path):
    register_modality(TOY)
    metrics.register_metric("toy-audio", "snr", _snr, [metrics.Value("snr", "SNR", "dB")])
    data = tmp_path / "tones"
    data.mkdir()
    t = np.arange(RATE_HZ) / RATE_HZ
    for i, f in enumerate((220.0, 440.0)):
        np.save(data / f"tone{i}.npy", 3000 * np.sin(2 * np.pi * f * t) + 50 * np.random.default_rng(i).standard_normal(t.size))
    written, _ = run_eval(EvalConfig(modality="toy-audio", data=data, codecs=["quant-fast", "quant-best"], out=tmp_path / "res", progress=False))
    doc = read_json(written[0])
    assert doc["rate_key"] == "kbps" and set(doc["metrics"]) == {"snr"}
    rec = doc["levels"][0]["items"][0]
    assert rec["kbps"] == pytest.approx(8 * rec["bytes"] / 1.0 / 1000) and rec["samples"] == RATE_HZ
    fast, best = load_curves(written)
    assert np.all(np.diff(fast.values["snr"]) > 0)
    # same quantiser, better zlib level: same SNR, fewer bits -> negative BD-rate
    (row,) = bd_table([best], [fast], "snr")
    assert -30 < row[fast.label] < 0
    fig = plot_rd([fast, best], modality="toy-audio", out=tmp_path / "toy.png")
    assert fig.axes[0].get_xlabel() == "kilobits per second [kbps]" and (tmp_path / "toy.png").stat().st_size > 1000
