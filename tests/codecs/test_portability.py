"""Portable files: a .bin encoded under one thread count, oneDNN setting, memory layout or
device decodes under every other with identical symbols, for both image codecs, at every
quality and at odd and tiny sizes; files of the old format are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neurocodec import bitstream
from neurocodec.errors import UnsupportedVersionError
from neurocodec.evaluate.portability import Setting, check_image, summarize
from tests.codecs.conftest import shipped

NAMES = ["hyperprior", "gmm"]
SIZES = [(1, 1), (17, 33), (64, 64), (70, 131)]
THREADS = [Setting(threads=1), Setting(threads=2), Setting(threads=3)]


@pytest.mark.parametrize("name", NAMES)
def test_every_thread_count_decodes_every_other(name, photo):
    codec = shipped(name)
    results = []
    for h, w in SIZES:
        crop = photo[..., 200 : 200 + h, 150 : 150 + w]
        for q in codec.qualities:
            results.append(check_image(codec, f"{h}x{w}", crop, q, THREADS, pixels=False))
    summary = summarize(results, THREADS)
    assert summary["files"] == len(SIZES) * len(codec.qualities)
    assert summary["failures"] == 0, [f for r in results for f in r.failures][:5]


@pytest.mark.parametrize("name", NAMES)
def test_whole_photo_across_threads_and_onednn(name, photo):
    """Kodak-sized: enough latents that one float ulp would desynchronise a float model."""
    codec = shipped(name)
    settings = [Setting(threads=1), Setting(threads=2), Setting(threads=2, onednn=False)]
    for q in (1, len(codec.qualities)):
        r = check_image(codec, "photo", photo, q, settings)
        assert not r.failures, r.failures
        # the float synthesis may move a pixel by a rounding step, never more than a few levels
        assert r.max_abs_diff <= 2, r.max_abs_diff


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_input_gives_the_same_file(name, photo):
    codec = shipped(name)
    crop = photo[..., :96, :160]
    a = bitstream.dumps(codec.compress(crop, 3, reconstruct=False)[0])
    b = bitstream.dumps(codec.compress(crop.contiguous(memory_format=torch.channels_last), 3, reconstruct=False)[0])
    assert a == b
    codec.decompress(bitstream.loads(a))


def test_old_format_file_is_refused_by_name():
    data = (Path(__file__).parent / "data" / "hyperprior_format_v1.bin").read_bytes()  # made by neurocodec 0.1
    with pytest.raises(UnsupportedVersionError, match=r"version 1 .*reads version 2"):
        bitstream.loads(data)
    codec = shipped("hyperprior")
    with pytest.raises(UnsupportedVersionError):
        codec.decode_image(data)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cpu_and_gpu_decode_each_others_files(name, photo):
    codec = shipped(name)
    settings = [Setting(threads=2), Setting(device="cuda")]
    for q in (1, len(codec.qualities)):
        r = check_image(codec, "photo", photo, q, settings)
        assert not r.failures, r.failures


def test_mambaic_files_decode_under_every_thread_count(photo):
    """MambaIC's probability path (integer VSS blocks with their fixed-point scan, window
    attention) is exact: an untrained small model with real gains, every thread count."""
    from neurocodec.codecs import registry

    torch.manual_seed(0)
    from tests.codecs.conftest import unzero

    codec = unzero(registry.build("mambaic", N=16, M=24, slices=3, state=4, context=8, agg=16, window=4, qualities=2)).eval()
    with torch.no_grad():
        codec.gains.log_gain.fill_(3.0)
    codec.refresh_hash()
    codec.update()
    results = [check_image(codec, f"{h}x{w}", photo[..., 200: 200 + h, 150: 150 + w], 2, THREADS, pixels=False)
               for h, w in [(17, 33), (70, 131)]]
    assert summarize(results, THREADS)["failures"] == 0, [f for r in results for f in r.failures][:5]
    sizes = [len(bitstream.dumps(codec.compress(photo[..., :64, :64], 2, reconstruct=False)[0]))]
    assert sizes[0] > 100  # something was coded
