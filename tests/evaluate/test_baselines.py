"""Classical codecs: real round trips on a Kodak crop, their sizes, settings and errors."""

from __future__ import annotations

import numpy as np
import pytest

from neurocodec.errors import InputError
from neurocodec.evaluate import baselines
from neurocodec.evaluate.metrics import psnr_rgb

NAMES = list(baselines.CLASSICAL_IMAGE_CODECS)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_quality_grows_with_rate(name, kodak_crop):
    codec = baselines.classical_image_codec(name)
    low, high = codec.qualities[1], codec.qualities[-2]
    d_low, d_high = codec.encode_image(kodak_crop, low), codec.encode_image(kodak_crop, high)
    r_low, r_high = codec.decode_image(d_low), codec.decode_image(d_high)
    assert r_low.shape == r_high.shape == kodak_crop.shape and r_high.dtype == np.uint8
    assert len(d_high) > len(d_low) > 50
    p_low, p_high = psnr_rgb(kodak_crop, r_low)["psnr_rgb"], psnr_rgb(kodak_crop, r_high)["psnr_rgb"]
    assert 20 < p_low < p_high < 60
    assert codec.versions and codec.size_note and codec.quality_meaning


def test_jpeg_q95_is_good_and_444_costs_more(kodak_crop):
    j420, j444 = baselines.classical_image_codec("jpeg"), baselines.classical_image_codec("jpeg-444")
    d420, d444 = j420.encode_image(kodak_crop, 95), j444.encode_image(kodak_crop, 95)
    assert psnr_rgb(kodak_crop, j420.decode_image(d420))["psnr_rgb"] > 35
    assert psnr_rgb(kodak_crop, j444.decode_image(d444))["psnr_rgb"] > psnr_rgb(kodak_crop, j420.decode_image(d420))["psnr_rgb"]
    assert len(d444) > len(d420)
    assert d420[:2] == b"\xff\xd8"  # the count is a whole JFIF file


def test_hevc_is_a_444_annexb_stream_without_sei(kodak_crop):
    c = baselines.classical_image_codec("hevc-intra")
    data = c.encode_image(kodak_crop, 30)
    assert data[:5] == b"\x00\x00\x00\x01\x40"  # start code + VPS NAL
    assert b"x265 (build" not in data  # info=0: no encoder-settings SEI counted as image bits
    assert psnr_rgb(kodak_crop, c.decode_image(data))["psnr_rgb"] > 33


def test_av1_intra_is_420_only_and_needs_even_sizes(kodak_crop):
    c = baselines.classical_image_codec("av1-intra")
    assert "4:2:0" in c.settings["chroma"] and "4:4:4 is not supported" in c.settings["chroma"]
    with pytest.raises(InputError, match="even"):
        c.encode_image(kodak_crop[:101], 30)


def test_colour_conversion_round_trips(kodak_crop):
    assert np.array_equal(baselines.ycbcr_to_rgb(baselines.rgb_to_ycbcr(kodak_crop)), kodak_crop)
    flat = np.full((8, 8), 77.0)
    assert np.allclose(baselines.upsample2(baselines.downsample2(flat)), 77.0)


def test_bad_inputs_are_input_errors(kodak_crop):
    c = baselines.classical_image_codec("jpeg")
    with pytest.raises(InputError, match="quality"):
        c.encode_image(kodak_crop, 101)
    with pytest.raises(InputError, match="RGB"):
        c.encode_image(kodak_crop[..., 0], 50)
    with pytest.raises(InputError, match="decode"):
        c.decode_image(b"not a jpeg")
    with pytest.raises(InputError, match="decode"):
        baselines.classical_image_codec("hevc-intra").decode_image(b"\x00\x00\x01garbage")
