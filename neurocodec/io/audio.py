"""Audio files in and out through PyAV (FFmpeg): any container and codec it decodes, streamed.

Reading yields float32 blocks [C, t] in [-1, 1] at a chosen rate (libswresample, which keeps
the signal aligned in time); writing takes float blocks at one rate and writes another rate
with an exact sample count. `torchaudio.load` is not used: since torchaudio 2.9 it needs
torchcodec and a system FFmpeg.

Channels: the codecs code mono; :func:`downmix` averages the channels (the level of a signal
present in every channel is kept). `--keep-channels` codes each channel instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from neurocodec.errors import InputError
from neurocodec.io.formats import AUDIO_OUTPUT_SUFFIXES, AUDIO_SUFFIXES, AV_SUFFIXES  # noqa: F401 (re-exported)

# output formats by extension: (container format, codec, sample format, kwargs)
WRITERS: dict[str, tuple[str, str, str]] = {
    ".wav": ("wav", "pcm_s16le", "s16"),
    ".flac": ("flac", "flac", "s16"),
    ".mp3": ("mp3", "libmp3lame", "fltp"),
    ".ogg": ("ogg", "libopus", "flt"),
    ".opus": ("opus", "libopus", "flt"),
    ".m4a": ("ipod", "aac", "fltp"),
}
BLOCK = 1 << 16  # samples per block handed on by the readers


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds: native rate, channels, and its duration (seconds, from the container;
    may be approximate for streams without an index)."""

    rate: int
    channels: int
    duration: float


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p} is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"{p} is not an audio file PyAV can read ({type(e).__name__}: {e})") from None


def _stream(c: av.container.InputContainer, path: str | Path) -> av.audio.stream.AudioStream:
    if not c.streams.audio:
        kinds = ", ".join(sorted({s.type for s in c.streams})) or "none"
        raise InputError(f"{path} has no audio stream (streams: {kinds})")
    return c.streams.audio[0]


def probe(path: str | Path) -> AudioInfo:
    """Rate, channels and duration of the first audio stream."""
    with _open(path) as c:
        s = _stream(c, path)
        dur = float(s.duration * s.time_base) if s.duration else (c.duration / 1e6 if c.duration else math.nan)
        return AudioInfo(int(s.rate or s.codec_context.sample_rate), int(s.channels or s.codec_context.channels), dur)


def stream(path: str | Path, rate: int | None = None) -> Iterator[np.ndarray]:
    """float32 blocks [C, t] of the first audio stream, resampled to `rate` (None: native).

    Raises InputError for files without audio, undecodable data and non-finite samples.
    """
    with _open(path) as c:
        s = _stream(c, path)
        layout = s.layout.name if s.layout else None
        res = av.AudioResampler(format="fltp", layout=layout, rate=rate or s.rate)
        pending: list[np.ndarray] = []
        held = 0

        def emit(frames: list[av.AudioFrame]) -> Iterator[np.ndarray]:
            nonlocal held
            for fr in frames:
                a = fr.to_ndarray()
                if a.size and not np.isfinite(a).all():
                    raise InputError(f"{path} holds samples that are not finite numbers (NaN or infinity)")
                pending.append(a)
                held += a.shape[-1]
            while held >= BLOCK:
                block = np.concatenate(pending, -1)
                yield block[:, :BLOCK]
                rest = block[:, BLOCK:]
                pending[:] = [rest] if rest.shape[-1] else []
                held = rest.shape[-1]

        try:
            for frame in c.decode(s):
                frame.pts = None
                yield from emit(res.resample(frame))
            yield from emit(res.resample(None))
        except av.error.FFmpegError as e:
            raise InputError(f"{path}: audio cannot be decoded ({type(e).__name__}: {e})") from None
        if held:
            yield np.concatenate(pending, -1)


def read(path: str | Path, rate: int | None = None) -> np.ndarray:
    """The whole first audio stream as float32 [C, T] (see :func:`stream`)."""
    blocks = list(stream(path, rate))
    if not blocks:
        raise InputError(f"{path} holds no audio samples")
    return np.concatenate(blocks, -1)


def downmix(x: np.ndarray) -> np.ndarray:
    """[C, t] -> [1, t], the mean of the channels."""
    return x if x.shape[0] == 1 else x.mean(0, keepdims=True, dtype=np.float64).astype(np.float32)


def check_output(path: str | Path) -> str:
    """The writer's container for `path`'s extension, or InputError naming the supported ones."""
    ext = Path(path).suffix.lower()
    if ext not in WRITERS:
        raise InputError(f"cannot write audio as {ext or 'a file without extension'!r} ({path}); "
                         f"use one of {', '.join(WRITERS)}")
    return ext


_LAYOUTS = {1: "mono", 2: "stereo"}


class Writer:
    """Writes float blocks [C, t] given at `rate_in` as a file at `rate_out` with exactly
    `samples` samples per channel (the resampler's output is trimmed or zero-padded at the end).

    Use as a context manager; :meth:`close` finishes the file.
    """

    def __init__(self, path: str | Path, rate_in: int, rate_out: int, channels: int, samples: int,
                 bitrate: int | None = None) -> None:
        ext = check_output(path)
        fmt, codec, sample_fmt = WRITERS[ext]
        self.channels, self.samples, self.written = channels, samples, 0
        layout = _LAYOUTS.get(channels)
        if layout is None:  # FFmpeg's default layout for that many channels ("3c" -> "2.1", "6c" -> "5.1")
            layout = av.AudioLayout(f"{channels}c").name
        self.layout = layout
        rate_codec = rate_out
        if codec == "libopus" and rate_out not in (8000, 12000, 16000, 24000, 48000):
            raise InputError(f"Opus cannot store {rate_out} Hz audio; write .wav or .flac")
        self.c = av.open(str(path), "w", format=fmt)
        self.s = self.c.add_stream(codec, rate=rate_codec, layout=layout)
        self.s.format = sample_fmt
        if bitrate:
            self.s.bit_rate = bitrate
        self.res_in = av.AudioResampler(format="fltp", layout=layout, rate=rate_out) if rate_in != rate_out else None
        self.rate_in = rate_in
        self.enc_res = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate_codec,
                                         frame_size=self.s.codec_context.frame_size or None)

    def _put(self, a: np.ndarray) -> None:
        a = a[:, : self.samples - self.written]
        if not a.shape[-1]:
            return
        self.written += a.shape[-1]
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(a, dtype=np.float32), format="fltp", layout=self.layout)
        f.sample_rate = self.s.rate
        for g in self.enc_res.resample(f):
            for pkt in self.s.encode(g):
                self.c.mux(pkt)

    def write(self, block: np.ndarray) -> None:
        """Add float32 samples [C, t] at rate_in."""
        block = np.clip(np.asarray(block, dtype=np.float32), -1.0, 1.0)
        if self.res_in is None:
            self._put(block)
            return
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=self.layout)
        f.sample_rate = self.rate_in
        for g in self.res_in.resample(f):
            self._put(g.to_ndarray())

    def close(self) -> None:
        if self.res_in is not None:
            for g in self.res_in.resample(None):
                self._put(g.to_ndarray())
        while self.written < self.samples:
            self._put(np.zeros((self.channels, min(BLOCK, self.samples - self.written)), np.float32))
        for g in self.enc_res.resample(None):
            for pkt in self.s.encode(g):
                self.c.mux(pkt)
        for pkt in self.s.encode(None):
            self.c.mux(pkt)
        self.c.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.c.close()


def write(path: str | Path, x: np.ndarray, rate: int, bitrate: int | None = None) -> None:
    """Write float32 [C, T] at `rate` (same rate and length in the file)."""
    x = np.atleast_2d(x)
    with Writer(path, rate, rate, x.shape[0], x.shape[-1], bitrate) as w:
        for i in range(0, x.shape[-1], BLOCK):
            w.write(x[:, i : i + BLOCK])
