"""ZooKeeper's leader-election wire format, byte for byte (reference `zk-fle.md` §1).

Three things travel on an election connection, all integers big-endian two's complement:

* the one-way handshake a connecting server sends first (ZK: QuorumCnxManager.InitialMessage):
  legacy (just the int64 sid, pre-3.5), V1 (one `host:port`) or V2 (`host:port|host:port...`);
* frames: an int32 length in 1..PACKETMAXSIZE, then that many payload bytes (ZK: SendWorker /
  RecvWorker);
* notification payloads inside frames (ZK: FastLeaderElection.buildMsg and WorkerReceiver), whose
  meaning depends on the payload length: 28 bytes (≤3.3), 40 bytes (3.4.6+ and Java's tests),
  44+ bytes with version 2 and config text (3.5+, what Java sends today).

Decoding never raises anything but `WireError`, whose message names the problem and the place
(sid, byte offset, lengths). A notification whose `state` is not 0..3 raises the subclass
`UnknownStateError`, which still carries every decoded field: Java only rejects such a message
later, and only when it comes from a voter (WorkerReceiver replies to non-voters regardless, and
it handles the config text before it looks at the state).

Pure module: no threads, clock, sockets, randomness or logging. Name resolution is injected.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from engine.core.vote import LONG_MAX, Notification, ServerState, Sid, ToSend

__all__ = [
    "MAX_BUFFER",
    "NOTIFICATION_CURRENT_VERSION",
    "OBSERVER_ID",
    "PACKETMAXSIZE",
    "PROTOCOL_VERSION_V1",
    "PROTOCOL_VERSION_V2",
    "EndOfStreamError",
    "InitialMessage",
    "UnknownStateError",
    "WireError",
    "build_payload",
    "bytes_reader",
    "check_frame_length",
    "decode_notification",
    "drop_wildcard_addresses",
    "encode_frame",
    "encode_initial_message",
    "encode_notification",
    "format_inet_addr",
    "handshake_size",
    "is_wildcard_address",
    "java_utf8",
    "parse_inet_addr",
    "read_frame",
    "read_initial_message",
]

PACKETMAXSIZE = 524288
"""Largest frame payload a receiver accepts (ZK: QuorumCnxManager.PACKETMAXSIZE, 512 KiB)."""

MAX_BUFFER = 2048
"""Largest handshake address string (ZK: QuorumCnxManager.maxBuffer)."""

PROTOCOL_VERSION_V1 = -65536
"""Handshake with one election address (what servers send unless multiAddress.enabled)."""

PROTOCOL_VERSION_V2 = -65535
"""Handshake with all election addresses joined by `|` (ZOOKEEPER-3188, multi-address)."""

NOTIFICATION_CURRENT_VERSION = 2
"""Notification format version sent since 3.5 (ZK: Notification.CURRENTVERSION)."""

OBSERVER_ID = LONG_MAX
"""The sid pre-3.5 observers put in the handshake (ZK: QuorumPeer.OBSERVER_ID)."""

Resolver = Callable[[str], Sequence[str]]
"""Maps a host name to its addresses as text, first one first; [] or OSError = unresolvable."""

BytesLike = bytes | bytearray | memoryview
"""What the decoders accept (a received frame, or a view into a receive buffer)."""

Reader = Callable[[int], bytes]
"""`read(n)` returns 1..n bytes, or b"" at end of stream (like `socket.recv`)."""


class WireError(Exception):
    """Bytes that do not follow ZooKeeper's election wire format (the only decoding error)."""


class EndOfStreamError(WireError):
    """The stream ended before a complete handshake header or frame (ZK: EOFException)."""


class UnknownStateError(WireError):
    """A notification that decoded fine except that its `state` int is not 0..3.

    ZK: WorkerReceiver skips it with `default: continue` -- but only for messages from voters,
    after the config text was already handled; a non-voter still gets a reply. So every field
    is kept here for the caller to decide.
    """

    def __init__(
        self,
        sid: Sid,
        state: int,
        leader: Sid,
        zxid: int,
        election_epoch: int,
        peer_epoch: int,
        version: int,
        config: str | None,
    ) -> None:
        super().__init__(f"notification from sid {sid}: unknown state {state} (expected 0..3)")
        self.sid = sid
        self.state = state
        self.leader = leader
        self.zxid = zxid
        self.election_epoch = election_epoch
        self.peer_epoch = peer_epoch
        self.version = version
        self.config = config


# --- notifications (ZK: FastLeaderElection.buildMsg / WorkerReceiver.run) ------------------------

_HEAD28 = struct.Struct(">iqqq")  # state, leader, zxid, electionEpoch
_HEAD36 = struct.Struct(">iqqqq")  # ... peerEpoch
_HEAD40 = struct.Struct(">iqqqqi")  # ... version
_HEAD44 = struct.Struct(">iqqqqii")  # ... configLength
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_STATES = tuple(ServerState)  # index = wire ordinal


# Every notification carries the whole config text (2.7 KB for 51 servers), nearly always
# the same one: remember the last one encoded (by identity of the str: every ToSend of a
# node shares its verifier's cached text) and the last one decoded (by its bytes, compared
# in place), so that neither is re-encoded, re-decoded or re-hashed per message. Each
# cache is one tuple, replaced whole, so threads never see half of it.
_ENCODED: tuple[str, bytes] = ("", b"")
_DECODED: tuple[bytes, str] = (b"", "")


def _config_bytes(text: str) -> bytes:
    global _ENCODED
    cached = _ENCODED
    if cached[0] is text:
        return cached[1]
    raw = text.encode("utf-8", "replace")
    _ENCODED = (text, raw)
    return raw


def _config_text(payload: BytesLike, length: int) -> str:
    global _DECODED
    cached = _DECODED
    raw = cached[0]
    if len(raw) == length and isinstance(payload, bytes) and payload.startswith(raw, 44):
        return cached[1]
    data = bytes(payload[44 : 44 + length])
    text = java_utf8(data)
    _DECODED = (data, text)
    return text


def encode_notification(m: ToSend) -> bytes:
    """The payload Java 3.5+ sends for `m` (ZK: the 6-argument buildMsg): 44-byte header with
    version 2 and configLength, then the config text in UTF-8 (lone surrogates become `?`, as
    Java's String.getBytes does). Raises WireError if a field does not fit its Java type."""
    config = _config_bytes(m.config)
    try:
        head = _HEAD44.pack(
            m.state,
            m.leader,
            m.zxid,
            m.election_epoch,
            m.peer_epoch,
            NOTIFICATION_CURRENT_VERSION,
            len(config),
        )
    except struct.error:
        raise _range_error(m.leader, m.zxid, m.election_epoch, m.peer_epoch) from None
    return head + config


def build_payload(
    state: int,
    leader: Sid,
    zxid: int,
    election_epoch: int,
    peer_epoch: int | None = None,
    version: int | None = None,
    config: bytes | str | None = None,
    *,
    config_length: int | None = None,
    trailing: bytes = b"",
) -> bytes:
    """Any notification layout, for tests and fault injection; fields stop where you stop.

    `peer_epoch=None` gives the 28-byte ≤3.3 form; `version=None` the 36-byte 3.4.0-3.4.5 form
    (which Java drops); a version without config the 40-byte form (version 1 is what 3.4.6+ and
    Java's 5-argument buildMsg / FLETestUtils.createMsg send); a config the 44+ form, where
    `config_length` may lie about its length. `trailing` bytes are appended as they are.
    `state` is any int32, so invalid states can be sent.
    """
    try:
        if peer_epoch is None:
            if version is not None or config is not None:
                raise WireError("a 28-byte payload has no version or config")
            body = _HEAD28.pack(state, leader, zxid, election_epoch)
        elif version is None:
            if config is not None:
                raise WireError("a config needs a version")
            body = _HEAD36.pack(state, leader, zxid, election_epoch, peer_epoch)
        elif config is None:
            body = _HEAD40.pack(state, leader, zxid, election_epoch, peer_epoch, version)
        else:
            raw = config.encode("utf-8", "replace") if isinstance(config, str) else config
            n = len(raw) if config_length is None else config_length
            body = _HEAD44.pack(state, leader, zxid, election_epoch, peer_epoch, version, n) + raw
    except struct.error:
        raise _range_error(leader, zxid, election_epoch, peer_epoch or 0) from None
    return body + trailing


def _range_error(*longs: int) -> WireError:
    names = ("leader", "zxid", "electionEpoch", "peerEpoch")
    for name, value in zip(names, longs, strict=True):
        if not -(1 << 63) <= value < 1 << 63:
            return WireError(f"{name} {value} does not fit a signed 64-bit long")
    return WireError("state, version or configLength does not fit a signed 32-bit int")


def decode_notification(payload: BytesLike, sid: Sid) -> Notification:
    """Decode a payload received from `sid` as WorkerReceiver does, for every length (§1.5).

    Dropped messages raise WireError; an unknown state raises UnknownStateError (see the module
    docstring). `version` is what the message said (0 for the 28- and 40-byte forms); `config`
    is None unless version > 1, and invalid UTF-8 in it becomes U+FFFD (Java's `new String`).
    Trailing bytes are ignored.
    """
    cap = len(payload)
    config: str | None = None
    # The common case first: what every 3.5+ server sends.
    if cap >= 44:
        state, leader, zxid, election_epoch, peer_epoch, version, length = _HEAD44.unpack_from(
            payload
        )
        if version > 1:
            # ZK: "Invalid configLength" guards against a negative or huge allocation; the
            # bound is the whole payload, not what is left of it (ZOOKEEPER-3769).
            if length < 0 or length > cap:
                raise WireError(
                    f"notification from sid {sid}: invalid configLength {length} at offset 40 "
                    f"({cap}-byte payload, version {version})"
                )
            if 44 + length > cap:
                raise WireError(
                    f"notification from sid {sid}: configLength {length} at offset 40 but only "
                    f"{cap - 44} bytes follow offset 44"
                )
            config = _config_text(payload, length)
    elif cap == 28:
        # Before ZOOKEEPER-107 there was no peerEpoch: take the leader's zxid epoch.
        state, leader, zxid, election_epoch = _HEAD28.unpack_from(payload)
        peer_epoch, version = zxid >> 32, 0
    elif cap == 40:
        # "Back-compat 40": Java never reads the version of a 40-byte message.
        state, leader, zxid, election_epoch, peer_epoch = _HEAD36.unpack_from(payload)
        version = 0
    elif cap > 40:
        state, leader, zxid, election_epoch, peer_epoch, version = _HEAD40.unpack_from(payload)
        if version > 1:
            raise WireError(
                f"notification from sid {sid}: {cap}-byte payload, version {version}, "
                "too short for configLength (needs 44)"
            )
    elif cap < 28:
        raise WireError(
            f"notification from sid {sid}: short response, {cap}-byte payload (needs at least 28)"
        )
    elif cap < 36:
        raise WireError(
            f"notification from sid {sid}: {cap}-byte payload too short for peerEpoch (needs 36)"
        )
    else:  # 36..39: the 3.4.0-3.4.5 format is not understood by Java either
        raise WireError(
            f"notification from sid {sid}: {cap}-byte payload too short for version (needs 40)"
        )
    if not 0 <= state <= 3:
        raise UnknownStateError(
            sid, state, leader, zxid, election_epoch, peer_epoch, version, config
        )
    return Notification(
        leader, zxid, election_epoch, _STATES[state], sid, peer_epoch, version, config
    )


_JAVA_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]?")


def java_utf8(data: BytesLike) -> str:
    """Decode like Java's `new String(b, UTF_8)`: invalid input becomes U+FFFD, never an error.

    Python's replacement agrees with the JDK's except for UTF-8-encoded surrogates (ED A0..BF
    [80..BF]), which the JDK replaces with one U+FFFD and Python with one per byte.
    """
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        parts = _JAVA_SURROGATE.split(bytes(data))
        return "\ufffd".join(str(p, "utf-8", "replace") for p in parts)


# --- frames (ZK: SendWorker.send / RecvWorker.run) ---------------------------------------------


def check_frame_length(n: int) -> int:
    """Return `n` if a receiver accepts it as a frame length, else raise WireError.

    ZK: RecvWorker tears the connection down on `length <= 0 || length > PACKETMAXSIZE`
    (CnxManagerTest.testCnxManagerSpinLock). Payload content is not checked here.
    """
    if n <= 0 or n > PACKETMAXSIZE:
        raise WireError(f"invalid frame length {n} (must be 1..{PACKETMAXSIZE})")
    return n


def encode_frame(payload: bytes) -> bytes:
    """Length-prefixed frame. Refuses a length no receiver accepts; to send such a thing on
    purpose, write the raw int32 yourself."""
    return _INT.pack(check_frame_length(len(payload))) + payload


def read_frame(read: Reader) -> bytes:
    """Read one frame's payload: int32 length, check it, then exactly that many bytes.

    Raises EndOfStreamError if the stream ends first (also between frames), WireError on a bad
    length.
    """
    (n,) = _INT.unpack(_read_exactly(read, 4, "frame length"))
    return _read_exactly(read, check_frame_length(n), f"{n}-byte frame")


def _read_exactly(read: Reader, n: int, what: str) -> bytes:
    # ZK uses DataInputStream.readLong/readInt/readFully here: loop until complete.
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = read(n - got)
        if not chunk:
            raise EndOfStreamError(f"end of stream after {got} of {n} bytes of the {what}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- handshake (ZK: QuorumCnxManager.InitialMessage, startConnection, handleConnection) -------


@dataclass(frozen=True, slots=True)
class InitialMessage:
    """A parsed handshake. `protocol_version` is None for the legacy (pre-3.5) form, which
    carries no addresses. `addresses` are (host text as sent, port), wildcards included."""

    sid: Sid
    addresses: tuple[tuple[str, int], ...] = ()
    protocol_version: int | None = PROTOCOL_VERSION_V1

    @property
    def is_observer_id(self) -> bool:
        """True if sid is OBSERVER_ID: the caller substitutes a local negative id (ZK:
        handleConnection, observerCounter -1, -2, ...)."""
        return self.sid == OBSERVER_ID


def format_inet_addr(host: str, port: int) -> str:
    """`host:port`, or `[host]:port` for an IPv6 literal (ZK: NetUtils.formatInetAddr)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def encode_initial_message(
    sid: Sid,
    addresses: Sequence[tuple[str, int]] = (),
    protocol_version: int | None = PROTOCOL_VERSION_V1,
) -> bytes:
    """The handshake as one buffer (write it with a single send: the acceptor does a single
    read of the address text). V1 sends only the first address, as Java sends
    `getElectionAddress().getOne()`; V2 sends all; None sends the legacy 8-byte sid."""
    try:
        if protocol_version is None:
            if sid < 0:
                raise WireError(f"a legacy handshake carries a sid >= 0, not {sid}")
            return _LONG.pack(sid)
        if protocol_version not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
            raise WireError(f"unrecognized protocol version {protocol_version}")
        if not addresses:
            raise WireError(f"handshake of sid {sid}: no election address to send")
        sent = addresses[:1] if protocol_version == PROTOCOL_VERSION_V1 else addresses
        for _, port in sent:
            if not 0 <= port <= 0xFFFF:
                raise WireError(f"handshake of sid {sid}: port {port} out of range 0..65535")
        text = "|".join(format_inet_addr(h, p) for h, p in sent).encode("utf-8", "replace")
        if len(text) > MAX_BUFFER:
            raise WireError(
                f"handshake of sid {sid}: {len(text)}-byte address text exceeds {MAX_BUFFER}"
            )
        return struct.pack(">qqi", protocol_version, sid, len(text)) + text
    except struct.error:
        raise WireError(f"sid {sid} does not fit a signed 64-bit long") from None


def read_initial_message(read: Reader) -> InitialMessage:
    """Read a handshake as the accepting side does (ZK: handleConnection + InitialMessage.parse).

    A first int64 >= 0 is a legacy sid and nothing more is read. V1/V2: sid, int32 length L
    with 0 < L <= MAX_BUFFER, then ONE `read(L)` that must return all L bytes (Java calls
    `din.read(b)` once, not readFully), split on `|` into `host:port` / `[v6]:port` parts.
    Wildcard addresses are kept; see `drop_wildcard_addresses`. Raises WireError (EndOfStreamError
    if the stream ends inside the fixed-size header).
    """
    (first,) = _LONG.unpack(_read_exactly(read, 8, "handshake protocol version"))
    if first >= 0:  # ZOOKEEPER-1789: a 3.4 peer sends only its sid
        return InitialMessage(first, (), None)
    if first not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        raise WireError(
            f"handshake: unrecognized protocol version {first} "
            f"(expected {PROTOCOL_VERSION_V1} or {PROTOCOL_VERSION_V2}, or a sid >= 0)"
        )
    sid, length = struct.unpack(">qi", _read_exactly(read, 12, "handshake sid and length"))
    if length <= 0 or length > MAX_BUFFER:
        raise WireError(
            f"handshake from sid {sid}: unreasonable address length {length} at offset 16 "
            f"(must be 1..{MAX_BUFFER})"
        )
    data = read(length)
    if len(data) != length:
        raise WireError(f"handshake from sid {sid}: read only {len(data)} bytes out of {length}")
    try:
        addresses = tuple(
            parse_inet_addr(part, wildcard_port_ok=True)
            for part in _java_split(java_utf8(data), "|")
        )
    except WireError as e:
        raise WireError(f"handshake from sid {sid}: {e}") from None
    return InitialMessage(sid, addresses, first)


def handshake_size(data: BytesLike) -> int | None:
    """How many bytes the handshake at the start of `data` has (None: its header is not all
    there yet): 8 for a legacy sid or a version nobody reads, else 20 + the address length -
    20 when that length is invalid, enough for `read_initial_message` to say so."""
    if len(data) < 8:
        return None
    (first,) = _LONG.unpack_from(data)
    if first not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        return 8
    if len(data) < 20:
        return None
    (length,) = _INT.unpack_from(data, 16)
    return 20 + length if 0 < length <= MAX_BUFFER else 20


def bytes_reader(data: BytesLike) -> Reader:
    """A `Reader` over bytes already received: what is left of them, then end of stream."""
    view = memoryview(data)
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        chunk = bytes(view[pos : pos + n])
        pos += len(chunk)
        return chunk

    return read


def _java_split(text: str, sep: str) -> list[str]:
    # Java's String.split: no match -> [text]; otherwise trailing empty strings are removed
    # (so "a:1|" is one address and "|||" none at all).
    parts = text.split(sep)
    if len(parts) > 1:
        while parts and not parts[-1]:
            parts.pop()
    return parts


_JAVA_INT = re.compile(r"[+-]?\d+")  # Integer.parseInt: sign, then Unicode decimal digits


def parse_inet_addr(text: str, *, wildcard_port_ok: bool = False) -> tuple[str, int]:
    """Split `host:port` or `[v6]:port` as InitialMessage.parse does (ZK:
    ConfigUtils.getHostAndPort, Integer.parseInt), quirks included: Java's split drops
    trailing empties (`h:1:` is fine) and ignores the character after `]`.

    A port outside 0..65535 raises WireError (Java throws an unchecked IllegalArgumentException
    there) except for a wildcard literal host, which Java drops before checking the port; set
    `wildcard_port_ok` to keep such an address.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 2 >= len(text):
            raise WireError(f"badly formed address {text!r}")
        parts = [text[1:end], *_java_split(text[end + 2 :], ":")]
    else:
        parts = _java_split(text, ":")
    if len(parts) != 2:
        raise WireError(f"badly formed address {text!r}")
    host, port_text = parts
    try:
        port = int(port_text) if _JAVA_INT.fullmatch(port_text) else None
    except ValueError:  # more digits than Python converts; no port is that long
        port = None
    if port is None or not -(1 << 31) <= port < 1 << 31:
        raise WireError(f"bad port number {port_text!r} in {text!r}")
    if not 0 <= port <= 0xFFFF and not (wildcard_port_ok and _literal_wildcard(host)):
        raise WireError(f"port {port} out of range 0..65535 in {text!r}")
    return host, port


_IPV4_ZERO = re.compile(r"0+(?:\.0+){0,3}")  # Java also reads "0", "0.0", "00.0.0.0" as 0.0.0.0


def _literal_wildcard(host: str) -> bool | None:
    """True/False for an IP literal Java's InetAddress.getByName parses without DNS, None for a
    name. Only 0.0.0.0 and :: (any spelling) are wildcards (InetAddress.isAnyLocalAddress)."""
    bracketed = host.startswith("[") and host.endswith("]")
    text = host[1:-1] if bracketed else host
    if ":" in text:
        try:
            v6 = ipaddress.IPv6Address(text)
        except ValueError:
            return False if bracketed else None
        mapped = v6.ipv4_mapped  # Java turns ::ffff:a.b.c.d into an IPv4 address
        return v6.is_unspecified or (mapped is not None and mapped.is_unspecified)
    if bracketed:
        return False  # Java: brackets demand an IPv6 literal, anything else is unknown
    if len(text) <= 15 and _IPV4_ZERO.fullmatch(text):
        return True
    try:
        return ipaddress.IPv4Address(text).is_unspecified
    except ValueError:
        return None


def is_wildcard_address(host: str, resolve: Resolver | None = None) -> bool:
    """True if `host` means "any local address" (ZK: InitialMessage.isWildcardAddress).

    IP literals are checked without resolving. A name is looked up with `resolve` and, as
    Java's getByName, only its first address counts; no resolver, no addresses or an OSError
    means "not a wildcard" (an unresolvable name cannot be one).
    """
    literal = _literal_wildcard(host)
    if literal is not None or resolve is None:
        return bool(literal)
    try:
        resolved = resolve(host)
    except OSError:
        return False
    return bool(resolved) and bool(_literal_wildcard(resolved[0]))


def drop_wildcard_addresses(msg: InitialMessage, resolve: Resolver | None = None) -> InitialMessage:
    """`msg` without its wildcard addresses (ZOOKEEPER-2164: a peer advertising 0.0.0.0 is
    dialled back at its configured address instead). The result may have no addresses."""
    kept = tuple(a for a in msg.addresses if not is_wildcard_address(a[0], resolve))
    return msg if len(kept) == len(msg.addresses) else replace(msg, addresses=kept)
