"""What goes into a QuorumPeer step and what comes out: its inputs, its outputs, and the
values they carry (timing, durable state, learner-leader packets).

The learner<->leader connection carries ZooKeeper's own items (`ZabItem`): jute
QuorumPackets, and after SNAP the leader's database dump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from engine.core.election import ElectionConfig
from engine.core.jute.records import QuorumPacket
from engine.core.jute.snapshot import SnapshotDump
from engine.core.vote import Notification, ServerState, Sid, ToSend, Vote, Zxid
from engine.core.zab.data import DataAction, ZabData

__all__ = [
    "MAIN_THREAD_INPUTS",
    "ClientWrite",
    "ClosePeer",
    "ConnectToLeader",
    "DataAction",
    "Disconnected",
    "Durable",
    "Input",
    "LearnerConnectFailed",
    "LearnerConnected",
    "LookForLeader",
    "Output",
    "PacketReceived",
    "Poll",
    "QuorumPacket",
    "Receive",
    "SendPacket",
    "SnapshotDump",
    "Timeout",
    "Timing",
    "ZabAction",
    "ZabData",
    "ZabItem",
    "ZabProgress",
    "ZabState",
]


class ZabState:
    """ZK: QuorumPeer.ZabState (monitoring only)."""

    ELECTION = "ELECTION"
    DISCOVERY = "DISCOVERY"
    SYNCHRONIZATION = "SYNCHRONIZATION"
    BROADCAST = "BROADCAST"


@dataclass(frozen=True, slots=True)
class Timing:
    """The zoo.cfg knobs the post-election phase runs on."""

    tick_time_ms: int = 200
    init_limit: int = 10
    sync_limit: int = 5
    election: ElectionConfig = field(default_factory=ElectionConfig)
    zab_leader: bool = False
    """The runtime runs ZooKeeper's Zab itself, leader and learner (`zkfle node`, over
    TCP with Java peers) and reports its progress as `ZabProgress`; the core then mirrors
    it. Otherwise (the simulator, the threaded runtime) the core runs engine.core.zab's
    `ZabLeader` and `ZabLearner` on the packets the runtime carries."""


@dataclass(frozen=True, slots=True)
class Durable:
    """What a node keeps across crashes (ZK: files currentEpoch, acceptedEpoch; the last
    logged zxid stands for the txn log). `last_zxid == -1` is an untrusted empty database
    (ZOOKEEPER-261)."""

    current_epoch: int = 0
    accepted_epoch: int = 0
    last_zxid: Zxid = 0


ZabItem: TypeAlias = QuorumPacket | SnapshotDump
"""What the learner<->leader stream carries: a packet, or the dump that follows SNAP."""


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookForLeader:
    """Main loop, state LOOKING: enter lookForLeader."""


@dataclass(frozen=True, slots=True)
class Receive:
    """WorkerReceiver decoded a notification from QuorumCnxManager's receive queue."""

    n: Notification


@dataclass(frozen=True, slots=True)
class Poll:
    """lookForLeader's poll returned the head of FLE.recvqueue."""


@dataclass(frozen=True, slots=True)
class Timeout:
    """The main thread's wait (`Output.wait_ms`) ran out. `have_delivered` is
    QuorumCnxManager.haveDelivered() at that moment (FLE's choice between re-broadcast and
    connectAll)."""

    have_delivered: bool
    forced: bool = False
    """The `timeout` command fired it early (a fault the user injected): due at once."""


@dataclass(frozen=True, slots=True)
class LearnerConnected:
    """Learner side: the connection to the leader's quorum port is up."""

    leader: Sid


@dataclass(frozen=True, slots=True)
class LearnerConnectFailed:
    """Learner side: a connection attempt to the leader failed (refused or timed out)."""

    leader: Sid


@dataclass(frozen=True, slots=True)
class PacketReceived:
    """A quorum packet (or SNAP's dump) arrived on the learner<->leader connection with
    `peer`."""

    peer: Sid
    packet: ZabItem


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The learner<->leader connection with `peer` closed (EOF)."""

    peer: Sid


@dataclass(frozen=True, slots=True)
class ZabProgress:
    """Where the runtime's Zab stands, its data already durable in the data dir: the
    node's learner of a leader that speaks Zab (engine.core.zab.learner), or - with
    `Timing.zab_leader`, `leader` being the node itself - its Zab leader
    (engine.core.zab.leader). The runtime reports each change of phase, sync mode, epoch
    or zxid, and finally `ended` (why the connection or the leadership ended, in
    ZooKeeper's words)."""

    leader: Sid
    zab: str
    """DISCOVERY, SYNCHRONIZATION or BROADCAST (ZK: QuorumPeer.ZabState)."""
    sync_mode: str | None
    """DIFF, TRUNC or SNAP once the leader chose (ZK: QuorumPeer.SyncMode)."""
    accepted_epoch: int
    current_epoch: int
    last_zxid: Zxid
    """ZK: QuorumPeer.getLastLoggedZxid, the last txn applied to the learner's database."""
    ended: str | None = None


@dataclass(frozen=True, slots=True)
class ClientWrite:
    """`write n`: n transactions submitted to this node (only a leader accepts them)."""

    count: int = 1


Input: TypeAlias = (
    LookForLeader
    | Receive
    | Poll
    | Timeout
    | LearnerConnected
    | LearnerConnectFailed
    | PacketReceived
    | Disconnected
    | ZabProgress
    | ClientWrite
)

MAIN_THREAD_INPUTS = (  # every input but Receive (the WorkerReceiver thread)
    LookForLeader,
    Poll,
    Timeout,
    LearnerConnected,
    LearnerConnectFailed,
    PacketReceived,
    Disconnected,
    ZabProgress,
    ClientWrite,
)


# --- outputs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendPacket:
    to: Sid
    packet: ZabItem


@dataclass(frozen=True, slots=True)
class ConnectToLeader:
    leader: Sid


@dataclass(frozen=True, slots=True)
class ClosePeer:
    """Close the learner<->leader connection with `peer` (it sees EOF); `reason` says why
    when the leader drops one learner (ZK: LearnerHandler.shutdown's log line)."""

    peer: Sid
    reason: str | None = None


ZabAction: TypeAlias = SendPacket | ConnectToLeader | ClosePeer | DataAction
"""In order: a `DataAction` is on the node's disk before any action after it."""


@dataclass(slots=True)
class Output:
    """What a step asks the runtime to do, in this order: persist, send, zab, wait.

    A value: nobody changes an Output after `step` made it, and quiet ones are shared. It
    is not declared frozen only because a frozen dataclass takes ~3 µs to construct
    against ~0.5 µs, and every step of every node makes one."""

    sends: tuple[ToSend, ...] = ()
    """Notifications for FLE.sendqueue (our own vote included: loopback)."""
    connect_all: bool = False
    zab: tuple[ZabAction, ...] = ()
    persist: Durable | None = None
    wait_ms: float | None = None
    """Main thread: wait this long for the next input, then feed Timeout (None: block)."""
    decided: Vote | None = None
    state: ServerState = ServerState.LOOKING
    reason: str | None = None
    """Why the node left its role (ZooKeeper's log message), when it did."""
    election_delay_max_ms: int | None = None
    """Feed LookForLeader after a random delay in [0, this) ms (0: at once)."""
    restart_election: bool = False
    """QuorumPeer.shuttingDownLE: recreate QuorumCnxManager and FLE."""
    committed: tuple[Zxid, ...] = ()
    write_error: str | None = None
