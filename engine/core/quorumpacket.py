"""ZooKeeper's learner<->leader byte stream (jute QuorumPacket), cut into packets.

On the quorum port, learner and leader write jute-serialised QuorumPackets back to back
(ZK: zookeeper.jute `class QuorumPacket`, BinaryOutputArchive): int32 type, int64 zxid,
`buffer data` (int32 length, -1 for null, then the bytes) and `vector<Id> authinfo` (int32
count, -1 for null, then per Id two `ustring`s). There is no frame around a packet: packets
are cut by jute's own length fields, never by TCP reads. One thing on the stream is not a
packet: after SNAP the leader dumps its database raw (ZK: LearnerHandler.run ->
ZKDatabase.serializeSnapshot, then the string "BenWasHere"): the sessions, the ACL cache,
every node by path up to the end mark "/", and the signature. `QuorumStreamDecoder` reads
that dump as one `SnapshotDump` item.

Bytes that jute would refuse raise `JuteError` naming the stream offset (ZK:
BinaryInputArchive.checkLength: a length outside -1..maxBuffer+extraMaxBuffer is
"Unreasonable length"). After an error the decoder is spent: a stream with a wrong length
has no next packet to find.

Pure module: no threads, clock, sockets, randomness or logging.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from engine.core.jute.archive import JUTE_MAX_BUFFER, MAX_LENGTH, JuteError
from engine.core.quorum.error import ConfigError
from engine.core.quorum.parse import parse_dynamic_config

__all__ = [
    "JUTE_MAX_BUFFER",
    "MAX_LENGTH",
    "PACKET_TYPES",
    "SNAP",
    "SNAPSHOT_SIGNATURE",
    "JuteError",
    "Packet",
    "QuorumStreamDecoder",
    "SnapshotDump",
    "config_version",
    "encode_packet",
    "encode_string",
    "packet_name",
]

PACKET_TYPES: dict[int, str] = {
    1: "REQUEST",
    2: "PROPOSAL",
    3: "ACK",
    4: "COMMIT",
    5: "PING",
    6: "REVALIDATE",
    7: "SYNC",
    8: "INFORM",
    9: "COMMITANDACTIVATE",
    10: "NEWLEADER",
    11: "FOLLOWERINFO",
    12: "UPTODATE",
    13: "DIFF",
    14: "TRUNC",
    15: "SNAP",
    16: "OBSERVERINFO",
    17: "LEADERINFO",
    18: "ACKEPOCH",
    19: "INFORMANDACTIVATE",
}
"""ZK: the packet type constants of Leader.java."""

SNAP = 15
SNAPSHOT_SIGNATURE = "BenWasHere"
"""The string that ends a snapshot dump (ZK: LearnerHandler.run, Learner.syncWithLeader)."""

_HEAD = struct.Struct(">iqi")  # type, zxid, data length
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_SESSION = struct.Struct(">qi")  # session id, timeout
_NODE_TAIL = 8 + 60  # DataNode: long acl, then StatPersisted (4 longs, 3 ints, 2 longs)
_LEARNER_INFO = struct.Struct(">qiq")  # serverid, protocolVersion, configVersion


class _IncompleteError(Exception):
    """Not enough bytes buffered for the next item yet."""


def packet_name(packet_type: int) -> str:
    """The Leader.java name of a type, or UNKNOWN<n> as LearnerHandler.packetToString says."""
    return PACKET_TYPES.get(packet_type) or f"UNKNOWN{packet_type}"


@dataclass(frozen=True, slots=True)
class Packet:
    """One QuorumPacket: where it starts on the stream, its size in bytes, and its fields.
    `data_length` is -1 for a null buffer (jute's null). `info` holds what the handshake
    packets carry in their data (see `_info`)."""

    offset: int
    size: int
    type: int
    zxid: int
    data_length: int
    authinfo: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return packet_name(self.type)


@dataclass(frozen=True, slots=True)
class SnapshotDump:
    """The leader's database dump that follows a SNAP packet."""

    offset: int
    size: int
    sessions: int
    acls: int
    nodes: int


Item = Packet | SnapshotDump


def config_version(text: str) -> int | None:
    """The version of a QuorumVerifier text (NEWLEADER's data, a notification's config), or
    None if ZooKeeper could not parse it (parses are cached by text)."""
    try:
        return parse_dynamic_config(text).version
    except ConfigError:
        return None


def _info(packet_type: int, data: bytes | None) -> dict[str, Any]:
    """The fields of the learner handshake, from a packet's data (ZK: Learner.registerWithLeader,
    LearnerHandler.run, which read them leniently by length, as here)."""
    if data is None:
        return {}
    if packet_type in (11, 16):  # FOLLOWERINFO, OBSERVERINFO: LearnerInfo
        info: dict[str, Any] = {}
        if len(data) >= 8:
            info["sid"] = _LONG.unpack_from(data)[0]
        if len(data) >= 12:
            info["protocol_version"] = _INT.unpack_from(data, 8)[0]
        if len(data) >= 20:
            info["config_version"] = _LONG.unpack_from(data, 12)[0]
        return info
    if packet_type == 17 and len(data) >= 4:  # LEADERINFO: the leader's protocol version
        return {"protocol_version": _INT.unpack_from(data)[0]}
    if packet_type == 18 and len(data) >= 4:  # ACKEPOCH: the learner's currentEpoch or -1
        return {"epoch": _INT.unpack_from(data)[0]}
    if packet_type == 10 and data:  # NEWLEADER: the leader's QuorumVerifier text
        text = data.decode("utf-8", "replace")
        return {"config": text, "config_version": config_version(text)}
    return {}


class _Cursor:
    """Reads jute values out of a buffer from `pos`, raising _IncompleteError at its end."""

    __slots__ = ("base", "buf", "end", "pos")

    def __init__(self, buf: bytearray, pos: int, base: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)
        self.base = base
        """Stream offset of buf[0], for error messages."""

    def need(self, n: int) -> None:
        if self.end - self.pos < n:
            raise _IncompleteError

    def int32(self) -> int:
        self.need(4)
        value: int = _INT.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def int64(self) -> int:
        self.need(8)
        value: int = _LONG.unpack_from(self.buf, self.pos)[0]
        self.pos += 8
        return value

    def length(self, what: str) -> int:
        """A jute buffer/string length: -1 (null) or 0..MAX_LENGTH."""
        at = self.base + self.pos
        n = self.int32()
        if n != -1 and not 0 <= n <= MAX_LENGTH:
            raise JuteError(f"unreasonable {what} length {n} at stream offset {at}")
        return n

    def skip(self, n: int) -> None:
        self.need(n)
        self.pos += n

    def buffer(self, what: str) -> bytes | None:
        n = self.length(what)
        if n < 0:
            return None
        self.need(n)
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def skip_buffer(self, what: str) -> int:
        n = self.length(what)
        if n > 0:
            self.skip(n)
        return n

    def count(self, what: str, smallest: int) -> int:
        """A vector's element count (-1 is null); more than the largest stream could hold is
        garbage, not a vector."""
        at = self.base + self.pos
        n = self.int32()
        if n < -1 or n > MAX_LENGTH // smallest:
            raise JuteError(f"unreasonable {what} count {n} at stream offset {at}")
        return n


class QuorumStreamDecoder:
    """Cuts one direction of a learner<->leader connection into packets and snapshot dumps.

    `feed(data)` takes the bytes as TCP delivered them (any split) and returns the items
    completed by them, in order. Only the leader sends SNAP, so one class serves both
    directions.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0
        """Stream offset of _buf[0]."""
        self._dump: _Dump | None = None
        self.error: JuteError | None = None

    @property
    def offset(self) -> int:
        """Bytes of the stream decoded into items so far."""
        return self._base

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete item."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Item]:
        if self.error is not None:
            raise self.error
        self._buf += data
        items: list[Item] = []
        pos = 0
        try:
            while True:
                cur = _Cursor(self._buf, pos, self._base)
                try:
                    item = self._next(cur)
                except _IncompleteError:
                    break
                pos = cur.pos
                if item is not None:
                    items.append(item)
        except JuteError as e:
            self.error = e
            raise
        finally:
            if pos:
                del self._buf[:pos]
                self._base += pos
        return items

    def _next(self, cur: _Cursor) -> Item | None:
        if self._dump is not None:
            dump = self._dump.step(cur)
            if dump is not None:
                self._dump = None
            return dump
        start = cur.base + cur.pos
        cur.need(_HEAD.size)
        packet_type, zxid, n = _HEAD.unpack_from(cur.buf, cur.pos)
        if n != -1 and not 0 <= n <= MAX_LENGTH:
            raise JuteError(
                f"unreasonable data length {n} at stream offset {start + 12} "
                f"(packet type {packet_type} at {start})"
            )
        cur.pos += _HEAD.size
        # Only the few handshake packets keep their data (their fields go into `info`).
        keep = packet_type in (10, 11, 16, 17, 18)
        data = None
        if n >= 0:
            cur.need(n)
            if keep:
                data = bytes(cur.buf[cur.pos : cur.pos + n])
            cur.pos += n
        authinfo = cur.count("authinfo", 8)
        for _ in range(authinfo):
            cur.skip_buffer("authinfo scheme")
            cur.skip_buffer("authinfo id")
        size = cur.base + cur.pos - start
        if packet_type == SNAP:
            self._dump = _Dump(cur.base + cur.pos)
        return Packet(start, size, packet_type, zxid, n, authinfo, _info(packet_type, data))


class _Dump:
    """The snapshot dump, one jute value at a time (ZK: SerializeUtils.deserializeSnapshot,
    ReferenceCountedACLCache.deserialize, DataTree.deserialize)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.phase = "sessions"
        self.left = -1
        self.sessions = 0
        self.acls = 0
        self.nodes = 0

    def step(self, cur: _Cursor) -> SnapshotDump | None:
        # Each call reads one value whole before it changes any state: a value cut short
        # (_IncompleteError) is read again from its start when more bytes came.
        if self.phase == "sessions":
            if self.left < 0:
                self.left = self.sessions = max(cur.int32(), 0)  # Java: `while (count > 0)`
                return None
            if self.left:
                n = min(self.left, (cur.end - cur.pos) // _SESSION.size)
                cur.skip(max(n, 1) * _SESSION.size)
                self.left -= max(n, 1)
                return None
            self.phase, self.left = "acls", -1
        elif self.phase == "acls":
            if self.left < 0:
                self.left = self.acls = max(cur.int32(), 0)
                return None
            if self.left == 0:
                self.phase = "nodes"
                return None
            cur.int64()
            acl_count = cur.count("acl", 12)
            if acl_count < 0:  # ZK: "Incorrent format ... missing acls"
                raise JuteError(
                    f"snapshot: null ACL list at stream offset {cur.base + cur.pos - 4}"
                )
            for _ in range(acl_count):
                cur.int32()  # perms
                cur.skip_buffer("acl scheme")
                cur.skip_buffer("acl id")
            self.left -= 1
        elif self.phase == "nodes":
            at = cur.base + cur.pos
            path = cur.buffer("path")
            if path == b"/":  # ZK: DataTree.serializeNodes, "/ marks end of stream"
                self.phase = "signature"
                return None
            if path is None:
                raise JuteError(f"snapshot: null node path at stream offset {at}")
            cur.skip_buffer("node data")
            cur.skip(_NODE_TAIL)
            self.nodes += 1
        else:
            at = cur.base + cur.pos
            signature = cur.buffer("signature")
            if signature != SNAPSHOT_SIGNATURE.encode():
                raise JuteError(
                    f"snapshot: signature {signature!r} at stream offset {at}, "
                    f"expected {SNAPSHOT_SIGNATURE!r}"
                )
            end = cur.base + cur.pos
            return SnapshotDump(
                self.offset, end - self.offset, self.sessions, self.acls, self.nodes
            )
        return None


# --- encoding, for tests and fakes --------------------------------------------------------------


def encode_string(value: bytes | str | None) -> bytes:
    """A jute buffer/ustring: int32 length (-1 for None) and the bytes."""
    if value is None:
        return _INT.pack(-1)
    raw = value.encode() if isinstance(value, str) else value
    return _INT.pack(len(raw)) + raw


def encode_packet(
    packet_type: int,
    zxid: int = 0,
    data: bytes | None = None,
    authinfo: list[tuple[str, str]] | None = None,
) -> bytes:
    """A QuorumPacket as BinaryOutputArchive.writeRecord writes it."""
    out = _LONG.pack(zxid)
    out = _INT.pack(packet_type) + out + encode_string(data)
    if authinfo is None:
        return out + _INT.pack(-1)
    out += _INT.pack(len(authinfo))
    for scheme, ident in authinfo:
        out += encode_string(scheme) + encode_string(ident)
    return out
