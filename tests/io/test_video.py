"""Video input and output: Y4M (8/10-bit, odd sizes), raw .yuv naming and size checks, PNG frame
folders, containers through PyAV (audio ignored), the writers' round trips, the colour policy's
exact values, streaming memory, and the shared data set's clips."""

from __future__ import annotations

import logging
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from neurocodec.data import data_path, data_root
from neurocodec.errors import InputError
from neurocodec.io import video
from neurocodec.io.files import OutputExistsError
from neurocodec.io.formats import VIDEO_OUTPUT_SUFFIXES, VIDEO_SUFFIXES


def smooth(h: int, w: int, t: float = 0.0) -> np.ndarray:
    """uint8 RGB [h, w, 3] that changes by at most about 1.5 levels a pixel."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(xx / 70 + t)
    g = 128 + 90 * np.cos(yy / 60 + xx / 90 + t)
    b = 128 + 80 * np.sin((xx + yy) / 80 - t)
    return np.clip(np.stack([r, g, b], -1).round(), 0, 255).astype(np.uint8)


def write_y4m(path: Path, planes: list[tuple[np.ndarray, ...]], w: int, h: int, tags: str = "C420jpeg",
              fps: str = "25:1") -> Path:
    """A Y4M file written by hand (uint16 planes are stored little-endian)."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps} Ip A1:1 {tags}\n".encode())
        for frame in planes:
            f.write(b"FRAME\n")
            for p in frame:
                f.write(p.astype("<u2" if p.dtype == np.uint16 else np.uint8).tobytes())
    return path


def write_raw(path: Path, w: int, h: int, n: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    cw, ch = (w + 1) // 2, (h + 1) // 2
    frames = [(rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(0, 256, (ch, cw), dtype=np.uint8),
               rng.integers(0, 256, (ch, cw), dtype=np.uint8)) for _ in range(n)]
    path.write_bytes(b"".join(p.tobytes() for f in frames for p in f))
    return frames


def need(*parts: str) -> Path:
    p = data_path("video", *parts)
    if p is None:
        pytest.skip(f"video/{'/'.join(parts)} not found under {data_root() or 'the data folder'} (set NEUROCODEC_DATA)")
    return p


# --------------------------------------------------------------------------- colour


def test_suffix_sets() -> None:
    assert {".y4m", ".yuv", ".mp4", ".mkv", ".webm", ".mov", ".avi"} <= VIDEO_SUFFIXES
    assert VIDEO_OUTPUT_SUFFIXES == {".y4m", ".mkv"}


@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
def test_limited_and_full_range_extremes_are_exact(matrix: str) -> None:
    c = np.full((1, 1), 128, np.uint8)
    for rng_, (black, white) in {"limited": (16, 235), "full": (0, 255)}.items():
        y = np.array([[black, white]], np.uint8)
        rgb = video.yuv420_to_rgb(y, c, c, matrix, rng_)
        np.testing.assert_array_equal(rgb, [[[0, 0, 0], [255, 255, 255]]])
    # out-of-range luma clips
    np.testing.assert_array_equal(video.yuv420_to_rgb(np.array([[0, 255]], np.uint8), c, c, matrix, "limited"),
                                  [[[0, 0, 0], [255, 255, 255]]])


def test_primaries_match_the_standards_tables() -> None:
    red, blue = np.array([[[255, 0, 0]]], np.uint8), np.array([[[0, 0, 255]]], np.uint8)
    assert [int(p[0, 0]) for p in video.rgb_to_yuv420(red, "bt709", "limited")] == [63, 102, 240]
    assert [int(p[0, 0]) for p in video.rgb_to_yuv420(red, "bt601", "limited")] == [81, 90, 240]
    assert [int(p[0, 0]) for p in video.rgb_to_yuv420(blue, "bt709", "limited")] == [32, 240, 118]
    assert [int(p[0, 0]) for p in video.rgb_to_yuv420(blue, "bt601", "full")] == [29, 255, 107]


def test_chroma_is_the_2x2_mean_and_upsampled_by_repetition() -> None:
    rgb = np.zeros((3, 3, 3), np.uint8)
    rgb[:, :, 2] = [[0, 255, 0], [255, 0, 255], [0, 0, 0]]  # blue only
    y, u, v = video.rgb_to_yuv420(rgb, "bt709", "full")
    assert y.shape == (3, 3) and u.shape == v.shape == (2, 2)
    cb = lambda frac: 128 + 255 * frac * 0.5  # noqa: E731 - Cb of a blue share `frac`, full range
    assert u[0, 0] == round(cb(2 / 4)) and u[0, 1] == round(cb(2 / 4))  # edge column replicated
    assert u[1, 0] == round(cb(0)) and u[1, 1] == round(cb(0))
    out = video.yuv420_to_rgb(y, u, v, "bt709", "full")
    assert out.shape == (3, 3, 3)
    # nearest-neighbour: the chroma of a block is used by all four of its pixels
    flat = video.yuv420_to_rgb(np.full((2, 2), 100, np.uint8), np.array([[200]], np.uint8),
                               np.array([[60]], np.uint8), "bt601", "limited")
    assert (flat == flat[0, 0]).all()


@pytest.mark.parametrize("size", [(48, 64), (17, 33)])
@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
@pytest.mark.parametrize("rng_", ["limited", "full"])
def test_rgb_yuv_rgb_round_trip_on_smooth_content(size: tuple[int, int], matrix: str, rng_: str) -> None:
    x = smooth(*size)
    y, u, v = video.rgb_to_yuv420(x, matrix, rng_)
    assert u.shape == ((size[0] + 1) // 2, (size[1] + 1) // 2)
    err = np.abs(video.yuv420_to_rgb(y, u, v, matrix, rng_).astype(int) - x)
    assert err.max() <= 4 and err.mean() < 1.0


def test_bad_colour_arguments() -> None:
    with pytest.raises(InputError, match="matrix"):
        video.rgb_to_yuv420(np.zeros((2, 2, 3), np.uint8), "bt2020", "limited")
    with pytest.raises(InputError, match="range"):
        video.rgb_to_yuv420(np.zeros((2, 2, 3), np.uint8), "bt709", "tv")
    with pytest.raises(InputError, match="uint8"):
        video.rgb_to_yuv420(np.zeros((2, 2, 3), np.float32), "bt709", "full")
    with pytest.raises(InputError, match="chroma"):
        video.yuv420_to_rgb(np.zeros((4, 4), np.uint8), np.zeros((1, 2), np.uint8), np.zeros((2, 2), np.uint8),
                            "bt709", "full")


# --------------------------------------------------------------------------- Y4M


@pytest.mark.parametrize("w,h", [(64, 48), (33, 17), (1, 1)])
def test_y4m_writer_reader_round_trip_8bit(tmp_path: Path, w: int, h: int) -> None:
    frames = [smooth(h, w, t) for t in (0.0, 0.7, 1.4)]
    out = tmp_path / "clip.y4m"
    with video.VideoWriter(out, w, h, Fraction(30000, 1001)) as wr:
        for f in frames:
            wr.write(f)
    info = video.probe(out)
    assert (info.width, info.height, info.frames, info.fps) == (w, h, 3, Fraction(30000, 1001))
    assert (info.source, info.pix_fmt, info.bit_depth, info.matrix, info.range) == ("y4m", "yuv420p", 8, "bt709", "limited")
    assert not info.color_assumed and not info.has_audio  # the writer states both
    got = list(video.read_yuv420(info))
    assert len(got) == 3
    for f, planes in zip(frames, got):
        for a, b in zip(planes, video.rgb_to_yuv420(f, "bt709", "limited")):
            np.testing.assert_array_equal(a, b)
    for f, rgb in zip(frames, video.read_rgb(out)):
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
        assert np.abs(rgb.astype(int) - f).max() <= 4
    # FFmpeg reads the same planes from our file
    with av.open(str(out)) as c:
        fr = next(c.decode(video=0))
        assert (fr.width, fr.height, fr.format.name) == (w, h, "yuv420p")
        y = np.frombuffer(fr.planes[0], np.uint8).reshape(h, -1)[:, :w]
        np.testing.assert_array_equal(y, got[0][0])


def test_y4m_policy_colour_is_written_and_read_back(tmp_path: Path) -> None:
    frame = smooth(16, 16)
    out = tmp_path / "c.y4m"
    with video.VideoWriter(out, 16, 16, Fraction(25), policy={"matrix": "bt601", "range": "full"}) as wr:
        wr.write(frame)
    head = out.read_bytes().split(b"\n")[0]
    assert b"XCOLORRANGE=FULL" in head and b"XCOLORMATRIX=BT601" in head and b"C420jpeg" in head
    info = video.probe(out)
    assert (info.matrix, info.range, info.color_assumed, info.frames) == ("bt601", "full", False, 1)
    y, _, _ = next(video.read_yuv420(out))
    np.testing.assert_array_equal(y, video.rgb_to_yuv420(frame, "bt601", "full")[0])
    # an RGB source's policy carries the conversion
    with video.VideoWriter(tmp_path / "d.y4m", 16, 16, Fraction(25),
                           policy={"matrix": "rgb", "range": "full", "yuv_matrix": "bt601", "yuv_range": "limited"}) as wr:
        wr.write(frame)
    assert video.probe(tmp_path / "d.y4m").policy()["matrix"] == "bt601"


def test_y4m_colour_tags_and_overrides(tmp_path: Path) -> None:
    y = np.array([[0, 255]], np.uint8)
    c = np.full((1, 1), 128, np.uint8)
    p = write_y4m(tmp_path / "full.y4m", [(y, c, c)], 2, 1, "C420jpeg XCOLORRANGE=FULL")
    info = video.probe(p)
    assert (info.range, info.matrix, info.color_assumed) == ("full", "bt709", True)  # matrix assumed
    np.testing.assert_array_equal(next(video.read_rgb(p))[0, :, 0], [0, 255])
    plain = write_y4m(tmp_path / "plain.y4m", [(y, c, c)], 2, 1)
    info = video.probe(plain)
    assert (info.range, info.matrix, info.color_assumed) == ("limited", "bt709", True)
    info = video.probe(plain, matrix="bt601", range="full")
    assert (info.range, info.matrix, info.color_assumed) == ("full", "bt601", False)
    np.testing.assert_array_equal(next(video.read_rgb(plain, range="full"))[0, :, 0], [0, 255])
    with pytest.raises(InputError, match="matrix"):
        video.probe(plain, matrix="bt2020")


def test_y4m_10bit_reduced_by_the_stated_rule(tmp_path: Path) -> None:
    w, h = 33, 17
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(2):
        frames.append(tuple(rng.integers(0, 1024, s, dtype=np.uint16) for s in [(h, w), (9, 17), (9, 17)]))
    frames[0][0][0, :6] = [0, 1, 2, 6, 1021, 1023]
    p = write_y4m(tmp_path / "ten.y4m", frames, w, h, "C420p10 XYSCSS=420P10")
    info = video.probe(p)
    assert (info.pix_fmt, info.bit_depth, info.frames, info.fps) == ("yuv420p10le", 10, 2, 25)
    pol = info.policy()
    assert pol["bit_depth"] == 10 and pol["reduce"] == "round_half_up_shift"
    assert pol["reduce_formula"] == "v8 = min(255, (v + 2) >> 2)"
    got = list(video.read_yuv420(p))
    assert len(got) == 2
    for src, planes in zip(frames, got):
        for a, b in zip(src, planes):
            np.testing.assert_array_equal(b, np.minimum(255, (a.astype(np.int64) + 2) >> 2))
    assert got[0][0][0, :6].tolist() == [0, 0, 1, 2, 255, 255]
    # limited-range 10-bit black and white (64, 940) are 8-bit 16 and 235: RGB 0 and 255
    grey = (np.array([[64, 940]], np.uint16), np.full((1, 1), 512, np.uint16), np.full((1, 1), 512, np.uint16))
    p2 = write_y4m(tmp_path / "grey10.y4m", [grey], 2, 1, "C420p10")
    np.testing.assert_array_equal(next(video.read_rgb(p2))[0], [[0, 0, 0], [255, 255, 255]])


def test_y4m_444_and_mono(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(16, 236, (5, 7), dtype=np.uint8)
    u = rng.integers(16, 241, (5, 7), dtype=np.uint8)
    v = rng.integers(16, 241, (5, 7), dtype=np.uint8)
    p = write_y4m(tmp_path / "f444.y4m", [(y, u, v)], 7, 5, "C444")
    assert video.probe(p).pix_fmt == "yuv444p"
    y2, u2, v2 = next(video.read_yuv420(p))
    np.testing.assert_array_equal(y2, y)
    padded = np.pad(u.astype(int), ((0, 1), (0, 1)), mode="edge")
    mean = (padded[0::2, 0::2] + padded[1::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 1::2] + 2) // 4
    np.testing.assert_array_equal(u2, mean)
    rgb = next(video.read_rgb(p))  # at full chroma resolution
    np.testing.assert_array_equal(rgb, video._yuv_to_rgb_full(y, u, v, "bt709", "limited"))
    pm = write_y4m(tmp_path / "mono.y4m", [(y,)], 7, 5, "Cmono")
    ym, um, vm = next(video.read_yuv420(pm))
    np.testing.assert_array_equal(ym, y)
    assert um.shape == (3, 4) and (um == 128).all() and (vm == 128).all()
    g = next(video.read_rgb(pm))
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()


@pytest.mark.parametrize("header,match", [
    (b"YUV4MPEG2 W8 H8 F25:1 It C420jpeg\n", "interlaced"),
    (b"YUV4MPEG2 W8 H8 F25:1 Ip C411\n", "not supported"),
    (b"YUV4MPEG2 W8 F25:1\n", "width and height"),
    (b"YUV4MPEG2 W40000 H40000 F25:1\n", "too large"),
    (b"YUV4MPEG2 Wx H8\n", "malformed"),
    (b"RIFF\x00\x00\x00\x00garbage", "not a Y4M"),
    (b"YUV4MPEG2 W8 H8 F25:1 C420jpeg", "no end of line"),
    (b"YUV4MPEG2 W8 H8 F-25:1\n", "not a rate"),
    (b"YUV4MPEG2 W8 H8 F25:0\n", "not a rate"),
])
def test_y4m_bad_headers(tmp_path: Path, header: bytes, match: str) -> None:
    p = tmp_path / "bad.y4m"
    p.write_bytes(header + (b"FRAME\n" + bytes(96) if header.endswith(b"\n") else b""))
    with pytest.raises(InputError, match=match):
        video.probe(p)


def test_y4m_zero_truncated_and_corrupt_frames(tmp_path: Path) -> None:
    head = b"YUV4MPEG2 W4 H4 F25:1 C420jpeg\n"
    (tmp_path / "zero.y4m").write_bytes(head)
    with pytest.raises(InputError, match="no frames"):
        video.probe(tmp_path / "zero.y4m")
    (tmp_path / "short.y4m").write_bytes(head + b"FRAME\n" + bytes(24) + b"FRAME\n" + bytes(10))
    with pytest.raises(InputError, match=r"frame 2 is truncated \(10 of 24 bytes\)"):
        video.probe(tmp_path / "short.y4m")
    (tmp_path / "junk.y4m").write_bytes(head + b"FRAME\n" + bytes(24) + b"JUNK!" + bytes(30))
    with pytest.raises(InputError, match="frame 2 does not start with a FRAME"):
        video.probe(tmp_path / "junk.y4m")
    (tmp_path / "empty.y4m").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        video.probe(tmp_path / "empty.y4m")
    with pytest.raises(InputError, match="no such file"):
        video.probe(tmp_path / "missing.y4m")
    # FRAME records may carry parameters
    (tmp_path / "params.y4m").write_bytes(head + b"FRAME Ixyz\n" + bytes(range(24)))
    assert next(video.read_yuv420(tmp_path / "params.y4m"))[0].ravel().tolist() == list(range(16))


# --------------------------------------------------------------------------- raw .yuv


@pytest.mark.parametrize("name,size,fps,bits", [
    ("a_416x240_50Hz_8bit_P420.yuv", (416, 240), Fraction(50), 8),
    ("foreman_qcif.yuv", (176, 144), Fraction(30), 8),
    ("foreman_cif_12fps.yuv", (352, 288), Fraction(12), 8),
    ("CiscoVT2people_320x192_12fps.yuv", (320, 192), Fraction(12), 8),
    ("bus_352x288_420_f20_b8.yuv", (352, 288), Fraction(30), 8),
    ("clip-64x48-29.97fps_10bit.yuv", (64, 48), Fraction("29.97"), 10),
    ("clip_64x48_yuv420p10le.yuv", (64, 48), Fraction(30), 10),
    ("clip_64x48_b10.yuv", (64, 48), Fraction(30), 10),
])
def test_raw_name_patterns(name: str, size: tuple[int, int], fps: Fraction, bits: int) -> None:
    got_size, got_fps, got_bits = video._raw_name(Path(name))
    assert got_size == size and (got_fps or video.RAW_FPS) == fps and got_bits == bits


def test_raw_yuv_read_checks_and_overrides(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "clip_33x17.yuv"
    frames = write_raw(p, 33, 17, 4)
    with caplog.at_level(logging.INFO, logger="neurocodec.io.video"):
        info = video.probe(p)
    assert "30 fps" in caplog.text
    assert (info.width, info.height, info.frames, info.fps, info.source) == (33, 17, 4, 30, "yuv")
    assert info.color_assumed and (info.matrix, info.range) == ("bt709", "limited")
    got = list(video.read_yuv420(p))
    assert len(got) == 4
    for a, b in zip(frames, got):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # options override the name: the same bytes seen as 33x17 frames through --size
    q = tmp_path / "noname.yuv"
    q.write_bytes(p.read_bytes())
    with pytest.raises(InputError, match=r"--size WxH"):
        video.probe(q)
    info = video.probe(q, size=(33, 17), fps=Fraction(24000, 1001))
    assert (info.frames, info.fps) == (4, Fraction(24000, 1001))
    with pytest.raises(InputError) as e:
        video.probe(p, size=(32, 16))
    msg = str(e.value)
    total = len(p.read_bytes())
    assert f"{total} bytes" in msg and "768 bytes each" in msg and f"{total % 768} bytes left over" in msg
    with pytest.raises(InputError, match="positive"):
        video.probe(p, fps=0)
    with pytest.raises(InputError, match="too large"):  # refused from the size alone
        video.probe(p, size=(40000, 40000))


def test_raw_10bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    planes = [rng.integers(0, 1024, s, dtype=np.uint16) for s in [(6, 8), (3, 4), (3, 4)]]
    p = tmp_path / "x_8x6_25fps_10bit.yuv"
    p.write_bytes(b"".join(q.astype("<u2").tobytes() for q in planes) * 3)
    info = video.probe(p)
    assert (info.bit_depth, info.pix_fmt, info.frames, info.fps) == (10, "yuv420p10le", 3, 25)
    y, u, v = next(video.read_yuv420(info))
    np.testing.assert_array_equal(v, np.minimum(255, (planes[2].astype(int) + 2) >> 2))


def test_reading_streams_one_frame_at_a_time(tmp_path: Path) -> None:
    p = tmp_path / "long_128x96.yuv"
    n_bytes = 128 * 96 * 3 // 2
    n = 400
    p.write_bytes(np.random.default_rng(0).integers(0, 256, n_bytes * 8, dtype=np.uint8).tobytes() * (n // 8))
    size = p.stat().st_size
    info = video.probe(p)
    assert info.frames == n
    gen = video.read_yuv420(info)
    tracemalloc.start()
    try:
        count = sum(1 for _ in gen)
        _, peak_yuv = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count_rgb = sum(1 for _ in video.read_rgb(info))
        _, peak_rgb = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == count_rgb == n
    assert peak_yuv < size / 50, (peak_yuv, size)  # a few frames' worth, never the clip
    assert peak_rgb < size / 3, (peak_rgb, size)


# --------------------------------------------------------------------------- PNG folders


def test_png_folder_natural_order_and_size_change(tmp_path: Path) -> None:
    d = tmp_path / "frames"
    d.mkdir()
    for i in (1, 2, 10, 3):
        Image.fromarray(np.full((6, 5, 3), i * 20, np.uint8)).save(d / f"f{i}.png")
    (d / "notes.txt").write_text("not a frame")
    info = video.probe(d)
    assert (info.source, info.frames, info.fps, info.width, info.height) == ("png", 4, 25, 5, 6)
    assert (info.matrix, info.range, info.pix_fmt, info.color_assumed) == ("rgb", "full", "rgb24", False)
    assert [int(f[0, 0, 0]) for f in video.read_rgb(d)] == [20, 40, 60, 200]
    assert video.probe(d, fps=12).fps == 12
    # read_yuv420 converts RGB with the options' matrix / range (default BT.709 limited)
    y, _, _ = next(video.read_yuv420(d, matrix="bt601", range="full"))
    assert (y == 20).all()
    y, _, _ = next(video.read_yuv420(d))
    assert (y == round(16 + 219 * 20 / 255)).all()
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(d / "f11.png")
    with pytest.raises(InputError, match=r"f11\.png: mid-stream size change: 6x6, the first frame is 5x6"):
        video.probe(d)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="without PNG frames"):
        video.probe(empty)


def test_png_folder_writer_and_existing_output(tmp_path: Path) -> None:
    frames = [smooth(9, 11, t) for t in range(3)]
    out = tmp_path / "decoded"
    with video.VideoWriter(out, 11, 9, Fraction(25)) as wr:
        for f in frames:
            wr.write(f)
    assert sorted(q.name for q in out.iterdir()) == ["f00001.png", "f00002.png", "f00003.png"]
    assert [np.array_equal(a, b) for a, b in zip(video.read_rgb(out), frames)] == [True] * 3
    with pytest.raises(OutputExistsError):
        video.VideoWriter(out, 11, 9, Fraction(25))
    with video.VideoWriter(out, 11, 9, Fraction(25), force=True) as wr:  # fewer frames: no stale ones left
        wr.write(frames[2])
    assert sorted(q.name for q in out.iterdir()) == ["f00001.png"]
    # an existing empty folder takes the frames
    empty = tmp_path / "existing"
    empty.mkdir()
    with video.VideoWriter(empty, 11, 9, Fraction(25)) as wr:
        wr.write(frames[0])
    assert video.probe(empty).frames == 1
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".nc-")]


# --------------------------------------------------------------------------- containers and writers


def _mp4_with_audio(path: Path, w: int = 64, h: int = 48, n: int = 10) -> list[np.ndarray]:
    frames = [smooth(h, w, t / 3) for t in range(n)]
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"qp": "10", "preset": "ultrafast", "threads": "1"}
        aus = c.add_stream("aac", rate=16000, layout="mono")
        for i, f in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(f, format="rgb24")
            fr.pts = i
            for pkt in vs.encode(fr):
                c.mux(pkt)
        t = np.arange(16000 * n // 25) / 16000
        af = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp",
                                        layout="mono")
        af.sample_rate, af.pts = 16000, 0
        for pkt in aus.encode(af):
            c.mux(pkt)
        for s in (vs, aus):
            for pkt in s.encode(None):
                c.mux(pkt)
    return frames


def test_mp4_with_audio_is_read_with_the_audio_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "av.mp4"
    frames = _mp4_with_audio(p)
    with caplog.at_level(logging.INFO, logger="neurocodec.io.video"):
        info = video.probe(p)
    assert "audio stream is ignored" in caplog.text
    assert (info.source, info.width, info.height, info.frames, info.fps) == ("container", 64, 48, 10, 25)
    assert info.has_audio and info.pix_fmt == "yuv420p" and info.bit_depth == 8
    got = list(video.read_rgb(info))
    assert len(got) == 10
    # PyAV's rgb24 -> yuv420p conversion is BT.601; x264 at QP 10 is near lossless
    got601 = list(video.read_rgb(p, matrix="bt601"))
    err = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(got601, frames)])
    assert err < 3.0
    assert len(list(video.read_yuv420(p))) == 10


def test_mkv_ffv1_writer_is_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (17, 33, 3), dtype=np.uint8) for _ in range(4)]
    out = tmp_path / "lossless.mkv"
    with video.VideoWriter(out, 33, 17, Fraction(25)) as wr:
        for f in frames:
            wr.write(f)
    info = video.probe(out)
    assert (info.source, info.matrix, info.frames, info.fps, info.width, info.height) == ("container", "rgb", 4, 25, 33, 17)
    got = list(video.read_rgb(info))
    assert len(got) == 4 and all(np.array_equal(a, b) for a, b in zip(got, frames))
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"


def test_writers_refuse_existing_and_leave_nothing_on_failure(tmp_path: Path) -> None:
    for name in ("a.y4m", "a.mkv"):
        out = tmp_path / name
        out.write_bytes(b"keep")
        with pytest.raises(OutputExistsError, match="force"):
            video.VideoWriter(out, 8, 8, Fraction(25))
        assert out.read_bytes() == b"keep"
        with video.VideoWriter(out, 8, 8, Fraction(25), force=True) as wr:
            wr.write(np.zeros((8, 8, 3), np.uint8))
        assert video.probe(out).frames == 1
        fresh = tmp_path / ("new" + name)
        with pytest.raises(InputError, match="expected uint8 RGB"):
            with video.VideoWriter(fresh, 8, 8, Fraction(25)) as wr:
                wr.write(np.zeros((8, 8, 3), np.uint8))
                wr.write(np.zeros((8, 9, 3), np.uint8))
        assert not fresh.exists()
        with pytest.raises(InputError, match="no frames"):
            with video.VideoWriter(fresh, 8, 8, Fraction(25)):
                pass
        assert not fresh.exists()
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".nc-")]
    with pytest.raises(InputError, match="cannot write video"):
        video.VideoWriter(tmp_path / "x.mp4", 8, 8, Fraction(25))
    with pytest.raises(InputError, match="too large"):
        video.VideoWriter(tmp_path / "x.y4m", 40000, 8, Fraction(25))


def test_container_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(5).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError):
        video.probe(junk)
    audio_only = tmp_path / "a.mkv"
    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("flac", rate=16000, layout="mono")
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16", layout="mono")
        f.sample_rate, f.pts = 16000, 0
        for pkt in list(s.encode(f)) + list(s.encode(None)):
            c.mux(pkt)
    with pytest.raises(InputError, match="no video stream"):
        video.probe(audio_only)


def _h264(w: int, h: int, n: int) -> bytes:
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = w, h, "yuv420p", Fraction(1, 25)
    ctx.options = {"preset": "ultrafast", "threads": "1"}
    out = b""
    for i in range(n):
        fr = av.VideoFrame.from_ndarray(smooth(h, w, i), format="rgb24").reformat(format="yuv420p")
        fr.pts = i
        out += b"".join(bytes(p) for p in ctx.encode(fr))
    return out + b"".join(bytes(p) for p in ctx.encode(None))


def test_container_mid_stream_size_change_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "two_sizes.h264"
    p.write_bytes(_h264(32, 32, 2) + _h264(48, 32, 2))
    with pytest.raises(InputError, match="mid-stream size change: 48x32, the first frame is 32x32"):
        video.probe(p)
    ok = tmp_path / "one.h264"
    ok.write_bytes(_h264(32, 32, 3))
    assert video.probe(ok).frames == 3


# --------------------------------------------------------------------------- the data set's clips


def test_foreman_qcif() -> None:
    info = video.probe(need("xiph_derf", "foreman_qcif.yuv"))
    assert (info.width, info.height, info.frames, info.source) == (176, 144, 10, "yuv")
    frames = list(video.read_rgb(info))
    assert len(frames) == 10 and frames[0].shape == (144, 176, 3)
    assert 60 < frames[0].mean() < 200  # real content, not a misread size


def test_park_joy_10bit() -> None:
    info = video.probe(need("libvpx_testdata", "park_joy_90p_10_420_20f.y4m"))
    assert (info.width, info.height, info.frames, info.fps, info.bit_depth) == (160, 90, 20, 50, 10)
    assert info.policy()["reduce_formula"] == "v8 = min(255, (v + 2) >> 2)"
    frames = list(video.read_yuv420(info))
    assert len(frames) == 20 and frames[0][1].shape == (45, 80)
    eight = data_path("video", "libvpx_testdata", "park_joy_90p_8_420.y4m")
    if eight is not None:  # the 8-bit copy of the same content agrees closely
        y8 = next(video.read_yuv420(eight))[0].astype(float)
        mse = ((y8 - frames[0][0]) ** 2).mean()
        assert mse < 2.0


def test_big_buck_bunny_mp4() -> None:
    info = video.probe(need("mp4", "big_buck_bunny_small.mp4"))
    assert (info.width, info.height, info.frames, info.fps) == (320, 240, 132, 25)
    assert info.has_audio and info.color_assumed and info.matrix == "bt709"
    assert sum(1 for _ in video.read_yuv420(info)) == 132


def test_basketball_pass_png_folder() -> None:
    info = video.probe(need("hevc_ctc", "BasketballPass_416x240_first100_png"))
    assert (info.source, info.width, info.height, info.frames) == ("png", 416, 240, 100)
    gen = video.read_yuv420(info, matrix="bt601")
    first = [next(gen) for _ in range(2)]
    gen.close()
    assert first[0][0].shape == (240, 416) and first[0][1].shape == (120, 208)
    raw = data_path("video", "hevc_ctc", "yuv420p", "BasketballPass_2frames_416x240_50Hz_8bit_P420.yuv")
    if raw is not None:  # the frames were made from the YUV with BT.601 (46.7 dB luma per SOURCES.md)
        y = next(video.read_yuv420(raw))[0].astype(float)
        psnr = 10 * np.log10(255**2 / ((y - first[0][0]) ** 2).mean())
        assert psnr > 45


def test_cisco_and_bus_raw() -> None:
    info = video.probe(need("openh264_res", "CiscoVT2people_320x192_12fps.yuv"))
    assert (info.width, info.height, info.frames, info.fps) == (320, 192, 9, 12)
    assert sum(1 for _ in video.read_rgb(info)) == 9
    info = video.probe(need("xiph_derf", "bus_352x288_420_f20_b8.yuv"))
    assert (info.width, info.height, info.frames, info.bit_depth) == (352, 288, 17, 8)
    assert sum(1 for _ in video.read_yuv420(info)) == 17

