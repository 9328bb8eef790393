"""Votes, notifications and zxids: the values Fast Leader Election exchanges.

Names follow ZooKeeper (`QuorumPeer.ServerState`, `Vote`, `FastLeaderElection.Notification`,
`FastLeaderElection.ToSend`, `ZxidUtils`) with camelCase turned into snake_case. Everything
here is an immutable value; equality of votes in ZooKeeper's relaxed sense is the explicit
function `vote_equals`, never `==`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

Sid: TypeAlias = int
"""A server id (`myid`), a signed 64-bit long on the wire."""

Zxid: TypeAlias = int
"""A transaction id: epoch in the high 32 bits, counter in the low 32 bits."""

LONG_MIN = -(1 << 63)
"""Java's Long.MIN_VALUE: what a non-voter proposes as leader, zxid and epoch."""

LONG_MAX = (1 << 63) - 1
"""Java's Long.MAX_VALUE (QuorumCnxManager.OBSERVER_ID in legacy handshakes)."""


class ServerState(IntEnum):
    """What a peer is doing (ZK: QuorumPeer.ServerState); the value is the wire ordinal."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


class LearnerType(IntEnum):
    """Whether a server votes (ZK: QuorumPeer.LearnerType)."""

    PARTICIPANT = 0
    OBSERVER = 1

    @property
    def word(self) -> str:
        """The zoo.cfg spelling: `participant` or `observer`."""
        return self.name.lower()


# --- zxids (ZK: ZxidUtils) ---------------------------------------------------------------


def zxid_epoch(zxid: Zxid) -> int:
    """High 32 bits, with Java's arithmetic shift (so -1 has epoch -1)."""
    return zxid >> 32


def zxid_counter(zxid: Zxid) -> int:
    """Low 32 bits."""
    return zxid & 0xFFFFFFFF


def make_zxid(epoch: int, counter: int) -> Zxid:
    """`(epoch << 32) | counter`, wrapped to a signed 64-bit long as Java does."""
    return to_long((epoch << 32) | (counter & 0xFFFFFFFF))


def to_long(value: int) -> int:
    """Wrap an int into Java's signed 64-bit range."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def zxid_hex(zxid: Zxid) -> str:
    """The trace/display form, `0x` + lower-case hex; negative values keep their sign."""
    return f"-0x{-zxid:x}" if zxid < 0 else f"0x{zxid:x}"


def parse_zxid(text: str) -> Zxid:
    """Inverse of `zxid_hex`; also accepts decimal. Raises ValueError with the text."""
    s = text.strip().lower()
    neg = s.startswith("-")
    body = s[1:] if neg else s
    try:
        value = int(body, 16) if body.startswith("0x") else int(body, 10)
    except ValueError:
        raise ValueError(f"not a zxid: {text!r} (expected 0x<hex> or a decimal number)") from None
    value = -value if neg else value
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError(f"zxid out of the signed 64-bit range: {text!r}")
    return value


# --- votes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vote:
    """A peer's choice of leader (ZK: Vote; `leader` is Vote.getId()).

    `version` is the notification format version the vote arrived with (0 for votes built
    locally, as ZooKeeper's 3-, 4- and 5-argument constructors do); it only matters to
    `vote_equals` for non-LOOKING votes.
    """

    leader: Sid
    zxid: Zxid
    election_epoch: int = -1
    peer_epoch: int = -1
    state: ServerState = ServerState.LOOKING
    version: int = 0


def vote_equals(a: Vote, b: Vote) -> bool:
    """ZooKeeper's `a.equals(b)` for votes, the relaxed rule used when counting (Vote.equals).

    If either vote is LOOKING, leader, zxid, election epoch and peer epoch must all match.
    Between two non-LOOKING votes zxid and election epoch are ignored (ZOOKEEPER-1732/1805):
    if exactly one side has version > 0 only the leader must match, otherwise leader and
    peer epoch (ZOOKEEPER-1817/1818).
    """
    if a.state == ServerState.LOOKING or b.state == ServerState.LOOKING:
        return (
            a.leader == b.leader
            and a.zxid == b.zxid
            and a.election_epoch == b.election_epoch
            and a.peer_epoch == b.peer_epoch
        )
    if (a.version > 0) != (b.version > 0):
        return a.leader == b.leader
    return a.leader == b.leader and a.peer_epoch == b.peer_epoch


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """A vote received from another server (ZK: FastLeaderElection.Notification).

    `sid` is the *sender*. `config` is the config text carried by version > 1 messages
    (None when the message had none).
    """

    leader: Sid
    zxid: Zxid
    election_epoch: int
    state: ServerState
    sid: Sid
    peer_epoch: int
    version: int = 2
    config: str | None = None

    @property
    def vote(self) -> Vote:
        """The vote this notification carries, as lookForLeader records it in recvset."""
        return Vote(self.leader, self.zxid, self.election_epoch, self.peer_epoch)


@dataclass(frozen=True, slots=True)
class ToSend:
    """A notification to send (ZK: FastLeaderElection.ToSend); `sid` is the *recipient*."""

    leader: Sid
    zxid: Zxid
    election_epoch: int
    state: ServerState
    sid: Sid
    peer_epoch: int
    config: str = ""

    def received_from(self, sender: Sid, version: int = 2) -> Notification:
        """The notification the recipient decodes from this message (used by loopback)."""
        return Notification(
            self.leader,
            self.zxid,
            self.election_epoch,
            self.state,
            sender,
            self.peer_epoch,
            version,
            self.config if version > 1 else None,
        )


def total_order_predicate(
    new_id: Sid, new_zxid: Zxid, new_epoch: int, cur_id: Sid, cur_zxid: Zxid, cur_epoch: int
) -> bool:
    """True if the new vote beats the current one on (peer epoch, zxid, sid).

    ZK: FastLeaderElection.totalOrderPredicate, after ZOOKEEPER-1419 fixed the precedence.
    Equal votes return False. The zero-weight rule lives in FastLeaderElection because it
    needs the quorum verifier.
    """
    return (new_epoch, new_zxid, new_id) > (cur_epoch, cur_zxid, cur_id)
