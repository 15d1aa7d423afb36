"""Image-codec speed on Kodak (CPU): neurocodec hyperprior and gmm beside compressai's
mbt2018-mean of the same N/M, compress and decompress per image, entropy coding separated
from the networks; then a complexity table of every registered image codec: encode and decode
seconds per image at 1 and 2 threads, decode kFLOP/px (:mod:`neurocodec.evaluate.complexity`),
parameters, and seconds per refinement step (iterative encoding); and the gmm's entropy decoding
with the coder's AVX2 mixture kernel against its scalar one (same files, interleaved). A codec without a shipped
checkpoint is measured untrained at its CPU training configuration (marked so; its network
timings and FLOPs are those of the trained model, its bpp is not).

compressai's MeanScaleHyperprior has exactly our hyperprior's layer layout, so it is loaded
with our trained transforms and factorised prior (compressai has no gain units: its latent is
our un-gained y). Both then code realistic latents; with untrained weights every latent is ~0
and the entropy timings would mean little. Entropy time = time spent inside the entropy
layers' compress/decompress (parameter quantisation and the coder); network time = the rest.

    python benchmarks/image_codecs.py [--images 4] [--hyperprior checkpoints/hyperprior.pt]
        [--gmm checkpoints/gmm.pt] [--quality 3] [--out results/bench/image_codecs.json]
        [--complexity-images 2] [--codecs hyperprior gmm shallow-2l shallow-jpeg mambaic]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from pathlib import Path

import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.data import data_path
from neurocodec.entropy import set_simd, simd_supported
from neurocodec.evaluate.runner import cpu_model
from neurocodec.io.images import list_images, load_image, to_tensor


class Timers:
    """Accumulates seconds spent in wrapped methods."""

    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)

    def wrap(self, obj: object, method: str, key: str) -> None:
        fn = getattr(obj, method)

        def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.t[key] += time.perf_counter() - t0

        setattr(obj, method, timed)


def entropy_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    names = ("entropy_bottleneck", "gaussian_conditional", "gmm")
    return [getattr(model, n) for n in names if hasattr(model, n)]


def instrument(model: torch.nn.Module) -> Timers:
    timers = Timers()
    for layer in entropy_layers(model):
        # the codecs code y through the integer-parameter entry points (compress_int), the
        # factorised prior and compressai through compress: time whichever a layer has
        for method, key in (("compress", "enc_entropy"), ("decompress", "dec_entropy"),
                            ("compress_int", "enc_entropy"), ("decompress_int", "dec_entropy")):
            if hasattr(layer, method):
                timers.wrap(layer, method, key)
    return timers


def bench_ours(codec, images: list[torch.Tensor], quality: int) -> dict:
    timers = instrument(codec)
    enc = dec = 0.0
    nbytes = 0
    _, x_hat = codec.compress(images[0], quality)  # untimed: the decoder matches the encoder
    assert torch.equal(codec.decompress(codec.compress(images[0], quality, reconstruct=False)[0]), x_hat)
    timers.t.clear()
    for x in images:
        t0 = time.perf_counter()
        payload, _ = codec.compress(x, quality, reconstruct=False)  # like compressai: no g_s
        t1 = time.perf_counter()
        codec.decompress(payload)
        t2 = time.perf_counter()
        enc, dec = enc + t1 - t0, dec + t2 - t1
        nbytes += len(bitstream.dumps(payload))
    return summary(codec.name, len(images), enc, dec, timers, nbytes, images)


def bench_compressai(hyper_codec, images: list[torch.Tensor]) -> dict:
    from compressai.models import MeanScaleHyperprior

    n, m = hyper_codec.N, hyper_codec.M
    model = MeanScaleHyperprior(n, m)
    model.update(force=True)  # its own buffers (scale table, CDFs) exist only after update()
    state = model.state_dict()
    ours = {k: v for k, v in hyper_codec.state_dict().items() if k in state and not k.startswith("gaussian_conditional.")}
    ours = {**state, **{k: v for k, v in ours.items() if not k.endswith(("_offset", "_quantized_cdf", "_cdf_length"))}}
    model.load_state_dict(ours)
    model.eval().update(force=True)
    timers = instrument(model)
    enc = dec = 0.0
    nbytes = 0
    with torch.no_grad():
        for x in images:
            t0 = time.perf_counter()
            out = model.compress(x)
            t1 = time.perf_counter()
            model.decompress(out["strings"], out["shape"])
            t2 = time.perf_counter()
            enc, dec = enc + t1 - t0, dec + t2 - t1
            nbytes += sum(len(s[0]) for s in out["strings"])
    return summary(f"compressai mbt2018-mean N={n} M={m}", len(images), enc, dec, timers, nbytes, images)


def bench_simd(codec, images: list[torch.Tensor], qualities: list[int], repeats: int = 10) -> list[dict]:
    """Seconds per image in the mixture layer's decoding (``gmm.decompress_int``: parameter
    quantisation and the coder) with the AVX2 mixture kernel and with the scalar one: the calls
    of real decodes are recorded, then replayed `repeats` times per kernel, interleaved; best
    time. The symbols must be identical. Empty where the CPU has no AVX2 or the codec no
    mixture layer."""
    layer = getattr(codec, "gmm", None)
    if not simd_supported() or layer is None:
        return []
    calls: list[tuple[tuple, dict]] = []
    real = layer.decompress_int

    def record(*a, **k):  # noqa: ANN002, ANN003, ANN202
        calls.append((a, k))
        return real(*a, **k)

    rows = []
    for q in qualities:
        calls.clear()
        layer.decompress_int = record
        try:
            for x in images:
                codec.decompress(codec.compress(x, q, reconstruct=False)[0])
        finally:
            layer.decompress_int = real
        best: dict[bool, float] = {True: float("inf"), False: float("inf")}
        outs: dict[bool, list[torch.Tensor]] = {}
        for _ in range(repeats):
            for simd in (True, False):
                before = set_simd(simd)
                try:
                    t0 = time.perf_counter()
                    outs[simd] = [real(*a, **k) for a, k in calls]
                    best[simd] = min(best[simd], time.perf_counter() - t0)
                finally:
                    set_simd(before)
        assert all(torch.equal(a, b) for a, b in zip(outs[True], outs[False])), "the kernels decoded differently"
        k = len(images)
        rows.append({"codec": codec.name, "quality": q, "avx2_decode_s": best[True] / k,
                     "scalar_decode_s": best[False] / k, "avx2_speedup": best[False] / best[True]})
    return rows


def summary(name: str, k: int, enc: float, dec: float, timers: Timers, nbytes: int, images: list[torch.Tensor]) -> dict:
    pixels = sum(x.shape[-2] * x.shape[-1] for x in images)
    return {
        "codec": name,
        "images": k,
        "encode_s": enc / k,
        "decode_s": dec / k,
        "encode_entropy_s": timers.t["enc_entropy"] / k,
        "decode_entropy_s": timers.t["dec_entropy"] / k,
        "encode_network_s": (enc - timers.t["enc_entropy"]) / k,
        "decode_network_s": (dec - timers.t["dec_entropy"]) / k,
        "bpp": 8 * nbytes / pixels,
    }


CPU_CONFIGS = {"hyperprior": "hyperprior-cpu", "gmm": "gmm-cpu", "shallow-2l": "shallow-cpu",
               "shallow-jpeg": "shallow-cpu", "mambaic": "mambaic-cpu"}


def load_or_build(name: str):  # noqa: ANN201
    """The shipped checkpoint of `name` (or a checkpoint path); else the untrained codec at its
    CPU training configuration. Returns (codec, trained)."""
    from neurocodec.codecs.catalog import CHECKPOINT_DIR

    if Path(name).suffix == ".pt" or (CHECKPOINT_DIR / f"{name}.pt").exists():
        return registry.load(name), True
    import yaml

    cfg = Path(__file__).resolve().parents[1] / "neurocodec" / "train" / "configs" / f"{CPU_CONFIGS[name]}.yaml"
    config = yaml.safe_load(cfg.read_text())["model"]["init_args"].get("codec_config") or {}
    torch.manual_seed(0)
    codec = registry.build(name, **config).eval()
    codec.update()
    return codec, False


def bench_complexity(name: str, images: list[torch.Tensor], quality: int, refine_steps: int = 4) -> dict:
    """Seconds per image at 1 and 2 threads, decode kFLOP/px, parameters, seconds per refine step."""
    from neurocodec.evaluate.complexity import image_decode_complexity, image_speed, parameter_count

    codec, trained = load_or_build(name)
    row: dict = {"codec": codec.name, "trained": trained, "parameters": parameter_count(codec),
                 **image_speed(codec, images, quality)}
    before = torch.get_num_threads()
    try:  # refinement: the extra time of N steps over plain encoding, per step (2 threads, first image)
        torch.set_num_threads(2)
        x = images[0]
        t0 = time.perf_counter()
        codec.compress(x, quality, reconstruct=False)
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        codec.compress(x, quality, reconstruct=False, refine_steps=refine_steps)
        row["refine_step_s"] = max(0.0, time.perf_counter() - t0 - plain) / refine_steps if refine_steps else float("nan")
        torch.set_num_threads(1)
        row["decode_kflop_per_px"] = image_decode_complexity(codec, x, quality).kflop_per_px
    finally:
        torch.set_num_threads(before)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4, help="first K Kodak images (24 for all)")
    ap.add_argument("--hyperprior", default="hyperprior", help="checkpoint name or path")
    ap.add_argument("--gmm", default="gmm", help="checkpoint name or path")
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 = per-core numbers)")
    ap.add_argument("--out", default="results/bench/image_codecs.json")
    ap.add_argument("--codecs", nargs="*", default=["hyperprior", "gmm", "shallow-2l", "shallow-jpeg", "mambaic"],
                    help="image codecs of the complexity table (shipped checkpoints, else untrained CPU configs)")
    ap.add_argument("--complexity-images", type=int, default=2, help="Kodak images for the complexity table")
    ap.add_argument("--refine-steps", type=int, default=4, help="steps timed for seconds per refinement step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kodak = data_path("kodak")
    if kodak is None:
        raise SystemExit("Kodak not found: set NEUROCODEC_DATA (see README)")
    images = [to_tensor(load_image(p)) for p in list_images(kodak)[: args.images]]
    hyper = registry.load(args.hyperprior)
    gmm = registry.load(args.gmm)
    rows = [bench_ours(hyper, images, args.quality), bench_ours(gmm, images, args.quality), bench_compressai(hyper, images)]
    ca = rows[2]
    targets = {
        "entropy enc+dec: compressai / ours hyperprior (>= 3)": (ca["encode_entropy_s"] + ca["decode_entropy_s"]) / (rows[0]["encode_entropy_s"] + rows[0]["decode_entropy_s"]),
        "entropy enc+dec: ours gmm / ours hyperprior (<= 2)": (rows[1]["encode_entropy_s"] + rows[1]["decode_entropy_s"]) / (rows[0]["encode_entropy_s"] + rows[0]["decode_entropy_s"]),
    }
    hdr = f"{'codec':36} {'enc s':>7} {'dec s':>7} {'enc entropy':>11} {'dec entropy':>11} {'enc net':>8} {'dec net':>8} {'bpp':>6}"
    print(f"Kodak, {len(images)} images, CPU, {args.threads} torch thread(s), seconds per image")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['codec']:36} {r['encode_s']:7.3f} {r['decode_s']:7.3f} {r['encode_entropy_s']:11.4f} {r['decode_entropy_s']:11.4f} {r['encode_network_s']:8.3f} {r['decode_network_s']:8.3f} {r['bpp']:6.3f}")
    print()
    for k, v in targets.items():
        print(f"{k:55} {v:7.2f}")
    simd = bench_simd(gmm, images[: args.complexity_images], sorted({1, args.quality, gmm.qualities[-1]}))
    if simd:
        print(f"\nThe gmm's mixture decoding (gmm.decompress_int), AVX2 kernel vs scalar ({min(args.complexity_images, len(images))} "
              "images, best of 10 interleaved replays, identical symbols), seconds per image")
        for r in simd:
            print(f"  q{r['quality']}: AVX2 {r['avx2_decode_s']:.4f}  scalar {r['scalar_decode_s']:.4f}  "
                  f"{r['avx2_speedup']:.2f}x")
    complexity = [bench_complexity(n, images[: args.complexity_images], args.quality, args.refine_steps) for n in args.codecs]
    hp = next((r for r in complexity if r["codec"] == "hyperprior"), None)
    print(f"\nComplexity: Kodak, {min(args.complexity_images, len(images))} images, quality {args.quality}, seconds per image")
    hdr = (f"{'codec':14} {'trained':>7} {'params M':>8} {'kFLOP/px':>9} {'enc 1t':>7} {'dec 1t':>7} {'enc 2t':>7} "
           f"{'dec 2t':>7} {'dec/hp 1t':>9} {'s/refine step':>13} {'bpp':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in complexity:
        rel = r["decode_s_1t"] / hp["decode_s_1t"] if hp else float("nan")
        r["decode_time_vs_hyperprior_1t"] = rel
        print(f"{r['codec']:14} {str(r['trained']):>7} {r['parameters'] / 1e6:8.2f} {r['decode_kflop_per_px']:9.2f} "
              f"{r['encode_s_1t']:7.3f} {r['decode_s_1t']:7.3f} {r['encode_s_2t']:7.3f} {r['decode_s_2t']:7.3f} "
              f"{rel:9.2f} {r['refine_step_s']:13.3f} {r['bpp']:6.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    Path(args.out).write_text(json.dumps({"rows": rows, "targets": targets, "simd": simd, "complexity": complexity, "args": vars(args),
                                          "cpu": cpu, "platform": platform.platform()}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
