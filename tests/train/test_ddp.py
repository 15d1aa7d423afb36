"""Every training config runs under DDP (2 CPU processes, gloo), at tiny sizes: the ranks draw
different samples, end with identical weights, write one checkpoint that resumes, and the
exported codec codes an image (or a signal, for the audio configs). Configs added later are
covered automatically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neurocodec import bitstream
from neurocodec.codecs import registry

CONFIGS = sorted((Path(__file__).parents[2] / "neurocodec" / "train" / "configs").glob("*.yaml"))
SLOW = {"gmm.yaml", "hyperprior.yaml", "dac.yaml", "snac.yaml", "hytip.yaml", "shallow.yaml", "mambaic.yaml"}  # the same code paths as their -cpu configs; run with -m slow
TINY = {"hyperprior": "{N: 8, M: 8, qualities: 2}", "gmm": "{N: 8, M: 12, K: 2, qualities: 2}",
        "dac": "{enc_channels: 4, dec_channels: 16, latent: 8, n_q: 3, codebook_size: 64}",
        "snac": "{enc_channels: 4, dec_channels: 16, latent: 8, codebook_size: 64}",
        "hytip": "{N: 8, M: 8, Nm: 8, Mm: 8, ctx: [4, 4, 4]}", "shallow": "{N: 8, M: 8, A: 8, qualities: 2}",
        "mambaic": "{N: 8, M: 12, slices: 2, state: 2, context: 4, agg: 8, window: 4, qualities: 2}"}


def _codec_of(cfg: Path) -> str:
    text = cfg.read_text()
    if "video_module" in text:
        return "hytip"
    if "codec: shallow" in text:
        return "shallow"
    if "codec: mambaic" in text:
        return "mambaic"
    for name in ("snac", "dac", "gmm"):
        if f"codec: {name}" in text:
            return name
    return "hyperprior"


def _voices(path: Path, n: int) -> Path:
    """n synthetic 1 s speech-like FLAC files in a LibriSpeech-like split folder."""
    from neurocodec.io import audio

    path.mkdir(parents=True)
    t = np.arange(16000) / 16000
    for i in range(n):
        ph = 2 * np.pi * np.cumsum(100 + 10 * i + 20 * np.sin(2 * np.pi * t)) / 16000
        x = 0.05 * sum(np.sin(k * ph) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
        audio.write(path / f"{i:02d}.flac", x[None].astype(np.float32), 16000)
    return path


def _folder(path: Path, n: int, size: int = 80) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(len(str(path)))
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def _train(cfg: Path, tmp: Path, steps: int, probe: str, resume: str | None = None) -> subprocess.CompletedProcess:
    codec = _codec_of(cfg)
    if codec == "hytip":
        data = ["--data.init_args.vimeo_dir", str(tmp / "vimeo"), "--data.init_args.photo_dir", str(tmp / "train"),
                "--data.init_args.patch_size", "64", "--data.init_args.frames", "3", "--data.init_args.batch_size", "1",
                "--data.init_args.samples_per_epoch", "6", "--data.init_args.val_clips", "1",
                "--data.init_args.val_frames", "2", "--data.init_args.workers", "0",
                "--model.init_args.frames_schedule", "[[0, 2], [2, 3]]"]
    elif codec in ("dac", "snac"):
        data = ["--data.init_args.root", str(tmp / "libri"), "--data.init_args.crop", "3200",
                "--data.init_args.batch_size", "2", "--data.init_args.samples_per_epoch", "8",
                "--data.init_args.val_utterances", "1", "--data.init_args.val_seconds", "1.0",
                "--data.init_args.workers", "0", "--data.init_args.limit", "null"]
    else:
        data = ["--data.init_args.train_dir", str(tmp / "train"), "--data.init_args.val_dir", str(tmp / "val"),
                "--data.init_args.patch_size", "64", "--data.init_args.batch_size", "2",
                "--data.init_args.samples_per_epoch", "8", "--data.init_args.val_images", "1",
                "--data.init_args.workers", "0"]
    text = cfg.read_text()
    tiny = TINY[codec][:-1] + ", transform: gdn}" if "transform: gdn" in text else TINY[codec]
    args = [
        sys.executable, "-m", "neurocodec.train.cli", "fit", "--config", str(cfg),
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger.init_args.save_dir", str(tmp / "runs"), "--trainer.logger.init_args.name", "ddp",
        "--trainer.callbacks+=neurocodec.train.callbacks.RankProbe", f"--trainer.callbacks.dir={probe}",
        "--model.init_args.codec_config", tiny, *data,
    ]
    if "init_hyperprior_from" in text:  # the shipped weights are of another size than the tiny codec
        args += ["--model.init_args.init_hyperprior_from", "null"]
    if resume:
        args += ["--ckpt_path", resume]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(args, cwd=tmp, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("cfg", [pytest.param(c, id=c.stem, marks=[pytest.mark.slow] if c.name in SLOW else [])
                                 for c in CONFIGS])
def test_config_trains_under_ddp(cfg, tmp_path):
    audio = _codec_of(cfg) in ("dac", "snac")
    video = _codec_of(cfg) == "hytip"
    if audio:
        _voices(tmp_path / "libri" / "train-clean-100", 5)
    elif video:
        _folder(tmp_path / "train", 3)
        for clip in range(3):  # Vimeo-90k layout: sequences/<group>/<clip>/im1..im7.png
            _folder(tmp_path / "vimeo" / "sequences" / "00001" / f"000{clip + 1}", 0)
            base = np.random.default_rng(clip).integers(0, 255, (72, 100, 3), dtype=np.uint8)
            for t in range(7):
                Image.fromarray(np.roll(base, 2 * t, axis=1)[:64, :96]).save(
                    tmp_path / "vimeo" / "sequences" / "00001" / f"000{clip + 1}" / f"im{t + 1}.png")
    else:
        _folder(tmp_path / "train", 3)
        _folder(tmp_path / "val", 1)
    r = _train(cfg, tmp_path, 3, str(tmp_path / "probe"))
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / "probe" / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [d["world"] for d in ranks] == [2, 2] and [d["step"] for d in ranks] == [3, 3]
    # different samples on the two ranks, identical weights after the steps
    assert len(ranks[0]["batches"]) == 3 and not set(ranks[0]["batches"]) & set(ranks[1]["batches"])
    assert ranks[0]["state_sha256"] == ranks[1]["state_sha256"]
    # one run folder with its checkpoints, written once (by rank 0)
    runs = list((tmp_path / "runs" / "ddp").iterdir())
    assert len(runs) == 1
    last = runs[0] / "checkpoints" / "last.ckpt"
    assert last.exists() and torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 3
    # it resumes under DDP
    r = _train(cfg, tmp_path, 5, str(tmp_path / "probe2"), resume=str(last))
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = [json.loads((tmp_path / "probe2" / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [d["step"] for d in resumed] == [5, 5] and resumed[0]["state_sha256"] == resumed[1]["state_sha256"]
    assert not set(resumed[0]["batches"]) & set(ranks[0]["batches"] + ranks[1]["batches"])  # new epochs, new crops
    # the exported codec codes an image (a signal, a clip)
    if video:
        import io
        from fractions import Fraction

        from neurocodec.codecs.video.stream import VideoDecoder, VideoEncoder

        codec = registry.load(registry.save_checkpoint(registry.load(last), tmp_path / "exported.pt", update_quantiles=True))
        frames = [np.asarray(Image.open(tmp_path / "vimeo" / "sequences" / "00001" / "0001" / f"im{t}.png")) for t in (1, 2, 3)]
        f = io.BytesIO()
        enc = VideoEncoder(codec, f, 96, 64, Fraction(25), 3, 1, gop=2)
        recon = [enc.encode(fr)[1] for fr in frames]
        enc.close()
        assert all(np.array_equal(a, b) for a, b in zip(VideoDecoder(codec, f.getvalue()), recon))
        return
    if audio:
        codec = registry.load(registry.save_checkpoint(registry.load(last), tmp_path / "exported.pt"))
        x = torch.from_numpy(np.sin(np.arange(5000) / 7.0).astype(np.float32))[None] * 0.1
        p, y = codec.compress(x)
        assert p.codec == codec.name and torch.equal(codec.decompress(bitstream.loads(bitstream.dumps(p))), y)
        return
    codec = registry.load(registry.save_checkpoint(registry.load(last), tmp_path / "exported.pt", update_quantiles=True))
    rgb = np.asarray(Image.open(tmp_path / "val" / "0.png"))
    data = codec.encode_image(rgb, 2)
    assert bitstream.loads(data).codec == codec.name
    assert codec.decode_image(data).shape == rgb.shape


def _restart_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from neurocodec.nn.rvq import FactorizedVQ

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)  # the same initial codebook on both ranks, as DDP starts them
    q = FactorizedVQ(8, size=32, code_dim=4, restart_every=2).train()
    torch.manual_seed(100 + rank)  # different data and different random draws per rank
    for _ in range(80):  # unused entries decay below the restart threshold after ~70 calls
        q(torch.randn(2, 8, 10) * (rank + 1))
    torch.save({"codebook": q.codebook.weight.detach(), "usage": q.usage}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_codebook_restarts_stay_identical_across_ranks(tmp_path):
    """Dead-entry restarts replace codebook rows outside the gradient: under DDP the usage is
    summed over ranks and rank 0's replacement vectors are broadcast, so ranks never diverge."""
    import socket

    import torch.multiprocessing as tmp_mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tmp_mp.spawn(_restart_worker, args=(2, port, str(tmp_path)), nprocs=2)
    a, b = (torch.load(tmp_path / f"rank{i}.pt") for i in (0, 1))
    assert torch.equal(a["codebook"], b["codebook"]) and torch.equal(a["usage"], b["usage"])
    torch.manual_seed(0)
    from neurocodec.nn.rvq import FactorizedVQ

    assert not torch.equal(a["codebook"], FactorizedVQ(8, size=32, code_dim=4).codebook.weight)  # restarts happened
