"""Image I/O (Pillow) with one stated policy for what the image codecs accept.

Codecs take 8-bit RGB. On load:

- RGB (8-bit): as is.
- Grayscale (L, 1, I;16, I, F) and palette images: converted to RGB (gray replicated into the
  three channels); the decoded file is RGB.
- RGBA / LA / PA: accepted only when alpha is fully opaque (alpha is dropped); any transparency
  is refused with :class:`InputError`, since the codecs do not code alpha.
- 16-bit images: reduced to 8 bits by rounding (v * 255 / 65535), with a warning.
- CMYK, YCbCr, LAB: converted to RGB by Pillow.
- Empty (0-pixel) images and images over 2^28 pixels are refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from neurocodec.errors import InputError

log = logging.getLogger(__name__)

MAX_PIXELS = 1 << 28
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def to_rgb8(img: Image.Image, name: str = "image") -> np.ndarray:
    """Apply the policy above: a PIL image -> uint8 array [H, W, 3]."""
    w, h = img.size
    if w == 0 or h == 0:
        raise InputError(f"{name}: empty image ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise InputError(f"{name}: {w}x{h} is too large (at most {MAX_PIXELS} pixels)")
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if hi > 255:
            log.warning("%s: 16-bit image reduced to 8 bits", name)
        g = np.clip(np.round(a * 255.0 / hi), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"))
        if (rgba[:, :, 3] != 255).any():
            raise InputError(
                f"{name}: has transparency; the codecs code RGB only (flatten the alpha first)"
            )
        return np.ascontiguousarray(rgba[:, :, :3])
    if mode in ("RGB;16", "BGR;16") or (mode == "RGB" and np.asarray(img).dtype != np.uint8):
        log.warning("%s: 16-bit image reduced to 8 bits", name)
    return np.array(img.convert("RGB"), dtype=np.uint8)  # a writable copy


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3] (see the module policy)."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            img.load()
            return to_rgb8(img, p.name)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise InputError(f"{p}: cannot read image ({e})") from None


def save_image(rgb: np.ndarray, path: str | Path) -> None:
    """Write uint8 RGB [H, W, 3]; the format follows the suffix (PNG for lossless output)."""
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(path)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [1, 3, H, W] in [0, 1]."""
    if not rgb.flags.writeable:  # e.g. np.asarray of a PIL image; torch wants writable memory
        rgb = rgb.copy()
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255.0).contiguous()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float [1, 3, H, W] in [0, 1] -> uint8 [H, W, 3] (rounded, clipped)."""
    return x[0].clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def list_images(folder: str | Path) -> list[Path]:
    """Image files in a folder (sorted, not recursive)."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
