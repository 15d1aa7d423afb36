"""Image codecs: bit-exact round trips at odd sizes, errors on bad files and wrong weights.

Untrained small models exercise the code paths (the coding path does not depend on training);
the shipped checkpoints are checked in test_checkpoints.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.entropy import integer_nets as inet
from neurocodec.errors import BitstreamError, InputError, ModelMismatchError, NeurocodecError


SMALL_EXTRA = {"shallow-2l": {"A": 16}, "shallow-jpeg": {"A": 16},
               "mambaic": {"slices": 3, "state": 2, "context": 8, "agg": 16, "window": 4},
               "gmm-gdn": {"transform": "gdn"}}


@pytest.fixture(scope="module", params=["hyperprior", "gmm", "gmm-gdn", "shallow-2l", "shallow-jpeg", "mambaic"])
def codec(request):
    torch.manual_seed(0)
    extra = SMALL_EXTRA.get(request.param, {})
    c = registry.build(request.param.removesuffix("-gdn"), N=16, M=24, qualities=3, **extra).eval()
    if request.param == "mambaic":
        from tests.codecs.conftest import unzero

        unzero(c)
    c.update()
    return c


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 13.0)[..., None] * np.array([1.0, 0.6, -0.4])
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (64, 64), (513, 769)])
def test_odd_sizes_roundtrip_bit_exact(codec, size):
    rgb = _image(*size)
    from neurocodec.io.images import to_tensor

    payload, x_hat = codec.compress(to_tensor(rgb), quality=2)
    data = bitstream.dumps(payload)
    back = codec.decompress(bitstream.loads(data))
    assert back.shape == (1, 3, *size)
    assert torch.equal(back, x_hat)  # decoder == encoder's reconstruction, bit for bit
    assert bitstream.loads(data).metadata == {"height": size[0], "width": size[1], "quality": 2}
    out = codec.decode_image(data)
    assert out.shape == (*size, 3) and out.dtype == np.uint8


def test_qualities_are_distinct_and_checked(codec):
    import copy

    rgb = _image(64, 96)
    c = copy.deepcopy(codec)
    with torch.no_grad():  # untrained latents are ~0 at any gain: give the levels real gains
        c.gains.log_gain.copy_(torch.tensor([2.0, 4.0, 6.0])[:, None].expand_as(c.gains.log_gain))
    c.refresh_hash()
    sizes = [len(c.encode_image(rgb, q)) for q in c.qualities]
    assert sizes[0] < sizes[1] < sizes[2], sizes
    for bad in (0, len(codec.qualities) + 1):
        with pytest.raises(InputError, match="quality"):
            codec.encode_image(rgb, bad)


def test_corrupt_and_truncated_files(codec):
    data = codec.encode_image(_image(40, 50), 1)
    rng = np.random.default_rng(1)
    for cut in sorted(set(rng.integers(0, len(data), 40).tolist())):
        with pytest.raises(BitstreamError):
            codec.decode_image(data[:cut])
    for _ in range(40):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
        with pytest.raises(NeurocodecError):
            codec.decode_image(bytes(b))


def test_implausible_metadata_is_refused(codec):
    payload, _ = codec.compress(torch.rand(1, 3, 8, 8), 1)
    payload.metadata["height"] = 10**9
    with pytest.raises(BitstreamError, match="size"):
        codec.decompress(payload)
    payload.metadata.pop("height")
    with pytest.raises(BitstreamError):
        codec.decompress(payload)


def test_wrong_weights_or_codec_is_refused(codec):
    data = codec.encode_image(_image(32, 32), 1)
    torch.manual_seed(1)
    other = registry.build(codec.name, N=16, M=24, qualities=3).eval()
    with pytest.raises(ModelMismatchError, match="same checkpoint"):
        other.decode_image(data)
    name = "gmm" if codec.name == "hyperprior" else "hyperprior"
    with pytest.raises(ModelMismatchError, match="codec"):
        registry.build(name, N=16, M=24, qualities=3).eval().decode_image(data)


def test_huge_sizes_are_refused_before_allocation(codec):
    payload, _ = codec.compress(torch.rand(1, 3, 8, 8), 1)
    payload.metadata.update(height=20000, width=20000)  # 400 MP: over the cap
    with pytest.raises(BitstreamError, match="size"):
        codec.decompress(payload)
    big = torch.zeros(1, 3, 1, 1).expand(1, 3, 9000, 8000)  # 72 MP, a view: no memory used
    with pytest.raises(InputError, match="size"):
        codec.compress(big, 1)


def test_bad_tensor_input(codec):
    with pytest.raises(InputError):
        codec.compress(torch.rand(3, 8, 8), 1)
    with pytest.raises(InputError):
        codec.compress(torch.rand(1, 4, 8, 8), 1)


def test_checkpoint_save_and_load(codec, tmp_path):
    path = registry.save_checkpoint(codec, tmp_path / "c.pt")
    loaded = registry.load(path)
    assert loaded.weights_hash() == codec.weights_hash()
    data = codec.encode_image(_image(24, 40), 2)
    np.testing.assert_array_equal(loaded.decode_image(data), codec.decode_image(data))
    half = registry.save_checkpoint(loaded, tmp_path / "h.pt", update_quantiles=True, half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    h = registry.load(half)
    assert h.weights_hash() == loaded.weights_hash()  # the codec in memory is the file's model
    bounds = [m.bound for m in h.modules() if type(m).__name__ == "LowerBound"]
    assert bounds and all(float(b.min()) > 0 for b in bounds)  # 1e-9 must not underflow
    d2 = loaded.encode_image(_image(24, 40), 2)
    np.testing.assert_array_equal(h.decode_image(d2), loaded.decode_image(d2))
    with pytest.raises(NeurocodecError, match="no checkpoint"):
        registry.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(NeurocodecError, match="cannot read"):
        registry.load(tmp_path / "junk.pt")


def test_a_failed_checkpoint_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """save_checkpoint writes a temporary file and renames it: a save that dies half way
    (disk full, killed) leaves the previous checkpoint loadable and no temporary behind."""
    small = registry.build("hyperprior", N=8, M=8, qualities=2)
    path = registry.save_checkpoint(small, tmp_path / "run" / "c.pt")  # the folder is made
    before = path.read_bytes()

    def torn(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(registry.torch, "save", torn)
    with pytest.raises(OSError, match="No space"):
        registry.save_checkpoint(registry.build("hyperprior", N=8, M=8, qualities=2), path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]
    monkeypatch.undo()
    assert registry.load(path).weights_hash() == small.weights_hash()


def test_checkpoint_whose_integer_layers_could_overflow_is_refused(codec, tmp_path):
    from neurocodec.errors import IntegerRangeError

    path = registry.save_checkpoint(codec, tmp_path / "c.pt")
    ckpt = torch.load(path, weights_only=True)
    key = next(k for k in ckpt["state_dict"] if k.startswith("h_s.") and k.endswith("bias"))
    ckpt["state_dict"][key][0] = 1e15  # its integer bias alone passes 2^52
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(IntegerRangeError, match="accumulator bound"):
        registry.load(tmp_path / "bad.pt")


def test_entropy_parameter_networks_are_integer_networks(codec):
    """The rule: every network between the decoded symbols and the coder's parameters is an
    integer network (exact on any device); the float transforms never feed the coder."""
    from neurocodec.entropy.integer_nets import IntegerModule

    for name in ("h_s", "context", "entropy_parameters"):
        if hasattr(codec, name):
            assert isinstance(getattr(codec, name), IntegerModule), name
    # training mode: the simulation carries gradients into the integer networks' weights
    c = type(codec)(N=16, M=24, qualities=3).train()
    out = c(torch.rand(1, 3, 64, 64), torch.tensor([1]))
    (c.bpp(out["likelihoods"], 64 * 64).sum() + out["x_hat"].square().mean()).backward()
    assert c.h_s[0].weight.grad is not None and c.h_s[0].weight.grad.abs().sum() > 0


def test_grayscale_round_trip_is_one_channel(codec, tmp_path):
    from PIL import Image

    from neurocodec.io.images import load_image_info, save_image, to_gray8

    gray = _image(37, 50)[:, :, 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    info = load_image_info(tmp_path / "g.png")
    data = codec.encode_image(info.rgb, 2, gray=info.gray)
    payload = bitstream.loads(data)
    assert payload.metadata == {"height": 37, "width": 50, "quality": 2, "color": "gray"}
    out = codec.decode_image(data)
    assert out.shape == (37, 50) and out.dtype == np.uint8  # one channel: no tint
    rgb_out = codec.decompress(payload)  # the networks decode three channels ...
    np.testing.assert_array_equal(out, to_gray8(rgb_out))  # ... the output is their mean
    mean = rgb_out[0].mean(0).mul(255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(out, mean)
    np.testing.assert_array_equal(codec.decode_payload(payload), out)
    assert codec.encode_image(gray, 2) == data  # a 2-D array is gray too
    save_image(out, tmp_path / "back.png")
    with Image.open(tmp_path / "back.png") as img:
        assert img.mode == "L" and img.size == (50, 37)
    with pytest.raises(InputError, match="channels differ"):
        codec.encode_image(_image(8, 8), 1, gray=True)

    rgb_data = codec.encode_image(_image(37, 50), 2)  # RGB files: metadata and output as before
    assert bitstream.loads(rgb_data).metadata == {"height": 37, "width": 50, "quality": 2}
    assert codec.decode_image(rgb_data).shape == (37, 50, 3)


@pytest.mark.parametrize("color", ["grey", "cmyk", "", 1, None])
def test_unknown_color_is_refused(codec, color):
    payload = bitstream.loads(codec.encode_image(_image(8, 8), 1))
    payload.metadata["color"] = color
    with pytest.raises(BitstreamError, match="color"):
        codec.decompress(payload)
    with pytest.raises(BitstreamError, match="color"):
        codec.decode_image(bitstream.dumps(payload))
    payload.metadata["color"] = "rgb"  # explicit rgb is the default
    assert codec.decode_payload(payload).shape == (8, 8, 3)


def test_shallow_codec_starts_from_the_hyperprior_parts():
    from tests.codecs.conftest import shipped

    hp = shipped("hyperprior")
    s = registry.build("shallow-2l", N=hp.N, M=hp.M, A=16)
    assert s.init_from_hyperprior(hp) == ["h_a", "h_s", "entropy_bottleneck", "gains"]
    assert torch.equal(s.h_s[4].weight, hp.h_s[4].weight) and torch.equal(s.gains.log_gain, hp.gains.log_gain)
    other = registry.build("shallow-jpeg", N=16, M=24, A=16)
    assert other.init_from_hyperprior(hp) == []  # other shapes: nothing copied
    jpeg = registry.build("shallow-jpeg", N=hp.N, M=hp.M, A=16)
    assert jpeg.init_from_hyperprior(s) == ["g_a", "h_a", "h_s", "entropy_bottleneck", "gains"]  # from shallow-2l
    assert torch.equal(jpeg.g_a[0].weight, s.g_a[0].weight)


def test_mambaic_starts_from_a_hyperprior_or_gmm_of_the_same_size():
    from tests.codecs.conftest import shipped

    hp = shipped("hyperprior")
    m = registry.build("mambaic", N=hp.N, M=hp.M, slices=4, state=2, context=8, agg=16)
    assert m.init_from_hyperprior(hp) == ["g_a", "g_s", "entropy_bottleneck", "gains", "h_a", "h_s"]
    assert torch.equal(m.g_s[-1].weight, hp.g_s[-1].weight) and torch.equal(m.h_s[5].weight, hp.h_s[4].weight)
    # the VSS blocks and the context corrections start at zero: exactly the hyperprior's files' symbols
    m.eval().update()
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(0))
    assert m.estimated_bits(x, 3) == hp.estimated_bits(x, 3)
    assert torch.equal(m.compress(x, 3)[1], hp.compress(x, 3)[1])
    gmm = registry.build("gmm", N=16, M=24, qualities=3)
    m = registry.build("mambaic", N=16, M=24, qualities=3, slices=3, state=2, context=8, agg=16, transform="residual")
    assert m.init_from_hyperprior(gmm) == ["g_a", "g_s", "entropy_bottleneck", "gains"]
    assert torch.equal(m.g_s[-1][0].weight, gmm.g_s[-1][0].weight)
    assert m.init_from_hyperprior(hp) == []  # other sizes and layout


def test_gmm_with_gdn_transforms_starts_from_a_hyperprior():
    from tests.codecs.conftest import shipped

    hp = shipped("hyperprior")
    g = registry.build("gmm", N=hp.N, M=hp.M, K=3, transform="gdn")
    assert g.config["transform"] == "gdn"
    assert g.init_from_hyperprior(hp) == ["g_a", "g_s", "h_a", "h_s", "entropy_bottleneck", "gains"]
    assert torch.equal(g.g_s[-1].weight, hp.g_s[-1].weight) and torch.equal(g.h_s[4].weight, hp.h_s[4].weight)
    g.eval().update()
    # the hyper features are the hyperprior's (scales, means), in Q10 instead of Q12 / Q8
    z = torch.randn(1, hp.N, 2, 3, generator=torch.Generator().manual_seed(1)).round()
    s_hp, m_hp = hp.h_s(z).chunk(2, 1)
    s_g, m_g = g._hyper_int(z).double().div(1 << 10).chunk(2, 1)
    assert (s_g - s_hp.double()).abs().max() <= 2 ** -10 and (m_g - m_hp.double()).abs().max() <= 2 ** -8
    # and the mixture's parameters are offsets from them, starting near 0: without the random spread, every
    # component is the hyperprior's Gaussian (its scale index; its mean, relative to the hyper mean
    # that y is rounded against, zero) with equal weights
    g0 = registry.build("gmm", N=hp.N, M=hp.M, K=3, transform="gdn")
    g0.SYMMETRY_BREAK = 0.0
    g0.init_from_hyperprior(hp)
    g0.eval()
    z3 = (3 * torch.randn(1, hp.N, 2, 3, generator=torch.Generator().manual_seed(2))).round()
    idx_hp, means_hp = hp.hyper_int(z3)
    for anchors in (True, False):
        r, c = g0._points(8, 12, anchors, z3.device)
        means_q, scale_idx, weights = g0._params_int(g0._hyper_int(z3), r, c, None)
        assert (scale_idx - idx_hp[:, :, r, c, None]).abs().max() <= 1
        assert (scale_idx == idx_hp[:, :, r, c, None]).float().mean() > 0.98
        assert not means_q.any()
        offset = g0._offset(g0._hyper_int(z3), exact=True)[:, :, r, c]
        assert (offset - inet.means_of_q8(means_hp[:, :, r, c])).abs().max() <= 2 ** -9 + 2 ** -11
        assert weights.min() >= (1 << 16) // 3 - 1 and weights.max() <= (1 << 16) // 3 + 2
    # with it (the default), rate and reconstruction are the hyperprior's, within 2 % and 0.05 dB,
    # on a smooth and on a textured image
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 192), indexing="ij")
    for noise in (0.02, 0.1):
        x = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 3 * yy), yy, 0.3 + 0.5 * xx * yy])[None]
        x = (x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
        for q in (1, 3, 6):
            assert g.estimated_bits(x, q) == pytest.approx(hp.estimated_bits(x, q), rel=0.02)
            psnr = [float(-10 * torch.log10(((m(x, m.level(q))["x_hat"].clamp(0, 1) - x) ** 2).mean())) for m in (g, hp)]
            assert abs(psnr[0] - psnr[1]) < 0.05, psnr
    payload, x_hat = g.compress(x, 3)
    assert torch.equal(g.decompress(payload), x_hat)
    # the residual layout has other shapes: nothing but the factorised prior and gains loads
    r = registry.build("gmm", N=hp.N, M=hp.M, K=3)
    assert "transform" not in r.config
    assert r.init_from_hyperprior(hp) == ["entropy_bottleneck", "gains"]
    with pytest.raises(InputError, match="transform"):
        registry.build("gmm", N=16, M=24, transform="cnn")


def test_shallow_2l_starts_as_exactly_a_trained_shallow_jpeg():
    torch.manual_seed(0)
    jpeg = registry.build("shallow-jpeg", N=16, M=24, A=16)
    with torch.no_grad():
        jpeg.g_s.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    two = registry.build("shallow-2l", N=16, M=24, A=16)
    assert two.init_from_hyperprior(jpeg) == ["g_a", "h_a", "h_s", "entropy_bottleneck", "gains", "g_s"]
    y = torch.randn(1, 24, 3, 5) * 4
    ref = jpeg.g_s(y)
    assert ref.shape == (1, 3, 48, 80)
    torch.testing.assert_close(two.g_s(y), ref, rtol=0, atol=2e-5)
    two.eval()
    jpeg.eval()
    img = _image(40, 72)  # real files: the same pixels back from both codecs (uint8 rounding aside)
    a = two.decode_image(two.encode_image(img, 2)).astype(int)
    b = jpeg.decode_image(jpeg.encode_image(img, 2)).astype(int)
    assert a.shape == b.shape == (40, 72, 3) and np.abs(a - b).max() <= 1
    # the IGDN path starts at zero but learns: its weights get a gradient
    two.train()
    two.g_s(y).square().mean().backward()
    assert two.g_s.up.weight.grad.abs().sum() > 0
