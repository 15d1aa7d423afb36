"""The ``video`` modality: whole clips coded by each codec, measured frame by frame in RGB.

Items are video clips as :mod:`neurocodec.io.video` reads them: ``.y4m``, raw ``.yuv`` (size in
the name), containers (``.mp4``, ``.mkv``, ...) and folders of PNG frames; a folder of clips is
listed recursively (a folder holding PNG files and no video file is one clip).
``--data video-eval`` names six clips under ``$NEUROCODEC_DATA`` (:data:`VIDEO_EVAL`); two of
them are capped at their first 96 frames, an item option of the data set (:data:`VIDEO_EVAL_OPTIONS`)
recorded with each of their entries.

Codecs: the classical ``x264-medium``, ``x264-veryslow``, ``x265-medium``, ``x264-intra``
(:mod:`.baselines.video`, QP sweep 22..47), the learned ``hytip`` (by name or a checkpoint path,
levels 1..6) and ``<image codec>-intra`` (``hyperprior-intra``, ``gmm-intra``: every frame coded
as an image, the image codec's levels) (:mod:`.neural_video`). Run option ``gop``: the intra
period of every codec (default 32; the all-intra codecs ignore it), recorded in the results.

Colour: the learned codecs take RGB from :func:`~neurocodec.io.video.read_rgb` (YUV sources
converted with their stated or assumed matrix and range); the classical ones take 4:2:0 from
:func:`~neurocodec.io.video.read_yuv420` (YUV sources as they are, RGB sources converted with
``info.yuv_matrix`` / ``info.yuv_range``), and their decoded planes are converted to RGB with that
same matrix and range. Every codec is compared in RGB against the same ``read_rgb`` frames.

Rates come from the real bytes (``bytes``: the hytip .bin file, the classical elementary stream,
the sum of the image .bin files): ``bpp = 8 bytes / (frames W H)``, ``kbps = 8 bytes / seconds /
1000`` with ``seconds = frames / fps``. Each record holds ``per_frame`` arrays, in display order:
``type`` ("I" / "P"), ``bits`` (of that frame's coded data), ``psnr_rgb``, ``ms_ssim`` and
``ms_ssim_db`` (null below 161 px a side, as for images); the clip's values are the means over
its frames (MS-SSIM dB: the dB of the mean MS-SSIM). ``container_bytes``: bytes counted in
``bytes`` but in no frame (the hytip .bin header).

Memory stays flat in the clip's length: the source is streamed into the encoder (the coded
bytes are held), then decoded one frame at a time beside a second streamed read of the source.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neurocodec.errors import InputError, NeurocodecError
from neurocodec.evaluate import metrics as metrics_mod
from neurocodec.evaluate.baselines.video import DEFAULT_GOP  # intra period of every codec unless --gop says otherwise
from neurocodec.evaluate.modalities import CodecUnavailableError, Modality, register_modality
from neurocodec.io.formats import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

# the evaluation clips, under $NEUROCODEC_DATA
VIDEO_EVAL: tuple[str, ...] = (
    "video/hevc_ctc/BasketballPass_416x240_first100_png",
    "video/mp4/big_buck_bunny_small.mp4",
    "video/xiph_derf/bus_352x288_420_f20_b8.yuv",
    "video/xiph_derf/foreman_qcif.yuv",
    "video/openh264_res/CiscoVT2people_320x192_12fps.yuv",
    "video/libvpx_testdata/park_joy_90p_8_420.y4m",
)
VIDEO_EVAL_OPTIONS: dict[str, dict[str, Any]] = {
    # the first 96 of 100 frames; the HEVC test sequence is 50 Hz (a PNG folder states no rate)
    "video/hevc_ctc/BasketballPass_416x240_first100_png": {"max_frames": 96, "fps": 50},
    "video/mp4/big_buck_bunny_small.mp4": {"max_frames": 96},  # of 132
}
# item options: `max_frames` (code the first N frames), and what neurocodec.io.video.probe takes
ITEM_OPTIONS = ("max_frames", "fps", "size", "matrix", "range")


# --------------------------------------------------------------------------- items


def _has_png(folder: Path) -> bool:
    return any(p.suffix.lower() == ".png" and p.is_file() for p in folder.iterdir())


def is_clip(path: Path) -> bool:
    """Whether `path` is one clip: a file with a video suffix, or a folder of PNG frames (PNG
    files and no video file directly inside)."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() in VIDEO_SUFFIXES
    if not p.is_dir():
        return False
    try:
        entries = list(p.iterdir())
    except OSError:
        return False
    files = [e for e in entries if e.is_file()]
    return any(e.suffix.lower() == ".png" for e in files) and not any(e.suffix.lower() in VIDEO_SUFFIXES for e in files)


def _items(folder: Path) -> list[Path]:
    """The clips under `folder` (recursively; not inside a frame folder), or `folder` itself when
    it is one clip."""
    folder = Path(folder)
    if is_clip(folder):
        return [folder]
    if not folder.is_dir():
        raise InputError(f"data set folder {folder} does not exist")
    items: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        d = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            sub = d / name
            if is_clip(sub):
                items.append(sub)
            else:
                keep.append(name)
        dirnames[:] = keep  # do not descend into frame folders
        items += [d / f for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    if not items:
        raise InputError(f"no video clips ({', '.join(sorted(VIDEO_SUFFIXES))} files, or folders of PNG frames) "
                         f"under {folder}")
    return sorted(items, key=lambda p: p.relative_to(folder).as_posix())


def _split_options(options: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """Item options -> (frame cap, keyword arguments of probe)."""
    unknown = sorted(set(options) - set(ITEM_OPTIONS))
    if unknown:
        raise InputError(f"unknown video item option(s) {', '.join(unknown)} (known: {', '.join(ITEM_OPTIONS)})")
    cap = options.get("max_frames")
    if cap is not None and (not isinstance(cap, (int, np.integer)) or isinstance(cap, bool) or cap < 1):
        raise InputError(f"max_frames must be a positive integer, got {cap!r}")
    probe_opts = {k: v for k, v in options.items() if k != "max_frames" and v is not None}
    if "size" in probe_opts:
        probe_opts["size"] = tuple(probe_opts["size"])
    return (None if cap is None else int(cap)), probe_opts


def _load(path: Path) -> Any:
    """The clip's :class:`~neurocodec.io.video.VideoInfo` (frames are read as they are coded)."""
    from neurocodec.io.video import probe

    return probe(path)


def clip_size(info: Any, frames: int | None = None) -> dict[str, Any]:
    """Size fields of a clip coded over its first `frames` frames (default all): width, height,
    pixels (per frame), frames, source_frames, fps, seconds, source and its colour policy."""
    n = info.frames if frames is None else int(frames)
    fps = Fraction(info.fps)
    return {"width": int(info.width), "height": int(info.height), "pixels": int(info.width * info.height),
            "frames": n, "source_frames": int(info.frames), "fps": float(fps), "seconds": float(n / fps),
            "source": info.source, "color": info.policy()}


def _describe(info: Any) -> dict[str, Any]:
    return clip_size(info)


def _rate(n_bytes: int, size: dict[str, Any]) -> dict[str, float]:
    return {"bpp": 8.0 * n_bytes / (size["frames"] * size["width"] * size["height"]),
            "kbps": 8.0 * n_bytes / size["seconds"] / 1000}


# --------------------------------------------------------------------------- codecs


def _codec(name: str, gop: int = DEFAULT_GOP) -> Any:
    from neurocodec.evaluate.baselines.video import CLASSICAL_VIDEO_CODECS, classical_video_codec
    from neurocodec.evaluate.neural_video import (
        INTRA_SUFFIX,
        check_gop,
        load_image_intra_codec,
        load_neural_video_codec,
    )

    gop = check_gop(gop)
    if name in CLASSICAL_VIDEO_CODECS:
        return classical_video_codec(name, gop)
    if name.endswith(INTRA_SUFFIX):
        return load_image_intra_codec(name)
    try:
        return load_neural_video_codec(name, gop)
    except CodecUnavailableError as e:
        raise CodecUnavailableError(f"{e}; classical: {', '.join(CLASSICAL_VIDEO_CODECS)}; every frame by an "
                                    f"image codec: <image codec>{INTRA_SUFFIX}, e.g. hyperprior{INTRA_SUFFIX}"
                                    ) from None


def _known() -> list[str]:
    from neurocodec.evaluate.baselines.video import CLASSICAL_VIDEO_CODECS

    return list(CLASSICAL_VIDEO_CODECS)


# --------------------------------------------------------------------------- one clip


class _Timed:
    """An iterator that adds up the wall seconds spent producing its items (`seconds`)."""

    def __init__(self, it: Iterator[Any]) -> None:
        self.it = it
        self.seconds = 0.0
        self.count = 0

    def __iter__(self) -> "_Timed":
        return self

    def __next__(self) -> Any:
        t = time.perf_counter()
        try:
            x = next(self.it)
        finally:
            self.seconds += time.perf_counter() - t
        self.count += 1
        return x

    def close(self) -> None:
        close = getattr(self.it, "close", None)
        if close is not None:
            close()


def _source(info: Any, n: int, yuv: bool) -> Iterator[Any]:
    """The first `n` frames of the clip: uint8 RGB [H, W, 3], or 4:2:0 planes (Y, U, V)."""
    from neurocodec.io.video import read_rgb, read_yuv420

    it = read_yuv420(info) if yuv else read_rgb(info)
    try:
        for _, frame in zip(range(n), it):
            yield frame
    finally:
        it.close()


def _takes_yuv(codec: Any) -> bool:
    kind = getattr(codec, "video_input", None)
    if kind not in ("rgb", "yuv420"):
        raise TypeError(f"{codec.name} is not a video adapter (video_input {kind!r})")
    return kind == "yuv420"


def _encode(codec: Any, info: Any, n: int, quality: int) -> tuple[Any, float]:
    """Code the first `n` frames; returns the EncodedVideo and the encoder's wall seconds
    (reading and converting the source excluded)."""
    yuv = _takes_yuv(codec)
    src = _Timed(_source(info, n, yuv))
    t0 = time.perf_counter()
    try:
        if yuv:
            enc = codec.encode_video(src, info.width, info.height, info.fps, quality)
        else:
            enc = codec.encode_video(src, info.width, info.height, info.fps, quality, n, info.policy())
    finally:
        src.close()
    seconds = time.perf_counter() - t0 - src.seconds
    if src.count != n:
        raise InputError(f"{info.path}: read {src.count} frames, expected {n}")
    fb, ft = list(enc.frame_bytes), list(enc.frame_types)
    if len(fb) != n or len(ft) != n:
        raise NeurocodecError(f"{codec.name}: {len(fb)} frame sizes and {len(ft)} frame types for {n} frames")
    if sum(fb) > len(enc.data) or any(b < 0 for b in fb):
        raise NeurocodecError(f"{codec.name}: frame sizes add up to {sum(fb)} bytes, the stream has {len(enc.data)}")
    if not set(ft) <= {"I", "P"}:
        raise NeurocodecError(f"{codec.name}: frame types {sorted(set(ft))}, expected I and P only")
    return enc, seconds


def _decoded(codec: Any, enc: Any, info: Any) -> Iterator[Any]:
    """The decoder's frames, as it gives them (RGB, or planes for the classical codecs)."""
    return iter(codec.decode_video(enc.data) if _takes_yuv(codec) else codec.decode_video(enc))


def _evaluate(codec: Any, path: Path, quality: int, options: dict[str, Any]) -> dict[str, Any]:
    """Code one clip at `quality` and measure it frame by frame: the per-item record (without
    its name). `options`: item options (``max_frames``, and probe's ``fps``, ``size``,
    ``matrix``, ``range``)."""
    from neurocodec.io.video import probe, yuv420_to_rgb

    cap, probe_opts = _split_options(options)
    info = probe(path, **probe_opts)
    n = info.frames if cap is None else min(info.frames, cap)
    size = clip_size(info, n)
    if min(info.width, info.height) < metrics_mod.MS_SSIM_MIN_SIDE:
        log.info("%s: %dx%d frames are below %d px a side: MS-SSIM is null", Path(path).name, info.width, info.height,
                 metrics_mod.MS_SSIM_MIN_SIDE)
    enc, encode_s = _encode(codec, info, n, quality)

    yuv = _takes_yuv(codec)
    dec = _Timed(_decoded(codec, enc, info))
    ref = _source(info, n, yuv=False)
    per_frame: list[dict[str, float]] = []
    try:
        for i, want in enumerate(ref):
            try:
                got = next(dec)
            except StopIteration:
                raise NeurocodecError(f"{codec.name}: the decoder gave {i} frames, the clip has {n}") from None
            if yuv:
                got = yuv420_to_rgb(*got, info.yuv_matrix, info.yuv_range)
            per_frame.append(metrics_mod.compute("video", want, np.asarray(got)))
        if next(dec, None) is not None:
            raise NeurocodecError(f"{codec.name}: the decoder gave more than the clip's {n} frames")
    finally:
        dec.close()
        ref.close()

    n_bytes = len(enc.data)
    keys = list(metrics_mod.values_for("video"))
    return {
        **size,
        "bytes": n_bytes,
        **_rate(n_bytes, size),
        "container_bytes": n_bytes - sum(enc.frame_bytes),
        **metrics_mod.mean_values("video", per_frame),
        "encode_s": encode_s,
        "decode_s": dec.seconds,
        "per_frame": {
            "type": list(enc.frame_types),
            "bits": [8 * int(b) for b in enc.frame_bytes],
            **{k: [v.get(k) for v in per_frame] for k in keys},
        },
    }


VIDEO = Modality(
    name="video",
    rate_key="bpp",
    rate_label="bits per pixel",
    list_items=_items,
    load=_load,
    describe=_describe,
    rate=_rate,
    load_codec=_codec,
    known_codecs=_known,
    items_name="clips",
    data_sets={"video-eval": VIDEO_EVAL},
    item_options={"video-eval": VIDEO_EVAL_OPTIONS},
    evaluate=_evaluate,
    options={"gop": DEFAULT_GOP},
    is_item=is_clip,
)
register_modality(VIDEO)
