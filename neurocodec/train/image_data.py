"""Image data for training codecs: random crops of a folder of photos, Kodak for validation."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from neurocodec.data import data_path
from neurocodec.errors import InputError
from neurocodec.io.images import list_images, load_image

log = logging.getLogger(__name__)


class RandomCrops(Dataset):
    """`length` random `size` x `size` crops (with horizontal flips) of images held in memory."""

    def __init__(self, folder: str | Path, size: int, length: int) -> None:
        paths = list_images(folder)
        if not paths:
            raise InputError(f"no images in {folder}")
        self.images = [torch.from_numpy(load_image(p)).permute(2, 0, 1).contiguous() for p in paths]
        small = [p.name for p, im in zip(paths, self.images) if min(im.shape[1:]) < size]
        if small:
            raise InputError(f"images smaller than the {size}px crop: {small[:5]}")
        self.size, self.length = size, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        # torch's RNG: seed_everything seeds it, and the DataLoader seeds each worker from it
        def pick(n: int) -> int:
            return int(torch.randint(n, ()))

        im = self.images[pick(len(self.images))]
        top, left = pick(im.shape[1] - self.size + 1), pick(im.shape[2] - self.size + 1)
        crop = im[:, top : top + self.size, left : left + self.size]
        if pick(2):
            crop = crop.flip(-1)
        return crop.float().div(255.0)


class FullImages(Dataset):
    """Whole images (validation); the module pads them as the codec does."""

    def __init__(self, folder: str | Path, limit: int | None = None) -> None:
        self.paths = list_images(folder)[:limit]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(load_image(self.paths[i])).permute(2, 0, 1).float().div(255.0)


class ImageFolderData(L.LightningDataModule):
    """Training crops from `train_dir` (default: $NEUROCODEC_DATA/train_images/...), validation
    on the first `val_images` images of `val_dir` (default: Kodak; never trained on)."""

    def __init__(
        self,
        train_dir: str | None = None,
        val_dir: str | None = None,
        patch_size: int = 256,
        batch_size: int = 16,
        samples_per_epoch: int = 4000,
        val_images: int = 4,
        workers: int = 2,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def _dir(self, given: str | None, *default: str) -> Path:
        p = Path(given) if given else data_path(*default)
        if p is None or not p.is_dir():
            raise InputError(f"data folder not found: {given or '/'.join(default)} (set NEUROCODEC_DATA or pass the folder)")
        return p

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = RandomCrops(self._dir(hp.train_dir, "train_images", "wikipedia_photos_downsampled"), hp.patch_size, hp.samples_per_epoch)
        self.val_set = FullImages(self._dir(hp.val_dir, "kodak"), hp.val_images)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        return DataLoader(self.train_set, batch_size=hp.batch_size, shuffle=False, num_workers=hp.workers, drop_last=True, persistent_workers=hp.workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
