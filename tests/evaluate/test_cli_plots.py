"""`neurocodec eval` and `neurocodec plot` end to end on Kodak crops."""

from __future__ import annotations

import re

import pytest

from neurocodec.cli import main
from neurocodec.evaluate.plots import plot_rd
from neurocodec.evaluate.reference import DEFAULT_PUBLISHED, find_series, published_curve
from neurocodec.evaluate.results import load_curves


@pytest.fixture(scope="module")
def results(crop_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    rc = main(["eval", "--data", str(crop_folder), "--codecs", "jpeg,webp", "--out", str(out), "--levels", "3", "--no-progress"])
    assert rc == 0
    return out


def test_eval_writes_one_file_per_codec(results, crop_folder):
    assert sorted(p.name for p in results.glob("*.json")) == [f"{crop_folder.name}-jpeg.json", f"{crop_folder.name}-webp.json"]


def test_plot_draws_ours_and_published_and_writes_a_bd_table(results, tmp_path, capsys):
    fig_path, table = tmp_path / "rd.png", tmp_path / "bd.md"
    rc = main(["plot", str(results / "*.json"), "-o", str(fig_path), "--table", str(table), "--anchors", "jpeg,BPG", "--all-rows"])
    assert rc == 0 and fig_path.stat().st_size > 10_000
    text = table.read_text()
    assert "BD-rate, psnr_rgb" in text and "BD-rate, ms_ssim_db" in text
    webp_row = next(line for line in text.splitlines() if line.startswith("| WebP"))
    # WebP beats JPEG 4:2:0 on these crops: a negative BD-rate against the JPEG column
    jpeg_vs = float(re.findall(r"([+-]\d+\.\d) %", webp_row)[0])
    assert jpeg_vs < 0


def test_plot_labels_published_curves(results):
    curves = load_curves(sorted(results.glob("*.json")))
    fig = plot_rd(curves + [published_curve(n) for n in DEFAULT_PUBLISHED])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sum("(published)" in s for s in labels) == len(DEFAULT_PUBLISHED)
    assert len(fig.axes) == 2 and "MS-SSIM [dB]" == fig.axes[1].get_ylabel()


def test_cli_errors_are_clear(crop_folder, tmp_path, capsys):
    assert main(["eval", "--data", str(crop_folder), "--codecs", "nosuchcodec", "--out", str(tmp_path)]) == 2
    assert "nosuchcodec" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "none*.json")]) == 2
    with pytest.raises(Exception, match="several"):
        find_series("mbt2018")
