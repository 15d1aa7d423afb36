"""The runner on audio: LibriSpeech utterances and synthetic files, named and multi-folder data
sets, rates in kbps from the real bytes, speech metrics, neural codecs by checkpoint path, and
`neurocodec plot` with kbps as the rate axis."""

from __future__ import annotations

import importlib
import math

from pathlib import Path

import pytest

from neurocodec.cli import main
from neurocodec.errors import InputError
from neurocodec.evaluate.audio_modality import AUDIO
from neurocodec.evaluate.baselines import classical_audio_codec
from neurocodec.evaluate.results import curve_from_result, read_json
from neurocodec.evaluate.runner import EvalConfig, list_dataset, resolve_dataset, run_eval

from .conftest import AUDIO_RATE, speechlike

def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


HAVE_METRICS = all(_importable(m) for m in ("pesq", "pystoi"))
VALUES = {"pesq_wb", "stoi", "si_sdr", "mel_distance", "level_db"}


def _cfg(data, out: Path, **kw) -> EvalConfig:
    return EvalConfig(modality="audio", data=data, codecs=kw.pop("codecs", ["opus"]), out=out, progress=False, **kw)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """Two folders of synthetic utterances: a/one.wav and b/deep/two.flac (different lengths)."""
    from neurocodec.io import audio

    root = tmp_path_factory.mktemp("synthetic")
    for rel, seconds, seed in (("a/one.wav", 2.0, 0), ("b/deep/two.flac", 1.5, 1)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        audio.write(root / rel, speechlike(seconds, seed), AUDIO_RATE)
    (root / "b" / "notes.txt").write_text("not audio")
    return root


def test_two_librispeech_utterances_with_opus_at_two_rates(librispeech, tmp_path):
    (path,), skipped = run_eval(_cfg("librispeech-eval", tmp_path, qualities=[8, 16], limit=2))
    assert skipped == [] and path.name == "librispeech-eval-opus.json"
    doc = read_json(path)
    assert doc["modality"] == "audio" and doc["rate_key"] == "kbps" and doc["codec"]["kind"] == "classical"
    assert doc["dataset"]["name"] == "librispeech-eval" and doc["dataset"]["path"] == str(librispeech)
    assert set(doc["metrics"]) == VALUES and doc["metrics"]["mel_distance"]["higher_is_better"] is False
    assert doc["codec"]["settings"]["options"]["application"] == "voip" and doc["codec"]["versions"]["libopus"]
    opus = classical_audio_codec("opus")
    for lv in doc["levels"]:
        assert lv["n_items"] == 2 and set(lv["mean"]) >= VALUES | {"kbps", "bytes"}
        for rec in lv["items"]:
            assert rec["item"].split("/")[0] in ("dev-clean", "test-clean", "test-other")
            assert rec["rate"] == AUDIO_RATE and rec["seconds"] == rec["samples"] / AUDIO_RATE
            x = AUDIO.load(librispeech / rec["item"])
            assert rec["bytes"] == len(opus.encode_audio(x, lv["quality"]))  # the very bytes, counted
            assert rec["kbps"] == pytest.approx(8 * rec["bytes"] / rec["seconds"] / 1000)
            assert abs(rec["kbps"] / lv["quality"] - 1) < 0.25
            assert rec["mel_distance"] > 0
            if HAVE_METRICS:  # the audio-metrics extra; without it PESQ and STOI are NaN
                assert 1.0 < rec["pesq_wb"] < 4.64 and 0.5 < rec["stoi"] < 1.0
            else:
                assert all(rec[k] is None or math.isnan(rec[k]) for k in ("pesq_wb", "stoi"))  # JSON null
    lo, hi = doc["levels"]
    assert hi["mean"]["kbps"] > lo["mean"]["kbps"]
    if HAVE_METRICS:
        assert hi["mean"]["pesq_wb"] > lo["mean"]["pesq_wb"]
    assert hi["mean"]["mel_distance"] < lo["mean"]["mel_distance"]


def test_librispeech_eval_is_106_utterances_of_three_splits(librispeech):
    ds = resolve_dataset("librispeech-eval", AUDIO)
    items = list_dataset(ds, AUDIO)
    assert ds.root == librispeech and len(ds.folders) == 3 and len(items) == 106
    names = [p.relative_to(ds.root).as_posix() for p in items]
    assert names == sorted(names) and {n.split("/")[0] for n in names} == {"test-other", "test-clean", "dev-clean"}
    assert all(n.endswith(".flac") for n in names)


def test_named_set_without_its_data_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCODEC_DATA", str(tmp_path))
    with pytest.raises(InputError, match="missing: librispeech/test-other"):
        run_eval(_cfg("librispeech-eval", tmp_path / "out"))


def test_a_folder_without_audio_is_refused(tmp_path):
    empty = tmp_path / "texts"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no audio here")
    with pytest.raises(InputError, match=r"no audio files \(.*\.flac.*\) under .*texts"):
        run_eval(_cfg(empty, tmp_path / "out"))


def test_folders_and_a_neural_checkpoint_then_plot_in_kbps(synthetic, tiny_dac, tmp_path, capsys):
    data = f"{synthetic / 'a'},{synthetic / 'b'}"  # two folders, one nested: searched recursively
    out = tmp_path / "res"
    written, _ = run_eval(_cfg(data, out, codecs=["mp3", str(tiny_dac)], levels=2))
    mp3, dac = (read_json(p) for p in written)
    assert [p.name for p in written] == ["a+b-mp3.json", "a+b-dac.json"]
    assert mp3["dataset"]["items"] == ["a/one.wav", "b/deep/two.flac"]
    assert [lv["quality"] for lv in mp3["levels"]] == [8, 32] and [lv["quality"] for lv in dac["levels"]] == [1, 3]
    rec = mp3["levels"][1]["items"][1]
    assert rec["samples"] == int(1.5 * AUDIO_RATE) and 20 < rec["kbps"] < 45 and "payload_kbps" not in rec
    assert dac["codec"]["kind"] == "neural" and len(dac["codec"]["weights_hash"]) == 16
    for lv in dac["levels"]:  # the .bin container costs on top of the coded indices
        assert 0 < lv["mean"]["payload_kbps"] < lv["mean"]["kbps"]
        assert all(0 < r["payload_kbps"] < r["kbps"] for r in lv["items"])
    assert dac["levels"][1]["mean"]["payload_kbps"] > dac["levels"][0]["mean"]["payload_kbps"]
    curve = curve_from_result(mp3)
    assert curve.rate_key == "kbps" and curve.rate.tolist() == sorted(curve.rate) and set(curve.values) == VALUES

    # neurocodec plot: kbps axis, no published (Kodak) curves by default, a BD table against mp3
    fig, table = tmp_path / "rd.png", tmp_path / "bd.md"
    assert main(["plot", str(out), "-o", str(fig), "--table", str(table), "--anchors", "mp3"]) == 0
    assert fig.stat().st_size > 5000
    text = table.read_text()
    assert "(2 utterances)" in text and "## BD-rate, pesq_wb" in text and "## BD-rate, mel_distance" in text
    assert "| DAC (neurocodec) |" in text


def test_plot_axes_name_kbps_and_each_value(synthetic, tmp_path):
    from neurocodec.evaluate.plots import plot_rd
    from neurocodec.evaluate.results import load_curves

    written, _ = run_eval(_cfg(synthetic / "a", tmp_path, codecs=["opus", "aac"], levels=2))
    fig = plot_rd(load_curves(written), modality="audio")
    assert [ax.get_xlabel() for ax in fig.axes] == ["kilobits per second [kbps]"] * 4
    assert [ax.get_ylabel() for ax in fig.axes][:3] == ["PESQ-WB [MOS-LQO]", "STOI", "SI-SDR [dB]"]
    assert fig.axes[3].get_ylabel().startswith("mel distance")
    assert fig._suptitle.get_text() == "a (1 utterances)"
