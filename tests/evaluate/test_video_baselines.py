"""Classical video adapters (x264, x265 through PyAV): GOP structure (I at multiples of the intra
period, P elsewhere, no B, IDR NAL units), frame sizes adding up to the stream, decoding back the
same number of frames with PSNR rising as QP falls, quality checks and repeatable bytes."""

from __future__ import annotations

import io
import itertools
from fractions import Fraction

import av
import numpy as np
import pytest

from neurocodec.data import data_path, data_root
from neurocodec.errors import InputError
from neurocodec.evaluate.baselines.video import (
    CLASSICAL_VIDEO_CODECS,
    EncodedVideo,
    _nal_units,
    classical_video_codec,
)
from neurocodec.io.video import read_yuv420, rgb_to_yuv420

W, H, N = 64, 48, 10


def clip(n: int = N, h: int = H, w: int = W) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A moving smooth pattern with a little noise, as uint8 BT.709 limited-range yuv420p planes."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for t in range(n):
        r = 128 + 100 * np.sin((xx + 2 * t) / 9) + rng.normal(0, 3, (h, w))
        g = 128 + 90 * np.cos((yy - t) / 7 + xx / 11)
        b = 128 + 60 * np.sin((xx + yy + 3 * t) / 13)
        rgb = np.clip(np.stack([r, g, b], -1).round(), 0, 255).astype(np.uint8)
        out.append(rgb_to_yuv420(rgb, "bt709", "limited"))
    return out


def psnr_y(a: list, b: list) -> float:
    mse = np.mean([((x[0].astype(np.float64) - y[0]) ** 2).mean() for x, y in zip(a, b)])
    return float(10 * np.log10(255.0**2 / mse))


def nal_types(unit_stream: bytes, hevc: bool) -> set[int]:
    types = set()
    for u in _nal_units(unit_stream):
        k = u.find(b"\x00\x00\x01") + 3
        types.add((u[k] >> 1) & 0x3F if hevc else u[k] & 0x1F)
    return types


def decoded_pict_types(codec, data: bytes) -> list[str]:  # noqa: ANN001
    with av.open(io.BytesIO(data), format=codec.demuxer) as c:
        return [av.video.frame.PictureType(int(fr.pict_type)).name for fr in c.decode(video=0)]


@pytest.fixture(scope="module")
def frames() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return clip()


@pytest.mark.parametrize("name", CLASSICAL_VIDEO_CODECS)
def test_gop_structure_sizes_and_round_trip(name: str, frames: list) -> None:
    gop = 4
    codec = classical_video_codec(name, gop=gop)
    period = 1 if name == "x264-intra" else gop
    assert codec.intra_period == period and codec.settings["bframes"] == 0
    enc = codec.encode_video(iter(frames), W, H, Fraction(25), 32)  # a one-shot iterator: streamed input
    assert isinstance(enc, EncodedVideo)
    expected = ["I" if i % period == 0 else "P" for i in range(N)]
    assert enc.frame_types == expected
    assert decoded_pict_types(codec, enc.data) == expected  # what the decoder sees, no B frames
    assert len(enc.frame_bytes) == N and all(b > 0 for b in enc.frame_bytes)
    assert sum(enc.frame_bytes) <= len(enc.data)
    # every I frame is an IDR (closed GOP): H.264 NAL type 5, HEVC 19/20; P frames hold none
    hevc = codec.encoder == "libx265"
    idr = {19, 20} if hevc else {5}
    offsets = list(itertools.accumulate([0] + enc.frame_bytes))
    for i, t in enumerate(enc.frame_types):
        kinds = nal_types(enc.data[offsets[i] : offsets[i + 1]], hevc)
        assert bool(kinds & idr) == (t == "I"), (i, kinds)
    assert b"x264 - core" not in enc.data  # the informational SEI is left out
    dec = list(codec.decode_video(enc.data))
    assert len(dec) == N
    assert dec[0][0].shape == (H, W) and dec[0][1].shape == (H // 2, W // 2) and dec[0][0].dtype == np.uint8
    assert psnr_y(frames, dec) > 30


@pytest.mark.parametrize("name", ["x264-medium", "x265-medium", "x264-intra"])
def test_psnr_rises_as_qp_falls_and_bytes_repeat(name: str, frames: list) -> None:
    codec = classical_video_codec(name, gop=8)
    results = []
    for qp in (42, 32, 22):
        enc = codec.encode_video(frames, W, H, Fraction(30), qp)
        dec = list(codec.decode_video(enc.data))
        assert len(dec) == N
        results.append((len(enc.data), psnr_y(frames, dec)))
    sizes, psnrs = zip(*results)
    assert list(sizes) == sorted(sizes) and len(set(sizes)) == 3
    assert list(psnrs) == sorted(psnrs) and psnrs[2] - psnrs[0] > 5
    a = codec.encode_video(frames, W, H, Fraction(30), 32)
    b = codec.encode_video(frames, W, H, Fraction(30), 32)
    assert a.data == b.data and a.frame_bytes == b.frame_bytes


def test_adapter_metadata() -> None:
    for name in CLASSICAL_VIDEO_CODECS:
        codec = classical_video_codec(name)
        assert codec.name == name and codec.quality_range == (22, 47)
        assert codec.qualities == [22, 27, 32, 37, 42, 47]
        assert "QP" in codec.quality_meaning and codec.label
        assert codec.settings["params"].startswith("keyint=")
        v = codec.versions
        assert v["pyav"] == av.__version__ and (v.get("x264") or v.get("x265"))
    assert classical_video_codec("x264-medium").intra_period == 32
    assert "veryslow" == classical_video_codec("x264-veryslow").preset


def test_bad_arguments_are_refused(frames: list) -> None:
    codec = classical_video_codec("x264-medium", gop=4)
    for q in (21, 48, 32.0, "32", None):
        with pytest.raises(InputError, match=r"x264-medium: quality must be an integer in \[22, 47\]"):
            codec.encode_video(frames, W, H, Fraction(25), q)
    with pytest.raises(KeyError):
        classical_video_codec("mpeg2")
    for gop in (0, -3, 2.5, True):
        with pytest.raises(InputError, match="intra period"):
            classical_video_codec("x265-medium", gop=gop)
    with pytest.raises(InputError, match="even sides"):
        codec.encode_video([], 33, 17, Fraction(25), 32)
    with pytest.raises(InputError, match="no frames"):
        codec.encode_video([], W, H, Fraction(25), 32)
    with pytest.raises(InputError, match="plane U must be uint8"):
        codec.encode_video([(frames[0][0], frames[0][1][:, :-1], frames[0][2])], W, H, Fraction(25), 32)
    with pytest.raises(InputError, match="plane Y must be uint8"):
        codec.encode_video([(frames[0][0].astype(np.float32),) + frames[0][1:]], W, H, Fraction(25), 32)
    with pytest.raises(InputError, match="cannot decode|no video"):
        list(codec.decode_video(b"\x00\x01garbage" * 10))


def test_basketball_pass_first_frames() -> None:
    folder = data_path("video", "hevc_ctc", "BasketballPass_416x240_first100_png")
    if folder is None:
        pytest.skip(f"video/hevc_ctc/BasketballPass_416x240_first100_png not found under {data_root() or 'the data folder'} "
                    "(set NEUROCODEC_DATA)")
    frames = list(itertools.islice(read_yuv420(folder), 8))
    for name in ("x264-medium", "x265-medium"):
        codec = classical_video_codec(name, gop=4)
        enc = codec.encode_video(frames, 416, 240, Fraction(50), 32)
        assert enc.frame_types == ["I", "P", "P", "P"] * 2
        assert sum(enc.frame_bytes) <= len(enc.data)
        assert max(enc.frame_bytes[1:4]) < enc.frame_bytes[0]  # P frames cost less than the I frame
        dec = list(codec.decode_video(enc.data))
        assert len(dec) == 8 and dec[0][0].shape == (240, 416)
        assert 30 < psnr_y(frames, dec) < 45
