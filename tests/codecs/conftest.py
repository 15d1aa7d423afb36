"""What the codec tests share: the shipped checkpoints (the real sample photo is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from neurocodec.codecs import registry


def shipped(name: str):  # noqa: ANN201
    """The shipped image codec `name`, or skip when its checkpoint is absent."""
    path = registry.CHECKPOINT_DIR / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"no shipped checkpoint {path.name}")
    return registry.load_image_codec(name)


def unzero(codec):  # noqa: ANN001, ANN201
    """Give the layers a new mambaic starts at zero (VSS output projections, the context
    model's corrections) random weights, so that untrained tests exercise every path."""
    import torch

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in codec.named_parameters():
            if (name.startswith("parameters_net.") or "out_proj" in name or "body.2" in name) and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    codec.refresh_hash()
    return codec
