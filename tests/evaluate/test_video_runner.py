"""The runner on video: synthetic clips (three Y4M files and a folder of PNG frames, 64x48 x 6
frames), a tiny seeded hytip by checkpoint path, x264 medium and intra, and hyperprior on every
frame, intra period 4. Per-frame arrays and frame types, rates from the very bytes each codec
makes, the colour path of the classical codecs, resume, per-item options of a named data set,
BD tables per clip, `neurocodec plot` and notebooks/video_rd.ipynb."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from neurocodec.cli import main
from neurocodec.errors import InputError
from neurocodec.evaluate import runner
from neurocodec.evaluate.metrics import psnr_rgb
from neurocodec.evaluate.report import bd_item_table
from neurocodec.evaluate.results import load_curves, read_json
from neurocodec.evaluate.runner import EvalConfig, resolve_dataset, run_eval
from neurocodec.evaluate.video_modality import VIDEO
from neurocodec.io.video import probe, read_rgb, read_yuv420, yuv420_to_rgb

from .conftest import REPO
from .test_notebook import _text

W, H, N, GOP = 64, 48, 6, 4
CLIPS = ["a.y4m", "b.y4m", "c.y4m", "frames"]
IPPP = ["I", "P", "P", "P", "I", "P"]


def _frames(seed: int, n: int = N) -> list[np.ndarray]:
    """A smooth random texture panning 2 px per frame, with a little noise: uint8 RGB [H, W, 3]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0 : W + 2 * n].astype(np.float64)
    phase = rng.uniform(0, 6, 3)
    base = np.stack([128 + 90 * np.sin(xx / 7 + phase[0]), 128 + 80 * np.cos(yy / 6 + xx / 11 + phase[1]),
                     128 + 60 * np.sin((xx + yy) / 9 + phase[2])], -1)
    return [np.clip(base[:, 2 * t : 2 * t + W] + rng.normal(0, 2, (H, W, 3)), 0, 255).round().astype(np.uint8)
            for t in range(n)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<root>/clips: a.y4m, b.y4m, c.y4m (25 fps) and frames/ (PNG, read at 25 fps)."""
    from PIL import Image

    from neurocodec.io.video import VideoWriter

    root = tmp_path_factory.mktemp("videodata")
    clips = root / "clips"
    (clips / "frames").mkdir(parents=True)
    for seed, name in enumerate(CLIPS[:3]):
        with VideoWriter(clips / name, W, H, Fraction(25)) as w:
            for f in _frames(seed):
                w.write(f)
    for i, f in enumerate(_frames(7), 1):
        Image.fromarray(f).save(clips / "frames" / f"f{i:03d}.png")
    (clips / "notes.txt").write_text("not a clip")
    return root


@pytest.fixture(scope="module")
def tiny_hytip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny seeded untrained hytip (I frames by the shipped hyperprior) saved as a checkpoint."""
    import torch

    from neurocodec.codecs import registry
    from neurocodec.codecs.video.hytip import HyTIP

    if not (registry.CHECKPOINT_DIR / "hyperprior.pt").exists():
        pytest.skip("no shipped checkpoint hyperprior.pt (hytip's I-frame codec)")
    intra = registry.load_image_codec("hyperprior")
    torch.manual_seed(0)
    m = HyTIP(intra="hyperprior", intra_hash=intra.weights_hash().hex(), N=16, M=16, Nm=8, Mm=8, ctx=(4, 8, 8))
    m.attach_intra(intra)
    return registry.save_checkpoint(m.eval(), tmp_path_factory.mktemp("tiny") / "tiny-hytip.pt")


@pytest.fixture(scope="module")
def results(data: Path, tiny_hytip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video-results")
    rc = main(["eval", "--modality", "video", "--data", str(data / "clips"), "--codecs",
               f"{tiny_hytip},x264-medium,x264-intra,hyperprior-intra", "--out", str(out), "--gop", str(GOP),
               "--levels", "3", "--no-progress"])
    assert rc == 0
    return out


def _doc(results: Path, codec: str) -> dict:
    return read_json(results / f"clips-{codec}.json")


def _records(doc: dict):
    for lv in doc["levels"]:
        for rec in lv["items"]:
            yield lv["quality"], rec


def test_per_frame_arrays_and_frame_types(results):
    assert sorted(p.name for p in results.glob("*.json")) == [
        "clips-hyperprior-intra.json", "clips-hytip.json", "clips-x264-intra.json", "clips-x264-medium.json"]
    for codec, types, period in (("hytip", IPPP, GOP), ("x264-medium", IPPP, GOP), ("x264-intra", ["I"] * N, 1),
                                 ("hyperprior-intra", ["I"] * N, 1)):
        doc = _doc(results, codec)
        assert doc["modality"] == "video" and doc["rate_key"] == "bpp" and doc["options"] == {"gop": GOP}
        assert doc["dataset"]["items"] == CLIPS and doc["codec"]["settings"]["intra_period"] == period
        assert doc["codec"]["kind"] == ("classical" if codec.startswith("x264") else "neural")
        assert len(doc["levels"]) == 3 and set(doc["metrics"]) == {"psnr_rgb", "ms_ssim", "ms_ssim_db"}
        for _, rec in _records(doc):
            pf = rec["per_frame"]
            assert pf["type"] == types, (codec, rec["item"])
            assert set(pf) == {"type", "bits", "psnr_rgb", "ms_ssim", "ms_ssim_db"}
            assert len(pf["bits"]) == len(pf["psnr_rgb"]) == N and all(b > 0 for b in pf["bits"])
            assert rec["psnr_rgb"] == pytest.approx(np.mean(pf["psnr_rgb"]))  # clip value: mean over frames
            assert pf["ms_ssim"] == [None] * N and rec["ms_ssim"] is None  # 64x48 < 161 px: null, as for images
            assert (rec["frames"], rec["width"], rec["height"], rec["fps"]) == (N, W, H, 25.0)
            assert sum(pf["bits"]) // 8 + rec["container_bytes"] == rec["bytes"]
        lo, hi = sorted(doc["levels"], key=lambda lv: lv["mean"]["bpp"])[:: len(doc["levels"]) - 1]
        assert hi["mean"]["psnr_rgb"] > lo["mean"]["psnr_rgb"]
    # the I frames of the IPPP codecs cost more than their P frames
    for _, rec in _records(_doc(results, "x264-medium")):
        bits = np.array(rec["per_frame"]["bits"])
        assert bits[[0, 4]].min() > bits[[1, 2, 3, 5]].max()


def test_rates_are_the_very_bytes_of_each_codec(results, data, tiny_hytip, tmp_path):
    import torch

    from neurocodec.codecs import registry
    from neurocodec.codecs.video.stream import VideoEncoder
    from neurocodec.evaluate.baselines.video import classical_video_codec

    clip = data / "clips" / "a.y4m"
    info = probe(clip)
    q, rec = next((q, r) for q, r in _records(_doc(results, "hytip")) if r["item"] == "a.y4m")
    path = tmp_path / "a.bin"
    with open(path, "wb") as f, torch.no_grad():
        enc = VideoEncoder(registry.load(tiny_hytip), f, W, H, info.fps, N, q, gop=GOP, color=info.policy())
        for rgb in read_rgb(info):
            enc.encode(rgb)
        enc.close()
    size = path.stat().st_size
    assert rec["bytes"] == size and rec["container_bytes"] > 0
    assert rec["bpp"] == pytest.approx(8 * size / (N * W * H))
    assert rec["kbps"] == pytest.approx(8 * size / (N / 25) / 1000)

    q, rec = next((q, r) for q, r in _records(_doc(results, "x264-medium")) if r["item"] == "a.y4m")
    stream = classical_video_codec("x264-medium", gop=GOP).encode_video(read_yuv420(info), W, H, info.fps, q)
    assert rec["bytes"] == len(stream.data) and rec["per_frame"]["bits"] == [8 * b for b in stream.frame_bytes]
    assert rec["bpp"] == pytest.approx(8 * len(stream.data) / (N * W * H))

    q, rec = next((q, r) for q, r in _records(_doc(results, "hyperprior-intra")) if r["item"] == "a.y4m")
    image = registry.load_image_codec("hyperprior")
    sizes = [len(image.encode_image(rgb, q)) for rgb in read_rgb(info)]
    assert rec["bytes"] == sum(sizes) and rec["per_frame"]["bits"] == [8 * s for s in sizes]


@pytest.mark.parametrize("item", ["b.y4m", "frames"])
def test_classical_codecs_are_compared_in_rgb(results, data, item):
    """A YUV source is coded as it is, an RGB one converted with its yuv_matrix/range; the
    decoded planes go back to RGB with the same and meet the read_rgb frames."""
    from neurocodec.evaluate.baselines.video import classical_video_codec

    info = probe(data / "clips" / item)
    assert info.source == ("png" if item == "frames" else "y4m")
    doc = _doc(results, "x264-intra")
    q, rec = min(((q, r) for q, r in _records(doc) if r["item"] == item), key=lambda t: t[0])
    codec = classical_video_codec("x264-intra")
    stream = codec.encode_video(read_yuv420(info), W, H, info.fps, q)
    y, u, v = next(iter(codec.decode_video(stream.data)))
    first = yuv420_to_rgb(y, u, v, info.yuv_matrix, info.yuv_range)
    assert rec["per_frame"]["psnr_rgb"][0] == pytest.approx(psnr_rgb(next(iter(read_rgb(info))), first)["psnr_rgb"])
    assert rec["psnr_rgb"] > 33  # QP 22: a wrong matrix or range would cost far more


def test_resume_skips_finished_entries_and_refuses_another_gop(results, data, tiny_hytip, tmp_path, monkeypatch):
    out = tmp_path / "res"
    shutil.copytree(results, out)
    calls = []
    real = runner.evaluate_item

    def counting(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls.append(a[3:5])
        return real(*a, **k)

    monkeypatch.setattr(runner, "evaluate_item", counting)
    cfg = EvalConfig(modality="video", data=data / "clips", codecs=[str(tiny_hytip), "x264-medium"], out=out,
                     levels=3, options={"gop": GOP}, progress=False)
    written, _ = run_eval(cfg)
    assert calls == [] and len(written) == 2
    name = "clips-x264-medium.json"
    assert read_json(out / name)["levels"] == read_json(results / name)["levels"]
    cfg.codecs, cfg.levels, cfg.qualities = ["x264-medium"], None, [30]
    run_eval(cfg)
    assert sorted(calls) == sorted((c, 30) for c in CLIPS)  # only the new level
    assert [lv["quality"] for lv in read_json(out / "clips-x264-medium.json")["levels"]] == [22, 30, 32, 47]
    cfg.options = {"gop": 8}
    with pytest.raises(InputError, match="other settings"):
        run_eval(cfg)


def test_named_data_set_caps_frames_per_item(data, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCODEC_DATA", str(data))
    monkeypatch.setitem(VIDEO.data_sets, "tiny-eval", ("clips/a.y4m", "clips/frames"))
    monkeypatch.setitem(VIDEO.item_options, "tiny-eval", {"clips/frames": {"max_frames": 4}})
    cfg = EvalConfig(modality="video", data="tiny-eval", codecs=["x264-medium"], out=tmp_path, qualities=[32],
                     options={"gop": 2}, progress=False)
    (path,), _ = run_eval(cfg)
    doc = read_json(path)
    assert path.name == "tiny-eval-x264-medium.json" and doc["dataset"]["items"] == ["a.y4m", "frames"]
    assert doc["dataset"]["item_options"] == {"frames": {"max_frames": 4}}
    recs = {r["item"]: r for _, r in _records(doc)}
    assert recs["frames"]["frames"] == 4 and recs["frames"]["source_frames"] == N
    assert recs["frames"]["item_options"] == {"max_frames": 4} and "item_options" not in recs["a.y4m"]
    assert recs["frames"]["per_frame"]["type"] == ["I", "P", "I", "P"]
    assert recs["frames"]["bpp"] == pytest.approx(8 * recs["frames"]["bytes"] / (4 * W * H))
    assert recs["a.y4m"]["frames"] == N
    # another cap: that item is recomputed, the other kept
    monkeypatch.setitem(VIDEO.item_options, "tiny-eval", {"clips/frames": {"max_frames": 3}})
    calls = []
    real = runner.evaluate_item
    monkeypatch.setattr(runner, "evaluate_item", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    run_eval(cfg)
    recs = {r["item"]: r for _, r in _records(read_json(path))}
    assert calls == ["frames"] and recs["frames"]["frames"] == 3


def test_data_specs_and_options(data):
    ds = resolve_dataset(str(data / "clips" / "frames"), VIDEO)  # one clip (a frame folder) as data
    assert ds.root == data / "clips" and VIDEO.list_items(ds.folders[0]) == [data / "clips" / "frames"]
    ds = resolve_dataset(str(data / "clips" / "a.y4m"), VIDEO)
    assert ds.root == data / "clips" and ds.name == "a.y4m"
    assert [p.name for p in VIDEO.list_items(data / "clips")] == CLIPS
    assert VIDEO.data_sets["video-eval"][0].endswith("BasketballPass_416x240_first100_png")
    with pytest.raises(InputError, match="do not apply to the image modality"):
        run_eval(EvalConfig(modality="image", data=data, codecs=["jpeg"], out=data, options={"gop": 4}))
    with pytest.raises(InputError, match="positive integer"):
        run_eval(EvalConfig(modality="video", data=data / "clips", codecs=["x264-medium"], out=data,
                            options={"gop": 0}))


def _table(text: str, heading: str) -> list[list[str]]:
    block = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines() if line.startswith("|")]


def test_bd_per_clip_and_plot(results, tmp_path):
    fig, table = tmp_path / "rd.png", tmp_path / "bd.md"
    assert main(["plot", str(results / "*.json"), "-o", str(fig), "--table", str(table), "--anchors", "x264-intra",
                 "--per-item"]) == 0
    assert fig.stat().st_size > 10_000
    text = table.read_text()
    assert "# BD-rate on clips (4 clips)" in text and "Rates in bpp" in text
    rows = _table(text, "## BD-rate per clip, psnr_rgb, against H.264 intra")
    col = rows[0].index("H.264 (x264 medium, IPPP, intra period 4)")
    assert [r[0] for r in rows[2:]] == CLIPS + ["mean"]
    per_clip = [float(re.match(r"([+-]\d+\.\d) %", r[col]).group(1)) for r in rows[2:]]
    assert all(v < 0 for v in per_clip)  # IPPP beats all-intra on panning content
    assert per_clip[-1] == pytest.approx(np.mean(per_clip[:-1]), abs=0.06)
    # the same through the library, and in kbps (a per-clip BD-rate does not depend on the unit)
    curves = {c.codec: c for c in load_curves(sorted(results.glob("*.json")))}
    rows = bd_item_table([curves["x264-medium"]], curves["x264-intra"], "psnr_rgb")
    kbps = {c.codec: c for c in load_curves(sorted(results.glob("*.json")), rate_key="kbps")}
    rows_k = bd_item_table([kbps["x264-medium"]], kbps["x264-intra"], "psnr_rgb")
    label = curves["x264-medium"].label
    assert [r[label] for r in rows] == pytest.approx([r[label] for r in rows_k])
    assert main(["plot", str(results / "*.json"), "-o", str(tmp_path / "k.png"), "--rate", "kbps"]) == 0


def test_video_notebook_runs(results, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = REPO / "notebooks" / "video_rd.ipynb"
    monkeypatch.setenv("NEUROCODEC_RESULTS", str(results))
    monkeypatch.delenv("NEUROCODEC_VIDEO_ANCHOR", raising=False)
    nb = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}}).execute()
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "x264-medium        classical 3 levels, [4] clips, intra period 4" in text
    assert "hytip              neural    3 levels, [4] clips, intra period 4" in text
    assert "BD-rate per clip on PSNR-RGB against H.264 (x264 medium, IPPP, intra period 4)" in text
    assert "2 I frames" in text and "6 I frames" in text  # IPPP at intra period 4, and all-intra, on 6 frames
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if o.get("data", {}).get("image/png")]
    assert len(pngs) == 3  # mean RD, RD per clip, per frame
    intra_row = next(line for line in text.splitlines() if line.startswith("| H.264 intra"))
    assert "%" in intra_row  # all-intra against IPPP: a number (the curves overlap)


_MEMORY_SCRIPT = """
import resource, sys, json
from fractions import Fraction
import numpy as np
from neurocodec.io.video import VideoWriter
from neurocodec.cli import main
root, ckpt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
import pathlib
clips = pathlib.Path(root) / f"clips{n}"
clips.mkdir()
rng = np.random.default_rng(0)
base = rng.integers(0, 255, (240, 320 + 2 * n, 3), dtype=np.uint8)
with VideoWriter(clips / "long.y4m", 320, 240, Fraction(25)) as w:
    for t in range(n):
        w.write(np.ascontiguousarray(base[:, 2 * t : 2 * t + 320]))
rc = main(["eval", "--modality", "video", "--data", str(clips), "--codecs", f"{ckpt},x264-medium",
           "--out", str(clips / "out"), "--gop", "32", "--levels", "1", "--no-progress"])
assert rc == 0
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_evaluation_memory_does_not_grow_with_the_clip(tiny_hytip, tmp_path):
    """A 320x240 clip of 8 and of 100 frames through hytip and x264 (fresh processes): holding
    the decoded clip would add 92 x 0.23 MB (21 MB) per copy; the peak grows by far less."""
    import json
    import subprocess
    import sys

    peaks = {}
    for n in (8, 100):
        r = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(tmp_path), str(tiny_hytip), str(n)],
                           capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr[-2000:]
        peaks[n] = json.loads(r.stdout.strip().splitlines()[-1])["peak_mb"]
    assert peaks[100] - peaks[8] < 10, peaks
