"""A transaction log file, `log.<zxid>` (ZK: FileTxnLog): a FileHeader ("ZKLG", version 2,
dbid), then per txn its Adler-32, its bytes as a jute buffer and the end-of-record byte
'B' (ZK: FileTxnLog.append, Util.writeTxnBytes).

ZooKeeper preallocates the file with zeros; a zero length (or the end of the bytes) ends
the log, as FileTxnIterator.next finds it. A checksum that does not match its bytes is a
`JuteError` naming the entry's offset ("CRC check failed").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Self

from engine.core.jute.archive import JuteError, Reader, Writer
from engine.core.jute.records import FileHeader
from engine.core.jute.txn import TxnEntry

__all__ = ["EOR", "TXNLOG_MAGIC", "TxnLogFile"]

TXNLOG_MAGIC = 0x5A4B4C47
""""ZKLG" (ZK: FileTxnLog.TXNLOG_MAGIC)."""
EOR = 0x42
"""'B', the end-of-record mark."""


@dataclass(frozen=True, slots=True)
class TxnLogFile:
    header: FileHeader
    entries: tuple[TxnEntry, ...]

    @classmethod
    def decode(cls, data: bytes) -> Self:
        r = Reader(data)
        header = FileHeader.read(r)
        if header.magic != TXNLOG_MAGIC:
            raise JuteError(f"txn log: magic 0x{header.magic:08x} at offset 0, not ZKLG")
        entries = []
        while r.left >= 12 and int.from_bytes(data[r.pos + 8 : r.pos + 12], "big") != 0:
            at = r.offset
            crc = r.int64("txn crc")
            raw = r.buffer("txn entry")
            if raw is None:
                raise JuteError(f"txn log: null entry at offset {at + 8}")
            if zlib.adler32(raw) != crc:
                raise JuteError(f"txn log: CRC check failed for the entry at offset {at}")
            entries.append(TxnEntry.decode(raw, base=at + 12))
            eor_at = r.offset
            if r.byte("EOR") != EOR:
                raise JuteError(f"txn log: no end-of-record mark 'B' at offset {eor_at}")
        # What follows must be the padding, zeros to the end: counted in one pass of C,
        # since a Java server's log is 64 MB of them (zookeeper.preAllocSize) and a byte
        # by byte look held the GIL for a second of a loaded machine, starving our leader's
        # pings when `zkfle node` read such a log.
        if data.count(0, r.pos) != r.left:
            raise JuteError(f"txn log: bytes after the last entry at offset {r.offset}")
        return cls(header, tuple(entries))

    def encode(self) -> bytes:
        """The log without ZooKeeper's zero padding."""
        w = Writer()
        self.header.write(w)
        for entry in self.entries:
            self.write_entry(w, entry)
        return bytes(w)

    @staticmethod
    def write_entry(w: Writer, entry: TxnEntry) -> None:
        """One entry as FileTxnLog.append writes it: checksum, bytes, 'B'."""
        raw = entry.encode()
        w.int64(zlib.adler32(raw))
        w.buffer(raw)
        w.byte(EOR)
