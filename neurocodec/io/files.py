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
    tmp = dst.with_name(f".{dst.stem}.{secrets.token_hex(4)}.part{dst.suffix}")
    try:
        yield tmp
        if dst.exists() and not force:  # appeared while we worked
            raise OutputExistsError(f"{dst} exists (use -f/--force to overwrite it)")
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(dst: str | Path, data: bytes, force: bool = False) -> None:
    """Write `data` to `dst` through :func:`atomic_path` (flushed to disk before the rename)."""
    with atomic_path(dst, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
