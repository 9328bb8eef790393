"""Immutable snapshots of a cluster for display, predicates and the JSON result.

Every runtime (threads, simulator, replayer) produces these; the console, the shell, the
command language's predicates and `zkfle run --json` only ever read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import ServerState, Sid, Vote


@dataclass(frozen=True, slots=True)
class LearnerView:
    """One learner as its leader sees it (ZK: a LearnerHandler of Leader.learners).

    `zab_phase` is where the leader has it: DISCOVERY until the leader has its ACKEPOCH
    and starts syncing it, SYNCHRONIZATION until UPTODATE went, then BROADCAST. `synced`:
    it acknowledged NEWLEADER, so its data is the leader's (it may still wait, in
    SYNCHRONIZATION, for a quorum to do so). `ping_age_ms` is how long ago the leader last
    read a packet from it, against `timeout_ms`, the silence after which the leader closes
    it (ZK: LearnerHandler's socket timeout: initLimit ticks, syncLimit from NEWLEADER's
    ACK). `unknown` names the fields a real server's log did not give, as NodeView's."""

    sid: Sid
    learner_type: str
    """ "follower" | "observer" (ZK: FOLLOWERINFO or OBSERVERINFO)."""
    zab_phase: str
    sync_mode: str | None = None
    """DIFF, TRUNC or SNAP once the leader chose (ZK: LearnerHandler.syncFollower)."""
    ping_age_ms: float | None = None
    timeout_ms: float | None = None
    synced: bool = False
    unknown: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class NodeView:
    """One server as seen at one instant.

    `state` is None while the node is down (crashed or not started). `proposal` is FLE's
    (proposedLeader, proposedZxid, proposedEpoch); `current_vote` is QuorumPeer's
    currentVote, what a decided node reports to LOOKING peers.
    """

    sid: Sid
    learner_type: str  # "participant" | "observer"
    weight: int = 1
    alive: bool = False
    paused: bool = False
    state: ServerState | None = None
    logicalclock: int = 0
    proposal: Vote | None = None
    current_vote: Vote | None = None
    finalizing: bool = False
    not_timeout_ms: int = 0
    recvset: tuple[tuple[Sid, Vote], ...] = ()
    outofelection: tuple[tuple[Sid, Vote], ...] = ()
    fle_recvqueue: int = 0
    """Depth of FLE.recvqueue (notifications waiting for lookForLeader)."""
    recv_queue: int = 0
    """Depth of QuorumCnxManager.recvQueue (capacity 100)."""
    send_queues: tuple[tuple[Sid, int], ...] = ()
    """Depth of each per-peer send queue (capacity 1), by peer sid."""
    connections: tuple[Sid, ...] = ()
    """Peers with a live election connection."""
    zab_phase: str = ""
    """ELECTION, DISCOVERY, SYNCHRONIZATION or BROADCAST (ZK: QuorumPeer.ZabState)."""
    established: bool = False
    """Leader: its epoch is established with a quorum; learner: synced with its leader."""
    current_epoch: int = 0
    accepted_epoch: int = 0
    last_zxid: int = 0
    sync_mode: str | None = None
    """A learner: how its leader last synced it, DIFF, TRUNC or SNAP (ZK: QuorumPeer's
    SyncMode); None before the leader chose, and for a leader."""
    learners: tuple[LearnerView, ...] = ()
    """A leader: its learners by sid, as it sees them."""
    digest_mismatches: int = 0
    """Txns it applied as a learner whose tree digest was not its leader's (ZK: mntr's
    zk_digest_mismatches_count)."""
    last_event: str = ""
    election_started_ms: float | None = None
    """When the current/last lookForLeader began (runtime clock)."""
    election_took_ms: float | None = None
    """Duration of the last completed election (ZK: 'LEADER ELECTION TOOK')."""
    unknown: frozenset[str] = frozenset()
    """Fields the evidence does not give (a real server known from its log): their values
    here are placeholders the console shows as unknown. Names are this class's fields,
    and `current_vote.zxid` / `.election_epoch` / `.peer_epoch` for a vote whose leader
    alone is known."""
    derived: frozenset[str] = frozenset()
    """Fields the shadow engine computes for a real server that does not show them
    (`--runtime zookeeper`): `recvset`, `outofelection` and, when the wire has not said
    them, `proposal` and `logicalclock`, from the live model check's FastLeaderElection
    fed the notifications the server logged, in its order (engine.replay.zkcheck)."""
    proxied: frozenset[str] = frozenset()
    """Fields a recording proxy fills in for a real server that does not show them
    (`--runtime zookeeper`): `send_queues` then counts, per peer, the notifications the
    proxy holds (`hold`) or delays (`delay`, `reorder`) on the link to it - in flight
    between the servers, not in the server's own send queue."""

    def shown(self, field: str, text: str) -> str:
        """`text`, or `?` for a field the evidence does not give (see `unknown`)."""
        return "?" if field in self.unknown else text


@dataclass(frozen=True, slots=True)
class FaultView:
    """An active fault, as `faults` lists it."""

    fault_id: str
    text: str
    sids: tuple[Sid, ...] = ()
    """The nodes it affects (named by the command, or the ends of its links)."""


DELIVERED_DROP_REASONS = frozenset({"recv_capacity", "malformed", "unknown_state"})
"""Why a message that had been delivered is dropped after all: its receive queue evicted
it unread, or WorkerReceiver could not decode it. It then counts as dropped."""


@dataclass(frozen=True, slots=True)
class MessageCounts:
    """Notifications (election messages, `m<n>`) by their fate so far: each one sent is
    delivered (it reached its receiver's receive queue), dropped (a `drop` event says why)
    or still in flight (in a send queue, on the wire or held). Learner<->leader packets
    are not counted."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0

    @property
    def in_flight(self) -> int:
        return self.sent - self.delivered - self.dropped


@dataclass(frozen=True, slots=True)
class QuorumCount:
    """Running voters against a quorum: `quorum 3/5`, or `no quorum: 2 of 5 up, 3 needed`."""

    up: int
    """Voters (participants of non-zero weight) alive and not paused."""
    needed: int
    """The fewest voters that can form a quorum."""
    voters: int
    met: bool
    """The running voters contain a quorum (ZK: containsQuorum; with hierarchical groups
    `up >= needed` alone does not say it)."""


def quorum_text(q: QuorumCount) -> str:
    """`quorum 5 up, 3 needed`, or `no quorum: 2 up, 3 needed`."""
    return f"{'quorum' if q.met else 'no quorum:'} {q.up} up, {q.needed} needed"


def leadership_text(view: ClusterView) -> str:
    """What `status` says about the leader: stable or not, and apart from that the serving
    leader and the quorum (a majority side may serve while others are LOOKING)."""

    def sid(s: Sid | None) -> str:
        return "-" if s is None else str(s)

    text = (
        f"stable={'yes' if view.stable else 'no'} leader={sid(view.leader)}"
        f" serving_leader={sid(view.serving_leader)}"
    )
    return text if view.quorum is None else f"{text} {quorum_text(view.quorum)}"


def messages_text(m: MessageCounts) -> str:
    return (
        f"messages sent={m.sent} delivered={m.delivered} dropped={m.dropped}"
        f" in_flight={m.in_flight}"
    )


def quorum_count(qv: QuorumVerifier, nodes: Iterable[NodeView]) -> QuorumCount:
    voters = [s for s in qv.voting_members if qv.weight(s) > 0]
    running = {n.sid for n in nodes if n.alive and not n.paused}
    up = [s for s in voters if s in running]
    return QuorumCount(len(up), qv.min_quorum_size(), len(voters), qv.contains_quorum(set(up)))


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The whole cluster at one instant (`t_ms` on the runtime's clock, `seq` of the last
    recorded event)."""

    t_ms: float = 0.0
    seq: int = 0
    nodes: tuple[NodeView, ...] = ()
    faults: tuple[FaultView, ...] = field(default=())
    messages: MessageCounts = MessageCounts()
    quorum: QuorumCount | None = None
    unstable_since_ms: float | None = None
    """When the cluster last stopped being `stable` (the run's start if it has not been
    since): how long the current outage, and its election, have lasted. None while stable
    (or when a runtime does not say)."""

    def node(self, sid: Sid) -> NodeView:
        for n in self.nodes:
            if n.sid == sid:
                return n
        raise KeyError(sid)

    @property
    def sids(self) -> tuple[Sid, ...]:
        return tuple(n.sid for n in self.nodes)

    @property
    def leaders(self) -> tuple[Sid, ...]:
        """Running (alive, not paused) nodes in state LEADING."""
        return tuple(
            n.sid for n in self.nodes if n.alive and not n.paused and n.state == ServerState.LEADING
        )

    @property
    def looking(self) -> tuple[Sid, ...]:
        return tuple(n.sid for n in self.nodes if n.alive and n.state == ServerState.LOOKING)

    @property
    def leader(self) -> Sid | None:
        """The stable leader, or None (see `stable`)."""
        return self.leaders[0] if self.stable else None

    @property
    def serving_leader(self) -> Sid | None:
        """A running LEADING node that has established its epoch with a quorum, whether or
        not other nodes are still LOOKING (a partition's majority side, a late joiner). If
        two claim it (an old leader that has not yet noticed its loss), the newer epoch's."""
        serving = [
            n
            for n in self.nodes
            if n.alive and not n.paused and n.state == ServerState.LEADING and n.established
        ]
        if not serving:
            return None
        return max(serving, key=lambda n: (n.current_epoch, n.sid)).sid

    @property
    def synced(self) -> bool:
        """A leader serves, and every running learner has finished syncing with it: each
        running FOLLOWING or OBSERVING node follows the serving leader and its zab phase is
        BROADCAST (ZK: Learner.syncWithLeader returns on UPTODATE; QuorumPeer.ZabState).
        Nodes still LOOKING are not learners yet: `stable` speaks of them. A real server
        whose log did not show its zab phase counts as not synced (nothing is assumed)."""
        leader = self.serving_leader
        if leader is None:
            return False
        return all(
            n.current_vote is not None
            and n.current_vote.leader == leader
            and n.zab_phase == "BROADCAST"
            and "zab_phase" not in n.unknown
            for n in self.nodes
            if n.alive
            and not n.paused
            and n.state in (ServerState.FOLLOWING, ServerState.OBSERVING)
        )

    @property
    def settled(self) -> bool:
        """Stable, and every running learner has synced with the leader too."""
        return self.stable and self.synced

    @property
    def stable(self) -> bool:
        """Every running node is out of LOOKING, all agree on one running LEADING node, and
        that leader has established its epoch with a quorum (DESIGN §4). Paused nodes do not
        count as running: their frozen state says nothing about the cluster."""
        return stable_leader(self.nodes) is not None


class Decided(Protocol):
    """What stability is judged on (a NodeView, or a runtime's cheaper summary)."""

    @property
    def sid(self) -> Sid: ...
    @property
    def alive(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def state(self) -> ServerState | None: ...
    @property
    def established(self) -> bool: ...
    @property
    def current_vote(self) -> Vote | None: ...


def stable_leader(nodes: Iterable[Decided]) -> Sid | None:
    """The leader if the cluster is stable (see ClusterView.stable), else None."""
    live = [n for n in nodes if n.alive and not n.paused]
    leaders = [n for n in live if n.state == ServerState.LEADING]
    if len(leaders) != 1 or not leaders[0].established:
        return None
    lead = leaders[0].sid
    for n in live:
        if n.state in (None, ServerState.LOOKING):
            return None
        if n.current_vote is None or n.current_vote.leader != lead:
            return None
    return lead
