"""Audio codec adapters: real Opus/MP3/AAC files in memory, exact lengths, no residual delay,
real rates near the nominal ones, clear errors; the neural adapter over a tiny dac."""

from __future__ import annotations

import numpy as np
import pytest

from neurocodec.errors import InputError
from neurocodec.evaluate import baselines
from neurocodec.evaluate.audio_metrics import mel_distance, si_sdr
from neurocodec.evaluate.modalities import CodecUnavailableError

from .conftest import AUDIO_RATE, speechlike

NAMES = list(baselines.CLASSICAL_AUDIO_CODECS)
HIGH = {"opus": 24, "mp3": 32, "aac": 32}


def _kbps(data: bytes, x: np.ndarray) -> float:
    return 8 * len(data) / (x.shape[-1] / AUDIO_RATE) / 1000


def _lag(x: np.ndarray, y: np.ndarray, window: int = 64) -> int:
    """The shift of y against x (samples, within +-window) with the largest cross-correlation."""
    a, b = x[0].astype(np.float64), y[0].astype(np.float64)
    n = a.size
    scores = {k: np.dot(a[max(0, -k): n - max(0, k)], b[max(0, k): n - max(0, -k)]) for k in range(-window, window + 1)}
    return max(scores, key=scores.get)


def test_old_image_imports_still_work():
    from neurocodec.evaluate.baselines import CLASSICAL_IMAGE_CODECS, classical_image_codec
    from neurocodec.evaluate.baselines.image import CLASSICAL_IMAGE_CODECS as moved

    assert CLASSICAL_IMAGE_CODECS is moved and "jpeg" in CLASSICAL_IMAGE_CODECS
    assert classical_image_codec("jpeg").name == "jpeg"
    assert NAMES == ["opus", "mp3", "aac"]


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_has_the_exact_length_and_quality_grows_with_rate(name):
    x = speechlike(3.0)
    codec = baselines.classical_audio_codec(name)
    low, high = codec.qualities[0], codec.qualities[-1]
    d_low, d_high = codec.encode_audio(x, low), codec.encode_audio(x, high)
    y_low, y_high = codec.decode_audio(d_low, x.shape[-1]), codec.decode_audio(d_high, x.shape[-1])
    assert y_low.shape == y_high.shape == x.shape and y_high.dtype == np.float32
    assert len(d_high) > len(d_low) > 100
    assert mel_distance(x, y_high)["mel_distance"] < mel_distance(x, y_low)["mel_distance"]
    assert codec.versions["pyav"] and codec.size_note and codec.quality_meaning
    # the same input gives the same bytes (no time stamps, fixed Ogg serial numbers)
    assert codec.encode_audio(x, low) == d_low


@pytest.mark.parametrize("name", NAMES)
def test_containers_are_real_files(name):
    x = speechlike(1.0)
    codec = baselines.classical_audio_codec(name)
    data = codec.encode_audio(x, codec.qualities[1])
    if name == "opus":
        assert data[:4] == b"OggS" and b"OpusHead" in data[:64] and b"OpusTags" in data
        assert codec.versions["libopus"].startswith("libopus 1.")
    elif name == "mp3":
        assert data[0] == 0xFF and data[1] & 0xF0 == 0xF0  # an MPEG audio frame, no ID3 tag
        assert b"Info" in data[:64] or b"Xing" in data[:64]  # the LAME tag with delay and padding
        assert codec.versions["lame"]
    else:
        assert data[4:8] == b"ftyp" and b"moov" in data and b"mdat" in data


@pytest.mark.parametrize("name", NAMES)
def test_the_codec_delay_is_removed(name):
    # broadband noise: its cross-correlation has one sharp peak, at the residual delay
    x = (0.1 * np.random.default_rng(3).standard_normal((1, 2 * AUDIO_RATE))).astype(np.float32)
    codec = baselines.classical_audio_codec(name)
    y = codec.decode_audio(codec.encode_audio(x, HIGH[name]))
    assert _lag(x, y[:, : x.shape[-1]]) == 0
    if name in ("opus", "mp3"):  # Ogg granule positions and the LAME tag give the exact length
        assert y.shape == x.shape
    else:  # MP4 ends on a whole AAC frame
        assert x.shape[-1] <= y.shape[-1] < x.shape[-1] + 1024


def test_opus_real_rate_is_near_nominal_from_6_kbps():
    x = speechlike(4.0)
    codec = baselines.classical_audio_codec("opus")
    for kbps in codec.qualities:
        assert kbps >= 6
        real = _kbps(codec.encode_audio(x, kbps), x)
        assert abs(real / kbps - 1) < 0.25, (kbps, real)


def test_real_rates_on_speech(speech):
    x = speech[:, : 6 * AUDIO_RATE]
    for name in NAMES:
        codec = baselines.classical_audio_codec(name)
        for kbps in codec.qualities:
            real = _kbps(codec.encode_audio(x, kbps), x)
            # containers add to the nominal rate (AAC in MP4 most: sample tables and headers)
            assert 0.75 * kbps < real < 1.3 * kbps + 1.0, (name, kbps, real)
    opus = baselines.classical_audio_codec("opus")
    y = opus.decode_audio(opus.encode_audio(x, 24), x.shape[-1])
    assert _lag(x, y) == 0 and si_sdr(x, y)["si_sdr"] > 5


def test_errors_are_clear():
    x = speechlike(0.5)
    opus, mp3 = baselines.classical_audio_codec("opus"), baselines.classical_audio_codec("mp3")
    with pytest.raises(InputError, match=r"\[6, 64\]"):
        opus.encode_audio(x, 3)
    with pytest.raises(InputError, match="not a bitrate of the format"):
        mp3.encode_audio(x, 12)
    with pytest.raises(InputError, match=r"mono float audio \[1, T\]"):
        opus.encode_audio(np.vstack([x, x]), 16)
    with pytest.raises(InputError, match="not finite"):
        opus.encode_audio(np.full_like(x, np.nan), 16)
    with pytest.raises(InputError, match="cannot decode"):
        opus.decode_audio(b"OggS not really an ogg file")
    with pytest.raises(KeyError):
        baselines.classical_audio_codec("vorbis")


def test_fit_length_pads_and_trims_the_end():
    y = np.arange(6, dtype=np.float32)[None]
    assert baselines.fit_length(y, 4).tolist() == [[0, 1, 2, 3]]
    assert baselines.fit_length(y, 8).tolist() == [[0, 1, 2, 3, 4, 5, 0, 0]]


# --------------------------------------------------------------------------- neural adapter


def test_neural_adapter_codes_stages_into_bin_files(tiny_dac):
    import torch

    from neurocodec import bitstream
    from neurocodec.evaluate.neural_audio import load_neural_audio_codec

    codec = load_neural_audio_codec(str(tiny_dac))
    assert codec.name == "dac" and codec.qualities == [1, 2, 3] and codec.quality_range == (1, 3)
    assert not baselines.is_classical(codec) and len(codec.weights_hash()) == 16
    assert codec.settings["n_q"] == 3 and set(codec.settings["expected_kbps"]) == {"1", "2", "3"}
    x = speechlike(2.0)
    sizes = []
    for stages in codec.qualities:
        data = codec.encode_audio(x, stages)
        y = codec.decode_audio(data)
        assert y.shape == x.shape and y.dtype == np.float32
        assert data[:4] == bitstream.MAGIC[:4] and bitstream.loads(data).metadata["stages"] == stages
        assert 0 < codec.payload_bytes(data) < len(data)
        sizes.append(len(data))
        # the same bytes and reconstruction as the codec's own compress()
        payload, x_hat = codec.codec.compress(torch.from_numpy(x), stages=stages)
        assert bitstream.dumps(payload) == data and np.array_equal(x_hat.numpy(), y)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    with pytest.raises(InputError, match="stages"):
        codec.encode_audio(x, 4)


def test_neural_codecs_without_checkpoints_are_unavailable(monkeypatch, tmp_path):
    from neurocodec.codecs import registry
    from neurocodec.evaluate.neural_audio import load_neural_audio_codec

    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)  # no shipped checkpoints there
    with pytest.raises(CodecUnavailableError, match="not available"):
        load_neural_audio_codec("snac")
    with pytest.raises(CodecUnavailableError, match="unknown audio codec 'hyperprior'"):
        load_neural_audio_codec("hyperprior")
