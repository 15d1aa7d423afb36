"""The ``audio`` modality: 16 kHz mono speech, rate in kbps.

Items are the audio files under a folder, recursively (LibriSpeech's
``<split>/<speaker>/<chapter>/*.flac``); ``--data librispeech-eval`` names the 106 utterances of
test-other, test-clean and dev-clean under ``$NEUROCODEC_DATA/librispeech``. Each item is read
at 16 kHz (libswresample) and its channels averaged: float32 [1, T]. The decoded signal is
compared with it after alignment (the end padded or trimmed to T; the codecs remove their own
delay). Codecs: the classical ``opus``, ``mp3``, ``aac`` and the trained ``dac``, ``snac`` (by
name, or a checkpoint path).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.modalities import CodecUnavailableError, Modality, register_modality
from neurocodec.io.formats import AUDIO_SUFFIXES

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Hz
# the decoded length may differ from the original by at most this (an AAC frame and change)
MAX_LENGTH_SLACK = 2048  # samples
LIBRISPEECH_EVAL = ("librispeech/test-other", "librispeech/test-clean", "librispeech/dev-clean")


def _items(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"data set folder {folder} does not exist")
    items = sorted((p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()),
                   key=lambda p: p.relative_to(folder).as_posix())
    if not items:
        raise InputError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) under {folder}")
    return items


def _load(path: Path) -> np.ndarray:
    from neurocodec.io import audio

    return audio.downmix(audio.read(path, SAMPLE_RATE)).astype(np.float32, copy=False)


def _describe(x: np.ndarray) -> dict[str, Any]:
    n = int(x.shape[-1])
    return {"samples": n, "seconds": n / SAMPLE_RATE, "rate": SAMPLE_RATE}


def _rate(n_bytes: int, size: dict[str, Any]) -> dict[str, float]:
    return {"kbps": 8.0 * n_bytes / size["seconds"] / 1000}


def _codec(name: str) -> Any:
    from neurocodec.evaluate.baselines.audio import CLASSICAL_AUDIO_CODECS, classical_audio_codec

    if name in CLASSICAL_AUDIO_CODECS:
        return classical_audio_codec(name)
    from neurocodec.evaluate.neural_audio import load_neural_audio_codec

    try:
        return load_neural_audio_codec(name)
    except CodecUnavailableError as e:
        raise CodecUnavailableError(f"{e} (classical: {', '.join(CLASSICAL_AUDIO_CODECS)})") from None


def _known() -> list[str]:
    from neurocodec.evaluate.baselines.audio import CLASSICAL_AUDIO_CODECS

    return list(CLASSICAL_AUDIO_CODECS)


def _encode(codec: Any, x: np.ndarray, quality: int) -> bytes:
    data = codec.encode_audio(x, quality)
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{codec.name}.encode_audio returned {type(data).__name__}, not bytes")
    return bytes(data)


def _decode(codec: Any, data: bytes) -> np.ndarray:
    out = np.asarray(codec.decode_audio(data))
    if out.dtype != np.float32 or out.ndim != 2 or out.shape[0] != 1:
        raise InputError(f"{codec.name}.decode_audio returned {out.dtype} {out.shape}, not float32 [1, T]")
    return out


def _align(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The decoded signal `y` with its end padded or trimmed to the original's length."""
    from neurocodec.evaluate.baselines.audio import fit_length

    t = x.shape[-1]
    if abs(y.shape[-1] - t) > MAX_LENGTH_SLACK:
        raise InputError(f"decoded audio has {y.shape[-1]} samples, the original {t}: more than "
                         f"{MAX_LENGTH_SLACK} apart, so the codec's length or delay is wrong")
    return fit_length(y, t)


def _extra(codec: Any, data: bytes, size: dict[str, Any]) -> dict[str, float]:
    payload_bytes = getattr(codec, "payload_bytes", None)
    if payload_bytes is None:
        return {}
    return {"payload_kbps": 8.0 * payload_bytes(data) / size["seconds"] / 1000}


AUDIO = Modality(
    name="audio",
    rate_key="kbps",
    rate_label="kilobits per second",
    list_items=_items,
    load=_load,
    describe=_describe,
    rate=_rate,
    load_codec=_codec,
    encode=_encode,
    decode=_decode,
    known_codecs=_known,
    items_name="utterances",
    align=_align,
    extra=_extra,
    extra_keys=("payload_kbps",),
    data_sets={"librispeech-eval": LIBRISPEECH_EVAL},
)
register_modality(AUDIO)
