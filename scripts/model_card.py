"""Export a trained image codec to checkpoints/<name>.pt and write its model card
(checkpoints/<name>.json) from measured Kodak results.

    python scripts/model_card.py --name hyperprior \
        --checkpoint runs/hyperprior-cpu/version_0/checkpoints/last.ckpt \
        --config neurocodec/train/configs/hyperprior-cpu.yaml [--results results/kodak] [--notes "..."]

Measures, on all 24 Kodak images and every quality level (bits from real .bin files):
the RD points (via `neurocodec eval`), BD-rates against the classical baselines found in
--results and against the shipped hyperprior, the real file size against the model's estimated
rate, parameters, decode kFLOP/px (:mod:`neurocodec.evaluate.complexity`), and encode/decode
seconds per Kodak image at 1 and 2 threads (first --speed-images images). With
--refine-results DIR (results of ``neurocodec eval --codecs NAME,NAME+refineN`` on a Kodak
subset), the refined RD points and their BD-rate against the unrefined codec are added. The
card also holds the transform ceiling per quality (:mod:`neurocodec.evaluate.ceiling`).
--dest writes the checkpoint and card elsewhere (a GPU burst's quick card: --limit K images,
--previous-card to carry the shipped card's training stages, and what the new card does not
measure: :func:`carry_measurements`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.data import data_path
from neurocodec.entropy import integer_nets as inet
from neurocodec.errors import InputError
from neurocodec.evaluate.bd import bd_rate
from neurocodec.evaluate.results import curve_from_result, read_json
from neurocodec.evaluate.runner import restrict_items
from neurocodec.io.images import list_images, load_image, to_tensor


def rate_vs_estimate(codec, images: list[Path]) -> dict:
    """Real .bin bits vs the model's estimated bits (eval-mode likelihoods), per quality."""
    out = {}
    for quality in codec.qualities:
        ratios, overhead = [], []
        for p in images:
            x = to_tensor(load_image(p))
            payload, _ = codec.compress(x, quality, reconstruct=False)
            real = 8 * len(bitstream.dumps(payload))
            header = real - 8 * payload.payload_bytes
            ratios.append((real - header) / codec.estimated_bits(x, quality) - 1)
            overhead.append(header / 8)
        out[str(quality)] = {"mean_pct": 100 * float(np.mean(ratios)), "max_abs_pct": 100 * float(np.max(np.abs(ratios))), "header_bytes": float(np.mean(overhead))}
    return out


def speed(codec, images: list[Path]) -> dict:
    """Mean encode and decode seconds per image at 1 and 2 threads (quality 3)."""
    from neurocodec.evaluate.complexity import image_speed

    s = image_speed(codec, [to_tensor(load_image(p)) for p in images], 3)
    return {"images": [p.name for p in images], "quality": 3,
            **{f"{k}_s_{n}_threads": round(s[f"{k}_s_{n}t"], 3) for k in ("encode", "decode") for n in (1, 2)}}


def speed_with_control(codec, images: list[Path]) -> dict:
    """speed(codec), between two runs of the same measurement on the shipped hyperprior: how
    fast this host ran against the hyperprior card's own value (a card's seconds are only
    comparable with the others' on an equally quiet host)."""
    control_path = registry.CHECKPOINT_DIR / "hyperprior.pt"
    control = registry.load(control_path)
    before = speed(control, images)["decode_s_1_threads"]
    out = speed(codec, images)
    after = speed(control, images)["decode_s_1_threads"]
    card = json.loads(control_path.with_suffix(".json").read_text())["speed"]["decode_s_1_threads"]
    out["control"] = {"codec": "hyperprior", "weights": control.weights_hash().hex(), "decode_s_1_threads": [before, after],
                      "its_card_decode_s_1_threads": card, "host_slowdown": round((before + after) / 2 / card, 2)}
    return out


def speed_note(name: str, n_images: int, control: bool) -> str:
    """The speed entry's note: when and by which command it was measured (--update-speed)."""
    cmd = (f"scripts/model_card.py --name {name} --checkpoint checkpoints/{name}.pt --config - --update-speed "
           f"--speed-images {n_images}" + (" --speed-control" if control else ""))
    how = "; control: the shipped hyperprior, measured the same way before and after" if control else ""
    return f"measured on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d} ({cmd}){how}"


def ceiling(codec, images: list[Path]) -> dict:
    """The transform ceiling per quality: mean PSNR-RGB of g_s(g_a(x)) with y unquantised."""
    from neurocodec.evaluate.ceiling import transform_ceiling

    c = transform_ceiling(codec, [load_image(p) for p in images], codec.qualities)
    return {"images": len(images), **{str(q): round(v, 3) for q, v in c.items()}}


def refined_points(name: str, folder: Path) -> dict:
    """RD points of NAME and NAME+refineN on a Kodak subset, and each variant's BD-rate against NAME."""
    from neurocodec.evaluate import refined

    base_doc = read_json(folder / f"kodak-{name}.json")
    out = {"images": base_doc["dataset"]["items"], "unrefined": {}, "variants": {}}
    out["unrefined"] = [{"quality": lv["quality"], "bpp": round(lv["mean"]["bpp"], 4),
                         "psnr_rgb": round(lv["mean"]["psnr_rgb"], 3)} for lv in base_doc["levels"]]
    for f in sorted(folder.glob(f"kodak-{name}+refine*.json")):
        doc = read_json(f)
        steps = refined.parse(doc["codec"]["name"])[1]
        c = curve_from_result(doc)
        entry = {"points": [{"quality": lv["quality"], "bpp": round(lv["mean"]["bpp"], 4),
                             "psnr_rgb": round(lv["mean"]["psnr_rgb"], 3)} for lv in doc["levels"]],
                 "encode_s_per_image": round(float(np.mean([r["encode_s"] for lv in doc["levels"] for r in lv["items"]])), 2)}
        items = doc["dataset"]["items"]
        if items != base_doc["dataset"]["items"]:  # a smaller subset (slow refinement): say which
            entry["images"] = items
        hp = folder / "kodak-hyperprior.json"
        for key, anchor in (("unrefined", base_doc), ("hyperprior", read_json(hp) if hp.exists() else None)):
            if anchor is None or not set(items) <= set(anchor["dataset"]["items"]):
                continue
            a = curve_from_result(restrict_items(anchor, items))  # on the variant's images
            try:
                entry[f"bd_rate_pct_vs_{key}_psnr_rgb"] = round(bd_rate(*a.points("psnr_rgb"), *c.points("psnr_rgb")), 2)
            except InputError as e:  # e.g. a run still in progress: fewer than 2 levels
                entry[f"bd_rate_pct_vs_{key}_psnr_rgb"] = f"n/a ({e})"
        out["variants"][str(steps)] = entry
    return out


def stage_how(config: str, lightning: bool) -> str:
    """The command of the last stage: a Lightning checkpoint trained from a YAML config (the
    first word of --config) was made by ``neurocodec-train fit --config``; otherwise --config
    already names the command (``scripts/train_continue.py ...``, ``python -m ...``)."""
    first = config.split(maxsplit=1)[0] if config.strip() else ""
    return f"neurocodec-train fit --config {config}" if lightning and first.endswith((".yaml", ".yml")) else config


def run_hours(raw: dict, ckpt_path: Path) -> float:
    """Wall-clock hours of the run behind a Lightning checkpoint: its own clock
    (``wall_seconds``, summed over resumes) when it has one; for older checkpoints the run
    folder's age at the checkpoint, which a later resume of the same folder would shorten."""
    if raw.get("wall_seconds"):
        return float(raw["wall_seconds"]) / 3600
    started = min(p.stat().st_mtime for p in ckpt_path.parent.parent.rglob("*") if p.is_file())
    return (ckpt_path.stat().st_mtime - started) / 3600


EARLIER = "measured on earlier weights, the same architecture and decoder (not re-measured on these)"


def carry_measurements(card: dict, previous: dict) -> dict:
    """Carry what a new card of the same codec did not measure from the card it replaces
    (--previous-card): its refined points join ``kodak_refined_previous_weights`` (named by
    their weights), its speed and ablation are kept marked as measured on earlier weights (their
    own notes kept after that mark), its published context is kept. Returns the card."""
    old = previous["weights_hash"]
    prev = previous.get("kodak_refined_previous_weights", [])
    prev = prev if isinstance(prev, list) else [prev]
    if "kodak_refined" in previous:
        prev = prev + [{**previous["kodak_refined"], "weights": old}]
    if prev:
        card["kodak_refined_previous_weights"] = prev
    for key in ("speed", "ablation"):
        if key in previous and key not in card:
            note = previous[key].get("note", "")  # how it was measured (a control, the host's load) stays
            card[key] = {**previous[key], "measured_on_weights": previous[key].get("measured_on_weights", old),
                         "note": note if note.startswith(EARLIER) else f"{EARLIER}; {note}" if note else EARLIER}
    if "published_context" in previous and "published_context" not in card:
        card["published_context"] = previous["published_context"]
    return card


def update_card(name: str, key: tuple[str, ...], value) -> None:  # noqa: ANN001 - any JSON value
    """Set one entry (a key path) of the shipped card checkpoints/NAME.json, and print it."""
    card_path = registry.CHECKPOINT_DIR / f"{name}.json"
    card = json.loads(card_path.read_text())
    node = card
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(value, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--checkpoint", required=True, help="Lightning .ckpt from neurocodec-train, or a codec .pt (then give --last-steps and --hours)")
    ap.add_argument("--last-steps", type=int, default=None,
                    help="steps of the last stage, for a checkpoint that does not record them (e.g. entropy_finetune's)")
    ap.add_argument("--config", required=True, help="the training config used")
    ap.add_argument("--results", default="results/kodak")
    ap.add_argument("--notes", default="")
    ap.add_argument("--stages", default="", help="earlier training stages, 'steps:hours:description;...', counted into the totals")
    ap.add_argument("--skip-eval", action="store_true", help="reuse an existing result file")
    ap.add_argument("--refine-results", default=None, help="folder with kodak-NAME.json and kodak-NAME+refineN.json")
    ap.add_argument("--speed-images", type=int, default=4)
    ap.add_argument("--estimate-images", type=int, default=24,
                    help="Kodak images for the file-vs-estimated-rate check (a slow decoder: fewer)")
    ap.add_argument("--published", default="", help="published context (cited, not measured here)")
    ap.add_argument("--hours", type=float, default=None,
                    help="wall time of the last stage in hours (default: the checkpoint's wall_seconds, else the run folder's age)")
    ap.add_argument("--update-refined", action="store_true",
                    help="only add the refined RD points of --refine-results to the existing card")
    ap.add_argument("--update-ceiling", action="store_true",
                    help="only add the transform ceiling of the exported checkpoints/NAME.pt to its existing card")
    ap.add_argument("--dest", default=str(registry.CHECKPOINT_DIR),
                    help="folder of the exported NAME.pt and its card NAME.json (default checkpoints/: ships them)")
    ap.add_argument("--eval-out", default=None, help="folder of the card's own Kodak result (default --results)")
    ap.add_argument("--limit", type=int, default=None, help="only the first K Kodak images (a quick card, stated in it)")
    ap.add_argument("--eval-threads", type=int, default=None,
                    help="torch threads of the Kodak evaluation (default: all cores); 1 when other jobs share them")
    ap.add_argument("--hardware", default=None, help="what trained the last stage (default: this machine's CPU)")
    ap.add_argument("--previous-card", default=None,
                    help="the card these weights replace: its training stages come first, and what this card "
                         "does not measure (refined points, speed, ablation, published context) is carried, marked")
    ap.add_argument("--update-speed", action="store_true",
                    help="only re-measure the speed of the exported checkpoints/NAME.pt into its existing card "
                         "(on a quiet machine)")
    ap.add_argument("--speed-control", action="store_true",
                    help="with --update-speed: measure the shipped hyperprior the same way before and after, "
                         "recorded as the speed's control (how fast the host ran)")
    ap.add_argument("--update-ablation", default=None, metavar="STUDY_JSON",
                    help="only add an ablation measured by scripts/recipe_study.py (its study.json) to the existing card")
    ap.add_argument("--ablation-command", default="", help="the recipe_study.py command line that measured it")
    args = ap.parse_args()
    shipped = registry.CHECKPOINT_DIR / f"{args.name}.pt"
    if args.update_ablation:
        study = json.loads(Path(args.update_ablation).read_text())
        update_card(args.name, ("ablation",), {
            "command": args.ablation_command, "budget_cpu_min_per_arm": study["budget_cpu_min"],
            "start": study["start"], "kodak_images": study["kodak_images"],
            "bpp_from": "real .bin files (container included)",
            "arms": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in study["rows"]]})
        return
    if args.update_refined:
        update_card(args.name, ("kodak_refined",), refined_points(args.name, Path(args.refine_results)))
        return
    if args.update_ceiling:
        update_card(args.name, ("kodak", "transform_ceiling_psnr_rgb"),
                    ceiling(registry.load(shipped), list_images(data_path("kodak"))))
        return
    if args.update_speed:
        control = args.speed_control and args.name != "hyperprior"
        images = list_images(data_path("kodak"))[: args.speed_images]
        out = (speed_with_control if control else speed)(registry.load(shipped), images)
        update_card(args.name, ("speed",), {**out, "note": speed_note(args.name, len(images), control)})
        return

    ckpt_path = Path(args.checkpoint)
    raw = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    lightning = "global_step" in raw  # a neurocodec-train checkpoint, not a codec .pt
    if not lightning and (args.last_steps is None or args.hours is None):
        raise InputError(f"{ckpt_path} is not a training checkpoint: give --last-steps and --hours")
    codec = registry.load(ckpt_path)
    dest = Path(args.dest)
    out = registry.save_checkpoint(codec, dest / f"{args.name}.pt", update_quantiles=True, half=True)
    codec = registry.load(out)  # exactly what ships
    wall_h = args.hours if args.hours is not None else run_hours(raw, ckpt_path)

    stages = []
    if args.previous_card:
        stages += json.loads(Path(args.previous_card).read_text())["training"]["stages"]
    for st in filter(None, args.stages.split(";")):
        steps_s, hours_s, desc = st.split(":", 2)
        stages.append({"steps": int(steps_s), "wall_time_hours": float(hours_s), "how": desc})
    steps = args.last_steps if args.last_steps is not None else raw["global_step"]
    stages.append({"steps": int(steps), "wall_time_hours": round(wall_h, 2),
                   "how": f"{stage_how(args.config, lightning)} ({ckpt_path})"})

    eval_out = Path(args.eval_out or args.results)
    if not args.skip_eval:
        subprocess.run([sys.executable, "-m", "neurocodec.cli", "eval", "--modality", "image", "--data", "kodak",
                        "--codecs", str(out), "--out", str(eval_out), "--workers", "1", "--force",
                        *(["--threads", str(args.eval_threads)] if args.eval_threads else []),
                        *(["--limit", str(args.limit)] if args.limit else [])], check=True)
    doc = read_json(eval_out / f"kodak-{codec.name}.json")
    ours = curve_from_result(doc)
    evaluated = doc["dataset"]["items"]

    def anchor(f: Path):  # noqa: ANN202 - a Curve on the evaluated images
        return curve_from_result(restrict_items(read_json(f), evaluated))

    bd = {}
    for base in ("jpeg", "jpeg-444", "webp", "avif", "hevc-intra", "av1-intra"):
        f = Path(args.results) / f"kodak-{base}.json"
        if not f.exists():
            continue
        try:
            c = anchor(f)
        except InputError as e:  # results on other images
            bd[base] = f"n/a ({e})"
            continue
        for key in ("psnr_rgb", "ms_ssim_db"):
            try:
                bd[f"{base}/{key}"] = round(bd_rate(*c.points(key), *ours.points(key)), 2)
            except Exception as e:  # noqa: BLE001 - no overlap etc.: record why
                bd[f"{base}/{key}"] = f"n/a ({e})"
    # the shipped hyperprior (the reference of every other image codec), and the weights this
    # card replaces: results/kodak-NAME.json, named by the weights hash it records
    anchors = {}
    hp = Path(args.results) / "kodak-hyperprior.json"
    if hp.exists() and args.name != "hyperprior":
        anchors["hyperprior"] = hp
        bd["hyperprior_weights"] = read_json(hp)["codec"].get("weights_hash")  # a later one moves the reference
    previous_weights = None
    prev = Path(args.results) / f"kodak-{args.name}.json"
    prev_hash = read_json(prev)["codec"].get("weights_hash") if prev.exists() else None
    if prev_hash and prev_hash != codec.weights_hash().hex():
        anchors[f"previous-{args.name}-{prev_hash}"] = prev
        kept = registry.CHECKPOINT_DIR / f"{args.name}-{prev_hash}.pt"
        previous_weights = prev_hash + (f" (kept as checkpoints/{kept.name})" if kept.exists() else "")
    for label, f in anchors.items():
        for key in ("psnr_rgb", "ms_ssim_db"):
            try:
                bd[f"{label}/{key}"] = round(bd_rate(*anchor(f).points(key), *ours.points(key)), 2)
            except Exception as e:  # noqa: BLE001 - results on other images, no overlap, ...
                bd[f"{label}/{key}"] = f"n/a ({e})"
    kodak = data_path("kodak")
    images = list_images(kodak)[: args.limit] if kodak else []
    int_layers = [m for m in codec.modules() if isinstance(m, inet.IntConv2d | inet.IntConvTranspose2d)]
    card = {
        "codec": codec.name,
        "checkpoint": f"checkpoints/{args.name}.pt",
        "weights_hash": codec.weights_hash().hex(),
        "format_version": bitstream.FORMAT_VERSION,
        "arithmetic": {
            "name": codec.arithmetic,
            "integer_layers": len(int_layers),
            "activation_fixed_point_bits": inet.ACT_FRAC,
            "activation_limit": inet.ACT_LIMIT,
            "weight_max_abs": 1 << inet.WEIGHT_BITS,
            "largest_accumulator_bound_log2": round(float(np.log2(max(m.accumulator_bound() for m in int_layers))), 2),
            "exact_below_log2": 52,
        },
        "config": codec.config,
        "parameters": sum(p.numel() for p in codec.parameters()),
        "file_mb": round(out.stat().st_size / 1e6, 2),
        "training": {
            "config": args.config,
            "data": "train_images/wikipedia_photos_downsampled (49 photos, ~1.1 MP, from ../shared/data; Kodak never used for training)",
            "stages": stages,
            "steps": sum(s["steps"] for s in stages),
            "hardware": args.hardware or f"{platform.machine()} CPU, {os.cpu_count()} cores, shared with other jobs; no GPU",
            "wall_time_hours": round(sum(s["wall_time_hours"] for s in stages), 2),
            "finished": dt.datetime.fromtimestamp(ckpt_path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="minutes"),
        },
        "kodak": {
            "images": len(evaluated),
            "bpp_from": "real .bin files (container included)",
            "points": [
                {"quality": lv["quality"], "bpp": round(lv["mean"]["bpp"], 4), "psnr_rgb": round(lv["mean"]["psnr_rgb"], 3),
                 "ms_ssim": round(lv["mean"]["ms_ssim"], 5), "ms_ssim_db": round(lv["mean"]["ms_ssim_db"], 3)}
                for lv in doc["levels"]
            ],
            "bd_rate_pct_vs": bd,
            "file_vs_estimated_rate": rate_vs_estimate(codec, images[: args.estimate_images]) if images else "Kodak not found",
            "file_vs_estimated_rate_images": min(len(images), args.estimate_images),
            "transform_ceiling_psnr_rgb": ceiling(codec, images) if images else "Kodak not found",
        },
        "notes": args.notes,
    }
    if previous_weights:
        card["previous_weights"] = previous_weights
    from neurocodec.evaluate.complexity import image_decode_complexity

    x = to_tensor(load_image(images[0])) if images else torch.rand(1, 3, 512, 768)
    card["decode_kflop_per_px"] = round(image_decode_complexity(codec, x, codec.qualities[len(codec.qualities) // 2]).kflop_per_px, 3)
    if images and args.speed_images > 0:
        card["speed"] = speed(codec, images[: args.speed_images])
    if hasattr(codec, "config") and codec.name == "mambaic":
        card["arithmetic"]["selective_scan"] = (
            f"state size {codec.config['state']}; fixed point: delta Q16 (softplus table), |A| and decay exponent "
            "Q12, decay Q16 (two exact tables), state Q20 in int64, evaluated step by step in time order")
    if args.refine_results:
        card["kodak_refined"] = refined_points(args.name, Path(args.refine_results))
    if args.published:
        card["published_context"] = args.published
    if args.previous_card:
        carry_measurements(card, json.loads(Path(args.previous_card).read_text()))
    card_path = dest / f"{args.name}.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
