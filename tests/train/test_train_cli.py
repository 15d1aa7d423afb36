"""A short training run through the Lightning CLI writes a checkpoint that the command line
then uses to encode and decode (the tiny config; synthetic photos so that it needs no data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neurocodec import bitstream
from neurocodec.cli import main as cli_main
from neurocodec.train.cli import main as train_main

CONFIG = Path(__file__).resolve().parents[2] / "neurocodec" / "train" / "configs" / "tiny.yaml"


def _photos(folder: Path, n: int, size: tuple[int, int]) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
        img = 128 + 80 * np.sin(xx / (5 + i) + yy / 7)[..., None] * rng.uniform(-1, 1, 3)
        Image.fromarray(np.clip(img + rng.normal(0, 5, (*size, 3)), 0, 255).astype(np.uint8)).save(folder / f"{i}.png")


def _train(tmp_path: Path, runs: str, *extra: str) -> None:
    """The tiny config on the synthetic folders, logging under tmp_path/runs."""
    train_main([
        "fit", "--config", str(CONFIG),
        "--data.init_args.train_dir", str(tmp_path / "train"),
        "--data.init_args.val_dir", str(tmp_path / "val"),
        "--trainer.logger.init_args.save_dir", str(tmp_path / runs),
        "--trainer.default_root_dir", str(tmp_path / runs),
        *extra,
    ])


def test_tiny_training_then_encode_decode(tmp_path, capsys):
    _photos(tmp_path / "train", 3, (80, 90))
    _photos(tmp_path / "val", 1, (50, 70))  # not a multiple of 64: validation pads
    _train(tmp_path, "runs")
    ckpts = sorted((tmp_path / "runs").rglob("last.ckpt"))
    assert ckpts, "training wrote no checkpoint"
    ckpt = ckpts[0]
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"] == 2

    # resume: the run continues from step 2 to step 4 (one step per batch, not per optimiser)
    resumed = tmp_path / "resumed.ckpt"
    _train(tmp_path, "runs2", "--trainer.max_steps", "4", "--ckpt_path", str(ckpt))
    last2 = sorted((tmp_path / "runs2").rglob("last.ckpt"))[0]
    assert torch.load(last2, map_location="cpu", weights_only=False)["global_step"] == 4
    last2.rename(resumed)

    img = tmp_path / "photo.png"
    _photos(tmp_path / "in", 1, (37, 51))
    (tmp_path / "in" / "0.png").rename(img)
    assert cli_main(["encode", str(img), "-o", str(tmp_path / "photo.bin"), "--checkpoint", str(ckpt), "-q", "2"]) == 0
    payload = bitstream.read(tmp_path / "photo.bin")
    assert payload.codec == "hyperprior" and payload.metadata == {"height": 37, "width": 51, "quality": 2}
    assert cli_main(["decode", str(tmp_path / "photo.bin"), "-o", str(tmp_path / "out.png"), "--checkpoint", str(ckpt)]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (37, 51, 3)

    # export to a compact checkpoint: same weights hash, so the file still decodes
    assert cli_main(["export", str(ckpt), "-o", str(tmp_path / "tiny.pt")]) == 0
    assert cli_main(["decode", str(tmp_path / "photo.bin"), "-o", str(tmp_path / "out2.png"), "--checkpoint", str(tmp_path / "tiny.pt")]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out2.png")), out)

    # folder mode with a progress bar, then a corrupted file gives a clear error (exit 2)
    assert cli_main(["encode", str(tmp_path / "train"), "-o", str(tmp_path / "bins"), "--checkpoint", str(ckpt), "-q", "3"]) == 2
    assert "quality must be 1..2" in capsys.readouterr().err  # the tiny model has 2 levels
    assert not (tmp_path / "bins").exists()  # refused before any work
    assert cli_main(["encode", str(tmp_path / "train"), "-o", str(tmp_path / "bins"), "--checkpoint", str(ckpt)]) == 0
    assert len(list((tmp_path / "bins").glob("*.bin"))) == 3  # default quality: the top of 2 levels
    data = bytearray((tmp_path / "photo.bin").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "bad.bin").write_bytes(bytes(data))
    capsys.readouterr()
    assert cli_main(["decode", str(tmp_path / "bad.bin"), "--checkpoint", str(ckpt)]) == 2
    assert "checksum" in capsys.readouterr().err
    # decoding with other weights: a model-mismatch error, not garbage
    from neurocodec.codecs import registry

    registry.save_checkpoint(registry.build("hyperprior", N=8, M=8, qualities=2), tmp_path / "other.pt")
    assert cli_main(["decode", str(tmp_path / "photo.bin"), "--checkpoint", str(tmp_path / "other.pt")]) == 2
    assert "same checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["encode", "/nonexistent.png"], ["decode", "/nonexistent.bin"], ["info", "/nonexistent.bin"]])
def test_missing_files_are_clear_errors(argv, capsys):
    assert cli_main(argv) == 2
    assert "error" in capsys.readouterr().err
