"""Videos through the command line: a two-step training run of the tiny video config, then
encode / decode / info with its checkpoint on synthetic clips (y4m 8 and 10 bit, raw .yuv, PNG
frame folders, mp4 with an audio track), and every bad input refused clearly."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from neurocodec import bitstream
from neurocodec.cli import main as cli_main
from neurocodec.io.video import VideoWriter, probe, read_rgb
from neurocodec.train.cli import main as train_main

CONFIG = Path(__file__).resolve().parents[1] / "neurocodec" / "train" / "configs" / "tiny-video.yaml"


def _frames(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : h + 8, 0 : w + 3 * n]
    base = 128 + 90 * np.sin(xx / 6.0 + yy / 9.0)[..., None] * rng.uniform(-1, 1, 3)
    base = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(base[:h, 3 * k : 3 * k + w]) for k in range(n)]


def _y4m(path: Path, n: int = 5, h: int = 48, w: int = 64) -> Path:
    with VideoWriter(path, w, h, Fraction(25)) as wr:
        for f in _frames(n, h, w):
            wr.write(f)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """The tiny video config trained for two steps on synthetic septuplets and photos."""
    from PIL import Image

    tmp = tmp_path_factory.mktemp("train")
    photos = tmp / "photos"
    photos.mkdir()
    for i, f in enumerate(_frames(2, 90, 100, seed=5)):
        Image.fromarray(f).save(photos / f"{i}.png")
    for clip in range(2):
        d = tmp / "vimeo" / "sequences" / "00001" / f"000{clip + 1}"
        d.mkdir(parents=True)
        for t, f in enumerate(_frames(7, 64, 96, seed=clip)):
            Image.fromarray(f).save(d / f"im{t + 1}.png")
    train_main(["fit", "--config", str(CONFIG), "--data.init_args.vimeo_dir", str(tmp / "vimeo"),
                "--data.init_args.photo_dir", str(photos), "--trainer.logger.init_args.save_dir", str(tmp / "runs"),
                "--trainer.default_root_dir", str(tmp / "runs"), "--trainer.enable_progress_bar", "false"])
    last = sorted((tmp / "runs").rglob("last.ckpt"))[0]
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 2
    return last


def test_encode_decode_info_round_trip(ckpt, tmp_path, capsys):
    src = _y4m(tmp_path / "clip.y4m", n=5, h=48, w=64)
    out = tmp_path / "clip.y4m.bin"
    assert cli_main(["encode", str(src), "--checkpoint", str(ckpt), "-q", "2", "--gop", "3", "--quiet"]) == 0
    assert out.exists()
    capsys.readouterr()
    assert cli_main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 5 and info["gop"] == 3 and info["codec"] == "hytip"
    per = info["bytes_per_frame_type"]
    assert per["I"]["frames"] == 2 and per["P"]["frames"] == 3
    assert info["bpp"] == round(8 * out.stat().st_size / (5 * 48 * 64), 5)
    assert info["metadata"]["color"]["matrix"] == "bt709"
    # default name: clip.decoded.y4m; lossless mkv and PNG frames give the same pixels
    assert cli_main(["decode", str(out), "--checkpoint", str(ckpt), "--quiet"]) == 0
    y4m_frames = list(read_rgb(probe(tmp_path / "clip.decoded.y4m")))
    assert len(y4m_frames) == 5 and y4m_frames[0].shape == (48, 64, 3)
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "clip.mkv"), "--checkpoint", str(ckpt), "--quiet"]) == 0
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "frames"), "--checkpoint", str(ckpt), "--quiet"]) == 0
    mkv = list(read_rgb(probe(tmp_path / "clip.mkv")))
    png = list(read_rgb(probe(tmp_path / "frames")))
    assert len(png) == 5 and all(np.array_equal(a, b) for a, b in zip(mkv, png))
    # y4m stores 4:2:0 YUV: close to the RGB frames, not equal
    assert np.abs(y4m_frames[2].astype(int) - png[2].astype(int)).mean() < 6
    # nothing is overwritten without --force
    capsys.readouterr()
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "clip.mkv"), "--checkpoint", str(ckpt), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err


def test_other_sources(ckpt, tmp_path):
    import av

    # raw .yuv, geometry from the name
    frames = _frames(3, 32, 48)
    from neurocodec.io.video import rgb_to_yuv420

    with open(tmp_path / "cam_48x32_25fps.yuv", "wb") as f:
        for fr in frames:
            for plane in rgb_to_yuv420(fr, "bt709", "limited"):
                f.write(plane.tobytes())
    assert cli_main(["encode", str(tmp_path / "cam_48x32_25fps.yuv"), "--checkpoint", str(ckpt), "--quiet"]) == 0
    assert bitstream.read_header(tmp_path / "cam_48x32_25fps.yuv.bin").metadata["frames"] == 3
    # a PNG frame folder: one clip, written beside it as NAME.bin
    from PIL import Image

    (tmp_path / "shots").mkdir()
    for i, fr in enumerate(frames):
        Image.fromarray(fr).save(tmp_path / "shots" / f"f{i + 1}.png")
    assert cli_main(["encode", str(tmp_path / "shots"), "--codec", "hytip", "--checkpoint", str(ckpt), "--quiet"]) == 0
    assert bitstream.read_header(tmp_path / "shots.bin").metadata["frames"] == 3
    # an mp4 with an audio track: the video is coded, the audio ignored
    mp4 = tmp_path / "talk.mp4"
    with av.open(str(mp4), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 48, 32, "yuv420p"
        a = c.add_stream("aac", rate=48000)
        for fr in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(p)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        af.sample_rate = 48000
        for p in a.encode(af):
            c.mux(p)
        for s in (vs, a):
            for p in s.encode():
                c.mux(p)
    assert cli_main(["encode", str(mp4), "--codec", "hytip", "--checkpoint", str(ckpt), "--quiet"]) == 0
    assert bitstream.read_header(tmp_path / "talk.mp4.bin").metadata["frames"] == 3
    # 10-bit y4m
    y10 = tmp_path / "deep.y4m"
    with open(y10, "wb") as f:
        f.write(b"YUV4MPEG2 W17 H9 F25:1 Ip A1:1 C420p10\n")
        rng = np.random.default_rng(1)
        for _ in range(2):
            f.write(b"FRAME\n")
            for shape in ((9, 17), (5, 9), (5, 9)):
                f.write(rng.integers(64, 940, shape, dtype=np.uint16).astype("<u2").tobytes())
    assert cli_main(["encode", str(y10), "--checkpoint", str(ckpt), "--quiet"]) == 0
    meta = bitstream.read_header(tmp_path / "deep.y4m.bin").metadata
    assert meta["width"] == 17 and meta["height"] == 9 and meta["color"]["bit_depth"] == 10


def test_bad_inputs_are_clear_errors(ckpt, tmp_path, capsys):
    def err(argv: list[str]) -> str:
        capsys.readouterr()
        assert cli_main(argv) == 2
        return capsys.readouterr().err

    bad = tmp_path / "bad_48x32.yuv"
    bad.write_bytes(bytes(48 * 32 * 3 // 2 * 2 + 7))
    assert "frame" in err(["encode", str(bad), "--checkpoint", str(ckpt), "--quiet"])
    (tmp_path / "junk.y4m").write_bytes(b"not a video at all")
    assert "error" in err(["encode", str(tmp_path / "junk.y4m"), "--checkpoint", str(ckpt), "--quiet"])
    (tmp_path / "empty.y4m").write_bytes(b"")
    assert "error" in err(["encode", str(tmp_path / "empty.y4m"), "--checkpoint", str(ckpt), "--quiet"])
    src = _y4m(tmp_path / "c.y4m", n=3)
    assert "quality" in err(["encode", str(src), "--checkpoint", str(ckpt), "-q", "7"])
    assert "--gop" in err(["encode", str(src), "--checkpoint", str(ckpt), "--gop", "0"])
    from PIL import Image

    Image.fromarray(_frames(1, 16, 16)[0]).save(tmp_path / "x.png")
    assert "for video" in err(["encode", str(tmp_path / "x.png"), "--gop", "4"])
    assert "audio" in err(["encode", str(src), "--checkpoint", str(ckpt), "--kbps", "6"])
    # a truncated file names its frame; a corrupt one fails by checksum
    assert cli_main(["encode", str(src), "--checkpoint", str(ckpt), "--quiet", "--gop", "2"]) == 0
    data = (tmp_path / "c.y4m.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-5])
    assert "frame 2" in err(["decode", str(tmp_path / "cut.bin"), "--checkpoint", str(ckpt), "--quiet"])
    assert not (tmp_path / "cut.decoded.y4m").exists()  # no partial output
    (tmp_path / "flip.bin").write_bytes(data[:-30] + bytes([data[-30] ^ 1]) + data[-29:])
    assert "checksum" in err(["decode", str(tmp_path / "flip.bin"), "--checkpoint", str(ckpt), "--quiet"])
    # a damaged colour policy in the header (not an object; an unknown matrix or range)
    from neurocodec import bitstream

    p = bitstream.loads(data)
    for color in ("x", {"matrix": "bogus"}, {"matrix": "rgb", "yuv_matrix": "bt709", "yuv_range": "wide"}):
        (tmp_path / "col.bin").write_bytes(bitstream.dumps(bitstream.Payload(
            p.codec, p.weights_hash, {**p.metadata, "color": color}, p.sections)))
        assert "colour policy" in err(["decode", str(tmp_path / "col.bin"), "-o", str(tmp_path / "col.y4m"), "-f",
                                       "--checkpoint", str(ckpt), "--quiet"]), color
        assert not (tmp_path / "col.y4m").exists()
    # another model's file
    assert "not a video codec" in err(["decode", str(tmp_path / "c.y4m.bin"), "--checkpoint", "hyperprior", "--quiet"])
    # an image-only output suffix for a video
    assert ".y4m" in err(["decode", str(tmp_path / "c.y4m.bin"), "-o", str(tmp_path / "c.png"), "--checkpoint", str(ckpt)])
