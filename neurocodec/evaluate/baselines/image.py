"""Classical image codecs as adapters with the neural codecs' shape.

Each adapter has ``name``, ``qualities`` (the default sweep, in the codec's own units),
``encode_image(rgb uint8 HxWx3, quality) -> bytes`` and ``decode_image(bytes) -> rgb``, plus
``label``, ``quality_meaning``, ``size_note``, ``settings`` and ``versions`` that the runner
records. The bytes returned are exactly what is counted for the rate; ``size_note`` says which
container bytes they include.

- ``jpeg`` / ``jpeg-444``: Pillow (libjpeg-turbo), baseline JFIF, 4:2:0 / 4:4:4.
- ``webp``: Pillow (libwebp), lossy VP8 (always 4:2:0).
- ``avif`` / ``avif-444``: Pillow (libavif, aom encoder, dav1d decoder), 4:2:0 / 4:4:4.
- ``hevc-intra``: libx265 through PyAV, one intra frame, 4:4:4 full-range BT.601 YCbCr (BPG-like).
- ``av1-intra``: libsvtav1 through PyAV (still-picture mode), decoded by libdav1d; 4:2:0 only,
  because SVT-AV1 encodes the main profile (4:2:0) alone.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.baselines.libs import bundled_lib_version, check_quality, pyav_versions

log = logging.getLogger(__name__)


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return `rgb` as a C-contiguous uint8 HxWx3 array or raise InputError."""
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise InputError(f"expected a non-empty uint8 HxWx3 RGB image, got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


@dataclass
class ClassicalImageCodec:
    """Base of the classical adapters: what the runner reads, and the quality check."""

    name: str
    label: str
    qualities: list[int]
    quality_range: tuple[int, int]
    quality_meaning: str
    size_note: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def versions(self) -> dict[str, Any]:
        return {}

    def _check_quality(self, quality: int) -> int:
        return check_quality(self, quality)

    def encode_image(self, rgb: np.ndarray, quality: int) -> bytes:
        raise NotImplementedError

    def decode_image(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


# --------------------------------------------------------------------------- Pillow


class PillowCodec(ClassicalImageCodec):
    """JPEG, WebP and AVIF through Pillow; `settings` are passed to `Image.save`."""

    def __init__(self, name: str, label: str, fmt: str, qualities: list[int], size_note: str, **save: Any) -> None:
        super().__init__(name, label, qualities, (0, 100), f"Pillow {fmt} quality (higher = better)", size_note, dict(save))
        self.fmt = fmt

    @property
    def versions(self) -> dict[str, Any]:
        import PIL
        from PIL import features

        v: dict[str, Any] = {"pillow": PIL.__version__}
        if self.fmt == "JPEG":
            v["libjpeg"] = features.version("jpg")
            if features.check_feature("libjpeg_turbo"):
                v["libjpeg-turbo"] = features.version_feature("libjpeg_turbo")
        elif self.fmt == "WEBP":
            v["libwebp"] = features.version("webp")
        elif self.fmt == "AVIF":
            from PIL import AvifImagePlugin

            v["libavif"] = features.version("avif")
            for c in ("aom", "dav1d", "svt", "rav1e", "libgav1"):
                ver = AvifImagePlugin.get_codec_version(c)
                if ver:
                    v[c] = ver
        return v

    def encode_image(self, rgb: np.ndarray, quality: int) -> bytes:
        from PIL import Image

        q = self._check_quality(quality)
        buf = io.BytesIO()
        Image.fromarray(check_rgb(rgb), "RGB").save(buf, format=self.fmt, quality=q, **self.settings)
        return buf.getvalue()

    def decode_image(self, data: bytes) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data), formats=[self.fmt]) as im:
                return np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise InputError(f"{self.name}: cannot decode the stream: {e}") from None


# --------------------------------------------------------------------------- colour

# BT.601 full range ("JFIF") YCbCr, the matrix of JPEG and of BPG's default.
_KR, _KB = 0.299, 0.114
_KG = 1 - _KR - _KB


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB -> float64 HxWx3 full-range BT.601 YCbCr (0..255, chroma centred at 128)."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = _KR * r + _KG * g + _KB * b
    cb = (b - y) / (2 * (1 - _KB)) + 128
    cr = (r - y) / (2 * (1 - _KR)) + 128
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """float HxWx3 full-range BT.601 YCbCr -> uint8 RGB (rounded, clipped)."""
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128, ycc[..., 2] - 128
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def downsample2(plane: np.ndarray) -> np.ndarray:
    """2x2 box average of an even-sized plane (chroma sited between the luma samples)."""
    return 0.25 * (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2])


def _up2_axis(p: np.ndarray, axis: int) -> np.ndarray:
    # centre-sited 2x upsampling: each output sample is 3/4 nearest + 1/4 next (edges clamped)
    n = p.shape[axis]
    prev = np.take(p, np.r_[0, np.arange(n - 1)], axis=axis)
    nxt = np.take(p, np.r_[np.arange(1, n), n - 1], axis=axis)
    even, odd = 0.75 * p + 0.25 * prev, 0.75 * p + 0.25 * nxt
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(p.shape)
    shape[axis] *= 2
    return out.reshape(shape)


def upsample2(plane: np.ndarray) -> np.ndarray:
    """Bilinear (triangle-filter) 2x upsampling of a chroma plane, the inverse siting of downsample2."""
    return _up2_axis(_up2_axis(plane.astype(np.float64), 0), 1)


# --------------------------------------------------------------------------- PyAV


def _av_encode_one(codec: str, frame: Any, width: int, height: int, pix_fmt: str, options: dict[str, str]) -> bytes:
    import av

    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 1)
    ctx.color_range = 2  # full ("JPEG") range, signalled in the stream
    ctx.options = options
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)


def _av_decode_one(codec: str, data: bytes, name: str) -> Any:
    import av

    try:
        ctx = av.CodecContext.create(codec, "r")
        frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
    except (av.error.FFmpegError, ValueError) as e:
        raise InputError(f"{name}: cannot decode the stream: {e}") from None
    if len(frames) != 1:
        raise InputError(f"{name}: cannot decode the stream: it holds {len(frames)} pictures, not 1")
    return frames[0]


def _planes(frame: Any, n: int) -> list[np.ndarray]:
    """The first n planes of a decoded 8-bit planar frame, as float64 arrays (stride removed)."""
    out = []
    for i in range(n):
        p = frame.planes[i]
        w, h = p.width, p.height
        a = np.frombuffer(bytes(p), np.uint8).reshape(h, p.line_size)[:, :w]
        out.append(a.astype(np.float64))
    return out


def _frame_from_planes(planes: list[np.ndarray], fmt: str, width: int, height: int) -> Any:
    import av

    frame = av.VideoFrame(width, height, fmt)
    for plane, arr in zip(frame.planes, planes):
        h, w = arr.shape
        buf = np.zeros((h, plane.line_size), np.uint8)
        buf[:, :w] = arr
        plane.update(buf.tobytes())
    return frame


class X265IntraCodec(ClassicalImageCodec):
    """HEVC intra (libx265 via PyAV), 4:4:4 full-range BT.601 YCbCr, fixed QP: BPG-like."""

    def __init__(self) -> None:
        super().__init__(
            "hevc-intra",
            "HEVC intra 4:4:4 (x265)",
            [47, 43, 39, 35, 31, 27, 23, 19],
            (0, 51),
            "x265 QP (lower = better)",
            "raw HEVC Annex B stream: VPS+SPS+PPS+one intra slice, no container, no SEI "
            "(x265 info=0); picture size is in the SPS",
            {"preset": "slow", "chroma": "4:4:4", "colour": "BT.601 full-range YCbCr (own conversion)",
             "x265-params": "keyint=1:info=0:pools=1:frame-threads=1:log-level=error", "threads": 1},
        )

    @property
    def versions(self) -> dict[str, Any]:
        return {**pyav_versions(), "x265": bundled_lib_version("libx265", "x265_version_str", call=False)}

    def encode_image(self, rgb: np.ndarray, quality: int) -> bytes:
        qp = self._check_quality(quality)
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        if h < 8 or w < 8:
            raise InputError(f"{self.name}: images must be at least 8x8, got {w}x{h}")
        ycc = rgb_to_ycbcr(rgb)
        frame = _frame_from_planes([_to_u8(ycc[..., i]) for i in range(3)], "yuv444p", w, h)
        params = f"qp={qp}:{self.settings['x265-params']}"
        return _av_encode_one("libx265", frame, w, h, "yuv444p", {"preset": self.settings["preset"], "x265-params": params})

    def decode_image(self, data: bytes) -> np.ndarray:
        frame = _av_decode_one("hevc", data, self.name)
        if frame.format.name != "yuv444p":
            raise InputError(f"{self.name}: expected a 4:4:4 8-bit stream, got {frame.format.name}")
        return ycbcr_to_rgb(np.stack(_planes(frame, 3), axis=-1))


class SvtAv1IntraCodec(ClassicalImageCodec):
    """AV1 intra (libsvtav1 via PyAV, still-picture mode), 4:2:0 only; decoded with libdav1d."""

    def __init__(self) -> None:
        super().__init__(
            "av1-intra",
            "AV1 intra 4:2:0 (SVT-AV1)",
            [56, 50, 44, 38, 32, 26, 20, 14, 8],
            (1, 63),
            "SVT-AV1 CRF (lower = better)",
            "raw AV1 OBU stream (low-overhead format: temporal delimiter, reduced still-picture "
            "sequence header, one frame), no container; picture size is in the sequence header",
            {"preset": "4", "chroma": "4:2:0 (SVT-AV1 main profile: 4:4:4 is not supported)",
             "colour": "BT.601 full-range YCbCr (own conversion, 2x2 box down / bilinear up)",
             "svtav1-params": "avif=1:lp=1", "threads": 1},
        )

    @property
    def versions(self) -> dict[str, Any]:
        return {
            **pyav_versions(),
            "svt-av1": bundled_lib_version("libSvtAv1Enc", "svt_av1_get_version", call=True),
            "dav1d": bundled_lib_version("libdav1d", "dav1d_version", call=True),
        }

    def encode_image(self, rgb: np.ndarray, quality: int) -> bytes:
        crf = self._check_quality(quality)
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        if h % 2 or w % 2 or h < 16 or w < 16:
            raise InputError(f"{self.name}: 4:2:0 needs an even width and height of at least 16, got {w}x{h}")
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs errors only
        ycc = rgb_to_ycbcr(rgb)
        planes = [_to_u8(ycc[..., 0]), _to_u8(downsample2(ycc[..., 1])), _to_u8(downsample2(ycc[..., 2]))]
        frame = _frame_from_planes(planes, "yuv420p", w, h)
        opts = {"preset": self.settings["preset"], "crf": str(crf), "svtav1-params": self.settings["svtav1-params"]}
        return _av_encode_one("libsvtav1", frame, w, h, "yuv420p", opts)

    def decode_image(self, data: bytes) -> np.ndarray:
        frame = _av_decode_one("libdav1d", data, self.name)
        if frame.format.name != "yuv420p":
            raise InputError(f"{self.name}: expected a 4:2:0 8-bit stream, got {frame.format.name}")
        y, cb, cr = _planes(frame, 3)
        return ycbcr_to_rgb(np.stack([y, upsample2(cb), upsample2(cr)], axis=-1))


# --------------------------------------------------------------------------- registry

_STEP5 = list(range(5, 100, 5))
_JPEG_NOTE = "whole JFIF file as Pillow writes it (headers, quantisation and Huffman tables included)"

CLASSICAL_IMAGE_CODECS: dict[str, Callable[[], ClassicalImageCodec]] = {
    "jpeg": lambda: PillowCodec("jpeg", "JPEG 4:2:0 (libjpeg-turbo)", "JPEG", _STEP5, _JPEG_NOTE, subsampling="4:2:0"),
    "jpeg-444": lambda: PillowCodec("jpeg-444", "JPEG 4:4:4 (libjpeg-turbo)", "JPEG", _STEP5, _JPEG_NOTE, subsampling="4:4:4"),
    "webp": lambda: PillowCodec(
        "webp", "WebP (libwebp, 4:2:0)", "WEBP", _STEP5,
        "whole RIFF/WebP file as Pillow writes it (about 20-30 bytes of RIFF/VP8 headers)", method=4,
    ),
    "avif": lambda: PillowCodec(
        "avif", "AVIF 4:2:0 (libavif/aom)", "AVIF", [10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
        "whole AVIF (ISOBMFF/HEIF) file as Pillow writes it (a few hundred bytes of boxes)",
        subsampling="4:2:0", speed=6, max_threads=1,
    ),
    "avif-444": lambda: PillowCodec(
        "avif-444", "AVIF 4:4:4 (libavif/aom)", "AVIF", [10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
        "whole AVIF (ISOBMFF/HEIF) file as Pillow writes it (a few hundred bytes of boxes)",
        subsampling="4:4:4", speed=6, max_threads=1,
    ),
    "hevc-intra": X265IntraCodec,
    "av1-intra": SvtAv1IntraCodec,
}


def classical_image_codec(name: str) -> ClassicalImageCodec:
    """Build the classical adapter `name` (KeyError if there is none)."""
    return CLASSICAL_IMAGE_CODECS[name]()
