"""`dac`: DAC-style RVQ codec (Kumar et al., 2023), 16 kHz mono speech at 50 frames/s.

Snake/weight-norm convolutional encoder and decoder (strides 2, 4, 5, 8), a residual vector
quantiser of `n_q` factorised stages (8-d codes, cosine lookup, quantiser dropout). One model
serves every bitrate: encoding uses the first n stages, n chosen from --kbps.
"""

from __future__ import annotations

from typing import Any

from neurocodec.codecs.audio.base import AudioCodec


class DAC(AudioCodec):
    name = "dac"

    def __init__(self, **config: Any) -> None:
        config.setdefault("rvq_strides", None)
        super().__init__(**config)
