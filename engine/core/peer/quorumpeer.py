"""QuorumPeer: one server's life cycle as a pure state machine - the node's single door.

Theory of operation
-------------------
A `QuorumPeer` owns the node's `FastLeaderElection`, its durable state (currentEpoch,
acceptedEpoch, last zxid) and, once an election has decided, the post-election phase of
ZooKeeper's Leader / Follower / Observer at simulator level (reference §7): discovery of
the new epoch, synchronisation, then pings and quorum checks, until something sends the
node back to LOOKING. Runtimes feed it inputs with `step(input, now_ms)` and carry out
the returned `Output`: notifications for the election connections, packets for the
learner-leader connection, durable state to write, how long the main thread waits.

Inputs come from two ZooKeeper threads. `Receive` is the WorkerReceiver thread; every
other input is the QuorumPeer main thread (lookForLeader, followLeader, lead). Only main
thread inputs move the main thread's timer; `Output.wait_ms` is meaningful for them.

Timing is ZooKeeper's: the leader must gather a quorum of followers within initLimit
ticks for each of its three waits (epoch, ACKEPOCH, NEWLEADER ack), then pings learners
every half tick and checks every tick that synced learners plus itself still form a
quorum; a learner waits initLimit ticks per read while syncing and syncLimit ticks once
synced. The packets are engine messages named after ZooKeeper's (`FOLLOWERINFO`,
`LEADERINFO`, `ACKEPOCH`, `NEWLEADER`, `UPTODATE`, `PING`, `PROPOSAL`, `ACK`, `COMMIT`,
`INFORM`), not Zab's bytes.

A runtime that leads with ZooKeeper's own Zab (`Timing.zab_leader`: `zkfle node`, whose
Java followers need the real thing) runs engine.core.zab.leader itself; the core then
keeps no leader of its own - no timers, no packets - and mirrors what the runtime reports
(`ZabProgress` with the node as leader), as it mirrors a learner of a Java leader.

Simplifications (the election does not depend on them): synchronisation sets the
learner's last zxid to the leader's (standing for DIFF/TRUNC/SNAP); a write is logged
(last zxid advanced and persisted) on PROPOSAL, as ZooKeeper's txn log does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import assert_never

from engine.core.election import FastLeaderElection
from engine.core.peer.handler import LearnerHandler
from engine.core.peer.io import (
    MAIN_THREAD_INPUTS,
    ClientWrite,
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Durable,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    LookForLeader,
    Output,
    PacketReceived,
    Poll,
    QuorumPacket,
    Receive,
    SendPacket,
    Timeout,
    Timing,
    ZabProgress,
    ZabState,
)
from engine.core.peer.outbox import QUIET, Outbox
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import LearnerView
from engine.core.vote import (
    LearnerType,
    Notification,
    ServerState,
    Sid,
    Vote,
    Zxid,
    make_zxid,
    zxid_epoch,
)

OBSERVER_ELECTION_DELAY_MS = 200
"""ZK: zookeeper.observer.election.DelayMs - observers wait random [0, this) to re-elect."""
LEADER_CONNECT_DELAY_DURING_RETRY_MS = 100
"""ZK: zookeeper.leaderConnectDelayDuringRetryMs."""
LEADER_CONNECT_TRIES = 5
"""ZK: Learner.connectToLeader gives up after 5 tries."""


# --- the leader's and learner's bookkeeping -----------------------------------------------------


@dataclass(slots=True)
class _Leading:
    """ZK: Leader.lead and its three waits (epoch, ACKEPOCH, NEWLEADER ack)."""

    zab: str = ZabState.DISCOVERY
    epoch: int = -1
    waiting_for_new_epoch: bool = True
    connecting: set[Sid] = field(default_factory=set)
    electing: set[Sid] = field(default_factory=set)
    newleader_acks: set[Sid] = field(default_factory=set)
    learners: dict[Sid, LearnerHandler] = field(default_factory=dict)
    tick: int = 0
    tick_skip: bool = True
    next_zxid_counter: int = 1
    outstanding: dict[Zxid, set[Sid]] = field(default_factory=dict)
    """Proposals not yet committed, in zxid order, with the participants that logged them."""
    committed_zxid: Zxid = 0
    """The last committed zxid: the leader's history when it began leading, then commits."""


@dataclass(slots=True)
class _Learning:
    """ZK: Learner.followLeader / Observer.observeLeader."""

    leader: Sid
    budget_end: float
    zab: str = ZabState.DISCOVERY
    connected: bool = False
    tries: int = 0
    new_epoch: int = -1
    read_limit: int = 0
    """Ticks of silence tolerated: initLimit until NEWLEADER, then syncLimit."""
    sync_mode: str | None = None
    """DIFF, TRUNC or SNAP once the leader chose (ZK: QuorumPeer.SyncMode)."""


class PeerError(Exception):
    """A step was given an input the node cannot take in its current state."""


class QuorumPeer:
    """One server: FLE, durable state and the post-election phase (ZK: QuorumPeer)."""

    def __init__(
        self,
        myid: Sid,
        quorum_verifier: QuorumVerifier,
        durable: Durable | None = None,
        timing: Timing | None = None,
    ) -> None:
        if myid not in quorum_verifier.all_members:
            raise PeerError(f"My id {myid} not in the peer list")  # ZK: QuorumPeer.start
        self.myid = myid
        self.quorum_verifier = quorum_verifier
        self.last_seen_quorum_verifier: QuorumVerifier | None = quorum_verifier
        self.learner_type = quorum_verifier.all_members[myid].learner_type
        self.timing = timing or Timing()
        self.durable = durable or Durable()
        self.peer_state = ServerState.LOOKING
        self.shutting_down_le = False
        # ZK: startLeaderElection - the vote reported until an election decides.
        self.current_vote = Vote(myid, self.durable.last_zxid, -1, self.durable.current_epoch)
        self.election = FastLeaderElection(self, self.timing.election)
        self.deadline: float | None = None
        """Absolute time (input clock) of the main thread's next Timeout."""
        self.leading: _Leading | None = None
        self.learning: _Learning | None = None
        self.election_started_ms: float | None = None
        self.election_took_ms: float | None = None
        self.now = 0.0
        """The time of the input being taken (set by `step`)."""
        self._out = Outbox()

    # --- ElectionHost ---------------------------------------------------------------------------

    @property
    def current_epoch(self) -> int:
        return self.durable.current_epoch

    def last_logged_zxid(self) -> Zxid:
        return self.durable.last_zxid

    # --- views ----------------------------------------------------------------------------------

    @property
    def zab_state(self) -> str:
        if self.leading is not None:
            return self.leading.zab
        if self.learning is not None:
            return self.learning.zab
        return ZabState.ELECTION

    @property
    def reading_from_leader(self) -> bool:
        """A learner connected to its leader, blocked in a read with the socket's timeout
        (ZK: Learner.readPacket): what arrived is read before the timeout fires, however
        late its thread gets to it (a paused JVM, say)."""
        return self.learning is not None and self.learning.connected

    @property
    def sync_mode(self) -> str | None:
        """How this learner synced with its leader (DIFF, TRUNC, SNAP), once it knows."""
        return self.learning.sync_mode if self.learning is not None else None

    @property
    def established(self) -> bool:
        """Leader: epoch established with a quorum; learner: synced with its leader."""
        return self.zab_state == ZabState.BROADCAST

    def zab_learners(self, now_ms: float) -> tuple[LearnerView, ...]:
        """A leader's learners as it sees them at `now_ms` (the input clock), by sid; ()
        unless leading. Under `Timing.zab_leader` the runtime keeps them and shows them."""
        lead = self.leading
        if lead is None:
            return ()
        broadcast = lead.zab == ZabState.BROADCAST
        return tuple(
            lead.learners[s].view(broadcast, self.timing, now_ms) for s in sorted(lead.learners)
        )

    # --- the door ---------------------------------------------------------------------------------

    def step(self, event: Input, now_ms: float) -> Output:
        """Take one input at time `now_ms` (the runtime's clock) and say what to do."""
        out = self._out = Outbox()
        self.now = now_ms
        kind = type(event)
        # The two inputs of nearly every step first, without the match below.
        if kind is Receive:
            self._receive(event.n)  # type: ignore[union-attr]
            return self._finish(out, False)
        if kind is Poll:
            self._poll()
            return self._finish(out, True)
        match event:
            case Receive(n):
                self._receive(n)
            case LookForLeader():
                self._look_for_leader()
            case Poll():
                self._poll()
            case Timeout(have_delivered, forced):
                self._timeout(have_delivered, forced)
            case LearnerConnected(leader):
                self._learner_connected(leader)
            case LearnerConnectFailed(leader):
                self._learner_connect_failed(leader)
            case PacketReceived(peer, packet):
                self._packet_received(peer, packet)
            case Disconnected(peer):
                self._disconnected(peer)
            case ZabProgress():
                self._zab_progress(event)
            case ClientWrite(count):
                self._client_write(count)
            case _:
                assert_never(event)
        return self._finish(out, isinstance(event, MAIN_THREAD_INPUTS))

    def _receive(self, n: Notification) -> None:
        self.election.worker_receiver(n)
        if self.shutting_down_le:
            # The election shut itself down; lookForLeader returns null and the main loop
            # starts a new one (QuorumPeer.run, case LOOKING).
            self.deadline = None
            self._restart_leader_election()

    def _finish(self, out: Outbox, main: bool) -> Output:
        fle = self.election
        queue = fle.sendqueue
        if queue:
            sends = tuple(queue)
            queue.clear()
        else:
            sends = ()
        connect_all = fle.connect_all_requested
        if connect_all:
            fle.connect_all_requested = False
        if main:
            deadline = self.deadline
            wait = deadline - self.now if deadline is not None else None
        else:
            wait = None
            if not sends and not connect_all and out.quiet():
                return QUIET[self.peer_state]
        return Output(
            sends,
            connect_all,
            tuple(out.zab) if out.zab else (),
            out.persist,
            wait,
            out.decided,
            self.peer_state,
            out.reason,
            out.election_delay_max_ms,
            out.restart_election,
            tuple(out.committed) if out.committed else (),
            out.write_error,
        )

    # --- election --------------------------------------------------------------------------------

    def _look_for_leader(self) -> None:
        if self.peer_state != ServerState.LOOKING or self.election.in_election:
            raise PeerError(f"lookForLeader while {self.peer_state.name}")
        self.election_started_ms = self.now
        self.election.look_for_leader()
        self._arm_election_timer()

    def _restart_leader_election(self) -> None:
        """ZK: QuorumPeer main loop, `if (shuttingDownLE) startLeaderElection()`."""
        self.shutting_down_le = False
        self.current_vote = Vote(self.myid, self.durable.last_zxid, -1, self.durable.current_epoch)
        self.election = FastLeaderElection(self, self.timing.election)
        self._out.restart_election = True
        self._out.election_delay_max_ms = 0

    def _arm_election_timer(self) -> None:
        """lookForLeader's poll restarts its wait after every notification it takes."""
        self.deadline = self.now + self.election.wait_ms

    def _poll(self) -> None:
        fle = self.election
        if not fle.in_election or not fle.recvqueue:
            raise PeerError("poll with nothing to take from FLE.recvqueue")
        self._election_result(fle.poll())

    def _election_result(self, vote: Vote | None) -> None:
        if vote is not None:
            self._decided(vote)
        else:
            self._arm_election_timer()

    def _decided(self, vote: Vote) -> None:
        """lookForLeader returned: QuorumPeer.setCurrentVote, then the new role begins."""
        self.current_vote = vote
        self._out.decided = vote
        if self.election_started_ms is not None:
            self.election_took_ms = self.now - self.election_started_ms
        if self.peer_state == ServerState.LEADING:
            self._lead()
        else:
            self._follow_leader(vote.leader)

    def _timeout(self, have_delivered: bool, forced: bool = False) -> None:
        if forced and self.election.in_election:
            self.deadline = self.now
        if self.deadline is None or self.now < self.deadline:
            return  # a stale timer: nothing is due
        if self.leading is not None:
            self._leader_timer()
        elif self.learning is not None:
            self._learner_timer()
        elif self.election.in_election:
            self._election_result(self.election.timed_out(have_delivered))
        else:
            self.deadline = None

    def _back_to_looking(self, reason: str) -> None:
        """The role ended (ZK: the finally of lead/followLeader, updateServerState)."""
        out = self._out
        out.reason = reason
        if self.leading is not None:
            for sid in sorted(self.leading.learners):
                out.zab.append(ClosePeer(sid))
        if self.learning is not None and self.learning.connected:
            out.zab.append(ClosePeer(self.learning.leader))
        self.leading = None
        self.learning = None
        self.peer_state = ServerState.LOOKING
        self.deadline = None
        observer = self.learner_type == LearnerType.OBSERVER
        out.election_delay_max_ms = OBSERVER_ELECTION_DELAY_MS if observer else 0

    def _persist(self, **changes: int) -> None:
        self.durable = replace(self.durable, **changes)
        self._out.persist = self.durable

    def update_election_vote(self, new_epoch: int) -> None:
        """ZK: updateElectionVote - after sync only peerEpoch changes (ZOOKEEPER-1732)."""
        self.current_vote = replace(self.current_vote, peer_epoch=new_epoch)

    def _is_participant(self, sid: Sid) -> bool:
        return sid in self.quorum_verifier.voting_members

    # --- leader (ZK: Leader.lead) ------------------------------------------------------------

    def _lead(self) -> None:
        self.leading = _Leading(committed_zxid=self.durable.last_zxid)
        if self.timing.zab_leader:
            # The runtime's Zab leader times its own waits and reports ZabProgress.
            self.deadline = None
            return
        self._arm_leader_wait()
        self._get_epoch_to_propose(self.myid, self.durable.accepted_epoch)

    def _arm_leader_wait(self) -> None:
        """Each of the leader's three waits gets initLimit ticks of its own."""
        self.deadline = self.now + self.timing.init_limit * self.timing.tick_time_ms

    def _handlers(self) -> list[LearnerHandler]:
        assert self.leading is not None
        return [self.leading.learners[sid] for sid in sorted(self.leading.learners)]

    def _to_learner(self, handler: LearnerHandler, kind: str, zxid: Zxid = -1) -> None:
        assert self.leading is not None
        self._out.zab.append(SendPacket(handler.sid, QuorumPacket(kind, self.leading.epoch, zxid)))

    def _get_epoch_to_propose(self, sid: Sid, last_accepted_epoch: int) -> None:
        """ZK: Leader.getEpochToPropose - epoch = 1 + max(acceptedEpoch) over a quorum of
        connected participants including the leader; LEADERINFO goes out once it is known."""
        lead = self.leading
        assert lead is not None
        if last_accepted_epoch >= lead.epoch:
            lead.epoch = last_accepted_epoch + 1
        if self._is_participant(sid):
            lead.connecting.add(sid)
        if self.myid not in lead.connecting or not self.quorum_verifier.contains_quorum(
            lead.connecting
        ):
            return
        lead.waiting_for_new_epoch = False
        self._persist(accepted_epoch=lead.epoch)
        for handler in self._handlers():
            self._to_learner(handler, "LEADERINFO", make_zxid(lead.epoch, 0))
        self._arm_leader_wait()
        self._wait_for_epoch_ack(self.myid, self.durable.current_epoch, self.durable.last_zxid)

    def _wait_for_epoch_ack(self, sid: Sid, current_epoch: int, last_zxid: Zxid) -> None:
        """ZK: Leader.waitForEpochAck - an ack of -1 ("already accepted") or from an
        untrusted database does not count; a learner ahead of us is dropped."""
        lead = self.leading
        assert lead is not None
        if current_epoch != -1:
            mine = (self.durable.current_epoch, self.durable.last_zxid)
            if sid != self.myid and (current_epoch, last_zxid) > mine:
                del lead.learners[sid]
                self._out.zab.append(ClosePeer(sid))
                return
            if last_zxid != -1 and self._is_participant(sid):
                lead.electing.add(sid)
        if self.myid not in lead.electing or not self.quorum_verifier.contains_quorum(
            lead.electing
        ):
            return
        lead.zab = ZabState.SYNCHRONIZATION
        self._persist(current_epoch=lead.epoch)
        self._arm_leader_wait()
        for handler in self._handlers():
            if handler.epoch_acked:
                self._sync_learner(handler)
        self._wait_for_new_leader_ack(self.myid)

    def _sync_learner(self, handler: LearnerHandler) -> None:
        """ZK: LearnerHandler.syncFollower, then NEWLEADER (DIFF/TRUNC/SNAP collapsed into
        one SNAP carrying the leader's last committed zxid)."""
        lead = self.leading
        assert lead is not None
        handler.sync_sent = True
        self._to_learner(handler, "SNAP", lead.committed_zxid)
        if handler.learner_type == LearnerType.PARTICIPANT:
            # ZK: LearnerHandler.startForwarding queues the proposals still outstanding,
            # which the learner logs and acks like any other.
            for zxid in lead.outstanding:
                self._to_learner(handler, "PROPOSAL", zxid)
        self._to_learner(handler, "NEWLEADER", make_zxid(lead.epoch, 0))

    def _wait_for_new_leader_ack(self, sid: Sid) -> None:
        """ZK: Leader.waitForNewLeaderAck, then startZkServer and UPTODATE to the learners."""
        lead = self.leading
        assert lead is not None
        if self._is_participant(sid):
            lead.newleader_acks.add(sid)
        if self.myid not in lead.newleader_acks or not self.quorum_verifier.contains_quorum(
            lead.newleader_acks
        ):
            return
        lead.zab = ZabState.BROADCAST
        self.update_election_vote(lead.epoch)
        for handler in self._handlers():
            if handler.newleader_acked:
                self._to_learner(handler, "UPTODATE")
        # The ping loop: every half tick; a quorum check on every other one.
        self.deadline = self.now + self.timing.tick_time_ms / 2

    def _leader_timer(self) -> None:
        lead = self.leading
        assert lead is not None
        if lead.zab == ZabState.DISCOVERY:
            if lead.waiting_for_new_epoch:
                self._back_to_looking("Timeout while waiting for epoch from quorum")
            else:
                self._back_to_looking("Timeout while waiting for epoch to be acked by quorum")
            return
        if lead.zab == ZabState.SYNCHRONIZATION:
            self._back_to_looking("Timeout while waiting for NEWLEADER to be acked by quorum")
            return
        self._drop_silent_learners()
        # ZK: Leader.lead main loop; LearnerHandler.synced() = ack deadline not passed.
        if not lead.tick_skip:
            lead.tick += 1
            synced = sorted(
                [self.myid]
                + [
                    h.sid
                    for h in lead.learners.values()
                    if lead.tick <= h.tick_of_next_ack_deadline
                ]
            )
            voters = [s for s in synced if self._is_participant(s)]
            if not self.quorum_verifier.contains_quorum(set(voters)):
                self._back_to_looking(
                    f"Not sufficient followers synced, only synced with sids: {voters}"
                )
                return
        lead.tick_skip = not lead.tick_skip
        for handler in self._handlers():
            if handler.sync_sent:
                self._to_learner(handler, "PING", self._last_proposed())
        self.deadline = self.now + self.timing.tick_time_ms / 2

    def _drop_silent_learners(self) -> None:
        """ZK: LearnerHandler.run reads with the socket's timeout - initLimit ticks, then
        syncLimit from the ACK of NEWLEADER - and a read that times out shuts the handler
        down and closes the socket; the learner then reads EOF (a paused one once it
        resumes, after what arrived before it). Judged here every half tick."""
        lead = self.leading
        assert lead is not None
        for handler in self._handlers():
            ticks = self.timing.sync_limit if handler.newleader_acked else self.timing.init_limit
            if self.now - handler.last_read > ticks * self.timing.tick_time_ms:
                del lead.learners[handler.sid]
                self._out.zab.append(ClosePeer(handler.sid))

    def _last_proposed(self) -> Zxid:
        return self.durable.last_zxid

    def _leader_packet(self, sid: Sid, packet: QuorumPacket) -> None:
        lead = self.leading
        assert lead is not None
        kind = packet.kind
        if kind in ("FOLLOWERINFO", "OBSERVERINFO"):
            learner_type = (
                LearnerType.PARTICIPANT if kind == "FOLLOWERINFO" else LearnerType.OBSERVER
            )
            handler = lead.learners[sid] = LearnerHandler(
                sid,
                learner_type,
                accepted_epoch=zxid_epoch(packet.zxid),
                tick_of_next_ack_deadline=lead.tick
                + self.timing.init_limit
                + self.timing.sync_limit,
                last_read=self.now,
            )
            if lead.waiting_for_new_epoch:
                self._get_epoch_to_propose(sid, handler.accepted_epoch)
            else:
                self._to_learner(handler, "LEADERINFO", make_zxid(lead.epoch, 0))
            return
        found = lead.learners.get(sid)
        if found is None:
            return  # a learner we dropped
        handler = found
        handler.tick_of_next_ack_deadline = lead.tick + self.timing.sync_limit
        handler.last_read = self.now
        if kind == "ACKEPOCH" and not handler.epoch_acked:
            handler.epoch_acked = True
            if lead.zab == ZabState.DISCOVERY:
                self._wait_for_epoch_ack(sid, packet.epoch, packet.zxid)
            else:
                self._sync_learner(handler)
        elif kind == "ACK" and packet.zxid == make_zxid(lead.epoch, 0):
            if handler.newleader_acked:
                return
            handler.newleader_acked = True  # the ack of NEWLEADER
            if lead.zab == ZabState.SYNCHRONIZATION:
                self._wait_for_new_leader_ack(sid)
            elif lead.zab == ZabState.BROADCAST:
                self._to_learner(handler, "UPTODATE")
        elif kind == "ACK":
            self._process_ack(sid, packet.zxid)

    # --- writes ---------------------------------------------------------------------------------

    def _client_write(self, count: int) -> None:
        lead = self.leading
        if lead is None or lead.zab != ZabState.BROADCAST:
            self._out.write_error = (
                f"n{self.myid} is {self.peer_state.name}, not an established leader"
            )
            return
        if self.timing.zab_leader:
            self._out.write_error = f"n{self.myid} leads over Zab: clients write through a learner"
            return
        for _ in range(count):
            zxid = make_zxid(lead.epoch, lead.next_zxid_counter)
            lead.next_zxid_counter += 1
            lead.outstanding[zxid] = set()
            self._persist(last_zxid=zxid)
            # ZK: Leader.propose forwards to every follower whose sync has begun
            # (LearnerHandler.startForwarding); TCP order puts it after NEWLEADER.
            for handler in self._handlers():
                if handler.sync_sent and handler.learner_type == LearnerType.PARTICIPANT:
                    self._to_learner(handler, "PROPOSAL", zxid)
            self._process_ack(self.myid, zxid)

    def _process_ack(self, sid: Sid, zxid: Zxid) -> None:
        """ZK: Leader.processAck / tryToCommit - a proposal commits once a quorum logged it
        and every earlier proposal has committed: commits go out in zxid order."""
        lead = self.leading
        assert lead is not None
        acks = lead.outstanding.get(zxid)
        if acks is None:
            return
        if self._is_participant(sid):
            acks.add(sid)
        while lead.outstanding:
            first = next(iter(lead.outstanding))
            if not self.quorum_verifier.contains_quorum(lead.outstanding[first]):
                return
            del lead.outstanding[first]
            lead.committed_zxid = first
            self._out.committed.append(first)
            for handler in self._handlers():
                if handler.sync_sent:
                    participant = handler.learner_type == LearnerType.PARTICIPANT
                    self._to_learner(handler, "COMMIT" if participant else "INFORM", first)

    # --- learner (ZK: Follower.followLeader, Observer.observeLeader) ----------------------------

    def _follow_leader(self, leader: Sid) -> None:
        if leader not in self.quorum_verifier.all_members:
            # ZK: Learner.findLeader - we cannot follow a leader outside our view.
            self._back_to_looking(f"Couldn't find the leader with id = {leader}")
            return
        budget = self.timing.init_limit * self.timing.tick_time_ms
        self.learning = _Learning(leader, self.now + budget, read_limit=self.timing.init_limit)
        self._connect_to_leader()

    def _connect_to_leader(self) -> None:
        learning = self.learning
        assert learning is not None
        learning.tries += 1
        self.deadline = None  # the runtime answers with LearnerConnected or ...Failed
        self._out.zab.append(ConnectToLeader(learning.leader))

    def _learner_connected(self, leader: Sid) -> None:
        learning = self.learning
        if learning is None or learning.leader != leader or learning.connected:
            self._out.zab.append(ClosePeer(leader))  # a late answer to an old attempt
            return
        learning.connected = True
        kind = "FOLLOWERINFO" if self.learner_type == LearnerType.PARTICIPANT else "OBSERVERINFO"
        accepted = make_zxid(self.durable.accepted_epoch, 0)
        self._out.zab.append(SendPacket(leader, QuorumPacket(kind, zxid=accepted)))
        self._arm_read_timeout()

    def _learner_connect_failed(self, leader: Sid) -> None:
        learning = self.learning
        if learning is None or learning.leader != leader or learning.connected:
            return
        if learning.tries >= LEADER_CONNECT_TRIES or self.now >= learning.budget_end:
            self._back_to_looking("connectToLeader exceeded on retries.")
            return
        self.deadline = self.now + LEADER_CONNECT_DELAY_DURING_RETRY_MS

    def _arm_read_timeout(self) -> None:
        """The learner's socket timeout: initLimit ticks until NEWLEADER, then syncLimit."""
        learning = self.learning
        assert learning is not None
        self.deadline = self.now + learning.read_limit * self.timing.tick_time_ms

    def _learner_timer(self) -> None:
        learning = self.learning
        assert learning is not None
        if not learning.connected:
            self._connect_to_leader()  # the retry delay elapsed
        else:
            self._back_to_looking("Read timed out: no packet from the leader")

    def _learner_packet(self, sid: Sid, packet: QuorumPacket) -> None:
        learning = self.learning
        assert learning is not None
        if sid != learning.leader or not learning.connected:
            return
        self._arm_read_timeout()
        kind = packet.kind
        if kind == "LEADERINFO" and learning.new_epoch == -1:
            self._register_with_leader(sid, packet.epoch)
        elif kind == "SNAP":
            learning.sync_mode = "SNAP"
            if packet.zxid != self.durable.last_zxid:
                self._persist(last_zxid=packet.zxid)
        elif kind == "NEWLEADER":
            self._persist(current_epoch=learning.new_epoch)
            learning.read_limit = self.timing.sync_limit
            self._to_leader(QuorumPacket("ACK", zxid=make_zxid(learning.new_epoch, 0)))
        elif kind == "UPTODATE":
            learning.zab = ZabState.BROADCAST
            self.update_election_vote(learning.new_epoch)
        elif kind == "PING":
            self._to_leader(QuorumPacket("PING", learning.new_epoch))
        elif kind == "PROPOSAL":
            if packet.zxid > self.durable.last_zxid:  # a log only grows
                self._persist(last_zxid=packet.zxid)
            self._to_leader(QuorumPacket("ACK", learning.new_epoch, packet.zxid))
        elif kind == "INFORM" and packet.zxid > self.durable.last_zxid:
            self._persist(last_zxid=packet.zxid)

    def _register_with_leader(self, leader: Sid, new_epoch: int) -> None:
        """ZK: Learner.registerWithLeader and the epoch check of followLeader."""
        learning = self.learning
        assert learning is not None
        accepted = self.durable.accepted_epoch
        if new_epoch < accepted:
            self._back_to_looking(
                f"Leaders epoch, {new_epoch} is less than accepted epoch, {accepted}"
            )
            return
        ack_epoch = -1  # "already accepted this epoch"
        if new_epoch > accepted:
            ack_epoch = self.durable.current_epoch
            self._persist(accepted_epoch=new_epoch)
        learning.new_epoch = new_epoch
        learning.zab = ZabState.SYNCHRONIZATION
        self._to_leader(QuorumPacket("ACKEPOCH", ack_epoch, self.durable.last_zxid))

    def _zab_progress(self, p: ZabProgress) -> None:
        """The runtime's Zab learner of a Java leader moved on (ZK: Learner.registerWithLeader,
        syncWithLeader, then the packet loop of Follower / Observer). Its epochs and zxid
        are on disk already - it made them durable before acknowledging - so they are
        mirrored here, not persisted again; its socket times its own reads (initLimit, then
        syncLimit ticks), so the core's read timer stops."""
        if p.leader == self.myid:
            self._zab_leader_progress(p)
            return
        learning = self.learning
        if learning is None or learning.leader != p.leader or not learning.connected:
            return  # a late report from a connection the node already left
        self.deadline = None
        self.durable = Durable(p.current_epoch, p.accepted_epoch, p.last_zxid)
        learning.sync_mode = p.sync_mode
        if p.zab in _ZAB_PHASES:
            if p.zab == ZabState.BROADCAST and learning.zab != ZabState.BROADCAST:
                self.update_election_vote(p.current_epoch)
            learning.zab = p.zab
        if p.ended is not None:
            learning.connected = False  # gone already: nothing to close
            self._back_to_looking(p.ended)

    def _zab_leader_progress(self, p: ZabProgress) -> None:
        """The runtime's Zab leader moved on (ZK: Leader.lead - getEpochToPropose,
        waitForEpochAck, waitForNewLeaderAck, then the ping loop), its epochs and log on
        disk already; it times its own waits, so the core only mirrors it and goes back to
        LOOKING with its reason when it ends."""
        lead = self.leading
        if lead is None or not self.timing.zab_leader:
            return  # a late report from a leadership the node already left
        self.durable = Durable(p.current_epoch, p.accepted_epoch, p.last_zxid)
        if p.zab in _ZAB_PHASES:
            if p.zab == ZabState.BROADCAST and lead.zab != ZabState.BROADCAST:
                lead.epoch = p.current_epoch
                self.update_election_vote(p.current_epoch)
            lead.zab = p.zab
        if p.ended is not None:
            self._back_to_looking(p.ended)

    def _to_leader(self, packet: QuorumPacket) -> None:
        assert self.learning is not None
        self._out.zab.append(SendPacket(self.learning.leader, packet))

    # --- connection events ------------------------------------------------------------------------

    def _packet_received(self, sid: Sid, packet: QuorumPacket) -> None:
        if self.leading is not None:
            self._leader_packet(sid, packet)
        elif self.learning is not None:
            self._learner_packet(sid, packet)
        else:
            self._out.zab.append(ClosePeer(sid))  # nobody listens for quorum packets now

    def _disconnected(self, sid: Sid) -> None:
        if self.leading is not None and sid in self.leading.learners:
            # ZK: the LearnerHandler exits; the quorum check at the next tick notices.
            del self.leading.learners[sid]
        elif self.learning is not None and self.learning.leader == sid and self.learning.connected:
            self.learning.connected = False
            self._back_to_looking("Connection to the leader closed")


_ZAB_PHASES = (ZabState.DISCOVERY, ZabState.SYNCHRONIZATION, ZabState.BROADCAST)
