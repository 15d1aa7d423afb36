"""Audio codec speed on one CPU thread, from real files: the shipped dac and snac beside Opus and
MP3 on the same utterances.

    python benchmarks/audio_codecs.py [--limit 106] [--out results/bench/audio_codecs.json]

Per codec and setting, summed over the files (LibriSpeech test-other + test-clean + dev-clean,
the evaluation set), in seconds and as real-time factors (seconds of work per second of audio):

- encode: read the FLAC file (PyAV), resample/downmix, code, write the .bin (I/O included);
- decode: read the .bin, decode, write a 16-bit WAV at the input's rate (I/O included);
- entropy: the rANS coding and decoding of the indices alone (part of the above);
- beam: encode with --beam 8 against greedy (the target: at most +30 %), and its gain: the
  latent error ||z - sum of stage outputs||^2 of beam 8 against greedy on the first 8 files,
  and the share of coding units (frames; 4 frames for snac) where it is lower.

Opus (libopus voip, 6 kbps) and MP3 (LAME, 16 kbps) run through PyAV on the same files: read the
FLAC, encode to an in-memory file; decode it and write the WAV. Targets: RTF <= 0.1 for the
shipped models' encode and decode.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.codecs.audio.base import AudioCodec
from neurocodec.data import data_path
from neurocodec.evaluate.baselines.audio import classical_audio_codec
from neurocodec.io import audio
from neurocodec.train.audio_data import list_utterances

EVAL_SPLITS = ("test-other", "test-clean", "dev-clean")


def eval_files(limit: int | None) -> list[Path]:
    paths = []
    for split in EVAL_SPLITS:
        p = data_path("librispeech", split)
        if p is not None:
            paths += list_utterances(p)
    if not paths:
        raise SystemExit("LibriSpeech evaluation splits not found (set NEUROCODEC_DATA)")
    return sorted(paths, key=lambda p: p.stem)[:limit]


def time_neural(codec: AudioCodec, files: list[Path], stages: int, beam: int, tmp: Path) -> dict:
    enc = dec = ent = 0.0
    size = 0
    for f in files:
        t0 = time.perf_counter()
        p = codec.encode_file(f, stages=stages, beam=beam)
        data = bitstream.dumps(p)
        (tmp / "x.bin").write_bytes(data)
        t1 = time.perf_counter()
        q = bitstream.loads((tmp / "x.bin").read_bytes())
        codec.decode_file(q, tmp / "x.wav")
        t2 = time.perf_counter()
        enc += t1 - t0
        dec += t2 - t1
        size += len(data)
        # the entropy layer alone: pack and unpack of this file's indices
        m = q.metadata
        frames = -(-m["n16k"] // codec.hop)
        methods = ["rans" if c == "A" else "raw" for c in m["pack"]]
        codes = codec.unpack([q.sections["ch0"]], methods, m["stages"], frames)
        t3 = time.perf_counter()
        codec.pack(codes)
        codec.unpack([q.sections["ch0"]], methods, m["stages"], frames)
        ent += time.perf_counter() - t3
    return {"encode_s": enc, "decode_s": dec, "entropy_s": ent, "bytes": size}


@torch.no_grad()
def beam_gain(codec: AudioCodec, files: list[Path], stages: int, beam: int = 8) -> dict:
    """Latent error of `beam` against greedy, summed over the files, at the encoder's gain."""
    from neurocodec.codecs.audio.base import GAIN_STEP_DB, gain_steps, rms_dbfs

    eg = eb = 0.0
    better = units = 0
    for f in files:
        x = torch.from_numpy(audio.downmix(audio.read(f, codec.sample_rate)))
        x = x * 10 ** (gain_steps(rms_dbfs(x.numpy())) * GAIN_STEP_DB / 20)
        z = codec.encoder(torch.nn.functional.pad(x[None], (0, (-x.shape[-1]) % codec.hop)))
        e1 = codec.quantizer.latent_error(z, codec.quantizer.encode(z, stages))
        e2 = codec.quantizer.latent_error(z, codec.quantizer.search(z, stages, beam))
        eg, eb = eg + float(e1.sum()), eb + float(e2.sum())
        better, units = better + int((e2 < e1).sum()), units + e1.numel()
        assert bool((e2 <= e1).all()), "the beam is never worse than greedy"
    return {"beam8_latent_error_pct": 100 * (eb / eg - 1), "beam8_better_units_pct": 100 * better / units}


def time_classical(name: str, kbps: int, files: list[Path], tmp: Path) -> dict:
    c = classical_audio_codec(name)
    enc = dec = 0.0
    size = 0
    for f in files:
        t0 = time.perf_counter()
        x = audio.downmix(audio.read(f, 16000))
        data = c.encode_audio(x, kbps)
        (tmp / "x.bin").write_bytes(data)
        t1 = time.perf_counter()
        y = c.decode_audio((tmp / "x.bin").read_bytes(), x.shape[-1])
        audio.write(tmp / "x.wav", y, 16000)
        t2 = time.perf_counter()
        enc += t1 - t0
        dec += t2 - t1
        size += len(data)
    return {"encode_s": enc, "decode_s": dec, "bytes": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N files (default: all 106)")
    ap.add_argument("--out", default="results/bench/audio_codecs.json")
    ap.add_argument("--codecs", default="dac,snac")
    args = ap.parse_args()
    torch.set_num_threads(1)
    files = eval_files(args.limit)
    seconds = sum(audio.probe(f).duration for f in files)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in args.codecs.split(","):
            try:
                codec = registry.load(name).prepare_inference()
            except Exception as e:  # noqa: BLE001 - a missing checkpoint is reported, not fatal
                print(f"{name}: skipped ({e})", file=sys.stderr)
                continue
            table = codec.kbps_table()
            picks = sorted({1, max(1, len(table) // 3), max(1, 2 * len(table) // 3), len(table)}) if codec.name == "dac" \
                else [len(table)]
            for warm in (1, 8):  # warm-up (allocations, caches) of both paths
                time_neural(codec, files[:2], 1, warm, tmp)
            for n in picks:
                greedy = time_neural(codec, files, n, 1, tmp)
                beam = time_neural(codec, files, n, 8, tmp)
                rows.append({"codec": codec.name, "setting": f"{n} stages", "kbps": 8 * greedy["bytes"] / seconds / 1000,
                             **{k: greedy[k] for k in ("encode_s", "decode_s", "entropy_s")},
                             "beam8_encode_s": beam["encode_s"], "beam8_overhead_pct": 100 * (beam["encode_s"] / greedy["encode_s"] - 1),
                             **beam_gain(codec, files[:8], n)})
        for name, kbps in (("opus", 6), ("mp3", 16)):
            r = time_classical(name, kbps, files, tmp)
            rows.append({"codec": name, "setting": f"{kbps} kbps", "kbps": 8 * r["bytes"] / seconds / 1000,
                         "encode_s": r["encode_s"], "decode_s": r["decode_s"]})
    for r in rows:
        r["encode_rtf"] = r["encode_s"] / seconds
        r["decode_rtf"] = r["decode_s"] / seconds
    print(f"{len(files)} files, {seconds:.1f} s of audio, 1 thread ({platform.processor() or platform.machine()})")
    print(f"{'codec':6} {'setting':10} {'kbps':>6} {'enc RTF':>8} {'dec RTF':>8} {'entropy s':>9} {'beam8 +%':>8} "
          f"{'beam8 err%':>10}")
    for r in rows:
        ent = f"{r['entropy_s']:.3f}" if "entropy_s" in r else "-"
        bm = f"{r['beam8_overhead_pct']:+.1f}" if "beam8_overhead_pct" in r else "-"
        be = f"{r['beam8_latent_error_pct']:+.1f}" if "beam8_latent_error_pct" in r else "-"
        print(f"{r['codec']:6} {r['setting']:10} {r['kbps']:6.2f} {r['encode_rtf']:8.4f} {r['decode_rtf']:8.4f} {ent:>9} {bm:>8} "
              f"{be:>10}")
    ref = {r["codec"]: r for r in rows if r["codec"] in ("opus", "mp3")}
    for r in rows:
        if "opus" in ref:
            r["encode_vs_opus"] = r["encode_s"] / ref["opus"]["encode_s"]
            r["decode_vs_opus"] = r["decode_s"] / ref["opus"]["decode_s"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"files": len(files), "audio_seconds": seconds, "threads": 1, "rows": rows,
                               "platform": platform.platform(), "torch": torch.__version__}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
