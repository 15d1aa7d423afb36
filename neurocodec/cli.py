"""The `neurocodec` command line: encode, decode, info, export, demo (+ eval and plot)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from neurocodec import __version__, bitstream
from neurocodec.errors import NeurocodecError


def _info(args: argparse.Namespace) -> int:
    p = bitstream.read(args.file)
    size = Path(args.file).stat().st_size
    info = {
        "file": str(args.file),
        "bytes": size,
        "codec": p.codec,
        "weights": p.weights_hash.hex(),
        "metadata": p.metadata,
        "sections": {k: len(v) for k, v in p.sections.items()},
    }
    pixels = p.metadata.get("height", 0) * p.metadata.get("width", 0)
    if pixels:
        info["bpp"] = round(8 * size / pixels, 5)
    print(json.dumps(info, indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from neurocodec import demo

    image = Path(args.image) if args.image else None
    if args.lossless:
        return demo.main_lossless(image)
    return demo.main(image, codec=args.codec, quality=args.quality)


def _pairs(inputs: Path, output: str | None, suffix: str, accept) -> list[tuple[Path, Path]]:  # noqa: ANN001
    """(input, output) file pairs for a file or a folder of files."""
    if inputs.is_dir():
        files = [p for p in sorted(inputs.iterdir()) if p.is_file() and accept(p)]
        if not files:
            raise NeurocodecError(f"no input files in {inputs}")
        out_dir = Path(output) if output else inputs
        out_dir.mkdir(parents=True, exist_ok=True)
        return [(p, out_dir / (p.stem + suffix)) for p in files]
    if not inputs.exists():
        raise FileNotFoundError(f"no such file: {inputs}")
    return [(inputs, Path(output) if output else inputs.with_suffix(suffix))]


def _progress(items: list, desc: str):  # noqa: ANN202
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", disable=len(items) < 2)


def _encode(args: argparse.Namespace) -> int:
    from neurocodec.codecs.registry import load_image_codec
    from neurocodec.io.images import IMAGE_SUFFIXES, load_image

    codec = load_image_codec(args.codec, args.checkpoint)
    pairs = _pairs(Path(args.input), args.output, ".bin", lambda p: p.suffix.lower() in IMAGE_SUFFIXES)
    for src, dst in _progress(pairs, "encode"):
        rgb = load_image(src)
        data = codec.encode_image(rgb, args.quality)
        dst.write_bytes(data)
        if len(pairs) == 1:
            bpp = 8 * len(data) / (rgb.shape[0] * rgb.shape[1])
            print(f"{src} -> {dst}: {len(data)} bytes, {bpp:.4f} bpp ({codec.name}, quality {args.quality})")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from neurocodec.codecs.registry import load_image_codec
    from neurocodec.io.images import save_image, to_uint8

    pairs = _pairs(Path(args.input), args.output, ".png", lambda p: p.suffix == ".bin")
    codecs: dict[str, object] = {}
    for src, dst in _progress(pairs, "decode"):
        payload = bitstream.read(src)
        if payload.codec not in codecs:
            codecs[payload.codec] = load_image_codec(payload.codec, args.checkpoint)
        save_image(to_uint8(codecs[payload.codec].decompress(payload)), dst)
        if len(pairs) == 1:
            print(f"{src} -> {dst}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from neurocodec.codecs import registry

    codec = registry.load(args.checkpoint)
    out = registry.save_checkpoint(codec, args.output, update_quantiles=args.update_quantiles, half=args.fp16)
    print(f"{args.checkpoint} -> {out}: codec {codec.name}, weights {codec.weights_hash().hex()}, "
          f"{out.stat().st_size / 1e6:.2f} MB")
    return 0


# Modules that add sub-commands: each has `register(subparsers)` adding parsers whose
# defaults set `func(args) -> int`.
COMMAND_MODULES: tuple[str, ...] = ("neurocodec.evaluate.cli",)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neurocodec", description=__doc__)
    ap.add_argument("--version", action="version", version=f"neurocodec {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="describe a .bin file")
    p.add_argument("file")
    p.set_defaults(func=_info)
    p = sub.add_parser("encode", help="encode an image (or a folder of images) to .bin")
    p.add_argument("input", help="image file or folder")
    p.add_argument("-o", "--output", help="output .bin (or folder); default: beside the input")
    p.add_argument("--codec", default="hyperprior", help="codec name (shipped checkpoint); default hyperprior")
    p.add_argument("--checkpoint", help="a checkpoint file instead of the shipped one")
    p.add_argument("-q", "--quality", type=int, default=3, help="quality level, 1 (smallest) .. 6; default 3")
    p.set_defaults(func=_encode)
    p = sub.add_parser("decode", help="decode a .bin (or a folder of .bin) to PNG")
    p.add_argument("input", help=".bin file or folder")
    p.add_argument("-o", "--output", help="output image (or folder); default: beside the input, .png")
    p.add_argument("--checkpoint", help="the checkpoint the file was encoded with, if not the shipped one")
    p.set_defaults(func=_decode)
    p = sub.add_parser("export", help="turn a training checkpoint into a compact codec checkpoint")
    p.add_argument("checkpoint", help="Lightning .ckpt written by neurocodec-train (or a codec .pt)")
    p.add_argument("-o", "--output", required=True, help="output .pt (e.g. checkpoints/hyperprior.pt)")
    p.add_argument("--update-quantiles", action="store_true",
                   help="set the factorised prior's table ranges exactly (changes the weights hash)")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the file size)")
    p.set_defaults(func=_export)
    p = sub.add_parser("demo", help="encode and decode a sample photo with the shipped model")
    p.add_argument("--image", help="another image instead of the shipped sample")
    p.add_argument("--codec", default="hyperprior")
    p.add_argument("-q", "--quality", type=int, default=3)
    p.add_argument("--lossless", action="store_true", help="the entropy-layer-only lossless demo instead")
    p.set_defaults(func=_demo)
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except NeurocodecError as e:
        print(f"neurocodec: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"neurocodec: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
