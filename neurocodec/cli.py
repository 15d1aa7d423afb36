"""The `neurocodec` command line: encode, decode, info, export, demo (+ eval and plot)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from neurocodec import __version__, bitstream
from neurocodec.errors import BitstreamError, InputError, NeurocodecError
from neurocodec.io.formats import (
    AUDIO_OUTPUT_SUFFIXES,
    AUDIO_SUFFIXES,
    AV_SUFFIXES,
    IMAGE_OUTPUT_SUFFIXES,
    IMAGE_SUFFIXES,
    VIDEO_OUTPUT_SUFFIXES,
    VIDEO_SUFFIXES,
)
from neurocodec.jobs import (
    Job,
    Outcome,
    decoded_name,
    describe,
    failure,
    encoded_name,
    make_folders,
    plan,
    summarize,
    write_report,
)
from neurocodec.jobs import run as run_jobs


def _video_info(args: argparse.Namespace, size: int) -> int:
    """A video .bin: the header, then every frame section's size (read one at a time)."""
    with open(args.file, "rb") as f:
        r = bitstream.StreamReader(f, max_sections=bitstream._MAX_SECTIONS_STREAM)
        per_type: dict[str, list[int]] = {}
        for name, data in r:
            per_type.setdefault(name[:1], []).append(len(data))
    meta = r.metadata
    info = {"file": str(args.file), "bytes": size, "codec": r.codec, "weights": r.weights_hash.hex(), "metadata": meta,
            "frames": r.count, "gop": meta.get("gop")}
    info["bytes_per_frame_type"] = {k: {"frames": len(v), "bytes": sum(v), "mean_bytes": round(sum(v) / len(v), 1)}
                                    for k, v in sorted(per_type.items())}
    try:
        w, h, n = int(meta["width"]), int(meta["height"]), int(meta["frames"])
        fps = meta["fps"][0] / meta["fps"][1]
        info["bpp"] = round(8 * size / (n * w * h), 5)
        info["seconds"] = round(n / fps, 4)
        info["kbps"] = round(8 * size / (n / fps) / 1000, 3)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
        pass
    print(json.dumps(info, indent=2))
    return 0


def _info(args: argparse.Namespace) -> int:
    from neurocodec.codecs.catalog import CODECS

    header = bitstream.read_header(args.file)
    if CODECS.get(header.codec) == "video":
        return _video_info(args, Path(args.file).stat().st_size)
    p = bitstream.read(args.file)
    size = Path(args.file).stat().st_size
    info = {
        "file": str(args.file),
        "bytes": size,
        "codec": p.codec,
        "weights": p.weights_hash.hex(),
        "metadata": p.metadata,
        "sections": {k: len(v) for k, v in p.sections.items()},
    }
    h, w = p.metadata.get("height"), p.metadata.get("width")
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        info["bpp"] = round(8 * size / (h * w), 5)
    if getattr(args, "flops", False):
        if CODECS.get(p.codec) != "image":
            raise InputError(f"--flops measures image decoders; {p.codec!r} is a {CODECS.get(p.codec)} codec "
                             "(see benchmarks/ for audio and video)")
        from neurocodec.evaluate.complexity import decode_complexity, parameter_count

        codec = _load_codec(p.codec, args.checkpoint)
        info["decode"] = {**decode_complexity(codec, p).as_dict(), "parameters": parameter_count(codec)}
    rate, n = p.metadata.get("rate"), p.metadata.get("n")
    if isinstance(rate, int) and isinstance(n, int) and rate > 0 and n > 0:
        dur = n / rate
        info["seconds"] = round(dur, 4)
        info["kbps"] = round(8 * size / dur / 1000, 4)
        info["payload_kbps"] = round(8 * p.payload_bytes / dur / 1000, 4)
        ch, coded = p.metadata.get("ch"), p.metadata.get("coded")
        if isinstance(ch, int) and coded == 1 and ch > 1:
            info["channels_note"] = f"{ch} input channels were averaged to one (encode with --keep-channels to code each)"
    print(json.dumps(info, indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from neurocodec import demo

    image = Path(args.image) if args.image else None
    if args.lossless:
        return demo.main_lossless(image)
    return demo.main(image, codec=args.codec, quality=args.quality)


# ---- encode / decode ---------------------------------------------------------------------------
# Arguments, inputs and outputs are checked before torch and the model are loaded; every file is
# written under a temporary name and renamed; a bad file is reported and skipped.

_CODECS: dict = {}  # (name, checkpoint) -> loaded codec, in this process (and in each worker)
_PROBED: dict = {}  # a single input read before the model loads (so a bad file fails fast)
_INTRA: dict = {}  # the --intra-checkpoint of this run (video)


def _quality_range(name: str | None, checkpoint: str | None, quality: int | None) -> None:
    """Check the quality level against the shipped checkpoint's card (before loading)."""
    if quality is None:
        return
    if quality < 1:
        raise InputError(f"--quality must be 1 or more, got {quality}")
    if checkpoint is None and name is not None:
        from neurocodec.codecs.catalog import shipped_qualities

        q = shipped_qualities(name)
        if q is not None and quality > q:
            raise InputError(f"--quality must be 1..{q} for the shipped {name} checkpoint, got {quality}")


def _load_codec(name: str, checkpoint: str | None, threads: int | None = None):  # noqa: ANN202
    key = (name, checkpoint)
    if key not in _CODECS:
        import torch

        from neurocodec.codecs.catalog import CODECS
        from neurocodec.codecs.registry import load, load_image_codec

        if threads:
            torch.set_num_threads(threads)
        if CODECS.get(name) == "video":
            codec = load(checkpoint or name, intra=_INTRA.get("checkpoint"))
            if codec.modality != "video":
                raise InputError(f"checkpoint {checkpoint or name} holds the {codec.modality} codec {codec.name!r}, not a video codec")
            _CODECS[key] = codec
        elif CODECS.get(name) == "audio":
            codec = load(checkpoint or name)
            if codec.modality != "audio" or (checkpoint is None and codec.name != name):
                raise InputError(f"checkpoint {checkpoint or name} holds the {codec.modality} codec {codec.name!r}, not {name!r}")
            _CODECS[key] = codec.prepare_inference()
        else:
            _CODECS[key] = load_image_codec(name, checkpoint)
    return _CODECS[key]


_RAW_VIDEO = {".y4m", ".yuv"}


def _modality_of_input(path: str) -> str:
    """'video' for .y4m/.yuv files (or folders holding them), 'audio' for audio (and audio+video
    containers: their audio track, unless a video codec is named) files or folders holding only
    such files, else 'image'."""
    p = Path(path)
    av_like = AUDIO_SUFFIXES | AV_SUFFIXES
    if p.suffix.lower() in _RAW_VIDEO:
        return "video"
    if p.is_dir() and any(f.suffix.lower() in _RAW_VIDEO for f in p.iterdir() if f.is_file()):
        return "video"
    if p.is_dir():
        kinds = {"audio" if f.suffix.lower() in av_like else "image" for f in p.iterdir()
                 if f.is_file() and f.suffix.lower() in av_like | IMAGE_SUFFIXES}
        return "audio" if kinds == {"audio"} else "image"
    return "audio" if p.suffix.lower() in av_like else "image"


def _encode_audio_one(job: Job, args: argparse.Namespace) -> Outcome:
    from neurocodec.io.files import write_bytes_atomic

    codec = _load_codec(args.codec, args.checkpoint)
    p = codec.encode_file(job.src, kbps=args.kbps, stages=args.stages, beam=args.beam, keep_channels=args.keep_channels)
    data = bitstream.dumps(p)
    write_bytes_atomic(job.dst, data, force=args.force)
    dur = p.metadata["n"] / p.metadata["rate"]
    return Outcome(str(job.src), str(job.dst), True, bytes=len(data), kbps=round(8 * len(data) / dur / 1000, 4),
                   duration=round(dur, 4))


def _decode_audio(job: Job, args: argparse.Namespace, payload: bitstream.Payload) -> Outcome:
    from neurocodec.io.files import atomic_path

    if job.dst.suffix.lower() not in AUDIO_OUTPUT_SUFFIXES:
        raise InputError(f"{job.src} holds audio; write it as {', '.join(sorted(AUDIO_OUTPUT_SUFFIXES))}, not {job.dst.suffix!r}")
    codec = _load_codec(payload.codec, args.checkpoint)
    with atomic_path(job.dst, force=args.force) as tmp:
        out = codec.decode_file(payload, tmp)
    dur = out["samples"] / out["rate"]
    return Outcome(str(job.src), str(job.dst), True, bytes=job.src.stat().st_size, duration=round(dur, 4),
                   kbps=round(8 * job.src.stat().st_size / dur / 1000, 4))


def _encode_one(job: Job, args: argparse.Namespace) -> Outcome:
    from neurocodec.io.files import write_bytes_atomic
    from neurocodec.io.images import load_image_info

    rgb, gray = _PROBED.pop(job.src, None) or load_image_info(job.src)
    codec = _load_codec(args.codec, args.checkpoint)
    data = codec.encode_image(rgb, args.quality, gray=gray, refine_steps=args.refine_steps or 0,
                              refine_seconds=args.refine_seconds, seed=args.seed)
    write_bytes_atomic(job.dst, data, force=args.force)
    h, w = rgb.shape[:2]
    return Outcome(str(job.src), str(job.dst), True, bytes=len(data), bpp=round(8 * len(data) / (h * w), 5), width=w, height=h)


def _decode_one(job: Job, args: argparse.Namespace) -> Outcome:
    from neurocodec.codecs.catalog import CODECS, check_name

    header = bitstream.read_header(job.src)
    if CODECS.get(header.codec) == "video":  # read frame by frame
        return _decode_video(job, args, header.codec)
    data = job.src.read_bytes()
    payload = bitstream.loads(data)  # a bad file fails here, before the model loads
    name = payload.codec
    try:  # never a path: the name is the file's, not the user's
        check_name(name)
    except InputError as e:
        raise BitstreamError(f"{job.src} names a codec this release does not have: {e}") from None

    if CODECS.get(name) == "audio":
        return _decode_audio(job, args, payload)
    if job.dst.suffix.lower() not in IMAGE_OUTPUT_SUFFIXES:
        raise InputError(f"{job.src} holds an image; write it as {', '.join(sorted(IMAGE_OUTPUT_SUFFIXES))}, not {job.dst.suffix!r}")
    from neurocodec.io.files import atomic_path
    from neurocodec.io.images import save_image

    codec = _load_codec(name, args.checkpoint)
    img = codec.decode_image(data)
    with atomic_path(job.dst, force=args.force) as tmp:
        save_image(img, tmp)
    h, w = img.shape[:2]
    return Outcome(str(job.src), str(job.dst), True, bytes=job.src.stat().st_size, width=w, height=h)


def _worker_init(name: str | None, checkpoint: str | None) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import torch

    torch.set_num_threads(1)
    if name:
        _load_codec(name, checkpoint, threads=1)


def _run_jobs(jobs: list[Job], one, args: argparse.Namespace, what: str, codec_name: str | None) -> int:  # noqa: ANN001
    if args.workers < 1:
        raise InputError(f"--workers must be 1 or more, got {args.workers}")
    make_folders(jobs)
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        outcomes = []
        pool = ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                   initargs=(codec_name, args.checkpoint))
        try:
            futures = [pool.submit(_safe_one, one, j, args) for j in jobs]
            for f in futures:
                o = f.result()
                outcomes.append(o)
                print(describe(o), file=sys.stdout if o.ok else sys.stderr)
                if args.fail_fast and not o.ok:
                    break
        except KeyboardInterrupt:  # queued files never start; those being written finish atomically
            summarize(outcomes, len(jobs), what)
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a worker killed for memory (BrokenProcessPool)
            done = {o.input for o in outcomes}
            outcomes += [failure(j, e) for j in jobs if str(j.src) not in done]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        outcomes = run_jobs(jobs, lambda j: one(j, args), fail_fast=args.fail_fast, progress=not args.quiet)
    code = summarize(outcomes, len(jobs), what)
    if args.report:
        write_report(args.report, outcomes, what, force=args.force)
    return code


def _safe_one(one, job: Job, args: argparse.Namespace) -> Outcome:  # noqa: ANN001
    try:
        return one(job, args)
    except Exception as e:  # noqa: BLE001 - reported per file by the parent
        return failure(job, e)


def _checkpoint_inputs(args: argparse.Namespace) -> tuple[Path, ...]:
    return (Path(args.checkpoint),) if args.checkpoint and Path(args.checkpoint).exists() else ()


def _check_report(args: argparse.Namespace) -> None:
    if args.report:
        r = Path(args.report)
        if r.suffix.lower() != ".json":
            raise InputError(f"--report {r}: the report is a .json file")
        if r.exists() and not args.force:
            raise InputError(f"--report {r} exists (use -f/--force to overwrite)")
        if not r.resolve().parent.is_dir():
            raise InputError(f"--report {r}: folder {r.parent} does not exist")


def _resolve_quality(args: argparse.Namespace, codec) -> None:  # noqa: ANN001
    """Default -q to 3 (or the top level of a checkpoint with fewer); check it against the
    loaded checkpoint's levels."""
    if args.quality is None:
        args.quality = min(3, codec.num_qualities)
    if args.quality > codec.num_qualities:
        raise InputError(f"--quality must be 1..{codec.num_qualities} for this checkpoint, got {args.quality}")


def _encode_audio(args: argparse.Namespace) -> int:
    from neurocodec.codecs.catalog import check_name

    check_name(args.codec, "audio")
    if args.quality is not None:
        raise InputError("-q/--quality is for images; audio takes --kbps (or --stages)")
    if args.refine_steps is not None or args.refine_seconds is not None:
        raise InputError("--refine-steps/--refine-seconds are for images")
    if args.kbps is not None and args.stages is not None:
        raise InputError("give --kbps or --stages, not both")
    if args.beam < 1:
        raise InputError(f"--beam must be 1 or more, got {args.beam}")
    _check_report(args)
    jobs = plan(args.input, args.output, lambda p: p.suffix.lower() in AUDIO_SUFFIXES | AV_SUFFIXES, encoded_name,
                {".bin"}, args.force, "encode", _checkpoint_inputs(args))
    codec = _load_codec(args.codec, args.checkpoint)
    codec.stages_for(args.kbps, args.stages)  # checks the range before any file
    return _run_jobs(jobs, _encode_audio_one, args, "encode", args.codec)


def _encode(args: argparse.Namespace) -> int:
    from neurocodec.codecs.catalog import CODECS, check_name

    modality = CODECS.get(args.codec) if args.codec else _modality_of_input(args.input)
    if args.codec is None:
        args.codec = {"audio": "dac", "video": "hytip"}.get(modality, "hyperprior")
    if modality == "audio":
        return _encode_audio(args)
    if modality == "video":
        return _encode_video(args)
    for opt in ("gop", "size", "fps", "matrix", "range", "motion", "intra_checkpoint"):
        if getattr(args, opt) is not None:
            raise InputError(f"--{opt.replace('_', '-')} is for video (codec hytip)")
    if args.refine_steps is not None and args.refine_steps < 0:
        raise InputError(f"--refine-steps must be 0 or more, got {args.refine_steps}")
    if args.refine_seconds is not None and not 0 < args.refine_seconds < float("inf"):
        raise InputError(f"--refine-seconds must be a positive number, got {args.refine_seconds}")
    for opt in ("kbps", "stages", "keep_channels"):
        if getattr(args, opt):
            raise InputError(f"--{opt.replace('_', '-')} is for audio; images take -q/--quality")
    check_name(args.codec, "image")
    if _modality_of_input(args.input) == "audio" and not Path(args.input).is_dir():
        raise InputError(f"{args.input} is audio, and {args.codec} is an image codec (audio codecs: dac, snac)")
    _quality_range(args.codec, args.checkpoint, args.quality)
    _check_report(args)
    jobs = plan(args.input, args.output, lambda p: p.suffix.lower() in IMAGE_SUFFIXES, encoded_name,
                {".bin"}, args.force, "encode", _checkpoint_inputs(args))
    if len(jobs) == 1:  # one file: read it before torch and the model load
        from neurocodec.io.images import load_image_info

        _PROBED[jobs[0].src] = load_image_info(jobs[0].src)
    _resolve_quality(args, _load_codec(args.codec, args.checkpoint))
    return _run_jobs(jobs, _encode_one, args, "encode", args.codec)


def _decode(args: argparse.Namespace) -> int:
    _check_report(args)
    _INTRA["checkpoint"] = args.intra_checkpoint
    jobs = plan(args.input, args.output, lambda p: p.suffix.lower() == ".bin", decoded_name,
                IMAGE_OUTPUT_SUFFIXES | AUDIO_OUTPUT_SUFFIXES | VIDEO_OUTPUT_SUFFIXES | {""},
                args.force, "decode", _checkpoint_inputs(args))
    return _run_jobs(jobs, _decode_one, args, "decode", None)


# ---- video ---------------------------------------------------------------------------------------


def _video_options(args: argparse.Namespace) -> dict:
    """probe() options from --size/--fps/--matrix/--range."""
    from fractions import Fraction

    opts: dict = {}
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise InputError(f"--size {args.size!r}: expected WxH, e.g. 416x240") from None
        opts["size"] = (w, h)
    if args.fps:
        try:
            opts["fps"] = Fraction(args.fps)
        except (ValueError, ZeroDivisionError):
            raise InputError(f"--fps {args.fps!r}: expected a number or a fraction such as 30000/1001") from None
    if args.matrix:
        opts["matrix"] = args.matrix
    if args.range:
        opts["range"] = args.range
    return opts


def _encode_video_one(job: Job, args: argparse.Namespace) -> Outcome:
    from neurocodec.codecs.video.stream import VideoEncoder
    from neurocodec.io.files import atomic_path
    from neurocodec.io.video import probe, read_rgb

    info = _PROBED.pop(job.src, None) or probe(job.src, **_video_options(args))
    codec = _load_codec(args.codec, args.checkpoint)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=info.frames, unit="frame", desc=job.src.name, leave=False, file=sys.stderr)
    with atomic_path(job.dst, force=args.force) as tmp, open(tmp, "wb") as f:
        enc = VideoEncoder(codec, f, info.width, info.height, info.fps, info.frames, args.quality, gop=args.gop or 32,
                           color=info.policy(), estimator=args.motion or "auto")
        for rgb in read_rgb(info):
            enc.encode(rgb)
            if bar is not None:
                bar.update()
        enc.close()
        f.flush()
    if bar is not None:
        bar.close()
    n = enc.bytes
    dur = info.frames / float(info.fps)
    return Outcome(str(job.src), str(job.dst), True, bytes=n, bpp=round(8 * n / (info.frames * info.width * info.height), 5),
                   width=info.width, height=info.height, duration=round(dur, 4), kbps=round(8 * n / dur / 1000, 3))


def _decode_video(job: Job, args: argparse.Namespace, codec_name: str) -> Outcome:
    from neurocodec.codecs.video.stream import VideoDecoder
    from neurocodec.io.video import VideoWriter

    if job.dst.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES | {""}:
        raise InputError(f"{job.src} holds a video; write it as {', '.join(sorted(VIDEO_OUTPUT_SUFFIXES))} or a folder "
                         f"of PNG frames (a name without an extension), not {job.dst.suffix!r}")
    codec = _load_codec(codec_name, args.checkpoint)
    with open(job.src, "rb") as f:
        dec = VideoDecoder(codec, f)
        with VideoWriter(job.dst, dec.width, dec.height, dec.fps, policy=dec.metadata.get("color"), force=args.force) as w:
            for frame in dec:
                w.write(frame)
    dur = dec.frames / float(dec.fps)
    size = job.src.stat().st_size
    return Outcome(str(job.src), str(job.dst), True, bytes=size, width=dec.width, height=dec.height,
                   duration=round(dur, 4), kbps=round(8 * size / dur / 1000, 3))


def _encode_video(args: argparse.Namespace) -> int:
    from neurocodec.codecs.catalog import check_name
    from neurocodec.io.video import probe

    check_name(args.codec, "video")
    for opt in ("kbps", "stages", "keep_channels"):
        if getattr(args, opt):
            raise InputError(f"--{opt.replace('_', '-')} is for audio; video takes -q/--quality and --gop")
    if args.beam != 1:
        raise InputError("--beam is for audio")
    if args.refine_steps is not None or args.refine_seconds is not None:
        raise InputError("--refine-steps/--refine-seconds are for images")
    if args.gop is not None and not 1 <= args.gop <= 65536:
        raise InputError(f"--gop must be 1..65536, got {args.gop}")
    _quality_range(args.codec, args.checkpoint, args.quality)
    _check_report(args)
    _INTRA["checkpoint"] = args.intra_checkpoint
    opts = _video_options(args)
    inp = Path(args.input)
    if inp.is_dir() and not any(f.suffix.lower() in VIDEO_SUFFIXES for f in inp.iterdir() if f.is_file()):
        # a folder of frames: one clip, written beside the folder as NAME.bin
        dst = Path(args.output) if args.output else inp.parent / (inp.name + ".bin")
        if dst.suffix.lower() != ".bin":
            raise InputError(f"-o {dst}: encode writes .bin files")
        if dst.exists() and not args.force:
            raise InputError(f"{dst} exists (use -f/--force to overwrite)")
        jobs = [Job(inp, dst)]
    else:
        jobs = plan(args.input, args.output, lambda p: p.suffix.lower() in VIDEO_SUFFIXES, encoded_name,
                    {".bin"}, args.force, "encode", _checkpoint_inputs(args))
    if len(jobs) == 1:  # one clip: probe it before torch and the model load
        _PROBED[jobs[0].src] = probe(jobs[0].src, **opts)
    _resolve_quality(args, _load_codec(args.codec, args.checkpoint))
    return _run_jobs(jobs, _encode_video_one, args, "encode", args.codec)


def _export(args: argparse.Namespace) -> int:
    from neurocodec.codecs import registry

    from neurocodec.io.files import atomic_path

    out = Path(args.output)
    if out.suffix != ".pt":
        raise InputError(f"-o {out}: export writes a .pt checkpoint")
    src = Path(args.checkpoint)
    if out.exists() and src.exists() and os.path.samefile(out, src):
        raise InputError(f"-o {out} is the input checkpoint (refusing to overwrite it)")
    codec = registry.load(args.checkpoint)
    with atomic_path(out, force=args.force) as tmp:
        registry.save_checkpoint(codec, tmp, update_quantiles=args.update_quantiles, half=args.fp16)
    print(f"{args.checkpoint} -> {out}: codec {codec.name}, weights {codec.weights_hash().hex()}, "
          f"{out.stat().st_size / 1e6:.2f} MB")
    return 0


# Modules that add sub-commands: each has `register(subparsers)` adding parsers whose
# defaults set `func(args) -> int`.
COMMAND_MODULES: tuple[str, ...] = ("neurocodec.evaluate.cli",)


def _codec_names() -> str:
    """The registered codecs by modality, for --help (catalog.CODECS: never out of step)."""
    from neurocodec.codecs.catalog import CODECS

    by: dict[str, list[str]] = {}
    for name, modality in CODECS.items():
        by.setdefault(modality, []).append(name)
    return "; ".join(f"{', '.join(names)} for {m}" for m, names in by.items())


def _job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing output files (never an input)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first file that fails")
    p.add_argument("--report", help="write one JSON record per file (sizes, bpp, errors) to this .json")
    p.add_argument("--workers", type=int, default=1,
                   help="processes for folders (each loads the model, one thread each); default 1, which uses "
                        "all cores through torch threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neurocodec", description=__doc__)
    ap.add_argument("--version", action="version", version=f"neurocodec {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="describe a .bin file")
    p.add_argument("file")
    p.add_argument("--flops", action="store_true",
                   help="images: decode the file and count the decoder's FLOPs per pixel (FlopCounterMode; the "
                        "selective scan added analytically), with the codec's parameter count")
    p.add_argument("--checkpoint", default=None, help="with --flops: the codec's checkpoint, if not the shipped one")
    p.set_defaults(func=_info)
    p = sub.add_parser("encode", help="encode an image, audio or video file (or a folder of them) to .bin")
    p.add_argument("input", help="image, audio (any format PyAV reads, or a video's audio track) or video file "
                                 "(.y4m, .yuv; .mp4/.mkv/.webm with --codec hytip; a folder of PNG frames), or a folder")
    p.add_argument("-o", "--output", help="output .bin file or folder; default: beside the input, NAME.EXT.bin")
    p.add_argument("--codec", default=None,
                   help=f"codec name (shipped checkpoint): {_codec_names()}; default hyperprior for images, dac for "
                        "audio, hytip for .y4m/.yuv")
    p.add_argument("--checkpoint", help="a checkpoint file instead of the shipped one")
    p.add_argument("-q", "--quality", type=int, default=None,
                   help="quality level, 1 (smallest) .. the checkpoint's number of levels (6 for the shipped ones); "
                        "default 3 (or the top level of a checkpoint with fewer)")
    p.add_argument("--kbps", type=float, default=None,
                   help="audio: target bitrate of the whole file; uses the most codebooks (dac) or levels (snac) whose "
                        "expected rate plus the header fits (see the model card); default: all of them")
    p.add_argument("--stages", type=int, default=None, help="audio: the number of codebooks/levels instead of --kbps")
    p.add_argument("--beam", type=int, default=1,
                   help="audio: beam width of the code search (1 = greedy; more lowers the latent error, same format)")
    p.add_argument("--keep-channels", action="store_true",
                   help="audio: code each channel (default: average the channels to mono)")
    p.add_argument("--refine-steps", type=int, default=None,
                   help="images: iterative encoding, N steps of stochastic Gumbel annealing of the latents (same "
                        "format and decoder; the file is never worse by rate-distortion cost); default 0")
    p.add_argument("--refine-seconds", type=float, default=None, help="images: stop refining after this many seconds")
    p.add_argument("--seed", type=int, default=0, help="images: seed of the refinement's noise (deterministic)")
    p.add_argument("--gop", type=int, default=None, help="video: intra period (an I-frame every GOP frames); default 32")
    p.add_argument("--size", default=None, help="video: WxH of a raw .yuv whose name does not give it")
    p.add_argument("--fps", default=None, help="video: frame rate of a raw .yuv or frame folder (e.g. 25 or 30000/1001)")
    p.add_argument("--matrix", choices=("bt709", "bt601"), default=None,
                   help="video: YUV matrix when the source does not state it (default bt709)")
    p.add_argument("--range", choices=("limited", "full"), default=None,
                   help="video: YUV range when the source does not state it (default limited)")
    p.add_argument("--motion", choices=("auto", "pyramid", "dis"), default=None,
                   help="video: encoder motion estimation (pyramid: built in; dis: OpenCV DIS flow if installed)")
    p.add_argument("--intra-checkpoint", default=None, help="video: the I-frame codec's checkpoint, if not the shipped one")
    _job_options(p)
    p.set_defaults(func=_encode)
    p = sub.add_parser("decode", help="decode a .bin (or a folder of .bin) to an image, audio or video file")
    p.add_argument("input", help=".bin file or folder")
    p.add_argument("-o", "--output", help="output image (.png, .bmp, .tif, .ppm, .webp, .jpg), audio (.wav 16-bit, "
                                          ".flac, .mp3, .ogg, .opus, .m4a), video (.y4m, .mkv lossless RGB, or a name "
                                          "without an extension: a folder of PNG frames) or folder; default: beside "
                                          "the input, NAME.decoded.png (images), NAME.decoded.wav (audio) or "
                                          "NAME.decoded.y4m (video)")
    p.add_argument("--checkpoint", help="the checkpoint the file was encoded with, if not the shipped one")
    p.add_argument("--intra-checkpoint", default=None, help="video: the I-frame codec's checkpoint, if not the shipped one")
    _job_options(p)
    p.set_defaults(func=_decode)
    p = sub.add_parser("export", help="turn a training checkpoint into a compact codec checkpoint")
    p.add_argument("checkpoint", help="Lightning .ckpt written by neurocodec-train (or a codec .pt)")
    p.add_argument("-o", "--output", required=True, help="output .pt (e.g. checkpoints/hyperprior.pt)")
    p.add_argument("--update-quantiles", action="store_true",
                   help="set the factorised prior's table ranges exactly (changes the weights hash)")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the file size)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_export)
    p = sub.add_parser("demo", help="encode and decode a sample photo with the shipped model")
    p.add_argument("--image", help="another image instead of the shipped sample")
    p.add_argument("--codec", default="hyperprior")
    p.add_argument("-q", "--quality", type=int, default=3)
    p.add_argument("--lossless", action="store_true", help="the entropy-layer-only lossless demo instead")
    p.set_defaults(func=_demo)
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return ap


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the files being written are removed or finished."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 some files failed, 2 bad arguments or input, 130 interrupted,
    141 the output pipe was closed, 143 terminated (SIGTERM)."""
    import signal
    import threading

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return _run(args)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)


def _run(args: argparse.Namespace) -> int:
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        import os

        try:  # quiet: the reader (e.g. `head`) has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except KeyboardInterrupt as e:
        why = "terminated" if isinstance(e, _Terminated) else "interrupted"
        print(f"neurocodec {args.command}: {why} (no partial files were left)", file=sys.stderr)
        return 143 if isinstance(e, _Terminated) else 130
    except (NeurocodecError, OSError) as e:
        print(f"neurocodec {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
