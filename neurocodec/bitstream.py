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

import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

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
_MAX_SECTIONS_STREAM = 1 << 24  # video: one section per frame
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


def _header_bytes(codec: str, weights_hash: bytes, metadata: dict[str, Any]) -> bytes:
    if len(weights_hash) != HASH_BYTES:
        raise ValueError(f"weights_hash must be {HASH_BYTES} bytes")
    name = codec.encode("utf-8")
    meta = json.dumps(metadata, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")
    header = _varint(len(name)) + name + weights_hash + _varint(len(meta)) + meta
    if len(header) > _MAX_HEADER:
        raise ValueError("metadata too large")
    return MAGIC + bytes([FORMAT_VERSION]) + _varint(len(header)) + header + zlib.crc32(header).to_bytes(4, "little")


def _section_record(name: str, data: bytes) -> bytes:
    nb = name.encode("ascii")
    if not 0 < len(nb) <= _MAX_NAME:
        raise ValueError(f"section name {name!r} must be 1..255 ASCII characters")
    record = _varint(len(nb)) + nb + _varint(len(data)) + data
    return record + zlib.crc32(record).to_bytes(4, "little")


def dumps(p: Payload) -> bytes:
    """Serialise a payload to .bin bytes."""
    out = bytearray(_header_bytes(p.codec, p.weights_hash, p.metadata))
    out += _varint(len(p.sections))
    for name, data in p.sections.items():
        out += _section_record(name, data)
    return bytes(out)


class StreamWriter:
    """Writes a .bin incrementally to a binary file: the header and the section count first,
    then one section at a time (the same bytes as :func:`dumps` of the whole payload). The
    video codec writes one section per frame, so memory does not grow with the clip."""

    def __init__(self, f: BinaryIO, codec: str, weights_hash: bytes, metadata: dict[str, Any], count: int) -> None:
        if not 0 <= count <= _MAX_SECTIONS_STREAM:
            raise ValueError(f"a stream holds 0..{_MAX_SECTIONS_STREAM} sections, not {count}")
        self.f, self.count, self.written, self.bytes = f, count, 0, 0
        self._write(_header_bytes(codec, weights_hash, metadata) + _varint(count))

    def _write(self, b: bytes) -> None:
        self.f.write(b)
        self.bytes += len(b)

    def section(self, name: str, data: bytes) -> int:
        """Append one section; returns the bytes it took in the file (its framing included)."""
        if self.written >= self.count:
            raise ValueError(f"the stream announced {self.count} sections")
        rec = _section_record(name, data)
        self._write(rec)
        self.written += 1
        return len(rec)

    def close(self) -> None:
        """Check that every announced section was written."""
        if self.written != self.count:
            raise ValueError(f"the stream announced {self.count} sections but {self.written} were written")


class _Reader:
    """Checked reads from bytes or a binary file of known size: every length is checked against
    what remains before it is read (and so before anything is allocated)."""

    def __init__(self, data: bytes | BinaryIO, size: int | None = None) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = io.BytesIO(bytes(data))
            size = data.getbuffer().nbytes
        self.f = data
        self.size = int(size) if size is not None else _file_size(data)
        self.pos = 0
        self._record: bytearray | None = None

    def remaining(self) -> int:
        return self.size - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining():
            raise TruncatedError(f"file truncated: {what} needs {n} bytes, {self.remaining()} left")
        b = self.f.read(n)
        if len(b) != n:
            raise TruncatedError(f"file truncated: {what} needs {n} bytes, {len(b)} could be read")
        self.pos += n
        if self._record is not None:
            self._record += b
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

    def begin_record(self) -> None:
        """Start collecting the bytes a following :meth:`end_record` checks."""
        self._record = bytearray()

    def end_record(self, what: str) -> bytes:
        """Check the CRC32 that follows the bytes read since :meth:`begin_record`."""
        covered, self._record = bytes(self._record or b""), None
        crc = int.from_bytes(self.take(4, f"{what} checksum"), "little")
        if zlib.crc32(covered) != crc:
            raise ChecksumError(f"corrupt file: checksum mismatch in {what}")
        return covered


def _file_size(f: BinaryIO) -> int:
    here = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(here)
    return end - here


class StreamReader:
    """Reads a .bin incrementally: the header on construction (``codec``, ``weights_hash``,
    ``metadata``, ``count``), then the sections one at a time by iteration, each checked
    (lengths, CRC) as it is read; after the last one, no byte may remain. Raises a
    BitstreamError subclass on any malformed input."""

    def __init__(self, data: bytes | BinaryIO, size: int | None = None, max_sections: int = _MAX_SECTIONS) -> None:
        r = self.r = _Reader(data, size)
        if not r.size:
            raise BadMagicError("empty file: not a neurocodec .bin file")
        if r.remaining() < len(MAGIC):
            head = r.take(r.remaining(), "magic")
            if head == MAGIC[: len(head)]:
                raise TruncatedError("file truncated inside the magic number")
            raise BadMagicError("not a neurocodec .bin file (bad magic number)")
        if r.take(len(MAGIC), "magic") != MAGIC:
            raise BadMagicError("not a neurocodec .bin file (bad magic number)")
        version = r.take(1, "format version")[0]
        if version != FORMAT_VERSION:
            if version in FORMAT_HISTORY:
                raise UnsupportedVersionError(
                    f".bin format version {version} ({FORMAT_HISTORY[version]}) is not read by this release, "
                    f"which reads version {FORMAT_VERSION} only: re-encode the source with this release"
                )
            raise UnsupportedVersionError(
                f".bin format version {version} is not supported by this release (reads version {FORMAT_VERSION})"
            )
        hlen = r.varint("header length", min(_MAX_HEADER, r.remaining()))
        r.begin_record()
        h = _Reader(r.take(hlen, "header"))
        r.end_record("header")
        try:
            self.codec = h.take(h.varint("codec name length", h.remaining()), "codec name").decode("utf-8")
            self.weights_hash = h.take(HASH_BYTES, "weights hash")
            meta_raw = h.take(h.varint("metadata length", h.remaining()), "metadata")
            self.metadata = json.loads(meta_raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, NaN/Infinity, an int of 4300+ digits
            raise BitstreamError(f"corrupt file header: {e}") from None
        except RecursionError:
            raise BitstreamError("corrupt file header: metadata nested too deeply") from None
        if not isinstance(self.metadata, dict) or h.remaining():
            raise BitstreamError("corrupt file header")
        self.count = r.varint("section count", min(max_sections, r.remaining()))
        self._names: set[str] = set()
        self._read = 0

    def check_model(self, codec: str, weights_hash: bytes) -> None:
        Payload(self.codec, self.weights_hash).check_model(codec, weights_hash)

    def next_section(self) -> tuple[str, bytes]:
        """The next (name, data); after the last one, checks that the file ends there."""
        if self._read >= self.count:
            raise StopIteration
        r = self.r
        r.begin_record()
        name_b = r.take(r.varint("section name length", _MAX_NAME), "section name")
        try:
            name = name_b.decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("corrupt file: section name is not ASCII") from None
        if not name or name in self._names:
            raise BitstreamError(f"corrupt file: bad or repeated section name {name!r}")
        size = r.varint(f"length of section {name!r}", r.remaining())
        data = r.take(size, f"section {name!r}")
        r.end_record(f"section {name!r}")
        if len(self._names) < 65536:  # names of a long stream are checked by their readers
            self._names.add(name)
        self._read += 1
        if self._read == self.count and r.remaining():
            raise BitstreamError(f"corrupt file: {r.remaining()} unexpected bytes after the last section")
        return name, data

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        while self._read < self.count:
            yield self.next_section()


def _no_constant(name: str) -> None:
    """json's parse_constant: NaN and +-Infinity are not JSON and never written here."""
    raise ValueError(f"{name} in metadata")


def loads(data: bytes | bytearray | memoryview) -> Payload:
    """Parse .bin bytes. Raises a BitstreamError subclass on any malformed input."""
    s = StreamReader(bytes(data))
    sections = dict(s)
    if s.count == 0 and s.r.remaining():
        raise BitstreamError(f"corrupt file: {s.r.remaining()} unexpected bytes after the last section")
    return Payload(s.codec, s.weights_hash, s.metadata, sections)


def read_header(path: str | Path) -> StreamReader:
    """The header of a .bin file (codec, weights hash, metadata, section count), read without
    its sections; the file is closed again (iterate a StreamReader on an open file for them)."""
    with open(path, "rb") as f:
        return StreamReader(f)


def write(path: str | Path, p: Payload, force: bool = False) -> int:
    """Write a payload to `path` (a temporary name, renamed once whole); returns the file size
    in bytes. An existing `path` is refused (OutputExistsError) unless `force`."""
    from neurocodec.io.files import write_bytes_atomic

    data = dumps(p)
    write_bytes_atomic(path, data, force=force)
    return len(data)


def read(path: str | Path) -> Payload:
    """Read and check a .bin file."""
    return loads(Path(path).read_bytes())
