"""Video in and out, streamed one frame at a time: Y4M, raw .yuv, PNG frame folders and any
container PyAV (FFmpeg) decodes; Y4M, lossless FFV1 Matroska and PNG frame folders out.

Sources (:func:`probe` says which, with an exact frame count):

- ``y4m``: the header (W, H, F, I, A, C and X tags) and the FRAME records are parsed here, not by
  FFmpeg. Colour spaces C420jpeg / C420paldv / C420mpeg2 / C420 (the 4:2:0 sitings are not
  told apart: chroma is read as co-sited 2x2 blocks), C420p10 / C420p12, C422 (8/10/12-bit),
  C444 (8/10/12-bit) and Cmono; interlaced (It, Ib, Im) and other colour spaces are refused.
- ``yuv``: raw planar 4:2:0 (yuv420p; 16-bit little-endian samples when the name says 10, 12 or
  16 bits: ``_10bit``, ``p10``, ``_b10``). Size and rate come from the options or else the file
  name (``416x240``, ``qcif``, ``cif``, ``_50Hz``, ``_12fps``); without a size it is refused
  (give ``--size WxH``), without a rate it is read at 30 fps.
- ``png``: a folder of PNG frames in natural order (f1, f2, f10), read with the image policy of
  :mod:`neurocodec.io.images`; 25 fps unless given.
- ``container``: the first video stream of anything PyAV opens (mp4, mkv, webm, mov, avi, ...);
  audio streams are ignored (logged). Probing decodes the stream once to count its frames.

Colour policy:

- YUV that does not state its matrix and range is read as BT.709 limited range (Y 16..235,
  C 16..240) unless `matrix` / `range` are given; :attr:`VideoInfo.color_assumed` says so. A Y4M
  file states full range with ``XCOLORRANGE=FULL`` (``LIMITED`` states limited); the matrix with
  ``XCOLORMATRIX=BT709|BT601`` (a tag of neurocodec's own Y4M writer). Containers that state
  BT.709 or BT.601 (and the range) are honoured; other matrices (e.g. BT.2020) are read as
  BT.709 with a warning.
- More than 8 bits are reduced to 8 before anything else (also before conversion to RGB) by
  the rule ``round_half_up_shift``: ``v8 = min(255, (v + 2^(d-9)) >> (d-8))`` for d bits, i.e.
  ``v8 = min(255, (v + 2) >> 2)`` for 10-bit (halves round up; 10-bit limited range 64..940
  maps to 16..235 exactly). :meth:`VideoInfo.policy` records it.
- YUV -> RGB (:func:`yuv420_to_rgb`): float64 matrix arithmetic with the BT.709 / BT.601
  coefficients, chroma upsampled by nearest-neighbour repetition (each chroma sample covers its
  2x2 block), rounded to nearest (halves up) and clipped to 0..255.
- RGB -> YUV 4:2:0 (:func:`rgb_to_yuv420`): the inverse matrix; chroma is the mean of each 2x2
  block (odd sizes: the last row/column replicated), rounded and clipped. RGB sources (PNG
  frames, RGB containers) have matrix ``"rgb"``; :func:`read_yuv420` converts them with
  `matrix` / `range` (default BT.709 limited), kept as ``yuv_matrix`` / ``yuv_range``.
- 4:2:2 / 4:4:4 sources are reduced to 4:2:0 by :func:`read_yuv420` with the same 2x2 mean;
  :func:`read_rgb` converts them at full chroma resolution.

Limits: sides over :data:`neurocodec.io.images.MAX_SIDE`, more than ``MAX_PIXELS`` pixels or more
than :data:`MAX_FRAMES` frames are refused before frames are read. Every frame is checked to
have the first frame's size (a mid-stream size change is refused). All failures a file can
cause raise :class:`~neurocodec.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from neurocodec.errors import InputError
from neurocodec.io.files import OutputExistsError, atomic_path
from neurocodec.io.formats import VIDEO_OUTPUT_SUFFIXES, VIDEO_SUFFIXES  # noqa: F401 (re-exported)
from neurocodec.io.images import check_image_size

log = logging.getLogger(__name__)

MAX_FRAMES = 1_000_000  # longer inputs are refused
DEFAULT_MATRIX, DEFAULT_RANGE = "bt709", "limited"
RAW_FPS = Fraction(30)  # raw .yuv (and Y4M without F) when no rate is known
PNG_FPS = Fraction(25)  # PNG frame folders unless given
MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}  # (Kr, Kb)
RANGES = ("limited", "full")
REDUCE_RULE = "round_half_up_shift"
# named sizes of raw files (CIF family)
NAMED_SIZES = {"sqcif": (128, 96), "qcif": (176, 144), "cif": (352, 288), "4cif": (704, 576), "16cif": (1408, 1152)}
# Y4M C tag -> (pix_fmt, chroma subsampling x, y (0: no chroma), bits)
Y4M_COLORSPACES: dict[str, tuple[str, int, int, int]] = {
    "420jpeg": ("yuv420p", 2, 2, 8), "420paldv": ("yuv420p", 2, 2, 8), "420mpeg2": ("yuv420p", 2, 2, 8),
    "420": ("yuv420p", 2, 2, 8), "420p10": ("yuv420p10le", 2, 2, 10), "420p12": ("yuv420p12le", 2, 2, 12),
    "422": ("yuv422p", 2, 1, 8), "422p10": ("yuv422p10le", 2, 1, 10), "422p12": ("yuv422p12le", 2, 1, 12),
    "444": ("yuv444p", 1, 1, 8), "444p10": ("yuv444p10le", 1, 1, 10), "444p12": ("yuv444p12le", 1, 1, 12),
    "mono": ("gray", 0, 0, 8),
}
_FMT_RGB = {"RGB": ("rgb24", 8), "RGBA": ("rgba", 8), "L": ("gray", 8), "LA": ("ya8", 8), "P": ("pal8", 8),
            "1": ("monob", 1), "I;16": ("gray16", 16), "I;16B": ("gray16", 16), "I": ("gray32", 32)}

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def reduce_rule(bits: int) -> str:
    """The 8-bit reduction for `bits`-bit samples, as a formula (see the module docstring)."""
    return f"v8 = min(255, (v + {1 << (bits - 9)}) >> {bits - 8})"


@dataclass(frozen=True)
class VideoInfo:
    """What a video source holds and how it is read (see the module docstring).

    `fps` in frames per second; `frames` exact; `source` "y4m" | "yuv" | "png" | "container";
    `pix_fmt` / `bit_depth` of the source; `matrix` "bt709" | "bt601" | "rgb" and `range`
    "limited" | "full" of the source; `yuv_matrix` / `yuv_range`: what YUV 4:2:0 is made with
    (the source's own for YUV sources, the conversion for RGB sources)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    source: str
    pix_fmt: str
    bit_depth: int
    matrix: str
    range: str
    color_assumed: bool
    has_audio: bool
    yuv_matrix: str = DEFAULT_MATRIX
    yuv_range: str = DEFAULT_RANGE

    def policy(self) -> dict[str, Any]:
        """The colour policy as a small JSON-able dict (recorded in the .bin header)."""
        p: dict[str, Any] = {"matrix": self.matrix, "range": self.range, "pix_fmt": self.pix_fmt,
                             "bit_depth": self.bit_depth}
        if self.matrix == "rgb":
            p.update(yuv_matrix=self.yuv_matrix, yuv_range=self.yuv_range)
        if self.bit_depth > 8:
            p["reduce"] = REDUCE_RULE
            p["reduce_formula"] = reduce_rule(self.bit_depth)
        return p


# --------------------------------------------------------------------------- colour


def _check_color(matrix: str, range: str) -> tuple[float, float]:  # noqa: A002 (the public name)
    if matrix not in MATRICES:
        raise InputError(f"unknown YUV matrix {matrix!r}; use one of {', '.join(MATRICES)}")
    if range not in RANGES:
        raise InputError(f"unknown YUV range {range!r}; use one of {', '.join(RANGES)}")
    return MATRICES[matrix]


def _round_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _yuv_to_rgb_full(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str, range: str) -> np.ndarray:  # noqa: A002
    """uint8 Y, U, V of the same size [H, W] -> uint8 RGB [H, W, 3]."""
    kr, kb = _check_color(matrix, range)
    if range == "limited":
        yn = (y.astype(np.float64) - 16.0) / 219.0
        cb, cr = (u.astype(np.float64) - 128.0) / 224.0, (v.astype(np.float64) - 128.0) / 224.0
    else:
        yn = y.astype(np.float64) / 255.0
        cb, cr = (u.astype(np.float64) - 128.0) / 255.0, (v.astype(np.float64) - 128.0) / 255.0
    r = yn + 2.0 * (1.0 - kr) * cr
    b = yn + 2.0 * (1.0 - kb) * cb
    g = (yn - kr * r - kb * b) / (1.0 - kr - kb)
    return _round_u8(np.stack([r, g, b], axis=-1) * 255.0)


def _upsample(c: np.ndarray, sx: int, sy: int, h: int, w: int) -> np.ndarray:
    """Chroma [ceil(h/sy), ceil(w/sx)] -> [h, w] by nearest-neighbour repetition."""
    if sx == sy == 1:
        return c
    return np.repeat(np.repeat(c, sy, axis=0), sx, axis=1)[:h, :w]


def _mean2x2(c: np.ndarray) -> np.ndarray:
    """float [H, W] -> the mean of each 2x2 block [ceil(H/2), ceil(W/2)] (edge replicated)."""
    h, w = c.shape
    c = np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")
    return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]) / 4.0


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str, range: str) -> np.ndarray:  # noqa: A002
    """uint8 planes Y [H, W], U, V [ceil(H/2), ceil(W/2)] -> uint8 RGB [H, W, 3].

    Chroma is upsampled by nearest-neighbour repetition (each sample covers its 2x2 block);
    float64 BT.709 / BT.601 matrix, limited (Y 16..235, C 16..240) or full range; rounded to
    nearest and clipped."""
    y, u, v = np.asarray(y), np.asarray(u), np.asarray(v)
    if y.ndim != 2 or 0 in y.shape:
        raise InputError(f"expected a non-empty luma plane [H, W], got {y.shape}")
    h, w = y.shape
    c = ((h + 1) // 2, (w + 1) // 2)
    if u.shape != c or v.shape != c:
        raise InputError(f"chroma planes of a {w}x{h} 4:2:0 frame must be {c[1]}x{c[0]}, got {u.shape} and {v.shape}")
    return _yuv_to_rgb_full(y, _upsample(u, 2, 2, h, w), _upsample(v, 2, 2, h, w), matrix, range)


def rgb_to_yuv420(rgb: np.ndarray, matrix: str, range: str) -> Planes:  # noqa: A002
    """uint8 RGB [H, W, 3] -> uint8 planes Y [H, W], U, V [ceil(H/2), ceil(W/2)].

    The inverse matrix of :func:`yuv420_to_rgb`; chroma is the mean of each 2x2 block (odd sizes:
    the last row/column replicated), computed before rounding; rounded to nearest and clipped."""
    kr, kb = _check_color(matrix, range)
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise InputError(f"expected a non-empty uint8 RGB frame [H, W, 3], got {a.dtype} {a.shape}")
    x = a.astype(np.float64) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    yn = kr * r + (1.0 - kr - kb) * g + kb * b
    cb, cr = _mean2x2((b - yn) / (2.0 * (1.0 - kb))), _mean2x2((r - yn) / (2.0 * (1.0 - kr)))
    if range == "limited":
        return _round_u8(16.0 + 219.0 * yn), _round_u8(128.0 + 224.0 * cb), _round_u8(128.0 + 224.0 * cr)
    return _round_u8(255.0 * yn), _round_u8(128.0 + 255.0 * cb), _round_u8(128.0 + 255.0 * cr)


def _to8(a: np.ndarray, bits: int) -> np.ndarray:
    """Samples of `bits` bits -> uint8 by the stated rule (8 bits: unchanged)."""
    if bits <= 8:
        return a.astype(np.uint8, copy=False)
    r = (a.astype(np.uint32) + (1 << (bits - 9))) >> (bits - 8)
    return np.minimum(r, 255).astype(np.uint8)


def _to420(c: np.ndarray, sx: int, sy: int, h: int, w: int) -> np.ndarray:
    """uint8 chroma of subsampling (sx, sy) -> 4:2:0 [ceil(h/2), ceil(w/2)] (2x2 mean, rounded)."""
    if sx == sy == 2:
        return c
    full = _upsample(c, sx, sy, h, w).astype(np.float64)
    return _round_u8(_mean2x2(full))


# --------------------------------------------------------------------------- frames of each source
# A decoded frame is ("yuv", (y, u, v), (sx, sy), bits) with u, v None for gray, or ("rgb", rgb, bits).


@dataclass(frozen=True)
class _Frame:
    kind: str  # "yuv" | "rgb"
    planes: tuple[np.ndarray, ...]  # (y, u, v) / (y,) for gray / (rgb [H, W, 3],)
    sub: tuple[int, int]  # chroma subsampling (x, y) for yuv
    bits: int

    @property
    def size(self) -> tuple[int, int]:
        return self.planes[0].shape[1], self.planes[0].shape[0]


def _frame_rgb(fr: _Frame, info: VideoInfo) -> np.ndarray:
    if fr.kind == "rgb":
        return _to8(fr.planes[0], fr.bits)
    w, h = fr.size
    y = _to8(fr.planes[0], fr.bits)
    if len(fr.planes) == 1:  # gray: neutral chroma
        return _yuv_to_rgb_full(y, np.full_like(y, 128), np.full_like(y, 128), info.yuv_matrix, info.yuv_range)
    sx, sy = fr.sub
    u, v = (_upsample(_to8(c, fr.bits), sx, sy, h, w) for c in fr.planes[1:])
    return _yuv_to_rgb_full(y, u, v, info.yuv_matrix, info.yuv_range)


def _frame_yuv420(fr: _Frame, info: VideoInfo) -> Planes:
    if fr.kind == "rgb":
        return rgb_to_yuv420(_to8(fr.planes[0], fr.bits), info.yuv_matrix, info.yuv_range)
    w, h = fr.size
    y = _to8(fr.planes[0], fr.bits)
    if len(fr.planes) == 1:
        c = np.full(((h + 1) // 2, (w + 1) // 2), 128, np.uint8)
        return y, c, c.copy()
    sx, sy = fr.sub
    u, v = (_to420(_to8(c, fr.bits), sx, sy, h, w) for c in fr.planes[1:])
    return y, u, v


def _check_file(p: Path) -> None:
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (no frames)")


def _check_frames(n: int, p: Path) -> None:
    if n > MAX_FRAMES:
        raise InputError(f"{p}: more than {MAX_FRAMES} frames; cut it shorter first")


def _frame_bytes(w: int, h: int, sx: int, sy: int, bits: int) -> int:
    chroma = 2 * (-(-w // sx)) * (-(-h // sy)) if sx else 0
    return (w * h + chroma) * (1 if bits <= 8 else 2)


def _split_planes(buf: bytes, w: int, h: int, sx: int, sy: int, bits: int) -> tuple[np.ndarray, ...]:
    a = np.frombuffer(buf, np.uint8 if bits <= 8 else np.dtype("<u2"))
    y = a[: w * h].reshape(h, w)
    if not sx:
        return (y,)
    cw, ch = -(-w // sx), -(-h // sy)
    n = cw * ch
    return y, a[w * h : w * h + n].reshape(ch, cw), a[w * h + n : w * h + 2 * n].reshape(ch, cw)


def _read_exact(f: IO[bytes], n: int, p: Path, index: int) -> bytes:
    buf = f.read(n)
    if len(buf) != n:
        raise InputError(f"{p}: frame {index + 1} is truncated ({len(buf)} of {n} bytes)")
    return buf


# ---- Y4M


@dataclass(frozen=True)
class _Y4m:
    width: int
    height: int
    fps: Fraction | None
    color: str
    header_len: int
    range: str | None  # stated by XCOLORRANGE
    matrix: str | None  # stated by XCOLORMATRIX

    @property
    def layout(self) -> tuple[str, int, int, int]:
        return Y4M_COLORSPACES[self.color]


def _y4m_header(f: IO[bytes], p: Path) -> _Y4m:
    head = f.read(4096)
    if not head.startswith(b"YUV4MPEG2"):
        raise InputError(f"{p} is not a Y4M file (it does not start with 'YUV4MPEG2')")
    end = head.find(b"\n")
    if end < 0:
        raise InputError(f"{p}: the Y4M header has no end of line within 4096 bytes")
    w = h = None
    fps: Fraction | None = None
    color, rng, matrix = "420jpeg", None, None
    for tok in head[9:end].decode("ascii", "replace").split():
        key, val = tok[0], tok[1:]
        try:
            if key == "W":
                w = int(val)
            elif key == "H":
                h = int(val)
            elif key == "F":
                num, den = (int(x) for x in val.split(":"))
                if num < 0 or den < 0 or (num > 0) != (den > 0):
                    raise InputError(f"{p}: Y4M frame rate F{val} is not a rate (F0:0, unknown, is allowed)")
                fps = Fraction(num, den) if num > 0 else None
            elif key == "I":
                if val in ("t", "b", "m"):
                    raise InputError(f"{p}: interlaced Y4M (I{val}) is not supported; deinterlace it first")
                if val not in ("p", "?"):
                    raise InputError(f"{p}: unknown Y4M interlacing tag I{val}")
            elif key == "C":
                color = val.lower()
                if color not in Y4M_COLORSPACES:
                    raise InputError(f"{p}: Y4M colour space C{val} is not supported "
                                     f"(supported: {', '.join('C' + c for c in Y4M_COLORSPACES)})")
            elif key == "X":
                name, _, value = val.partition("=")
                if name.upper() == "COLORRANGE":
                    rng = {"FULL": "full", "LIMITED": "limited"}.get(value.upper())
                elif name.upper() == "COLORMATRIX":
                    matrix = {"BT709": "bt709", "BT601": "bt601"}.get(value.upper())
        except InputError:
            raise
        except ValueError:
            raise InputError(f"{p}: malformed Y4M header tag {tok!r}") from None
    if not w or not h or w < 0 or h < 0:
        raise InputError(f"{p}: the Y4M header lacks a valid width and height (W, H tags)")
    check_image_size(w, h, str(p))
    return _Y4m(w, h, fps, color, end + 1, rng, matrix)


def _y4m_frame_header(f: IO[bytes], p: Path, index: int) -> bool:
    """Read one FRAME line; False at the end of the file."""
    tag = f.read(5)
    if not tag:
        return False
    if tag != b"FRAME":
        raise InputError(f"{p}: frame {index + 1} does not start with a FRAME record (truncated or corrupt Y4M)")
    for _ in range(1024):
        c = f.read(1)
        if c == b"\n":
            return True
        if not c:
            break
    raise InputError(f"{p}: frame {index + 1} has a malformed FRAME record")


def _probe_y4m(p: Path) -> tuple[_Y4m, int]:
    size = p.stat().st_size
    with open(p, "rb") as f:
        hd = _y4m_header(f, p)
        _, sx, sy, bits = hd.layout
        n_bytes = _frame_bytes(hd.width, hd.height, sx, sy, bits)
        f.seek(hd.header_len)
        n = 0
        while _y4m_frame_header(f, p, n):
            if f.tell() + n_bytes > size:
                raise InputError(f"{p}: frame {n + 1} is truncated ({size - f.tell()} of {n_bytes} bytes)")
            f.seek(n_bytes, os.SEEK_CUR)
            n += 1
            _check_frames(n, p)
    return hd, n


def _frames_y4m(p: Path) -> Iterator[_Frame]:
    with open(p, "rb") as f:
        hd = _y4m_header(f, p)
        _, sx, sy, bits = hd.layout
        n_bytes = _frame_bytes(hd.width, hd.height, sx, sy, bits)
        f.seek(hd.header_len)
        i = 0
        while _y4m_frame_header(f, p, i):
            buf = _read_exact(f, n_bytes, p, i)
            yield _Frame("yuv", _split_planes(buf, hd.width, hd.height, sx, sy, bits), (sx, sy), bits)
            i += 1


# ---- raw .yuv


def _raw_name(p: Path) -> tuple[tuple[int, int] | None, Fraction | None, int]:
    """(size, rate, bits) stated by a raw file's name (None where it says nothing; bits 8)."""
    stem = p.stem.lower()
    size = rate = None
    bits = 8
    m = re.search(r"(?<![0-9])([0-9]{1,5})x([0-9]{1,5})(?![0-9])", stem)
    if m:
        size = (int(m.group(1)), int(m.group(2)))
    m = re.search(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)(?:hz|fps)(?![a-z])", stem)
    if m:
        rate = Fraction(m.group(1))
    for t in (t for t in re.split(r"[_\-.\s]+", stem) if t):
        if size is None and t in NAMED_SIZES:
            size = NAMED_SIZES[t]
        m = re.fullmatch(r"(?:b|bit)(8|9|10|12|14|16)|(8|9|10|12|14|16)bits?|(?:yuv)?(?:420)?p(9|10|12|14|16)(?:le)?", t)
        if m:
            bits = int(next(g for g in m.groups() if g))
    if rate is not None and rate <= 0:
        rate = None
    return size, rate, bits


def _probe_raw(p: Path, size: tuple[int, int] | None, fps: Fraction | None) -> tuple[int, int, Fraction, int, int]:
    name_size, name_rate, bits = _raw_name(p)
    size = size or name_size
    if size is None:
        raise InputError(f"{p}: raw .yuv without a size in its name (e.g. '_416x240_', 'qcif'); give --size WxH")
    w, h = size
    check_image_size(w, h, str(p))
    rate = fps or name_rate
    if rate is None:
        log.info("%s: no frame rate in the name; read at %s fps (give --fps to change it)", p.name, RAW_FPS)
        rate = RAW_FPS
    n_bytes = _frame_bytes(w, h, 2, 2, bits)
    total = p.stat().st_size
    n, rest = divmod(total, n_bytes)
    if rest:
        raise InputError(f"{p}: {total} bytes is not a whole number of {w}x{h} {bits}-bit 4:2:0 frames "
                         f"({n_bytes} bytes each; {rest} bytes left over): check the size (--size WxH)")
    _check_frames(n, p)
    return w, h, rate, bits, n


def _frames_raw(info: VideoInfo) -> Iterator[_Frame]:
    n_bytes = _frame_bytes(info.width, info.height, 2, 2, info.bit_depth)
    with open(info.path, "rb") as f:
        for i in range(info.frames):
            buf = _read_exact(f, n_bytes, info.path, i)
            yield _Frame("yuv", _split_planes(buf, info.width, info.height, 2, 2, info.bit_depth), (2, 2), info.bit_depth)


# ---- PNG frame folders


def _natural_key(p: Path) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"([0-9]+)", p.name.lower()) if t]


def list_frames(folder: str | Path) -> list[Path]:
    """The PNG files of a frame folder in natural order (f1, f2, f10; not recursive)."""
    d = Path(folder)
    return sorted((p for p in d.iterdir() if p.suffix.lower() == ".png" and p.is_file()), key=_natural_key)


def _png_header(p: Path) -> tuple[int, int, str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as img:
            return img.size[0], img.size[1], img.mode
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"{p}: cannot read PNG frame ({e})") from None


def _size_change(p: Path, got: tuple[int, int], first: tuple[int, int]) -> InputError:
    return InputError(f"{p}: mid-stream size change: {got[0]}x{got[1]}, the first frame is {first[0]}x{first[1]}")


def _probe_png(d: Path) -> tuple[int, int, str, int, int]:
    files = list_frames(d)
    if not files:
        raise InputError(f"{d}: a folder without PNG frames (no frames)")
    _check_frames(len(files), d)
    w, h, mode = _png_header(files[0])
    check_image_size(w, h, str(files[0]))
    for f in files[1:]:
        fw, fh, _ = _png_header(f)
        if (fw, fh) != (w, h):
            raise _size_change(f, (fw, fh), (w, h))
    pix_fmt, bits = _FMT_RGB.get(mode, (mode.lower(), 8))
    return w, h, pix_fmt, bits, len(files)


def _frames_png(info: VideoInfo) -> Iterator[_Frame]:
    from neurocodec.io.images import load_image

    files = list_frames(info.path)
    for f in files:
        rgb = load_image(f)
        if (rgb.shape[1], rgb.shape[0]) != (info.width, info.height):
            raise _size_change(f, (rgb.shape[1], rgb.shape[0]), (info.width, info.height))
        yield _Frame("rgb", (rgb,), (1, 1), 8)


# ---- containers (PyAV)


def _open_container(p: Path) -> Any:
    import av

    try:
        c = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{p} is not a video file PyAV can read ({type(e).__name__}: {e})") from None
    if not c.streams.video:
        kinds = ", ".join(sorted({s.type for s in c.streams})) or "none"
        c.close()
        raise InputError(f"{p} has no video stream (streams: {kinds})")
    return c


def _plane(plane: Any, bits: int) -> np.ndarray:
    """One plane of a decoded frame [height, width] (stride removed, copied)."""
    dt = np.dtype(np.uint8 if bits <= 8 else "<u2")
    a = np.frombuffer(plane, dt)
    return a.reshape(plane.height, plane.line_size // dt.itemsize)[:, : plane.width].copy()


def _decoded(fr: Any) -> _Frame:
    """A decoded PyAV frame -> _Frame at its native depth."""
    fmt = fr.format
    comps = fmt.components
    bits = comps[0].bits
    if fmt.is_rgb:
        if fmt.is_planar and fmt.name.startswith("gbrp") and not fmt.is_big_endian and len(comps) == 3:
            g, b, r = (_plane(fr.planes[i], bits) for i in range(3))
            return _Frame("rgb", (np.stack([r, g, b], axis=-1),), (1, 1), bits)
        if bits <= 8:
            return _Frame("rgb", (fr.to_ndarray(format="rgb24"),), (1, 1), 8)
        g, b, r = (_plane(p, 16) for p in fr.reformat(format="gbrp16le").planes[:3])
        return _Frame("rgb", (np.stack([r, g, b], axis=-1),), (1, 1), 16)
    simple = (fmt.is_planar and not fmt.is_big_endian and len(fr.planes) == len(comps)
              and all(c.plane == i for i, c in enumerate(comps)) and len(comps) in (1, 3))
    if not simple:  # packed / semi-planar / alpha: to planar 4:4:4 first
        fr = fr.reformat(format="yuv444p" if bits <= 8 else "yuv444p16le")
        bits = 8 if bits <= 8 else 16
        comps = fr.format.components
    if len(comps) == 1:
        return _Frame("yuv", (_plane(fr.planes[0], bits),), (0, 0), bits)
    sx = 1024 // fr.format.chroma_width(1024)
    sy = 1024 // fr.format.chroma_height(1024)
    return _Frame("yuv", tuple(_plane(fr.planes[i], bits) for i in range(3)), (sx, sy), bits)


def _decode(c: Any, p: Path) -> Iterator[Any]:
    import av

    s = c.streams.video[0]
    try:
        yield from c.decode(s)
    except av.error.FFmpegError as e:
        raise InputError(f"{p}: video cannot be decoded ({type(e).__name__}: {e})") from None


_CONTAINER_MATRIX = {1: "bt709", 5: "bt601", 6: "bt601"}  # AVColorSpace -> matrix
_CONTAINER_RANGE = {1: "limited", 2: "full"}  # AVColorRange -> range


def _probe_container(p: Path) -> dict[str, Any]:
    with _open_container(p) as c:
        s = c.streams.video[0]
        has_audio = bool(c.streams.audio)
        if has_audio:
            log.info("%s: its audio stream is ignored (video only)", p.name)
        cc = s.codec_context
        if cc.width and cc.height:
            check_image_size(cc.width, cc.height, str(p))  # before any frame is decoded
        rate = s.average_rate or s.guessed_rate or s.base_rate
        n = 0
        first: Any = None
        for fr in _decode(c, p):
            if first is None:
                check_image_size(fr.width, fr.height, str(p))
                first = {"width": fr.width, "height": fr.height, "pix_fmt": fr.format.name,
                         "bit_depth": fr.format.components[0].bits, "is_rgb": fr.format.is_rgb,
                         "colorspace": int(fr.colorspace), "color_range": int(fr.color_range)}
            elif (fr.width, fr.height) != (first["width"], first["height"]):
                raise _size_change(p, (fr.width, fr.height), (first["width"], first["height"]))
            n += 1
            _check_frames(n, p)
        if first is None:
            raise InputError(f"{p}: the video stream holds no frames")
    if first["pix_fmt"].startswith("yuvj") and first["color_range"] == 0:
        first["color_range"] = 2
    return {**first, "frames": n, "fps": Fraction(rate) if rate else None, "has_audio": has_audio}


def _frames_container(info: VideoInfo) -> Iterator[_Frame]:
    with _open_container(info.path) as c:
        for fr in _decode(c, info.path):
            if (fr.width, fr.height) != (info.width, info.height):
                raise _size_change(info.path, (fr.width, fr.height), (info.width, info.height))
            yield _decoded(fr)


# --------------------------------------------------------------------------- public reading


def _fps(fps: Fraction | float | None) -> Fraction | None:
    if fps is None:
        return None
    try:
        f = Fraction(fps).limit_denominator(1_000_000)
    except (TypeError, ValueError):
        raise InputError(f"frame rate must be a number, got {fps!r}") from None
    if f <= 0:
        raise InputError(f"frame rate must be positive, got {fps!r}")
    return f


def probe(path: str | Path, *, size: tuple[int, int] | None = None, fps: Fraction | float | None = None,
          matrix: str | None = None, range: str | None = None) -> VideoInfo:  # noqa: A002 (the option's name)
    """Describe a video source (see the module docstring): its kind, size, exact frame count,
    rate and colour policy. `size` (W, H) is for raw .yuv (it overrides the name); `fps`
    overrides the stated rate; `matrix` ("bt709" | "bt601") and `range` ("limited" | "full")
    override what a YUV source states, and set the YUV conversion of RGB sources.

    Raises InputError for missing, empty, unreadable, oversized or inconsistent inputs."""
    p = Path(path)
    rate = _fps(fps)
    if matrix is not None or range is not None:
        _check_color(matrix or DEFAULT_MATRIX, range or DEFAULT_RANGE)
    if size is not None:
        try:
            size = (int(size[0]), int(size[1]))
        except (TypeError, ValueError, IndexError):
            raise InputError(f"size must be (width, height), got {size!r}") from None
        if size[0] <= 0 or size[1] <= 0:
            raise InputError(f"size must be positive, got {size[0]}x{size[1]}")
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    stated_matrix = stated_range = None
    is_rgb, has_audio = False, False
    if p.is_dir():
        w, h, pix_fmt, bits, n = _probe_png(p)
        source, is_rgb, rate = "png", True, rate or PNG_FPS
    else:
        _check_file(p)
        suffix = p.suffix.lower()
        if suffix == ".y4m":
            hd, n = _probe_y4m(p)
            source, w, h = "y4m", hd.width, hd.height
            pix_fmt, _, _, bits = hd.layout
            stated_matrix, stated_range = hd.matrix, hd.range
            if rate is None and hd.fps is None:
                log.info("%s: the Y4M header states no frame rate; read at %s fps", p.name, RAW_FPS)
            rate = rate or hd.fps or RAW_FPS
        elif suffix == ".yuv":
            w, h, rate, bits, n = _probe_raw(p, size, rate)
            source, pix_fmt = "yuv", "yuv420p" if bits == 8 else f"yuv420p{bits}le"
        else:
            d = _probe_container(p)
            source, w, h, n, pix_fmt, bits = "container", d["width"], d["height"], d["frames"], d["pix_fmt"], d["bit_depth"]
            is_rgb, has_audio = d["is_rgb"], d["has_audio"]
            stated_range = _CONTAINER_RANGE.get(d["color_range"])
            stated_matrix = _CONTAINER_MATRIX.get(d["colorspace"])
            if not is_rgb and stated_matrix is None and d["colorspace"] not in (0, 2) and matrix is None:
                log.warning("%s: YUV matrix %d (AVColorSpace) is not BT.709 or BT.601; read as %s",
                            p.name, d["colorspace"], DEFAULT_MATRIX)
            if rate is None and d["fps"] is None:
                log.info("%s: no frame rate stated; read at %s fps", p.name, RAW_FPS)
            rate = rate or d["fps"] or RAW_FPS
        if size is not None and source != "yuv" and size != (w, h):
            log.warning("%s: --size %dx%d ignored: the file states %dx%d", p.name, size[0], size[1], w, h)
    if n == 0:
        raise InputError(f"{p}: holds no frames")
    yuv_matrix = matrix or stated_matrix or DEFAULT_MATRIX
    yuv_range = range or stated_range or DEFAULT_RANGE
    if is_rgb:
        m, r, assumed = "rgb", "full", False
    else:
        m, r = yuv_matrix, yuv_range
        assumed = (matrix is None and stated_matrix is None) or (range is None and stated_range is None)
    return VideoInfo(p, w, h, Fraction(rate), n, source, pix_fmt, bits, m, r, assumed, has_audio, yuv_matrix, yuv_range)


def _info(path_or_info: str | Path | VideoInfo, options: dict[str, Any]) -> VideoInfo:
    if isinstance(path_or_info, VideoInfo):
        return probe(path_or_info.path, **options) if options else path_or_info
    return probe(path_or_info, **options)


def _frames(info: VideoInfo) -> Iterator[_Frame]:
    if info.source == "y4m":
        return _frames_y4m(info.path)
    if info.source == "yuv":
        return _frames_raw(info)
    if info.source == "png":
        return _frames_png(info)
    return _frames_container(info)


def read_rgb(path_or_info: str | Path | VideoInfo, **options: Any) -> Iterator[np.ndarray]:
    """The frames as uint8 RGB [H, W, 3], one at a time (options as :func:`probe`; a
    :class:`VideoInfo` is used as it is). YUV is reduced to 8 bits, then converted with the
    source's matrix and range (nearest-neighbour chroma)."""
    info = _info(path_or_info, options)
    for fr in _frames(info):
        yield _frame_rgb(fr, info)


def read_yuv420(path_or_info: str | Path | VideoInfo, **options: Any) -> Iterator[Planes]:
    """The frames as uint8 planes Y [H, W], U, V [ceil(H/2), ceil(W/2)], one at a time (options
    as :func:`probe`). More than 8 bits are reduced by the stated rule; 4:2:2 / 4:4:4 chroma is
    the 2x2 mean; RGB sources are converted with `yuv_matrix` / `yuv_range`."""
    info = _info(path_or_info, options)
    for fr in _frames(info):
        yield _frame_yuv420(fr, info)


# --------------------------------------------------------------------------- writing

_FRAME_NAME = re.compile(r"f[0-9]{5,}\.png")


def output_kind(path: str | Path) -> str:
    """What :class:`VideoWriter` writes for `path`: "y4m", "mkv" or "png" (a frame folder), or
    InputError naming the supported outputs."""
    p = Path(path)
    if p.is_dir() or not p.suffix:
        return "png"
    ext = p.suffix.lower()
    if ext not in VIDEO_OUTPUT_SUFFIXES:
        raise InputError(f"cannot write video as {ext!r} ({p}); use .y4m, .mkv or a folder (a path without suffix)")
    return ext[1:]


class VideoWriter:
    """Writes uint8 RGB frames [H, W, 3] to `path`, chosen by its suffix:

    - ``.y4m``: Y4M C420jpeg 8-bit (:func:`rgb_to_yuv420` with the policy's matrix and range,
      default BT.709 limited; stated by ``XCOLORRANGE`` and ``XCOLORMATRIX`` tags);
    - ``.mkv``: lossless RGB (bgr0) FFV1 in Matroska;
    - no suffix, or an existing folder: PNG frames f00001.png, f00002.png, ...

    Files are written under a temporary name and renamed on success (:func:`atomic_path`); a
    frame folder is written in a temporary folder and moved in place. An existing output (a
    file, or a folder already holding fNNNNN.png frames) is refused unless `force`. Use as a
    context manager; :meth:`close` finishes the output.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction, policy: dict | None = None,
                 force: bool = False) -> None:
        check_image_size(width, height, str(path))
        self.path, self.width, self.height, self.force = Path(path), int(width), int(height), force
        self.fps = _fps(fps) or RAW_FPS
        policy = policy or {}
        m = policy.get("yuv_matrix") or policy.get("matrix")
        r = policy.get("yuv_range") or policy.get("range")
        self.matrix = m if m in MATRICES else DEFAULT_MATRIX
        self.range = r if r in RANGES else DEFAULT_RANGE
        self.kind = output_kind(self.path)
        self.frames = 0
        self._stack = contextlib.ExitStack()
        self._closed = False
        self._f: IO[bytes] | None = None
        self._c: Any = None
        if self.kind == "png":
            self._open_folder()
            return
        tmp = self._stack.enter_context(atomic_path(self.path, force))
        try:
            if self.kind == "y4m":
                self._f = open(tmp, "wb")
                self._f.write(self._y4m_header())
            else:
                self._open_mkv(tmp)
        except BaseException:
            self._abort()
            raise

    # ---- per format

    def _y4m_header(self) -> bytes:
        f = self.fps
        return (f"YUV4MPEG2 W{self.width} H{self.height} F{f.numerator}:{f.denominator} Ip A1:1 C420jpeg "
                f"XYSCSS=420JPEG XCOLORRANGE={self.range.upper()} XCOLORMATRIX={self.matrix.upper()}\n").encode()

    def _open_mkv(self, tmp: Path) -> None:
        import av

        self._c = av.open(str(tmp), "w", format="matroska", container_options={"fflags": "+bitexact"})
        s = self._c.add_stream("ffv1", rate=self.fps)
        s.width, s.height, s.pix_fmt = self.width, self.height, "bgr0"
        s.codec_context.options = {"level": "3", "slicecrc": "1", "threads": "1"}
        self._s = s

    def _open_folder(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise OutputExistsError(f"{p} exists and is not a folder (PNG frames are written to a folder)")
        if p.is_dir() and not self.force and any(_FRAME_NAME.fullmatch(q.name) for q in p.iterdir()):
            raise OutputExistsError(f"{p} already holds frames fNNNNN.png (use -f/--force to overwrite them)")
        self._tmpdir = p.parent / f".nc-{secrets.token_hex(4)}.part"
        self._tmpdir.mkdir()

    # ---- frames

    def write(self, rgb: np.ndarray) -> None:
        """Add one frame: uint8 RGB [height, width, 3]."""
        if self._closed:
            raise InputError(f"{self.path}: the writer is closed")
        a = np.asarray(rgb)
        if a.dtype != np.uint8 or a.shape != (self.height, self.width, 3):
            raise InputError(f"{self.path}: expected uint8 RGB frames [{self.height}, {self.width}, 3], "
                             f"got {a.dtype} {list(a.shape)}")
        self.frames += 1
        _check_frames(self.frames, self.path)
        if self.kind == "y4m":
            assert self._f is not None
            y, u, v = rgb_to_yuv420(a, self.matrix, self.range)
            self._f.write(b"FRAME\n")
            for plane in (y, u, v):
                self._f.write(plane.tobytes())
        elif self.kind == "mkv":
            import av

            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
            fr.pts = self.frames - 1
            fr.time_base = 1 / self.fps
            for pkt in self._s.encode(fr):
                self._c.mux(pkt)
        else:
            from neurocodec.io.images import save_image

            save_image(a, self._tmpdir / f"f{self.frames:05d}.png")

    def close(self) -> None:
        """Finish the output and move it into place (InputError if no frame was written)."""
        if self._closed:
            return
        if self.frames == 0:
            self._abort()
            raise InputError(f"{self.path}: no frames were written")
        try:
            if self.kind == "y4m":
                assert self._f is not None
                self._f.close()
            elif self.kind == "mkv":
                for pkt in self._s.encode(None):
                    self._c.mux(pkt)
                self._c.close()
            else:
                self._finish_folder()
        except BaseException:
            self._abort()
            raise
        self._closed = True
        self._stack.close()  # fsync and rename

    def _finish_folder(self) -> None:
        p = self.path
        if not p.exists():
            os.rename(self._tmpdir, p)
            return
        if self.force:
            for q in p.iterdir():
                if _FRAME_NAME.fullmatch(q.name):
                    q.unlink()
        elif any(_FRAME_NAME.fullmatch(q.name) for q in p.iterdir()):
            raise OutputExistsError(f"{p} already holds frames fNNNNN.png (use -f/--force to overwrite them)")
        for q in sorted(self._tmpdir.iterdir()):
            os.replace(q, p / q.name)
        self._tmpdir.rmdir()

    def _abort(self) -> None:
        """Drop the partial output."""
        self._closed = True
        with contextlib.suppress(Exception):
            if self._f is not None:
                self._f.close()
        with contextlib.suppress(Exception):
            if self._c is not None:
                self._c.close()
        if self.kind == "png":
            if hasattr(self, "_tmpdir"):
                shutil.rmtree(self._tmpdir, ignore_errors=True)
        else:
            with contextlib.suppress(Exception):
                self._stack.__exit__(InputError, InputError("aborted"), None)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._abort()
