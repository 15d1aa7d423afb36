"""The rate–distortion runner: every codec, every quality level, every item of a data set.

For each (codec, data set) it writes one result file (see :mod:`results`), updated as entries
finish, so an interrupted run loses little and a re-run skips the (quality, item) entries the
file already holds. Rates come from the bytes the codec returned; metrics from its decoded
output. Everything modality-specific goes through a :class:`~modalities.Modality` and the
metric registry, so the runner itself is the same for images, audio and video (whose items are
streamed frame by frame through the modality's own ``evaluate``).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import logging
import multiprocessing as mp
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from neurocodec import __version__
from neurocodec.errors import InputError, NeurocodecError
from neurocodec.evaluate import metrics as metrics_mod
from neurocodec.evaluate.modalities import CodecUnavailableError, Modality, get_modality
from neurocodec.evaluate.results import SCHEMA, read_json, result_lock, result_path, write_json

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    """What to run. `data`: a folder, a name under $NEUROCODEC_DATA, comma-separated folders, or
    a data set named by the modality (e.g. ``librispeech-eval``). `qualities` (codec units) or
    `levels` (that many levels spread evenly over each codec's default sweep) narrow the sweep;
    `limit` takes the first K items (sorted). `options`: run options of the modality (video:
    ``{"gop": 32}``), over its defaults; recorded in the results. `threads`: torch threads of a
    one-worker run (default: torch's own, all cores); each of several workers runs on one."""

    modality: str
    data: Path | str
    codecs: list[str]
    out: Path
    workers: int = 1
    limit: int | None = None
    qualities: list[int] | None = None
    levels: int | None = None
    force: bool = False
    skip_unavailable: bool = False
    dataset_name: str | None = None
    progress: bool = True
    options: dict[str, Any] | None = None
    threads: int | None = None


def _data_root() -> Path:
    return Path(os.environ.get("NEUROCODEC_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


def resolve_data(data: str | Path) -> Path:
    """A data set folder: the path itself, or a name under $NEUROCODEC_DATA (default ../shared/data)."""
    p = Path(data)
    if p.is_dir():
        return p
    root = _data_root()
    if not p.is_absolute() and (root / p).is_dir():
        return root / p
    raise InputError(f"data set {data} not found (nor under $NEUROCODEC_DATA={root})")


@dataclass(frozen=True)
class DataSet:
    """The folders (or single items) a data spec names; items are named by their path relative
    to `root`. `item_options`: options of single entries (by absolute path), from the modality's
    named data set."""

    name: str
    root: Path
    folders: tuple[Path, ...]
    item_options: dict[Path, dict[str, Any]] = field(default_factory=dict)

    def options_of(self, item: Path) -> dict[str, Any]:
        """The options of one item ({} when it has none)."""
        return dict(self.item_options.get(item.absolute(), {}))


def _is_item(modality: Modality, p: Path) -> bool:
    return modality.is_item is not None and p.exists() and modality.is_item(p)


def _resolve_part(part: str, modality: Modality) -> Path:
    """One data folder (:func:`resolve_data`), or a single item where the modality allows it."""
    p = Path(part)
    if _is_item(modality, p):
        return p
    root = _data_root()
    if not p.is_absolute() and _is_item(modality, root / p):
        return root / p
    return resolve_data(part)


def resolve_dataset(data: str | Path, modality: Modality) -> DataSet:
    """A data spec: a data set the modality names (e.g. ``librispeech-eval``), one folder (see
    :func:`resolve_data`), or comma-separated folders. Several folders are named by their common
    parent (item names keep the rest of their path: ``test-clean/1089/...``). Where the modality
    says a path is itself an item (a video clip), it is accepted too and named by its parent."""
    spec = str(data)
    options: dict[Path, dict[str, Any]] = {}
    if spec in modality.data_sets:
        parts = modality.data_sets[spec]
        missing = [f for f in parts if not (_data_root() / f).exists()]
        if missing:
            raise InputError(f"data set {spec!r} is {', '.join(parts)} under $NEUROCODEC_DATA="
                             f"{_data_root()}; missing: {', '.join(missing)}")
        folders = [_data_root() / f for f in parts]
        name = spec
        for entry, opts in modality.item_options.get(spec, {}).items():
            options[(_data_root() / entry).absolute()] = dict(opts)
    else:
        parts = [spec] if Path(spec).is_dir() else [x.strip() for x in spec.split(",") if x.strip()]
        if not parts:
            raise InputError("--data names no folder")
        folders = [_resolve_part(x, modality) for x in parts]
        name = "+".join(dict.fromkeys(f.name for f in folders))
    if len(folders) > 1:
        folders = list(dict.fromkeys(f.absolute() for f in folders))
    root = folders[0] if len(folders) == 1 else Path(os.path.commonpath(folders))
    if len(folders) == 1 and _is_item(modality, root):  # one clip: named by its own name
        root = root.parent
    return DataSet(name, root, tuple(folders), options)


def list_dataset(ds: DataSet, modality: Modality) -> list[Path]:
    """The items of every folder of `ds`, sorted by their name (path relative to its root)."""
    items = {p for f in ds.folders for p in modality.list_items(f)}
    return sorted(items, key=lambda p: p.relative_to(ds.root).as_posix())


def select_qualities(codec: Any, qualities: list[int] | None, levels: int | None) -> list[int]:
    """The quality levels to run for `codec`."""
    sweep = [int(q) for q in codec.qualities]
    if qualities:
        rng = getattr(codec, "quality_range", None)
        for q in qualities:
            ok = rng[0] <= q <= rng[1] if rng else q in sweep
            if not ok:
                allowed = f"[{rng[0]}, {rng[1]}]" if rng else str(sweep)
                raise InputError(f"{codec.name}: quality {q} is not available (allowed: {allowed})")
        return sorted(set(int(q) for q in qualities))
    if levels:
        if levels < 1:
            raise InputError("--levels must be at least 1")
        idx = np.unique(np.round(np.linspace(0, len(sweep) - 1, min(levels, len(sweep)))).astype(int))
        return [sweep[i] for i in idx]
    return sweep


def codec_description(codec: Any) -> dict[str, Any]:
    """What a result file records about a codec (adapters may lack the optional fields)."""
    from neurocodec.evaluate.baselines import is_classical

    desc: dict[str, Any] = {
        "name": codec.name,
        "label": getattr(codec, "label", codec.name),
        "kind": "classical" if is_classical(codec) else "neural",
        "quality_meaning": getattr(codec, "quality_meaning", "codec quality index"),
        "size_note": getattr(codec, "size_note", "whole neurocodec .bin file (container header included)"),
        "settings": dict(getattr(codec, "settings", None) or getattr(codec, "config", None) or {}),
        "versions": {"neurocodec": __version__, **dict(getattr(codec, "versions", {}) or {})},
    }
    wh = getattr(codec, "weights_hash", None)
    if callable(wh):
        wh = wh()
    if wh is not None:
        desc["weights_hash"] = wh.hex() if isinstance(wh, (bytes, bytearray)) else str(wh)
    # as it reads back from JSON (tuples become lists), so that a re-run compares equal
    return json.loads(json.dumps(desc, default=str))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else platform.processor()): timings and
    SIMD gains depend on it."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())


def environment(workers: int, modality: str = "image", threads: int | None = None) -> dict[str, Any]:
    """What the timings were measured on: versions, CPU count, workers and torch threads per worker."""
    metric_packages = {p: _version(p) for m in metrics_mod.metrics_for(modality) for p in m.packages}
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": _version("torch"),
        "pytorch-msssim": _version("pytorch-msssim"),
        **metric_packages,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "workers": workers,
        "threads_per_worker": 1 if workers > 1 else (threads or _torch_threads()),
        "timing": "encode_s/decode_s: wall seconds of the codec's encode/decode call alone (conversions "
        "inside the adapter included, file reading, alignment and metrics excluded), one item at a time "
        f"in each of {workers} worker(s)",
    }


# --------------------------------------------------------------------------- one entry

_CODECS: dict[tuple[str, str, str], Any] = {}


def _codec(modality: Modality, name: str, options: dict[str, Any] | None = None) -> Any:
    options = options or {}
    key = (modality.name, name, json.dumps(options, sort_keys=True, default=str))
    if key not in _CODECS:
        _CODECS[key] = modality.load_codec(name, **options)
    return _CODECS[key]


def run_options(modality: Modality, given: dict[str, Any] | None) -> dict[str, Any]:
    """The modality's run options: its defaults, overridden by `given` (InputError for an
    option the modality does not have)."""
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - set(modality.options))
    if unknown:
        have = ", ".join(sorted(modality.options)) or "none"
        raise InputError(f"option(s) {', '.join(unknown)} do not apply to the {modality.name} modality "
                         f"(its options: {have})")
    return {**modality.options, **given}


def evaluate_item(modality: Modality, codec: Any, path: Path, item: str, quality: int,
                  item_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Encode, decode and measure one item at one quality: the per-item record. Items with
    options (e.g. a frame cap) record them as ``item_options``."""
    if modality.evaluate is not None:
        rec = modality.evaluate(codec, path, quality, dict(item_options or {}))
        return {"item": item, **rec, **({"item_options": dict(item_options)} if item_options else {})}
    media = modality.load(path)
    size = modality.describe(media)
    t0 = time.perf_counter()
    data = modality.encode(codec, media, quality)
    t1 = time.perf_counter()
    decoded = modality.decode(codec, data)
    t2 = time.perf_counter()
    if modality.align is not None:
        decoded = modality.align(media, decoded)
    values = metrics_mod.compute(modality.name, media, decoded)
    extra = modality.extra(codec, data, size) if modality.extra is not None else {}
    return {"item": item, **size, "bytes": len(data), **modality.rate(len(data), size), **extra, **values,
            "encode_s": t1 - t0, "decode_s": t2 - t1}


def _work(modality_name: str, codec_name: str, options: dict[str, Any], path: str, item: str, quality: int,
          item_options: dict[str, Any]) -> dict[str, Any]:
    modality = get_modality(modality_name)
    return evaluate_item(modality, _codec(modality, codec_name, options), Path(path), item, quality, item_options)


def _init_worker(extra_modules: list[str]) -> None:
    import importlib

    for m in extra_modules:  # modalities / metrics registered outside this package
        importlib.import_module(m)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


# --------------------------------------------------------------------------- one codec


def _levels(modality: Modality, records: dict[tuple[int, str], dict[str, Any]]) -> list[dict[str, Any]]:
    by_q: dict[int, list[dict[str, Any]]] = {}
    for (q, _), rec in records.items():
        by_q.setdefault(q, []).append(rec)
    levels = []
    for q in sorted(by_q):
        recs = sorted(by_q[q], key=lambda r: r["item"])
        mean: dict[str, Any] = {"bytes": float(np.mean([r["bytes"] for r in recs]))}
        for k in modality.rate(1, recs[0]):  # rate keys, averaged per item
            mean[k] = float(np.mean([r[k] for r in recs]))
        for k in modality.extra_keys:  # extra numbers, where every item has one
            if all(r.get(k) is not None for r in recs):
                mean[k] = float(np.mean([r[k] for r in recs]))
        mean.update(metrics_mod.mean_values(modality.name, recs))
        for k in ("encode_s", "decode_s"):
            mean[k] = float(np.mean([r[k] for r in recs]))
        levels.append({"quality": q, "n_items": len(recs), "mean": mean, "items": recs})
    return levels


def restrict_items(doc: dict[str, Any], items: list[str]) -> dict[str, Any]:
    """A result file limited to `items`, its level means recomputed as the runner computes them
    (e.g. an anchor on the subset a codec was evaluated on); InputError when one is missing."""
    records = {}
    for lv in doc["levels"]:
        have = {r["item"]: r for r in lv["items"]}
        missing = sorted(set(items) - set(have))
        if missing:
            raise InputError(f"the {doc['codec']['name']} results lack {missing[:3]} at quality {lv['quality']}")
        records.update({(lv["quality"], it): have[it] for it in items})
    return dict(doc, dataset=dict(doc["dataset"], items=list(items)), levels=_levels(get_modality(doc["modality"]), records))


def _check_compatible(path: Path, doc: dict[str, Any], modality: Modality, desc: dict[str, Any],
                      options: dict[str, Any] | None = None) -> str | None:
    """Why an existing result file cannot be extended, or None."""
    if doc.get("modality") != modality.name:
        return f"its modality is {doc.get('modality')!r}"
    options = json.loads(json.dumps(options or {}, default=str))
    if doc.get("options", {}) != options:
        return f"run options differ: file has {doc.get('options', {})!r}, now {options!r}"
    old = doc.get("codec", {})
    for key in ("name", "settings", "versions", "weights_hash"):
        if old.get(key) != desc.get(key):
            return f"codec {key} differ: file has {old.get(key)!r}, now {desc.get(key)!r}"
    return None


def run_codec(cfg: EvalConfig, modality: Modality, name: str, data_dir: Path, items: list[Path],
              dataset: str | None = None, item_options: dict[Path, dict[str, Any]] | None = None) -> Path:
    """Run one codec over `items` (named by their path relative to `data_dir`); returns the
    result file path. `dataset`: its recorded name (default: cfg.dataset_name, else the folder's);
    `item_options`: options of single items (by absolute path). Finished entries are kept, unless
    their item options have changed since."""
    options = run_options(modality, cfg.options)
    codec = _codec(modality, name, options)
    desc = codec_description(codec)
    dataset = cfg.dataset_name or dataset or data_dir.name
    path = result_path(cfg.out, dataset, codec.name)
    with result_lock(path):
        return _fill_result(cfg, modality, name, codec, desc, options, dataset, path, data_dir, items, item_options)


def _fill_result(cfg: EvalConfig, modality: Modality, name: str, codec: Any, desc: dict[str, Any],
                 options: dict[str, Any], dataset: str, path: Path, data_dir: Path, items: list[Path],
                 item_options: dict[Path, dict[str, Any]] | None) -> Path:
    """run_codec's work, under the result file's lock: read what is done, run the rest, save."""
    qualities = select_qualities(codec, cfg.qualities, cfg.levels)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    records: dict[tuple[int, str], dict[str, Any]] = {}
    created = now
    if path.exists() and not cfg.force:
        old = read_json(path)
        why = _check_compatible(path, old, modality, desc, options)
        if why:
            raise InputError(f"{path} was made with other settings ({why}); use --force to recompute it")
        created = old.get("created", now)
        for lv in old["levels"]:
            for rec in lv["items"]:
                records[(lv["quality"], rec["item"])] = rec
    names = {p: p.relative_to(data_dir).as_posix() for p in items}
    item_opts = {p: dict((item_options or {}).get(p.absolute(), {})) for p in items}
    for p in items:  # entries made with other item options (e.g. another frame cap) are redone
        for q in qualities:
            rec = records.get((q, names[p]))
            if rec is not None and rec.get("item_options", {}) != json.loads(json.dumps(item_opts[p], default=str)):
                log.info("%s: %s at quality %s has other item options (%s, now %s): recomputing", codec.name,
                         names[p], q, rec.get("item_options", {}), item_opts[p])
                del records[(q, names[p])]
    todo = [(q, p) for q in qualities for p in items if (q, names[p]) not in records]
    log.info("%s: %d entries to run, %d already in %s", codec.name, len(todo), len(records), path)

    def save() -> None:
        all_items = sorted({item for _, item in records})
        ds: dict[str, Any] = {"name": dataset, "path": str(data_dir), "items": all_items}
        recorded = {r["item"]: r["item_options"] for r in records.values() if r.get("item_options")}
        if recorded:
            ds["item_options"] = dict(sorted(recorded.items()))
        write_json(path, {
            "schema": SCHEMA,
            "modality": modality.name,
            "rate_key": modality.rate_key,
            "dataset": ds,
            **({"options": options} if options else {}),
            "codec": desc,
            "environment": environment(cfg.workers, modality.name, cfg.threads),
            "metrics": {v.key: {"label": v.label, "unit": v.unit, "higher_is_better": v.higher_is_better}
                        for v in metrics_mod.values_for(modality.name).values()},
            "created": created,
            "updated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "levels": _levels(modality, records),
        })

    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=f"{codec.name} on {dataset}", unit="item", disable=not cfg.progress, file=sys.stderr)
    last_save = time.monotonic()

    def done(q: int, rec: dict[str, Any]) -> None:
        nonlocal last_save
        records[(q, rec["item"])] = rec
        bar.update(1)
        if time.monotonic() - last_save > 2.0:
            save()
            last_save = time.monotonic()

    try:
        if cfg.workers <= 1 or len(todo) <= 1:
            for q, p in todo:
                done(q, _run_one(modality, codec, p, names[p], q, item_opts[p]))
        else:
            extra = sorted({m for m in (modality.list_items.__module__, metrics_mod.__name__)})
            with cf.ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(extra,)) as pool:
                futs = {pool.submit(_work, modality.name, name, options, str(p), names[p], q, item_opts[p]): (q, p)
                        for q, p in todo}
                try:
                    for fut in cf.as_completed(futs):
                        q, p = futs[fut]
                        try:
                            done(q, fut.result())
                        except NeurocodecError as e:
                            raise type(e)(f"{codec.name} on {names[p]} at quality {q}: {e}") from None
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise
    finally:
        bar.close()
        if records:
            save()
    return path


def _run_one(modality: Modality, codec: Any, path: Path, item: str, quality: int,
             item_options: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        if item_options:
            return evaluate_item(modality, codec, path, item, quality, item_options)
        return evaluate_item(modality, codec, path, item, quality)
    except NeurocodecError as e:
        raise type(e)(f"{codec.name} on {item} at quality {quality}: {e}") from None


def run_eval(cfg: EvalConfig) -> tuple[list[Path], list[str]]:
    """Run every codec of `cfg`; returns (result files written, codecs skipped as unavailable)."""
    modality = get_modality(cfg.modality)
    if cfg.workers < 1:
        raise InputError("--workers must be at least 1")
    if cfg.limit is not None and cfg.limit < 1:
        raise InputError("--limit must be at least 1")
    if cfg.threads is not None and cfg.threads < 1:
        raise InputError("--threads must be at least 1")
    import torch

    before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _run_codecs(cfg, modality)
    finally:
        torch.set_num_threads(before)


def _run_codecs(cfg: EvalConfig, modality: Modality) -> tuple[list[Path], list[str]]:
    options = run_options(modality, cfg.options)
    ds = resolve_dataset(cfg.data, modality)
    items = list_dataset(ds, modality)[: cfg.limit]
    written, skipped = [], []
    for name in dict.fromkeys(cfg.codecs):  # unique, in order
        try:
            _codec(modality, name, options)
        except CodecUnavailableError as e:
            if not cfg.skip_unavailable:
                raise
            log.warning("skipping %s: %s", name, e)
            skipped.append(name)
            continue
        written.append(run_codec(cfg, modality, name, ds.root, items, ds.name,
                                 {p.absolute(): ds.options_of(p) for p in items if ds.options_of(p)}))
    return written, skipped
