"""A Zab leader's side of its learner connections, sans-IO: discovery, synchronisation and
broadcast as ZooKeeper 3.8's Leader and LearnerHandler run them.

The runtime names each learner connection by a number of its choosing (`connect(cnx)`,
`receive(cnx, packet)`, `disconnect(cnx)`), calls `tick()` every tickTime and `expire()`
at `due`, when the next wait times out; every call returns the actions to carry out **in
order**. A `SaveEpoch` must be on disk before any action after it is carried out: the
acceptedEpoch before any LEADERINFO, the currentEpoch before any sync. `LogTxns` may be
written later and in batches (ZK: SyncRequestProcessor groups txns and flushes them
together); the runtime says when its log holds a proposal on disk with `logged(zxid)`,
which is the leader's own ACK of it (ZK: AckRequestProcessor after the flush), so the
leader acknowledges nothing it has not made durable (reference §7.4) and its COMMIT
waits for that ACK when it is needed for a quorum. `SendTo` carries
a QuorumPacket, or after SNAP the dump (written with its signature, ZK:
LearnerHandler.run). `Drop(cnx, reason)` closes one learner connection; `Fail(reason)`
ends leadership (ZK: Leader.shutdown; the server goes back to LOOKING) and after it the
leader takes nothing more.

Once established the leader takes the REQUEST packets its followers forward, turns them into
txns (`prep.Prep`) and proposes them, answers SYNC and REVALIDATE, tracks the sessions
the learners' PINGs touch and closes those that expire (`sessions.SessionTracker`). The
runtime passes its clock in milliseconds (`now=`) with each call that may need it: txn
times and session deadlines are ZooKeeper's wall-clock milliseconds, and the waits time
out as ZooKeeper's do, to the millisecond rather than at a tick: the leader's own waits
for a quorum (Leader.getEpochToPropose, waitForEpochAck, waitForNewLeaderAck) initLimit
ticks after each began, a learner's read (its socket's SO_TIMEOUT) initLimit ticks after
its last packet until its NEWLEADER's ACK, syncLimit ticks after it; a proposal's ACK is
checked at each PING, against syncLimit ticks (LearnerHandler.SyncLimitCheck).

The committed log a learner is synced from is every txn logged after the leader's
snapshot (ZK: ZKDatabase.committedLog, and the txn log getProposalsFromTxnLog reads for a
learner older than it), so a learner older than the snapshot gets SNAP.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from typing import TypeAlias

from engine.core.jute.archive import JuteError
from engine.core.jute.records import QuorumPacket, TxnDigest
from engine.core.jute.requests import CreateRequest, LearnerRequest
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.txn import TxnEntry
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.quorumpacket import packet_name
from engine.core.vote import make_zxid, zxid_counter, zxid_epoch, zxid_hex
from engine.core.zab.database import DIGEST_VERSION, OPEN_ACL_UNSAFE, Database
from engine.core.zab.hashset import JavaHashSet
from engine.core.zab.learner import (
    ACK,
    ACKEPOCH,
    COMMIT,
    DIFF,
    FOLLOWERINFO,
    INFORM,
    LEADERINFO,
    NEWLEADER,
    OBSERVERINFO,
    PING,
    PROPOSAL,
    PROTOCOL_VERSION,
    REVALIDATE,
    SNAP,
    SYNC,
    TRUNC,
    UPTODATE,
    Committed,
    DigestMismatch,
    Fail,
    LogTxns,
    SaveEpoch,
    compare_digest,
)
from engine.core.zab.prep import ERROR, SERVER_SESSION, Prep
from engine.core.zab.sessions import SessionTracker

__all__ = ["WRITE_PATH", "Drop", "LeaderAction", "SendTo", "ZabLeader"]

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")
_TOUCH = struct.Struct(">qi")
_COUNTER_MAX = 0xFFFFFFFF
REQUEST = 1
"""ZK: Leader.REQUEST, a client's write a follower forwards."""
_CREATE_SESSION, _CLOSE_SESSION = -10, -11
_CREATE, _PERSISTENT_SEQUENTIAL = 1, 2
WRITE_PATH = "/zkfle-write-"
"""Where the `write` command's znodes go (a sequence number follows)."""


@dataclass(frozen=True, slots=True)
class SendTo:
    cnx: int
    item: QuorumPacket | SnapshotDump


@dataclass(frozen=True, slots=True)
class Drop:
    """Close this learner connection (ZK: LearnerHandler.shutdown)."""

    cnx: int
    reason: str


LeaderAction: TypeAlias = SendTo | Drop | SaveEpoch | LogTxns | Committed | DigestMismatch | Fail


@dataclass(slots=True)
class _Proposal:
    entry: TxnEntry
    data: bytes
    ackset: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _SyncLimitCheck:
    """ZK: LearnerHandler.SyncLimitCheck: the proposal whose ACK has been awaited longest
    and the last one sent after it, each (zxid, ms when sent). It keeps no more: once the
    first is acknowledged the wait runs from the second, whatever was sent between."""

    current: tuple[int, int] | None = None
    next: tuple[int, int] | None = None

    def update_proposal(self, zxid: int, now: int) -> None:
        if self.current is None:
            self.current = (zxid, now)
        else:
            self.next = (zxid, now)

    def update_ack(self, zxid: int) -> None:
        if self.current is not None and self.current[0] == zxid:
            self.current, self.next = self.next, None
        elif self.next is not None and self.next[0] == zxid:
            self.next = None  # ZK warns "ACK for ... received before ACK for ..."

    def check(self, now: int, sync_timeout: int) -> bool:
        return self.current is None or now - self.current[1] < sync_timeout


@dataclass(slots=True)
class _Handler:
    """One learner connection (ZK: LearnerHandler). `stage` is where its run() is:
    INFO (awaiting FOLLOWERINFO), EPOCH (in getEpochToPropose), ACKEPOCH (LEADERINFO
    sent), ELECTION (in waitForEpochAck), NEWLEADER (synced, awaiting the ACK), STARTUP
    (in waitForStartup), BROADCAST (UPTODATE sent)."""

    cnx: int
    deadline: int
    """When its read times out (ms): initLimit or syncLimit ticks after its last packet."""
    sid: int = -1
    observer: bool = False
    stage: str = "INFO"
    peer_last_zxid: int = 0
    sync_mode: str | None = None
    sync_limit_check: _SyncLimitCheck = field(default_factory=_SyncLimitCheck)

    @property
    def forwarding(self) -> bool:
        """ZK: startForwarding has run: proposals and commits are queued to it."""
        return self.stage in ("NEWLEADER", "STARTUP", "BROADCAST")


class ZabLeader:
    """ZK: Leader.lead with its LearnerHandlers, from the server's durable state.

    `snapshot` and `log` are what the server has on disk, as for `ZabLearner`; `config`
    is the quorum config text NEWLEADER carries (QuorumVerifier.toString) and
    `config_version` its version. Limits are in ticks (ZK: initLimit, syncLimit);
    `tick_time` is in milliseconds, the unit of session expiry. `processed_zxid` is the
    server's in-memory lastProcessedZxid where its last role left it ahead of the log
    (ZK: loadData takes the database as it is, ZOOKEEPER-1642)."""

    def __init__(
        self,
        sid: int,
        verifier: QuorumVerifier,
        *,
        accepted_epoch: int,
        current_epoch: int,
        init_limit: int,
        sync_limit: int,
        config: bytes,
        config_version: int = 0,
        tick_time: int = 2000,
        snapshot: tuple[SnapshotDump, int] | None = None,
        log: tuple[TxnEntry, ...] = (),
        processed_zxid: int | None = None,
    ) -> None:
        self.sid = sid
        self.verifier = verifier
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.config = config
        self.config_version = config_version
        self.database = Database.loaded(snapshot, log, config, processed_zxid)
        self._proposed = Database.loaded(snapshot, log, config, processed_zxid)
        """The tree as every txn proposed leaves it, whose digest each proposal carries (ZK:
        PrepRequestProcessor's digests precalculated over outstandingChanges)."""
        snap_zxid = snapshot[1] if snapshot is not None else 0
        self.committed_log: list[TxnEntry] = [e for e in log if e.zxid > snap_zxid]
        """ZK: ZKDatabase.committedLog."""
        self.zab_state = "DISCOVERY"
        """ZK: QuorumPeer.ZabState: DISCOVERY, SYNCHRONIZATION, BROADCAST (or CLOSED)."""
        self.tick_time = tick_time
        self.epoch = -1
        self.last_proposed = 0
        self.last_committed = -1
        self.outstanding: dict[int, _Proposal] = {}
        self.digest_mismatches = 0
        """Committed txns whose digest was not the tree's (ZK: zk_digest_mismatches_count)."""
        """ZK: Leader.outstandingProposals, in zxid order."""
        self.sessions = SessionTracker(tick_time)
        self.prep = Prep(self.database, self.sessions)
        self._writes = 0
        """The `write` command's requests so far (their cxid)."""
        self._pending_syncs: dict[int, list[int]] = {}
        """ZK: Leader.pendingSyncs: learners whose SYNC waits for this zxid's commit."""
        self._now = 0
        self._leader_summary = (current_epoch, self.database.last_processed_zxid)
        """ZK: leaderStateSummary (currentEpoch, lastProcessedZxid)."""
        self._handlers: dict[int, _Handler] = {}
        self._connecting: set[int] = set()
        """ZK: connectingFollowers; no epoch is chosen before the leader's own `start()`."""
        self._electing: set[int] = set()
        self._new_leader_acks: set[int] = set()
        self._waiting_for_new_epoch = True
        self._election_finished = False
        self._quorum_formed = False
        self._phase_deadline: int | None = None
        """When the leader's own wait for a quorum times out (ms), from `start` on."""
        self._follower_counter = -1
        self._out: list[LeaderAction] = []

    @property
    def new_leader_zxid(self) -> int:
        return make_zxid(self.epoch, 0)

    @property
    def established(self) -> bool:
        return self.zab_state == "BROADCAST"

    def learners(self) -> list[tuple[int, int, str, str | None]]:
        """(cnx, sid, stage, sync mode) of each learner connection, by cnx."""
        return [(h.cnx, h.sid, h.stage, h.sync_mode) for _, h in sorted(self._handlers.items())]

    # --- the doors ------------------------------------------------------------------------

    @property
    def due(self) -> int | None:
        """When the next wait times out (ms), for the runtime to call `expire` then; None
        when nothing waits. A packet may move it later, never earlier."""
        if self.zab_state == "CLOSED":
            return None
        # ZK: a handler in waitForStartup reads nothing, so no read times out there
        reads = [h.deadline for h in self._handlers.values() if h.stage != "STARTUP"]
        if not self.established and self._phase_deadline is not None:
            reads.append(self._phase_deadline)
        return min(reads, default=None)

    def start(self, *, now: int | None = None) -> list[LeaderAction]:
        """ZK: lead(): getEpochToPropose for the leader itself."""
        self._now = self._now if now is None else now
        self._phase_deadline = self._now + self._init_timeout
        self._epoch_to_propose(self.sid, self.accepted_epoch)
        return self._flush()

    def connect(self, cnx: int, *, now: int | None = None) -> list[LeaderAction]:
        """A learner connected (ZK: LearnerCnxAcceptor); its reads time out after initLimit
        ticks until it has synced."""
        self._now = self._now if now is None else now
        if self.zab_state != "CLOSED":
            self._handlers[cnx] = _Handler(cnx, self._now + self._init_timeout)
        return []

    def disconnect(self, cnx: int) -> list[LeaderAction]:
        """The connection closed (ZK: LearnerHandler's run ends, removeLearnerHandler)."""
        self._handlers.pop(cnx, None)
        return []

    def receive(self, cnx: int, qp: QuorumPacket, *, now: int | None = None) -> list[LeaderAction]:
        self._now = self._now if now is None else now
        if self.zab_state == "CLOSED":
            return []
        self._expire()  # what timed out before this packet came
        h = self._handlers.get(cnx)
        if h is None or self.zab_state == "CLOSED":
            return self._flush()
        synced = h.stage in ("STARTUP", "BROADCAST")
        h.deadline = self._now + (self._sync_timeout if synced else self._init_timeout)
        if h.stage == "INFO":
            self._learner_info(h, qp)
        elif h.stage == "ACKEPOCH":
            self._ack_epoch(h, qp)
        elif h.stage == "NEWLEADER":
            self._new_leader_ack(h, qp)
        elif h.stage in ("STARTUP", "BROADCAST"):
            self._learner_packet(h, qp)
        else:  # ZK: the handler is blocked in a wait and reads nothing until it returns
            self._drop(h, f"{packet_name(qp.type)} while waiting for a quorum")
        return self._flush()

    def tick(self, *, now: int | None = None) -> list[LeaderAction]:
        """One tickTime passed: what timed out by now, then once established the quorum
        check and a PING to each learner, or its drop if a proposal waited syncLimit ticks
        for its ACK (ZK: lead()'s loop, LearnerHandler.ping), and the expired sessions
        closed (ZK: SessionTrackerImpl.run)."""
        self._now = self._now if now is None else now
        if self.zab_state == "CLOSED":
            return []
        self._expire()
        if self.established:
            synced = {self.sid} | {
                h.sid for h in self._handlers.values() if h.sid in self.verifier.voting_members
            }
            if not self.verifier.contains_quorum(synced):
                sids = ",".join(str(s) for s in sorted(synced))
                self._fail(f"Not sufficient followers synced, only synced with sids: [ {sids} ]")
                return self._flush()
            for _, h in sorted(self._handlers.items()):
                if not h.forwarding:  # ZK: LearnerHandler.ping, once the sender thread runs
                    continue
                if h.sync_limit_check.check(self._now, self._sync_timeout):
                    self._send(h, QuorumPacket(PING, self.last_proposed))
                else:
                    self._drop(h, "Closing connection to peer due to transaction timeout.")
            for session in self.sessions.expired(self._now):
                self._propose(self.prep.expire(session, self.next_zxid, self._now))
        return self._flush()

    def expire(self, *, now: int) -> list[LeaderAction]:
        """Time out what waited until `now` (the runtime calls it at `due`)."""
        self._now = now
        if self.zab_state == "CLOSED":
            return []
        self._expire()
        return self._flush()

    def _expire(self) -> None:
        """ZK: the leader's waits end in "Timeout while waiting..." (Leader.lead's) and a
        learner's read in SocketTimeoutException (LearnerHandler.run's) once their time
        has come, not at the next tick."""
        now = self._now
        deadline = self._phase_deadline
        if not self.established and deadline is not None and now >= deadline:
            self._fail(self._timeout_reason())
            return
        # ZK: a handler in waitForStartup reads nothing, so no read times out there
        silent = [h for h in self._handlers.values() if h.stage != "STARTUP" and now >= h.deadline]
        for h in sorted(silent, key=lambda h: h.cnx):
            limit = self.sync_limit if h.stage == "BROADCAST" else self.init_limit
            self._drop(h, f"Read timed out: nothing from the learner in {limit} ticks")

    @property
    def _init_timeout(self) -> int:
        return self.init_limit * self.tick_time

    @property
    def _sync_timeout(self) -> int:
        """ZK: Leader.syncTimeout."""
        return self.sync_limit * self.tick_time

    def _timeout_reason(self) -> str:
        if self._waiting_for_new_epoch:
            return "Timeout while waiting for epoch from quorum"
        if not self._election_finished:
            return "Timeout while waiting for epoch to be acked by quorum"
        sids = ",".join(str(s) for s in sorted(self._new_leader_acks))
        return f"Waiting for a quorum of followers, only synced with sids: [ {sids} ]"

    # --- discovery ------------------------------------------------------------------------

    def _learner_info(self, h: _Handler, qp: QuorumPacket) -> None:
        """ZK: LearnerHandler.run, up to LEADERINFO."""
        if qp.type not in (FOLLOWERINFO, OBSERVERINFO):
            self._drop(
                h, f"First packet {packet_name(qp.type)} is not FOLLOWERINFO or OBSERVERINFO"
            )
            return
        data = qp.data
        version = 0x1  # ZK: LearnerHandler.version's default, a pre-1.0 learner
        if data is None:
            h.sid = self._follower_counter
            self._follower_counter -= 1
        else:
            if len(data) >= 8:
                h.sid = _LONG.unpack_from(data)[0]
            if len(data) >= 12:
                version = _INT.unpack_from(data, 8)[0]
            if len(data) >= 20 and _LONG.unpack_from(data, 12)[0] > self.config_version:
                self._drop(
                    h, "Follower is ahead of the leader (has a later activated configuration)"
                )
                return
        if version < PROTOCOL_VERSION:
            self._drop(h, f"Learner protocol version 0x{version:x} predates Zab 1.0")
            return
        h.observer = qp.type == OBSERVERINFO
        h.stage = "EPOCH"
        self._epoch_to_propose(h.sid, zxid_epoch(qp.zxid))

    def _epoch_to_propose(self, sid: int, last_accepted_epoch: int) -> None:
        """ZK: Leader.getEpochToPropose: one more than the highest acceptedEpoch of a
        quorum that includes the leader; the leader's acceptedEpoch is durable before any
        LEADERINFO goes out."""
        if self._waiting_for_new_epoch:
            if last_accepted_epoch >= self.epoch:
                self.epoch = last_accepted_epoch + 1
            if sid in self.verifier.voting_members:
                self._connecting.add(sid)
            if self.sid in self._connecting and self.verifier.contains_quorum(self._connecting):
                self._waiting_for_new_epoch = False
                self.accepted_epoch = self.epoch
                self._out.append(SaveEpoch("acceptedEpoch", self.epoch))
                self.last_proposed = self.new_leader_zxid
                self._phase_deadline = self._now + self._init_timeout
                self._epoch_ack(self.sid, self._leader_summary)
        if not self._waiting_for_new_epoch:
            for _, h in sorted(self._handlers.items()):
                if h.stage == "EPOCH":
                    h.stage = "ACKEPOCH"
                    data = _INT.pack(PROTOCOL_VERSION)
                    self._send(h, QuorumPacket(LEADERINFO, self.new_leader_zxid, data))

    def _ack_epoch(self, h: _Handler, qp: QuorumPacket) -> None:
        if qp.type != ACKEPOCH:
            self._drop(h, f"{packet_name(qp.type)} is not ACKEPOCH")
            return
        if qp.data is None or len(qp.data) < 4:
            self._drop(h, "ACKEPOCH without the learner's current epoch")
            return
        h.peer_last_zxid = qp.zxid
        h.stage = "ELECTION"
        self._epoch_ack(h.sid, (_INT.unpack_from(qp.data)[0], qp.zxid), h)

    def _epoch_ack(self, sid: int, summary: tuple[int, int], h: _Handler | None = None) -> None:
        """ZK: Leader.waitForEpochAck; once a quorum has acked, the leader's currentEpoch
        is durable, then every waiting learner is synced."""
        if not self._election_finished:
            current_epoch, last_zxid = summary
            if current_epoch != -1:
                if summary > self._leader_summary:  # ZK: StateSummary.isMoreRecentThan
                    epoch, zxid = self._leader_summary
                    assert h is not None
                    self._drop(
                        h,
                        f"Follower is ahead of the leader, leader summary: {epoch} (current "
                        f"epoch), {zxid} (last zxid)",
                    )
                    return
                if last_zxid != -1 and sid in self.verifier.voting_members:
                    self._electing.add(sid)
            if self.sid in self._electing and self.verifier.contains_quorum(self._electing):
                self._election_finished = True
                self.current_epoch = self.epoch
                self._out.append(SaveEpoch("currentEpoch", self.epoch))
                self.zab_state = "SYNCHRONIZATION"
                self._phase_deadline = self._now + self._init_timeout
                self._new_leader_ack(None, QuorumPacket(ACK, self.new_leader_zxid))
        if self._election_finished:
            for _, waiting in sorted(self._handlers.items()):
                if waiting.stage == "ELECTION":
                    self._sync(waiting)

    # --- synchronisation (ZK: LearnerHandler.syncFollower) ---------------------------------

    def _sync(self, h: _Handler) -> None:
        """The DIFF, TRUNC or SNAP with the committed proposals, then the outstanding ones
        (ZK: startForwarding) and NEWLEADER with the config."""
        queued, current_zxid = self.sync_follower(h.peer_last_zxid)
        if queued is None:
            h.sync_mode = "SNAP"
            current_zxid = self.database.last_processed_zxid
            self._send(h, QuorumPacket(SNAP, current_zxid))
            self._send(h, self.database.dump())
        else:
            h.sync_mode = packet_name(queued[0].type)
            for qp in queued:
                self._send(h, qp)
        if self.last_proposed > current_zxid and not h.observer:
            for zxid, p in self.outstanding.items():
                if zxid > current_zxid:
                    self._propose_to(h, p)
        h.stage = "NEWLEADER"
        self._send(h, QuorumPacket(NEWLEADER, self.new_leader_zxid, self.config))

    def sync_follower(self, peer_last_zxid: int) -> tuple[list[QuorumPacket] | None, int]:
        """ZK: syncFollower: the packets of a DIFF or TRUNC and the last zxid they bring
        the learner to, or None for SNAP."""
        is_peer_new_epoch_zxid = zxid_counter(peer_last_zxid) == 0
        last_processed = self.database.last_processed_zxid
        if self.committed_log:
            min_log, max_log = self.committed_log[0].zxid, self.committed_log[-1].zxid
        else:
            min_log = max_log = last_processed
        if last_processed == peer_last_zxid:  # already in sync: an empty DIFF
            return [QuorumPacket(DIFF, peer_last_zxid)], peer_last_zxid
        if peer_last_zxid > max_log and not is_peer_new_epoch_zxid:
            return [QuorumPacket(TRUNC, max_log)], max_log
        if min_log <= peer_last_zxid <= max_log:
            return self._queue_committed_proposals(peer_last_zxid, max_log)
        return None, peer_last_zxid  # ZK: "Unhandled scenario": a snapshot

    def _queue_committed_proposals(
        self, peer_last_zxid: int, last_committed_zxid: int
    ) -> tuple[list[QuorumPacket] | None, int]:
        """ZK: queueCommittedProposals over the committed log: DIFF when the peer's zxid is
        in it (or is a new epoch's), TRUNC to the proposal before the first it lacks on
        the same epoch, None (SNAP) across an epoch."""
        is_peer_new_epoch_zxid = zxid_counter(peer_last_zxid) == 0
        queued: list[QuorumPacket] = []
        queued_zxid = peer_last_zxid
        prev_proposal_zxid = -1
        for entry in self.committed_log:
            zxid = entry.zxid
            if zxid < peer_last_zxid:  # the peer has it
                prev_proposal_zxid = zxid
                continue
            if not queued:
                if zxid == peer_last_zxid:
                    queued.append(QuorumPacket(DIFF, last_committed_zxid))
                    continue
                if is_peer_new_epoch_zxid:
                    queued.append(QuorumPacket(DIFF, last_committed_zxid))
                elif zxid_epoch(zxid) != zxid_epoch(peer_last_zxid):
                    return None, queued_zxid  # ZK: "Cannot send TRUNC ... different epoch"
                else:
                    queued.append(QuorumPacket(TRUNC, prev_proposal_zxid))
            if zxid <= queued_zxid:
                continue
            queued.append(QuorumPacket(PROPOSAL, zxid, entry.encode()))
            queued.append(QuorumPacket(COMMIT, zxid))
            queued_zxid = zxid
        if not queued:
            if not is_peer_new_epoch_zxid:
                return None, queued_zxid
            queued.append(QuorumPacket(DIFF, last_committed_zxid))
        return queued, queued_zxid

    def _new_leader_ack(self, h: _Handler | None, qp: QuorumPacket) -> None:
        """ZK: waitForNewLeaderAck; a quorum of ACKs (the leader's own first) establishes
        the leader (startZkServer), and each learner that has acknowledged gets UPTODATE."""
        if h is not None:
            if qp.type != ACK:
                self._drop(
                    h,
                    f"Next packet was supposed to be an ACK, but received packet: "
                    f"{packet_name(qp.type)}",
                )
                return
            h.stage = "STARTUP"
            h.deadline = self._now + self._sync_timeout
        sid = self.sid if h is None else h.sid
        if not self._quorum_formed and qp.zxid == self.new_leader_zxid:
            if sid in self.verifier.voting_members:
                self._new_leader_acks.add(sid)
            if self.verifier.contains_quorum(self._new_leader_acks):
                self._quorum_formed = True
                self._start_zk_server()
        if self._quorum_formed:
            for _, ready in sorted(self._handlers.items()):
                if ready.stage == "STARTUP":
                    ready.stage = "BROADCAST"
                    ready.deadline = self._now + self._sync_timeout
                    self._send(ready, QuorumPacket(UPTODATE, -1))

    def _start_zk_server(self) -> None:
        """ZK: startZkServer: lastCommitted and the database's zxid become the epoch's; the
        sessions of the database are tracked from now (ZK: createSessionTracker)."""
        self.last_committed = self.new_leader_zxid
        self.database.last_processed_zxid = self.new_leader_zxid
        self.zab_state = "BROADCAST"
        for session, timeout in sorted(self.database.sessions.items()):
            self.sessions.track(session, timeout, self._now)

    # --- broadcast ------------------------------------------------------------------------

    def _learner_packet(self, h: _Handler, qp: QuorumPacket) -> None:
        """ZK: LearnerHandler.run's loop."""
        if qp.type == ACK:
            h.sync_limit_check.update_ack(qp.zxid)
            self._process_ack(h.sid, qp.zxid)
        elif qp.type == PING:
            data = qp.data or b""
            if len(data) % _TOUCH.size:
                self._drop(h, f"PING with {len(data)} bytes of sessions, not 12 each")
                return
            for session, timeout in _TOUCH.iter_unpack(data):
                self.sessions.touch(session, timeout, self._now)
        elif qp.type == REVALIDATE:
            self._revalidate(h, qp)
        elif qp.type == REQUEST:
            self._request(h, qp)
        # ZK logs and ignores the rest ("unexpected quorum packet").

    def _revalidate(self, h: _Handler, qp: QuorumPacket) -> None:
        """ZK: LearnerMaster.revalidateSession: a client moved to this learner; its session
        is touched, and if valid owned by this learner."""
        data = qp.data or b""
        if len(data) < _TOUCH.size:
            self._drop(h, f"REVALIDATE with {len(data)} bytes, not a session and a timeout")
            return
        session, timeout = _TOUCH.unpack_from(data)
        valid = self.established and self.sessions.touch(session, timeout, self._now)
        if valid:
            self.sessions.set_owner(session, h.cnx)
        answer = _LONG.pack(session) + (b"\x01" if valid else b"\x00")
        self._send(h, QuorumPacket(REVALIDATE, qp.zxid, answer))

    def _request(self, h: _Handler, qp: QuorumPacket) -> None:
        """ZK: LearnerHandler's REQUEST -> PrepRequestProcessor -> ProposalRequestProcessor;
        a sync is answered once the proposals outstanding now are committed (processSync)."""
        try:
            request = LearnerRequest.decode(qp.data or b"")
        except JuteError as e:
            self._drop(h, f"Malformed REQUEST from the learner: {e}")
            return
        if not self.established:
            return  # ZK: not read until UPTODATE; a learner forwards nothing before it
        if request.type == 9:  # ZK: OpCode.sync
            if self.outstanding:
                self._pending_syncs.setdefault(self.last_proposed, []).append(h.cnx)
            else:
                self._send(h, QuorumPacket(SYNC, 0))
            return
        entry = self.prep.prepare(request, h.cnx, self.next_zxid, self._now, qp.authinfo or ())
        if entry is not None:
            self._propose(entry)

    @property
    def next_zxid(self) -> int:
        """The zxid the next proposal must carry (ZK: ZooKeeperServer.getNextZxid)."""
        return self.last_proposed + 1

    def write(self, count: int, *, now: int | None = None) -> list[LeaderAction]:
        """The `write` command: `count` creates of a persistent sequential znode
        `/zkfle-write-<n>`, requests of the server itself (session 0), each prepared and
        proposed as a follower's forwarded one would be."""
        if not self.established:
            raise ValueError("write before the leader is established")
        self._now = self._now if now is None else now
        body = CreateRequest(WRITE_PATH, b"", OPEN_ACL_UNSAFE, _PERSISTENT_SEQUENTIAL).encode()
        for _ in range(count):
            self._writes += 1
            request = LearnerRequest(SERVER_SESSION, self._writes, _CREATE, body)
            entry = self.prep.prepare(request, None, self.next_zxid, self._now)
            assert entry is not None  # a create always makes a txn
            self._propose(entry)
            if self.zab_state == "CLOSED":
                break  # the zxid counter rolled over
        return self._flush()

    def check_containers(self, *, now: int | None = None) -> list[LeaderAction]:
        """ZK: ContainerManager.checkContainers, every znode.container.checkIntervalMs once
        the leader serves: each container of the applied tree that has had children and has
        none (cversion > 0) is deleted by a request of the server itself, in the order of
        the HashSet getCandidates puts them in (those of one bucket in path order, where
        Java's come in its ConcurrentHashMap's); its throttle (maxPerMinute) is not
        modelled."""
        if not self.established:
            return []
        self._now = self._now if now is None else now
        nodes = self.database.nodes
        empty = JavaHashSet(
            sorted(
                path
                for path in self.database.containers
                if not nodes[path].children and nodes[path].stat.cversion > 0
            )
        )
        for path in empty:
            self._propose(self.prep.delete_container(path, self.next_zxid, self._now))
            if self.zab_state == "CLOSED":
                break  # the zxid counter rolled over
        return self._flush()

    def propose(self, entry: TxnEntry, *, now: int | None = None) -> list[LeaderAction]:
        """Propose a txn made elsewhere (the runtime's own writes, tests); it must carry
        `next_zxid`."""
        if not self.established:
            raise ValueError("propose before the leader is established")
        self._now = self._now if now is None else now
        if entry.zxid != self.next_zxid:
            raise ValueError(f"proposal {zxid_hex(entry.zxid)} is not {zxid_hex(self.next_zxid)}")
        self._propose(entry)
        return self._flush()

    def logged(self, zxid: int) -> list[LeaderAction]:
        """The leader's txn log holds every proposal up to `zxid` on disk: its own ACK of
        each (ZK: SyncRequestProcessor's flush -> AckRequestProcessor -> processAck)."""
        if self.zab_state == "CLOSED":
            return []
        # outstanding is in zxid order, and committing removes its head
        for durable in list(itertools.takewhile(lambda z: z <= zxid, self.outstanding)):
            self._process_ack(self.sid, durable)
        return self._flush()

    def _propose(self, entry: TxnEntry) -> None:
        """ZK: Leader.propose: PROPOSAL to the followers and the txn to the log; the
        leader's own ACK comes with `logged` once the log is flushed."""
        if zxid_counter(entry.zxid) == _COUNTER_MAX:  # ZOOKEEPER-1277
            self._fail(
                "zxid lower 32 bits have rolled over, forcing re-election, and therefore new "
                "epoch start"
            )
            return
        self._proposed.process_txn(entry)
        if entry.digest is None and entry.hdr.type != ERROR:
            # ZK: setTxnDigest - every txn but an error one carries the tree's digest after it
            entry = TxnEntry(entry.hdr, entry.txn, TxnDigest(DIGEST_VERSION, self._proposed.digest))
        p = _Proposal(entry, entry.encode())
        self.last_proposed = entry.zxid
        self.outstanding[entry.zxid] = p
        for _, h in sorted(self._handlers.items()):
            if h.forwarding and not h.observer:
                self._propose_to(h, p)
        self._out.append(LogTxns((entry,)))

    def _propose_to(self, h: _Handler, p: _Proposal) -> None:
        if h.stage in ("STARTUP", "BROADCAST"):  # ZK: SyncLimitCheck starts at NEWLEADER's ACK
            h.sync_limit_check.update_proposal(p.entry.zxid, self._now)
        self._send(h, QuorumPacket(PROPOSAL, p.entry.zxid, p.data))

    def _process_ack(self, sid: int, zxid: int) -> None:
        """ZK: Leader.processAck, then tryToCommit for it and the proposals after it."""
        if zxid_counter(zxid) == 0 or zxid <= self.last_committed:
            return  # NEWLEADER's and UPTODATE's ACKs, or committed already
        p = self.outstanding.get(zxid)
        if p is None:
            return  # ZK: "Trying to commit future proposal"
        if sid in self.verifier.voting_members:
            p.ackset.add(sid)
        while self.outstanding:
            zxid, p = next(iter(self.outstanding.items()))
            if not self.verifier.contains_quorum(p.ackset):
                break
            self._commit(p)

    def _commit(self, p: _Proposal) -> None:
        """ZK: tryToCommit: COMMIT to the followers, INFORM to the observers, then the
        txn applied (CommitProcessor -> FinalRequestProcessor)."""
        zxid = p.entry.zxid
        del self.outstanding[zxid]
        self.last_committed = zxid
        for _, h in sorted(self._handlers.items()):
            if h.forwarding:
                if h.observer:
                    self._send(h, QuorumPacket(INFORM, zxid, p.data))
                else:
                    self._send(h, QuorumPacket(COMMIT, zxid))
        self.database.process_txn(p.entry)
        # ZK: FinalRequestProcessor -> processTxnInDB: the leader compares the digest prep
        # gave the txn with its committed tree's, as a learner does
        mismatch = compare_digest(self.database, p.entry)
        if mismatch is not None:
            self.digest_mismatches += 1
            self._out.append(mismatch)
        self.committed_log.append(p.entry)
        self.prep.committed(zxid)
        hdr = p.entry.hdr
        if hdr.type == _CREATE_SESSION:  # ZK: processTxnForSessionEvents, commitSession
            self.sessions.track(hdr.client_id, self.database.sessions[hdr.client_id], self._now)
        elif hdr.type == _CLOSE_SESSION:
            self.sessions.remove(hdr.client_id)
        self._out.append(Committed((zxid,)))
        for cnx in self._pending_syncs.pop(zxid, []):  # ZK: tryToCommit's sendSync
            if cnx in self._handlers:
                self._send(self._handlers[cnx], QuorumPacket(SYNC, 0))

    # --- helpers --------------------------------------------------------------------------

    def _send(self, h: _Handler, item: QuorumPacket | SnapshotDump) -> None:
        self._out.append(SendTo(h.cnx, item))

    def _drop(self, h: _Handler, reason: str) -> None:
        del self._handlers[h.cnx]
        self._out.append(Drop(h.cnx, reason))

    def _fail(self, reason: str) -> None:
        self.zab_state = "CLOSED"
        self._handlers.clear()
        self._out.append(Fail(reason))

    def _flush(self) -> list[LeaderAction]:
        out, self._out = self._out, []
        return out
