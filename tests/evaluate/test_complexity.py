"""Decoder FLOPs per pixel, pinned at Kodak size (512x768) for each image codec's CPU
configuration, and shown by ``neurocodec info --flops``."""

from __future__ import annotations

import json

import pytest
import torch

from neurocodec import bitstream
from neurocodec.cli import main as cli_main
from neurocodec.codecs import registry
from neurocodec.evaluate.complexity import image_decode_complexity
from tests.codecs.conftest import shipped

KODAK = torch.rand(1, 3, 512, 768, generator=torch.Generator().manual_seed(0))

# kFLOP per pixel of decompress (multiply-add = 2 FLOPs); the architecture fixes them
PINNED = {
    "shallow-2l": (dict(N=64, M=96, A=96), 6.258),
    "shallow-jpeg": (dict(N=64, M=96, A=96), 3.423),
    "mambaic": (dict(N=64, M=96, slices=4, state=4, context=48, agg=64, window=4), 29.509),
}


def test_the_shipped_hyperprior_decodes_at_25_kflop_per_pixel():
    d = image_decode_complexity(shipped("hyperprior"), KODAK, 3)
    assert d.scan_flops == 0 and d.kflop_per_px == pytest.approx(25.0, abs=0.05)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_decode_flops(name):
    config, kflop = PINNED[name]
    torch.manual_seed(0)
    codec = registry.build(name, **config).eval()
    d = image_decode_complexity(codec, KODAK, 3)
    assert d.kflop_per_px == pytest.approx(kflop, abs=0.002)
    if name == "mambaic":  # the scan is added analytically: 9 * B * L * D * N per scan
        yl, hl = 32 * 48, 16 * 24  # the latent, and h_s's block at twice z's size
        scans = 9 * (yl * 4 * 48 * 4 * 3 + hl * 4 * 96 * 4)  # 3 channel-context blocks (4 directions), h_s's
        assert d.scan_flops == scans
    else:
        assert d.scan_flops == 0


def test_info_flops_on_a_file(tmp_path, capsys):
    codec = shipped("hyperprior")
    path = tmp_path / "a.bin"
    path.write_bytes(bitstream.dumps(codec.compress(KODAK[..., :64, :128], 2, reconstruct=False)[0]))
    assert cli_main(["info", str(path), "--flops"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["decode"]["kflop_per_px"] == pytest.approx(25.0, abs=0.5)  # small image: borders cost a little
    assert info["decode"]["parameters"] == sum(p.numel() for p in codec.parameters())
