"""jute's binary archive (ZK: BinaryInputArchive, BinaryOutputArchive): big-endian ints,
longs, one-byte booleans, length-prefixed buffers and strings, counted vectors.

`Reader` raises `JuteError` for anything jute would refuse and for what it would read
only leniently, so that every decoded value encodes back to the same bytes: a boolean
byte other than 0 or 1, a string that is not UTF-8 (Java replaces such bytes), a length
outside -1..MAX_LENGTH (ZK: BinaryInputArchive.checkLength), bytes missing at the end.
Every message names the offset of the value from the start of the bytes being read.
"""

from __future__ import annotations

import struct
from collections.abc import Sized

__all__ = ["JUTE_MAX_BUFFER", "MAX_LENGTH", "JuteError", "Reader", "TruncatedError", "Writer"]

JUTE_MAX_BUFFER = 0xFFFFF
"""jute.maxbuffer's default (ZK: BinaryInputArchive.maxBuffer)."""
MAX_LENGTH = 2 * JUTE_MAX_BUFFER
"""The largest buffer or string length jute reads: maxBuffer plus extraMaxBuffer, which
defaults to maxBuffer (ZK: BinaryInputArchive.checkLength)."""

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


class JuteError(Exception):
    """Bytes jute would refuse; the message names the offset."""


class TruncatedError(JuteError):
    """The bytes end inside a value: on a stream, more may come."""


class Reader:
    """Reads jute values from `data`, from `pos` on; `base` is added to offsets in errors
    (the position of `data` in a larger stream or file)."""

    __slots__ = ("base", "data", "pos")

    def __init__(self, data: bytes, pos: int = 0, base: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.base = base

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int, what: str) -> int:
        at = self.pos
        if len(self.data) - at < n:
            raise TruncatedError(
                f"{what}: needs {n} bytes at offset {self.offset}, only {self.left} left"
            )
        self.pos = at + n
        return at

    def int32(self, what: str) -> int:
        value: int = _INT.unpack_from(self.data, self._take(4, what))[0]
        return value

    def int64(self, what: str) -> int:
        value: int = _LONG.unpack_from(self.data, self._take(8, what))[0]
        return value

    def byte(self, what: str) -> int:
        value = self.data[self._take(1, what)]
        return value - 256 if value > 127 else value

    def boolean(self, what: str) -> bool:
        at = self.offset
        value = self.data[self._take(1, what)]
        if value > 1:
            raise JuteError(f"{what}: boolean byte {value} at offset {at}")
        return value == 1

    def length(self, what: str) -> int:
        n: int = _INT.unpack_from(self.data, self._take(4, what))[0]
        if n != -1 and not 0 <= n <= MAX_LENGTH:
            raise JuteError(f"{what}: unreasonable length {n} at offset {self.offset - 4}")
        return n

    def buffer(self, what: str) -> bytes | None:
        n = self.length(what)
        if n < 0:
            return None
        at = self._take(n, what)
        return bytes(self.data[at : at + n])

    def ustring(self, what: str) -> str | None:
        at = self.pos
        raw = self.buffer(what)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JuteError(
                f"{what}: string at offset {self.base + at} is not UTF-8 ({e.reason})"
            ) from None

    def count(self, what: str, smallest: int) -> int:
        """A vector's element count, -1 for null; elements of at least `smallest` bytes
        each that the bytes left cannot hold are missing bytes (on a stream, more may
        come)."""
        at = self.offset
        n = self.int32(what)
        if n < -1:
            raise JuteError(f"{what}: negative count {n} at offset {at}")
        if n * smallest > self.left:
            raise TruncatedError(
                f"{what}: {n} elements at offset {at} need {n * smallest} bytes, "
                f"only {self.left} left"
            )
        return n

    def end(self, what: str) -> None:
        """Nothing may follow `what`."""
        if self.left:
            raise JuteError(f"{what}: {self.left} unexpected bytes at offset {self.offset}")


class Writer:
    """Writes jute values into one growing buffer; `bytes()` is the result."""

    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out = bytearray()

    def __bytes__(self) -> bytes:
        return bytes(self.out)

    def int32(self, value: int) -> None:
        self.out += _INT.pack(value)

    def int64(self, value: int) -> None:
        self.out += _LONG.pack(value)

    def byte(self, value: int) -> None:
        self.out.append(value & 0xFF)

    def boolean(self, value: bool) -> None:
        self.out.append(1 if value else 0)

    def buffer(self, value: bytes | None) -> None:
        if value is None:
            self.int32(-1)
        else:
            self.int32(len(value))
            self.out += value

    def ustring(self, value: str | None) -> None:
        self.buffer(None if value is None else value.encode("utf-8"))

    def count(self, items: Sized | None) -> None:
        """A vector's count: -1 for None, else its length."""
        self.int32(-1 if items is None else len(items))
