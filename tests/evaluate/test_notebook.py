"""notebooks/image_rd.ipynb runs on a small real subset (3 Kodak images, 2 quality levels)."""

from __future__ import annotations

import pytest

from neurocodec.cli import main

from .conftest import REPO

NOTEBOOK = REPO / "notebooks" / "image_rd.ipynb"


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        out.append(o.get("text", ""))
        data = o.get("data", {})
        out.append(data.get("text/markdown", ""))
        out.append(data.get("text/plain", ""))
    return "\n".join(out)


def test_image_rd_notebook_runs(kodak, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    out = tmp_path / "kodak"
    assert main(["eval", "--data", str(kodak), "--codecs", "jpeg,webp", "--out", str(out), "--limit", "3",
                 "--levels", "2", "--no-progress"]) == 0
    monkeypatch.setenv("NEUROCODEC_RESULTS", str(out))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "jpeg" in text and "2 levels, [3] images" in text
    assert "BD-rate on PSNR-RGB" in text and "BD-rate on MS-SSIM dB" in text
    assert any(o.get("data", {}).get("image/png") for c in nb.cells for o in c.get("outputs", []))
    assert "published mbt2018-mean vs published BPG: -3.28 %" in text
    # WebP's row against the JPEG 4:2:0 column holds a real (negative) number
    webp_row = next(line for line in text.splitlines() if line.startswith("| WebP"))
    assert "%" in webp_row and "-" in webp_row.split("|")[2]


AUDIO_NOTEBOOK = REPO / "notebooks" / "audio_rd.ipynb"


def test_audio_rd_notebook_runs(librispeech, tiny_dac, monkeypatch):
    """notebooks/audio_rd.ipynb runs the runner on 2 utterances: Opus and MP3 at 2 rates and a tiny dac."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("NEUROCODEC_AUDIO_CHECKPOINT", str(tiny_dac))
    monkeypatch.setenv("NEUROCODEC_AUDIO_LIMIT", "2")
    monkeypatch.delenv("NEUROCODEC_RESULTS", raising=False)
    nb = nbformat.read(AUDIO_NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(AUDIO_NOTEBOOK.parent)}}).execute()
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "opus     classical 2 levels, [2] utterances" in text
    assert "mp3      classical 2 levels, [2] utterances" in text
    assert "dac      neural    3 levels, [2] utterances" in text
    assert "| opus | 16 |" in text and "| dac | 3 |" in text
    assert "BD-rate on PESQ-WB" in text and "BD-rate on STOI" in text
    assert any(o.get("data", {}).get("image/png") for c in nb.cells for o in c.get("outputs", []))
    # MP3's row against the Opus column holds a number (the curves overlap) or says n/a
    mp3_row = next(line for line in text.splitlines() if line.startswith("| MP3"))
    assert "%" in mp3_row or "n/a" in mp3_row


COMPLEXITY_NOTEBOOK = REPO / "notebooks" / "image_complexity.ipynb"


def test_image_complexity_and_rd_notebooks_run_with_learned_codecs(kodak, tmp_path, monkeypatch):
    """Two Kodak crops, the shipped hyperprior and gmm, and hyperprior with 2 refine steps (and
    with 3 on one crop): both image notebooks execute and show real BD numbers and FLOP counts."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from PIL import Image

    folder = tmp_path / "crops"
    folder.mkdir()
    for name in ("kodim01.png", "kodim02.png"):
        with Image.open(kodak / name) as im:
            im.crop((0, 0, 192, 192)).save(folder / name)
    out = tmp_path / "r"
    assert main(["eval", "--data", str(folder), "--codecs", "hyperprior,gmm,hyperprior+refine2", "--out", str(out),
                 "--qualities", "1,3,6", "--no-progress"]) == 0
    # a slow variant measured on fewer images is compared with its codec on those images only
    assert main(["eval", "--data", str(folder), "--limit", "1", "--codecs", "hyperprior+refine3", "--out", str(out),
                 "--qualities", "1,3,6", "--no-progress"]) == 0
    monkeypatch.setenv("NEUROCODEC_RESULTS", str(out))
    for path in (COMPLEXITY_NOTEBOOK, NOTEBOOK):
        nb = nbformat.read(path, as_version=4)
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
        text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
        if path == COMPLEXITY_NOTEBOOK:
            assert "| hyperprior | 24.98 |" in text and "| gmm | 29.17 |" in text, text[:3000]
            row = next(line for line in text.splitlines() if line.startswith("| hyperprior | 2 | 2 |"))
            assert "%" in row and "nan" not in row
            row = next(line for line in text.splitlines() if line.startswith("| hyperprior | 3 | 1 |"))
            assert "%" in row and "nan" not in row
        else:
            assert "BD-rate vs hyperprior (PSNR-RGB)" in text and "| gmm" in text
