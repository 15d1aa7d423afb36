"""The audio codecs' contracts on small untrained models (the coding path does not depend on
training): exact round trips, chunking without seams, portable indices, bitrate selection,
the beam's guarantees, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.codecs.audio.base import AudioCodec
from neurocodec.errors import BitstreamError, InputError, ModelMismatchError, NeurocodecError


def _codec(name: str = "dac", seed: int = 0, **over) -> AudioCodec:
    torch.manual_seed(seed)
    cfg = dict(enc_channels=4, dec_channels=16, latent=8, codebook_size=64)
    cfg.update({"n_q": 6} if name == "dac" else {})
    cfg.update(over)
    c = registry.build(name, **cfg).eval()
    # priors from skewed counts, so the rANS path (not the raw fallback) codes most stages
    g = torch.Generator().manual_seed(seed)
    counts = (torch.rand(c.n_q, c.quantizer.size, generator=g) ** 4 * 1000).long()
    c.set_priors(counts)
    return c


def _speechlike(seconds: float, rate: int = 16_000, seed: int = 0) -> torch.Tensor:
    """Harmonics with a wandering pitch and a syllable envelope, plus a little noise: [1, T]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    x = 0.1 * x + 0.003 * rng.standard_normal(len(t))
    return torch.from_numpy(x.astype(np.float32))[None]


@pytest.fixture(scope="module", params=["dac", "snac"])
def codec(request) -> AudioCodec:
    return _codec(request.param)


def test_round_trip_is_exact_and_deterministic(codec: AudioCodec) -> None:
    x = _speechlike(1.3)
    p, x_hat = codec.compress(x)
    data = bitstream.dumps(p)
    assert torch.equal(codec.decompress(bitstream.loads(data)), x_hat)
    assert x_hat.shape == x.shape
    p2, _ = codec.compress(x)
    assert bitstream.dumps(p2) == data


@pytest.mark.parametrize("scale", [0.003, 0.1, 0.9])
def test_decoded_level_equals_the_input_level(codec: AudioCodec, scale: float) -> None:
    """The header's gain is measured on the decoder's output: the decoded RMS is the input's
    within the gain step (1/16 dB), whatever the model does to the level."""
    from neurocodec.codecs.audio.base import rms_dbfs

    x = _speechlike(1.5, seed=12) * scale / 0.1
    _, y = codec.compress(x, stages=2)
    assert abs(rms_dbfs(y.numpy()) - rms_dbfs(x.numpy())) < 0.04


@pytest.mark.parametrize("n", [1, 2, 319, 320, 321, 4001])
def test_any_length_keeps_its_samples(codec: AudioCodec, n: int) -> None:
    x = _speechlike(1.0)[:, :n]
    p, x_hat = codec.compress(x)
    assert x_hat.shape == (1, n)
    assert p.metadata["n"] == n and p.metadata["n16k"] == n


def test_chunks_have_no_seams(codec: AudioCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked coding (small chunks, the signal fed in odd blocks) gives the indices and the
    samples of one whole-signal pass (up to float summation order)."""
    x = _speechlike(3.0, seed=1)
    whole_codes, _ = codec.encode_frames([x], codec.n_q)
    whole = torch.cat(list(codec.decode_frames(whole_codes, x.shape[-1])), -1)
    monkeypatch.setattr(codec, "chunk_frames", 8 * codec.quantizer.unit)
    blocks = list(torch.split(x, 1237, dim=-1))
    codes, seen = codec.encode_frames(blocks, codec.n_q)
    assert seen == x.shape[-1]
    agree = np.mean([float((a == b).float().mean()) for a, b in zip(codes, whole_codes)])
    assert agree > 0.99, agree
    parts = list(codec.decode_frames(whole_codes, x.shape[-1]))
    assert len(parts) > 3
    y = torch.cat(parts, -1)
    assert y.shape == whole.shape
    assert float((y - whole).abs().max()) < 1e-4


def test_receptive_field_bound_holds(codec: AudioCodec) -> None:
    """A frame more than receptive_frames away from a changed sample does not change."""
    x = _speechlike(4.0, seed=2)
    r = codec.receptive_frames()
    z0 = codec.encoder(x[None])
    x2 = x.clone()
    pos = x.shape[-1] // 2
    x2[..., pos] += 0.5
    z1 = codec.encoder(x2[None])
    changed = torch.nonzero((z0 != z1).any(1)[0]).flatten()
    f = pos // codec.hop
    assert len(changed) and int((changed - f).abs().max()) <= r
    zq = codec.quantizer.decode(codec.quantizer.encode(z0, codec.n_q), z0.shape[-1])
    y0 = codec._decode_latent(zq)
    zq2 = zq.clone()
    zq2[..., f] += 1.0
    y1 = codec._decode_latent(zq2)
    moved = torch.nonzero((y0 != y1)[0, 0]).flatten() // codec.hop
    assert int((moved - f).abs().max()) <= r


def test_indices_decode_identically_under_any_thread_count(codec: AudioCodec) -> None:
    """The priors are integer tables: the indices a file holds decode the same under 1, 2, 3
    threads (and equal what the encoder chose)."""
    x = _speechlike(2.0, seed=3)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        codes, _ = codec.encode_frames([x], codec.n_q)
        p = codec.encode_stream([x], level_dbfs=-20.0, rate=16_000, channels=1, samples=x.shape[-1])
        data = bitstream.dumps(p)
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            q = bitstream.loads(data)
            m = q.metadata
            got = codec.unpack([q.sections["ch0"]], ["rans" if c == "A" else "raw" for c in m["pack"]], m["stages"],
                               math.ceil(m["n16k"] / codec.hop))
            for a, b in zip(got, codes):
                assert torch.equal(a, b)
    finally:
        torch.set_num_threads(old)


def test_size_grows_with_stages_and_kbps_picks_them(codec: AudioCodec) -> None:
    x = _speechlike(2.0, seed=4)
    sizes = [len(bitstream.dumps(codec.compress(x, stages=n)[0])) for n in range(1, codec.n_q + 1)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    table = codec.kbps_table()
    assert [n for n, _ in table] == list(range(1, codec.n_q + 1))
    for n, kbps in table:
        assert codec.stages_for_kbps(kbps) == n
        assert codec.stages_for_kbps(kbps - 1e-3) == max(1, n - 1)
    assert codec.stages_for_kbps(1e-6) == 1
    with pytest.raises(InputError):
        codec.stages_for(-1.0, None)
    with pytest.raises(InputError):
        codec.stages_for(None, codec.n_q + 1)


def test_priors_never_cost_more_than_raw_indices() -> None:
    """With uniform tables rANS would spend a little over 6 bits per 64-entry index: the raw
    packing is used instead; skewed priors code smaller than raw."""
    c = _codec("dac")
    x = _speechlike(2.0, seed=5)
    frames = math.ceil(x.shape[-1] / c.hop)
    raw = math.ceil(frames * c.n_q * c.bits_per_index / 8)
    c.set_priors(torch.zeros(c.n_q, c.quantizer.size, dtype=torch.long))
    p, _ = c.compress(x)
    assert p.metadata["pack"] == "R" and len(p.sections["ch0"]) == raw
    from neurocodec.codecs.audio.base import GAIN_STEP_DB, gain_steps, rms_dbfs

    codes, _ = c.encode_frames([x * 10 ** (gain_steps(rms_dbfs(x.numpy())) * GAIN_STEP_DB / 20)], c.n_q)
    counts = torch.stack([torch.bincount(k.flatten(), minlength=c.quantizer.size) for k in codes])
    c.set_priors(counts)  # the signal's own statistics: well below raw
    p2, _ = c.compress(x)
    assert p2.metadata["pack"] == "A" and len(p2.sections["ch0"]) < raw


@pytest.mark.parametrize("name", ["dac", "snac"])
def test_beam_keeps_its_contracts(name: str) -> None:
    c = _codec(name, seed=6)
    x = _speechlike(2.0, seed=6)
    z = c.encoder(torch.nn.functional.pad(x[None], (0, (-x.shape[-1]) % c.hop)))
    n = c.n_q
    greedy = c.quantizer.encode(z, n)
    assert all(torch.equal(a, b) for a, b in zip(c.quantizer.search(z, n, 1), greedy))
    e_greedy = c.quantizer.latent_error(z, greedy)
    for beam in (2, 4, 8):
        codes = c.quantizer.search(z, n, beam)
        e = c.quantizer.latent_error(z, codes)
        assert bool((e <= e_greedy + 1e-6).all())
        assert [q.shape for q in codes] == [q.shape for q in greedy]
    assert float(e.sum()) < float(e_greedy.sum())  # it finds better codes somewhere
    p1, _ = c.compress(x, beam=1)
    p8, y8 = c.compress(x, beam=8)
    assert bitstream.dumps(c.compress(x)[0]) == bitstream.dumps(p1)
    assert torch.equal(c.decompress(bitstream.loads(bitstream.dumps(p8))), y8)


def test_snac_noise_is_seeded_by_position() -> None:
    c = _codec("snac", seed=7)
    x = _speechlike(1.5, seed=7)
    p, y = c.compress(x)
    assert torch.equal(c.decompress(p), y)
    from neurocodec.nn.audio import position_noise

    a = position_noise(1, 3, 100, 0, torch.device("cpu"), torch.float32)
    b = position_noise(1, 3, 60, 40, torch.device("cpu"), torch.float32)
    assert torch.equal(a[..., 40:], b)
    assert abs(float(a.mean())) < 0.3 and 0.7 < float(a.std()) < 1.3


def test_stereo_keeps_channels_and_level() -> None:
    c = _codec("dac", seed=8)
    x = torch.cat([_speechlike(1.0, seed=8), 0.5 * _speechlike(1.0, seed=9)])
    p, y = c.compress(x)
    assert y.shape == x.shape and p.metadata["coded"] == 2 and len(p.sections) == 2


def test_errors_are_clear() -> None:
    c = _codec("dac", seed=9)
    other = _codec("dac", seed=10)
    x = _speechlike(1.0)
    data = bitstream.dumps(c.compress(x)[0])
    with pytest.raises(ModelMismatchError):
        other.decompress(bitstream.loads(data))
    with pytest.raises(ModelMismatchError):
        _codec("snac").decompress(bitstream.loads(data))
    with pytest.raises(BitstreamError):
        bitstream.loads(data[: len(data) // 2])
    bad = bytearray(data)
    bad[-10] ^= 0xFF
    with pytest.raises(BitstreamError):
        bitstream.loads(bytes(bad))
    p = bitstream.loads(data)
    p.sections["ch0"] = p.sections["ch0"][:3]
    with pytest.raises(NeurocodecError):
        c.decompress(p)
    p = bitstream.loads(data)
    p.metadata["stages"] = 99
    with pytest.raises(BitstreamError, match="out of range"):
        c.decompress(p)
    del p.metadata["gain"]
    with pytest.raises(BitstreamError, match="incomplete"):
        c.decompress(p)
    with pytest.raises(InputError, match="no audio"):
        c.compress(torch.zeros(1, 0))
    with pytest.raises(InputError, match="finite"):
        c.compress(torch.full((1, 100), float("nan")))
    with pytest.raises(InputError, match="beam"):
        c.compress(x, beam=0)


def test_silence_codes_and_stays_silent_enough() -> None:
    c = _codec("dac", seed=11)
    p, y = c.compress(torch.zeros(1, 8000))
    assert p.metadata["gain"] == 0 and y.shape == (1, 8000) and torch.isfinite(y).all()
