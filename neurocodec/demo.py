"""`neurocodec demo`: the main job on a real photo, end to end.

The photo is matplotlib's grace_hopper.jpg (512x600; it ships with a dependency). The default
demo encodes it to a .bin with the shipped image codec, decodes the file and prints size,
bpp and PSNR. `--lossless` instead exercises the entropy layer and the container alone: the
pixels coded as left-neighbour residuals under per-channel tables sent in the file, checked
bit for bit.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import numpy as np
import torch

from neurocodec import bitstream
from neurocodec.entropy import TableModel, decode, encode

log = logging.getLogger(__name__)

_LOSSLESS_CODEC = "pixels-lossless-demo"


def sample_image_path() -> Path:
    """A real photo that ships with a dependency: matplotlib's grace_hopper.jpg (512x600)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def _residuals(px: np.ndarray) -> np.ndarray:
    """[H, W, C] uint8 -> int32 residuals: left neighbour, first column: pixel above."""
    p = px.astype(np.int32)
    r = np.empty_like(p)
    r[:, 1:] = p[:, 1:] - p[:, :-1]
    r[1:, 0] = p[1:, 0] - p[:-1, 0]
    r[0, 0] = p[0, 0]
    return r


def _reconstruct(r: np.ndarray) -> np.ndarray:
    first = np.cumsum(r[:, 0], axis=0)
    p = np.cumsum(np.concatenate([first[:, None], r[:, 1:]], axis=1), axis=1)
    return p.astype(np.uint8)


def lossless_roundtrip(px: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Code an [H, W, 3] uint8 image losslessly; returns the .bin bytes and the decoded image."""
    h, w, c = px.shape
    r = _residuals(px)
    sym = np.ascontiguousarray(np.moveaxis(r, 2, 0))  # [C, H, W]
    hist = np.stack([np.bincount(sym[i].ravel() + 255, minlength=511) for i in range(c)])
    tables = TableModel.from_pmfs(hist + 0.5, offsets=np.full(c, -255, np.int32))
    idx = np.broadcast_to(np.arange(c, dtype=np.int32)[:, None, None], sym.shape)
    model = tables.with_indexes(np.ascontiguousarray(idx))
    payload = bitstream.Payload(
        _LOSSLESS_CODEC,
        b"\0" * bitstream.HASH_BYTES,
        {"height": h, "width": w, "channels": c},
        {"tables": tables.cdfs.numpy().astype("<u2").tobytes(), "residuals": encode(sym, model)},
    )
    data = bitstream.dumps(payload)

    back = bitstream.loads(data)
    meta = back.metadata
    shape = (meta["channels"], meta["height"], meta["width"])
    cdfs = np.frombuffer(back.sections["tables"], "<u2").astype(np.int32).reshape(c, -1)
    model2 = TableModel(cdfs, tables.lengths, tables.offsets, torch.from_numpy(idx.copy()))
    dec = decode(back.sections["residuals"], model2).numpy().reshape(shape)
    return data, _reconstruct(np.moveaxis(dec, 0, 2))


def run(image: Path | None = None) -> dict[str, float]:
    """Run the demo and return its numbers (also logged)."""
    from PIL import Image

    path = image or sample_image_path()
    px = np.asarray(Image.open(path).convert("RGB"))
    t0 = time.perf_counter()
    data, out = lossless_roundtrip(px)
    dt = time.perf_counter() - t0
    png = io.BytesIO()
    Image.fromarray(px).save(png, format="PNG", optimize=True)
    n = px.size
    res = {
        "pixels": px.shape[0] * px.shape[1],
        "symbols": n,
        "bin_bytes": len(data),
        "png_bytes": len(png.getvalue()),
        "bits_per_symbol": 8 * len(data) / n,
        "bpp": 8 * len(data) / (px.shape[0] * px.shape[1]),
        "seconds": dt,
        "exact": bool(np.array_equal(out, px)),
    }
    return res


def run_codec(
    image: Path | None = None, codec: str = "hyperprior", quality: int = 3, out_dir: Path = Path("results/demo")
) -> dict[str, float]:
    """Encode to `out_dir/<stem>.bin` with a shipped codec, decode that file to
    `out_dir/<stem>.png`; returns sizes, bpp, PSNR and times."""
    from neurocodec.codecs.registry import load_image_codec
    from neurocodec.io.files import write_bytes_atomic
    from neurocodec.io.images import load_image, save_image, to_uint8

    path = image or sample_image_path()
    rgb = load_image(path)
    model = load_image_codec(codec)
    out_dir.mkdir(parents=True, exist_ok=True)
    bin_path, png_path = out_dir / f"{path.stem}.bin", out_dir / f"{path.stem}.png"
    t0 = time.perf_counter()
    data = model.encode_image(rgb, quality)
    write_bytes_atomic(bin_path, data, force=True)  # the demo's own output, rewritten each run
    t1 = time.perf_counter()
    out = to_uint8(model.decompress(bitstream.read(bin_path)))
    t2 = time.perf_counter()
    save_image(out, png_path)
    mse = float(np.mean((out.astype(np.float64) - rgb.astype(np.float64)) ** 2))
    return {
        "codec": model.name,
        "weights": model.weights_hash().hex(),
        "quality": quality,
        "height": rgb.shape[0],
        "width": rgb.shape[1],
        "bin": str(bin_path),
        "png": str(png_path),
        "bin_bytes": len(data),
        "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]),
        "psnr": 10 * np.log10(255.0**2 / max(mse, 1e-12)),
        "encode_s": t1 - t0,
        "decode_s": t2 - t1,
    }


def main(image: Path | None = None, codec: str = "hyperprior", quality: int = 3) -> int:
    r = run_codec(image, codec, quality)
    print(f"image: {image or sample_image_path()} ({r['width']}x{r['height']})")
    print(f"  codec {r['codec']} (weights {r['weights']}), quality {r['quality']}")
    print(f"  encoded: {r['bin']}: {r['bin_bytes']} bytes = {r['bpp']:.4f} bpp")
    print(f"  decoded: {r['png']}: PSNR {r['psnr']:.2f} dB")
    print(f"  encode {r['encode_s']:.2f} s, decode {r['decode_s']:.2f} s (CPU)")
    return 0


def main_lossless(image: Path | None = None) -> int:
    res = run(image)
    print(f"image: {image or sample_image_path()}")
    print(f"  {res['symbols']} symbols ({res['pixels']} RGB pixels), raw {res['symbols']} bytes")
    print(f"  neurocodec .bin (lossless, entropy layer): {res['bin_bytes']} bytes, "
          f"{res['bits_per_symbol']:.3f} bits/symbol, {res['bpp']:.3f} bpp")
    print(f"  PNG (Pillow, optimize) of the same pixels: {res['png_bytes']} bytes")
    print(f"  encode+decode {res['seconds'] * 1000:.1f} ms; round trip bit-exact: {res['exact']}")
    return 0 if res["exact"] else 1
