"""Entropy-model fine-tuning on cached latents, for the gmm with transform "gdn".

That gmm codes the symbols round(y - mu), mu being h_s's mean, so with g_a, h_a, h_s and the
gains fixed neither the symbols nor the reconstruction depend on the checkerboard context and
the entropy-parameter network: those two only set the probabilities, and the file's size is
all they change. They can therefore be trained on the rate alone, with the true rounding (no
noise, no distortion term: the objective is the coder's own), on latents computed once. A step
then costs the context and parameter networks only, not g_a, g_s and their gradients: it sees
about ten times more latent positions per CPU second than end-to-end training.

    python -m neurocodec.train.entropy_finetune gmm --minutes 60 --out runs/gmm-ctx.pt \
        [--transforms-from hyperprior] [--threads 1] [--lr 1e-3]

``--transforms-from`` first copies a hyperprior's g_a, g_s, h_a, h_s, prior and gains into the
gmm (keeping its trained context and parameter networks), for moving the gmm onto a newly
shipped hyperprior. The run saves ``OUT`` and a resumable ``OUT.state`` (weights, optimiser,
step, CPU seconds) every ``--save-every`` steps; rerunning the same command resumes it and adds
``--minutes``. Measure the result with ``scripts/estimate_bd.py`` or ``neurocodec eval``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from neurocodec.codecs import registry
from neurocodec.codecs.image.gmm import CheckerboardGMM, anchor_mask
from neurocodec.data import data_path
from neurocodec.errors import InputError

log = logging.getLogger(__name__)

TRAINED = ("context", "entropy_parameters")


@dataclass
class LatentCache:
    """Per (image, level): the coded symbols and the exact hyper features."""

    symbols: list[Tensor] = field(default_factory=list)  # int16 [M, h, w]: round(y - mu)
    hyper: list[Tensor] = field(default_factory=list)  # float32 [2M, h, w]: h_s's exact output (scale, mean)
    levels: list[int] = field(default_factory=list)  # level index 0..Q-1

    def __len__(self) -> int:
        return len(self.levels)


def check_codec(codec: object) -> CheckerboardGMM:
    """The codec, if its symbols do not depend on the trained parts; InputError otherwise."""
    if not isinstance(codec, CheckerboardGMM) or codec.transform != "gdn":
        raise InputError("entropy fine-tuning needs a gmm with transform 'gdn' (its symbols are rounded "
                         "against h_s's mean, so the context does not change them)")
    return codec


@torch.no_grad()
def build_cache(codec: CheckerboardGMM, images: list[Tensor], flips: bool = True) -> LatentCache:
    """Latents of `images` ([1, 3, H, W] in [0, 1]) at every level, exactly as the coder makes
    them; with `flips`, also of each image mirrored left-right (twice the data)."""
    codec = check_codec(codec).eval()
    cache = LatentCache()
    for x in images:
        for xi in ([x, x.flip(-1)] if flips else [x]):
            y0 = codec.g_a(codec.pad(xi))
            for lv in range(codec.num_qualities):
                q = torch.tensor([lv])
                y = y0 * codec.gains.gain(q)
                z_hat, _ = codec.entropy_bottleneck(codec.h_a(y))
                hyper = codec._hyper_int(z_hat)
                mu = codec._offset(hyper, exact=True)
                cache.symbols.append(torch.round(y - mu)[0].to(torch.int16))
                cache.hyper.append(hyper[0].double().div(1 << 10).float())
                cache.levels.append(lv)
    return cache


def y_bits(codec: CheckerboardGMM, symbols: Tensor, hyper: Tensor) -> Tensor:
    """Bits of the latent [B] under the simulated integer networks: symbols [B, M, h, w]
    (integers), hyper [B, 2M, h, w]. Anchors from the hyperprior alone, the others with the
    context over the decoded anchors, as the coder does."""
    mu = hyper[:, codec.M:]
    y_hat = symbols.float() + mu
    mask = anchor_mask(*y_hat.shape[-2:], device=y_hat.device)
    # the parameter network is pointwise: one pass with the context zeroed at the anchors gives
    # the anchors' parameters (hyperprior alone) and the others' (with the context) at once
    ctx = codec.context.forward_sim(y_hat * mask) * ~mask
    means, scales, weights = codec._params(hyper, ctx)
    lik = codec.gmm.likelihood(y_hat, means, scales, weights)
    return -torch.log2(lik).sum((1, 2, 3))


def _batch(cache: LatentCache, idx: list[int], crop: int, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Random crop x crop windows (whole latent where smaller) of the chosen entries."""
    syms, hyps = [], []
    h = min(min(cache.symbols[i].shape[-2] for i in idx), crop)
    w = min(min(cache.symbols[i].shape[-1] for i in idx), crop)
    for i in idx:
        s = cache.symbols[i]
        r = int(torch.randint(0, s.shape[-2] - h + 1, (1,), generator=g))
        c = int(torch.randint(0, s.shape[-1] - w + 1, (1,), generator=g))
        syms.append(s[:, r:r + h, c:c + w])
        hyps.append(cache.hyper[i][:, r:r + h, c:c + w])
    return torch.stack(syms), torch.stack(hyps), torch.tensor([cache.levels[i] for i in idx])


@torch.no_grad()
def level_rates(codec: CheckerboardGMM, cache: LatentCache) -> Tensor:
    """Mean bits per latent element at each level [Q] over the whole cache."""
    bits = torch.zeros(codec.num_qualities, dtype=torch.float64)
    count = torch.zeros(codec.num_qualities, dtype=torch.float64)
    for s, hy, lv in zip(cache.symbols, cache.hyper, cache.levels):
        bits[lv] += float(y_bits(codec, s[None], hy[None]))
        count[lv] += s.numel()
    return (bits / count.clamp_min(1)).float()


@dataclass
class RunState:
    step: int = 0
    cpu_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def finetune(codec: CheckerboardGMM, cache: LatentCache, *, cpu_budget_s: float, state: RunState,
             optimizer: torch.optim.Optimizer, weights: Tensor, lr: float, batch: int = 8, crop: int = 32,
             seed: int = 0, val: LatentCache | None = None, log_every: int = 200,
             on_save: Callable[[RunState], None] | None = None, save_every: int = 500,
             max_steps: int | None = None) -> RunState:
    """Adam on the context and entropy-parameter networks until the run's CPU seconds reach
    `cpu_budget_s`; the learning rate decays linearly from `lr` to 0 over the budget. The loss
    is the bits per latent element, each level weighted by `weights` (1 / its starting rate,
    so that every level's relative saving counts the same). `max_steps`: stop at this step
    count too (the schedule still follows the CPU budget)."""
    codec.train()
    g = torch.Generator().manual_seed(seed + state.step)
    start_cpu = time.process_time() - state.cpu_seconds
    while True:
        used = time.process_time() - start_cpu
        if used >= cpu_budget_s or (max_steps is not None and state.step >= max_steps):
            break
        for group in optimizer.param_groups:
            group["lr"] = lr * max(0.0, 1.0 - used / cpu_budget_s)
        idx = torch.randint(0, len(cache), (batch,), generator=g).tolist()
        syms, hyps, lv = _batch(cache, idx, crop, g)
        per_elem = y_bits(codec, syms, hyps) / syms[0].numel()
        loss = (per_elem * weights[lv]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step += 1
        state.cpu_seconds = time.process_time() - start_cpu
        if state.step % log_every == 0:
            row = {"step": state.step, "cpu_s": round(state.cpu_seconds, 1), "loss": float(loss)}
            if val is not None:
                row["val_bits_per_elem"] = [round(float(v), 5) for v in level_rates(codec.eval(), val)]
                codec.train()
            state.history.append(row)
            log.info("%s", row)
        if on_save is not None and state.step % save_every == 0:
            on_save(state)
    codec.eval()
    return state


def load_train_images(folder: Path, limit: int | None = None) -> list[Tensor]:
    from neurocodec.io.images import list_images, load_image, to_tensor

    return [to_tensor(load_image(p)) for p in list_images(folder)[:limit]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a gmm checkpoint (name or path) with transform 'gdn'")
    ap.add_argument("--out", required=True, help="the fine-tuned checkpoint (OUT.state: the resumable run)")
    ap.add_argument("--minutes", type=float, default=30.0, help="CPU minutes added by this invocation")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many more steps")
    ap.add_argument("--transforms-from", default=None, help="a hyperprior whose transforms the gmm takes first")
    ap.add_argument("--train-dir", default=None)
    ap.add_argument("--val-images", type=int, default=4, help="training-folder images held out for the log")
    ap.add_argument("--images", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=32, help="latent crop size (x16 pixels)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-every", type=int, default=500)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    folder = Path(args.train_dir) if args.train_dir else data_path("train_images", "wikipedia_photos_downsampled")
    if folder is None or not folder.is_dir():
        raise InputError("training images not found: set NEUROCODEC_DATA or pass --train-dir")
    out = Path(args.out)
    state_path = out.with_name(out.name + ".state")
    codec = check_codec(registry.load(args.checkpoint))
    if args.transforms_from:
        done = codec.copy_parts_from(registry.load(args.transforms_from), ("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck", "gains"))
        log.info("took %s from %s", done, args.transforms_from)
    for p in codec.parameters():
        p.requires_grad_(False)
    params = [p for n in TRAINED for p in getattr(codec, n).parameters()]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=args.lr)
    state = RunState()
    if state_path.exists():
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        codec.load_state_dict(saved["codec"])
        optimizer.load_state_dict(saved["optimizer"])
        state = RunState(saved["step"], saved["cpu_seconds"], saved["history"])
        log.info("resumed %s at step %d (%.0f CPU s)", state_path, state.step, state.cpu_seconds)

    t0 = time.process_time()
    images = load_train_images(folder, args.images)
    if len(images) <= args.val_images:
        raise InputError(f"need more than {args.val_images} training images, found {len(images)}")
    train = build_cache(codec, images[:len(images) - args.val_images])
    val = build_cache(codec, images[len(images) - args.val_images:], flips=False)
    log.info("cached %d training and %d held-out latents in %.0f CPU s", len(train), len(val), time.process_time() - t0)
    start = level_rates(codec, val)
    log.info("held-out bits per element by level at the start: %s", [round(float(v), 5) for v in start])
    weights = 1.0 / level_rates(codec, train)

    def save(st: RunState) -> None:
        codec.refresh_hash()
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save({"codec": codec.state_dict(), "optimizer": optimizer.state_dict(), "step": st.step,
                    "cpu_seconds": st.cpu_seconds, "history": st.history}, tmp)
        tmp.replace(state_path)
        registry.save_checkpoint(codec, out)

    budget = state.cpu_seconds + 60 * args.minutes
    finetune(codec, train, cpu_budget_s=budget, state=state, optimizer=optimizer, weights=weights, lr=args.lr,
             batch=args.batch, crop=args.crop, seed=args.seed, val=val, on_save=save, save_every=args.save_every,
             max_steps=None if args.steps is None else state.step + args.steps)
    save(state)
    end = level_rates(codec, val)
    log.info("held-out bits per element by level: %s -> %s (%s %%)", [round(float(v), 5) for v in start],
             [round(float(v), 5) for v in end], [round(100 * float(e / s - 1), 2) for s, e in zip(start, end)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
