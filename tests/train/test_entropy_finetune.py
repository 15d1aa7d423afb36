"""Entropy-model fine-tuning on cached latents: the rate it trains is the coder's, it lowers it;
for the gmm it changes the files' sizes but never their reconstructions."""

from __future__ import annotations

import pytest
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.errors import InputError
from neurocodec.train import entropy_finetune as ef


def _small_gmm():
    """An untrained gmm whose latent carries bits (its g_a's last layer x10: about 0.1, 3.5 and
    12 bits per element at the three levels on the photo)."""
    torch.manual_seed(0)
    codec = registry.build("gmm", N=16, M=24, K=3, transform="gdn", qualities=3).eval()
    with torch.no_grad():
        codec.g_a[-1].weight.mul_(10)
    codec.refresh_hash()
    return codec


def _crops(photo: torch.Tensor, n: int, size: int = 128) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(n):
        r = int(torch.randint(0, photo.shape[-2] - size, (1,), generator=g))
        c = int(torch.randint(0, photo.shape[-1] - size, (1,), generator=g))
        out.append(photo[..., r:r + size, c:c + size])
    return out


def test_cached_rate_is_the_coders(photo):
    codec = _small_gmm()
    x = photo[..., :128, :192]
    cache = ef.build_cache(codec, [x], flips=False)
    assert len(cache) == 3 and cache.entries[0]["symbols"].dtype == torch.int16
    for lv in range(3):
        with torch.no_grad():
            sim = float(ef.y_bits(codec, cache.entries[lv]["symbols"][None], cache.entries[lv]["hyper"][None]))
        with torch.no_grad():
            exact = float(-torch.log2(codec(codec.pad(x), torch.tensor([lv]))["likelihoods"]["y"]).sum())
        assert sim == pytest.approx(exact, rel=0.01)


def test_finetuning_lowers_the_rate_and_keeps_every_reconstruction(photo):
    codec = _small_gmm()
    held_out = photo[..., 300:428, 400:592]
    before = [codec.compress(held_out, q) for q in (1, 2, 3)]
    train = ef.build_cache(codec, _crops(photo, 6))
    start = ef.level_rates(codec, train)
    params = [p for n in ef.GmmRate.trained for p in getattr(codec, n).parameters()]
    frozen = {n: p.detach().clone() for n, p in codec.named_parameters() if not n.startswith(ef.GmmRate.trained)}
    opt = torch.optim.Adam(params, lr=3e-3)
    state = ef.finetune(codec, train, cpu_budget_s=1e9, state=ef.RunState(), optimizer=opt,
                        weights=1.0 / start, lr=3e-3, batch=4, crop=8, max_steps=40)
    assert state.step == 40
    end = ef.level_rates(codec, train)
    assert (end < 0.97 * start).all(), (start, end)  # an untrained context has a lot to learn
    for n, p in codec.named_parameters():  # only the two networks moved
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    codec.update()
    for q, (payload0, x_hat0) in zip((1, 2, 3), before):
        payload, x_hat = codec.compress(held_out, q)
        assert torch.equal(x_hat, x_hat0)  # the same symbols, the same image
        assert payload.sections["z"] == payload0.sections["z"]
        assert payload.sections["y1"] != payload0.sections["y1"]  # coded with other probabilities
        assert torch.equal(codec.decompress(bitstream.loads(bitstream.dumps(payload))), x_hat)


def test_mambaic_rates_are_the_coders_and_finetuning_lowers_them(photo):
    from tests.codecs.conftest import unzero

    torch.manual_seed(0)
    codec = registry.build("mambaic", N=16, M=24, qualities=3, slices=3, state=2, context=8, agg=16, window=4).eval()
    unzero(codec)
    with torch.no_grad():
        codec.g_a[-1].weight.mul_(10)
    codec.refresh_hash()
    x = photo[..., :128, :192]
    cache = ef.build_cache(codec, [x], flips=False)
    exact = ef.level_rates(codec, cache)
    pixels_y = 24 * 8 * 12
    for lv in range(3):  # the log's exact rate is the eval-mode codec's
        with torch.no_grad():
            lik = codec(codec.pad(x), torch.tensor([lv]))["likelihoods"]["y"]
        assert float(exact[lv]) * pixels_y == pytest.approx(float(-torch.log2(lik).sum()), rel=1e-5)
    train = ef.build_cache(codec, _crops(photo, 6))
    start = ef.level_rates(codec, train)
    frozen = {n: p.detach().clone() for n, p in codec.named_parameters() if not n.startswith(ef.MambaICRate.trained)}
    params = [p for n in ef.MambaICRate.trained for p in getattr(codec, n).parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    ef.finetune(codec, train, cpu_budget_s=1e9, state=ef.RunState(), optimizer=opt, weights=1.0 / start, lr=3e-3,
                batch=4, crop=8, max_steps=30)
    end = ef.level_rates(codec, train)
    assert (end < 0.97 * start).all(), (start, end)
    for n, p in codec.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    codec.update()
    payload, x_hat = codec.compress(x, 3)
    assert torch.equal(codec.decompress(bitstream.loads(bitstream.dumps(payload))), x_hat)


def test_only_a_gdn_gmm_or_a_mambaic_is_accepted():
    with pytest.raises(InputError, match="gdn"):
        ef.adapter(registry.build("gmm", N=16, M=24, K=3, qualities=3))
    with pytest.raises(InputError, match="gdn"):
        ef.adapter(registry.build("hyperprior", N=16, M=24, qualities=3))


def test_command_line_saves_and_resumes(tmp_path, photo):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i, x in enumerate(_crops(photo, 3)):
        arr = (x[0].permute(1, 2, 0) * 255).round().byte().numpy()
        Image.fromarray(arr).save(folder / f"{i}.png")
    start = tmp_path / "start.pt"
    registry.save_checkpoint(_small_gmm(), start)
    out = tmp_path / "run" / "out.pt"  # a folder that does not exist yet: made, as other trainers do
    args = [str(start), "--out", str(out), "--train-dir", str(folder), "--val-images", "1", "--steps", "3",
            "--batch", "2", "--crop", "4", "--minutes", "10"]
    assert ef.main(args) == 0
    assert torch.load(str(out) + ".state", weights_only=False)["step"] == 3
    assert ef.main(args) == 0  # resumes: three more
    state = torch.load(str(out) + ".state", weights_only=False)
    assert state["step"] == 6
    tuned = registry.load(out)
    assert tuned.weights_hash != registry.load(start).weights_hash
    with pytest.raises(InputError, match="more than 3 training images, found 3"):
        ef.main([str(start), "--out", str(tmp_path / "x.pt"), "--train-dir", str(folder), "--val-images", "3"])
