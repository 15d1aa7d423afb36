"""Entropy-model fine-tuning on cached latents, with the transforms fixed (gmm, mambaic).

With g_a, h_a and the gains fixed, the latents y and z are fixed too, and the parts that only
set the probabilities of y can be trained on its rate alone, from latents computed once: a step
costs those parts only, not g_a, g_s and their gradients (about ten times more latent
positions per CPU second than end-to-end training).

- ``gmm`` (transform "gdn"): the symbols round(y - mu), mu being h_s's mean, and so the
  reconstruction, do not depend on the checkerboard context and the entropy-parameter network.
  Those two are trained on the exact objective: the bits of the coded symbols (true rounding,
  no noise, no distortion term). Files change size, never their reconstruction.
- ``mambaic``: y is rounded against the context model's means, so the symbols follow the
  trained parts (h_s and the whole context model). They are trained on the rate of y with the
  usual proxy (uniform noise for the likelihood, straight-through rounding for what the
  contexts see), as in end-to-end training but without the distortion term; y_hat stays within
  half a step of the fixed y, and the distortion is measured afterwards on real files. Here
  the saving is small on a CPU: the context model (VSS blocks, window attention, four slices)
  is most of a mambaic training step's cost, and a batch of 8 latents of 32x32 takes about 34 s
  on one thread, so end-to-end training is the better use of a CPU; use this on a GPU, or to
  tune its probabilities after a change of transforms, with a small --lr (at 1e-3 its first
  steps raised the rate by 2 %).

    python -m neurocodec.train.entropy_finetune gmm --minutes 60 --out runs/gmm-ctx.pt \
        [--transforms-from hyperprior] [--threads 1] [--lr 1e-3]

``--transforms-from`` first copies a trained hyperprior's parts into the codec (the gmm: g_a,
g_s, h_a, h_s, prior and gains, keeping its trained context and parameter networks; the
mambaic: its ``init_from_hyperprior``), for moving it onto a newly shipped hyperprior. The run
saves ``OUT`` and a resumable ``OUT.state`` (weights, optimiser, step, CPU seconds) every
``--save-every`` steps; rerunning the same command resumes it and adds ``--minutes``. The log
gives the held-out images' exact bits per latent element (the coder's integer parameters).
Measure the result with ``scripts/estimate_bd.py`` or ``neurocodec eval``.
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
from neurocodec.codecs.image.mambaic import MambaIC
from neurocodec.data import data_path, folder_tensors
from neurocodec.entropy import integer_nets as inet
from neurocodec.entropy.layers import quantize_train
from neurocodec.errors import InputError, ModelMismatchError

log = logging.getLogger(__name__)


@dataclass
class LatentCache:
    """Per (image, level): the tensors an adapter needs (latent-resolution ones first), and the level."""

    entries: list[dict[str, Tensor]] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)  # level index 0..Q-1

    def __len__(self) -> int:
        return len(self.levels)


class GmmRate:
    """The gdn gmm: exact symbols and hyper features cached; the coder's own bits."""

    trained = ("context", "entropy_parameters")
    align = 1  # crop offsets in latent positions

    @staticmethod
    def entry(codec: CheckerboardGMM, y: Tensor, z_hat: Tensor) -> dict[str, Tensor]:
        hyper = codec._hyper_int(z_hat)
        mu = codec._offset(hyper, exact=True)
        # symbols [M, h, w] int16: round(y - mu); hyper [2M, h, w]: h_s's exact (scale, mean) in real units
        return {"symbols": torch.round(y - mu)[0].to(torch.int16), "hyper": hyper[0].double().div(1 << 10).float()}

    @staticmethod
    def bits(codec: CheckerboardGMM, batch: dict[str, Tensor], exact: bool = False) -> Tensor:
        """Bits of y [B] from symbols [B, M, h, w] and hyper [B, 2M, h, w]: the simulated integer
        networks, whose rate is the coder's to within a fraction of a percent (exact=True runs
        the same simulation: the symbols are fixed)."""
        return y_bits(codec, batch["symbols"], batch["hyper"])


class MambaICRate:
    """The mambaic: y and z_hat cached; the noise proxy in training, the exact coder for the log."""

    trained = ("h_s", "channel_context", "spatial_context", "parameters_net")
    align = 4  # z is at a quarter of y's resolution

    @staticmethod
    def entry(codec: MambaIC, y: Tensor, z_hat: Tensor) -> dict[str, Tensor]:
        return {"y": y[0].float(), "z_hat": z_hat[0].float()}

    @staticmethod
    def bits(codec: MambaIC, batch: dict[str, Tensor], exact: bool = False) -> Tensor:
        y, z_hat = batch["y"], batch["z_hat"]
        gc = codec.gaussian_conditional
        if not exact:
            hyper = codec._hyper(z_hat, exact=False)
            _, scales, means = codec._sim_path(y, hyper, lambda v, m: quantize_train(v, "ste", m))
            lik = gc(y, scales, means, training=True)[1]
            return -torch.log2(lik).sum((1, 2, 3))
        lik = torch.empty_like(y)

        def measure(s, _anchors, pos, ys, idx, mq):  # noqa: ANN001, ANN202 - the coder's callback
            y_q, p = gc(ys, inet.scales_of_indexes(idx), inet.means_of_q8(mq), training=False)
            lik[:, s * codec.Ms:(s + 1) * codec.Ms, pos[0], pos[1]] = p
            return y_q

        codec._exact_path(y, codec._hyper(z_hat, exact=True), measure)
        return -torch.log2(lik).sum((1, 2, 3))


def adapter(codec: object) -> type[GmmRate] | type[MambaICRate]:
    """The codec's adapter; InputError for codecs whose probabilities cannot be tuned alone."""
    if isinstance(codec, CheckerboardGMM) and codec.transform == "gdn":
        return GmmRate
    if isinstance(codec, MambaIC):
        return MambaICRate
    raise InputError("entropy fine-tuning needs a gmm with transform 'gdn' (its symbols are rounded against "
                     "h_s's mean, so the context does not change them) or a mambaic")


@torch.no_grad()
def build_cache(codec: CheckerboardGMM | MambaIC, images: list[Tensor], flips: bool = True) -> LatentCache:
    """Latents of `images` ([1, 3, H, W] in [0, 1]) at every level, exactly as the coder makes
    them; with `flips`, also of each image mirrored left-right (twice the data)."""
    ad = adapter(codec)
    codec.eval()
    cache = LatentCache()
    for x in images:
        for xi in ([x, x.flip(-1)] if flips else [x]):
            y0 = codec.g_a(codec.pad(xi))
            for lv in range(codec.num_qualities):
                y = y0 * codec.gains.gain(torch.tensor([lv]))
                z_hat, _ = codec.entropy_bottleneck(codec.h_a(y))
                cache.entries.append(ad.entry(codec, y, z_hat))
                cache.levels.append(lv)
    return cache


def y_bits(codec: CheckerboardGMM, symbols: Tensor, hyper: Tensor) -> Tensor:
    """The gdn gmm's bits of y [B] under the simulated integer networks: symbols [B, M, h, w]
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


def _batch(cache: LatentCache, idx: list[int], crop: int, align: int, g: torch.Generator) -> tuple[dict[str, Tensor], Tensor]:
    """Random crop x crop windows (offsets multiples of `align`; the whole latent where smaller)
    of the chosen entries; tensors at 1/align resolution are cropped to match."""
    first = [cache.entries[i][next(iter(cache.entries[i]))] for i in idx]
    h = min(min(t.shape[-2] for t in first), crop) // align * align
    w = min(min(t.shape[-1] for t in first), crop) // align * align
    out: dict[str, list[Tensor]] = {}
    for i, t0 in zip(idx, first):
        r = int(torch.randint(0, (t0.shape[-2] - h) // align + 1, (1,), generator=g)) * align
        c = int(torch.randint(0, (t0.shape[-1] - w) // align + 1, (1,), generator=g)) * align
        for k, t in cache.entries[i].items():
            f = t0.shape[-1] // t.shape[-1]  # 1 or align
            out.setdefault(k, []).append(t[:, r // f:(r + h) // f, c // f:(c + w) // f])
    return {k: torch.stack(v) for k, v in out.items()}, torch.tensor([cache.levels[i] for i in idx])


@torch.no_grad()
def level_rates(codec: CheckerboardGMM | MambaIC, cache: LatentCache) -> Tensor:
    """Mean bits per latent element of y at each level [Q] over the whole cache, with the
    coder's parameters."""
    ad = adapter(codec)
    bits = torch.zeros(codec.num_qualities, dtype=torch.float64)
    count = torch.zeros(codec.num_qualities, dtype=torch.float64)
    for e, lv in zip(cache.entries, cache.levels):
        batch = {k: v[None] for k, v in e.items()}
        bits[lv] += float(ad.bits(codec, batch, exact=True))
        count[lv] += next(iter(e.values())).numel()
    return (bits / count.clamp_min(1)).float()


@dataclass
class RunState:
    step: int = 0
    cpu_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def finetune(codec: CheckerboardGMM | MambaIC, cache: LatentCache, *, cpu_budget_s: float, state: RunState,
             optimizer: torch.optim.Optimizer, weights: Tensor, lr: float, batch: int = 8, crop: int = 32,
             seed: int = 0, val: LatentCache | None = None, log_every: int = 200,
             on_save: Callable[[RunState], None] | None = None, save_every: int = 500,
             max_steps: int | None = None) -> RunState:
    """Adam on the adapter's trained parts (`optimizer`'s) until the run's CPU seconds reach
    `cpu_budget_s`; the learning rate decays linearly from `lr` to 0 over the budget. The loss
    is the bits per latent element, each level weighted by `weights` (1 / its starting rate,
    so that every level's relative saving counts the same). `max_steps`: stop at this step
    count too (the schedule still follows the CPU budget)."""
    ad = adapter(codec)
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
        batch_t, lv = _batch(cache, idx, crop, ad.align, g)
        first = next(iter(batch_t.values()))
        per_elem = ad.bits(codec, batch_t) / first[0].numel()
        loss = (per_elem * weights[lv]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step += 1
        state.cpu_seconds = time.process_time() - start_cpu
        if state.step % log_every == 0:
            row = {"step": state.step, "cpu_s": round(state.cpu_seconds, 1), "loss": float(loss.detach())}
            if val is not None:
                row["val_bits_per_elem"] = [round(float(v), 5) for v in level_rates(codec.eval(), val)]
                codec.train()
            row["loss"] = round(row["loss"], 5)
            state.history.append(row)
            log.info("%s", row)
        if on_save is not None and state.step % save_every == 0:
            on_save(state)
    codec.eval()
    return state


def take_transforms(codec: object, hyperprior: object) -> list[str]:
    """Copy a trained hyperprior's parts into an already trained codec, keeping its trained
    context model; returns the names moved. The gmm takes g_a, g_s, h_a, h_s, the prior and the
    gains (not ``init_from_hyperprior``, which restarts its entropy-parameter network for a gmm
    whose context is new); any other codec its ``init_from_hyperprior`` (the mambaic's keeps its
    VSS blocks and context). Also used by ``scripts/train_continue.py --parts-from``."""
    if isinstance(codec, CheckerboardGMM):
        done = codec.copy_parts_from(hyperprior, ("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck", "gains"))
        codec.refresh_hash()
        return done
    if not hasattr(codec, "init_from_hyperprior"):
        raise ModelMismatchError(f"{getattr(codec, 'name', codec)} cannot take another codec's parts")
    return codec.init_from_hyperprior(hyperprior)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a gmm (transform 'gdn') or mambaic checkpoint, name or path")
    ap.add_argument("--out", required=True, help="the fine-tuned checkpoint (OUT.state: the resumable run)")
    ap.add_argument("--minutes", type=float, default=30.0, help="CPU minutes added by this invocation")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many more steps")
    ap.add_argument("--transforms-from", default=None, help="a hyperprior whose parts the codec takes first")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    state_path = out.with_name(out.name + ".state")
    codec = registry.load(args.checkpoint)
    ad = adapter(codec)
    if args.transforms_from:
        done = take_transforms(codec, registry.load(args.transforms_from))
        log.info("took %s from %s", done, args.transforms_from)
    for p in codec.parameters():
        p.requires_grad_(False)
    params = [p for n in ad.trained for p in getattr(codec, n).parameters()]
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
    images = folder_tensors(folder, args.images)
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
