"""Integer networks: exact (equal to an int64 reference), independent of threads, oneDNN and
memory layout, close to their float simulation and to the float layers they replace, and
refused when their accumulator could leave the exact range."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from neurocodec.entropy import integer_nets as inet
from neurocodec.entropy.models import quantize_scales, quantize_weights
from neurocodec.errors import IntegerRangeError, NeurocodecError


def _net(seed: int = 0) -> inet.IntSequential:
    torch.manual_seed(seed)
    return inet.IntSequential(
        inet.IntConvTranspose2d(12, 16, 5, stride=2, padding=2, output_padding=1), inet.IntLeakyReLU(),
        inet.int_subpel_conv3x3(16, 6, 2), inet.IntLeakyReLU(),
        inet.IntConv2d(6, 10, 3, padding=1, out_frac=[inet.SCALE_FRAC] * 5 + [inet.MEAN_FRAC] * 5, out_limit=inet.OUT_LIMIT),
    ).eval()


def _input(seed: int = 1, shape=(2, 12, 7, 9)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 4


def _reference_conv2d(x: torch.Tensor, layer: inet.IntConv2d) -> torch.Tensor:
    """Direct int64 convolution (loops over kernel taps), then the layer's rounding shift."""
    W, B, shift = layer.integer_parameters()
    W, B = W.long(), B.long()
    p, s = layer.padding[0], layer.stride[0]
    xp = torch.nn.functional.pad(x, (p, p, p, p))
    k = W.shape[-1]
    ho = (xp.shape[-2] - k) // s + 1
    wo = (xp.shape[-1] - k) // s + 1
    acc = torch.zeros(x.shape[0], W.shape[0], ho, wo, dtype=torch.int64)
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i : i + s * ho : s, j : j + s * wo : s]  # [B, in, ho, wo]
            acc += torch.einsum("bchw,oc->bohw", patch, W[:, :, i, j])
    acc += B[None, :, None, None]
    sh = shift[None, :, None, None]
    half = torch.where(sh > 0, 1 << (sh - 1).clamp_min(0), torch.zeros_like(sh))
    return torch.div(acc + half, 1 << sh, rounding_mode="floor").clamp(-layer.out_limit, layer.out_limit)


def test_float64_path_equals_int64_reference():
    torch.manual_seed(3)
    layer = inet.IntConv2d(7, 5, 3, stride=2, padding=1, out_frac=[8, 9, 10, 11, 12]).eval()
    with torch.no_grad():
        layer.bias.mul_(40)  # biases that matter
    x = inet.to_fixed(_input(shape=(2, 7, 11, 13)) * 50)  # activations over the whole range
    x[0, 0, 0, :4] = torch.tensor([inet.ACT_LIMIT, -inet.ACT_LIMIT, inet.ACT_LIMIT, -inet.ACT_LIMIT])
    assert torch.equal(layer.forward_int(x), _reference_conv2d(x, layer))


def test_exact_under_threads_onednn_and_layout():
    net, x = _net(), _input()
    xi = inet.to_fixed(x)
    ref = net.forward_int(xi)
    old = torch.get_num_threads()
    try:
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            assert torch.equal(net.forward_int(xi), ref), t
            with torch.backends.mkldnn.flags(enabled=False):
                assert torch.equal(net.forward_int(xi), ref), t
            assert torch.equal(net(x.contiguous(memory_format=torch.channels_last)), net(x))
    finally:
        torch.set_num_threads(old)


def test_simulation_tracks_exact_path_and_has_gradients():
    net, x = _net(), _input()
    exact = net(x)  # eval: exact path, real units
    net.train()
    sim = net(x)
    assert exact.shape == sim.shape
    # the simulation rounds like the integer path; float32 sums may move a rounding step
    assert (sim - exact).abs().max() < 0.02 * (1 + exact.abs().max())
    sim.square().mean().backward()
    for p in net.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_simulation_stays_float32_under_bf16_autocast():
    """bf16-mixed training: the simulation of the fixed-point path runs in float32 with autocast
    off, so it equals the float32 simulation exactly (bfloat16 would be coarser than 2^-10)."""
    net, x = _net().train(), _input()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sim = net(x.bfloat16())
    assert sim.dtype == torch.float32 and torch.equal(sim, net(x.bfloat16().float()))


def test_converted_float_layers_give_the_same_outputs():
    torch.manual_seed(5)
    flt = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.LeakyReLU(0.01), nn.Conv2d(12, 4, 1))
    itg = inet.IntSequential(inet.IntConv2d(8, 12, 3, padding=1), inet.IntLeakyReLU(), inet.IntConv2d(12, 4, 1))
    itg.load_state_dict(flt.state_dict())  # same parameter names: float checkpoints load as is
    x = _input(shape=(1, 8, 6, 6))
    with torch.no_grad():
        # fixed point 2^-10 and a leaky slope of 41/4096 instead of 0.01
        assert (itg.eval()(x) - flt(x)).abs().max() < 4e-3


def test_huge_fan_in_is_refused_when_built():
    with pytest.raises(IntegerRangeError, match="fan-in"):
        inet.IntConv2d(40000, 4, 7)


def test_weights_that_could_overflow_are_refused_when_loaded():
    layer = inet.IntConv2d(4, 4, 3)
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    state["bias"][0] = 1e12  # the bias integer alone would pass 2^52
    with pytest.raises(IntegerRangeError, match="accumulator bound"):
        layer.load_state_dict(state)
    assert issubclass(IntegerRangeError, NeurocodecError)
    with torch.no_grad():
        layer.bias[1] = 1e12
    with pytest.raises(IntegerRangeError):  # and before any exact evaluation
        layer.forward_int(torch.zeros(1, 4, 3, 3, dtype=torch.int64))
    assert inet.check_bounds(_net()) == 3


def test_scale_indexes_match_the_float_quantiser_exactly():
    frac = inet.SCALE_FRAC
    bounds = inet._scale_boundaries(frac)
    s = torch.cat([bounds - 1, bounds, bounds + 1, torch.tensor([-5, 0, 1, 1 << 40]),
                   torch.randint(0, 1 << 26, (5000,), generator=torch.Generator().manual_seed(0))])
    expect = quantize_scales(s.double() / (1 << frac))  # exact: s / 2^12 is a float64 value
    assert torch.equal(inet.scale_indexes(s), expect)


def test_mixture_weights_are_q16_and_close_to_softmax():
    g = torch.Generator().manual_seed(0)
    for k in range(1, 9):
        logits = torch.randint(-3000, 3000, (400, k), generator=g)
        logits[:10] = 0  # ties
        logits[10:20, 0] = 1 << 29  # one dominant component
        w = inet.mixture_weights_q16(logits)
        assert w.dtype == torch.int32 and bool((w.sum(-1) == 65536).all()) and bool((w >= 0).all())
        soft = torch.softmax(logits.double() / 256, -1)
        assert (w.double() / 65536 - soft).abs().max() < 1e-4 * k
        assert torch.equal(quantize_weights(inet.exp_table()[0] * torch.ones(3, k)).sum(-1), torch.full((3,), 65536, dtype=torch.int32))


def test_exp_table_is_pinned():
    t = inet.exp_table()
    assert int(t[0]) == 65536 and int(t[256]) == 24109 and int(t[-1]) == 0
    digest = hashlib.sha256(t.numpy().astype("<i8").tobytes()).hexdigest()
    assert digest == EXP_TABLE_SHA256, digest


EXP_TABLE_SHA256 = "d4fed58ec38b4f523071f713da61d00154f4cfb79c677df1c412b266da73934d"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_integers():
    net, x = _net(), _input(shape=(2, 12, 17, 23))
    xi = inet.to_fixed(x)
    cpu = net.forward_int(xi)
    gpu = net.to("cuda").forward_int(xi.to("cuda")).cpu()
    assert torch.equal(cpu, gpu)
    logits = torch.randint(-4000, 4000, (1000, 3))
    assert torch.equal(inet.mixture_weights_q16(logits), inet.mixture_weights_q16(logits.cuda()).cpu())
    s = torch.randint(0, 1 << 26, (5000,))
    assert torch.equal(inet.scale_indexes(s), inet.scale_indexes(s.cuda()).cpu())


def test_integer_weights_follow_any_change_of_the_float_weights():
    import pickle

    layer = inet.IntConv2d(4, 3, 3, padding=1).eval()
    x = inet.to_fixed(_input(shape=(1, 4, 6, 6)))
    a = layer.forward_int(x)
    layer.weight.data.mul_(0.5)  # bypasses the version counter
    b = layer.forward_int(x)
    fresh = inet.IntConv2d(4, 3, 3, padding=1).eval()
    fresh.load_state_dict(layer.state_dict())
    assert not torch.equal(a, b) and torch.equal(b, fresh.forward_int(x))
    copy = pickle.loads(pickle.dumps(layer))  # picklable (DDP spawn, torch.save of modules)
    assert torch.equal(copy.forward_int(x), b)


def test_exp_table_ignores_the_callers_decimal_context():
    import decimal

    inet.exp_table.cache_clear()
    try:
        with decimal.localcontext() as ctx:
            ctx.prec, ctx.rounding = 6, decimal.ROUND_DOWN
            t = inet.exp_table()
        assert hashlib.sha256(t.numpy().astype("<i8").tobytes()).hexdigest() == EXP_TABLE_SHA256
    finally:
        inet.exp_table.cache_clear()
