"""What codecs exist and where their checkpoints are, without importing torch: the command
line checks names and quality levels against this before it loads anything heavy."""

from __future__ import annotations

import json
import os
from pathlib import Path

from neurocodec.errors import InputError

# name -> modality; the registry builds them (a test keeps the two in step)
CODECS: dict[str, str] = {"hyperprior": "image", "gmm": "image", "shallow-2l": "image", "shallow-jpeg": "image", "mambaic": "image",
                          "dac": "audio", "snac": "audio", "hytip": "video"}

# Shipped checkpoints: $NEUROCODEC_CHECKPOINTS, else checkpoints/ of the checkout.
CHECKPOINT_DIR = Path(os.environ.get("NEUROCODEC_CHECKPOINTS") or Path(__file__).resolve().parents[2] / "checkpoints")


def check_name(name: str, modality: str | None = None) -> str:
    """Raise InputError naming the known codecs unless `name` is one (of `modality`)."""
    known = sorted(n for n, m in CODECS.items() if modality is None or m == modality)
    if name not in known:
        raise InputError(f"unknown codec {name!r}; known: {', '.join(known)}")
    return name


def card(name: str) -> dict | None:
    """The model card of a shipped checkpoint (checkpoints/<name>.json), or None."""
    try:
        return json.loads((CHECKPOINT_DIR / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def shipped_qualities(name: str) -> int | None:
    """Number of quality levels of a shipped checkpoint, from its card (None if unknown)."""
    c = card(name)
    try:
        return int(c["config"]["qualities"]) if c else None
    except (KeyError, TypeError, ValueError):
        return None
