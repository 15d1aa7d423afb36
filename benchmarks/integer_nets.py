"""Speed and rate cost of integer-exact entropy parameters, side by side with the float model.

For each image codec: the shipped (integer) codec's encode and decode time, and the same
weights run as the float model of neurocodec 0.1 (h_s, context and entropy-parameter networks
as float32 layers, parameters quantised by the float-to-integer step; the same transforms and
coder), implemented below as the reference. Both code the same Kodak images; the table gives
seconds per image, the bits of each, and the ratios.

    python benchmarks/integer_nets.py [--images 8] [--quality 3] [--threads 1] [--repeat 2]
        [--out results/bench/integer_nets.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn

from neurocodec.codecs import registry
from neurocodec.codecs.image.gmm import anchor_mask
from neurocodec.data import data_path
from neurocodec.entropy import integer_nets as inet
from neurocodec.io.images import list_images, load_image, to_tensor


def float_twin(m: nn.Module) -> nn.Module:
    """The float32 layers an integer module stands for (same weights; LeakyReLU 0.01)."""
    if isinstance(m, inet.IntConvTranspose2d):
        f = nn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding)
    elif isinstance(m, inet.IntConv2d):
        f = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
    elif isinstance(m, inet.IntLeakyReLU):
        return nn.LeakyReLU(0.01)
    elif isinstance(m, inet.IntPixelShuffle):
        return nn.PixelShuffle(m.upscale_factor)
    elif isinstance(m, inet.IntSequential):
        return nn.Sequential(*(float_twin(c) for c in m))
    else:
        raise TypeError(type(m).__name__)
    f.load_state_dict(m.state_dict())
    return f.eval()


class FloatReference:
    """The float model (neurocodec 0.1's coding path) with a codec's weights: its files are
    not portable, which is why it was replaced; kept here only to measure against."""

    def __init__(self, codec) -> None:
        self.c = codec
        self.h_s = float_twin(codec.h_s)
        if codec.name == "gmm":
            self.context = float_twin(codec.context)
            self.ep = float_twin(codec.entropy_parameters)

    def _gmm_params(self, hyper, ctx):
        c = self.c
        p = self.ep(torch.cat([hyper, ctx], 1))
        b, _, h, w = p.shape
        p = p.reshape(b, 3, c.K, c.M, h, w).permute(1, 0, 3, 4, 5, 2)
        return p[0], p[1], torch.softmax(p[2], -1)

    @torch.no_grad()
    def compress(self, x, q):
        c = self.c
        y = c.g_a(c.pad(x)) * c.gains.gain(q)
        z_bytes, z_hat = c.entropy_bottleneck.compress(c.h_a(y))
        if c.name == "hyperprior":
            scales, means = self.h_s(z_hat).chunk(2, 1)
            y_bytes, _ = c.gaussian_conditional.compress(y, scales, means)
            return {"z": z_bytes, "y": y_bytes}, tuple(z_hat.shape)
        hyper = self.h_s(z_hat)
        mask = anchor_mask(*y.shape[-2:]).expand_as(y)
        ctx = self.context(torch.round(y) * mask)
        pa = self._gmm_params(hyper, torch.zeros_like(ctx))
        y0, _ = c.gmm.compress(y[mask], *(p[mask] for p in pa))
        pn = self._gmm_params(hyper, ctx)
        y1, _ = c.gmm.compress(y[~mask], *(p[~mask] for p in pn))
        return {"z": z_bytes, "y0": y0, "y1": y1}, tuple(z_hat.shape)

    @torch.no_grad()
    def decompress(self, sections, z_shape, q, size):
        c = self.c
        z_hat = c.entropy_bottleneck.decompress(sections["z"], z_shape)
        if c.name == "hyperprior":
            scales, means = self.h_s(z_hat).chunk(2, 1)
            y_hat = c.gaussian_conditional.decompress(sections["y"], scales, means)
        else:
            hyper = self.h_s(z_hat)
            b, _, h, w = hyper.shape
            mask = anchor_mask(h, w).expand(1, c.M, h, w)
            y_hat = torch.zeros(1, c.M, h, w)
            pa = self._gmm_params(hyper, torch.zeros(1, 2 * c.M, h, w))
            y_hat[mask] = c.gmm.decompress(sections["y0"], *(p[mask] for p in pa))
            pn = self._gmm_params(hyper, self.context(y_hat))
            y_hat[~mask] = c.gmm.decompress(sections["y1"], *(p[~mask] for p in pn))
        return c.synthesize(y_hat, q)[..., : size[0], : size[1]].clamp(0, 1)


def bench(codec, images: list[torch.Tensor], quality: int, repeat: int) -> dict:
    ref = FloatReference(codec)
    q = codec.level(quality)
    t = {"int_enc": 0.0, "int_dec": 0.0, "float_enc": 0.0, "float_dec": 0.0}
    bits = {"int": 0, "float": 0}
    for _ in range(repeat):
        bits = {"int": 0, "float": 0}
        for x in images:
            t0 = time.perf_counter()
            payload, _ = codec.compress(x, quality, reconstruct=False)
            t1 = time.perf_counter()
            codec.decompress(payload)
            t2 = time.perf_counter()
            sections, zs = ref.compress(x, q)
            t3 = time.perf_counter()
            ref.decompress(sections, zs, q, x.shape[-2:])
            t4 = time.perf_counter()
            t["int_enc"] += t1 - t0
            t["int_dec"] += t2 - t1
            t["float_enc"] += t3 - t2
            t["float_dec"] += t4 - t3
            bits["int"] += 8 * payload.payload_bytes
            bits["float"] += 8 * sum(len(v) for v in sections.values())
    n = repeat * len(images)
    row = {k + "_s": v / n for k, v in t.items()}
    row.update(codec=codec.name, images=len(images), int_payload_bits=bits["int"], float_payload_bits=bits["float"])
    row["decode_cost_pct"] = 100 * (row["int_dec_s"] / row["float_dec_s"] - 1)
    row["encode_cost_pct"] = 100 * (row["int_enc_s"] / row["float_enc_s"] - 1)
    row["rate_cost_pct"] = 100 * (bits["int"] / bits["float"] - 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8, help="first K Kodak images")
    ap.add_argument("--codecs", default="hyperprior,gmm")
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default="results/bench/integer_nets.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kodak = data_path("kodak")
    if kodak is None:
        raise SystemExit("Kodak not found: set NEUROCODEC_DATA (see README)")
    images = [to_tensor(load_image(p)) for p in list_images(kodak)[: args.images]]
    rows = [bench(registry.load(name), images, args.quality, args.repeat) for name in args.codecs.split(",")]
    print(f"Kodak, {len(images)} images x {args.repeat}, quality {args.quality}, CPU, {args.threads} thread(s); seconds per image")
    hdr = (f"{'codec':11} {'enc int':>8} {'enc float':>9} {'dec int':>8} {'dec float':>9} "
           f"{'enc cost':>9} {'dec cost':>9} {'rate cost':>10}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['codec']:11} {r['int_enc_s']:8.3f} {r['float_enc_s']:9.3f} {r['int_dec_s']:8.3f} {r['float_dec_s']:9.3f} "
              f"{r['encode_cost_pct']:+8.1f}% {r['decode_cost_pct']:+8.1f}% {r['rate_cost_pct']:+9.2f}%")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "args": vars(args), "platform": platform.platform(), "torch": torch.__version__}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
