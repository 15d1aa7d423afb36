"""Speech quality metrics of the ``audio`` modality, registered on import (by :mod:`metrics`).

Every metric takes the reference and the decoded signal as float [1, T] at 16 kHz, of equal
length and already aligned (the baselines remove their codec delay; the modality pads or trims
the end), and gives:

- ``pesq_wb``: PESQ wide-band (ITU-T P.862.2, MOS-LQO, -0.5 .. 4.64), the ``pesq`` package;
- ``stoi``: short-time objective intelligibility (Taal et al. 2011, 0 .. 1), ``pystoi``;
- ``si_sdr``: scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019), zero-mean;
- ``mel_distance``: the audio codecs' training loss, :class:`neurocodec.nn.mel.MultiScaleMel`
  (lower is better);
- ``level_db``: the decoded RMS level minus the reference's, in dB (not plotted; the codecs
  promise |level_db| <= 1).

``pesq`` and ``pystoi`` are optional (the ``audio-metrics`` extra): without them the value is
NaN, with one warning per process.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.metrics import PSNR_CAP_DB, Value, register_metric

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Hz
SI_SDR_CAP_DB = PSNR_CAP_DB  # SI-SDR of identical signals (no distortion) is reported as this
_warned: set[str] = set()


def _pair(ref: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two signals as float64 1-d arrays; InputError unless both are [1, T] of one shape."""
    r, d = np.asarray(ref), np.asarray(dec)
    if r.shape != d.shape:
        raise InputError(f"decoded audio has shape {d.shape}, the original {r.shape} (align them first)")
    if r.ndim != 2 or r.shape[0] != 1 or r.shape[1] == 0:
        raise InputError(f"audio must be mono [1, T], got shape {r.shape}")
    return r[0].astype(np.float64), d[0].astype(np.float64)


def _optional(module: str) -> Any:
    """The module, or None with a warning (once per process) when it is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if module not in _warned:
            _warned.add(module)
            log.warning("%s is not installed (pip install 'neurocodec[audio-metrics]'): its metric is reported as NaN",
                        module)
        return None


def pesq_wb(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """PESQ wide-band MOS-LQO of 16 kHz signals; NaN without the package or when PESQ finds no
    speech (silence, under a quarter second)."""
    r, d = _pair(ref, dec)
    pesq = _optional("pesq")
    if pesq is None:
        return {"pesq_wb": math.nan}
    try:
        return {"pesq_wb": float(pesq.pesq(SAMPLE_RATE, r, d, "wb"))}
    except pesq.PesqError as e:
        log.warning("PESQ cannot score this signal (%s: %s): reporting NaN", type(e).__name__, e)
        return {"pesq_wb": math.nan}


def stoi(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """STOI (classic, not extended) of 16 kHz signals (pystoi resamples to 10 kHz); NaN without pystoi."""
    r, d = _pair(ref, dec)
    pystoi = _optional("pystoi")
    if pystoi is None:
        return {"stoi": math.nan}
    return {"stoi": float(pystoi.stoi(r, d, SAMPLE_RATE, extended=False))}


def si_sdr(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """SI-SDR in dB: both signals made zero-mean, the reference scaled to best fit the decoded
    one, 10 log10(|target|^2 / |decoded - target|^2). NaN for a silent reference; capped at
    SI_SDR_CAP_DB."""
    r, d = _pair(ref, dec)
    r, d = r - r.mean(), d - d.mean()
    energy = float(np.dot(r, r))
    if energy == 0:
        return {"si_sdr": math.nan}
    target = (float(np.dot(d, r)) / energy) * r
    noise = float(np.sum((d - target) ** 2))
    signal = float(np.dot(target, target))
    if noise == 0:
        return {"si_sdr": SI_SDR_CAP_DB}
    if signal == 0:
        return {"si_sdr": -SI_SDR_CAP_DB}
    return {"si_sdr": float(min(SI_SDR_CAP_DB, max(-SI_SDR_CAP_DB, 10 * math.log10(signal / noise))))}


@functools.lru_cache(maxsize=1)
def _mel() -> Any:
    from neurocodec.nn.mel import MultiScaleMel

    return MultiScaleMel(SAMPLE_RATE).eval()


def mel_distance(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """Multi-scale log-mel L1 distance (the training loss's definition; 0 for identical signals)."""
    import torch

    r, d = _pair(ref, dec)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small FFTs gain little from more threads, and lose on a busy machine
    try:
        with torch.no_grad():
            v = _mel()(torch.from_numpy(d.astype(np.float32))[None], torch.from_numpy(r.astype(np.float32))[None])
    finally:
        torch.set_num_threads(threads)
    return {"mel_distance": float(v[0])}


def level_db(ref: np.ndarray, dec: np.ndarray) -> dict[str, float]:
    """20 log10(RMS(decoded) / RMS(reference)); NaN when either is silent."""
    r, d = _pair(ref, dec)
    a, b = float(np.sqrt(np.mean(r * r))), float(np.sqrt(np.mean(d * d)))
    return {"level_db": 20 * math.log10(b / a) if a > 0 and b > 0 else math.nan}


register_metric("audio", "pesq-wb", pesq_wb, [Value("pesq_wb", "PESQ-WB", "MOS-LQO")], packages=("pesq",))
register_metric("audio", "stoi", stoi, [Value("stoi", "STOI")], packages=("pystoi",))
register_metric("audio", "si-sdr", si_sdr, [Value("si_sdr", "SI-SDR", "dB")])
register_metric("audio", "mel-distance", mel_distance,
                [Value("mel_distance", "mel distance", higher_is_better=False,
                       definition="multi-scale log-mel L1 (lower is better)")], packages=("torchaudio",))
register_metric("audio", "level", level_db, [Value("level_db", "level change", "dB", plot=False)])
