"""Codecs by name, and their checkpoints.

A checkpoint file (``checkpoints/<name>.pt``, or any path) is a torch file holding
``{"codec": name, "config": {...}, "state_dict": {...}}``; its model card is the JSON file of
the same stem. Weights are loaded with ``weights_only=True`` (no pickled code).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch

from neurocodec.codecs.base import Codec
from neurocodec.errors import CheckpointNotFoundError, InputError, NeurocodecError

log = logging.getLogger(__name__)

from neurocodec.codecs.catalog import CHECKPOINT_DIR, check_name  # noqa: E402  (re-exported)
DEFAULT_IMAGE_CODEC = "hyperprior"


def _image_builders() -> dict[str, Callable[..., Codec]]:
    from neurocodec.codecs.image.gmm import CheckerboardGMM
    from neurocodec.codecs.image.hyperprior import MeanScaleHyperprior
    from neurocodec.codecs.image.mambaic import MambaIC
    from neurocodec.codecs.image.shallow import ShallowJPEG, ShallowTwoLayer

    return {"hyperprior": MeanScaleHyperprior, "gmm": CheckerboardGMM, "shallow-2l": ShallowTwoLayer,
            "shallow-jpeg": ShallowJPEG, "mambaic": MambaIC}


def _audio_builders() -> dict[str, Callable[..., Codec]]:
    from neurocodec.codecs.audio.dac import DAC
    from neurocodec.codecs.audio.snac import SNAC

    return {"dac": DAC, "snac": SNAC}


def _video_builders() -> dict[str, Callable[..., Codec]]:
    from neurocodec.codecs.video.hytip import HyTIP

    return {"hytip": HyTIP}


def builders() -> dict[str, Callable[..., Codec]]:
    """All registered codec constructors by name."""
    return {**_image_builders(), **_audio_builders(), **_video_builders()}


def build(name: str, **config: Any) -> Codec:
    """A fresh (untrained) codec."""
    table = builders()
    if name not in table:
        check_name(name)  # names the known codecs
        raise InputError(f"codec {name!r} is listed but has no builder")
    return table[name](**config)


def checkpoint_path(name_or_path: str | Path) -> Path:
    """`checkpoints/<name>.pt` for a registered name, else the path itself."""
    p = Path(name_or_path)
    if p.suffix in (".pt", ".ckpt") or p.exists():
        return p
    return CHECKPOINT_DIR / f"{name_or_path}.pt"


def save_checkpoint(codec: Codec, path: str | Path, update_quantiles: bool = False, half: bool = False) -> Path:
    """Write a codec's weights (with its integer tables) as a checkpoint file.

    update_quantiles: first set the factorised priors' quantiles (the table ranges) by an exact
    bisection on the learned CDF instead of trusting the auxiliary loss (which converges
    slowly in short trainings). This changes the weights, hence the weights hash.
    half: store float weights as float16 (half the size; loaded back as float32). The codec
    itself is rounded to those values first and its tables rebuilt, so the file and the
    codec in memory are the same model.
    """
    if update_quantiles:
        from neurocodec.entropy.layers import EntropyBottleneck

        for m in codec.modules():
            if isinstance(m, EntropyBottleneck):
                m.update(force=True, update_quantiles=True)
        codec.refresh_hash()
    state = codec.state_dict()
    if half:
        # learned parameters only: float buffers hold constants such as likelihood bounds
        # (1e-9 underflows to 0 in float16)
        params = {n for n, _ in codec.named_parameters()}
        def _h(k: str, v: torch.Tensor) -> torch.Tensor:
            return v.half() if k in params and v.is_floating_point() else v

        codec.load_state_dict({k: _h(k, v).to(v.dtype) for k, v in state.items()})
        codec.refresh_hash()
        codec.update(force=True)
        state = {k: _h(k, v) for k, v in codec.state_dict().items()}
    else:
        codec.update()
        state = codec.state_dict()
    from neurocodec.io.files import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, force=True) as tmp:  # written whole, then renamed: never a torn checkpoint
        torch.save({"codec": codec.name, "config": codec.config, "state_dict": state}, tmp)
    return path


def load(name_or_path: str | Path, map_location: str = "cpu", intra: str | Path | None = None) -> Codec:
    """Load a trained codec from `checkpoints/<name>.pt` or a checkpoint path (our .pt or a
    Lightning .ckpt written by neurocodec-train). A video codec also loads its I-frame codec:
    `intra` (a name or path), else the one named in its config; its weights must be the ones
    it was trained with (ModelMismatchError otherwise)."""
    path = checkpoint_path(name_or_path)
    if not path.exists():
        raise CheckpointNotFoundError(f"no checkpoint at {path}; train one (neurocodec-train fit ...) or pass --checkpoint")
    if path.is_dir():
        raise NeurocodecError(f"checkpoint {path} is a folder, not a checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise NeurocodecError(
            f"cannot read checkpoint {path}: not a PyTorch checkpoint file, or a damaged one "
            f"(torch.load: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'no detail'})"
        ) from None
    if not isinstance(ckpt, dict):
        raise NeurocodecError(f"{path} is a PyTorch file but not a neurocodec checkpoint (it holds a {type(ckpt).__name__})")
    if "state_dict" in ckpt and "codec" not in ckpt:  # a Lightning checkpoint
        hp = ckpt.get("hyper_parameters", {})
        name, config = hp.get("codec"), dict(hp.get("codec_config") or {})
        state = {k.removeprefix("codec."): v for k, v in ckpt["state_dict"].items() if k.startswith("codec.")}
    else:
        name, config, state = ckpt.get("codec"), dict(ckpt.get("config") or {}), ckpt.get("state_dict")
    if not name or state is None:
        raise NeurocodecError(f"{path} is not a neurocodec checkpoint")
    for key in ("lambdas", "strides", "rvq_strides", "intra_qualities", "ctx"):
        if config.get(key) is not None:
            config[key] = tuple(config[key])
    codec = build(name, **config)
    codec.load_state_dict(state)
    codec.eval()
    codec.update()
    if codec.modality == "video":
        codec.attach_intra(_intra_codec(intra, config, map_location))
    return codec


def _intra_codec(intra: str | Path | None, config: dict, map_location: str) -> Codec:
    """The I-frame codec of a video codec: `intra` when given, else the shipped checkpoint named
    in its config; when that one's weights are not the pinned ones (``intra_hash``: the image
    codec was improved after the video codec was trained), the kept earlier version
    ``checkpoints/<name>-<hash>.pt``. Git stores that file as the same blob as the earlier
    ``<name>.pt``, so keeping it costs nothing."""
    if intra is not None:
        return load(intra, map_location)
    name = config.get("intra", DEFAULT_IMAGE_CODEC)
    codec = load(name, map_location)
    pinned = config.get("intra_hash")
    if pinned and codec.weights_hash().hex() != pinned:
        earlier = CHECKPOINT_DIR / f"{name}-{pinned}.pt"
        if earlier.exists():
            codec = load(earlier, map_location)
    return codec


def load_image_codec(name: str = DEFAULT_IMAGE_CODEC, checkpoint: str | Path | None = None) -> Codec:
    """A trained image codec by name (shipped checkpoint) or from a checkpoint path."""
    codec = load(checkpoint or name)
    if codec.modality != "image":
        raise InputError(f"{codec.name} is not an image codec")
    if checkpoint is None and codec.name != name:
        raise NeurocodecError(f"checkpoint for {name!r} holds codec {codec.name!r}")
    return codec
