"""Safe output files: every output is written under a temporary name in its folder and renamed
into place, so an interrupted or failed write never leaves a partial file under the real name,
and nothing existing is replaced unless asked.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from neurocodec.errors import InputError


class OutputExistsError(InputError):
    """The output file exists and overwriting was not asked for (-f/--force)."""


@contextlib.contextmanager
def atomic_path(dst: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `dst` (same suffix, so writers that pick a format from
    the extension still work); on success it is renamed to `dst`, on any error or interrupt
    it is removed. Refuses an existing `dst` unless `force`."""
    dst = Path(dst)
    if dst.exists() and not force:
        raise OutputExistsError(f"{dst} exists (use -f/--force to overwrite it)")
    tmp = dst.with_name(f".nc-{secrets.token_hex(4)}.part{dst.suffix}")  # short: any legal dst name fits
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before it takes the real name
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, dst)
        else:  # link fails if dst appeared meanwhile: never replaces a file without --force
            try:
                os.link(tmp, dst)
            except FileExistsError:
                raise OutputExistsError(f"{dst} exists (use -f/--force to overwrite it)") from None
            except OSError:  # a file system without hard links: check, then rename
                if dst.exists():
                    raise OutputExistsError(f"{dst} exists (use -f/--force to overwrite it)") from None
                os.replace(tmp, dst)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_bytes_atomic(dst: str | Path, data: bytes, force: bool = False) -> None:
    """Write `data` to `dst` through :func:`atomic_path` (flushed to disk before the rename)."""
    with atomic_path(dst, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
