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
    assert sum("(published" in s for s in labels) == len(DEFAULT_PUBLISHED)
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "PSNR-RGB [dB]"
    assert fig.axes[1].get_ylabel() == "MS-SSIM [dB] = -10 log10(1 - MS-SSIM)"  # the dB transform


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_reads_without_flags(results, crop_folder):
    """Title, rate axis, clipped published curves and legend item counts, with no options."""
    import numpy as np

    curves = load_curves(sorted(results.glob("*.json")))
    published = [published_curve(n) for n in DEFAULT_PUBLISHED]
    fig = plot_rd(curves + published)
    assert fig.get_suptitle() == f"{crop_folder.name} (3 images)"

    rates = np.concatenate([c.rate for c in curves])
    lo, hi = rates.min(), rates.max()
    pad = 0.05 * (hi - lo)
    expected = (max(0.0, lo - pad), hi + pad)
    beyond = 0  # published points outside the measured range (BPG reaches past 3 bpp)
    for ax in fig.axes:
        assert ax.get_xlim() == pytest.approx(expected)
        ylo, yhi = ax.get_ylim()
        for line in ax.get_lines():
            x, y = line.get_xdata(), line.get_ydata()
            assert expected[0] - 1e-9 <= x.min() and x.max() <= expected[1] + 1e-9
            assert ylo <= y.min() and y.max() <= yhi
    for c in published:
        beyond += int(((c.rate < expected[0]) | (c.rate > expected[1])).sum())
    assert beyond > 0  # so the clipping was exercised
    bpg = next(line for line in fig.axes[0].get_lines() if line.get_label().startswith("BPG"))
    assert bpg.get_xdata()[-1] == pytest.approx(expected[1])  # cut at the axis end, not short of it
    marks = bpg.get_markevery()  # ... with no marker there: it is not a published point
    assert len(bpg.get_xdata()) - 1 not in marks and len(marks) >= 3

    # measured on 3 crops of another set, published on all 24 Kodak images: the legend says so
    labels = _legend(fig.axes[0])
    jpeg = next(c for c in curves if c.codec == "jpeg")
    assert f"{jpeg.label} (measured, {crop_folder.name}, 3 images)" in labels
    assert "BPG 0.9.8 444 x265 YCbCr (published, kodak, 24 images)" in labels
    assert len(labels) == len(curves) + len(published)


def test_plot_legend_and_title_follow_the_item_counts(results):
    import copy

    curves = load_curves(sorted(results.glob("*.json")))
    published = [published_curve(n) for n in DEFAULT_PUBLISHED]
    on_kodak = [copy.deepcopy(c) for c in curves]
    for c in on_kodak:  # as `neurocodec eval --data kodak --limit 3` writes them
        c.extra.update(dataset="kodak", n_items=[3])
    fig = plot_rd(on_kodak + published)
    labels = _legend(fig.axes[1])
    assert fig.get_suptitle() == "kodak (3 images)"
    assert f"{on_kodak[0].label} (measured, 3 images)" in labels
    assert "compressai mbt2018-mean mse (published, 24 images)" in labels

    for c in on_kodak:  # the whole set: same data as the published curves, plain labels
        c.extra.update(n_items=[24])
    fig = plot_rd(on_kodak + published, title="")
    labels = _legend(fig.axes[0])
    assert fig.get_suptitle() == ""
    assert sorted(labels) == sorted([c.label for c in on_kodak] + [f"{c.codec} (published)" for c in published])
    assert plot_rd(on_kodak, title="mine").get_suptitle() == "mine"
    assert plot_rd(on_kodak).get_suptitle() == "kodak (24 images)"


def test_plot_command_draws_the_default_figure(results, crop_folder, tmp_path, monkeypatch):
    from neurocodec.evaluate import plots

    figs = []
    real = plots.plot_rd
    monkeypatch.setattr(plots, "plot_rd", lambda *a, **k: figs.append(real(*a, **k)) or figs[-1])
    assert main(["plot", str(results), "-o", str(tmp_path / "rd.png")]) == 0
    (fig,) = figs
    assert fig.get_suptitle() == f"{crop_folder.name} (3 images)"
    assert any(s.endswith("(published, kodak, 24 images)") for s in _legend(fig.axes[0]))
    rates = [r for c in load_curves(sorted(results.glob("*.json"))) for r in c.rate]
    assert fig.axes[0].get_xlim()[1] == pytest.approx(max(rates) + 0.05 * (max(rates) - min(rates)))
    assert main(["plot", str(results), "-o", str(tmp_path / "rd2.png"), "--xmax", "0.5"]) == 0
    assert figs[-1].axes[0].get_xlim()[1] == 0.5


def test_cli_errors_are_clear(crop_folder, tmp_path, capsys):
    assert main(["eval", "--data", str(crop_folder), "--codecs", "nosuchcodec", "--out", str(tmp_path)]) == 2
    assert "nosuchcodec" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "none*.json")]) == 2
    with pytest.raises(Exception, match="several"):
        find_series("mbt2018")


def test_two_files_of_one_codec_are_told_apart(results, crop_folder, tmp_path):
    """Two result files of one codec (e.g. two checkpoints) become NAME#HASH rows and anchors
    (NAME#FOLDER without weights hashes); a copy at 0.9x the rate is -10 % BD against the original."""
    import json

    doc = json.loads((results / f"{crop_folder.name}-webp.json").read_text())
    smaller = json.loads(json.dumps(doc))
    for lv in smaller["levels"]:
        lv["mean"]["bpp"] *= 0.9
    paths = []
    for folder, d in (("old", doc), ("new", smaller)):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "webp.json")
        paths[-1].write_text(json.dumps(d))
    assert [c.codec for c in load_curves(paths)] == ["webp#old", "webp#new"]

    doc["codec"]["weights_hash"], smaller["codec"]["weights_hash"] = "0123456789abcdef", "fedcba9876543210"
    for p, d in zip(paths, (doc, smaller)):
        p.write_text(json.dumps(d))
    assert [c.label for c in load_curves(paths)] == ["webp#01234567", "webp#fedcba98"]
    table = tmp_path / "bd.md"
    assert main(["plot", *map(str, paths), "-o", str(tmp_path / "rd.png"), "--table", str(table),
                 "--anchors", "webp#01234567", "--published", "none"]) == 0
    row = next(line for line in table.read_text().splitlines() if line.startswith("| webp#fedcba98"))
    assert row.split("|")[2].strip() == "-10.0 %"
    assert load_curves(paths[:1])[0].codec == "webp"  # one file: its name is unchanged
