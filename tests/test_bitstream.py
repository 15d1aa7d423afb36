"""The .bin container: round trip, and every malformed input gives a NeurocodecError."""

from __future__ import annotations

import numpy as np
import pytest

from neurocodec import bitstream
from neurocodec.bitstream import Payload
from neurocodec.errors import (
    BadMagicError,
    BitstreamError,
    ChecksumError,
    ModelMismatchError,
    NeurocodecError,
    TruncatedError,
    UnsupportedVersionError,
)
from neurocodec.io.files import OutputExistsError


def _payload() -> Payload:
    rng = np.random.default_rng(0)
    return Payload(
        "hyperprior",
        bytes(range(8)),
        {"height": 512, "width": 768, "quality": 3, "note": "ünïcode"},
        {"y": rng.bytes(3000), "z": rng.bytes(200), "empty": b""},
    )


def test_roundtrip(tmp_path):
    p = _payload()
    size = bitstream.write(tmp_path / "a.bin", p)
    q = bitstream.read(tmp_path / "a.bin")
    assert q == p and size == (tmp_path / "a.bin").stat().st_size
    overhead = size - p.payload_bytes
    assert overhead < 140, overhead  # magic, version, header with JSON metadata, 3 section heads
    other = Payload(p.codec, p.weights_hash, {**p.metadata, "quality": 4}, p.sections)
    with pytest.raises(OutputExistsError):  # never over an existing file unless asked
        bitstream.write(tmp_path / "a.bin", other)
    assert bitstream.read(tmp_path / "a.bin") == p
    assert bitstream.write(tmp_path / "a.bin", other, force=True) == (tmp_path / "a.bin").stat().st_size
    assert bitstream.read(tmp_path / "a.bin") == other
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.bin"]  # no temporary left behind


def test_every_truncation_raises():
    data = bitstream.dumps(_payload())
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            bitstream.loads(data[:cut])


def test_every_random_byte_flip_raises():
    """CRC32 detects every single-byte error, so each of 3000 flips raises."""
    data = bitstream.dumps(_payload())
    rng = np.random.default_rng(1)
    for _ in range(3000):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
        with pytest.raises(NeurocodecError):
            bitstream.loads(bytes(b))


def test_specific_errors():
    data = bitstream.dumps(_payload())
    with pytest.raises(BadMagicError):
        bitstream.loads(b"\x89PNG\r\n\x1a\n" + data[8:])
    with pytest.raises(BadMagicError):
        bitstream.loads(b"")
    with pytest.raises(UnsupportedVersionError, match="version 9"):
        bitstream.loads(data[:8] + b"\x09" + data[9:])
    # a known older version is named, beside the version this release reads
    with pytest.raises(UnsupportedVersionError, match=r"format version 1 .*reads version 2"):
        bitstream.loads(data[:8] + b"\x01" + data[9:])
    with pytest.raises(ChecksumError):
        bitstream.loads(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    with pytest.raises(BitstreamError, match="unexpected bytes"):
        bitstream.loads(data + b"\0")
    with pytest.raises(TruncatedError):
        bitstream.loads(data[:-1])


def test_huge_declared_lengths_are_refused_before_reading():
    # header claims 2^40 bytes
    with pytest.raises(TruncatedError):
        bitstream.loads(bitstream.MAGIC + bytes([bitstream.FORMAT_VERSION]) + b"\x80\x80\x80\x80\x80\x20" + bytes(16))
    # a section claiming 2^35 bytes after a valid header
    p = Payload("x", bytes(8), {}, {})
    head = bitstream.dumps(p)[:-1]  # drop the section count
    with pytest.raises(TruncatedError):
        bitstream.loads(head + b"\x01\x01s" + b"\x80\x80\x80\x80\x80\x01" + bytes(10))
    with pytest.raises(TruncatedError):
        bitstream.loads(head + b"\xff\xff\x03")  # 65535 sections in 0 bytes


def _with_metadata(raw: bytes, codec: str = "hyperprior") -> bytes:
    """A .bin whose metadata is `raw` (not necessarily what json.dumps writes), with a valid CRC."""
    import zlib

    name = codec.encode()
    header = bitstream._varint(len(name)) + name + bytes(8) + bitstream._varint(len(raw)) + raw
    return (bitstream.MAGIC + bytes([bitstream.FORMAT_VERSION]) + bitstream._varint(len(header)) + header
            + zlib.crc32(header).to_bytes(4, "little") + bitstream._varint(0))


@pytest.mark.parametrize(("raw", "why"), [
    (b'{"height":Infinity}', "Infinity"), (b'{"height":NaN}', "NaN"), (b'{"h":-Infinity}', "Infinity"),
    (b'{"height":' + b"9" * 5000 + b"}", "digits"), (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
])
def test_metadata_that_is_not_plain_json_is_a_bitstream_error(raw, why):
    """Non-finite numbers, integers past Python's digit limit and deep nesting are corrupt
    headers (BitstreamError), not OverflowError or RecursionError later on."""
    assert bitstream.loads(_with_metadata(b'{"height":7}')).metadata == {"height": 7}  # the helper is right
    with pytest.raises(BitstreamError, match=why):
        bitstream.loads(_with_metadata(raw))
    with pytest.raises(ValueError):  # and never written
        bitstream.dumps(Payload("x", bytes(8), {"v": float("inf")}, {}))


def test_model_mismatch():
    p = _payload()
    p.check_model("hyperprior", bytes(range(8)))
    with pytest.raises(ModelMismatchError, match="codec 'hyperprior'"):
        p.check_model("gmm", bytes(range(8)))
    with pytest.raises(ModelMismatchError, match="same checkpoint"):
        p.check_model("hyperprior", bytes(8))


def test_bad_payloads_are_refused_on_write():
    with pytest.raises(ValueError):
        bitstream.dumps(Payload("x", b"short"))
    with pytest.raises(ValueError):
        bitstream.dumps(Payload("x", bytes(8), {}, {"": b"1"}))
