"""Audio through the command line: encode/decode/info of files and folders, the same safety
rules as images, clear refusals, and a 2-step training run whose checkpoint encode uses
(synthetic speech-like files, so it needs no data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neurocodec import bitstream
from neurocodec.cli import main
from neurocodec.codecs import registry
from neurocodec.io import audio
from neurocodec.train.cli import main as train_main

CONFIG = Path(__file__).resolve().parents[1] / "neurocodec" / "train" / "configs" / "tiny-audio.yaml"


def _voice(path: Path, seconds: float = 1.0, rate: int = 16000, channels: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 20 * seed + 15 * np.sin(2 * np.pi * 0.5 * t)
    ph = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * ph) / k for k in range(1, 10)) * (0.4 + 0.6 * np.sin(2 * np.pi * 2.5 * t) ** 2)
    x = np.stack([0.08 * x * (1 - 0.2 * c) + 0.002 * rng.standard_normal(len(t)) for c in range(channels)])
    audio.write(path, x.astype(np.float32), rate)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    torch.manual_seed(0)
    codec = registry.build("dac", enc_channels=4, dec_channels=16, latent=8, n_q=4, codebook_size=64).eval()
    return str(registry.save_checkpoint(codec, tmp_path_factory.mktemp("ck") / "tiny-dac.pt"))


def test_encode_decode_info(tmp_path: Path, ckpt: str, capsys) -> None:
    src = _voice(tmp_path / "talk.mp3", 1.5, 44100, 2)
    assert main(["encode", str(src), "--checkpoint", ckpt, "--codec", "dac", "--stages", "2"]) == 0
    out = tmp_path / "talk.mp3.bin"
    assert out.exists()
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["codec"] == "dac" and info["metadata"]["stages"] == 2 and info["metadata"]["rate"] == 44100
    assert info["kbps"] == pytest.approx(8 * out.stat().st_size / info["seconds"] / 1000, rel=1e-3)
    assert "averaged" in info["channels_note"]
    assert main(["decode", str(out), "--checkpoint", ckpt]) == 0
    dec = tmp_path / "talk.decoded.wav"
    assert audio.probe(dec).rate == 44100
    assert audio.read(dec).shape == (1, audio.read(src).shape[-1])
    # a .bin without a hint in its name still decodes to audio
    plain = tmp_path / "x.bin"
    plain.write_bytes(out.read_bytes())
    assert main(["decode", str(plain), "--checkpoint", ckpt]) == 0
    assert (tmp_path / "x.decoded.wav").exists()


def test_kbps_picks_stages_and_sizes_grow(tmp_path: Path, ckpt: str) -> None:
    src = _voice(tmp_path / "a.wav", 2.0)
    sizes = []
    for n in (1, 2, 4):
        dst = tmp_path / f"a{n}.bin"
        assert main(["encode", str(src), "-o", str(dst), "--checkpoint", ckpt, "--codec", "dac", "--stages", str(n)]) == 0
        sizes.append(dst.stat().st_size)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    dst = tmp_path / "k.bin"
    codec = registry.load(ckpt)
    from neurocodec.codecs.audio.base import header_kbps

    kbps = codec.kbps_table()[1][1] + header_kbps(2.0)  # --kbps counts the whole file, header included
    assert main(["encode", str(src), "-o", str(dst), "--checkpoint", ckpt, "--codec", "dac", "--kbps", str(kbps),
                 "--beam", "4"]) == 0
    assert bitstream.read(dst).metadata["stages"] == 2


def test_folders_bad_files_and_safety(tmp_path: Path, ckpt: str, capsys) -> None:
    d = tmp_path / "in"
    d.mkdir()
    _voice(d / "a.flac")
    _voice(d / "b.wav", seed=1)
    (d / "c.wav").write_bytes(b"RIFF....junk")
    code = main(["encode", str(d), "-o", str(tmp_path / "out"), "--checkpoint", ckpt, "--codec", "dac", "--quiet"])
    assert code == 1  # one bad file: reported, the others done
    err = capsys.readouterr().err
    assert "c.wav" in err and "2 done, 1 failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.flac.bin", "b.wav.bin"]
    # existing outputs are refused before any work; inputs are never written
    assert main(["encode", str(d / "a.flac"), "-o", str(tmp_path / "out" / "a.flac.bin"), "--checkpoint", ckpt,
                 "--codec", "dac"]) == 2
    assert main(["encode", str(d / "a.flac"), "-o", str(d / "a.flac"), "--checkpoint", ckpt, "--codec", "dac", "-f"]) == 2
    assert main(["decode", str(tmp_path / "out"), "-o", str(tmp_path / "dec"), "--checkpoint", ckpt, "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == ["a.decoded.wav", "b.decoded.wav"]


def test_refusals_are_clear(tmp_path: Path, ckpt: str, capsys) -> None:
    src = _voice(tmp_path / "v.wav")
    for args, msg in [
        (["--codec", "dac", "-q", "3"], "--quality is for images"),
        (["--codec", "dac", "--kbps", "2", "--stages", "2"], "not both"),
        (["--codec", "dac", "--beam", "0"], "--beam"),
        (["--codec", "dac", "--kbps", "-1"], "--kbps"),
        (["--codec", "dac", "--stages", "9"], "stages must be"),
        (["--codec", "hyperprior"], "is an image codec"),
    ]:
        capsys.readouterr()
        assert main(["encode", str(src), "--checkpoint", ckpt, *args]) == 2, args
        assert msg in capsys.readouterr().err, args
    assert main(["encode", str(src), "--checkpoint", ckpt, "--codec", "dac"]) == 0
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "v.wav.bin"), "-o", str(tmp_path / "v.png"), "--checkpoint", ckpt]) == 2
    assert "holds audio" in capsys.readouterr().err
    snac = registry.build("snac", enc_channels=4, dec_channels=16, latent=8, codebook_size=64).eval()
    other = registry.save_checkpoint(snac, tmp_path / "snac.pt")
    assert main(["decode", str(tmp_path / "v.wav.bin"), "-o", str(tmp_path / "w.wav"), "--checkpoint", str(other)]) == 2
    assert "snac" in capsys.readouterr().err


def test_many_channels_and_damaged_lengths(tmp_path: Path, ckpt: str, capsys) -> None:
    """--keep-channels with 3 channels decodes (FFmpeg's default 3-channel layout) at the exact
    length; a header whose sample count disagrees with the coded length, or names 0 channels,
    is refused before anything is written; an output format that cannot hold the rate is a
    clear error; a 1 Hz file is refused at encode."""
    src = _voice(tmp_path / "three.wav", 0.3, 16000, 3)
    assert main(["encode", str(src), "--checkpoint", ckpt, "--codec", "dac", "--keep-channels"]) == 0
    coded = tmp_path / "three.wav.bin"
    assert main(["decode", str(coded), "-o", str(tmp_path / "three_out.flac"), "--checkpoint", ckpt]) == 0
    assert audio.read(tmp_path / "three_out.flac").shape == audio.read(src).shape == (3, 4800)
    p = bitstream.read(coded)
    for change, msg in [({"n": 4800 * 2000}, "inconsistent"), ({"n": 4800 + 200}, "inconsistent"),
                        ({"coded": 0}, "out of range"), ({"rate": 1}, "out of range")]:
        bad = tmp_path / "bad.bin"
        bad.write_bytes(bitstream.dumps(bitstream.Payload(p.codec, p.weights_hash, {**p.metadata, **change}, p.sections)))
        capsys.readouterr()
        assert main(["decode", str(bad), "-o", str(tmp_path / "bad.wav"), "-f", "--checkpoint", ckpt]) == 2, change
        assert msg in capsys.readouterr().err, change
        assert not (tmp_path / "bad.wav").exists() and not list(tmp_path.glob(".nc-*")), change
    hi = _voice(tmp_path / "hi.wav", 0.2, 96000)
    assert main(["encode", str(hi), "--checkpoint", ckpt, "--codec", "dac"]) == 0
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "hi.wav.bin"), "-o", str(tmp_path / "hi.mp3"), "--checkpoint", ckpt]) == 2
    assert "write .wav or .flac" in capsys.readouterr().err and not list(tmp_path.glob("*.mp3"))
    low = tmp_path / "low.wav"
    audio.write(low, np.zeros((1, 8), np.float32), 1)
    assert main(["encode", str(low), "--checkpoint", ckpt, "--codec", "dac"]) == 2
    assert "1 Hz" in capsys.readouterr().err


def test_two_step_training_writes_a_checkpoint_encode_uses(tmp_path: Path) -> None:
    split = tmp_path / "libri" / "train-clean-100"
    split.mkdir(parents=True)
    for i in range(10):
        _voice(split / f"{i:02d}.flac", 1.2, seed=i)
    train_main(["fit", "--config", str(CONFIG), "--data.init_args.root", str(tmp_path / "libri"),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
                "--trainer.default_root_dir", str(tmp_path / "runs")])
    ckpt = sorted((tmp_path / "runs").rglob("last.ckpt"))[0]
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"] == 2
    # resume: from step 2 to step 3 with the optimiser state and the codebook usage restored
    train_main(["fit", "--config", str(CONFIG), "--data.init_args.root", str(tmp_path / "libri"),
                "--trainer.logger.init_args.save_dir", str(tmp_path / "runs2"),
                "--trainer.default_root_dir", str(tmp_path / "runs2"), "--trainer.max_steps", "3", "--ckpt_path", str(ckpt)])
    resumed = torch.load(sorted((tmp_path / "runs2").rglob("last.ckpt"))[0], map_location="cpu", weights_only=False)
    assert resumed["global_step"] == 3 and "codec.quantizer.stages.0.usage" in resumed["state_dict"]
    src = _voice(tmp_path / "t.wav", 1.0, 22050, seed=3)
    assert main(["encode", str(src), "--checkpoint", str(ckpt), "--codec", "dac"]) == 0
    assert main(["decode", str(tmp_path / "t.wav.bin"), "--checkpoint", str(ckpt)]) == 0
    assert audio.read(tmp_path / "t.decoded.wav").shape == (1, 22050)
    with pytest.raises(Exception, match="evaluation split"):
        from neurocodec.train.audio_data import LibriSpeechData

        LibriSpeechData(split="test-clean")
