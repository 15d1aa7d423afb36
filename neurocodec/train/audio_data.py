"""Speech data for training audio codecs: LibriSpeech train-clean-100, decoded once into memory.

Training: random crops with gain and polarity augmentation, a pure function of (seed, sample id)
(the :class:`~neurocodec.train.image_data.CropSampler` scheme, so DDP ranks and resumed runs
draw their own crops). Validation: `val_utterances` utterances of the same split held out from
training (the last ones in sorted order). test-other, test-clean and dev-clean are evaluation
only: this module refuses them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from neurocodec.codecs.audio.base import TARGET_DBFS
from neurocodec.data import data_path
from neurocodec.errors import InputError
from neurocodec.io import audio
from neurocodec.io.formats import AUDIO_SUFFIXES
from neurocodec.train.image_data import CropSampler

log = logging.getLogger(__name__)
EVALUATION_SPLITS = ("test-other", "test-clean", "dev-clean")


def list_utterances(folder: str | Path) -> list[Path]:
    """Audio files under a LibriSpeech split, sorted by utterance id."""
    return sorted((p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES), key=lambda p: p.stem)


def normalise(x: np.ndarray, dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Scale a signal to an RMS of `dbfs` (silence is left as it is)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return x if rms == 0 else (x * (10 ** (dbfs / 20) / rms)).astype(np.float32)


class SpeechCrops(Dataset):
    """Crops of `length` samples from utterances held in memory (each normalised to
    TARGET_DBFS); augmentation: gain in +-`gain_db` dB and a random polarity."""

    def __init__(self, signals: list[np.ndarray], length: int, epoch_size: int, seed: int = 0, gain_db: float = 6.0) -> None:
        self.signals = [torch.from_numpy(normalise(s)) for s in signals if s.shape[-1] >= length]
        if not self.signals:
            raise InputError(f"no utterance is longer than the {length}-sample crop")
        self.weights = torch.tensor([float(s.shape[-1]) for s in self.signals], dtype=torch.float64)
        self.length, self.epoch_size, self.seed, self.gain_db = length, epoch_size, int(seed), gain_db

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((self.seed * 0x9E3779B1 + int(i) * 0x85EBCA6B) % (1 << 63))
        s = self.signals[int(torch.multinomial(self.weights, 1, generator=g))]
        start = int(torch.randint(s.shape[-1] - self.length + 1, (), generator=g))
        gain = 10 ** ((float(torch.rand((), generator=g)) * 2 - 1) * self.gain_db / 20)
        sign = -1.0 if bool(torch.randint(2, (), generator=g)) else 1.0
        return (s[start : start + self.length] * (gain * sign)).clamp(-1, 1)[None]


class Utterances(Dataset):
    """Whole utterances [1, T] (validation), normalised like the training crops."""

    def __init__(self, signals: list[np.ndarray]) -> None:
        self.signals = [torch.from_numpy(normalise(s))[None] for s in signals]

    def __len__(self) -> int:
        return len(self.signals)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.signals[i]


class LibriSpeechData(L.LightningDataModule):
    """LibriSpeech `split` (default train-clean-100 under $NEUROCODEC_DATA/librispeech): crops of
    `crop` samples for training, the last `val_utterances` utterances (at most `val_seconds`
    each) held out for validation."""

    def __init__(self, root: str | None = None, split: str = "train-clean-100", crop: int = 8000, batch_size: int = 8,
                 samples_per_epoch: int = 800, val_utterances: int = 6, val_seconds: float = 6.0, workers: int = 0,
                 seed: int = 0, limit: int | None = None) -> None:
        """limit: use only the first `limit` training utterances (smoke tests)."""
        super().__init__()
        if split in EVALUATION_SPLITS:
            raise InputError(f"{split} is an evaluation split: train on train-clean-100")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        folder = Path(hp.root) / hp.split if hp.root else data_path("librispeech", hp.split)
        if folder is None or not folder.is_dir():
            raise InputError(f"LibriSpeech {hp.split} not found (set NEUROCODEC_DATA or pass root=)")
        paths = list_utterances(folder)
        if len(paths) <= hp.val_utterances:
            raise InputError(f"{folder} holds {len(paths)} utterances; need more than {hp.val_utterances}")
        train_p, val_p = paths[: len(paths) - hp.val_utterances], paths[len(paths) - hp.val_utterances :]
        if hp.limit:
            train_p = train_p[: hp.limit]
        sr = 16_000
        train = [audio.downmix(audio.read(p, sr))[0] for p in train_p]
        val = [audio.downmix(audio.read(p, sr))[0][: int(hp.val_seconds * sr)] for p in val_p]
        log.info("LibriSpeech %s: %d training utterances (%.1f min), %d held out", hp.split, len(train),
                 sum(len(s) for s in train) / sr / 60, len(val))
        self.train_set = SpeechCrops(train, hp.crop, hp.samples_per_epoch, hp.seed)
        self.val_set = Utterances(val)
        self.val_ids = [p.stem for p in val_p]

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        return DataLoader(self.train_set, batch_size=hp.batch_size, sampler=CropSampler(self.train_set),
                          num_workers=hp.workers, drop_last=True, persistent_workers=hp.workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
