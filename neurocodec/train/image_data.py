"""Image data for training codecs: random crops of a folder of photos, Kodak for validation."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from neurocodec.data import data_path
from neurocodec.errors import InputError
from neurocodec.io.images import list_images, load_image

log = logging.getLogger(__name__)


class RandomCrops(Dataset):
    """Random `size` x `size` crops (with horizontal flips) of images held in memory.

    Sample ``i`` is a pure function of (seed, i): any integer i is a sample, `length` is the
    number per epoch. :class:`CropSampler` hands each rank and each epoch its own ids, so ranks
    never draw the same crops, and a resumed run draws the crops of an uninterrupted one.
    """

    def __init__(self, folder: str | Path, size: int, length: int, seed: int = 0) -> None:
        paths = list_images(folder)
        if not paths:
            raise InputError(f"no images in {folder}")
        self.images = [torch.from_numpy(load_image(p)).permute(2, 0, 1).contiguous() for p in paths]
        small = [p.name for p, im in zip(paths, self.images) if min(im.shape[1:]) < size]
        if small:
            raise InputError(f"images smaller than the {size}px crop: {small[:5]}")
        self.size, self.length, self.seed = size, length, int(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((self.seed * 0x9E3779B1 + int(i) * 0x85EBCA6B) % (1 << 63))

        def pick(n: int) -> int:
            return int(torch.randint(n, (), generator=g))

        im = self.images[pick(len(self.images))]
        top, left = pick(im.shape[1] - self.size + 1), pick(im.shape[2] - self.size + 1)
        crop = im[:, top : top + self.size, left : left + self.size]
        if pick(2):
            crop = crop.flip(-1)
        return crop.float().div(255.0)


class CropSampler(DistributedSampler):
    """Sample ids for :class:`RandomCrops`: epoch e on rank r of W gets
    e * length + r, e * length + r + W, ... (length / W ids). A DistributedSampler, so Lightning
    keeps it under DDP and calls :meth:`set_epoch` every epoch; one process is rank 0 of 1."""

    def __init__(self, dataset: RandomCrops) -> None:
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        rank = dist.get_rank() if world > 1 else 0
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=False, drop_last=True)
        self.length = len(dataset)

    def __iter__(self):  # noqa: ANN204
        start = self.epoch * self.length + self.rank
        return iter(range(start, start + self.num_samples * self.num_replicas, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


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
        seed: int = 0,
    ) -> None:
        """Under DDP each rank takes samples_per_epoch / world_size crops per epoch (all
        different); batch_size is per rank, so the effective batch is batch_size * world_size."""
        super().__init__()
        self.save_hyperparameters()

    def _dir(self, given: str | None, *default: str) -> Path:
        p = Path(given) if given else data_path(*default)
        if p is None or not p.is_dir():
            raise InputError(f"data folder not found: {given or '/'.join(default)} (set NEUROCODEC_DATA or pass the folder)")
        return p

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = RandomCrops(self._dir(hp.train_dir, "train_images", "wikipedia_photos_downsampled"), hp.patch_size,
                                     hp.samples_per_epoch, hp.seed)
        self.val_set = FullImages(self._dir(hp.val_dir, "kodak"), hp.val_images)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        return DataLoader(self.train_set, batch_size=hp.batch_size, sampler=CropSampler(self.train_set), num_workers=hp.workers,
                          drop_last=True, persistent_workers=hp.workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
