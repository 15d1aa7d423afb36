"""The shipped audio checkpoints: they load, match their model cards, fit the size limit, and
code real speech at the measured quality with the input's level."""

from __future__ import annotations

import json

import pytest
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.codecs.audio.base import rms_dbfs
from neurocodec.data import data_path
from neurocodec.io import audio


def _shipped(name: str):  # noqa: ANN202
    path = registry.CHECKPOINT_DIR / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"no shipped checkpoint {path.name}")
    return registry.load(path).prepare_inference(), json.loads((registry.CHECKPOINT_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["dac", "snac"])
def test_checkpoint_matches_its_card(name: str) -> None:
    codec, card = _shipped(name)
    assert codec.weights_hash().hex() == card["weights_hash"]
    assert (registry.CHECKPOINT_DIR / f"{name}.pt").stat().st_size <= 30e6
    assert [round(b, 3) for b in codec.stage_bits()] == card["priors"]["bits_per_index"]
    assert all(b < codec.bits_per_index for b in codec.stage_bits())  # the priors save bits


@pytest.mark.parametrize("name,stages,min_stoi", [("dac", 6, 0.72), ("snac", 4, 0.70)])
def test_real_speech_quality_and_level(name: str, stages: int, min_stoi: float) -> None:
    """One test-clean utterance: STOI near the card's mean (0.807 for dac at 6 stages, 0.787 for
    snac at 4 levels over 106 utterances), the level kept, decompress equal to compress."""
    pystoi = pytest.importorskip("pystoi", reason="STOI needs the audio-metrics extra")
    split = data_path("librispeech", "test-clean")
    if split is None:
        pytest.skip("LibriSpeech test-clean not found (set NEUROCODEC_DATA)")
    codec, _ = _shipped(name)
    f = sorted(split.rglob("*.flac"))[0]
    x = torch.from_numpy(audio.read(f, 16000))
    p, y = codec.compress(x, stages=stages)
    assert torch.equal(codec.decompress(bitstream.loads(bitstream.dumps(p))), y)
    assert abs(rms_dbfs(y.numpy()) - rms_dbfs(x.numpy())) < 0.05
    score = pystoi.stoi(x[0].double().numpy(), y[0].double().numpy(), 16000)
    assert score > min_stoi, score
