"""File jobs of the command line: which input goes to which output, checked before any work;
running them so that a bad file is reported and skipped; the summary and the JSON report.

Output names (when -o does not give one):

- encode: the input name plus ``.bin`` (``photo.png`` -> ``photo.png.bin``), so that ``x.jpg``
  and ``x.png`` in one folder never collide;
- decode: the name without ``.bin`` and without the source extension, plus ``.decoded.png``
  (``photo.png.bin`` -> ``photo.decoded.png``), so that decoding never lands on the original.

Refused before any work: writing onto an input of the same run (even with --force), two
inputs that would write one output, an existing output without --force, an output extension
that the writer cannot produce, a folder given where a file is needed and the reverse.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from neurocodec.errors import InputError, NeurocodecError
from neurocodec.io.formats import AUDIO_SUFFIXES, AV_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger(__name__)



@dataclass
class Job:
    src: Path
    dst: Path


@dataclass
class Outcome:
    """What happened to one input."""

    input: str
    output: str
    ok: bool
    error: str = ""
    bytes: int = 0
    bpp: float | None = None
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0
    kbps: float | None = None
    duration: float | None = None


def encoded_name(src: Path) -> str:
    return src.name + ".bin"


def decoded_name(src: Path) -> str:
    """x.png.bin -> x.decoded.png; x.flac.bin -> x.decoded.wav; a video .bin (x.y4m.bin, or
    x.mp4.bin coded by a video codec) -> x.decoded.y4m; other names by the file's codec."""
    base = src.name[: -len(".bin")] if src.name.endswith(".bin") else src.name
    inner = Path(base).suffix.lower()
    stem = Path(base).stem if inner in IMAGE_SUFFIXES | AUDIO_SUFFIXES | AV_SUFFIXES | VIDEO_SUFFIXES else base
    kind = _modality_of_bin(src)
    if kind == "video":
        return stem + ".decoded.y4m"
    audio = kind == "audio" or (kind is None and inner in AUDIO_SUFFIXES | AV_SUFFIXES)
    return stem + (".decoded.wav" if audio else ".decoded.png")


def _modality_of_bin(path: Path) -> str | None:
    """The modality of the codec a .bin names, from its header only (None when it cannot be
    read: decoding then fails with the reader's error)."""
    from neurocodec import bitstream
    from neurocodec.codecs.catalog import CODECS

    try:
        return CODECS.get(bitstream.read_header(path).codec)
    except (NeurocodecError, OSError):
        return None


def plan(
    input_path: str,
    output: str | None,
    accept: Callable[[Path], bool],
    default_name: Callable[[Path], str],
    out_suffixes: set[str],
    force: bool,
    what: str,
    other_inputs: tuple[Path, ...] = (),
) -> list[Job]:
    """(input, output) pairs for a file or a folder, with every check done up front.
    other_inputs: files the run also reads (e.g. the checkpoint): never written either."""
    inp = Path(input_path)
    if not inp.exists():
        raise InputError(f"no such file or folder: {inp}")
    if inp.is_dir():
        files = sorted(p for p in inp.iterdir() if p.is_file() and not p.name.startswith(".nc-") and accept(p))
        if not files:
            raise InputError(f"no {what} input files in {inp}")
        out_dir = Path(output) if output else inp
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"-o {out_dir}: the input is a folder, so the output must be a folder")
        jobs = [Job(p, out_dir / default_name(p)) for p in files]
    else:
        if output is None:
            dst = inp.parent / default_name(inp)
        elif Path(output).is_dir() or output.endswith(("/", "\\")):
            dst = Path(output) / default_name(inp)
        else:
            dst = Path(output)
        jobs = [Job(inp, dst)]
    problems: list[str] = []
    inputs = {j.src.resolve() for j in jobs} | {Path(p).resolve() for p in other_inputs}

    def is_input(dst: Path) -> bool:
        if dst.resolve() in inputs:
            return True
        # the same file under another name (hard link, case-insensitive file system)
        return dst.exists() and any(i.exists() and os.path.samefile(dst, i) for i in inputs)

    seen: dict[str, Path] = {}
    for j in jobs:
        if j.dst.suffix.lower() not in out_suffixes:
            raise InputError(f"{j.dst}: {what} writes {', '.join(sorted(out_suffixes))} files, not {j.dst.suffix or 'a name without an extension'!r}")
        if j.dst.parent.exists() and not j.dst.parent.is_dir():
            raise InputError(f"{j.dst}: {j.dst.parent} is not a folder")
        r = os.path.normcase(str(j.dst.resolve())).casefold()
        if is_input(j.dst):
            problems.append(f"{j.dst} is an input of this run (refusing to overwrite it, even with --force)")
        elif r in seen:
            problems.append(f"{seen[r]} and {j.src} would both be written to {j.dst}")
        elif j.dst.is_dir():
            problems.append(f"{j.dst} is a folder")
        elif j.dst.exists() and not force:
            problems.append(f"{j.dst} exists (use -f/--force to overwrite)")
        seen[r] = j.src
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError("; ".join(problems[:3]) + more)
    return jobs


def make_folders(jobs: list[Job]) -> None:
    """Create the output folders (after every check has passed)."""
    for parent in {j.dst.parent for j in jobs}:
        parent.mkdir(parents=True, exist_ok=True)


def run(
    jobs: list[Job],
    work: Callable[[Job], Outcome],
    fail_fast: bool = False,
    progress: bool = True,
) -> list[Outcome]:
    """Run every job; a failing one is recorded (NeurocodecError, OSError, ValueError) and the
    run goes on, unless fail_fast. A single job's error propagates (a one-line error, exit 2).
    KeyboardInterrupt propagates."""
    from tqdm import tqdm

    if len(jobs) == 1:
        t0 = time.perf_counter()
        out = work(jobs[0])
        out.seconds = round(time.perf_counter() - t0, 3)
        print(describe(out))
        return [out]
    outcomes: list[Outcome] = []
    bar = tqdm(jobs, unit="file", disable=not progress or len(jobs) < 2, file=sys.stderr)
    for job in bar:
        t0 = time.perf_counter()
        try:
            out = work(job)
        except Exception as e:  # noqa: BLE001 - a batch reports any failure of one file and goes on
            out = failure(job, e)
        out.seconds = round(time.perf_counter() - t0, 3)
        outcomes.append(out)
        bar.write(describe(out)) if len(jobs) > 1 else print(describe(out))
        if fail_fast and not out.ok:
            break
    return outcomes


def failure(job: Job, e: BaseException) -> Outcome:
    """The outcome of a job that raised: user errors by their message, others by their type too."""
    msg = str(e) if isinstance(e, (NeurocodecError, OSError, ValueError)) else f"{type(e).__name__}: {e}"
    return Outcome(str(job.src), str(job.dst), ok=False, error=msg or type(e).__name__)


def describe(o: Outcome) -> str:
    if not o.ok:
        err = o.error.removeprefix(f"{o.input}: ")
        return f"{o.input}: FAILED: {err}"
    parts = [f"{o.input} -> {o.output}"]
    details = []
    if o.width:
        details.append(f"{o.width}x{o.height}")
    if o.bytes:
        details.append(f"{o.bytes} bytes")
    if o.bpp is not None:
        details.append(f"{o.bpp:.4f} bpp")
    if o.duration is not None:
        details.append(f"{o.duration:.2f} s")
    if o.kbps is not None:
        details.append(f"{o.kbps:.3f} kbps")
    return parts[0] + (": " + ", ".join(details) if details else "")


def summarize(outcomes: list[Outcome], total: int, what: str) -> int:
    """Print the summary (several files or any failure); returns the exit code (1 if any failed)."""
    failed = [o for o in outcomes if not o.ok]
    skipped = total - len(outcomes)
    if total > 1 or failed:
        line = f"{what}: {len(outcomes) - len(failed)} done, {len(failed)} failed"
        if skipped:
            line += f", {skipped} not started (--fail-fast)"
        print(line, file=sys.stderr)
        for o in failed:
            print(f"  failed: {o.input}: {o.error}", file=sys.stderr)
    return 1 if failed or skipped else 0


def write_report(path: str, outcomes: Iterable[Outcome], what: str, force: bool = False) -> None:
    from neurocodec.io.files import write_bytes_atomic

    doc = {"command": what, "files": [asdict(o) for o in outcomes]}
    write_bytes_atomic(path, (json.dumps(doc, indent=1) + "\n").encode(), force=force)
