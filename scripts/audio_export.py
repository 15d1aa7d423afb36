"""Export a trained audio codec with counted index priors to checkpoints/<name>.pt.

    python scripts/audio_export.py --name dac --checkpoint runs/dac-cpu/version_0/checkpoints/last.ckpt

Steps: load the Lightning checkpoint; round the weights to float16 (the shipped form); code the
training utterances of LibriSpeech train-clean-100 (the same split and held-out set as
training: never an evaluation split) with every stage, greedy, at the encoder's gain; count
each stage's indices; store the add-one-smoothed counts as integer tables (they are in the
weights hash); write the checkpoint and print, per stage, the bits per index against the raw
log2(size) bits.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import torch

from neurocodec.codecs import registry
from neurocodec.codecs.audio.base import GAIN_STEP_DB, gain_steps, rms_dbfs
from neurocodec.data import data_path
from neurocodec.io import audio
from neurocodec.train.audio_data import list_utterances

log = logging.getLogger("audio_export")


@torch.no_grad()
def count_indices(codec, paths: list[Path]) -> torch.Tensor:
    """Index counts [n_q, size] over the files, every stage, greedy."""
    counts = torch.zeros(codec.n_q, codec.quantizer.size, dtype=torch.int64)
    for i, p in enumerate(paths):
        x = torch.from_numpy(audio.downmix(audio.read(p, codec.sample_rate)))
        x = x * 10 ** (gain_steps(rms_dbfs(x.numpy())) * GAIN_STEP_DB / 20)
        codes, _ = codec.encode_frames([x], codec.n_q)
        for s, c in enumerate(codes):
            counts[s] += torch.bincount(c.flatten(), minlength=codec.quantizer.size)
        if i % 20 == 0:
            log.info("counted %d/%d", i + 1, len(paths))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, choices=["dac", "snac"])
    ap.add_argument("--checkpoint", required=True, help="Lightning .ckpt from neurocodec-train")
    ap.add_argument("--out", default=None, help="default checkpoints/<name>.pt")
    ap.add_argument("--val-utterances", type=int, default=6, help="held out by training (not counted)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))

    out = Path(args.out or registry.CHECKPOINT_DIR / f"{args.name}.pt")
    codec = registry.load(args.checkpoint)
    registry.save_checkpoint(codec, out, half=True)
    codec = registry.load(out)  # the float16 weights, as shipped
    split = data_path("librispeech", "train-clean-100")
    if split is None:
        raise SystemExit("LibriSpeech train-clean-100 not found (set NEUROCODEC_DATA)")
    paths = list_utterances(split)
    paths = paths[: len(paths) - args.val_utterances]
    counts = count_indices(codec, paths)
    codec.set_priors(counts)
    registry.save_checkpoint(codec, out, half=True)
    shipped = registry.load(out)
    bits = shipped.stage_bits()
    raw = math.log2(shipped.quantizer.size)
    used = [(c > 0).float().mean().item() for c in counts]
    report = {
        "checkpoint": str(out),
        "weights_hash": shipped.weights_hash().hex(),
        "prior_utterances": len(paths),
        "bits_per_index": [round(b, 3) for b in bits],
        "raw_bits_per_index": raw,
        "saving_vs_raw_pct": round(100 * (1 - sum(bits) / (raw * len(bits))), 2),
        "codes_used": [round(u, 3) for u in used],
        "kbps_table": [[n, round(k, 3)] for n, k in shipped.kbps_table()],
        "file_mb": round(out.stat().st_size / 1e6, 2),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
