"""What the RVQ audio codecs share: the waveform backbone, the quantiser, the integer priors
over indices, bitrate selection, the level gain, chunked coding and the payload.

Signals are float [C, T] at :attr:`AudioCodec.sample_rate` (16 kHz), C channels coded
independently (a batch). Encoding pads T to a whole number of frames (zeros at the end); each
channel's indices of all used stages are rANS-coded in one section under per-stage integer
tables (``prior_cdfs``, counted on training data after training and stored in the checkpoint, so
the weights hash covers them). A section whose rANS stream would be longer than plain
``log2(size)``-bit packing is stored packed instead, so the priors never cost more than raw
indices.

Portable files: the only values that decide a probability are the stored integer tables and
the stage of each index, so any machine decodes the same indices. The float encoder and
decoder only move samples by float rounding.

Chunks: the encoder and decoder are fully convolutional. Frames are processed `chunk_frames` at
a time with `context_frames` of real signal on each side (more than the receptive field, which
:meth:`AudioCodec.receptive_frames` bounds from the architecture), so a chunked run equals the
whole-signal run up to float summation order, and memory does not grow with duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurocodec.bitstream import Payload
from neurocodec.codecs.base import Codec
from neurocodec.entropy import TableModel, decode, encode
from neurocodec.errors import BitstreamError, InputError
from torch.nn.utils import parametrize

from neurocodec.nn.audio import Decoder, Encoder
from neurocodec.nn.rvq import ResidualVQ

TARGET_DBFS = -20.0  # input RMS is brought to this level before encoding
GAIN_STEP_DB = 1 / 16  # the header's gain unit
MAX_GAIN_DB = 60.0  # input gain and the header's output gain are clamped to +-this
MAX_SAMPLES = 16_000 * 3600 * 24  # one day at 16 kHz
MAX_CHANNELS = 64
MIN_RATE, MAX_RATE = 1_000, 768_000  # Hz of the files coded and written

# The header (JSON metadata of the .bin, kept short: at 1.4 kbps every byte is 0.5 % of a
# 10-second file): rate, ch (the input's rate and channels), coded (channels coded: 1 when
# downmixed), n (samples per channel at `rate`), n16k (samples coded at 16 kHz), stages
# (codebooks or levels used), gain (GAIN_STEP_DB units the decoder divides its output by: the
# encoder measures it so that the decoded RMS equals the input's), pack (one
# letter per coded channel: A = rANS under the priors, R = raw log2(size)-bit packing).
PACKINGS = {"rans": "A", "raw": "R"}
HEADER_BYTES = 130  # container + metadata of a mono file (measured: 125-130 bytes)


def header_kbps(seconds: float) -> float:
    """The header's share of a file's rate: --kbps leaves it out of the indices' budget."""
    return 8 * HEADER_BYTES / max(seconds, 1e-9) / 1000

UNPACKINGS = {v: k for k, v in PACKINGS.items()}


def consistent_length(samples: int, rate: int, coded: int) -> bool:
    """Whether `samples` at `rate` Hz is the length that `coded` samples at 16 kHz came from
    (the resampler's rounding and a tiny input's one coded sample allowed): a header whose
    lengths disagree would make the decoder pad a short file to any length."""
    return abs(samples * 16_000 / rate - coded) <= 64 + coded / 1000


def rms_dbfs(x: Tensor | np.ndarray) -> float:
    """RMS of a signal in dB relative to full scale (-inf for silence)."""
    v = float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64))))) if np.size(x) else 0.0
    return 20 * math.log10(v) if v > 0 else -math.inf


def gain_steps(level_dbfs: float) -> int:
    """Gain (in GAIN_STEP_DB units) that brings a signal at `level_dbfs` to TARGET_DBFS."""
    g = TARGET_DBFS - level_dbfs if math.isfinite(level_dbfs) else 0.0
    g = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, g))
    return int(round(g / GAIN_STEP_DB))


def _cached_weights(fn):  # noqa: ANN001, ANN202
    """Run `fn` with parametrised (weight-normalised) weights computed once, not per call."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with parametrize.cached():
            return fn(*args, **kwargs)

    return wrapper


class AudioCodec(Codec):
    """Base of the RVQ audio codecs; subclasses choose the quantiser strides and decoder options.

    Inputs of :meth:`forward` are float [B, 1, T] in [-1, 1].
    """

    modality = "audio"
    sample_rate = 16_000
    chunk_frames = 1000  # 20 s per chunk at 50 Hz

    def __init__(self, enc_channels: int = 16, dec_channels: int = 256, strides: tuple[int, ...] = (2, 4, 5, 8),
                 latent: int = 64, n_q: int = 18, codebook_size: int = 1024, code_dim: int = 8,
                 rvq_strides: tuple[int, ...] | None = None, depthwise: bool = False, noise: bool = False,
                 attention: bool = False, dropout: float = 0.5, **config: Any) -> None:
        strides = tuple(strides)
        rvq_strides = tuple(rvq_strides) if rvq_strides else (1,) * n_q
        super().__init__(enc_channels=enc_channels, dec_channels=dec_channels, strides=strides, latent=latent, n_q=n_q,
                         codebook_size=codebook_size, code_dim=code_dim, rvq_strides=rvq_strides, depthwise=depthwise,
                         noise=noise, attention=attention, dropout=dropout, **config)
        self.hop = math.prod(strides)
        self.encoder = Encoder(enc_channels, strides, latent, depthwise)
        self.quantizer = ResidualVQ(latent, n_q, codebook_size, code_dim, rvq_strides, dropout)
        self.attention = LocalAttention(latent) if attention else None
        self.decoder = Decoder(dec_channels, strides[::-1], latent, depthwise, noise)
        uniform = TableModel.from_pmfs(torch.ones(n_q, codebook_size))
        self.register_buffer("prior_cdfs", uniform.cdfs.clone())
        self.register_buffer("prior_counts", torch.zeros(n_q, codebook_size, dtype=torch.int64))
        self.bits_per_index = math.ceil(math.log2(codebook_size))

    # ---- geometry ----------------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def n_q(self) -> int:
        return self.quantizer.n_q

    def receptive_frames(self) -> int:
        """An upper bound, in frames, of the context either side that one frame of the encoder
        or one frame of the decoder's output depends on (sum of every conv's one-sided reach,
        residual branches counted in series, so never too small)."""
        enc, step = 0.0, 1  # encoder: input samples per current sample
        for m in self.encoder.modules():
            if isinstance(m, nn.Conv1d):
                enc += (m.kernel_size[0] - 1) * m.dilation[0] * step
                step *= m.stride[0]
        dec, up = 0.0, 1  # decoder: current samples per frame
        for m in self.decoder.modules():
            if isinstance(m, nn.ConvTranspose1d):
                dec += m.kernel_size[0] / up
                up *= m.stride[0]
            elif isinstance(m, nn.Conv1d):
                dec += (m.kernel_size[0] - 1) * m.dilation[0] / up
        enc /= self.hop
        att = self.attention.window if self.attention is not None else 0
        return int(math.ceil(max(enc, dec + att))) + 2

    @property
    def context_frames(self) -> int:
        u = math.lcm(self.quantizer.unit, self.attention.window if self.attention is not None else 1)
        return math.ceil(self.receptive_frames() / u) * u

    # ---- training ----------------------------------------------------------------------------
    def _decode_latent(self, zq: Tensor, start_frame: int = 0) -> Tensor:
        if self.attention is not None:
            zq = self.attention(zq)
        return self.decoder(zq, start_frame)

    def forward(self, x: Tensor, n: Tensor | int | None = None) -> dict[str, Any]:
        """x [B, 1, T] -> {"x_hat" [B, 1, T], "commitment" [B], "codebook" [B], "codes"}."""
        t = x.shape[-1]
        pad = (-t) % self.hop
        z = self.encoder(nn.functional.pad(x, (0, pad)))
        q = self.quantizer(z, n)
        x_hat = self._decode_latent(q["z_q"])[..., :t]
        return {"x_hat": x_hat, **{k: q[k] for k in ("commitment", "codebook", "codes")}}

    # ---- rate --------------------------------------------------------------------------------
    def stage_bits(self) -> list[float]:
        """Expected bits per index of each stage under its integer table (its entropy)."""
        c = self.prior_cdfs.to(torch.float64)
        f = (c[:, 1:] - c[:, :-1]).clamp_min(1)
        p = f / 65536.0
        return [float(v) for v in -(p * torch.log2(p)).sum(1) / p.sum(1)]

    def stage_kbps(self) -> list[float]:
        """Expected kbps of each stage (its entropy times its code rate)."""
        return [b * self.frame_rate / s / 1000 for b, s in zip(self.stage_bits(), self.quantizer.strides)]

    def stages_for_kbps(self, kbps: float) -> int:
        """The most stages whose expected rate is at most `kbps` (at least one)."""
        total, n = 0.0, 0
        for r in self.stage_kbps():
            if total + r > kbps + 1e-9:
                break
            total += r
            n += 1
        return max(1, n)

    def kbps_table(self) -> list[tuple[int, float]]:
        """(stages, expected kbps) for every number of stages."""
        out, total = [], 0.0
        for i, r in enumerate(self.stage_kbps(), 1):
            total += r
            out.append((i, total))
        return out

    @torch.no_grad()
    def set_priors(self, counts: Tensor) -> None:
        """Integer tables from index counts [n_q, size] (add-one smoothed); changes the hash."""
        counts = counts.to(torch.int64).cpu()
        self.prior_counts.copy_(counts)
        self.prior_cdfs.copy_(TableModel.from_pmfs((counts + 1).to(torch.float64)).cdfs)
        self.refresh_hash()

    def prior_model(self, stages: Tensor) -> TableModel:
        n = self.prior_cdfs.shape[0]
        size = self.prior_cdfs.shape[1] - 1
        return TableModel(self.prior_cdfs, torch.full((n,), size, dtype=torch.int32),
                          torch.zeros(n, dtype=torch.int32), stages)

    # ---- inference ---------------------------------------------------------------------------
    def prepare_inference(self) -> "AudioCodec":
        """Eval mode (weight normalisation stays; the coding calls cache its weights)."""
        self.eval()
        return self

    @torch.no_grad()
    @_cached_weights
    def encode_frames(self, blocks: Iterable[Tensor], n: int, beam: int = 1) -> tuple[list[Tensor], int]:
        """Chunked encoder + quantiser over a stream of sample blocks [C, t] (already gained).

        Returns (codes: per stage int64 [C, T_i], samples seen)."""
        hop, ctx, chunk = self.hop, self.context_frames, self.chunk_frames
        buf: Tensor | None = None
        buf_start = 0  # absolute sample index of buf[:, 0]
        nxt = 0  # next frame to code
        codes: list[list[Tensor]] = [[] for _ in range(n)]

        def run(f0: int, f1: int, end: int) -> None:
            w0 = max(0, f0 - ctx) * hop
            x = buf[:, w0 - buf_start : end - buf_start]
            pad = (-x.shape[-1]) % hop
            z = self.encoder(nn.functional.pad(x[:, None], (0, pad)))
            z = z[..., f0 - w0 // hop : f1 - w0 // hop]
            for i, c in enumerate(self.quantizer.search(z, n, beam)):
                codes[i].append(c)

        seen = 0
        for block in blocks:
            block = block.to(torch.float32)
            seen += block.shape[-1]
            buf = block if buf is None else torch.cat([buf, block], -1)
            while buf_start + buf.shape[-1] >= (nxt + chunk + ctx) * hop:
                run(nxt, nxt + chunk, (nxt + chunk + ctx) * hop)
                nxt += chunk
                drop = max(0, nxt - ctx) * hop - buf_start
                buf, buf_start = buf[:, drop:], buf_start + drop
        if buf is None or seen == 0:
            raise InputError("no audio samples")
        frames = math.ceil(seen / hop)
        if nxt < frames:
            run(nxt, frames, seen)
        return [torch.cat(c, -1) for c in codes], seen

    @torch.no_grad()
    def decode_frames(self, codes: list[Tensor], samples: int) -> Iterator[Tensor]:
        """Chunked dequantiser + decoder: yields float [C, t] blocks totalling `samples`
        (weight-normalised weights computed once per chunk)."""
        hop, ctx, chunk = self.hop, self.context_frames, self.chunk_frames
        strides = self.quantizer.strides[: len(codes)]
        frames = math.ceil(samples / hop)
        done = 0
        for f0 in range(0, frames, chunk):
            f1 = min(frames, f0 + chunk)
            a, b = max(0, f0 - ctx), min(frames, f1 + ctx)
            part = [c[:, a // s : math.ceil(b / s)] for c, s in zip(codes, strides)]
            with parametrize.cached():
                zq = self.quantizer.decode(part, b - a)
                y = self._decode_latent(zq, a)[:, 0, (f0 - a) * hop : (f1 - a) * hop]
            y = y[:, : samples - done]
            done += y.shape[-1]
            yield y

    # ---- whole signals and files ---------------------------------------------------------------
    def stages_for(self, kbps: float | None, stages: int | None) -> int:
        """Stages to use from --kbps or an explicit count (default: all)."""
        if stages is not None:
            if not 1 <= stages <= self.n_q:
                raise InputError(f"stages must be 1..{self.n_q}, got {stages}")
            return stages
        if kbps is None:
            return self.n_q
        if not kbps > 0 or not math.isfinite(kbps):
            raise InputError(f"--kbps must be a positive number, got {kbps}")
        return self.stages_for_kbps(kbps)

    def encode_stream(self, blocks: Iterable[Tensor], *, level_dbfs: float, rate: int, channels: int, samples: int,
                      kbps: float | None = None, stages: int | None = None, beam: int = 1) -> Payload:
        """Code a stream of float blocks [C, t] at 16 kHz. level_dbfs: the input's RMS level (sets
        the gain); rate/channels/samples: the original file's, for the decoder's output."""
        if beam < 1:
            raise InputError(f"--beam must be 1 or more, got {beam}")
        if not 1 <= samples <= MAX_SAMPLES * 6:
            raise InputError(f"{samples} samples: empty or too long (at most one day)")
        if not MIN_RATE <= rate <= MAX_RATE:
            raise InputError(f"audio at {rate} Hz: rates from {MIN_RATE} to {MAX_RATE} Hz are coded")
        if kbps is not None and stages is None:  # --kbps is the whole file's rate: the header counts
            kbps = max(1e-9, kbps - header_kbps(samples / rate)) if kbps > 0 else kbps
        n = self.stages_for(kbps, stages)
        g = gain_steps(level_dbfs)
        scale = 10 ** (g * GAIN_STEP_DB / 20)
        energy = [0.0]

        def gained(stream: Iterable[Tensor]) -> Iterator[Tensor]:
            for b in stream:
                energy[0] += float(b.double().pow(2).sum())
                yield b * scale

        codes, seen = self.encode_frames(gained(blocks), n, beam)
        # The header's gain restores the input's level exactly: the decoder's output is measured
        # here (a second, streamed pass of the decoder), not assumed to keep the level.
        out_energy = sum(float(y.double().pow(2).sum()) for y in self.decode_frames(codes, seen))
        g_out = g
        if energy[0] > 0 and out_energy > 0:
            g_out = int(round(10 * math.log10(out_energy / energy[0]) / GAIN_STEP_DB))
            g_out = max(-round(MAX_GAIN_DB / GAIN_STEP_DB), min(round(MAX_GAIN_DB / GAIN_STEP_DB), g_out))
        sections, methods = self.pack(codes)
        meta = {"rate": int(rate), "ch": int(channels), "coded": int(codes[0].shape[0]), "n": int(samples),
                "n16k": int(seen), "stages": n, "gain": g_out, "pack": "".join(PACKINGS[m] for m in methods)}
        return self.payload(meta, {f"ch{i}": d for i, d in enumerate(sections)})

    def decode_stream(self, payload: Payload) -> Iterator[Tensor]:
        """Float blocks [C, t] at 16 kHz (level restored) from a payload of this codec."""
        self.check(payload)
        m = payload.metadata
        try:
            n, c, seen, g = int(m["stages"]), int(m["coded"]), int(m["n16k"]), int(m["gain"])
            methods = [UNPACKINGS.get(v, v) for v in str(m["pack"])]
            sections = [payload.sections[f"ch{i}"] for i in range(c)]
        except (KeyError, TypeError, ValueError) as e:
            raise BitstreamError(f"audio header is incomplete or damaged ({type(e).__name__}: {e})") from None
        if not (1 <= n <= self.n_q and 1 <= c <= MAX_CHANNELS and 1 <= seen <= MAX_SAMPLES and len(methods) == c
                and abs(g * GAIN_STEP_DB) <= MAX_GAIN_DB):
            raise BitstreamError(f"audio header out of range (stages {n}, channels {c}, samples {seen}, gain {g})")
        frames = math.ceil(seen / self.hop)
        codes = self.unpack(sections, methods, n, frames)
        inv = 10 ** (-g * GAIN_STEP_DB / 20)
        for y in self.decode_frames(codes, seen):
            yield y * inv

    def compress(self, x: Tensor, kbps: float | None = None, stages: int | None = None, beam: int = 1,
                 rate: int | None = None) -> tuple[Payload, Tensor]:
        """x float [C, T] at 16 kHz -> (payload, reconstruction [C, T]); the reconstruction equals
        :meth:`decompress` of the payload bit for bit."""
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.dim() == 1:
            x = x[None]
        if x.numel() == 0:
            raise InputError("no audio samples")
        if not torch.isfinite(x).all():
            raise InputError("audio samples are not finite numbers (NaN or infinity)")
        p = self.encode_stream([x], level_dbfs=rms_dbfs(x.numpy()), rate=rate or self.sample_rate,
                               channels=x.shape[0], samples=x.shape[-1], kbps=kbps, stages=stages, beam=beam)
        return p, self.decompress(p)

    def decompress(self, payload: Payload) -> Tensor:
        """The 16 kHz reconstruction [C, T] of a payload."""
        return torch.cat(list(self.decode_stream(payload)), -1)

    def encode_file(self, path: str | Path, *, kbps: float | None = None, stages: int | None = None, beam: int = 1,
                    keep_channels: bool = False) -> Payload:
        """Code an audio file (or a video's audio track) read through PyAV, streamed: a first pass
        measures the level and length, the second codes 16 kHz blocks. Channels are averaged
        unless keep_channels."""
        from neurocodec.io import audio

        info = audio.probe(path)
        if not MIN_RATE <= info.rate <= MAX_RATE:
            raise InputError(f"{path} is sampled at {info.rate} Hz; audio from {MIN_RATE} to {MAX_RATE} Hz is coded")
        total, sq, count = 0, 0.0, 0
        for b in audio.stream(path):
            b = b if keep_channels else audio.downmix(b)
            total += b.shape[-1]
            sq += float(np.square(b, dtype=np.float64).sum())
            count += b.size
        if total == 0:
            raise InputError(f"{path} holds no audio samples")
        if keep_channels and info.channels > MAX_CHANNELS:
            raise InputError(f"{path} has {info.channels} channels; --keep-channels codes at most {MAX_CHANNELS}")
        level = 10 * math.log10(sq / count) if sq > 0 else -math.inf

        def blocks() -> Iterator[Tensor]:
            any_ = False
            for b in audio.stream(path, self.sample_rate):
                any_ |= b.shape[-1] > 0
                yield torch.from_numpy(b if keep_channels else audio.downmix(b))
            if not any_:  # a few samples at a high rate resample to none at 16 kHz: code one
                yield torch.zeros(info.channels if keep_channels else 1, 1)

        return self.encode_stream(blocks(), level_dbfs=level, rate=info.rate, channels=info.channels, samples=total,
                                  kbps=kbps, stages=stages, beam=beam)

    def decode_file(self, payload: Payload, path: str | Path) -> dict[str, Any]:
        """Write a payload's audio to `path` (format from the extension) at the original rate and
        exact sample count. Returns the output's rate, channels and samples."""
        from neurocodec.io import audio

        audio.check_output(path)
        m = payload.metadata
        try:
            rate, samples, c, seen = int(m["rate"]), int(m["n"]), int(m["coded"]), int(m["n16k"])
        except (KeyError, TypeError, ValueError) as e:
            raise BitstreamError(f"audio header is incomplete or damaged ({type(e).__name__}: {e})") from None
        if not (MIN_RATE <= rate <= MAX_RATE and 1 <= samples <= MAX_SAMPLES * 48 and 1 <= c <= MAX_CHANNELS):
            raise BitstreamError(f"audio header out of range (rate {rate}, samples {samples}, channels {c})")
        if not consistent_length(samples, rate, seen):
            raise BitstreamError(f"audio header is inconsistent: {samples} samples at {rate} Hz cannot come from "
                                 f"{seen} coded at 16 kHz; the file is corrupt")
        import av

        try:
            with audio.Writer(path, self.sample_rate, rate, c, samples) as w:
                for y in self.decode_stream(payload):
                    w.write(y.numpy())
        except av.FFmpegError as e:  # e.g. MP3 or AAC at a rate or channel count they do not take
            raise InputError(f"cannot write {c} channel(s) at {rate} Hz as {Path(path).suffix.lower()} ({e}); "
                             "write .wav or .flac") from None
        return {"rate": rate, "channels": c, "samples": samples}

    # ---- payload -----------------------------------------------------------------------------
    def pack(self, codes: list[Tensor]) -> tuple[list[bytes], list[str]]:
        """Per channel: the rANS stream of all stages' indices, or their plain packing when
        that is shorter. Returns (sections, methods)."""
        out, methods = [], []
        for ch in range(codes[0].shape[0]):
            sym = torch.cat([c[ch] for c in codes]).to(torch.int32)
            stage = torch.cat([torch.full((c.shape[1],), i, dtype=torch.int32) for i, c in enumerate(codes)])
            coded = encode(sym, self.prior_model(stage), threads=1)
            raw = _pack_bits(sym.numpy(), self.bits_per_index)
            if len(coded) <= len(raw):
                out.append(coded)
                methods.append("rans")
            else:
                out.append(raw)
                methods.append("raw")
        return out, methods

    def unpack(self, sections: list[bytes], methods: list[str], n: int, frames: int) -> list[Tensor]:
        lengths = self.quantizer.code_lengths(frames)[:n]
        stage = torch.cat([torch.full((t,), i, dtype=torch.int32) for i, t in enumerate(lengths)])
        per_ch = []
        for data, how in zip(sections, methods):
            if how == "rans":
                sym = decode(data, self.prior_model(stage), threads=1)
            elif how == "raw":
                sym = torch.from_numpy(_unpack_bits(data, self.bits_per_index, len(stage)))
            else:
                raise BitstreamError(f"unknown index packing {how!r}")
            if int(sym.min()) < 0 or int(sym.max()) >= self.quantizer.size:
                raise BitstreamError("decoded index outside the codebook: the file is corrupt")
            per_ch.append(sym.long())
        out, pos = [], 0
        for t in lengths:
            out.append(torch.stack([s[pos : pos + t] for s in per_ch]))
            pos += t
        return out


def _pack_bits(sym: np.ndarray, bits: int) -> bytes:
    b = ((sym.astype(np.uint32)[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(b.reshape(-1), bitorder="little").tobytes()


def _unpack_bits(data: bytes, bits: int, n: int) -> np.ndarray:
    need = math.ceil(n * bits / 8)
    if len(data) != need:
        raise BitstreamError(f"packed indices hold {len(data)} bytes, expected {need}: the file is corrupt")
    b = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: n * bits].reshape(n, bits)
    return (b.astype(np.int64) << np.arange(bits)).sum(1)


class LocalAttention(nn.Module):
    """Single-head self-attention within non-overlapping windows of `window` frames, with a
    learned relative position bias; a residual block on the latent (SNAC's local attention).
    Windows start at multiples of `window` frames; chunk starts and contexts are multiples of it,
    so chunked decoding sees the same windows as the whole signal."""

    def __init__(self, dim: int, window: int = 8) -> None:
        super().__init__()
        self.window = window
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(2 * window - 1))
        nn.init.zeros_(self.proj.weight)  # starts as the identity (see DecoderBlock's noise)
        nn.init.zeros_(self.proj.bias)

    def forward(self, z: Tensor) -> Tensor:
        b, d, t = z.shape
        w = self.window
        pad = (-t) % w
        x = nn.functional.pad(z, (0, pad)).transpose(1, 2)  # [B, T', D]
        h = self.norm(x).view(b, -1, w, d)
        q, k, v = self.qkv(h).chunk(3, -1)
        idx = torch.arange(w, device=z.device)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d) + self.bias[idx[:, None] - idx[None, :] + w - 1]
        valid = (torch.arange(t + pad, device=z.device) < t).view(-1, w)  # [nW, w]
        att = att.masked_fill(~valid[None, :, None, :], float("-inf"))
        y = self.proj(att.softmax(-1) @ v).reshape(b, -1, d)
        return z + y.transpose(1, 2)[..., :t]
