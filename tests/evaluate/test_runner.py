"""The runner on real files: rates from real bytes, resumable, parallel, modality-agnostic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from neurocodec.errors import InputError
from neurocodec.evaluate import runner
from neurocodec.evaluate.modalities import CodecUnavailableError
from neurocodec.evaluate.results import curve_from_result, read_json, result_path
from neurocodec.evaluate.runner import EvalConfig, run_eval


def _cfg(data: Path, out: Path, **kw) -> EvalConfig:
    return EvalConfig(modality="image", data=data, codecs=kw.pop("codecs", ["jpeg"]), out=out, progress=False, **kw)


def test_result_file_holds_real_rates_and_metrics(crop_folder, tmp_path):
    (path,), skipped = run_eval(_cfg(crop_folder, tmp_path, qualities=[30, 90]))
    assert skipped == [] and path == result_path(tmp_path, crop_folder.name, "jpeg")
    doc = read_json(path)
    assert doc["modality"] == "image" and doc["rate_key"] == "bpp"
    assert doc["codec"]["settings"]["subsampling"] == "4:2:0" and doc["codec"]["versions"]["pillow"]
    assert [lv["quality"] for lv in doc["levels"]] == [30, 90]
    from neurocodec.evaluate.baselines import classical_image_codec
    from PIL import Image

    jpeg = classical_image_codec("jpeg")
    for lv in doc["levels"]:
        assert lv["n_items"] == 3
        for rec in lv["items"]:
            img = np.asarray(Image.open(crop_folder / rec["item"]).convert("RGB"))
            # the very bytes the codec writes, counted
            assert rec["bytes"] == len(jpeg.encode_image(img, lv["quality"]))
            assert rec["bpp"] == pytest.approx(8 * rec["bytes"] / (192 * 192))
            assert rec["pixels"] == 192 * 192 and rec["encode_s"] >= 0 and rec["decode_s"] >= 0
        assert lv["mean"]["bpp"] == pytest.approx(np.mean([r["bpp"] for r in lv["items"]]))
        assert lv["mean"]["psnr_rgb"] == pytest.approx(np.mean([r["psnr_rgb"] for r in lv["items"]]))
        assert lv["mean"]["ms_ssim_db"] == pytest.approx(-10 * math.log10(1 - lv["mean"]["ms_ssim"]))
    lo, hi = doc["levels"]
    assert hi["mean"]["bpp"] > lo["mean"]["bpp"] and hi["mean"]["psnr_rgb"] > lo["mean"]["psnr_rgb"] > 25
    curve = curve_from_result(doc)
    assert list(curve.rate) == sorted(curve.rate) and curve.values["psnr_rgb"].size == 2


def test_rerun_skips_finished_entries_and_extends(crop_folder, tmp_path, monkeypatch):
    run_eval(_cfg(crop_folder, tmp_path, qualities=[50], limit=2))
    calls = []
    real = runner.evaluate_item
    monkeypatch.setattr(runner, "evaluate_item", lambda *a: calls.append(a[3:]) or real(*a))
    run_eval(_cfg(crop_folder, tmp_path, qualities=[50], limit=2))
    assert calls == []
    (path,), _ = run_eval(_cfg(crop_folder, tmp_path, qualities=[50, 70]))
    assert sorted(calls) == sorted([("kodim23.png", 50), ("kodim03.png", 70), ("kodim07.png", 70), ("kodim23.png", 70)])
    assert [lv["n_items"] for lv in read_json(path)["levels"]] == [3, 3]


def test_other_settings_are_refused_unless_forced(crop_folder, tmp_path):
    (path,), _ = run_eval(_cfg(crop_folder, tmp_path, qualities=[50], limit=1))
    doc = read_json(path)
    doc["codec"]["versions"]["pillow"] = "0.0"
    from neurocodec.evaluate.results import write_json

    write_json(path, doc)
    with pytest.raises(InputError, match="--force"):
        run_eval(_cfg(crop_folder, tmp_path, qualities=[50], limit=1))
    run_eval(_cfg(crop_folder, tmp_path, qualities=[50], limit=1, force=True))
    assert read_json(path)["codec"]["versions"]["pillow"] != "0.0"


def test_a_second_evaluation_into_the_same_file_is_refused(crop_folder, tmp_path):
    """Two runs extending one result file would each write back only their own entries: while
    one holds the file, another is refused with a clear error, and the file is untouched."""
    from neurocodec.evaluate.results import result_lock

    (path,), _ = run_eval(_cfg(crop_folder, tmp_path, qualities=[50], limit=1))
    before = path.read_bytes()
    with result_lock(path):
        with pytest.raises(InputError, match="another evaluation is writing"):
            run_eval(_cfg(crop_folder, tmp_path, qualities=[50, 70]))
        assert path.read_bytes() == before
    (path,), _ = run_eval(_cfg(crop_folder, tmp_path, qualities=[50, 70]))  # released: it runs
    assert [lv["n_items"] for lv in read_json(path)["levels"]] == [3, 3]


def test_levels_pick_an_even_spread():
    class C:
        name, qualities = "x", [1, 2, 3, 4, 5, 6, 7]

    assert runner.select_qualities(C(), None, 2) == [1, 7]
    assert runner.select_qualities(C(), None, 3) == [1, 4, 7]
    with pytest.raises(InputError):
        runner.select_qualities(C(), [9], None)


def test_workers_give_the_same_bytes(crop_folder, tmp_path):
    (p1,), _ = run_eval(_cfg(crop_folder, tmp_path / "a", codecs=["webp"], qualities=[40, 80]))
    (p2,), _ = run_eval(_cfg(crop_folder, tmp_path / "b", codecs=["webp"], qualities=[40, 80], workers=2))
    b1 = [[r["bytes"] for r in lv["items"]] for lv in read_json(p1)["levels"]]
    b2 = [[r["bytes"] for r in lv["items"]] for lv in read_json(p2)["levels"]]
    assert b1 == b2 and read_json(p2)["environment"]["workers"] == 2


def test_unavailable_codecs(crop_folder, tmp_path):
    with pytest.raises(CodecUnavailableError, match="nosuchcodec"):
        run_eval(_cfg(crop_folder, tmp_path, codecs=["nosuchcodec"]))
    written, skipped = run_eval(_cfg(crop_folder, tmp_path, codecs=["nosuchcodec", "jpeg"], qualities=[50], limit=1,
                                     skip_unavailable=True))
    assert skipped == ["nosuchcodec"] and len(written) == 1


def test_missing_data_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        run_eval(_cfg(tmp_path / "nothing-here", tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        run_eval(_cfg(tmp_path / "empty", tmp_path))


def test_image_codec_from_a_checkpoint_path(crop_folder, tmp_path):
    """An image checkpoint path (an export or a training run's .pt) evaluates like a name, and
    with +refineN; its bytes are the codec's own."""
    import torch
    from PIL import Image

    from neurocodec.codecs import registry

    torch.manual_seed(0)
    ckpt = registry.save_checkpoint(registry.build("hyperprior", N=8, M=8, qualities=2), tmp_path / "mine.pt")
    (path,), _ = run_eval(_cfg(crop_folder, tmp_path / "out", codecs=[str(ckpt)], qualities=[2], limit=1))
    doc = read_json(path)
    codec = registry.load(ckpt)
    img = np.asarray(Image.open(crop_folder / doc["levels"][0]["items"][0]["item"]).convert("RGB"))
    assert doc["codec"]["name"] == "hyperprior" and doc["codec"]["weights_hash"] == codec.weights_hash().hex()
    assert doc["levels"][0]["items"][0]["bytes"] == len(codec.encode_image(img, 2))
    (path2,), _ = run_eval(_cfg(crop_folder, tmp_path / "out2", codecs=[f"{ckpt}+refine2"], qualities=[2], limit=1))
    assert read_json(path2)["codec"]["settings"]["refine_steps"] == 2


def test_threads_apply_while_the_codecs_run_and_are_restored(crop_folder, tmp_path, monkeypatch):
    """--threads N: every item runs with N torch threads, the result records it, and the caller's
    thread count is back afterwards; 0 is refused."""
    import torch

    seen = []
    real = runner._run_one

    def spy(*a, **k):  # noqa: ANN002, ANN003, ANN202
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(runner, "_run_one", spy)
    before = torch.get_num_threads()
    want = 1 if before > 1 else 2
    (path,), _ = run_eval(_cfg(crop_folder, tmp_path, codecs=["webp"], qualities=[40, 80], threads=want))
    assert seen == [want] * 6 and torch.get_num_threads() == before
    assert read_json(path)["environment"]["threads_per_worker"] == want
    with pytest.raises(InputError, match="--threads"):
        run_eval(_cfg(crop_folder, tmp_path, codecs=["webp"], threads=0))
