"""Compressed trace files: `.jsonl.gz` (gzip) and `.jsonl.zst` (Zstandard), as streams.

A trace's name says how it is written: `Encoder.for_path` gives the writer an encoder that
compresses each flushed batch of lines and ends it with a sync flush, so that whatever
reached the kernel decodes to complete lines - a killed writer loses no more than with a
plain file. Readers do not trust the name: `open_trace_file` looks at the first bytes
(gzip's or Zstandard's magic number, otherwise plain JSON Lines) and returns a binary file
object that reads, iterates lines, tells and seeks in the *decoded* bytes, so every reader
of traces (replay and its index, verify, export, check) reads any of the three unchanged.
Decoding is incremental: memory stays flat on any size. A stream cut short (a writer killed
before its last flush) ends where its complete data ends; the last line is then torn, as
in a plain file. Seeking backwards in a compressed file decodes it again from the start.
"""

from __future__ import annotations

import io
import os
import zlib
from typing import IO, Protocol

import zstandard

GZIP_SUFFIX, ZSTD_SUFFIX = ".gz", ".zst"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 16
"""Compressed bytes read at a time."""


class CorruptTraceError(OSError):
    """The compressed data of a trace cannot be decoded (not a cut-short end: damage)."""


class Encoder(Protocol):
    """What a trace writer passes its bytes through on their way to the file."""

    def encode(self, data: bytes | bytearray) -> bytes:
        """`data` encoded so that all of it decodes from what was returned so far."""
        ...

    def finish(self) -> bytes:
        """The end of the stream (a trailer); nothing may be encoded after it."""
        ...


class _Gzip:
    def __init__(self, level: int) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer

    def encode(self, data: bytes | bytearray) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _Zstd:
    def __init__(self, level: int) -> None:
        self._z = zstandard.ZstdCompressor(level=level).compressobj()

    def encode(self, data: bytes | bytearray) -> bytes:
        return self._z.compress(bytes(data)) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._z.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def encoder_for(path: str | os.PathLike[str]) -> Encoder | None:
    """The encoder a trace of this name is written with; None for plain `.jsonl`."""
    name = os.fspath(path)
    if name.endswith(GZIP_SUFFIX):
        return _Gzip(6)
    if name.endswith(ZSTD_SUFFIX):
        return _Zstd(3)
    return None


class EncodedFile:
    """A binary file written through an encoder in large batches (a trace written in one
    go, as `zkfle import` writes one: no sync flush per line)."""

    BATCH = 1 << 20

    def __init__(self, f: IO[bytes], encoder: Encoder | None) -> None:
        self._f = f
        self._encoder = encoder
        self._batch = bytearray()

    def write(self, data: bytes) -> None:
        if self._encoder is None:
            self._f.write(data)
            return
        self._batch += data
        if len(self._batch) >= self.BATCH:
            self._f.write(self._encoder.encode(self._batch))
            self._batch.clear()

    def finish(self) -> None:
        """Write what is left and the stream's end (the caller flushes and closes `f`)."""
        if self._encoder is not None:
            self._f.write(self._encoder.encode(self._batch) + self._encoder.finish())
            self._batch.clear()


def compression_of(path: str | os.PathLike[str]) -> str | None:
    """ "gzip", "zstd" or None (plain), from the name, as `encoder_for` decides."""
    name = os.fspath(path)
    return "gzip" if name.endswith(GZIP_SUFFIX) else "zstd" if name.endswith(ZSTD_SUFFIX) else None


class _Decoded(io.RawIOBase):
    """The decoded bytes of a gzip or Zstandard file, read forward; a backward seek starts
    again from the beginning."""

    def __init__(self, path: str | os.PathLike[str], zstd: bool) -> None:
        self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._zstd = zstd
        self._restart()

    def _restart(self) -> None:
        self._raw.seek(0)
        self._d = self._decoder()
        self._buf = b""
        self._off = 0
        """Where the unread part of `_buf` starts."""
        self._pos = 0
        self._eof = False

    def _decoder(self) -> zlib._Decompress | zstandard.ZstdDecompressionObj:
        if self._zstd:
            return zstandard.ZstdDecompressor().decompressobj()
        return zlib.decompressobj(31)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a compressed trace seeks from its start only")
        if offset < self._pos:
            self._restart()
        while self._pos < offset:
            skipped = self.read(min(offset - self._pos, _CHUNK))
            if not skipped:
                break
        return self._pos

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        while self._off == len(self._buf) and not self._eof:
            self._fill()
        off = self._off
        n = min(len(b), len(self._buf) - off)
        b[:n] = memoryview(self._buf)[off : off + n]
        self._off = off + n
        self._pos += n
        return n

    def _fill(self) -> None:
        chunk = self._raw.read(_CHUNK)
        if not chunk:
            self._eof = True  # a stream cut short ends with what decoded so far
            return
        try:
            out = self._d.decompress(chunk)
            while self._d.eof and self._d.unused_data:
                # Another gzip member or Zstandard frame follows (concatenated files).
                rest = self._d.unused_data
                self._d = self._decoder()
                out += self._d.decompress(rest)
        except (zlib.error, zstandard.ZstdError) as e:
            where = self._raw.tell()
            raise CorruptTraceError(f"corrupt compressed data near byte {where}: {e}") from None
        self._buf, self._off = out, 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_trace_file(path: str | os.PathLike[str]) -> IO[bytes]:
    """A trace file opened for reading its decoded bytes (see the module docstring)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic.startswith(_GZIP_MAGIC):
        return io.BufferedReader(_Decoded(path, zstd=False), _CHUNK)
    if magic == _ZSTD_MAGIC:
        return io.BufferedReader(_Decoded(path, zstd=True), _CHUNK)
    return open(path, "rb")


__all__ = ["CorruptTraceError", "Encoder", "compression_of", "encoder_for", "open_trace_file"]
