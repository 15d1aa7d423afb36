"""What the codec tests share: the shipped checkpoints and the real sample photo."""

from __future__ import annotations

import pytest
import torch

from neurocodec.codecs import registry
from neurocodec.demo import sample_image_path
from neurocodec.io.images import load_image, to_tensor


def shipped(name: str):  # noqa: ANN201
    """The shipped image codec `name`, or skip when its checkpoint is absent."""
    path = registry.CHECKPOINT_DIR / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"no shipped checkpoint {path.name}")
    return registry.load_image_codec(name)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """The real 512x600 photo: about Kodak's size, where the 1% bound is stated."""
    return to_tensor(load_image(sample_image_path()))


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
