"""The trained audio codecs (``dac``, ``snac``) as runner adapters, quality = RVQ stages used.

``encode_audio(x float32 [1, T] at 16 kHz, stages) -> bytes`` is the whole neurocodec .bin
file (what the rate counts); ``decode_audio(bytes) -> float32 [1, T]`` its decoding. Encoding
calls :meth:`AudioCodec.encode_stream` (what :meth:`AudioCodec.compress` does before it also
decodes), so the encode time does not include a decode.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from neurocodec.errors import InputError
from neurocodec.evaluate.baselines.audio import SAMPLE_RATE, check_audio, fit_length
from neurocodec.evaluate.baselines.libs import check_quality
from neurocodec.evaluate.modalities import load_neural_codec

log = logging.getLogger(__name__)

# default sweep of stage counts, clipped to the codec's n_q (its n_q is always the last level)
STAGE_SPREAD = (1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 18)


class NeuralAudioCodec:
    """A trained :class:`~neurocodec.codecs.audio.base.AudioCodec` behind the runner's adapter
    interface. `source`: where its weights came from (a checkpoint path)."""

    size_note = "whole neurocodec .bin file (container header with JSON metadata included); " \
                "payload_kbps: the index sections alone"

    def __init__(self, codec: Any, source: str = "") -> None:
        if codec.sample_rate != SAMPLE_RATE:
            raise InputError(f"{codec.name} codes {codec.sample_rate} Hz audio; the audio modality is {SAMPLE_RATE} Hz")
        self.codec = codec.prepare_inference()
        self.name: str = codec.name
        n = int(codec.n_q)
        self.qualities = sorted({min(q, n) for q in STAGE_SPREAD})
        self.quality_range = (1, n)
        self.label = f"{codec.name.upper()} (neurocodec)"
        self.quality_meaning = f"RVQ stages used, 1..{n} (more = higher rate)"
        self.source = source
        self.kbps_table = [(int(s), float(k)) for s, k in codec.kbps_table()]

    @property
    def settings(self) -> dict[str, Any]:
        return {**dict(self.codec.config),
                "expected_kbps": {str(s): round(k, 4) for s, k in self.kbps_table}}

    @property
    def versions(self) -> dict[str, Any]:
        import torch

        return {"torch": torch.__version__}

    def weights_hash(self) -> str:
        return self.codec.weights_hash().hex()

    def encode_audio(self, x: np.ndarray, quality: int) -> bytes:
        """float32 [1, T] at 16 kHz -> a .bin file coding `quality` stages."""
        import torch

        from neurocodec import bitstream
        from neurocodec.codecs.audio.base import rms_dbfs

        stages = check_quality(self, quality)
        x = check_audio(x)
        payload = self.codec.encode_stream([torch.from_numpy(x)], level_dbfs=rms_dbfs(x), rate=SAMPLE_RATE,
                                           channels=1, samples=x.shape[-1], stages=stages)
        return bitstream.dumps(payload)

    def decode_audio(self, data: bytes, length: int | None = None) -> np.ndarray:
        """A .bin file -> float32 [1, T] at 16 kHz (`length`: pad or trim the end to it)."""
        from neurocodec import bitstream

        y = self.codec.decompress(bitstream.loads(data)).numpy().astype(np.float32, copy=False)
        return y if length is None else fit_length(y, length)

    def payload_bytes(self, data: bytes) -> int:
        """Bytes of the coded index sections of a .bin file (no container, no metadata)."""
        from neurocodec import bitstream

        return sum(len(v) for v in bitstream.loads(data).sections.values())


def load_neural_audio_codec(name: str) -> NeuralAudioCodec:
    """A trained audio codec by name (its shipped checkpoint) or from a checkpoint path (.pt of
    ``neurocodec export`` or a Lightning .ckpt). CodecUnavailableError when the name is unknown
    or its checkpoint does not exist yet."""
    codec, source = load_neural_codec(name, "audio")
    return NeuralAudioCodec(codec, source)