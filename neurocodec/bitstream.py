"""The .bin container: one file format for every neurocodec codec.

Layout (integers little endian; varints LEB128)::

    magic        8 bytes  b"\\x89NCB\\r\\n\\x1a\\n"   (PNG-style: catches text-mode mangling)
    version      u8       format version (2; see FORMAT_HISTORY)
    header_len   varint   then header bytes, then u32 CRC32 of the header bytes
      codec        varint length + UTF-8 name
      weights      8 bytes, short hash of the checkpoint weights
      metadata     varint length + compact JSON object (media size, sample rate, padding, ...)
    n_sections   varint
    per section: varint name length + ASCII name | varint payload length | payload
                 | u32 CRC32 of the whole record (name and length included)

The file ends exactly after the last section. The reader checks every length against the
bytes that remain before reading (and so before allocating), and every CRC. It knows nothing
of models: codecs put their integers in `metadata` and their entropy-coded bytes in `sections`.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurocodec.errors import (
    BadMagicError,
    BitstreamError,
    ChecksumError,
    ModelMismatchError,
    TruncatedError,
    UnsupportedVersionError,
)

MAGIC = b"\x89NCB\r\n\x1a\n"
FORMAT_VERSION = 2
# What each format version was; readers name the version of a file they refuse.
FORMAT_HISTORY = {
    1: "neurocodec 0.1: entropy parameters from float networks (files may not decode on another "
       "machine or thread count)",
    2: "integer-exact entropy parameters (integer networks): every file decodes on any machine",
}
HASH_BYTES = 8
_MAX_HEADER = 1 << 20
_MAX_SECTIONS = 4096
_MAX_NAME = 255


@dataclass
class Payload:
    """A codec's whole output: who made it, small side information, and coded sections."""

    codec: str
    weights_hash: bytes
    metadata: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, bytes] = field(default_factory=dict)

    def check_model(self, codec: str, weights_hash: bytes) -> None:
        """Raise ModelMismatchError unless this payload was made by `codec` with these weights."""
        if self.codec != codec:
            raise ModelMismatchError(f"file was encoded with codec {self.codec!r}, not {codec!r}")
        if self.weights_hash != weights_hash:
            raise ModelMismatchError(
                f"file was encoded with {self.codec!r} weights {self.weights_hash.hex()}, "
                f"but the loaded weights are {weights_hash.hex()}: decode with the same checkpoint"
            )

    @property
    def payload_bytes(self) -> int:
        """Bytes of the coded sections alone (no container header)."""
        return sum(len(v) for v in self.sections.values())


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def dumps(p: Payload) -> bytes:
    """Serialise a payload to .bin bytes."""
    if len(p.weights_hash) != HASH_BYTES:
        raise ValueError(f"weights_hash must be {HASH_BYTES} bytes")
    codec = p.codec.encode("utf-8")
    meta = json.dumps(p.metadata, separators=(",", ":"), sort_keys=True).encode("utf-8")
    header = _varint(len(codec)) + codec + p.weights_hash + _varint(len(meta)) + meta
    if len(header) > _MAX_HEADER:
        raise ValueError("metadata too large")
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out += _varint(len(header)) + header + zlib.crc32(header).to_bytes(4, "little")
    out += _varint(len(p.sections))
    for name, data in p.sections.items():
        nb = name.encode("ascii")
        if not 0 < len(nb) <= _MAX_NAME:
            raise ValueError(f"section name {name!r} must be 1..255 ASCII characters")
        record = _varint(len(nb)) + nb + _varint(len(data)) + data
        out += record + zlib.crc32(record).to_bytes(4, "little")
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining():
            raise TruncatedError(f"file truncated: {what} needs {n} bytes, {self.remaining()} left")
        b = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return b

    def varint(self, what: str, limit: int) -> int:
        v = 0
        for shift in range(0, 64, 7):
            b = self.take(1, what)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                if v > limit:
                    raise TruncatedError(f"file truncated or corrupt: {what} {v} exceeds {limit}")
                return v
        raise BitstreamError(f"corrupt file: malformed {what}")

    def crc_checked(self, n: int, what: str, start: int | None = None) -> bytes:
        """Take n bytes followed by a CRC32 of data[start:] (default: of the n bytes)."""
        begin = self.pos if start is None else start
        b = self.take(n, what)
        covered = bytes(self.data[begin : self.pos])
        crc = int.from_bytes(self.take(4, f"{what} checksum"), "little")
        if zlib.crc32(covered) != crc:
            raise ChecksumError(f"corrupt file: checksum mismatch in {what}")
        return b


def loads(data: bytes | bytearray | memoryview) -> Payload:
    """Parse .bin bytes. Raises a BitstreamError subclass on any malformed input."""
    r = _Reader(bytes(data))
    if not len(data):
        raise BadMagicError("empty file: not a neurocodec .bin file")
    if r.remaining() < len(MAGIC) or r.take(len(MAGIC), "magic") != MAGIC:
        if len(data) < len(MAGIC) and bytes(data) == MAGIC[: len(data)]:
            raise TruncatedError("file truncated inside the magic number")
        raise BadMagicError("not a neurocodec .bin file (bad magic number)")
    version = r.take(1, "format version")[0]
    if version != FORMAT_VERSION:
        if version in FORMAT_HISTORY:
            raise UnsupportedVersionError(
                f".bin format version {version} ({FORMAT_HISTORY[version]}) is not read by this release, "
                f"which reads version {FORMAT_VERSION} only: re-encode the source image with this release"
            )
        raise UnsupportedVersionError(
            f".bin format version {version} is not supported by this release (reads version {FORMAT_VERSION})"
        )
    hlen = r.varint("header length", min(_MAX_HEADER, r.remaining()))
    h = _Reader(r.crc_checked(hlen, "header"))
    try:
        codec = h.take(h.varint("codec name length", h.remaining()), "codec name").decode("utf-8")
        weights_hash = h.take(HASH_BYTES, "weights hash")
        meta_raw = h.take(h.varint("metadata length", h.remaining()), "metadata")
        metadata = json.loads(meta_raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BitstreamError(f"corrupt file header: {e}") from None
    if not isinstance(metadata, dict) or h.remaining():
        raise BitstreamError("corrupt file header")
    count = r.varint("section count", min(_MAX_SECTIONS, r.remaining()))
    sections: dict[str, bytes] = {}
    for _ in range(count):
        start = r.pos
        name_b = r.take(r.varint("section name length", _MAX_NAME), "section name")
        try:
            name = name_b.decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("corrupt file: section name is not ASCII") from None
        if not name or name in sections:
            raise BitstreamError(f"corrupt file: bad or repeated section name {name!r}")
        size = r.varint(f"length of section {name!r}", r.remaining())
        sections[name] = r.crc_checked(size, f"section {name!r}", start)
    if r.remaining():
        raise BitstreamError(f"corrupt file: {r.remaining()} unexpected bytes after the last section")
    return Payload(codec, weights_hash, metadata, sections)


def write(path: str | Path, p: Payload) -> int:
    """Write a payload to `path`; returns the file size in bytes."""
    data = dumps(p)
    Path(path).write_bytes(data)
    return len(data)


def read(path: str | Path) -> Payload:
    """Read and check a .bin file."""
    return loads(Path(path).read_bytes())
