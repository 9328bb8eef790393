"""One direction of a learner<->leader connection cut into whole records, sans-IO: the
QuorumPackets written back to back, and after a SNAP the leader's dump (ZK:
LearnerHandler.run writes it raw between SNAP and NEWLEADER).

`feed(data)` takes bytes as TCP delivered them, in any split, and returns the records they
complete. Malformed bytes raise `JuteError`, after which the stream is spent: with a wrong
length there is no next packet to find. A value cut short is read again from its record's
start when more bytes came; a large packet is retried only when the buffer has doubled, so
it costs a bounded number of passes however it is split - or when the reader says the
sender has paused (`settle`): its end may be less than the doubling, and the leader may
then wait for our answer. A dump, which has no length before it, is read once the bytes of
its signature have come, searched in the new bytes alone: so once in all, however it is
split (reading 10 MB again at each doubling took seconds, and at each pause of a loaded
sender half a minute).
"""

from __future__ import annotations

from engine.core.jute.archive import JuteError, Reader, TruncatedError, Writer
from engine.core.jute.records import QuorumPacket
from engine.core.jute.snapshot import SIGNATURE, SnapshotDump

__all__ = ["SNAP", "QuorumStream", "encode_item"]

SNAP = 15
"""ZK: Leader.SNAP; the dump follows it."""
_SMALL = 1 << 16
"""Records shorter than this are retried on every feed."""
_SIGNATURE = len(SIGNATURE).to_bytes(4, "big") + SIGNATURE.encode()
"""The bytes that end a dump (ZK: LearnerHandler.run's writeString)."""


class QuorumStream:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0
        """Stream offset of _buf[0]."""
        self._dump_next = False
        self._retry_at = 0
        self._scanned = 0
        """Bytes of _buf searched for a dump's signature."""
        self.error: JuteError | None = None

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed by whole records so far."""
        return self._base

    @property
    def deferring(self) -> bool:
        """A large packet cut short waits for the buffer to double before it is read again:
        if the sender has paused, say so with `feed(b"", settle=True)` (its end may be here)."""
        return self._retry_at > 0 and not self._dump_next

    def feed(self, data: bytes, *, settle: bool = False) -> list[QuorumPacket | SnapshotDump]:
        if self.error is not None:
            raise self.error
        self._buf += data
        if self._dump_next and self._buf and not self._signature_came():
            return []
        if len(self._buf) < self._retry_at and not settle and not self._dump_next:
            return []
        items: list[QuorumPacket | SnapshotDump] = []
        r = Reader(bytes(self._buf), base=self._base)
        try:
            while r.left:
                start = r.pos
                try:
                    if self._dump_next:
                        items.append(SnapshotDump.read_sync(r))
                        self._dump_next = False
                    else:
                        packet = QuorumPacket.read(r)
                        items.append(packet)
                        self._dump_next = packet.type == SNAP
                except TruncatedError:
                    r.pos = start
                    self._retry_at = 2 * r.left if r.left > _SMALL else 0
                    break
            else:
                self._retry_at = 0
        except JuteError as e:
            self.error = e
            raise
        finally:
            del self._buf[: r.pos]
            self._base += r.pos
            self._scanned = max(0, self._scanned - r.pos)
        return items

    def _signature_came(self) -> bool:
        """Whether a dump's signature came since the last search: the dump may be whole."""
        at = self._buf.find(_SIGNATURE, max(0, self._scanned - len(_SIGNATURE) + 1))
        self._scanned = len(self._buf)
        return at >= 0


def encode_item(item: QuorumPacket | SnapshotDump) -> bytes:
    """What the sender writes for one record: a packet, or after SNAP the dump with its
    signature (ZK: LearnerHandler.run) - the bytes `QuorumStream` cuts back."""
    if isinstance(item, QuorumPacket):
        return item.encode()
    w = Writer()
    item.write_sync(w)
    return bytes(w)
