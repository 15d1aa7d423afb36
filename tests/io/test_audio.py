"""Audio files through PyAV: formats, rates, channel counts and lengths survive the codec's file
path with exact duration and rate; bad files get clear errors; memory does not grow with
duration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.errors import InputError
from neurocodec.io import audio


def _tone(rate: int, n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    out = np.stack([x * (1 - 0.3 * c) + 0.002 * rng.standard_normal(n) for c in range(channels)])
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def codec():  # noqa: ANN201
    torch.manual_seed(0)
    return registry.build("dac", enc_channels=4, dec_channels=16, latent=8, n_q=3, codebook_size=64).eval()


LOSSLESS = [".wav", ".flac"]


@pytest.mark.parametrize("ext", LOSSLESS)
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_lossless_inputs_round_trip_exact_duration_and_rate(tmp_path: Path, codec, ext: str, rate: int, channels: int) -> None:
    n = int(0.37 * rate) + 1  # odd
    src = tmp_path / f"in{ext}"
    audio.write(src, _tone(rate, n, channels), rate)
    assert audio.read(src).shape == (channels, n)
    p = codec.encode_file(src)
    out = tmp_path / "out.wav"
    info = codec.decode_file(bitstream.loads(bitstream.dumps(p)), out)
    got = audio.read(out)
    assert info == {"rate": rate, "channels": 1, "samples": n}
    assert audio.probe(out).rate == rate and got.shape == (1, n)
    assert p.metadata["ch"] == channels and p.metadata["coded"] == 1


@pytest.mark.parametrize("ext", [".mp3", ".ogg", ".m4a"])
def test_lossy_inputs_keep_their_decoded_length(tmp_path: Path, codec, ext: str) -> None:
    """Lossy files: the length is what PyAV decodes (it includes the format's priming), and
    the output has exactly that many samples at the input's rate."""
    rate = 48000 if ext == ".ogg" else 44100
    src = tmp_path / f"in{ext}"
    audio.write(src, _tone(rate, 20000, 2), rate)
    ref = audio.read(src)
    p = codec.encode_file(src, keep_channels=True)
    out = tmp_path / "out.flac"
    codec.decode_file(p, out)
    got = audio.read(out)
    assert got.shape == ref.shape and audio.probe(out).rate == audio.probe(src).rate


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"])
def test_outputs_in_every_format(tmp_path: Path, codec, ext: str) -> None:
    src = tmp_path / "in.wav"
    audio.write(src, _tone(16000, 16000), 16000)
    out = tmp_path / f"out{ext}"
    codec.decode_file(codec.encode_file(src), out)
    assert audio.probe(out).channels == 1
    if ext in LOSSLESS:
        assert audio.read(out).shape == (1, 16000)


def test_one_sample_and_keep_channels(tmp_path: Path, codec) -> None:
    src = tmp_path / "one.wav"
    audio.write(src, _tone(44100, 1, 2), 44100)
    p = codec.encode_file(src, keep_channels=True)
    out = tmp_path / "one.out.wav"
    codec.decode_file(p, out)
    assert audio.read(out).shape == (2, 1) and audio.probe(out).rate == 44100


def test_bad_inputs_are_refused_by_name(tmp_path: Path, codec) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        codec.encode_file(empty)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 100)
    with pytest.raises(InputError, match="junk.wav"):
        codec.encode_file(junk)
    with pytest.raises(InputError, match="no such file"):
        codec.encode_file(tmp_path / "missing.wav")
    video = tmp_path / "silent.mp4"
    with av.open(str(video), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 40, np.uint8), format="rgb24")
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    with pytest.raises(InputError, match="no audio stream"):
        codec.encode_file(video)
    nan = tmp_path / "nan.wav"
    with av.open(str(nan), "w", format="wav") as c:
        s = c.add_stream("pcm_f32le", rate=16000, layout="mono")
        f = av.AudioFrame.from_ndarray(np.full((1, 1000), np.nan, np.float32), format="flt", layout="mono")
        f.sample_rate = 16000
        for pkt in s.encode(f):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    with pytest.raises(InputError, match="finite"):
        codec.encode_file(nan)
    src = tmp_path / "ok.wav"
    audio.write(src, _tone(16000, 4000), 16000)
    with pytest.raises(InputError, match="cannot write audio"):
        codec.decode_file(codec.encode_file(src), tmp_path / "out.xyz")


def test_video_audio_track_is_coded(tmp_path: Path, codec) -> None:
    clip = tmp_path / "clip.mkv"
    with av.open(str(clip), "w") as c:
        v = c.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=16000, layout="mono")
        f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for pkt in v.encode(f):
            c.mux(pkt)
        af = av.AudioFrame.from_ndarray((_tone(16000, 8000) * 32767).astype(np.int16), format="s16", layout="mono")
        af.sample_rate = 16000
        for pkt in a.encode(af):
            c.mux(pkt)
        for s in (v, a):
            for pkt in s.encode(None):
                c.mux(pkt)
    p = codec.encode_file(clip)
    assert p.metadata["n"] == 8000


_MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys, torch
    from neurocodec.codecs import registry
    from neurocodec import bitstream
    torch.manual_seed(0)
    torch.set_num_threads(1)
    c = registry.build("dac", enc_channels=4, dec_channels=16, latent=8, n_q=3, codebook_size=64).eval()
    p = c.encode_file(sys.argv[1])
    c.decode_file(bitstream.loads(bitstream.dumps(p)), sys.argv[2])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


def _peak_mb(src: Path, out: Path) -> int:
    r = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(src), str(out)], capture_output=True, text=True, check=True)
    return int(r.stdout.strip().splitlines()[-1])


def _long_flac(path: Path, seconds: float, rate: int = 48000) -> None:
    with audio.Writer(path, rate, rate, 2, int(seconds * rate)) as w:
        block = _tone(rate, rate * 10, 2)
        for _ in range(int(seconds // 10)):
            w.write(block)


def test_memory_stays_bounded_on_ten_minutes_of_48k_stereo(tmp_path: Path) -> None:
    """Peak memory of encode + decode of 10 min of 48 kHz stereo is within 60 MB of that of
    30 s (holding the 10-minute signal would take 230 MB as decoded float samples)."""
    short, long = tmp_path / "short.flac", tmp_path / "long.flac"
    _long_flac(short, 30)
    _long_flac(long, 600)
    a = _peak_mb(short, tmp_path / "short.out.flac")
    b = _peak_mb(long, tmp_path / "long.out.flac")
    assert audio.read(tmp_path / "short.out.flac").shape == (1, 30 * 48000)
    assert audio.probe(tmp_path / "long.out.flac").duration == pytest.approx(600, abs=0.01)
    assert b - a < 60, (a, b)
