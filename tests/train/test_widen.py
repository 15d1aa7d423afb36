"""neurocodec.train.widen: a hyperprior widened to more latent channels codes as the trained one
did at the start (same reconstruction, a few more bits for the new channels' zeros), round-trips
bit-exact, and every new part gets a gradient, so training can use the new channels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neurocodec.bitstream import dumps, loads
from neurocodec.errors import InputError
from neurocodec.evaluate.latent_usage import latent_usage
from neurocodec.train.widen import widen_latent
from tests.codecs.conftest import shipped


@pytest.fixture(scope="module")
def pair():  # noqa: ANN201
    old = shipped("hyperprior").eval()
    return old, widen_latent(old, old.M + 48)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / F.mse_loss(a.clamp(0, 1), b)))


@pytest.mark.parametrize("quality", [1, 6])
def test_widened_codes_like_the_original(pair, photo, quality):
    old, new = pair
    x = photo[..., 64:192, 64:256]  # 128 x 192 of the real photo
    p_old, r_old = old.compress(x, quality)
    p_new, r_new = new.compress(x, quality)
    assert new.M == old.M + 48 and new.config["M"] == new.M
    assert abs(_psnr(r_new, x) - _psnr(r_old, x)) < 0.05
    bytes_old, bytes_new = len(dumps(p_old)), len(dumps(p_new))
    assert bytes_old <= bytes_new <= 1.05 * bytes_old + 16  # the new channels' zeros cost a little
    # and the file decodes bit-exact under the unchanged decoder
    assert torch.equal(new.decompress(loads(dumps(p_new))), r_new)


def test_every_new_part_gets_a_gradient(pair, photo):
    old, new = pair
    m0, m = old.M, new.M
    new = widen_latent(old, m).train()
    x = photo[..., :128, :128]
    q = torch.tensor([5])
    out = new(x, q)
    bpp = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / x[0, 0].numel()
    loss = new.lambdas[5] * 255**2 * F.mse_loss(out["x_hat"], x) + bpp
    loss.backward()
    grads = {
        "g_a new rows": new.g_a[6].weight.grad[m0:],
        "g_s new inputs": new.g_s[0].weight.grad[m0:],
        "h_a new inputs": new.h_a[0].weight.grad[:, m0:],
        "h_s new scales": new.h_s[4].weight.grad[m0:m],
        "gains of new channels": new.gains.log_gain.grad[:, m0:],
    }
    for what, g in grads.items():
        assert g is not None and g.abs().sum() > 0, what


def test_widen_refuses_bad_widths(pair):
    old, new = pair
    with pytest.raises(InputError, match="must exceed"):
        widen_latent(old, old.M)
    with pytest.raises(InputError, match="takes a hyperprior"):
        widen_latent(shipped("shallow-2l"), 192)
    assert torch.equal(widen_latent(old, new.M).g_a[6].weight, new.g_a[6].weight)  # seeded


def test_latent_usage_sees_the_new_channels_unused(pair, photo):
    """The usage report: a freshly widened model codes nothing in its new channels (their
    symbols are all zero at every level), while the old channels carry more nonzero symbols
    at higher quality."""
    old, new = pair
    x = photo[..., :128, :192]
    rows = latent_usage(new, [x], split=old.M)
    assert [r.quality for r in rows] == list(new.qualities)
    for r in rows:
        assert r.split_nonzero == 0 and r.split_active == 0
        assert 0 <= r.split_bit_share < 0.05  # the zeros cost a little
    assert rows[-1].nonzero > rows[0].nonzero > 0
    assert rows[-1].y_bpp > rows[0].y_bpp
    plain = latent_usage(old, [x])
    assert plain[-1].split_nonzero is None
    assert abs(plain[-1].y_bpp - rows[-1].y_bpp) < 0.1 * plain[-1].y_bpp
    with pytest.raises(InputError, match="outside"):
        latent_usage(old, [x], split=old.M)
