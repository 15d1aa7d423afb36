"""What every learned image codec shares: quality levels (gain vectors), padding, the
image <-> tensor <-> .bin path, and the estimated rate.

Grayscale: the networks code RGB; a gray source is coded as its gray replicated into the three
channels, with ``"color": "gray"`` in the header metadata (RGB files carry no "color" key), and
:meth:`ImageCodec.decode_payload` then returns one channel, uint8 [H, W]: the mean of the
three decoded channels, rounded.

Variable rate: one model covers Q quality levels. The analysis output is multiplied by a
learned positive per-channel gain of the level and the synthesis input by a learned inverse
gain (gain units, Cui et al. 2021); training draws a level per batch with its own lambda.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocodec import bitstream
from neurocodec.bitstream import Payload
from neurocodec.codecs.base import Codec
from neurocodec.errors import BitstreamError, InputError
from neurocodec.io.images import MAX_PIXELS, MAX_SIDE, to_gray8, to_tensor, to_uint8

# Rate-distortion trade-offs of the quality levels (loss = lambda * 255^2 * MSE + bpp),
# spanning about 0.1 to 1 bpp on Kodak for a hyperprior (CompressAI's levels 1..6).
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
# MAX_SIDE (32768) and MAX_PIXELS (2^26) live in neurocodec.io.images: the loader refuses what
# the codecs cannot take, with the same limits.
COLORS = ("rgb", "gray")  # the header's "color": absent means rgb; "gray" decodes to one channel


def check_size(h: int, w: int, error: type[Exception]) -> None:
    """Refuse sizes the codec cannot handle (before any allocation)."""
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE) or h * w > MAX_PIXELS:
        raise error(f"image size {w}x{h} outside what the codec handles (sides 1..{MAX_SIDE}, at most {MAX_PIXELS} pixels)")


class GainUnits(nn.Module):
    """Per-quality, per-channel positive gains and inverse gains (log-parametrised)."""

    def __init__(self, qualities: int, channels: int) -> None:
        super().__init__()
        init = torch.linspace(-1.0, 1.0, qualities)[:, None].expand(qualities, channels)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inv_gain = nn.Parameter(-init.clone())

    def gain(self, q: Tensor) -> Tensor:
        return self.log_gain[q].exp()[:, :, None, None]

    def inv_gain(self, q: Tensor) -> Tensor:
        return self.log_inv_gain[q].exp()[:, :, None, None]


class ImageCodec(Codec):
    """Base of learned image codecs; subclasses implement forward/compress_tensor/decompress_tensor.

    Inputs are float [B, 3, H, W] in [0, 1]; `quality` is 1..Q (level index q = quality - 1).
    """

    modality = "image"
    pad_multiple = 64
    #: The quantisation proxy the synthesis (and any context model) sees in training: "ste"
    #: (rounded, straight-through gradient; the rate term always uses additive noise: "mixed
    #: quantisation", Minnen & Singh, ICIP 2020) or "noise". A training knob, not saved.
    synthesis_quantization: str = "ste"

    def __init__(self, qualities: int = len(DEFAULT_LAMBDAS), lambdas: tuple[float, ...] | None = None, **config: Any) -> None:
        lambdas = tuple(lambdas or DEFAULT_LAMBDAS[:qualities])
        if len(lambdas) != qualities:
            raise ValueError("need one lambda per quality level")
        super().__init__(qualities=qualities, lambdas=lambdas, **config)
        self.num_qualities = qualities
        self.lambdas = lambdas

    # ---- runner / CLI interface --------------------------------------------------------------
    @property
    def qualities(self) -> list[int]:
        return list(range(1, self.num_qualities + 1))

    def level(self, quality: int | Tensor, batch: int = 1) -> Tensor:
        """Quality 1..Q -> level index tensor [batch]."""
        if isinstance(quality, Tensor):
            return quality.long()
        if not 1 <= int(quality) <= self.num_qualities:
            raise InputError(f"quality must be 1..{self.num_qualities}, got {quality}")
        return torch.full((batch,), int(quality) - 1, dtype=torch.long)

    def pad(self, x: Tensor) -> Tensor:
        """Pad bottom/right to multiples of 64 by repeating the border (cheaper to code than
        zeros); decoding crops back to the size in the file."""
        h, w = x.shape[-2:]
        ph = (-h) % self.pad_multiple
        pw = (-w) % self.pad_multiple
        if not ph and not pw:
            return x
        return F.pad(x, (0, pw, 0, ph), mode="replicate")

    @torch.no_grad()
    def compress(self, x: Tensor, quality: int, reconstruct: bool = True, gray: bool = False, refine_steps: int = 0,
                 refine_seconds: float | None = None, seed: int = 0) -> tuple[Payload, Tensor | None]:
        """Code one image [1, 3, H, W] in [0, 1]: payload and the decoder's reconstruction
        (None with reconstruct=False, which skips the synthesis transform). `gray` records
        that the source was grayscale (the caller's word: x holds it in all three channels).

        refine_steps: iterative encoding (:mod:`neurocodec.codecs.image.refine`, stochastic
        Gumbel annealing of the latents, at most `refine_seconds`, noise seeded by `seed`); the
        file is the best iterate by real rate-distortion cost, never worse than 0 steps, and
        the decoder is unchanged. 0 gives exactly the unrefined file."""
        if x.dim() != 4 or x.shape[:2] != (1, 3):
            raise InputError(f"expected one RGB image [1, 3, H, W], got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        check_size(h, w, InputError)
        self.update()
        q = self.level(quality)
        if refine_steps < 0:
            raise InputError(f"refine_steps must be 0 or more, got {refine_steps}")
        if refine_steps:
            from neurocodec.codecs.image.refine import refine

            with torch.enable_grad():
                sections, y_hat, self.last_refinement = refine(self, self.pad(x.contiguous()), q, (int(h), int(w)),
                                                               refine_steps, seconds=refine_seconds, seed=seed)
        else:
            sections, y_hat = self.compress_tensor(self.pad(x.contiguous()), q)
        meta: dict[str, Any] = {"height": int(h), "width": int(w), "quality": int(quality)}
        if gray:
            meta["color"] = "gray"
        x_hat = self.synthesize(y_hat, q)[..., :h, :w].clamp(0, 1) if reconstruct else None
        return self.payload(meta, sections), x_hat

    @staticmethod
    def is_gray(metadata: dict[str, Any]) -> bool:
        """Whether a file's metadata says its source was grayscale; an unknown "color" is a
        BitstreamError."""
        color = metadata.get("color", "rgb")
        if color not in COLORS:
            raise BitstreamError(f"image .bin has unknown color {color!r} (known: {', '.join(COLORS)})")
        return color == "gray"

    @torch.no_grad()
    def decompress(self, payload: Payload) -> Tensor:
        """The decoded image, float [1, 3, H, W] in [0, 1] (three channels, also for gray files)."""
        self.check(payload)
        meta = payload.metadata
        try:
            h, w, quality = int(meta["height"]), int(meta["width"]), int(meta["quality"])
        except (KeyError, TypeError, ValueError):
            raise BitstreamError("image .bin lacks height/width/quality") from None
        check_size(h, w, BitstreamError)
        self.is_gray(meta)
        q = self.level(quality)
        ph, pw = h + (-h) % self.pad_multiple, w + (-w) % self.pad_multiple
        y_hat = self.decompress_tensor(payload.sections, q, (ph, pw))
        return self.synthesize(y_hat, q)[..., :h, :w].clamp(0, 1)

    def encode_image(self, rgb: np.ndarray, quality: int, gray: bool = False, refine_steps: int = 0,
                     refine_seconds: float | None = None, seed: int = 0) -> bytes:
        """uint8 RGB [H, W, 3] -> .bin bytes. `gray=True` (the source was grayscale, e.g.
        ``load_image_info(path).gray``) needs equal channels and marks the file gray; a 2-D
        uint8 [H, W] array is gray too."""
        a = np.asarray(rgb)
        if a.ndim == 2:
            a, gray = np.repeat(a[:, :, None], 3, axis=2), True
        elif a.ndim != 3 or a.shape[2] != 3:
            raise InputError(f"expected uint8 RGB [H, W, 3] or gray [H, W], got shape {a.shape}")
        elif gray and not ((a[:, :, 0] == a[:, :, 1]).all() and (a[:, :, 0] == a[:, :, 2]).all()):
            raise InputError("gray=True but the three channels differ: not a grayscale image")
        payload, _ = self.compress(to_tensor(a), quality, reconstruct=False, gray=gray, refine_steps=refine_steps,
                                   refine_seconds=refine_seconds, seed=seed)
        return bitstream.dumps(payload)

    def decode_payload(self, payload: Payload) -> np.ndarray:
        """A read .bin -> uint8 RGB [H, W, 3], or uint8 [H, W] when the file is marked gray."""
        x = self.decompress(payload)
        return to_gray8(x) if self.is_gray(payload.metadata) else to_uint8(x)

    def decode_image(self, data: bytes) -> np.ndarray:
        """.bin bytes -> uint8 RGB [H, W, 3], or uint8 [H, W] when the file is marked gray."""
        return self.decode_payload(bitstream.loads(data))

    def synthesize(self, y_hat: Tensor, q: Tensor) -> Tensor:
        """g_s on the un-gained latent. The input is made contiguous so that the encoder's
        reconstruction and the decoder's run the same kernels (a channels-last input would
        let oneDNN sum in another order: not bit-exact)."""
        return self.g_s((y_hat * self.gains.inv_gain(q)).contiguous())

    def ceiling(self, x: Tensor, q: Tensor) -> Tensor:
        """The transforms' own limit: g_s(g_a(x)) through the level's gain and inverse gain with
        the latent not quantised. x [B, 3, H, W] padded, q [B]; no quality level of the codec
        can reconstruct better than this (the transform ceiling tracked in training)."""
        return self.synthesize(self.g_a(x) * self.gains.gain(q), q)

    # ---- to implement ------------------------------------------------------------------------
    def compress_tensor(self, x: Tensor, q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        """Padded x -> coded sections and the quantised latent y_hat (what the decoder gets)."""
        raise NotImplementedError

    def decompress_tensor(self, sections: dict[str, bytes], q: Tensor, size: tuple[int, int]) -> Tensor:
        """Sections -> the quantised latent y_hat of a padded image of `size`."""
        raise NotImplementedError

    # iterative encoding (neurocodec.codecs.image.refine) needs the encoder split in two, and a
    # differentiable relaxation of the coding path:
    def analyze(self, x: Tensor, q: Tensor) -> dict[str, Tensor]:
        """Padded x -> the continuous latents the encoder codes (e.g. {"y": ..., "z": ...})."""
        raise NotImplementedError

    def compress_latents(self, latents: dict[str, Tensor], q: Tensor) -> tuple[dict[str, bytes], Tensor]:
        """Code given continuous latents: sections and y_hat (compress_tensor = this o analyze)."""
        raise NotImplementedError

    def relaxed(self, latents: dict[str, Tensor], q: Tensor, tau: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Soft-rounded latents (SGA at temperature tau) -> (reconstruction, bits), differentiable
        in the latents, through the fixed synthesis and the entropy model's float simulation."""
        raise NotImplementedError

    @torch.no_grad()
    def copy_parts_from(self, other: nn.Module, names: tuple[str, ...]) -> list[str]:
        """Load each named submodule of `other` into this codec's where its state loads (same
        layout and shapes); returns the names copied. The weights hash is refreshed."""
        done = []
        for name in names:
            theirs = getattr(other, name, None)
            if theirs is None:
                continue
            try:
                getattr(self, name).load_state_dict(theirs.state_dict())
            except RuntimeError:  # another layout or size
                continue
            done.append(name)
        self.refresh_hash()
        return done

    @torch.no_grad()
    def estimated_bits(self, x: Tensor, quality: int) -> float:
        """The model's own rate estimate (-sum log2 of the eval-mode likelihoods) of one image:
        what the coded sections of compress() should come within 1% of."""
        lik = self(self.pad(x.contiguous()), self.level(quality))["likelihoods"]
        return float(sum(-torch.log2(v).sum() for v in lik.values()))

    @staticmethod
    def bpp(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
        """Estimated rate per image [B] in bits per pixel."""
        total = sum(-torch.log2(v).flatten(1).sum(1) for v in likelihoods.values())
        return total / num_pixels


def latent_size(size: tuple[int, int], factor: int) -> tuple[int, int]:
    return (math.ceil(size[0] / factor), math.ceil(size[1] / factor))


def section_bytes(name: str, sections: dict[str, bytes]) -> bytes:
    try:
        return sections[name]
    except KeyError:
        raise BitstreamError(f"file lacks section {name!r}") from None
