"""Video codec speed, complexity and memory, beside x264 and x265 in the same run.

    python benchmarks/video_codecs.py [--frames 16] [--checkpoint hytip] [--out results/bench/video_codecs.json]

On the first `--frames` frames of BasketballPass (416x240, HEVC CTC class D), GOP 32 (one
I-frame, then P-frames):

- seconds per frame, encode and decode, at 1 and 2 threads, I- and P-frames separately and the
  clip mean (the learned codec: frames in memory to .bin bytes and back, motion estimation
  included; x264/x265: YUV planes to an Annex B stream and back, through PyAV);
- inside the learned codec's P-frame decode: the time spent warping (grid_sample) and in the
  entropy decoder (rANS), measured by timing those calls;
- decode kFLOP/px and kMAC/px of a P-frame and of an I-frame (``FlopCounterMode`` around the
  decode of one frame; a multiply-add is 2 FLOPs; integer layers' float64 convolutions are
  counted like float ones; warping and entropy decoding are not convolutions and are timed
  instead);
- parameters, and the hybrid buffer's size in full-resolution channels;
- peak memory (maximum resident set, fresh process per run) of encoding then decoding clips of
  8, 32 and 96 frames: flat when it does not grow with the length.

Targets (issue 11): decode <= 0.5 s and encode <= 1.5 s per 416x240 frame on 2 cores; P-frame
decode <= 100 kFLOP/px.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from neurocodec.codecs import registry
from neurocodec.codecs.video import hytip as hytip_mod
from neurocodec.codecs.video.stream import VideoDecoder, VideoEncoder, unpack_streams
from neurocodec.data import data_path
from neurocodec.evaluate.baselines.video import classical_video_codec
from neurocodec.io.images import to_tensor
from neurocodec.codecs.video.motion import pyramid_flow, resize_flow, warp
from neurocodec.io.video import probe, read_rgb, read_yuv420

CLIP = ("video", "hevc_ctc", "BasketballPass_416x240_first100_png")
PEERS = ("x264-medium", "x265-medium")


def load_clip(frames: int) -> tuple[list[np.ndarray], list[tuple], object]:
    path = data_path(*CLIP)
    if path is None:
        raise SystemExit(f"{'/'.join(CLIP)} not found (set NEUROCODEC_DATA)")
    info = probe(path)
    rgb, yuv = [], []
    for k, (a, b) in enumerate(zip(read_rgb(info), read_yuv420(info))):
        if k >= frames:
            break
        rgb.append(a)
        yuv.append(b)
    return rgb, yuv, info


def time_learned(codec, frames: list[np.ndarray], threads: int, gop: int, quality: int) -> dict:
    torch.set_num_threads(threads)
    h, w = frames[0].shape[:2]
    f = io.BytesIO()
    enc = VideoEncoder(codec, f, w, h, Fraction(50), len(frames), quality, gop=gop)
    enc_t = []
    for fr in frames:
        t0 = time.perf_counter()
        enc.encode(fr)
        enc_t.append(time.perf_counter() - t0)
    enc.close()
    data = f.getvalue()
    dec_t = []
    it = iter(VideoDecoder(codec, data))
    while True:
        t0 = time.perf_counter()
        try:
            next(it)
        except StopIteration:
            break
        dec_t.append(time.perf_counter() - t0)
    types = ["I" if i % gop == 0 else "P" for i in range(len(frames))]

    def split(ts: list[float]) -> dict:
        return {"mean": float(np.mean(ts)), "I": float(np.mean([t for t, k in zip(ts, types) if k == "I"])),
                "P": float(np.mean([t for t, k in zip(ts, types) if k == "P"] or [np.nan]))}

    return {"threads": threads, "encode_s_per_frame": split(enc_t), "decode_s_per_frame": split(dec_t),
            "bytes": len(data), "bpp": 8 * len(data) / (len(frames) * w * h)}


def time_peer(name: str, yuv: list[tuple], info, threads: int, gop: int, qp: int) -> dict:
    torch.set_num_threads(threads)
    codec = classical_video_codec(name, gop=gop)
    t0 = time.perf_counter()
    enc = codec.encode_video(iter(yuv), info.width, info.height, info.fps, qp)
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sum(1 for _ in codec.decode_video(enc.data))
    t_dec = time.perf_counter() - t0
    return {"encoder_threads": 1, "encode_s_per_frame": t_enc / len(yuv), "decode_s_per_frame": t_dec / n,
            "bytes": len(enc.data), "bpp": 8 * len(enc.data) / (len(yuv) * info.width * info.height)}


class _Timed:
    """Accumulates the time spent in one function (patched in place)."""

    def __init__(self, owner: object, attr: str) -> None:
        self.owner, self.attr, self.seconds = owner, attr, 0.0
        self.orig = getattr(owner, attr)

    def __enter__(self) -> "_Timed":
        orig = self.orig

        def wrapped(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t0

        setattr(self.owner, self.attr, wrapped)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.attr, self.orig)


def decode_breakdown(codec, frames: list[np.ndarray], quality: int) -> dict:
    """One I + (n-1) P frames: FLOPs of one P- and one I-frame decode; warping and entropy time."""
    torch.set_num_threads(1)
    h, w = frames[0].shape[:2]
    f = io.BytesIO()
    enc = VideoEncoder(codec, f, w, h, Fraction(50), len(frames), quality, gop=len(frames))
    for fr in frames:
        enc.encode(fr)
    enc.close()
    dec = VideoDecoder(codec, f.getvalue())
    sections = [unpack_streams(dec.reader.next_section()[1]) for _ in range(dec.frames)]
    q = dec.q
    ph, pw = dec.size
    with FlopCounterMode(display=False) as fc:
        buf = codec.decode_intra(sections[0], q, (ph, pw))
    intra_flops = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        codec.decode_inter(sections[1], buf, q)
    inter_flops = fc.get_total_flops()
    conds = [codec.gaussian_conditional, codec.motion_conditional, codec.entropy_bottleneck, codec.motion_bottleneck]
    timers = [_Timed(hytip_mod, "warp")] + [_Timed(c, a) for c in conds for a in ("decompress_int", "decompress")
                                            if hasattr(c, a)]
    for t in timers:
        t.__enter__()
    try:
        t0 = time.perf_counter()
        for s in sections[1:]:
            buf = codec.decode_inter(s, buf, q)
        total = time.perf_counter() - t0
    finally:
        for t in timers:
            t.__exit__()
    n = len(sections) - 1
    px = h * w  # per pixel of the frame (not of the padded frame)
    return {"p_frame": {"kflop_per_px": inter_flops / px / 1e3, "kmac_per_px": inter_flops / 2 / px / 1e3,
                        "seconds": total / n, "warp_seconds": timers[0].seconds / n,
                        "entropy_seconds": sum(t.seconds for t in timers[1:]) / n},
            "i_frame": {"kflop_per_px": intra_flops / px / 1e3, "kmac_per_px": intra_flops / 2 / px / 1e3},
            "buffer_full_res_channels": buf.full_res_channels}


@torch.no_grad()
def motion_quality(codec, frames: list[np.ndarray], quality: int) -> dict:
    """How much the coded motion carries: mean PSNR (dB) against each P-frame of the previous
    decoded frame copied, warped by the encoder's estimated flow, and warped by the decoded
    flow (eval mode: the coder's exact parameters)."""
    torch.set_num_threads(1)
    q = codec.level(quality)
    x = [hytip_mod.HyTIP.pad(to_tensor(f)) for f in frames]
    h, w = frames[0].shape[:2]
    qi = codec.intra_level(q)
    buf = codec.reset(codec.intra.synthesize(codec.intra.compress_tensor(x[0], qi)[1], qi).clamp(0, 1))

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(-10 * torch.log10(((a.clamp(0, 1) - b)[..., :h, :w] ** 2).mean()))

    out: dict[str, list[float]] = {"copy": [], "estimated_flow": [], "decoded_flow": []}
    size = x[0].shape[-2:]
    for cur in x[1:]:
        est = pyramid_flow(cur, buf.frame)
        nxt = codec(cur, buf, q, est)["buffer"]
        out["copy"].append(psnr(buf.frame, cur))
        out["estimated_flow"].append(psnr(warp(buf.frame, resize_flow(est, size)), cur))
        out["decoded_flow"].append(psnr(warp(buf.frame, resize_flow(nxt.flow, size)), cur))
        buf = nxt
    return {k: float(np.mean(v)) for k, v in out.items()}


_MEMORY_SCRIPT = """
import io, resource, sys, json
from fractions import Fraction
import torch
torch.set_num_threads(1)
from neurocodec.codecs import registry
from neurocodec.codecs.video.stream import VideoEncoder, VideoDecoder
from neurocodec.io.video import probe, read_rgb
ck, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
codec = registry.load(ck)
info = probe(path)
frames = read_rgb(info)
f = io.BytesIO()
enc = VideoEncoder(codec, f, info.width, info.height, Fraction(50), n, 3, gop=32)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for k, fr in enumerate(frames):
    if k == n:
        break
    enc.encode(fr)
enc.close()
mid = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in VideoDecoder(codec, f.getvalue()):
    pass
end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": n, "peak_rss_mb": end / 1024, "after_load_mb": base / 1024, "after_encode_mb": mid / 1024}))
"""


def peak_memory(checkpoint: str, lengths: list[int]) -> list[dict]:
    out = []
    path = str(data_path(*CLIP))
    for n in lengths:
        r = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, checkpoint, path, str(n)], capture_output=True,
                           text=True, timeout=1800)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--checkpoint", default="hytip")
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--qp", type=int, default=32, help="QP of the x264/x265 runs")
    ap.add_argument("--gop", type=int, default=32)
    ap.add_argument("--memory-lengths", default="8,32,96")
    ap.add_argument("--out", default="results/bench/video_codecs.json")
    args = ap.parse_args()
    rgb, yuv, info = load_clip(args.frames)
    codec = registry.load(args.checkpoint)
    params = sum(p.numel() for p in codec.parameters())
    res: dict = {"clip": "/".join(CLIP), "frames": len(rgb), "size": [info.width, info.height], "gop": args.gop,
                 "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                 "hytip": {"checkpoint": args.checkpoint, "quality": args.quality, "parameters": params,
                           "intra_parameters": sum(p.numel() for p in codec.intra.parameters())}}
    res["hytip"]["speed"] = [time_learned(codec, rgb, t, args.gop, args.quality) for t in (1, 2)]
    res["hytip"]["decode"] = decode_breakdown(codec, rgb[: min(6, len(rgb))], args.quality)
    res["hytip"]["motion_psnr_db"] = motion_quality(codec, rgb[: min(8, len(rgb))], args.quality)
    res["peers"] = {name: time_peer(name, yuv, info, 1, args.gop, args.qp) for name in PEERS}
    lengths = [int(v) for v in args.memory_lengths.split(",") if v]
    res["hytip"]["memory"] = peak_memory(args.checkpoint, lengths)

    print(f"BasketballPass 416x240, first {len(rgb)} frames, GOP {args.gop}; seconds per frame")
    print(f"{'codec':<22}{'threads':>8}{'encode':>10}{'decode':>10}{'enc I/P':>16}{'dec I/P':>16}{'bpp':>8}")
    for s in res["hytip"]["speed"]:
        e, d = s["encode_s_per_frame"], s["decode_s_per_frame"]
        print(f"{'hytip q' + str(args.quality):<22}{s['threads']:>8}{e['mean']:>10.3f}{d['mean']:>10.3f}"
              f"{e['I']:>8.3f}/{e['P']:<7.3f}{d['I']:>8.3f}/{d['P']:<7.3f}{s['bpp']:>8.4f}")
    for name, s in res["peers"].items():
        print(f"{name + ' qp' + str(args.qp):<22}{1:>8}{s['encode_s_per_frame']:>10.4f}{s['decode_s_per_frame']:>10.4f}"
              f"{'':>32}{s['bpp']:>8.4f}")
    x264 = res["peers"]["x264-medium"]
    two = res["hytip"]["speed"][1]
    res["ratios_vs_x264_medium"] = {"encode": two["encode_s_per_frame"]["mean"] / x264["encode_s_per_frame"],
                                    "decode": two["decode_s_per_frame"]["mean"] / x264["decode_s_per_frame"]}
    print(f"hytip (2 threads) / x264-medium (1 thread): encode x{res['ratios_vs_x264_medium']['encode']:.0f}, "
          f"decode x{res['ratios_vs_x264_medium']['decode']:.0f}")
    d = res["hytip"]["decode"]
    print(f"P-frame decode: {d['p_frame']['kflop_per_px']:.1f} kFLOP/px ({d['p_frame']['kmac_per_px']:.1f} kMAC/px), "
          f"{d['p_frame']['seconds']:.3f} s of which warping {d['p_frame']['warp_seconds']:.4f} s, "
          f"entropy decoding {d['p_frame']['entropy_seconds']:.4f} s (1 thread)")
    print(f"I-frame decode: {d['i_frame']['kflop_per_px']:.1f} kFLOP/px; parameters {params / 1e6:.2f} M "
          f"(+{res['hytip']['intra_parameters'] / 1e6:.2f} M I-frame codec); buffer {d['buffer_full_res_channels']:.2f} "
          "full-resolution channels")
    mq = res["hytip"]["motion_psnr_db"]
    print(f"previous decoded frame vs the P-frame (PSNR): copied {mq['copy']:.2f} dB, warped by the estimated flow "
          f"{mq['estimated_flow']:.2f} dB, by the decoded flow {mq['decoded_flow']:.2f} dB")
    for m in res["hytip"]["memory"]:
        print(f"peak RSS, encode+decode of {m['frames']:>3} frames: {m['peak_rss_mb']:.0f} MB")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
