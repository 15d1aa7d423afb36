"""The entropy layer: the only place where bits are made.

Integer models (:mod:`.models`) and the multi-lane rANS coder (:mod:`.coder`); torch layers
for codecs live in :mod:`.layers`.
"""

from neurocodec.entropy.coder import code_length_bits, decode, encode, set_simd, simd_enabled, simd_supported
from neurocodec.entropy.models import (
    Family,
    MixtureModel,
    ParametricModel,
    TableModel,
    quantize_means,
    quantize_scales,
    quantize_weights,
    scale_table,
)

__all__ = [
    "Family",
    "MixtureModel",
    "ParametricModel",
    "TableModel",
    "code_length_bits",
    "decode",
    "encode",
    "quantize_means",
    "quantize_scales",
    "quantize_weights",
    "scale_table",
    "set_simd",
    "simd_enabled",
    "simd_supported",
]
