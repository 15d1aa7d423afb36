"""Widen a trained mean-scale hyperprior's latent (M channels -> more), keeping what it codes.

Why: the shipped M=96 transforms reconstruct Kodak at only ~32 dB even unquantised (the
"ceiling" on the model card), and a 16x16x3 block reduced to 96 numbers is an 8x dimension
cut: block PCA fitted on Kodak itself, the best linear transform of that shape, gives 30.9 dB
at 96 components, 33.0 at 128, 37.1 at 192 (scripts/pca_bound.py). The latent's width may
therefore cap the ceiling; a new M trained from scratch would throw away hours of CPU training,
so this starts the wider model from the trained one:

- old parameters are copied into their slices unchanged;
- the new latent channels get g_a's default initialisation times `analysis_scale`, with each
  level's mean gain; g_s and h_a read them through default weights times `new_scale`, so the
  reconstruction starts as before while every new weight has a gradient (straight-through
  rounding passes the synthesis gradient to g_a's new channels);
- h_s's new hidden units feed the old outputs through weights times `new_scale`; its new outputs
  are a small scale (`new_scale_bias`, in latent units) and mean 0 for the new channels.

Measured on the shipped hyperprior (M 96 -> 192; 384 px crops, batch 1, lr 1e-4 decayed
linearly, one thread; 2026-12-01):
- the defaults (new channels at 0.05x, rounding to zero) stay dead: after 2,839 steps the new
  channels still had no nonzero symbol, the rate term holds them at zero;
- ``--analysis-scale 1 --new-scale 0.1 --new-scale-bias 0.3`` with ``distortion_warmup=0.15``
  over 75 CPU minutes: Kodak 24 real files -3.0 % BD vs the shipped hyperprior (+5.9 % vs WebP,
  q6 32.20 dB at 0.866 bpp), where the M=96 control with the same recipe and budget reached
  -2.6 % (+4.9 % vs WebP): the width is worth 0.5 % at this budget. The new channels were
  alive in the distortion-only phase and then mostly switched off by the rate term
  (neurocodec.evaluate.latent_usage, first 4 Kodak images: none active at q1-q3, 41 of 96
  active at q6 with 5.4 % of y's bits).

    python -m neurocodec.train.widen checkpoints/hyperprior.pt -M 192 --analysis-scale 1 \
        --new-scale 0.1 --new-scale-bias 0.3 -o runs/wide2/start.pt
    python scripts/train_continue.py hyperprior --runs runs/wide2 --start runs/wide2/start.pt \
        --threads 1 --minutes 75 --patch-size 384 --batch-size 1 \
        --set "codec_config={N: 64, M: 192}" --set distortion_warmup=0.15
"""

from __future__ import annotations

import argparse
import logging

import torch

from neurocodec.codecs import registry
from neurocodec.codecs.image.hyperprior import MeanScaleHyperprior
from neurocodec.errors import InputError

log = logging.getLogger(__name__)


@torch.no_grad()
def widen_latent(old: MeanScaleHyperprior, M: int, analysis_scale: float = 0.05, new_scale: float = 0.05,
                 new_scale_bias: float = 0.2, seed: int = 0) -> MeanScaleHyperprior:
    """A MeanScaleHyperprior with M latent channels (M > old.M) that codes as `old` does at the
    start (see the module docstring). Deterministic for a given seed."""
    if type(old) is not MeanScaleHyperprior:
        raise InputError(f"widen_latent takes a hyperprior, got {old.name!r}")
    m0, n = old.M, old.N
    if M <= m0:
        raise InputError(f"the new width M={M} must exceed the old M={m0}")
    torch.manual_seed(seed)
    new = MeanScaleHyperprior(N=n, M=M, qualities=old.num_qualities, lambdas=old.lambdas)
    old_state = old.state_dict()
    state = new.state_dict()
    for k, v in old_state.items():  # everything whose shape did not change
        if state[k].shape == v.shape:
            state[k] = v.clone()
    h0 = m0 * 3 // 2  # h_s's old hidden width (of its second layer)

    # g_a's last conv [M, N, 5, 5]: old rows, new rows small
    w = state["g_a.6.weight"] * analysis_scale
    w[:m0] = old_state["g_a.6.weight"]
    state["g_a.6.weight"] = w
    b = torch.zeros(M)
    b[:m0] = old_state["g_a.6.bias"]
    state["g_a.6.bias"] = b
    # g_s's first deconv [M, N, 5, 5] (in, out): new inputs read through small weights
    w = state["g_s.0.weight"] * new_scale
    w[:m0] = old_state["g_s.0.weight"]
    state["g_s.0.weight"] = w
    # gains [Q, M]: the new channels get each level's mean log gain
    for k in ("gains.log_gain", "gains.log_inv_gain"):
        g = old_state[k]
        state[k] = torch.cat([g, g.mean(1, keepdim=True).expand(-1, M - m0)], 1)
    # h_a's first conv [N, M, 3, 3] (out, in)
    w = state["h_a.0.weight"] * new_scale
    w[:, :m0] = old_state["h_a.0.weight"]
    state["h_a.0.weight"] = w
    # h_s.0 deconv [N, M, 5, 5] (in, out=hidden): old hidden units, new ones at default init
    w = state["h_s.0.weight"].clone()
    w[:, :m0] = old_state["h_s.0.weight"]
    state["h_s.0.weight"] = w
    b = state["h_s.0.bias"].clone()
    b[:m0] = old_state["h_s.0.bias"]
    state["h_s.0.bias"] = b
    # h_s.2 deconv [M, 1.5M, 5, 5] (in, out): old block; new inputs feed old outputs weakly
    w = state["h_s.2.weight"].clone()
    w[:, :h0] *= new_scale
    w[:m0, :h0] = old_state["h_s.2.weight"]
    state["h_s.2.weight"] = w
    b = state["h_s.2.bias"].clone()
    b[:h0] = old_state["h_s.2.bias"]
    state["h_s.2.bias"] = b
    # h_s.4 conv [2M, 1.5M, 3, 3] (out, in): outputs are [scales M | means M]
    ow, ob = old_state["h_s.4.weight"], old_state["h_s.4.bias"]
    w = state["h_s.4.weight"] * new_scale
    b = torch.zeros(2 * M)
    for dst, src in ((slice(0, m0), slice(0, m0)), (slice(M, M + m0), slice(m0, 2 * m0))):
        w[dst, :h0] = ow[src]
        b[dst] = ob[src]
    b[m0:M] = new_scale_bias  # the new channels' scales; their means stay 0
    state["h_s.4.weight"], state["h_s.4.bias"] = w, b
    new.load_state_dict(state)
    new.eval()
    new.update(force=True)
    new.refresh_hash()
    return new


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a trained hyperprior (name or .pt)")
    ap.add_argument("-M", type=int, required=True, help="the new latent width")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--analysis-scale", type=float, default=0.05,
                    help="g_a's default initialisation of the new channels times this")
    ap.add_argument("--new-scale", type=float, default=0.05, help="the weights reading the new channels times this")
    ap.add_argument("--new-scale-bias", type=float, default=0.2, help="the new channels' initial predicted scale")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    old = registry.load(args.checkpoint)
    new = widen_latent(old, args.M, analysis_scale=args.analysis_scale, new_scale=args.new_scale,
                      new_scale_bias=args.new_scale_bias, seed=args.seed)
    registry.save_checkpoint(new, args.out)
    log.info("%s: M %d -> %d, %d -> %d parameters", args.out, old.M, new.M,
             sum(p.numel() for p in old.parameters()), sum(p.numel() for p in new.parameters()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
