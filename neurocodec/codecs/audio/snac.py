"""`snac`: SNAC-style multi-scale RVQ codec (Siuzdak et al., 2024), 16 kHz mono speech.

The DAC backbone with quantiser stages at coarser rates (strides 4, 2, 1, 1 over the 50 Hz
latent: 12.5, 25, 50 and 50 codes/s), noise blocks in the decoder (seeded by the absolute
sample position, so decoding is reproducible and chunks agree with the whole signal),
optionally depthwise residual convolutions and a local attention block on the latent.
--kbps picks the number of levels.
"""

from __future__ import annotations

from typing import Any

from neurocodec.codecs.audio.base import AudioCodec


class SNAC(AudioCodec):
    name = "snac"

    def __init__(self, rvq_strides: tuple[int, ...] = (4, 2, 1, 1), noise: bool = True, depthwise: bool = True,
                 attention: bool = True, **config: Any) -> None:
        config.setdefault("n_q", len(tuple(rvq_strides)))
        super().__init__(rvq_strides=tuple(rvq_strides), noise=noise, depthwise=depthwise, attention=attention, **config)
