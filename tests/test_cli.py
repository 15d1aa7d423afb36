"""The command line never loses a user's file, finishes batch jobs, and fails cleanly and early.

A small untrained checkpoint keeps these fast; the coding path does not depend on training.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neurocodec.cli import main
from neurocodec.codecs import registry
from neurocodec.io.files import atomic_path


def _png(path: Path, h: int = 40, w: int = 56, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 255, (h, w, 4 if mode == "RGBA" else 3), dtype=np.uint8)
    if mode == "RGBA":
        a[..., 3] = 128  # transparent: refused by the codecs
    img = Image.fromarray(a, mode)
    img.save(path)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    torch.manual_seed(0)
    codec = registry.build("hyperprior", N=16, M=24, qualities=2).eval()
    return str(registry.save_checkpoint(codec, tmp_path_factory.mktemp("ck") / "small.pt"))


def _run(*args: str) -> int:
    return main([str(a) for a in args])


def test_readme_example_never_replaces_the_original(tmp_path, ckpt, capsys):
    photo = _png(tmp_path / "photo.png")
    original = photo.read_bytes()
    assert _run("encode", photo, "-o", tmp_path / "photo.bin", "--checkpoint", ckpt, "-q", "2") == 0
    # decoding back onto the original is refused: it exists
    assert _run("decode", tmp_path / "photo.bin", "-o", photo, "--checkpoint", ckpt) == 2
    assert "exists" in capsys.readouterr().err
    assert photo.read_bytes() == original
    # default names never land on the input or the original
    assert _run("encode", photo, "--checkpoint", ckpt, "-q", "1") == 0
    assert (tmp_path / "photo.png.bin").exists()
    assert _run("decode", tmp_path / "photo.png.bin", "--checkpoint", ckpt) == 0
    out = Image.open(tmp_path / "photo.decoded.png")
    assert out.size == (56, 40)
    assert photo.read_bytes() == original
    # --force overwrites an output, never an input
    assert _run("decode", tmp_path / "photo.png.bin", "--checkpoint", ckpt, "-f") == 0
    assert _run("encode", photo, "-o", photo, "--checkpoint", ckpt, "-f") == 2
    assert photo.read_bytes() == original


def test_output_onto_input_and_collisions_are_refused_before_work(tmp_path, ckpt, capsys):
    a = _png(tmp_path / "a.png")
    before = a.read_bytes()
    assert _run("encode", a, "-o", a, "--checkpoint", ckpt) == 2
    assert a.read_bytes() == before
    folder = tmp_path / "pics"
    folder.mkdir()
    _png(folder / "x.png", seed=1)
    Image.open(folder / "x.png").save(folder / "x.jpg")
    assert _run("encode", folder, "--checkpoint", ckpt, "--quiet") == 0
    assert sorted(p.name for p in folder.glob("*.bin")) == ["x.jpg.bin", "x.png.bin"]  # both kept
    capsys.readouterr()
    # decoding both by default would write x.decoded.png twice: found before any work
    assert _run("decode", folder, "--checkpoint", ckpt, "--quiet") == 2
    assert "both be written" in capsys.readouterr().err
    assert not list(folder.glob("*.decoded.png"))


def test_folder_with_bad_files_encodes_every_good_one(tmp_path, ckpt, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _png(folder / "1.png", seed=1)
    (folder / "2.png").write_bytes(b"not an image")
    _png(folder / "3.png", seed=3)
    _png(folder / "4.png", mode="RGBA")
    _png(folder / "5.png", seed=5)
    report = tmp_path / "report.json"
    rc = _run("encode", folder, "-o", tmp_path / "out", "--checkpoint", ckpt, "--quiet", "--report", report)
    assert rc == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.png.bin", "3.png.bin", "5.png.bin"]
    err = capsys.readouterr().err
    assert "3 done, 2 failed" in err and "2.png" in err and "4.png" in err and "transparency" in err
    doc = json.loads(report.read_text())
    rows = {Path(r["input"]).name: r for r in doc["files"]}
    assert [rows[n]["ok"] for n in sorted(rows)] == [True, False, True, False, True]
    assert rows["1.png"]["bytes"] == (tmp_path / "out" / "1.png.bin").stat().st_size
    assert rows["1.png"]["bpp"] == pytest.approx(8 * rows["1.png"]["bytes"] / (40 * 56), abs=1e-4)
    # --fail-fast stops at the first failure
    rc = _run("encode", folder, "-o", tmp_path / "out2", "--checkpoint", ckpt, "--quiet", "--fail-fast")
    assert rc == 1 and sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["1.png.bin"]
    assert "not started" in capsys.readouterr().err


def test_folder_decode_goes_past_a_truncated_file(tmp_path, ckpt, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        _png(src / f"{'abc'[i]}.png", seed=i)
    assert _run("encode", src, "-o", tmp_path / "bins", "--checkpoint", ckpt, "--quiet") == 0
    b = tmp_path / "bins" / "b.png.bin"
    b.write_bytes(b.read_bytes()[:-7])
    assert _run("decode", tmp_path / "bins", "-o", tmp_path / "dec", "--checkpoint", ckpt, "--quiet") == 1
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == ["a.decoded.png", "c.decoded.png"]
    err = capsys.readouterr().err
    assert "b.png.bin" in err and "1 failed" in err


def test_paths_and_extensions_are_checked_first(tmp_path, ckpt, capsys):
    img = _png(tmp_path / "img.png")
    out_dir = tmp_path / "existing"
    out_dir.mkdir()
    assert _run("encode", img, "-o", f"{out_dir}/", "--checkpoint", ckpt) == 0
    assert (out_dir / "img.png.bin").exists()
    for bad in ("noext", "x.xyz"):
        assert _run("decode", out_dir / "img.png.bin", "-o", tmp_path / bad, "--checkpoint", ckpt) == 2
        assert not (tmp_path / bad).exists()
    assert "decode writes" in capsys.readouterr().err
    assert _run("encode", tmp_path / "missing.png") == 2
    assert "no such file" in capsys.readouterr().err


def test_model_mistakes_are_one_line_errors(tmp_path, ckpt, capsys):
    img = _png(tmp_path / "img.png")
    assert _run("encode", img, "--codec", "nosuch") == 2
    err = capsys.readouterr().err
    assert "unknown codec 'nosuch'" in err and "hyperprior" in err and "gmm" in err and len(err.splitlines()) == 1
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert _run("encode", img, "--checkpoint", text) == 2
    err = capsys.readouterr().err
    assert "not a PyTorch checkpoint" in err and len(err.splitlines()) == 1
    assert _run("encode", img, "--checkpoint", ckpt, "-q", "3") == 2  # a 2-level checkpoint
    assert "1..2" in capsys.readouterr().err
    for opt, value, msg in [("--workers", "0", "--workers"), ("--workers", "-1", "--workers"),
                            ("--refine-seconds", "nan", "--refine-seconds"), ("--refine-seconds", "inf", "--refine-seconds")]:
        assert _run("encode", img, "--checkpoint", ckpt, opt, value) == 2, (opt, value)
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "img.png.bin").exists()


def test_interrupt_leaves_no_partial_file(tmp_path, ckpt, monkeypatch, capsys):
    img = _png(tmp_path / "img.png")
    from neurocodec.codecs.image.base import ImageCodec

    def interrupted(self, rgb, quality, gray=False, **refine):  # noqa: ANN001, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(ImageCodec, "encode_image", interrupted)
    assert _run("encode", img, "--checkpoint", ckpt) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]
    # and a write interrupted half-way leaves nothing under the final name
    dst = tmp_path / "out.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(dst) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]


def test_sigterm_mid_write_leaves_no_partial_file(tmp_path, ckpt, monkeypatch, capsys):
    """SIGTERM (a job scheduler, `timeout`) is handled as Ctrl-C: the half-written output is
    removed, exit code 143, and the caller's SIGTERM handler is back afterwards."""
    import os
    import signal

    import neurocodec.io.images as images

    img = _png(tmp_path / "img.png")
    assert _run("encode", img, "--checkpoint", ckpt) == 0
    real = images.save_image

    def killed(a, path):  # noqa: ANN001, ANN202
        Path(path).write_bytes(b"half a PNG")
        os.kill(os.getpid(), signal.SIGTERM)
        real(a, path)  # not reached: the handler raises first

    monkeypatch.setattr(images, "save_image", killed)
    before = signal.getsignal(signal.SIGTERM)
    assert _run("decode", tmp_path / "img.png.bin", "-o", tmp_path / "out.png", "--checkpoint", ckpt) == 143
    assert "terminated" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png", "img.png.bin"]
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_files_codec_name_is_never_a_path(tmp_path, ckpt, capsys):
    """The codec a .bin names picks a shipped model by name; a name that is a path (a crafted
    or corrupt file) is refused before anything is loaded from it."""
    from neurocodec import bitstream

    img = _png(tmp_path / "img.png")
    assert _run("encode", img, "--checkpoint", ckpt) == 0
    p = bitstream.read(tmp_path / "img.png.bin")
    for name in (ckpt, "../../etc/passwd"):
        bad = tmp_path / "bad.bin"
        bad.write_bytes(bitstream.dumps(bitstream.Payload(name, p.weights_hash, p.metadata, p.sections)))
        capsys.readouterr()
        assert _run("decode", bad, "-o", tmp_path / "bad.png", "-f") == 2
        assert "names a codec this release does not have" in capsys.readouterr().err
        assert not (tmp_path / "bad.png").exists()


def test_broken_pipe_ends_quietly(tmp_path, ckpt, monkeypatch, capsys):
    img = _png(tmp_path / "img.png")
    assert _run("encode", img, "--checkpoint", ckpt) == 0

    class ClosedPipe(io.StringIO):
        def write(self, s):  # noqa: ANN001, ANN202
            raise BrokenPipeError

        def fileno(self):  # noqa: ANN202
            raise OSError("no file descriptor")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert _run("info", tmp_path / "img.png.bin") == 141
    assert capsys.readouterr().err == ""


def test_info_does_not_import_torch(tmp_path, ckpt):
    img = _png(tmp_path / "img.png")
    assert _run("encode", img, "--checkpoint", ckpt) == 0
    code = ("import sys; from neurocodec.cli import main; rc = main(['info', sys.argv[1]]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "img.png.bin")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["width"] == 56


def test_workers_share_a_folder(tmp_path, ckpt):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _png(folder / f"{i}.png", seed=i)
    assert _run("encode", folder, "-o", tmp_path / "one", "--checkpoint", ckpt, "--quiet") == 0
    assert _run("encode", folder, "-o", tmp_path / "two", "--checkpoint", ckpt, "--quiet", "--workers", "2") == 0
    for i in range(3):  # the same files, whichever process made them
        assert (tmp_path / "one" / f"{i}.png.bin").read_bytes() == (tmp_path / "two" / f"{i}.png.bin").read_bytes()


def test_grayscale_and_rotated_inputs_come_back_as_viewers_show_them(tmp_path, ckpt):
    g = np.tile(np.arange(56, dtype=np.uint8)[None, :] * 4, (40, 1))
    Image.fromarray(g, "L").save(tmp_path / "gray.png")
    assert _run("encode", tmp_path / "gray.png", "--checkpoint", ckpt) == 0
    assert _run("decode", tmp_path / "gray.png.bin", "--checkpoint", ckpt) == 0
    out = Image.open(tmp_path / "gray.decoded.png")
    assert out.mode == "L" and out.size == (56, 40)  # one channel: no tint
    rgb = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(rgb).save(tmp_path / "phone.jpg", exif=exif)
    assert _run("encode", tmp_path / "phone.jpg", "--checkpoint", ckpt) == 0
    assert _run("decode", tmp_path / "phone.jpg.bin", "--checkpoint", ckpt) == 0
    assert Image.open(tmp_path / "phone.decoded.png").size == (32, 48)  # the viewer's orientation


def test_plot_output_type_is_checked_before_work(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "none.json"), "-o", str(tmp_path / "p.xyz")]) == 2
    assert "plot writes" in capsys.readouterr().err
    assert not (tmp_path / "p.xyz").exists()


@pytest.mark.parametrize("argv", [
    ["encode", "{dir}/empty.png"],
    ["encode", "{dir}/img.png", "--quality", "0"],
    ["encode", "{dir}/img.png", "--codec", "nosuch"],
    ["encode", "{dir}/img.png", "-o", "{dir}/img.png"],
    ["decode", "{dir}/junk.bin"],
])
def test_bad_input_is_refused_before_torch_loads(tmp_path, argv):
    _png(tmp_path / "img.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.bin").write_bytes(b"\x89NCB\r\n\x1a\n\x02garbage")
    code = ("import sys; from neurocodec.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    args = [a.format(dir=tmp_path) for a in argv]
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "error" in r.stderr


def test_export_never_replaces_its_input_or_an_existing_file(tmp_path, ckpt, capsys):
    import shutil

    src = tmp_path / "w.pt"
    shutil.copy(ckpt, src)
    before = src.read_bytes()
    assert _run("export", src, "-o", src) == 2
    assert _run("export", src, "-o", tmp_path / "out.pt") == 0
    assert _run("export", src, "-o", tmp_path / "out.pt") == 2  # exists
    assert "exists" in capsys.readouterr().err
    assert _run("export", src, "-o", tmp_path / "out.pt", "-f") == 0
    assert src.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nc-")]


def test_checkpoint_and_report_paths_are_checked_first(tmp_path, ckpt, capsys):
    import shutil

    img = _png(tmp_path / "img.png")
    w = tmp_path / "w.bin"
    shutil.copy(ckpt, w)
    assert _run("encode", img, "--checkpoint", w, "-o", w, "-f") == 2  # the checkpoint is an input
    assert "input of this run" in capsys.readouterr().err
    assert _run("encode", img, "--checkpoint", ckpt, "--report", tmp_path / "nodir" / "r.json") == 2
    assert not (tmp_path / "img.png.bin").exists()


def test_info_into_a_closed_pipe_is_quiet(tmp_path, ckpt):
    img = _png(tmp_path / "img.png")
    assert _run("encode", img, "--checkpoint", ckpt) == 0
    p = subprocess.Popen([sys.executable, "-m", "neurocodec.cli", "info", str(tmp_path / "img.png.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before anything is written (like `| head -0`)
    err = p.stderr.read().decode()
    assert p.wait() == 141 and err == "", err


def test_ctrl_c_exits_130_and_leaves_only_whole_files(tmp_path, ckpt):
    import signal
    import time

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(60):
        _png(folder / f"{i:02d}.png", h=256, w=256, seed=i)
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "neurocodec.cli", "encode", str(folder), "-o", str(out),
                          "--checkpoint", ckpt, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    def whole() -> list[Path]:  # finished outputs (temporary names start with ".nc-")
        return [f for f in out.glob("*.png.bin") if not f.name.startswith(".")] if out.exists() else []

    while time.time() < deadline and not whole():
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    written = sorted(out.iterdir())
    assert 0 < len(written) < 60 and all(f.name.endswith(".png.bin") and not f.name.startswith(".") for f in written)
    from neurocodec import bitstream

    for f in written:  # every file that exists is whole
        bitstream.loads(f.read_bytes())


def test_encode_help_names_every_registered_codec(capsys):
    """--codec's help lists the catalog's codecs by modality, so a new codec cannot be left out."""
    from neurocodec.codecs.catalog import CODECS

    with pytest.raises(SystemExit):
        main(["encode", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, modality in CODECS.items():
        assert name in text, name
    assert "shallow-2l, shallow-jpeg, mambaic for image" in text and "dac, snac for audio" in text
