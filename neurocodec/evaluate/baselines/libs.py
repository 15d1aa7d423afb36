"""What the codec adapters share: the check of a quality level, and the versions of the
libraries behind the classical baselines (PyAV's FFmpeg and the encoders bundled in its wheel),
recorded in every result file."""

from __future__ import annotations

import ctypes
import glob
import os
from typing import Any

import numpy as np

from neurocodec.errors import InputError


def check_quality(adapter: Any, quality: Any) -> int:
    """`quality` as an int within `adapter.quality_range`, else InputError naming the adapter and
    what its quality means (`adapter.quality_meaning`)."""
    lo, hi = adapter.quality_range
    if not isinstance(quality, (int, np.integer)) or not lo <= int(quality) <= hi:
        raise InputError(f"{adapter.name}: quality must be an integer in [{lo}, {hi}] ({adapter.quality_meaning}), "
                         f"got {quality!r}")
    return int(quality)


def bundled_lib_version(prefix: str, symbol: str, call: bool) -> str | None:
    """Version string of a library bundled in PyAV's wheel (av.libs/), or None.

    `symbol` is a function returning ``const char *`` (call=True) or such a variable (call=False).
    """
    try:
        import av

        libdir = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
        paths = sorted(glob.glob(os.path.join(libdir, prefix + "-*")))
        if not paths:
            return None
        lib = ctypes.CDLL(paths[0])
        if call:
            f = getattr(lib, symbol)
            f.restype = ctypes.c_char_p
            raw = f()
        else:
            raw = ctypes.c_char_p.in_dll(lib, symbol).value
        return raw.decode() if raw else None
    except (OSError, AttributeError, ValueError):
        return None


def pyav_versions() -> dict[str, Any]:
    """PyAV's version and that of the libavcodec it ships."""
    import av

    return {"pyav": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}
