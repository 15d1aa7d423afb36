"""Portability check: files encoded under one setting (thread count, oneDNN on/off, device)
decode under every other, to the same latent symbols; and how many decoded pixels differ.

The entropy parameters are integer-exact (:mod:`neurocodec.entropy.integer_nets`), so a file
must decode everywhere with identical symbols: any failure is a bug. The synthesis transform
stays float, so decoded pixels may differ by a rounding step between settings; that is
measured and reported, not required to be zero.

Used by ``benchmarks/portability.py`` (folders of images, a table and JSON) and the tests.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch
from torch import Tensor

from neurocodec.codecs.image.base import ImageCodec
from neurocodec.errors import NeurocodecError
from neurocodec.io.images import to_uint8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    """Where and how a codec runs: CPU threads, oneDNN on or off, device."""

    threads: int | None = None
    onednn: bool = True
    device: str = "cpu"

    @property
    def name(self) -> str:
        parts = [self.device]
        if self.threads is not None:
            parts.append(f"{self.threads}t")
        if not self.onednn:
            parts.append("no-onednn")
        return "/".join(parts)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        old = torch.get_num_threads()
        try:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            with torch.backends.mkldnn.flags(enabled=self.onednn):
                yield
        finally:
            torch.set_num_threads(old)


def default_settings(threads: tuple[int, ...] = (1, 2), onednn_off: bool = False, cuda: bool | None = None) -> list[Setting]:
    """CPU with each thread count, optionally oneDNN off, and CUDA when present (cuda=None)."""
    out = [Setting(threads=t) for t in threads]
    if onednn_off:
        out.append(Setting(threads=threads[0], onednn=False))
    if cuda or (cuda is None and torch.cuda.is_available()):
        out.append(Setting(device="cuda"))
    return out


@dataclass
class ItemResult:
    """One image at one quality: every encode setting against every decode setting."""

    image: str
    quality: int
    failures: list[str] = field(default_factory=list)  # "enc -> dec: reason"
    pixel_diffs: dict[str, int] = field(default_factory=dict)  # "enc -> dec" vs the encoder's own decode
    max_abs_diff: int = 0
    pixels: int = 0


class _Codecs:
    """One copy of the codec per device (moved once)."""

    def __init__(self, codec: ImageCodec) -> None:
        self.base = codec.eval()
        self.by_device: dict[str, ImageCodec] = {"cpu": codec}

    def on(self, device: str) -> ImageCodec:
        if device not in self.by_device:
            self.by_device[device] = copy.deepcopy(self.base).to(device).eval()
        return self.by_device[device]


@torch.no_grad()
def check_image(codecs: _Codecs | ImageCodec, name: str, x: Tensor, quality: int, settings: list[Setting],
                pixels: bool = True) -> ItemResult:
    """Encode x [1, 3, H, W] in [0, 1] under each setting and decode every file under every
    setting. A failure: decoding raised, or its latent differs from the encoder's."""
    codecs = codecs if isinstance(codecs, _Codecs) else _Codecs(codecs)
    h, w = x.shape[-2:]
    res = ItemResult(name, quality, pixels=int(h * w))
    for enc in settings:
        c = codecs.on(enc.device)
        q = c.level(quality).to(enc.device)
        with enc.active():
            xp = c.pad(x.to(enc.device).contiguous())
            sections, y_enc = c.compress_tensor(xp, q)
        y_enc = y_enc.cpu()
        own: Tensor | None = None
        decoded: dict[str, Tensor] = {}
        for dec in settings:
            d = codecs.on(dec.device)
            qd = d.level(quality).to(dec.device)
            key = f"{enc.name} -> {dec.name}"
            try:
                with dec.active():
                    y_dec = d.decompress_tensor(sections, qd, tuple(xp.shape[-2:]))
                    img = to_uint8(d.synthesize(y_dec, qd)[..., :h, :w].clamp(0, 1).cpu()) if pixels else None
            except NeurocodecError as e:
                res.failures.append(f"{key}: {e}")
                continue
            if not torch.equal(y_dec.cpu(), y_enc):
                res.failures.append(f"{key}: decoded latent differs from the encoder's")
                continue
            if img is not None:
                decoded[key] = torch.from_numpy(img)
                if dec == enc:
                    own = decoded[key]
        if own is not None:
            for key, img in decoded.items():
                diff = (img.int() - own.int()).abs()
                res.pixel_diffs[key] = int((diff.amax(-1) > 0).sum())
                res.max_abs_diff = max(res.max_abs_diff, int(diff.max()))
    return res


def summarize(results: list[ItemResult], settings: list[Setting]) -> dict:
    """Failures and differing pixels per (encode setting, decode setting), over all items."""
    pairs = {}
    for enc in settings:
        for dec in settings:
            key = f"{enc.name} -> {dec.name}"
            fails = sum(any(f.startswith(key + ":") for f in r.failures) for r in results)
            diffs = [r.pixel_diffs.get(key, 0) for r in results]
            pairs[key] = {
                "files": len(results),
                "failures": fails,
                "files_with_pixel_diffs": sum(d > 0 for d in diffs),
                "differing_pixels": sum(diffs),
            }
    total_pixels = sum(r.pixels for r in results)
    return {
        "settings": [asdict(s) | {"name": s.name} for s in settings],
        "files": len(results),
        "failures": sum(bool(r.failures) for r in results),
        "pairs": pairs,
        "pixels_per_decode": total_pixels,
        "max_abs_pixel_diff": max((r.max_abs_diff for r in results), default=0),
    }
