"""`neurocodec eval` and `neurocodec plot`: RD results from real files, and their figures and tables."""

from __future__ import annotations

import argparse
import glob
import logging
from pathlib import Path

from neurocodec.errors import InputError

log = logging.getLogger(__name__)


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _ints(s: str) -> list[int]:
    try:
        return [int(x) for x in _csv(s)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def _eval(args: argparse.Namespace) -> int:
    from neurocodec.evaluate.runner import EvalConfig, run_eval

    cfg = EvalConfig(
        modality=args.modality, data=args.data, codecs=_csv(args.codecs), out=Path(args.out),
        workers=args.workers, limit=args.limit, qualities=args.qualities, levels=args.levels, force=args.force,
        skip_unavailable=args.skip_unavailable, dataset_name=args.dataset_name, progress=not args.no_progress,
        options={"gop": args.gop} if args.gop is not None else None, threads=args.threads,
    )
    if not cfg.codecs:
        raise InputError("--codecs names no codec")
    written, skipped = run_eval(cfg)
    for p in written:
        print(p)
    for name in skipped:
        print(f"skipped {name}: not available")
    return 0


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        hits = sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else [p]
        if not hits:
            raise InputError(f"no result files match {p}")
        for h in hits:
            hp = Path(h)
            out += sorted(hp.glob("*.json")) if hp.is_dir() else [hp]
    if not out:
        raise InputError("no result files given")
    return out


def _plot(args: argparse.Namespace) -> int:
    from neurocodec.evaluate.bd import bd_rate
    from neurocodec.evaluate.metrics import plot_keys
    from neurocodec.evaluate.modalities import get_modality
    from neurocodec.evaluate.plots import plot_rd
    from neurocodec.evaluate.reference import DEFAULT_PUBLISHED, published_curve
    from neurocodec.evaluate.report import bd_item_table, bd_table, markdown_table
    from neurocodec.evaluate.results import load_curves

    figure_types = {".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".eps"}
    if Path(args.output).suffix.lower() not in figure_types:
        raise InputError(f"-o {args.output}: plot writes {', '.join(sorted(figure_types))} files")
    if args.table and Path(args.table).suffix.lower() not in {".md", ".txt"}:
        raise InputError(f"--table {args.table}: the table is a Markdown file (.md)")
    curves = load_curves(_expand(args.results), rate_key=args.rate)
    modality = curves[0].modality
    if args.published == "default":  # the published Kodak curves exist for images only
        names = DEFAULT_PUBLISHED if modality == "image" else []
    else:
        names = [] if args.published == "none" else _csv(args.published)
    if names and modality != "image":
        raise InputError("published reference curves exist for images (Kodak) only; use --published none")
    published = [published_curve(n) for n in names]
    plot_rd(curves + published, modality=modality, title=args.title, out=args.output, xmax=args.xmax)
    print(args.output)
    if args.table:
        by_codec = {c.codec: c for c in curves}
        anchor_names = _csv(args.anchors) if args.anchors else [c.codec for c in curves if c.codec in BASELINE_ANCHORS]
        anchors = []
        for n in anchor_names:
            if n in by_codec:
                anchors.append(by_codec[n])
            elif modality == "image":
                anchors.append(published_curve(n))
            else:
                raise InputError(f"--anchors {n}: no result file of that codec among the results "
                                 f"({', '.join(sorted(by_codec))})")
        tests = [c for c in curves if args.all_rows or c.codec not in anchor_names] or curves
        tests.sort(key=lambda c: c.extra.get("kind") != "neural")  # our models first
        n_items = max(n for c in curves for n in c.extra.get("n_items", [0]))
        items_name = get_modality(modality).items_name
        text = [f"# BD-rate on {curves[0].extra.get('dataset', '')} ({n_items} {items_name})\n\n",
                "Rows against columns. Negative: fewer bits than the column's codec for the same quality "
                "(Bjøntegaard, PCHIP interpolation over the overlapping quality range)."
                + (" Columns marked (published) are CompressAI's published numbers, not measured here."
                   if any(a.published for a in anchors) else "") + "\n"]
        if modality == "image":
            bpg, mbt = published_curve("BPG 0.9.8 444 x265 YCbCr"), published_curve("compressai mbt2018-mean mse")
            check = bd_rate(*bpg.points("psnr_rgb"), *mbt.points("psnr_rgb"))
            text.append(f"\nCheck of the BD code: published mbt2018-mean vs published BPG, PSNR: {check:+.2f} %.\n")
        if args.rate or args.per_item:
            text.append(f"\nRates in {curves[0].rate_key}. \"BD-rate, <value>\": the curves of per-level means over "
                        f"the {items_name}.\n")
        for key in plot_keys(modality):
            rows = bd_table(tests, anchors, key, "rate")
            text.append(f"\n## BD-rate, {key}\n\n" + markdown_table(rows, [a.label for a in anchors]))
        if args.per_item:
            item = items_name.removesuffix("s")
            for key in plot_keys(modality):
                for a in (a for a in anchors if a.items):
                    rows = bd_item_table([t for t in tests if t is not a], a, key, "rate")
                    text.append(f"\n## BD-rate per {item}, {key}, against {a.label}\n\nLast row: the mean of the "
                                f"per-{item} values over the {items_name} where the anchor has {key} (n/a unless "
                                f"each of them has a value).\n\n"
                                + markdown_table(rows, [t.label for t in tests if t is not a], corner=item))
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text("".join(text))
        print(args.table)
    return 0


# measured baselines used as table columns when --anchors is not given
BASELINE_ANCHORS = ("jpeg", "jpeg-444", "webp", "avif", "avif-444", "hevc-intra", "av1-intra",  # image
                    "opus", "mp3", "aac",  # audio
                    "x264-medium", "x264-veryslow", "x265-medium", "x264-intra")  # video


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` and `plot` sub-commands."""
    p = subparsers.add_parser("eval", help="measure rate-distortion of codecs on a data set (one JSON per codec)",
                              description="Encode and decode every item at every quality level; bits from the real "
                              "encoded bytes, metrics from the decoded output. Re-running skips finished entries.")
    p.add_argument("--modality", default="image", help="media kind: image, audio or video (default: image)")
    p.add_argument("--data", required=True, help="data set folder, or a name under $NEUROCODEC_DATA (e.g. kodak), "
                   "comma-separated folders, or a named set (audio: librispeech-eval = LibriSpeech test-other, "
                   "test-clean and dev-clean; video: video-eval = six clips, two capped at 96 frames); video also "
                   "takes single clips (a video file or a folder of PNG frames)")
    p.add_argument("--codecs", required=True, help="comma-separated codec names or checkpoint paths, e.g. "
                   "jpeg,webp,avif,hevc-intra,av1-intra,hyperprior (image), opus,mp3,aac,dac,snac (audio) or "
                   "hytip,hyperprior-intra,x264-medium,x264-veryslow,x265-medium,x264-intra (video)")
    p.add_argument("--gop", type=int, help="video: intra period of every codec, in frames (default 32; recorded "
                   "in the results)")
    p.add_argument("--out", required=True, help="folder for the result JSON files")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1), one torch thread each")
    p.add_argument("--threads", type=int, help="torch threads of a one-worker run (default: torch's own, all "
                                               "cores); 1 when other jobs share the cores")
    p.add_argument("--limit", type=int, help="only the first K items (sorted by name)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--qualities", type=_ints, help="quality levels in each codec's own units, e.g. 50,90")
    g.add_argument("--levels", type=int, help="N levels spread evenly over each codec's default sweep")
    p.add_argument("--dataset-name", help="name recorded in the results (default: the folder name)")
    p.add_argument("--force", action="store_true", help="recompute a result file made with other settings or versions")
    p.add_argument("--skip-unavailable", action="store_true", help="warn about and skip codecs that are not installed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)

    p = subparsers.add_parser("plot", help="draw RD curves (and a BD-rate table) from result JSON files")
    p.add_argument("results", nargs="+", help="result JSON files or folders (globs allowed)")
    p.add_argument("-o", "--output", default="rd.png", help="figure file (default rd.png)")
    p.add_argument("--published", default="default",
                   help="published Kodak curves to draw: 'default' (images: the usual ones; other modalities: "
                   "none), 'none', or comma-separated names/substrings")
    p.add_argument("--title", help="figure title (default: the data set and item count of the results, "
                   "e.g. 'kodak (24 images)'; '' for none)")
    p.add_argument("--xmax", type=float, help="end the rate axis at this value (default: fitted to the measured "
                   "curves; published curves are clipped to the axis)")
    p.add_argument("--table", help="also write a Markdown BD-rate table here")
    p.add_argument("--anchors", help="table columns: measured codec names or published series "
                   "(default: the measured classical codecs)")
    p.add_argument("--all-rows", action="store_true", help="table rows for the anchors too")
    p.add_argument("--rate", choices=("bpp", "kbps"), help="rate of the axis and the BD tables (default: the "
                   "results' own; video results hold both)")
    p.add_argument("--per-item", action="store_true", help="also BD-rate tables per item (e.g. per video clip) "
                   "against each measured anchor, with their mean")
    p.set_defaults(func=_plot)
