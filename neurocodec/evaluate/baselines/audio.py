"""Classical speech/audio codecs through PyAV, as adapters with the neural codecs' shape.

Each adapter has ``name``, ``qualities`` (the default sweep: nominal bitrates in kbps),
``encode_audio(x float32 [1, T] at 16 kHz, kbps) -> bytes`` and ``decode_audio(bytes) ->
float32 [1, T']``, plus ``label``, ``quality_meaning``, ``size_note``, ``settings`` and
``versions`` that the runner records. The bytes are a whole container file in memory, exactly
what is counted for the rate (the real rate differs from the nominal one: container overhead,
VBR, and libopus's floor of about 5.3 kbps at 16 kHz).

- ``opus``: libopus 16 kHz mono, application voip, VBR; an Ogg Opus file.
- ``mp3``: libmp3lame 16 kHz mono (MPEG-2 layer III), CBR; a raw .mp3 with its Xing/LAME tag.
- ``aac``: FFmpeg's native AAC-LC encoder 16 kHz mono, CBR target; an .m4a (MP4) file.

Alignment: every container here signals the encoder's delay (Ogg Opus pre-skip, the LAME tag's
encoder delay and padding, the MP4 edit list), and FFmpeg removes it on decoding, so the decoded
signal starts aligned with the input; the tests check by cross-correlation that the residual lag
is 0 samples. No per-signal lag search is made. Ogg and the LAME tag also give the exact length;
AAC in MP4 ends padded to whole 1024-sample frames, so ``decode_audio(data, length=T)`` (or the
runner's alignment step) pads or trims the end to T.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from neurocodec.errors import InputError, NeurocodecError
from neurocodec.evaluate.baselines.libs import bundled_lib_version, check_quality, pyav_versions

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Hz: the rate of every signal given to and returned by the adapters
# MPEG-2 layer III (the MP3 of 16, 22.05 and 24 kHz) allows these bitrates, in kbps
MPEG2_L3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# no library version strings, fixed Ogg serial numbers: the same input gives the same bytes
BITEXACT = {"fflags": "+bitexact"}


def check_audio(x: np.ndarray) -> np.ndarray:
    """Return `x` as a C-contiguous float32 [1, T] array (T > 0, finite) or raise InputError."""
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[0] != 1 or a.shape[1] == 0 or not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"expected non-empty mono float audio [1, T], got {a.dtype} {a.shape}")
    if not np.isfinite(a).all():
        raise InputError("audio samples are not finite numbers (NaN or infinity)")
    return np.ascontiguousarray(a, dtype=np.float32)


def fit_length(y: np.ndarray, length: int) -> np.ndarray:
    """[C, t] -> [C, length]: the end trimmed, or padded with zeros."""
    if y.shape[-1] >= length:
        return y[..., :length]
    return np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, length - y.shape[-1])])


@dataclass
class ClassicalAudioCodec:
    """A PyAV (FFmpeg) encoder in a container: what the runner reads, encoding and decoding.

    `encoder` / `muxer` / `demuxer` are FFmpeg names; `options` go to the encoder; `allowed`
    (if set) are the only nominal bitrates the format has.
    """

    name: str
    label: str
    qualities: list[int]
    quality_range: tuple[int, int]
    quality_meaning: str
    size_note: str
    encoder: str
    muxer: str
    demuxer: str
    sample_format: str
    options: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)
    allowed: tuple[int, ...] | None = None
    libs: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (av.libs prefix, version function)

    @property
    def settings(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "container": self.muxer, "sample_rate": SAMPLE_RATE, "channels": 1,
                "sample_format": self.sample_format, "options": dict(self.options),
                "container_options": {**BITEXACT, **self.container_options}}

    @property
    def versions(self) -> dict[str, Any]:
        v = pyav_versions()
        for lib, (prefix, fn) in self.libs.items():
            v[lib] = bundled_lib_version(prefix, fn, call=True)
        return v

    def _check_quality(self, quality: int) -> int:
        check_quality(self, quality)
        if self.allowed is not None and int(quality) not in self.allowed:
            raise InputError(f"{self.name}: {quality} kbps is not a bitrate of the format "
                             f"(allowed: {list(self.allowed)})")
        return int(quality)

    def encode_audio(self, x: np.ndarray, quality: int) -> bytes:
        """float32 [1, T] at 16 kHz -> the container file's bytes, at `quality` kbps nominal."""
        import av

        kbps = self._check_quality(quality)
        x = check_audio(x)
        buf = io.BytesIO()
        try:
            with av.open(buf, "w", format=self.muxer, container_options={**BITEXACT, **self.container_options}) as c:
                s = c.add_stream(self.encoder, rate=SAMPLE_RATE, layout="mono")
                s.format = self.sample_format
                s.bit_rate = kbps * 1000
                s.codec_context.options = dict(self.options)
                frame = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = SAMPLE_RATE, 0
                # PyAV converts the sample format and cuts the encoder's frame size itself
                for packet in s.encode(frame):
                    c.mux(packet)
                for packet in s.encode(None):
                    c.mux(packet)
        except av.error.FFmpegError as e:
            raise NeurocodecError(f"{self.name}: {self.encoder} failed at {kbps} kbps: {e}") from None
        return buf.getvalue()

    def decode_audio(self, data: bytes, length: int | None = None) -> np.ndarray:
        """The container file's bytes -> float32 [1, T'] at 16 kHz, the encoder's delay removed
        (as the container signals it). `length`: pad or trim the end to that many samples."""
        import av

        blocks: list[np.ndarray] = []
        try:
            with av.open(io.BytesIO(data), "r", format=self.demuxer) as c:
                if not c.streams.audio:
                    raise InputError(f"{self.name}: the stream holds no audio")
                res = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)
                for fr in c.decode(c.streams.audio[0]):
                    fr.pts = None  # resample continuously; the container already skipped the delay
                    blocks += [g.to_ndarray() for g in res.resample(fr)]
                blocks += [g.to_ndarray() for g in res.resample(None)]
        except (av.error.FFmpegError, ValueError) as e:
            raise InputError(f"{self.name}: cannot decode the stream: {e}") from None
        if not blocks:
            raise InputError(f"{self.name}: the stream decodes to no samples")
        y = np.concatenate(blocks, -1).astype(np.float32, copy=False)
        return y if length is None else fit_length(y, length)


# --------------------------------------------------------------------------- registry

_KBPS = "nominal bitrate in kbps (higher = better); the rate reported is measured from the bytes"

CLASSICAL_AUDIO_CODECS: dict[str, Callable[[], ClassicalAudioCodec]] = {
    "opus": lambda: ClassicalAudioCodec(
        "opus", "Opus (libopus, voip)", [6, 8, 10, 12, 16, 24], (6, 64),
        _KBPS + " (libopus VBR target; it does not go below about 5.3 kbps at 16 kHz)",
        "whole Ogg Opus file (OpusHead and OpusTags headers and Ogg page headers included)",
        "libopus", "ogg", "ogg", "flt",
        {"application": "voip", "vbr": "on", "frame_duration": "20", "compression_level": "10"},
        libs={"libopus": ("libopus", "opus_get_version_string")},
    ),
    "mp3": lambda: ClassicalAudioCodec(
        "mp3", "MP3 (LAME, MPEG-2 layer III)", [8, 16, 24, 32], (8, 160),
        _KBPS + f" (CBR; MPEG-2 layer III bitrates only: {', '.join(map(str, MPEG2_L3_KBPS))})",
        "whole raw .mp3 file (its first frame is the Xing/LAME tag with delay and padding; no ID3 tags)",
        "libmp3lame", "mp3", "mp3", "fltp",
        {"compression_level": "2", "reservoir": "1"}, {"id3v2_version": "0"}, allowed=MPEG2_L3_KBPS,
        libs={"lame": ("libmp3lame", "get_lame_version")},
    ),
    "aac": lambda: ClassicalAudioCodec(
        "aac", "AAC-LC (FFmpeg native)", [12, 16, 20, 24, 32], (8, 128),
        _KBPS + " (FFmpeg's native AAC-LC encoder, CBR target)",
        "whole .m4a (MP4) file: ftyp, moov (sample tables, edit list) and mdat",
        "aac", "ipod", "mov", "fltp",
        {"aac_coder": "twoloop", "profile": "aac_low"},
    ),
}


def classical_audio_codec(name: str) -> ClassicalAudioCodec:
    """Build the classical audio adapter `name` (KeyError if there is none)."""
    return CLASSICAL_AUDIO_CODECS[name]()
