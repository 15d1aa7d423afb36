"""Image I/O (Pillow) with one stated policy for what the image codecs accept.

Codecs take 8-bit RGB. An input is read as a viewer shows it; on load:

- Orientation: the EXIF orientation tag is applied (``ImageOps.exif_transpose``), so a photo
  stored 768x512 with orientation 6 loads as 512x768, as viewers show it.
- Frames: an animated or multi-page image (GIF, WebP, APNG, TIFF with more than one frame) is
  refused with :class:`InputError` naming the file and its frame count: the codecs code one
  still image (extract a frame first). A camera MPO file (a JPEG with extra preview or stereo
  images) is read as its first, primary image, which is what viewers show.
- RGB (8-bit): as is.
- Grayscale (L, 1, I;16, I, F, and LA with opaque alpha): gray replicated into the three
  channels for the networks; :func:`load_image_info` also says the source was grayscale, the
  codec records it in the .bin header (``"color": "gray"``) and decoding gives back a one-channel
  image (the mean of the three decoded channels, rounded).
- Palette images: converted to RGB (coded and decoded as RGB, even when the palette is gray).
- RGBA / LA / PA: accepted only when alpha is fully opaque (alpha is dropped); any transparency
  is refused with :class:`InputError`, since the codecs do not code alpha.
- 16-bit images: reduced to 8 bits by rounding (v * 255 / 65535), with a warning (16-bit colour
  PNGs are decoded by FFmpeg for that: Pillow would keep each sample's high byte).
- 32-bit float gray (F): values in [0, 1] are scaled by 255, larger ones read as 8- or 16-bit.
- CMYK, YCbCr, LAB: converted to RGB by Pillow.
- Colour profiles: the pixel values are coded as they are stored (right for sRGB, the usual
  profile). An embedded ICC profile is neither applied nor kept in the .bin; the first input
  with one logs a warning (later ones a debug line), since a wide-gamut (e.g. Display P3) image
  decodes with its colours read as sRGB.
- Size: read from the header and checked before the pixels are decoded. Empty (0-pixel)
  images, sides over MAX_SIDE (32768) and images over MAX_PIXELS (2^26, 67 MP) are refused:
  the same limits the image codecs check on encoding and decoding
  (:func:`neurocodec.codecs.image.base.check_size`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from neurocodec.errors import InputError
from neurocodec.io.formats import IMAGE_SUFFIXES

if TYPE_CHECKING:  # torch is imported only where tensors are made: reading and checking files stays light
    import torch

log = logging.getLogger(__name__)

MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 26  # 67 MP: the networks' activations must fit in memory (a few GB)
GRAY_MODES = frozenset({"L", "1", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_icc_warned = False  # the ICC warning is logged once per process


class ImageInfo(NamedTuple):
    """A loaded image: uint8 RGB [H, W, 3] and whether the source was grayscale."""

    rgb: np.ndarray
    gray: bool


def check_image_size(w: int, h: int, name: str = "image") -> None:
    """Refuse empty images and sizes over MAX_SIDE a side or MAX_PIXELS (w, h in pixels)."""
    if w <= 0 or h <= 0:
        raise InputError(f"{name}: empty image ({w}x{h})")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise InputError(f"{name}: {w}x{h} is too large (sides at most {MAX_SIDE}, at most {MAX_PIXELS} pixels)")


def is_grayscale(img: Image.Image) -> bool:
    """Whether a PIL image is stored as grayscale (L, 1, I;16, I, F, or LA with opaque alpha)."""
    if img.mode in GRAY_MODES:
        return True
    if img.mode == "LA":
        return bool((np.asarray(img.getchannel("A")) == 255).all())
    return False


def to_rgb8(img: Image.Image, name: str = "image") -> np.ndarray:
    """Apply the policy above: a PIL image -> uint8 array [H, W, 3]."""
    w, h = img.size
    check_image_size(w, h, name)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = a.max(initial=0)
        hi = 65535.0 if mode.startswith("I;16") or top > 255 else 255.0
        if mode == "F" and top <= 1.0:  # a float image in [0, 1], the usual convention
            hi = 1.0
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


def _warn_icc(name: str) -> None:
    global _icc_warned
    if _icc_warned:
        log.debug("%s: embedded ICC profile not applied and not kept", name)
        return
    _icc_warned = True
    log.warning("%s: has an embedded ICC colour profile; its pixel values are coded as stored (right for "
                "sRGB) and the profile is not applied or kept (logged once)", name)


def _orient(img: Image.Image, name: str) -> None:
    """Apply the EXIF orientation in place (a loaded image); an unreadable EXIF block is ignored."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as e:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        log.warning("%s: unreadable EXIF data (%s); loaded as stored, without orientation", name, e)


def _png_bit_depth(path: Path, img: Image.Image) -> int | None:
    """A PNG's bit depth from its IHDR chunk (Pillow does not report it for RGB), else None."""
    if img.format != "PNG":
        return None
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else None


def _png16_rgb8(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A 16-bit colour PNG's RGB rounded to 8 bits (v * 255 / 65535, the policy above): Pillow
    loads such a file keeping each sample's high byte, i.e. truncated. Decoded by FFmpeg (PyAV)."""
    import av

    try:
        with av.open(str(path)) as c:
            a = next(c.decode(video=0)).to_ndarray(format="rgb48le")
    except (av.FFmpegError, StopIteration) as e:
        raise InputError(f"{path}: cannot decode its 16-bit pixels ({e or 'no frame'})") from None
    if a.shape != tuple(shape):
        raise InputError(f"{path}: its 16-bit pixels decode to {a.shape}, not {tuple(shape)}")
    return np.clip(np.round(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)


def load_image_info(path: str | Path) -> ImageInfo:
    """Read an image file as uint8 RGB [H, W, 3] plus whether it is grayscale (module policy).

    The size and the frame count are checked from the header, before any pixels are decoded."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            check_image_size(*img.size, name=str(p))
            frames = getattr(img, "n_frames", 1)
            if frames > 1 and img.format != "MPO":
                raise InputError(f"{p}: has {frames} frames (animated or multi-page); the codecs code one "
                                 "still image: extract one frame first")
            img.load()
            upright = img.getexif().get(0x0112, 1) in (0, 1)
            _orient(img, p.name)
            if img.info.get("icc_profile"):
                _warn_icc(str(p))
            rgb = to_rgb8(img, p.name)  # checks transparency too
            if upright and _png_bit_depth(p, img) == 16 and img.mode in ("RGB", "RGBA"):
                rgb = _png16_rgb8(p, rgb.shape)
                log.warning("%s: 16-bit image reduced to 8 bits", p.name)
            return ImageInfo(rgb, is_grayscale(img))
    except Image.DecompressionBombError as e:
        raise InputError(f"{p}: too large ({e})") from None
    except (UnidentifiedImageError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise InputError(f"{p}: cannot read image ({e})") from None


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3] (see the module policy; a grayscale source is
    replicated into the three channels: :func:`load_image_info` also says it was gray)."""
    return load_image_info(path).rgb


def save_image(pixels: np.ndarray, path: str | Path) -> None:
    """Write uint8 RGB [H, W, 3], or grayscale [H, W] as a one-channel ('L') image; the format
    follows the suffix (PNG for lossless output)."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    if a.ndim == 2:
        Image.fromarray(a, "L").save(path)
    elif a.ndim == 3 and a.shape[2] == 3:
        Image.fromarray(a, "RGB").save(path)
    else:
        raise InputError(f"cannot save an array of shape {a.shape}: expected [H, W, 3] RGB or [H, W] gray")


def to_tensor(rgb: np.ndarray) -> "torch.Tensor":
    """uint8 [H, W, 3] -> float32 [1, 3, H, W] in [0, 1]."""
    if not rgb.flags.writeable:  # e.g. np.asarray of a PIL image; torch wants writable memory
        rgb = rgb.copy()
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255.0).contiguous()


def to_uint8(x: "torch.Tensor") -> np.ndarray:
    """float [1, 3, H, W] in [0, 1] -> uint8 [H, W, 3] (rounded, clipped)."""
    import torch

    return x[0].clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_gray8(x: "torch.Tensor") -> np.ndarray:
    """float [1, 3, H, W] in [0, 1] -> uint8 [H, W]: the mean of the three channels, rounded and
    clipped (for a source that was gray, each channel is a noisy copy of the same value)."""
    import torch

    return x[0].mean(0).clamp(0, 1).mul(255.0).round().to(torch.uint8).cpu().numpy()


def list_images(folder: str | Path) -> list[Path]:
    """Image files in a folder (sorted, not recursive)."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
