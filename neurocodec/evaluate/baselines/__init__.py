"""Classical codecs as adapters with the neural codecs' shape, one module per modality.

- :mod:`.image`  JPEG, WebP, AVIF (Pillow), HEVC and AV1 intra (PyAV): ``encode_image`` / ``decode_image``
- :mod:`.audio`  Opus, MP3, AAC (PyAV): ``encode_audio`` / ``decode_audio``
- :mod:`.video`  x264 medium / veryslow / intra, x265 medium (PyAV): ``encode_video`` / ``decode_video``
- :mod:`.libs`   versions of the libraries behind them

The image names are re-exported here (``from neurocodec.evaluate.baselines import
CLASSICAL_IMAGE_CODECS, classical_image_codec``), and the audio ones likewise.
"""

from __future__ import annotations

from typing import Any

from neurocodec.evaluate.baselines.audio import (
    CLASSICAL_AUDIO_CODECS,
    ClassicalAudioCodec,
    check_audio,
    classical_audio_codec,
    fit_length,
)
from neurocodec.evaluate.baselines.image import (
    CLASSICAL_IMAGE_CODECS,
    ClassicalImageCodec,
    PillowCodec,
    SvtAv1IntraCodec,
    X265IntraCodec,
    check_rgb,
    classical_image_codec,
    downsample2,
    rgb_to_ycbcr,
    upsample2,
    ycbcr_to_rgb,
)
from neurocodec.evaluate.baselines.video import CLASSICAL_VIDEO_CODECS, ClassicalVideoCodec, classical_video_codec


def is_classical(codec: Any) -> bool:
    """Whether `codec` is one of the classical adapters (of any modality)."""
    return isinstance(codec, (ClassicalImageCodec, ClassicalAudioCodec, ClassicalVideoCodec))


__all__ = [
    "CLASSICAL_AUDIO_CODECS", "CLASSICAL_IMAGE_CODECS", "CLASSICAL_VIDEO_CODECS", "ClassicalAudioCodec",
    "ClassicalImageCodec", "ClassicalVideoCodec", "PillowCodec", "SvtAv1IntraCodec", "X265IntraCodec", "check_audio",
    "check_rgb", "classical_audio_codec", "classical_image_codec", "classical_video_codec",
    "downsample2", "fit_length", "is_classical", "rgb_to_ycbcr", "upsample2", "ycbcr_to_rgb",
]
