"""What the runner needs to know about a kind of media, registered per modality.

A :class:`Modality` lists the items of a data set, loads one item, describes its size, turns a
byte count into a rate, and finds codecs by name. The runner, the result files, BD-rate and the
plots only go through this object, so audio (kbps; PESQ, STOI, SI-SDR, mel distance) and video
(bpp and kbps; per-frame PSNR-RGB and MS-SSIM, streamed) plug in by registering a Modality and
their metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocodec.errors import CheckpointNotFoundError, InputError, NeurocodecError

log = logging.getLogger(__name__)


class CodecUnavailableError(InputError):
    """A codec name that is unknown, or whose implementation is not installed."""


@dataclass(frozen=True)
class Modality:
    """How the runner handles one kind of media.

    - ``list_items(folder)`` -> sorted item paths of a data set;
    - ``load(path)`` -> the media (e.g. uint8 HxWx3 for images);
    - ``describe(media)`` -> size fields stored per item (e.g. height, width, pixels);
    - ``rate(n_bytes, size)`` -> rate fields, including ``rate_key`` (e.g. ``bpp``);
    - ``load_codec(name, **options)`` -> a codec adapter; ``encode(codec, media, quality) -> bytes``
      and ``decode(codec, bytes) -> media`` call it (both needed unless ``evaluate`` is given);
    - ``align(media, decoded)`` (optional) -> the decoded media made comparable with the
      original before the metrics (e.g. audio: the end padded or trimmed to its length);
    - ``extra(codec, bytes, size)`` (optional) -> more numbers stored per item (e.g. the payload
      rate of a neural codec without its container); ``extra_keys`` of them are averaged per level;
    - ``data_sets``: named data sets, each a tuple of folders (or, where ``is_item`` says so,
      single items) under $NEUROCODEC_DATA (e.g. ``librispeech-eval``: three LibriSpeech splits);
    - ``item_options`` (optional): per named data set, options of some of its entries (keyed by
      their path as listed in ``data_sets``), given to ``evaluate`` and recorded per item (e.g.
      video: ``{"max_frames": 96}``, the first 96 frames of a longer clip);
    - ``evaluate(codec, path, quality, item_options)`` (optional) -> the whole per-item record
      (sizes, ``bytes``, rates, metric values, ``encode_s``, ``decode_s``, anything else) for
      media streamed rather than held whole (video); the runner then calls it instead of
      ``load`` / ``encode`` / ``decode`` / ``align`` and the metrics;
    - ``options``: run options and their defaults (e.g. video: ``{"gop": 32}``), given to
      ``load_codec`` as keywords and recorded in the result file;
    - ``is_item(path)`` (optional): whether a path is itself one item (e.g. a video file or a
      folder of PNG frames), so that it may be given as data.
    """

    name: str
    rate_key: str
    rate_label: str
    list_items: Callable[[Path], list[Path]]
    load: Callable[[Path], Any]
    describe: Callable[[Any], dict[str, Any]]
    rate: Callable[[int, dict[str, Any]], dict[str, float]]
    load_codec: Callable[..., Any]
    known_codecs: Callable[[], list[str]]
    encode: Callable[[Any, Any, int], bytes] | None = None
    decode: Callable[[Any, bytes], Any] | None = None
    items_name: str = "items"  # what the items of a data set are called in titles and legends
    align: Callable[[Any, Any], Any] | None = None
    extra: Callable[[Any, bytes, dict[str, Any]], dict[str, float]] | None = None
    extra_keys: tuple[str, ...] = ()
    data_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    item_options: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    evaluate: Callable[[Any, Path, int, dict[str, Any]], dict[str, Any]] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    is_item: Callable[[Path], bool] | None = None

    def __post_init__(self) -> None:
        if self.evaluate is None and (self.encode is None or self.decode is None):
            raise TypeError(f"modality {self.name!r} needs encode and decode, or evaluate")


def load_neural_codec(name: str, modality: str) -> tuple[Any, str]:
    """A trained codec of `modality` by name (its shipped checkpoint) or from a checkpoint path
    (.pt of ``neurocodec export`` or a Lightning .ckpt), and where its weights came from.
    CodecUnavailableError when the name is unknown or its checkpoint does not exist yet;
    InputError when the checkpoint holds a codec of another modality."""
    from neurocodec.codecs.catalog import CODECS

    p = Path(name)
    is_path = p.suffix in (".pt", ".ckpt") or p.is_file()
    if not is_path and CODECS.get(name) != modality:
        known = sorted(n for n, m in CODECS.items() if m == modality)
        raise CodecUnavailableError(f"unknown {modality} codec {name!r} (neural: {', '.join(known)}, or a checkpoint path)")
    try:
        from neurocodec.codecs import registry
    except ImportError as e:
        raise CodecUnavailableError(f"{modality} codec {name!r}: the neural codec registry cannot be imported ({e})") \
            from None
    try:
        codec = registry.load(name)
    except CheckpointNotFoundError as e:
        raise CodecUnavailableError(f"{modality} codec {name!r} is not available: {e}") from None
    if codec.modality != modality:
        raise InputError(f"{name} holds the {codec.modality} codec {codec.name!r}, not a{'n' if modality[0] in 'aeiou' else ''} "
                         f"{modality} codec")
    if not is_path and codec.name != name:
        raise NeurocodecError(f"checkpoint for {name!r} holds codec {codec.name!r}")
    return codec, str(registry.checkpoint_path(name))


_MODALITIES: dict[str, Modality] = {}


def register_modality(m: Modality) -> None:
    _MODALITIES[m.name] = m


def get_modality(name: str) -> Modality:
    if name not in _MODALITIES:
        raise InputError(f"unknown modality {name!r} (known: {', '.join(sorted(_MODALITIES))})")
    return _MODALITIES[name]


def modality_names() -> list[str]:
    return sorted(_MODALITIES)


# --------------------------------------------------------------------------- images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def _image_items(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"data set folder {folder} does not exist")
    items = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not items:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return items


def _image_load(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"cannot read image {path}: {e}") from None


def _image_describe(img: np.ndarray) -> dict[str, Any]:
    h, w = img.shape[:2]
    return {"height": int(h), "width": int(w), "pixels": int(h * w)}


def _image_rate(n_bytes: int, size: dict[str, Any]) -> dict[str, float]:
    return {"bpp": 8.0 * n_bytes / size["pixels"]}


def _image_codec(name: str) -> Any:
    from neurocodec.evaluate.baselines.image import CLASSICAL_IMAGE_CODECS, classical_image_codec

    if name in CLASSICAL_IMAGE_CODECS:
        return classical_image_codec(name)
    from neurocodec.evaluate import refined

    # a shipped codec by name or a checkpoint path (.pt / Lightning .ckpt), optionally as
    # NAME+refineN: NAME with N steps of iterative encoding
    variant = refined.parse(name)
    try:
        codec, _ = load_neural_codec(variant[0] if variant is not None else name, "image")
    except (KeyError, LookupError) as e:
        raise CodecUnavailableError(f"unknown or unavailable image codec {name!r}: {e}") from None
    return refined.RefinedImageCodec(codec, variant[1]) if variant is not None else codec


def _image_known() -> list[str]:
    from neurocodec.evaluate.baselines.image import CLASSICAL_IMAGE_CODECS

    return list(CLASSICAL_IMAGE_CODECS)


def _image_encode(codec: Any, img: np.ndarray, quality: int) -> bytes:
    data = codec.encode_image(img, quality)
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{codec.name}.encode_image returned {type(data).__name__}, not bytes")
    return bytes(data)


def _image_decode(codec: Any, data: bytes) -> np.ndarray:
    out = np.asarray(codec.decode_image(data))
    if out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
        raise InputError(f"{codec.name}.decode_image returned {out.dtype} {out.shape}, not uint8 HxWx3")
    return out


IMAGE = Modality(
    name="image",
    rate_key="bpp",
    rate_label="bits per pixel",
    list_items=_image_items,
    load=_image_load,
    describe=_image_describe,
    rate=_image_rate,
    load_codec=_image_codec,
    encode=_image_encode,
    decode=_image_decode,
    known_codecs=_image_known,
    items_name="images",
)
register_modality(IMAGE)

# the other modalities register themselves on import
from neurocodec.evaluate import audio_modality, video_modality  # noqa: E402,F401
