"""The one error hierarchy of neurocodec: every failure a user can cause is a NeurocodecError."""

from __future__ import annotations


class NeurocodecError(Exception):
    """Base class of all neurocodec errors."""


class BitstreamError(NeurocodecError):
    """A .bin file or entropy stream cannot be read."""


class TruncatedError(BitstreamError):
    """The data ends before a length it declares."""


class BadMagicError(BitstreamError):
    """The data is not a neurocodec .bin file."""


class UnsupportedVersionError(BitstreamError):
    """The file was written by a format version this release cannot read."""


class ChecksumError(BitstreamError):
    """A section's CRC32 does not match its bytes: the file is corrupt."""


class CorruptStreamError(BitstreamError):
    """An entropy-coded stream is corrupt, truncated, or was coded with another model."""


class ModelMismatchError(NeurocodecError):
    """The file was encoded by another codec or other weights than the ones decoding it."""


class CheckpointNotFoundError(NeurocodecError, FileNotFoundError):
    """No checkpoint for this codec name or path."""


class InputError(NeurocodecError, ValueError):
    """Media or arguments the codec cannot take (size, channels, bit depth, empty input)."""


class IntegerRangeError(NeurocodecError, ValueError):
    """An integer network layer could overflow its exact range (its accumulator bound is too
    large): refused when the model is built or its weights are loaded."""
