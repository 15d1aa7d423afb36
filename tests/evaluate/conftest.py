"""Fixtures: Kodak and LibriSpeech from $NEUROCODEC_DATA (tests skip with a reason without them),
small crops, a synthetic speech-like signal, and a tiny untrained audio codec checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("NEUROCODEC_DATA", REPO.parent / "shared" / "data"))
KODAK = DATA / "kodak"
SHARED_REFERENCE = REPO.parent / "shared" / "reference" / "kodak_published.json"
LIBRISPEECH = DATA / "librispeech"
AUDIO_RATE = 16_000


@pytest.fixture(scope="session")
def kodak() -> Path:
    if not (KODAK / "kodim01.png").exists():
        pytest.skip(f"Kodak not found at {KODAK} (set NEUROCODEC_DATA)")
    return KODAK


@pytest.fixture(scope="session")
def kodak_crop(kodak: Path) -> np.ndarray:
    """A 192x256 crop of kodim23 (parrots): big enough for MS-SSIM's five scales."""
    from PIL import Image

    img = np.asarray(Image.open(kodak / "kodim23.png").convert("RGB"))
    return np.ascontiguousarray(img[160:352, 256:512])


@pytest.fixture(scope="session")
def crop_folder(tmp_path_factory: pytest.TempPathFactory, kodak: Path) -> Path:
    """A data set of three 192x192 Kodak crops saved as PNG."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("crops")
    for name in ("kodim03.png", "kodim07.png", "kodim23.png"):
        img = np.asarray(Image.open(kodak / name).convert("RGB"))
        Image.fromarray(img[100:292, 200:392]).save(folder / name)
    return folder


@pytest.fixture(scope="session")
def librispeech() -> Path:
    """$NEUROCODEC_DATA/librispeech with the evaluation splits (test-other, test-clean, dev-clean)."""
    splits = [LIBRISPEECH / s for s in ("test-other", "test-clean", "dev-clean")]
    if not all(s.is_dir() and any(s.rglob("*.flac")) for s in splits):
        pytest.skip(f"LibriSpeech test-other/test-clean/dev-clean not found under {LIBRISPEECH} (set NEUROCODEC_DATA)")
    return LIBRISPEECH


@pytest.fixture(scope="session")
def speech(librispeech: Path) -> np.ndarray:
    """The first test-clean utterance, float32 [1, T] at 16 kHz (about 10 s)."""
    from neurocodec.io import audio

    path = sorted((librispeech / "test-clean").rglob("*.flac"))[0]
    return audio.downmix(audio.read(path, AUDIO_RATE))


def speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A synthetic voiced signal, float32 [1, T] at 16 kHz: a 110-180 Hz gliding harmonic series
    (1/k amplitudes up to 4 kHz) under a 4 Hz syllable envelope, plus a little white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    f0 = 145 + 35 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, int(4000 / 180) + 1))
    env = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) ** 2
    x = 0.1 * x * env + 0.003 * rng.standard_normal(t.size)
    return x.astype(np.float32)[None]


@pytest.fixture(scope="session")
def tiny_dac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained `dac` (3 stages of 64 codes) saved as a checkpoint file."""
    import torch

    from neurocodec.codecs import registry

    torch.manual_seed(0)
    codec = registry.build("dac", enc_channels=4, dec_channels=32, latent=8, n_q=3, codebook_size=64).eval()
    return registry.save_checkpoint(codec, tmp_path_factory.mktemp("tiny") / "tiny-dac.pt")
