"""Integer VSS blocks and window attention: the exact path is close to the float simulation,
identical under every thread count, and handles any size (latents smaller than a window)."""

from __future__ import annotations

import math

import pytest
import torch

from neurocodec.entropy import integer_nets as inet
from neurocodec.entropy.integer_vss import (
    ConvMixer,
    IntLayerNorm,
    IntSiLU,
    VSSBlock,
    WindowAttention,
    decay_tables,
    int_selective_scan,
    sigmoid_table,
    softplus_table,
)
from neurocodec.nn.scan import selective_scan_reference


def test_tables_hold_the_correctly_rounded_values():
    sig, sp = sigmoid_table(), softplus_table()
    assert sig.numel() == sp.numel() == 8193
    assert int(sig[4096]) == 1 << 14 and int(sig[0]) == 0 and int(sig[-1]) == 1 << 15
    assert int(sp[4096]) == round(math.log(2) * 65536)
    assert (sig.diff() >= 0).all() and (sp.diff() >= 0).all()
    coarse, fine = decay_tables()
    assert int(coarse[0]) == int(fine[0]) == 1 << 16
    assert int(coarse[64]) == round(math.exp(-1) * 65536)


@pytest.mark.parametrize("block", [IntLayerNorm(), IntSiLU(), VSSBlock(24, 4), WindowAttention(24, 4), ConvMixer(24, 4)],
                         ids=lambda b: type(b).__name__)
def test_exact_path_is_close_to_the_simulation_and_thread_independent(block):
    torch.manual_seed(0)
    x = torch.randn(2, 24, 9, 7) * 2
    block.train()
    with torch.no_grad():
        sim = block(x)
    block.eval()
    exact = block(x)
    assert sim.shape == exact.shape == x.shape
    assert (sim - exact).abs().max() < 0.02 * max(1.0, float(sim.abs().max()))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = block(x)
        torch.set_num_threads(3)
        three = block(x.contiguous(memory_format=torch.channels_last))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, exact) and torch.equal(three, exact)


def test_integer_scan_follows_the_recurrence():
    g = torch.Generator().manual_seed(0)
    b, d, n, length = 1, 6, 4, 50
    u = torch.randn(b, d, length, generator=g)
    delta = torch.rand(b, d, length, generator=g) * 0.2
    a = torch.rand(d, n, generator=g) * 2 + 0.5
    bm = torch.randn(b, 2, n, length, generator=g)
    cm = torch.randn(b, 2, n, length, generator=g)
    dd = torch.randn(d, generator=g)
    q = lambda t, f: torch.round(t.double() * 2**f).long()  # noqa: E731
    y = int_selective_scan(q(u, 10), q(delta, 16), q(a, 12), q(bm, 10), q(cm, 10), q(dd, 12)).double() / 1024
    ref = selective_scan_reference(u.double(), delta.double(), -a.double(), bm.double(), cm.double(), dd.double())
    assert (y - ref).abs().max() < 5e-3 * ref.abs().max()


def _ramp(shape: tuple[int, ...], lo: int, hi: int, mult: int) -> torch.Tensor:
    """Deterministic integers in [lo, hi] from arithmetic alone (no random generator whose
    stream could change between library versions)."""
    i = torch.arange(math.prod(shape), dtype=torch.int64)
    return (i * mult % 1000003 % (hi - lo + 1) + lo).reshape(shape)


def test_integer_scan_output_is_pinned():
    """Files depend on the exact scan bit for bit: a faster evaluation must give these very
    integers, saturated (every clamp taken) and mild."""
    import zlib

    from neurocodec.entropy import integer_vss as iv

    d, n, length = 16, 4, 97
    u = _ramp((2, d, length), -iv.ACT_LIMIT, iv.ACT_LIMIT, 2654435761)
    delta = _ramp((2, d, length), 0, int(iv.DELTA_MAX * (1 << iv.DELTA_FRAC)), 40503)
    a = _ramp((d, n), 1, 1 << 14, 69069)
    bq = _ramp((2, 4, n, length), -(1 << 15), 1 << 15, 1103515245)
    cq = _ramp((2, 4, n, length), -(1 << 15), 1 << 15, 22695477)
    dq = _ramp((d,), -(1 << 14), 1 << 14, 134775813)

    def crc(y: torch.Tensor) -> int:
        return zlib.crc32(y.numpy().astype("<i8").tobytes())

    y = int_selective_scan(u, delta, a, bq, cq, dq)
    assert int((y.abs() >= iv.ACT_LIMIT).sum()) == 3102
    assert (crc(y), int(y.sum())) == (3130604390, 159463954)
    y = int_selective_scan(u // 64, delta // 256, a // 8 + 1, bq // 32, cq // 32, dq)
    assert int((y.abs() >= iv.ACT_LIMIT).sum()) == 0
    assert (crc(y), int(y.sum())) == (4220776773, 18359223)


def test_window_attention_on_latents_smaller_than_a_window():
    torch.manual_seed(1)
    att = WindowAttention(16, window=8)
    x = torch.randn(1, 16, 2, 3)
    att.train()
    sim = att(x).detach()
    # padded keys carry no weight: the same as full attention over the six real positions
    q, k, v = att.qkv.forward_sim(x).flatten(2).chunk(3, 1)
    w = torch.softmax(q.transpose(1, 2) @ k / 2 ** att.shift, -1)
    out = (w @ v.transpose(1, 2)).transpose(1, 2).reshape(1, 16, 2, 3)
    ref = x + att.proj.forward_sim(out)
    assert (sim - ref).abs().max() < 2e-3
    att.eval()
    assert (att(x) - sim).abs().max() < 0.02 * float(sim.abs().max())


def test_vss_blocks_pass_the_integer_range_checks():
    blk = VSSBlock(96, 4)
    assert inet.check_bounds(blk) >= 5
