"""The learned video codec (``hytip``) and the learned image codecs coding every frame
(``<image codec>-intra``, e.g. ``hyperprior-intra``) as runner adapters.

Both take uint8 RGB frames (what :func:`neurocodec.io.video.read_rgb` gives) and return an
:class:`~neurocodec.evaluate.baselines.video.EncodedVideo`, the classical adapters' shape:

- ``encode_video(frames, width, height, fps, quality, n_frames, color) -> EncodedVideo``:
  `frames` an iterable of uint8 RGB [H, W, 3], consumed one at a time; `n_frames` how many;
  `color` the source's colour policy (recorded in a hytip .bin header);
- ``decode_video(encoded) -> Iterator[uint8 RGB [H, W, 3]]``: one frame at a time.

What the rate counts (``EncodedVideo.data``): for ``hytip`` the whole video .bin file (header,
per-frame section framing and CRCs included), ``frame_bytes`` each frame's section; for
``<image codec>-intra`` the frames' .bin files, one after the other, ``frame_bytes`` the size
of each (the boundaries themselves are not counted, as for a container).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from neurocodec.errors import CheckpointNotFoundError, InputError, NeurocodecError
from neurocodec.evaluate.baselines.libs import check_quality
from neurocodec.evaluate.baselines.video import DEFAULT_GOP, EncodedVideo
from neurocodec.evaluate.modalities import CodecUnavailableError, load_neural_codec

log = logging.getLogger(__name__)

INTRA_SUFFIX = "-intra"
_LABELS = {"hytip": "HyTIP"}


def _torch_version() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__}


class _TrainedVideoAdapter:
    """What the two adapters share: the codec, its levels 1..Q, where its weights came from."""

    video_input = "rgb"

    def __init__(self, codec: Any, source: str) -> None:
        self.codec = codec.eval()
        n = int(codec.num_qualities)
        self.qualities = list(range(1, n + 1))
        self.quality_range = (1, n)
        self.source = source

    @property
    def versions(self) -> dict[str, Any]:
        return _torch_version()

    def weights_hash(self) -> str:
        return self.codec.weights_hash().hex()


class NeuralVideoCodec(_TrainedVideoAdapter):
    """A trained :class:`~neurocodec.codecs.video.hytip.HyTIP` behind the runner's video adapter
    interface: an I frame every `gop` frames (the image codec the model was trained with), P
    frames otherwise. `source`: where its weights came from (a checkpoint path)."""

    size_note = ("whole neurocodec video .bin file (container header, per-frame sections with their framing and "
                 "CRC32 included)")

    def __init__(self, codec: Any, source: str = "", gop: int = DEFAULT_GOP) -> None:
        if codec.modality != "video":
            raise InputError(f"{codec.name} is a {codec.modality} codec, not a video codec")
        super().__init__(codec, source)
        self.gop = check_gop(gop)
        self.name: str = codec.name
        n = self.quality_range[1]
        self.label = f"{_LABELS.get(codec.name, codec.name)} (neurocodec, intra period {self.gop})"
        self.quality_meaning = (f"quality level 1..{n} (higher = more bits); I frames by {codec.intra.name} at its "
                                f"levels {list(codec.intra_qualities)}")

    @property
    def settings(self) -> dict[str, Any]:
        return {**dict(self.codec.config), "intra_period": self.gop, "motion": "pyramid", "bframes": 0}


    def encode_video(self, frames: Iterable[np.ndarray], width: int, height: int, fps: Fraction, quality: int,
                     n_frames: int, color: dict[str, Any] | None = None) -> EncodedVideo:
        """uint8 RGB [H, W, 3] frames -> a video .bin at `quality`; `n_frames` frames exactly."""
        import torch

        from neurocodec.codecs.video.stream import VideoEncoder

        q = check_quality(self, quality)
        buf = io.BytesIO()
        enc = VideoEncoder(self.codec, buf, width, height, fps, n_frames, q, gop=self.gop, color=color)
        sizes: list[int] = []
        types: list[str] = []
        with torch.no_grad():
            for rgb in frames:
                stats, _ = enc.encode(rgb)
                sizes.append(stats.bytes)
                types.append(stats.type)
        enc.close()
        data = buf.getvalue()
        if len(data) != enc.bytes:
            raise NeurocodecError(f"{self.name}: the encoder counted {enc.bytes} bytes but wrote {len(data)}")
        return EncodedVideo(data, sizes, types)

    def decode_video(self, encoded: EncodedVideo) -> Iterator[np.ndarray]:
        """The .bin -> uint8 RGB [H, W, 3] frames, one at a time."""
        from neurocodec.codecs.video.stream import VideoDecoder

        dec = VideoDecoder(self.codec, encoded.data)
        if dec.gop != self.gop:
            raise NeurocodecError(f"{self.name}: the file has intra period {dec.gop}, not {self.gop}")
        yield from dec


class ImageIntraVideoCodec(_TrainedVideoAdapter):
    """A trained image codec coding every frame of a clip on its own (all I frames): a learned
    "motion JPEG". `quality` is the image codec's level."""

    size_note = "sum of the frames' neurocodec image .bin files (each with its container header)"

    def __init__(self, codec: Any, source: str = "") -> None:
        if codec.modality != "image":
            raise InputError(f"{codec.name} is a {codec.modality} codec, not an image codec")
        super().__init__(codec, source)
        self.name = f"{codec.name}{INTRA_SUFFIX}"
        self.label = f"{codec.name} intra (neurocodec image codec, every frame)"
        self.quality_meaning = f"the image codec's quality level 1..{self.quality_range[1]} (higher = more bits)"

    @property
    def settings(self) -> dict[str, Any]:
        return {"image_codec": self.codec.name, **dict(self.codec.config), "intra_period": 1}


    def encode_video(self, frames: Iterable[np.ndarray], width: int, height: int, fps: Fraction, quality: int,
                     n_frames: int, color: dict[str, Any] | None = None) -> EncodedVideo:
        """uint8 RGB [H, W, 3] frames -> one image .bin per frame, concatenated."""
        q = check_quality(self, quality)
        files = [bytes(self.codec.encode_image(rgb, q)) for rgb in frames]
        if len(files) != n_frames:
            raise InputError(f"{self.name}: got {len(files)} frames, not the {n_frames} announced")
        return EncodedVideo(b"".join(files), [len(f) for f in files], ["I"] * len(files))

    def decode_video(self, encoded: EncodedVideo) -> Iterator[np.ndarray]:
        """The frames' .bin files -> uint8 RGB [H, W, 3] frames, one at a time."""
        if sum(encoded.frame_bytes) != len(encoded.data):
            raise InputError(f"{self.name}: frame sizes add up to {sum(encoded.frame_bytes)} bytes, "
                             f"the data holds {len(encoded.data)}")
        pos = 0
        for n in encoded.frame_bytes:
            out = np.asarray(self.codec.decode_image(encoded.data[pos : pos + n]))
            pos += n
            if out.ndim == 2:  # a file marked gray
                out = np.repeat(out[:, :, None], 3, axis=2)
            yield out


def check_gop(gop: Any) -> int:
    """The intra period as an int >= 1, else InputError."""
    if not isinstance(gop, (int, np.integer)) or isinstance(gop, bool) or int(gop) < 1:
        raise InputError(f"the intra period (--gop) must be a positive integer, got {gop!r}")
    return int(gop)


def load_neural_video_codec(name: str, gop: int = DEFAULT_GOP) -> NeuralVideoCodec:
    """The trained video codec by name (its shipped checkpoint) or from a checkpoint path (.pt of
    ``neurocodec export`` or a Lightning .ckpt). CodecUnavailableError when the name is unknown
    or its checkpoint does not exist yet."""
    codec, source = load_neural_codec(name, "video")
    return NeuralVideoCodec(codec, source, gop)


def load_image_intra_codec(name: str) -> ImageIntraVideoCodec:
    """``<image codec>-intra``: a registered image codec (its shipped checkpoint) coding every
    frame. CodecUnavailableError when the image codec is unknown or has no checkpoint yet."""
    from neurocodec.codecs.catalog import CODECS

    base = name.removesuffix(INTRA_SUFFIX)
    if not name.endswith(INTRA_SUFFIX) or CODECS.get(base) != "image":
        known = sorted(f"{n}{INTRA_SUFFIX}" for n, m in CODECS.items() if m == "image")
        raise CodecUnavailableError(f"unknown image-intra codec {name!r} (known: {', '.join(known)})")
    try:
        from neurocodec.codecs import registry

        codec = registry.load_image_codec(base)
    except ImportError as e:
        raise CodecUnavailableError(f"{name}: the neural codec registry cannot be imported ({e})") from None
    except CheckpointNotFoundError as e:
        raise CodecUnavailableError(f"{name} is not available: {e}") from None
    return ImageIntraVideoCodec(codec, str(registry.checkpoint_path(base)))
