"""How much a checkerboard context could save on a trained mean-scale codec's latent, with its
transforms left as they are.

A context model added to a trained hyperprior (the gmm and mambaic start that way) can only
exploit what is left in the rounded residuals r = round(y - mean) at the non-anchor positions
((i + j) odd) given the decoded anchors. This script fits two small context models to that
question directly, on training-image crops, by minimising Gaussian bits, and evaluates them on
Kodak:

- "per-channel": each channel's mean moves by a * (mean of the 4 neighbouring anchors' r) and its
  log-scale by b * log((mean |r| of the neighbours + 0.3) / (their mean scale + 0.3)) + c + d * log s;
- "cross-channel": the same scale model, the mean a full M x M linear map of the neighbours' mean r.

The saving they reach bounds from below what a learned context could add without retraining the
transforms (a deeper context model can do somewhat better, not an order of magnitude).

    python scripts/context_potential.py [--checkpoint hyperprior] [--train-images 16] \
        [--kodak-images 8] [--levels 2 5] [--out results/analysis/context_potential.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocodec.codecs import registry
from neurocodec.codecs.image.gmm import anchor_mask
from neurocodec.data import data_path
from neurocodec.entropy.integer_nets import scale_levels
from neurocodec.entropy.layers import bin_likelihood
from neurocodec.entropy.models import Family
from neurocodec.io.images import list_images, load_image, to_tensor

log = logging.getLogger("context_potential")

SCALE_MIN = float(scale_levels()[0])  # the coder's smallest scale level
_CROSS = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def residuals(codec, x: Tensor, quality: int) -> tuple[Tensor, Tensor]:
    """(r, s) [1, M, h, w]: a mean-scale codec's rounded residuals round(y - mean) and the exact
    scales its coder uses (eval mode), for image x [1, 3, H, W] in [0, 1]."""
    with torch.no_grad():
        y = codec.analyze(codec.pad(x), codec.level(quality))["y"]
        z_hat, _ = codec.entropy_bottleneck(codec.h_a(y))
        s, m = codec.hyper_params(z_hat)
        return torch.round(y - m), s


def neighbour_features(r: Tensor, s: Tensor) -> dict[str, Tensor]:
    """At the non-anchor positions, flattened over (position, channel) with a channel index:
    r, s, and the 4 neighbouring anchors' mean r, mean |r| and mean s (anchors only; image
    borders average over the neighbours that exist). Also the neighbours' mean r for every
    channel at each position ([P, M], for the cross-channel model)."""
    M = r.shape[1]
    k = _CROSS.to(r).expand(M, 1, 3, 3)
    anchors = anchor_mask(*r.shape[-2:], device=r.device).to(r.dtype)
    count = F.conv2d(anchors.expand_as(r), k, padding=1, groups=M).clamp_min(1)
    mean_r = F.conv2d(r * anchors, k, padding=1, groups=M) / count
    mean_abs = F.conv2d((r * anchors).abs(), k, padding=1, groups=M) / count
    mean_s = F.conv2d(s * anchors, k, padding=1, groups=M) / count
    i, j = torch.nonzero(~anchor_mask(*r.shape[-2:], device=r.device)[0, 0], as_tuple=True)

    def flat(t: Tensor) -> Tensor:  # [1, M, h, w] -> [P, M]
        return t[0][:, i, j].t()

    channel = torch.arange(M).expand(len(i), M)
    return {"r": flat(r), "s": flat(s), "mean_r": flat(mean_r), "mean_abs": flat(mean_abs),
            "mean_s": flat(mean_s), "channel": channel}


def gaussian_bits(r: Tensor, mu: Tensor, s: Tensor) -> Tensor:
    """-log2 P(r) of integers r under N(mu, s) discretised to unit bins."""
    return -torch.log2(bin_likelihood(Family.GAUSSIAN, r, mu, s.clamp_min(SCALE_MIN)).clamp_min(1e-9))


class ContextFit(torch.nn.Module):
    """The per-channel or cross-channel context model of the module docstring."""

    def __init__(self, M: int, cross: bool) -> None:
        super().__init__()
        self.cross = cross
        self.a = torch.nn.Parameter(torch.zeros(M, M) if cross else torch.zeros(M))
        self.b, self.c, self.d = (torch.nn.Parameter(torch.zeros(M)) for _ in range(3))

    def bits(self, f: dict[str, Tensor]) -> Tensor:
        s = f["s"].clamp_min(SCALE_MIN)
        mu = f["mean_r"] @ self.a.t() if self.cross else self.a * f["mean_r"]
        ratio = torch.log((f["mean_abs"] + 0.3) / (f["mean_s"].clamp_min(SCALE_MIN) + 0.3))
        log_s = torch.log(s) * (1 + self.d) + self.b * ratio + self.c
        return gaussian_bits(f["r"], mu, torch.exp(log_s))


def fit(train: dict[str, Tensor], cross: bool, steps: int = 300, lr: float = 0.02) -> ContextFit:
    """Adam on the mean bits of the training features (full batch, seeded)."""
    torch.manual_seed(0)
    model = ContextFit(train["r"].shape[1], cross)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = model.bits(train).mean()
        loss.backward()
        opt.step()
    return model


def _stack(feats: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.cat([f[k] for f in feats]) for k in feats[0]}


def study(codec, train_images: list[Tensor], test_images: list[Tensor], quality: int) -> dict:
    """One level: bits at the non-anchors without and with each fitted context, on the test
    images, and the share of the whole file (anchors, non-anchors and z) they stand for."""
    train = _stack([neighbour_features(*residuals(codec, x, quality)) for x in train_images])
    test_feats, total_bits = [], 0.0
    for x in test_images:
        r, s = residuals(codec, x, quality)
        test_feats.append(neighbour_features(r, s))
        with torch.no_grad():
            lik = codec(codec.pad(x), codec.level(quality))["likelihoods"]
        total_bits += sum(float(-torch.log2(v).sum()) for v in lik.values())
    test = _stack(test_feats)
    base = float(gaussian_bits(test["r"], torch.zeros_like(test["r"]), test["s"]).sum())
    row = {"quality": quality, "non_anchor_bits": base, "file_bits": total_bits,
           "non_anchor_share_pct": 100 * base / total_bits}
    for name, cross in (("per_channel", False), ("cross_channel", True)):
        model = fit(train, cross)
        with torch.no_grad():
            new = float(model.bits(test).sum())
        row[name] = {"non_anchor_saving_pct": 100 * (1 - new / base),
                     "file_saving_pct": 100 * (base - new) / total_bits}
    return row


def _crop(x: Tensor, h: int = 512, w: int = 768) -> Tensor:
    return x[..., :h, :w]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="hyperprior", help="a mean-scale codec (hyperprior, shallow-*)")
    ap.add_argument("--train-images", type=int, default=16, help="training photos (top-left 512x768 crops)")
    ap.add_argument("--kodak-images", type=int, default=8, help="first K Kodak images (evaluation)")
    ap.add_argument("--levels", type=int, nargs="+", default=[2, 5])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="results/analysis/context_potential.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    kodak, train_dir = data_path("kodak"), data_path("train_images", "wikipedia_photos_downsampled")
    if kodak is None or train_dir is None:
        raise SystemExit("Kodak or train_images not found: set NEUROCODEC_DATA (see README)")
    torch.set_num_threads(args.threads)
    codec = registry.load(args.checkpoint).eval()
    if not hasattr(codec, "hyper_params"):
        raise SystemExit(f"{args.checkpoint} is a {codec.name}: this study needs a mean-scale codec (hyper_params)")
    train = [_crop(to_tensor(load_image(p))) for p in list_images(train_dir)[: args.train_images]]
    test = [to_tensor(load_image(p)) for p in list_images(kodak)[: args.kodak_images]]
    rows = []
    for q in args.levels:
        log.info("level %d ...", q)
        rows.append(study(codec, train, test, q))
    sys.stdout.write(f"{args.checkpoint} ({codec.weights_hash().hex()}): context fitted on {len(train)} training crops, "
                     f"evaluated on Kodak first {len(test)}\n")
    sys.stdout.write("| level | non-anchors' share of the file | per-channel: non-anchors / file | cross-channel: non-anchors / file |\n")
    sys.stdout.write("|---|---:|---:|---:|\n")
    for r in rows:
        pc, cc = r["per_channel"], r["cross_channel"]
        sys.stdout.write(f"| q{r['quality']} | {r['non_anchor_share_pct']:.1f} % | {pc['non_anchor_saving_pct']:.1f} % / "
                         f"{pc['file_saving_pct']:.1f} % | {cc['non_anchor_saving_pct']:.1f} % / {cc['file_saving_pct']:.1f} % |\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"checkpoint": args.checkpoint, "weights_hash": codec.weights_hash().hex(),
                               "train_images": len(train), "kodak_images": len(test), "levels": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
