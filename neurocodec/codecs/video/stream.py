"""Video ``.bin`` files, written and read one frame at a time through the shared container
(:class:`~neurocodec.bitstream.StreamWriter` / :class:`~neurocodec.bitstream.StreamReader`).

Layout: the container header (codec ``hytip``, its weights hash, and metadata: ``width``,
``height``, ``fps`` [num, den], ``frames``, ``gop``, ``quality``, ``color`` (the source's
colour policy, see :mod:`neurocodec.io.video`), ``intra`` {codec, hash, quality} and
``motion`` (the encoder's motion estimator, for the record)), then one CRC-protected section
per frame named ``I<index>`` or ``P<index>``. I-frames are exactly the frames whose index is a
multiple of ``gop``. A section holds the frame's coded streams, each as a varint name length,
name, varint length and bytes (an I-frame: exactly the image codec's sections).

Memory does not grow with the clip: the encoder and the decoder hold one frame and the buffer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO, Iterator

import numpy as np
import torch

from neurocodec import bitstream
from neurocodec.bitstream import _Reader, _varint
from neurocodec.codecs.image.base import check_size
from neurocodec.codecs.video.hytip import Buffer, HyTIP
from neurocodec.codecs.video.motion import flow_estimator
from neurocodec.errors import BitstreamError, InputError, ModelMismatchError, NeurocodecError
from neurocodec.io.images import to_tensor, to_uint8
from neurocodec.io.video import MATRICES, RANGES

log = logging.getLogger(__name__)

MAX_GOP = 1 << 16


def pack_streams(streams: dict[str, bytes]) -> bytes:
    """A frame's coded streams -> one section's bytes."""
    out = bytearray(_varint(len(streams)))
    for name, data in streams.items():
        nb = name.encode("ascii")
        out += _varint(len(nb)) + nb + _varint(len(data)) + data
    return bytes(out)


def unpack_streams(data: bytes) -> dict[str, bytes]:
    r = _Reader(data)
    out: dict[str, bytes] = {}
    for _ in range(r.varint("stream count", 64)):
        name = r.take(r.varint("stream name length", 64), "stream name").decode("ascii", "replace")
        out[name] = r.take(r.varint(f"length of stream {name!r}", r.remaining()), f"stream {name!r}")
    if r.remaining():
        raise BitstreamError(f"{r.remaining()} unexpected bytes after the last stream")
    return out


def frame_type(index: int, gop: int) -> str:
    return "I" if index % gop == 0 else "P"


@dataclass
class FrameStats:
    """What one coded frame cost: its section's bytes in the file (framing included) and the
    coded streams alone."""

    index: int
    type: str
    bytes: int
    stream_bytes: int


class VideoEncoder:
    """Encodes uint8 RGB frames [H, W, 3] one at a time into a .bin written to `f`.

    `frames` is announced in the header; :meth:`close` refuses a clip that ended early, and
    :meth:`encode` one that runs longer."""

    def __init__(self, codec: HyTIP, f: BinaryIO, width: int, height: int, fps: Fraction, frames: int, quality: int,
                 gop: int = 32, color: dict[str, Any] | None = None, estimator: str = "auto") -> None:
        check_size(height, width, InputError)
        if frames < 1:
            raise InputError("the video has no frames")
        if not 1 <= gop <= MAX_GOP:
            raise InputError(f"GOP (intra period) must be 1..{MAX_GOP}, got {gop}")
        fps = Fraction(fps)
        if fps <= 0:
            raise InputError(f"frame rate must be positive, got {fps}")
        self.codec, self.q = codec, codec.level(quality)
        self.width, self.height, self.frames, self.gop = width, height, frames, gop
        self.estimate = flow_estimator(estimator)
        intra = codec.intra
        codec.update()
        intra.update()
        meta = {"width": width, "height": height, "fps": [fps.numerator, fps.denominator], "frames": frames, "gop": gop,
                "quality": int(quality), "color": dict(color or {}),
                "intra": {"codec": intra.name, "hash": intra.weights_hash().hex(), "quality": codec.intra_qualities[int(quality) - 1]},
                "motion": "pyramid" if estimator == "auto" else estimator}
        self.writer = bitstream.StreamWriter(f, codec.name, codec.weights_hash(), meta, frames)
        self.index = 0
        self.buffer: Buffer | None = None

    def encode(self, rgb: np.ndarray) -> tuple[FrameStats, np.ndarray]:
        """Code the next frame; returns its cost and the decoder's frame (uint8 RGB [H, W, 3])."""
        if self.index >= self.frames:
            raise InputError(f"the video has more frames than the {self.frames} announced")
        a = np.asarray(rgb)
        if a.shape != (self.height, self.width, 3) or a.dtype != np.uint8:
            raise InputError(f"frame {self.index}: expected uint8 [{self.height}, {self.width}, 3], got {a.dtype} {a.shape} "
                             "(the frame size changed mid-stream?)")
        x = HyTIP.pad(to_tensor(a))
        kind = frame_type(self.index, self.gop)
        if kind == "I":
            streams, self.buffer = self.codec.encode_intra(x, self.q)
        else:
            flow = self.estimate(x, self.buffer.frame)
            streams, self.buffer = self.codec.encode_inter(x, self.buffer, self.q, flow)
        n = self.writer.section(f"{kind}{self.index}", pack_streams(streams))
        stats = FrameStats(self.index, kind, n, sum(len(v) for v in streams.values()))
        self.index += 1
        return stats, to_uint8(self.buffer.frame[..., : self.height, : self.width])

    @property
    def bytes(self) -> int:
        return self.writer.bytes

    def close(self) -> None:
        if self.index != self.frames:
            raise InputError(f"the video ended after {self.index} frames, not the {self.frames} announced")
        self.writer.close()


class VideoDecoder:
    """Decodes a video .bin from `f` one frame at a time: iterate for uint8 RGB [H, W, 3].

    The header is read and checked on construction (``metadata``, ``width``, ``height``,
    ``frames``, ``gop``, ``fps``); the model must be the one that wrote the file (hytip weights
    and I-frame codec weights, else ModelMismatchError). A corrupt or truncated frame raises
    the BitstreamError of the container or the entropy coder, naming the frame."""

    def __init__(self, codec: HyTIP, f: BinaryIO | bytes) -> None:
        self.reader = bitstream.StreamReader(f, max_sections=bitstream._MAX_SECTIONS_STREAM)
        self.reader.check_model(codec.name, codec.weights_hash())
        meta = self.metadata = self.reader.metadata
        try:
            self.width, self.height = int(meta["width"]), int(meta["height"])
            self.frames, self.gop, quality = int(meta["frames"]), int(meta["gop"]), int(meta["quality"])
            self.fps = Fraction(int(meta["fps"][0]), int(meta["fps"][1]))
            intra = meta["intra"]
            intra_name, intra_hash = str(intra["codec"]), str(intra["hash"])
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
            raise BitstreamError("video .bin lacks width/height/fps/frames/gop/quality/intra") from None
        check_size(self.height, self.width, BitstreamError)
        color = meta.get("color", {})
        m = color.get("yuv_matrix") or color.get("matrix") if isinstance(color, dict) else None
        r = color.get("yuv_range") or color.get("range") if isinstance(color, dict) else None
        if not isinstance(color, dict) or m not in (None, *MATRICES) or r not in (None, *RANGES):
            raise BitstreamError(f"video .bin has a damaged colour policy {color!r}"[:200])
        if self.frames != self.reader.count or not 1 <= self.gop <= MAX_GOP or self.fps <= 0:
            raise BitstreamError("corrupt video .bin header (frame count, GOP or frame rate)")
        if intra_name != codec.intra.name or intra_hash != codec.intra.weights_hash().hex():
            raise ModelMismatchError(
                f"file's I-frames were coded with {intra_name!r} weights {intra_hash}, but the loaded I-frame codec is "
                f"{codec.intra.name!r} {codec.intra.weights_hash().hex()}")
        try:
            self.q = codec.level(quality)
        except InputError:
            raise BitstreamError(f"video .bin has quality {quality}, outside 1..{codec.num_qualities}") from None
        self.codec = codec
        codec.update()
        codec.intra.update()
        self.size = (self.height + (-self.height) % 64, self.width + (-self.width) % 64)

    @property
    def types(self) -> list[str]:
        return [frame_type(i, self.gop) for i in range(self.frames)]

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.decode_tensors():
            yield to_uint8(frame)

    @torch.no_grad()
    def decode_tensors(self) -> Iterator[torch.Tensor]:
        """The decoded frames as float [1, 3, H, W] in [0, 1] (the encoder's reconstruction)."""
        buf: Buffer | None = None
        for i in range(self.frames):
            kind = frame_type(i, self.gop)
            try:
                name, data = self.reader.next_section()
                if name != f"{kind}{i}":
                    raise BitstreamError(f"expected section {kind}{i}, found {name!r}")
                streams = unpack_streams(data)
                if kind == "I":
                    buf = self.codec.decode_intra(streams, self.q, self.size)
                else:
                    buf = self.codec.decode_inter(streams, buf, self.q)
            except BitstreamError as e:
                raise type(e)(f"frame {i} ({kind}) of {self.frames}: {e}") from None
            except NeurocodecError:
                raise
            except (RuntimeError, ValueError) as e:  # shapes that a corrupt stream made inconsistent
                raise BitstreamError(f"frame {i} ({kind}) of {self.frames}: corrupt data ({e})") from None
            yield buf.frame[..., : self.height, : self.width]
