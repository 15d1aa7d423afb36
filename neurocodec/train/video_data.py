"""Video data for training the video codec: frame sequences in the Vimeo-90k layout
(``sequences/<group>/<clip>/im1.png .. im7.png``) plus synthetic motion made from still photos.

Every sample is ``frames`` consecutive frames, float [T, 3, S, S] in [0, 1] (S = `patch_size`),
a pure function of (seed, sample id) like the image crops (:class:`~.image_data.CropSampler`
hands out the ids, so resumed and DDP runs draw what an uninterrupted run draws).

- **Vimeo-90k**: a random S x S window of a septuplet, T consecutive frames from a random start,
  random horizontal flip and temporal reversal.
- **Synthetic motion** (fraction `synthetic`): a photo downscaled by a random factor in
  [0.4, 0.8] (about the scale of video content), then a window moving along a straight path
  with a random sub-pixel velocity of up to `max_speed` px per frame, a slight zoom, and a
  second, smaller patch of another photo moving on its own path over it (an occluding object);
  frames sampled bilinearly.

Evaluation clips (HEVC CTC, Xiph, OpenH264, Big Buck Bunny) are never read here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from neurocodec.data import data_path
from neurocodec.errors import InputError
from neurocodec.io.images import list_images, load_image
from neurocodec.train.image_data import CropSampler

log = logging.getLogger(__name__)


def vimeo_clips(root: str | Path) -> list[list[Path]]:
    """The frame lists of every septuplet under `root` (which holds ``sequences/``)."""
    root = Path(root)
    seq = root / "sequences" if (root / "sequences").is_dir() else root
    clips = []
    for clip in sorted(p for p in seq.glob("*/*") if p.is_dir()):
        frames = sorted(clip.glob("im*.png"), key=lambda p: int(p.stem[2:]))
        if frames:
            clips.append(frames)
    if not clips:
        raise InputError(f"no Vimeo-90k septuplets (sequences/*/*/im1.png ...) under {root}")
    return clips


def _load_clip(frames: list[Path]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(load_image(p)).permute(2, 0, 1) for p in frames])  # uint8 [T, 3, H, W]


class VideoSequences(Dataset):
    """Training samples (see the module docstring); clips and photos are held in memory as uint8."""

    def __init__(self, clips: list[torch.Tensor], photos: list[torch.Tensor], size: int, frames: int, length: int,
                 synthetic: float = 0.5, max_speed: float = 8.0, seed: int = 0) -> None:
        if not clips and not photos:
            raise InputError("no training clips or photos")
        self.clips, self.photos = clips, photos
        self.size, self.frames, self.length = size, frames, length
        self.synthetic = synthetic if clips else 1.0
        if not photos:
            self.synthetic = 0.0
        self.max_speed, self.seed = max_speed, int(seed)
        for c in clips:
            if c.shape[0] < frames or min(c.shape[-2:]) < size:
                raise InputError(f"a clip of {c.shape[0]} frames {c.shape[-1]}x{c.shape[-2]} is too small for {frames} x {size}px")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((self.seed * 0x9E3779B1 + int(i) * 0x85EBCA6B) % (1 << 63))
        if float(torch.rand((), generator=g)) < self.synthetic:
            return self._synthetic(g)
        return self._vimeo(g)

    def _vimeo(self, g: torch.Generator) -> torch.Tensor:
        clip = self.clips[int(torch.randint(len(self.clips), (), generator=g))]
        t0 = int(torch.randint(clip.shape[0] - self.frames + 1, (), generator=g))
        top = int(torch.randint(clip.shape[2] - self.size + 1, (), generator=g))
        left = int(torch.randint(clip.shape[3] - self.size + 1, (), generator=g))
        x = clip[t0 : t0 + self.frames, :, top : top + self.size, left : left + self.size].float() / 255.0
        if int(torch.randint(2, (), generator=g)):
            x = x.flip(-1)
        if int(torch.randint(2, (), generator=g)):
            x = x.flip(0)
        return x

    def _path(self, photo: torch.Tensor, g: torch.Generator, size: int, speed: float) -> torch.Tensor:
        """`frames` windows of `size` px of a photo moving along a straight path: [T, 3, size, size]."""
        scale = 0.4 + 0.4 * float(torch.rand((), generator=g))
        h, w = photo.shape[-2:]
        sh, sw = max(int(h * scale), size + 2), max(int(w * scale), size + 2)
        img = F.interpolate(photo[None].float() / 255.0, size=(sh, sw), mode="bilinear", antialias=True, align_corners=False)
        v = (torch.rand(2, generator=g) * 2 - 1) * speed  # px per frame (x, y)
        zoom = 1.0 + (float(torch.rand((), generator=g)) * 2 - 1) * 0.01  # per frame
        span = v.abs() * (self.frames - 1) + size * (zoom ** (self.frames - 1))
        fx = float(torch.rand((), generator=g)) * max(sw - 1 - float(span[0]), 0)
        fy = float(torch.rand((), generator=g)) * max(sh - 1 - float(span[1]), 0)
        x0 = fx + (float(span[0]) - size if v[0] < 0 else 0.0)  # start so that the path stays inside
        y0 = fy + (float(span[1]) - size if v[1] < 0 else 0.0)
        out = []
        base = torch.arange(size, dtype=torch.float32)
        for t in range(self.frames):
            z = zoom**t
            xs = (x0 + v[0] * t + base * z).clamp(0, sw - 1)
            ys = (y0 + v[1] * t + base * z).clamp(0, sh - 1)
            grid = torch.stack(torch.meshgrid(ys / (sh - 1) * 2 - 1, xs / (sw - 1) * 2 - 1, indexing="ij")[::-1], -1)
            out.append(F.grid_sample(img, grid[None], mode="bilinear", padding_mode="border", align_corners=True)[0])
        return torch.stack(out)

    def _synthetic(self, g: torch.Generator) -> torch.Tensor:
        p = self.photos
        back = self._path(p[int(torch.randint(len(p), (), generator=g))], g, self.size, self.max_speed)
        obj_size = self.size // 4 + int(torch.randint(self.size // 4, (), generator=g))
        obj = self._path(p[int(torch.randint(len(p), (), generator=g))], g, obj_size, self.max_speed / 2)
        v = (torch.rand(2, generator=g) * 2 - 1) * self.max_speed
        x = float(torch.rand((), generator=g)) * (self.size - obj_size)
        y = float(torch.rand((), generator=g)) * (self.size - obj_size)
        for t in range(self.frames):
            xi = int(round(min(max(x + float(v[0]) * t, 0), self.size - obj_size)))
            yi = int(round(min(max(y + float(v[1]) * t, 0), self.size - obj_size)))
            back[t, :, yi : yi + obj_size, xi : xi + obj_size] = obj[t]
        return back.clamp(0, 1)


class ValidationClips(Dataset):
    """Whole held-out septuplets, first `frames` frames: float [T, 3, H, W]."""

    def __init__(self, clips: list[torch.Tensor], frames: int) -> None:
        self.clips, self.frames = clips, frames

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.clips[i][: self.frames].float() / 255.0


class VideoSequenceData(L.LightningDataModule):
    """Vimeo-90k septuplets (default: $NEUROCODEC_DATA/video/vimeo90k_septuplet_sample) plus
    synthetic motion from photos (default: $NEUROCODEC_DATA/train_images/...). The last
    `val_clips` septuplets are held out for validation (I + `val_frames` - 1 P-frames)."""

    def __init__(
        self,
        vimeo_dir: str | None = None,
        photo_dir: str | None = None,
        patch_size: int = 256,
        frames: int = 5,
        batch_size: int = 4,
        samples_per_epoch: int = 2000,
        synthetic: float = 0.5,
        max_speed: float = 8.0,
        val_clips: int = 2,
        val_frames: int = 3,
        workers: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def _dir(self, given: str | None, *default: str) -> Path | None:
        if given:
            if not Path(given).is_dir():
                raise InputError(f"data folder not found: {given}")
            return Path(given)
        return data_path(*default)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        vimeo = self._dir(hp.vimeo_dir, "video", "vimeo90k_septuplet_sample")
        photos_dir = self._dir(hp.photo_dir, "train_images", "wikipedia_photos_downsampled")
        if vimeo is None and photos_dir is None:
            raise InputError("no training data: set NEUROCODEC_DATA or pass vimeo_dir / photo_dir")
        clips = [_load_clip(c) for c in vimeo_clips(vimeo)] if vimeo is not None else []
        n_val = min(hp.val_clips, max(len(clips) - 1, 0))
        train, val = (clips[:-n_val], clips[-n_val:]) if n_val else (clips, [])
        photos = [torch.from_numpy(load_image(p)).permute(2, 0, 1).contiguous() for p in list_images(photos_dir)] if photos_dir else []
        log.info("video training data: %d clips (+%d held out), %d photos", len(train), len(val), len(photos))
        self.train_set = VideoSequences(train, photos, hp.patch_size, hp.frames, hp.samples_per_epoch, hp.synthetic,
                                        hp.max_speed, hp.seed)
        if not val:  # no clips: validate on fixed synthetic samples
            fixed = VideoSequences([], photos, hp.patch_size, hp.val_frames, 2, 1.0, hp.max_speed, hp.seed + 1)
            val = [(fixed[i] * 255).round().to(torch.uint8) for i in range(2)]
        self.val_set = ValidationClips(val, hp.val_frames)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        return DataLoader(self.train_set, batch_size=hp.batch_size, sampler=CropSampler(self.train_set),
                          num_workers=hp.workers, drop_last=True, persistent_workers=hp.workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
