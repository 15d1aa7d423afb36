"""The `neurocodec` command line: encode | decode | info | demo (and more as codecs land)."""

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

    return demo.main(Path(args.image) if args.image else None)


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
    p = sub.add_parser("demo", help="encode and decode a sample photo")
    p.add_argument("--image", help="another image instead of the shipped sample")
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
