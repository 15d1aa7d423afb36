"""Classical video codecs through PyAV (libx264, libx265) as adapters with the neural codecs' shape.

Each adapter has ``name``, ``qualities`` (the default sweep: QPs), ``quality_range``,
``quality_meaning``, ``label``, ``size_note``, ``settings`` and ``versions`` that the runner
records, and

- ``encode_video(frames, width, height, fps, quality) -> EncodedVideo``: `frames` an iterable of
  uint8 yuv420p planes (Y [H, W], U, V [H/2, W/2]), consumed one at a time;
- ``decode_video(data) -> Iterator[(Y, U, V)]``: the decoded planes, one frame at a time, in
  display order.

The codecs:

- ``x264-medium`` / ``x264-veryslow``: H.264 (libx264), preset medium / veryslow, IPPP.
- ``x265-medium``: HEVC (libx265), preset medium, IPPP.
- ``x264-intra``: H.264 (libx264), preset medium, every frame an IDR (I) frame.

Common settings: constant QP (`quality` is the QP given to the encoder, 22..47; in constant-QP
mode both encoders code I frames about 3 lower than P frames, their default ipratio 1.4), no
B-frames, closed GOPs with an IDR frame every `gop` frames exactly (keyint = min-keyint = gop,
scene-cut detection off), one thread (the same input gives the same bytes), 8-bit 4:2:0 of even
width and height (the encoders' 4:2:0 needs whole chroma samples).

``EncodedVideo.data`` is the raw Annex B elementary stream (parameter sets in band, no container),
exactly what is counted for the rate. The encoders' informational SEI (x264's version and options
string, about 600 bytes; x265 ``info=0``) is left out: decoders ignore it.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from neurocodec.errors import InputError, NeurocodecError
from neurocodec.evaluate.baselines.libs import bundled_lib_version, check_quality, pyav_versions
from neurocodec.io.images import check_image_size

log = logging.getLogger(__name__)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
QP_RANGE = (22, 47)
QP_SWEEP = [22, 27, 32, 37, 42, 47]
DEFAULT_GOP = 32
_QP_MEANING = ("constant QP of the P frames (lower = better; I frames are coded about 3 lower by the encoders' "
               "default ipratio 1.4)")
_SIZE_NOTE = ("raw Annex B elementary stream: parameter sets and slices, no container; the encoder's "
              "informational SEI (version and options) left out")


@dataclass
class EncodedVideo:
    """A coded clip: `data` the whole elementary stream (what is counted for the rate);
    `frame_bytes` the bytes of each coded frame and `frame_types` "I" / "P", in display order."""

    data: bytes
    frame_bytes: list[int]
    frame_types: list[str]


def check_planes(planes: Any, width: int, height: int, index: int) -> Planes:
    """One frame's planes as C-contiguous uint8 Y [H, W], U, V [H/2, W/2], or InputError."""
    try:
        y, u, v = (np.asarray(p) for p in planes)
    except (TypeError, ValueError):
        raise InputError(f"frame {index + 1}: expected (Y, U, V) planes") from None
    cw, ch = (width + 1) // 2, (height + 1) // 2
    shapes = [(height, width), (ch, cw), (ch, cw)]
    for name, p, s in zip("YUV", (y, u, v), shapes):
        if p.dtype != np.uint8 or p.shape != s:
            raise InputError(f"frame {index + 1}: plane {name} must be uint8 {list(s)} for {width}x{height} 4:2:0, "
                             f"got {p.dtype} {list(p.shape)}")
    return np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v)


def _frame(planes: Planes, width: int, height: int) -> Any:
    import av

    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, a in zip(frame.planes, planes):
        buf = np.zeros((a.shape[0], plane.line_size), np.uint8)
        buf[:, : a.shape[1]] = a
        plane.update(buf.tobytes())
    return frame


def _plane(plane: Any) -> np.ndarray:
    a = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return a[:, : plane.width].copy()


def _nal_units(data: bytes) -> list[bytes]:
    """An Annex B stream split into NAL units (each with its start code)."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)]
    begins = [s - 1 if s > 0 and data[s - 1] == 0 else s for s in starts]
    if not begins or begins[0] != 0:
        begins.insert(0, 0)
    return [data[b:e] for b, e in zip(begins, begins[1:] + [len(data)]) if e > b]


def _drop_x264_sei(data: bytes) -> bytes:
    """Leave out the SEI NAL unit in which x264 writes its version and options."""
    def is_info(u: bytes) -> bool:
        k = u.find(b"\x00\x00\x01")
        return k >= 0 and len(u) > k + 3 and u[k + 3] & 0x1F == 6 and b"x264 - core" in u

    return b"".join(u for u in _nal_units(data) if not is_info(u))


@functools.lru_cache(maxsize=1)
def x264_version() -> str | None:
    """libx264's version as its SEI states it (e.g. "core 165 r3222 b35605a"), or None: x264 has
    no version function; this encodes one small frame."""
    import av

    try:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 16, 16, "yuv420p", Fraction(1, 25)
        ctx.options = {"preset": "ultrafast", "threads": "1"}
        f = _frame((np.zeros((16, 16), np.uint8), np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)), 16, 16)
        f.pts = 0
        data = b"".join(bytes(p) for p in list(ctx.encode(f)) + list(ctx.encode(None)))
    except (av.error.FFmpegError, ValueError):
        return None
    m = re.search(rb"x264 - (core \d+(?: r\d+ [0-9a-f]+)?)", data)
    return m.group(1).decode() if m else None


@dataclass
class ClassicalVideoCodec:
    """A PyAV (FFmpeg) video encoder writing a raw elementary stream, and its decoder.

    `encoder` / `demuxer` are FFmpeg names; `params` the encoder's own parameters
    (``x264-params`` / ``x265-params``) without the QP; `intra_period` the distance of I frames."""

    name: str
    label: str
    encoder: str
    demuxer: str
    preset: str
    intra_period: int
    params: str
    qualities: list[int] = field(default_factory=lambda: list(QP_SWEEP))
    quality_range: tuple[int, int] = QP_RANGE
    quality_meaning: str = _QP_MEANING
    size_note: str = _SIZE_NOTE
    video_input: ClassVar[str] = "yuv420"  # what encode_video takes (the runner feeds read_yuv420)

    @property
    def settings(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "preset": self.preset, "rate_control": "constant QP",
                "intra_period": self.intra_period, "bframes": 0, "closed_gop": True, "pix_fmt": "yuv420p",
                "params": self.params, "threads": 1, "stream": "Annex B elementary stream"}

    @property
    def versions(self) -> dict[str, Any]:
        v = pyav_versions()
        if self.encoder == "libx264":
            v["x264"] = x264_version()
        else:
            v["x265"] = bundled_lib_version("libx265", "x265_version_str", call=False)
        return v

    def _options(self, qp: int) -> dict[str, str]:
        key = "x264-params" if self.encoder == "libx264" else "x265-params"
        return {"preset": self.preset, key: f"qp={qp}:{self.params}", "threads": "1", "flags": "+bitexact"}

    def encode_video(self, frames: Iterable[Planes], width: int, height: int, fps: Fraction,
                     quality: int) -> EncodedVideo:
        """uint8 yuv420p planes of `width` x `height` frames at `fps` -> the coded stream, at QP
        `quality`. The frames are read one at a time."""
        import av

        qp = check_quality(self, quality)
        check_image_size(width, height, self.name)
        if width % 2 or height % 2 or width < 8 or height < 8:
            raise InputError(f"{self.name}: frames must have even sides of at least 8 pixels for 4:2:0, "
                             f"got {width}x{height} (crop or pad first)")
        rate = Fraction(fps)
        if rate <= 0:
            raise InputError(f"{self.name}: frame rate must be positive, got {fps}")
        packets: list[bytes] = []
        types: list[str] = []

        def take(pkts: list[Any]) -> None:
            for p in pkts:
                packets.append(bytes(p))
                types.append("I" if p.is_keyframe else "P")

        n = 0
        try:
            ctx = av.CodecContext.create(self.encoder, "w")
            ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
            ctx.time_base, ctx.framerate = 1 / rate, rate
            ctx.thread_count = 1
            ctx.options = self._options(qp)
            for planes in frames:
                f = _frame(check_planes(planes, width, height, n), width, height)
                f.pts = n
                n += 1
                take(list(ctx.encode(f)))
            if n == 0:
                raise InputError(f"{self.name}: no frames to encode")
            take(list(ctx.encode(None)))
        except av.error.FFmpegError as e:
            raise NeurocodecError(f"{self.name}: {self.encoder} failed at QP {qp}: {e}") from None
        if len(packets) != n:
            raise NeurocodecError(f"{self.name}: {self.encoder} gave {len(packets)} packets for {n} frames")
        if self.encoder == "libx264":
            packets[0] = _drop_x264_sei(packets[0])
        return EncodedVideo(b"".join(packets), [len(p) for p in packets], types)

    def decode_video(self, data: bytes) -> Iterator[Planes]:
        """The elementary stream -> uint8 yuv420p planes (Y, U, V), one frame at a time, in
        display order."""
        import av

        try:
            with av.open(io.BytesIO(data), "r", format=self.demuxer) as c:
                if not c.streams.video:
                    raise InputError(f"{self.name}: the stream holds no video")
                for fr in c.decode(c.streams.video[0]):
                    if fr.format.name != "yuv420p":
                        raise InputError(f"{self.name}: expected an 8-bit 4:2:0 stream, got {fr.format.name}")
                    yield _plane(fr.planes[0]), _plane(fr.planes[1]), _plane(fr.planes[2])
        except (av.error.FFmpegError, ValueError) as e:
            if isinstance(e, InputError):
                raise
            raise InputError(f"{self.name}: cannot decode the stream: {e}") from None


# --------------------------------------------------------------------------- registry

CLASSICAL_VIDEO_CODECS: tuple[str, ...] = ("x264-medium", "x264-veryslow", "x265-medium", "x264-intra")


def _x264_params(keyint: int) -> str:
    return (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:open-gop=0:"
            "threads=1:lookahead-threads=1:sliced-threads=0")


def _x265_params(keyint: int) -> str:
    return (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:open-gop=0:"
            "pools=none:frame-threads=1:info=0:log-level=error")


def classical_video_codec(name: str, gop: int = DEFAULT_GOP) -> ClassicalVideoCodec:
    """Build the classical video adapter `name` with an I frame every `gop` frames (x264-intra:
    every frame). KeyError if there is no such adapter; InputError for a bad `gop`."""
    if name not in CLASSICAL_VIDEO_CODECS:
        raise KeyError(name)
    if not isinstance(gop, (int, np.integer)) or isinstance(gop, bool) or not 1 <= int(gop) <= 10_000:
        raise InputError(f"{name}: the intra period (gop) must be an integer in [1, 10000], got {gop!r}")
    gop = int(gop)
    if name == "x264-intra":
        return ClassicalVideoCodec(name, "H.264 intra (x264 medium, all I)", "libx264", "h264", "medium", 1,
                                   _x264_params(1))
    if name == "x265-medium":
        return ClassicalVideoCodec(name, f"HEVC (x265 medium, IPPP, intra period {gop})", "libx265", "hevc",
                                   "medium", gop, _x265_params(gop))
    preset = name.split("-")[1]
    return ClassicalVideoCodec(name, f"H.264 (x264 {preset}, IPPP, intra period {gop})", "libx264", "h264",
                               preset, gop, _x264_params(gop))
