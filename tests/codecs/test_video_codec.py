"""The video codec and its .bin: bit-exact decoding in a fresh process under 1 and 2 threads,
I-frames at multiples of the intra period, GOP 1 = the image codec, file bytes = counted bytes,
every bad file or model refused by name, flat memory on a long clip.

The format tests use a seeded untrained hytip (its streams are as real as a trained model's);
the rate-estimate test uses the shipped checkpoint."""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from neurocodec import bitstream
from neurocodec.codecs import registry
from neurocodec.codecs.video.hytip import HyTIP
from neurocodec.codecs.video.stream import VideoDecoder, VideoEncoder, frame_type, unpack_streams
from neurocodec.errors import (
    BitstreamError,
    ChecksumError,
    InputError,
    ModelMismatchError,
    NeurocodecError,
    TruncatedError,
)
from tests.codecs.conftest import shipped

SMALL = dict(N=16, M=16, Nm=8, Mm=8, ctx=(4, 8, 8))


@pytest.fixture(scope="module")
def intra():  # noqa: ANN201
    return shipped("hyperprior")


@pytest.fixture(scope="module")
def model(intra) -> HyTIP:
    torch.manual_seed(0)
    m = HyTIP(intra="hyperprior", intra_hash=intra.weights_hash().hex(), **SMALL)
    m.attach_intra(intra)
    return m.eval()


def clip(n: int = 5, h: int = 70, w: int = 99, seed: int = 0) -> list[np.ndarray]:
    """A moving textured scene: a smooth random image panning by 3 px per frame."""
    rng = np.random.default_rng(seed)
    big = torch.nn.functional.interpolate(torch.from_numpy(rng.random((1, 3, h // 4 + 8, w // 4 + 8 + n))).float(),
                                          scale_factor=4, mode="bicubic")[0].clamp(0, 1)
    base = (big.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return [np.ascontiguousarray(base[:h, 3 * k : 3 * k + w]) for k in range(n)]


def encode(model: HyTIP, frames: list[np.ndarray], quality: int = 3, gop: int = 3) -> tuple[bytes, list, list]:
    f = io.BytesIO()
    h, w = frames[0].shape[:2]
    enc = VideoEncoder(model, f, w, h, Fraction(25), len(frames), quality, gop=gop)
    stats, recon = [], []
    for fr in frames:
        s, r = enc.encode(fr)
        stats.append(s)
        recon.append(r)
    enc.close()
    return f.getvalue(), stats, recon


_DECODE_SCRIPT = """
import sys, json, hashlib, numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from neurocodec.codecs import registry
from neurocodec.codecs.video.stream import VideoDecoder
m = registry.load(sys.argv[1])
out = {"frames": [], "latents": []}
dec = VideoDecoder(m, open(sys.argv[2], "rb"))
frames = []
buf_hashes = []
orig = m.decode_inter
def spy(sections, buf, q):
    b = orig(sections, buf, q)
    buf_hashes.append(hashlib.sha256(b.latent.numpy().tobytes() + b.motion_latent.numpy().tobytes()).hexdigest())
    return b
m.decode_inter = spy
for fr in dec:
    frames.append(fr)
np.save(sys.argv[4], np.stack(frames))
print(json.dumps(buf_hashes))
"""


def test_fresh_process_decodes_bit_exactly_under_1_and_2_threads(model, tmp_path):
    ckpt = tmp_path / "hytip.pt"
    registry.save_checkpoint(model, ckpt)
    frames = clip(6, 70, 131)
    results = {}
    for enc_threads in (1, 2):
        old = torch.get_num_threads()
        torch.set_num_threads(enc_threads)
        try:
            data, _, recon = encode(registry.load(ckpt), frames, quality=4, gop=4)
        finally:
            torch.set_num_threads(old)
        binf = tmp_path / f"enc{enc_threads}.bin"
        binf.write_bytes(data)
        for dec_threads in (1, 2):
            npy = tmp_path / f"dec{enc_threads}{dec_threads}.npy"
            run = subprocess.run([sys.executable, "-c", _DECODE_SCRIPT, str(ckpt), str(binf), str(dec_threads), str(npy)],
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stderr[-2000:]
            decoded = np.load(npy)
            results[(enc_threads, dec_threads)] = (json.loads(run.stdout.strip().splitlines()[-1]), decoded)
            if dec_threads == enc_threads:  # the encoder's own reconstruction, bit for bit
                assert np.array_equal(decoded, np.stack(recon))
    for enc_threads in (1, 2):
        # whatever the decoder's thread count, the same symbols: latents identical at every P-frame
        assert results[(enc_threads, 1)][0] == results[(enc_threads, 2)][0]
        a, b = results[(enc_threads, 1)][1].astype(int), results[(enc_threads, 2)][1].astype(int)
        assert np.abs(a - b).max() <= 3  # float synthesis: rounding steps at most, never a desync


def test_intra_frames_at_multiples_of_the_period(model):
    for gop in (1, 2, 3, 32):
        data, stats, _ = encode(model, clip(5), gop=gop)
        r = bitstream.StreamReader(data, max_sections=1 << 20)
        names = [n for n, _ in r]
        assert names == [f"{frame_type(i, gop)}{i}" for i in range(5)]
        assert [s.type for s in stats] == ["I" if i % gop == 0 else "P" for i in range(5)]
        assert r.metadata["gop"] == gop and r.metadata["frames"] == 5


def test_gop_1_is_exactly_the_image_codec(model, intra):
    frames = clip(3, 70, 99)
    data, _, recon = encode(model, frames, quality=2, gop=1)
    iq = model.intra_qualities[1]
    for (name, sec), fr, rec in zip(bitstream.StreamReader(data, max_sections=1 << 20), frames, recon):
        img = bitstream.loads(intra.encode_image(fr, iq))
        assert unpack_streams(sec) == img.sections  # the same coded bytes
        assert np.array_equal(intra.decode_payload(img), rec)  # and the same decoded frame


def test_file_bytes_are_the_counted_bytes(model):
    data, stats, _ = encode(model, clip(5), gop=3)
    header = bitstream.StreamReader(data, max_sections=1 << 20)
    header_bytes = header.r.pos
    assert header_bytes + sum(s.bytes for s in stats) == len(data)
    assert all(0 < s.stream_bytes < s.bytes for s in stats)


def test_estimated_bits_within_2_percent_per_frame():
    """The shipped model's eval-mode estimate against the coded streams of each frame."""
    path = registry.CHECKPOINT_DIR / "hytip.pt"
    if not path.exists():
        pytest.skip("no shipped hytip checkpoint")
    m = registry.load("hytip")
    frames = clip(4, 256, 384, seed=3)
    for quality in (1, m.num_qualities):
        _, stats, _ = encode(m, frames, quality=quality, gop=4)
        q = m.level(quality)
        x = [HyTIP.pad(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255) for f in frames]
        with torch.no_grad():
            buf = m.reset(m.intra.synthesize(m.intra.compress_tensor(x[0], m.intra_level(q))[1], m.intra_level(q)).clamp(0, 1))
            from neurocodec.codecs.video.motion import pyramid_flow

            for t in range(1, len(frames)):
                out = m(x[t], buf, q, pyramid_flow(x[t], buf.frame))
                est = float(sum(-torch.log2(v).sum() for v in out["likelihoods"].values())) / 8
                buf = out["buffer"]
                assert abs(stats[t].stream_bytes - est) / est < 0.02, (quality, t, stats[t].stream_bytes, est)


def test_truncated_and_corrupt_files_name_the_frame(model):
    data, stats, _ = encode(model, clip(4), gop=2)
    end_of_frame_2 = len(data) - stats[3].bytes
    with pytest.raises(TruncatedError, match=r"frame 3 \(P\)"):
        list(VideoDecoder(model, data[: end_of_frame_2 + 10]))
    b = bytearray(data)
    b[end_of_frame_2 - 20] ^= 0x40  # inside frame 2
    with pytest.raises(ChecksumError, match=r"frame 2 \(I\)"):
        list(VideoDecoder(model, bytes(b)))
    with pytest.raises(BitstreamError, match="unexpected bytes"):
        list(VideoDecoder(model, data + b"\0"))
    for junk in (b"", b"garbage" * 10, data[:5]):
        with pytest.raises(BitstreamError):
            list(VideoDecoder(model, junk))


def test_other_weights_or_other_intra_checkpoint_are_refused(model, intra, tmp_path):
    data, _, _ = encode(model, clip(3), gop=2)
    torch.manual_seed(1)
    other = HyTIP(intra="hyperprior", intra_hash=intra.weights_hash().hex(), **SMALL)
    other.attach_intra(intra)
    with pytest.raises(ModelMismatchError):
        VideoDecoder(other.eval(), data)
    # another I-frame checkpoint: refused when attached, and by the file
    import copy

    intra2 = copy.deepcopy(intra)
    with torch.no_grad():
        intra2.g_s[0].bias.add_(0.01)
    intra2.refresh_hash()
    with pytest.raises(ModelMismatchError, match="I-frame"):
        model_copy = copy.deepcopy(model)
        model_copy.attach_intra(intra2)
    m2 = copy.deepcopy(model)
    m2.attach_intra(intra2, check=False)
    with pytest.raises(ModelMismatchError, match="I-frames were coded"):
        VideoDecoder(m2, data)
    # the gmm codec is not this model's I-frame codec
    with pytest.raises(ModelMismatchError):
        copy.deepcopy(model).attach_intra(shipped("gmm"))


def test_bad_clips_are_refused_clearly(model):
    f = io.BytesIO()
    with pytest.raises(InputError, match="no frames"):
        VideoEncoder(model, f, 64, 64, Fraction(25), 0, 3)
    with pytest.raises(InputError):
        VideoEncoder(model, f, 100_000, 64, Fraction(25), 2, 3)  # oversized
    with pytest.raises(InputError, match="quality"):
        VideoEncoder(model, io.BytesIO(), 64, 64, Fraction(25), 2, 9)
    enc = VideoEncoder(model, io.BytesIO(), 99, 70, Fraction(25), 3, 3)
    enc.encode(clip(1)[0])
    with pytest.raises(InputError, match="size changed"):
        enc.encode(clip(1, 64, 64)[0])
    with pytest.raises(InputError, match="ended after 1 frames"):
        enc.close()
    enc = VideoEncoder(model, io.BytesIO(), 99, 70, Fraction(25), 1, 3)
    enc.encode(clip(1)[0])
    with pytest.raises(InputError, match="more frames"):
        enc.encode(clip(1)[0])


@pytest.mark.parametrize("h,w", [(1, 1), (17, 33), (64, 64), (65, 127)])
def test_odd_tiny_sizes_and_one_frame_clips(model, h, w):
    frames = clip(3, h, w)
    for n in (1, 3):
        data, _, recon = encode(model, frames[:n], gop=2)
        out = list(VideoDecoder(model, data))
        assert len(out) == n and all(np.array_equal(a, b) for a, b in zip(out, recon))
        assert out[0].shape == (h, w, 3)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_memory_stays_flat_on_a_long_clip(model, tmp_path):
    """120 frames of 192x256 (a whole clip in memory would be 120 x 0.6 MB decoded, more
    with buffers): encoding and decoding frame by frame keep the peak where 10 frames put it."""
    h, w = 192, 256
    base = clip(1, h, w)[0]
    frames = (np.roll(base, k, axis=1) for k in range(120))
    path = tmp_path / "long.bin"
    with open(path, "wb") as f:
        enc = VideoEncoder(model, f, w, h, Fraction(25), 120, 3, gop=32)
        for k, fr in enumerate(frames):
            enc.encode(fr)
            if k == 10:
                after_10 = _maxrss_mb()
        enc.close()
    assert _maxrss_mb() - after_10 < 20
    with open(path, "rb") as f:
        for k, _ in enumerate(VideoDecoder(model, f)):
            if k == 10:
                after_10 = _maxrss_mb()
    assert _maxrss_mb() - after_10 < 20


def test_untrained_hytip_refuses_use_without_an_intra_codec():
    with pytest.raises(NeurocodecError, match="I-frame codec"):
        HyTIP(**SMALL).intra


def test_builtin_motion_estimation_finds_a_translation():
    from neurocodec.codecs.video.motion import dis_available, flow_estimator, pyramid_flow, resize_flow, warp

    rng = np.random.default_rng(0)
    big = torch.nn.functional.interpolate(torch.from_numpy(rng.random((1, 3, 40, 48))).float(), scale_factor=4,
                                          mode="bicubic").clamp(0, 1)
    ref = big[..., 8:136, 8:168]
    cur = big[..., 8 - 2 : 136 - 2, 8 + 3 : 168 + 3]  # cur(p) = ref(p + (3, -2))
    flow = pyramid_flow(cur, ref)
    assert flow.shape == (1, 2, 32, 40)
    inner = flow[..., 4:-4, 4:-4]  # quarter-resolution pixels
    assert abs(float(inner[:, 0].median()) - 0.75) < 0.02 and abs(float(inner[:, 1].median()) + 0.5) < 0.02
    err = (warp(ref, resize_flow(flow, (128, 160))) - cur)[..., 16:-16, 16:-16].abs().mean()
    copy = (ref - cur)[..., 16:-16, 16:-16].abs().mean()
    assert err < copy / 3, (err, copy)
    if not dis_available():
        with pytest.raises(InputError, match="OpenCV"):
            flow_estimator("dis")
    with pytest.raises(InputError, match="unknown motion estimator"):
        flow_estimator("magic")


def test_pinned_intra_weights_are_found_after_the_image_codec_improves(model, intra, tmp_path, monkeypatch):
    """A video codec trained with I-frame weights H loads checkpoints/<intra>-H.pt when the
    shipped <intra>.pt has moved on; without that file it is refused, as before."""
    import copy
    import shutil

    original = registry.CHECKPOINT_DIR / "hyperprior.pt"
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    improved = copy.deepcopy(intra)
    with torch.no_grad():
        improved.g_s[0].bias.add_(0.01)
    improved.refresh_hash()
    registry.save_checkpoint(improved, tmp_path / "hyperprior.pt")
    registry.save_checkpoint(model, tmp_path / "video.pt")
    with pytest.raises(ModelMismatchError, match="I-frame"):
        registry.load(tmp_path / "video.pt")
    pinned = intra.weights_hash().hex()
    shutil.copy(original, tmp_path / f"hyperprior-{pinned}.pt")
    loaded = registry.load(tmp_path / "video.pt")
    assert loaded._intra.weights_hash().hex() == pinned
    data, _, _ = encode(model, clip(3), gop=2)
    decoded, expected = list(VideoDecoder(loaded, data)), list(VideoDecoder(model, data))
    assert len(decoded) == 3 and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(decoded, expected))
