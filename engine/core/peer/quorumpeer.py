"""QuorumPeer: one server's life cycle as a pure state machine - the node's single door.

Theory of operation
-------------------
A `QuorumPeer` owns the node's `FastLeaderElection`, its durable state (currentEpoch,
acceptedEpoch, last zxid, and the Zab data behind the last zxid: snapshot and txn log)
and, once an election has decided, ZooKeeper's Leader / Follower / Observer: the pure
`ZabLeader` (engine.core.zab.leader) while it leads, a `ZabLearner` (engine.core.zab.learner)
on each connection to its leader - discovery, synchronisation by DIFF, TRUNC or SNAP, then
broadcast - until something sends the node back to LOOKING. Runtimes feed it inputs with
`step(input, now_ms)` and carry out the returned `Output`: notifications for the election
connections, ZooKeeper's packets (jute QuorumPackets, SNAP's dump) for the learner-leader
connection, durable state and Zab data to write, how long the main thread waits.

Inputs come from two ZooKeeper threads. `Receive` is the WorkerReceiver thread; every
other input is the QuorumPeer main thread (lookForLeader, followLeader, lead). Only main
thread inputs move the main thread's timer; `Output.wait_ms` is meaningful for them.

Timing is ZooKeeper's: the leader ticks every tickTime (the quorum check, the PINGs and
their syncLimit checks are `ZabLeader.tick`'s) and its waits time out when they are due,
between ticks (its phases' initLimit waits, its learners' read timeouts:
`ZabLeader.expire`); a learner's read times out after initLimit ticks until NEWLEADER,
then syncLimit ticks. Each leader connection is numbered by the core as the learner's
first packet arrives (ZK: one LearnerHandler per accepted socket).

A runtime that runs ZooKeeper's Zab itself (`Timing.zab_leader`: `zkfle node`, whose Java
peers need the bytes on real sockets) drives engine.core.zab over TCP; the core then keeps
no leader or learner of its own - no timers, no packets - and mirrors what the runtime
reports (`ZabProgress`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import assert_never

from engine.core.election import FastLeaderElection
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
    Receive,
    SendPacket,
    SnapshotDump,
    Timeout,
    Timing,
    ZabData,
    ZabItem,
    ZabProgress,
    ZabState,
)
from engine.core.peer.learners import learner_view
from engine.core.peer.outbox import QUIET, Outbox
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import LearnerView
from engine.core.vote import LearnerType, Notification, ServerState, Sid, Vote, Zxid, make_zxid
from engine.core.zab.leader import Drop, LeaderAction, SendTo, ZabLeader
from engine.core.zab.learner import (
    Action,
    Committed,
    DigestMismatch,
    Fail,
    LogTxns,
    SaveEpoch,
    Send,
    TakeSnapshot,
    TruncateLog,
    ZabLearner,
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
    """ZK: Leader.lead - the node's own `ZabLeader`, or None while the runtime's leads
    (`Timing.zab_leader`) and `phase` mirrors it."""

    zab: ZabLeader | None
    phase: str = ZabState.DISCOVERY
    cnx: dict[Sid, int] = field(default_factory=dict)
    """Each learner's connection, numbered as its first packet arrives."""
    sids: dict[int, Sid] = field(default_factory=dict)
    next_cnx: int = 0
    heard: dict[int, float] = field(default_factory=dict)
    """When a packet was last read from each connection (its socket's timeout counts
    from it: the ping age the console shows)."""
    next_tick: float = 0.0
    """When lead()'s next tick is due."""


@dataclass(slots=True)
class _Learning:
    """ZK: Learner.followLeader / Observer.observeLeader - connecting, then the node's own
    `ZabLearner` on the connection, or (`Timing.zab_leader`) the runtime's, mirrored."""

    leader: Sid
    budget_end: float
    connected: bool = False
    tries: int = 0
    zab: ZabLearner | None = None
    phase: str = ZabState.DISCOVERY
    """The mirrored learner's phase (ZabProgress)."""
    sync_mode: str | None = None
    """The mirrored learner's sync mode (ZabProgress)."""


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
        data: ZabData | None = None,
    ) -> None:
        if myid not in quorum_verifier.all_members:
            raise PeerError(f"My id {myid} not in the peer list")  # ZK: QuorumPeer.start
        self.myid = myid
        self.quorum_verifier = quorum_verifier
        self.last_seen_quorum_verifier: QuorumVerifier | None = quorum_verifier
        self.learner_type = quorum_verifier.all_members[myid].learner_type
        self.timing = timing or Timing()
        self.durable = durable or Durable()
        self._config: bytes | None = None
        self.data = data or ZabData()
        """The Zab data on the node's disk, as the durable actions this core emitted left
        it (the runtime's copy is kept by carrying them out)."""
        if not self.timing.zab_leader and self.data.last_logged_zxid != self.durable.last_zxid:
            self.data = self.data.aligned(self.durable.last_zxid, self.config)
        self.processed_zxid: Zxid | None = None
        """The in-memory database's lastProcessedZxid that the last role left where it is
        ahead of the log: a leader's new-epoch zxid (ZK: Leader.startZkServer) while no txn
        of its epoch is logged. ZooKeeperServer.shutdown(false) keeps the database across
        roles (ZOOKEEPER-2845), so the next vote and role start from it; a restart (a new
        core) reloads from disk and loses it."""
        self.digest_mismatches = 0
        """Txns it applied - as a learner, or as the leader once committed - whose tree
        digest was not the one they carried (ZK: mntr's zk_digest_mismatches_count,
        counted since the server started)."""
        self.peer_state = ServerState.LOOKING
        self.shutting_down_le = False
        # ZK: startLeaderElection - the vote reported until an election decides; a new
        # core's database is what its disk holds.
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
        """ZK: getLastLoggedZxid = the database's lastProcessedZxid: the log's last zxid,
        or the database's where it is ahead (`processed_zxid`, a role's database)."""
        logged = self.durable.last_zxid
        memory = self._database_zxid()
        return logged if memory is None or memory <= logged else memory

    def _database_zxid(self) -> Zxid | None:
        lead, learning = self.leading, self.learning
        if lead is not None and lead.zab is not None:
            return lead.zab.database.last_processed_zxid
        if learning is not None and learning.zab is not None:
            return learning.zab.database.last_processed_zxid
        return self.processed_zxid

    @property
    def config(self) -> bytes:
        """The quorum config text (QuorumVerifier.toString): NEWLEADER carries it, a fresh
        tree's /zookeeper/config holds it."""
        if self._config is None:
            self._config = self.quorum_verifier.to_string().encode()
        return self._config

    # --- views ----------------------------------------------------------------------------------

    @property
    def zab_state(self) -> str:
        lead, learning = self.leading, self.learning
        if lead is not None:
            return lead.zab.zab_state if lead.zab is not None else lead.phase
        if learning is not None:
            return learning.zab.zab_state if learning.zab is not None else learning.phase
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
        learning = self.learning
        if learning is None:
            return None
        return learning.zab.sync_mode if learning.zab is not None else learning.sync_mode

    @property
    def established(self) -> bool:
        """Leader: epoch established with a quorum; learner: synced with its leader."""
        return self.zab_state == ZabState.BROADCAST

    def zab_learners(self, now_ms: float) -> tuple[LearnerView, ...]:
        """A leader's learners as it sees them at `now_ms` (the input clock), by sid; ()
        unless leading. Under `Timing.zab_leader` the runtime keeps them and shows them."""
        lead = self.leading
        if lead is None or lead.zab is None:
            return ()
        t = self.timing
        views = [
            learner_view(
                sid,
                self.quorum_verifier.all_members[sid].learner_type == LearnerType.OBSERVER,
                stage,
                mode,
                now_ms - lead.heard.get(cnx, now_ms),
                tick_time_ms=t.tick_time_ms,
                init_limit=t.init_limit,
                sync_limit=t.sync_limit,
            )
            for cnx, sid, stage, mode in lead.zab.learners()
            if lead.sids.get(cnx) == sid  # not one closing, nor one yet to say who it is
        ]
        return tuple(sorted(views, key=lambda v: v.sid))

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
        self.current_vote = Vote(self.myid, self.last_logged_zxid(), -1, self.durable.current_epoch)
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
            self._leader_timer(self.leading)
        elif self.learning is not None:
            self._learner_timer(self.learning)
        elif self.election.in_election:
            self._election_result(self.election.timed_out(have_delivered))
        else:
            self.deadline = None

    def _back_to_looking(self, reason: str) -> None:
        """The role ended (ZK: the finally of lead/followLeader, updateServerState)."""
        out = self._out
        out.reason = reason
        if self.leading is not None:
            for sid in sorted(self.leading.cnx):
                out.zab.append(ClosePeer(sid))
        if self.learning is not None and self.learning.connected:
            out.zab.append(ClosePeer(self.learning.leader))
        self.processed_zxid = self._kept_zxid()
        self.leading = None
        self.learning = None
        self.peer_state = ServerState.LOOKING
        self.deadline = None
        observer = self.learner_type == LearnerType.OBSERVER
        out.election_delay_max_ms = OBSERVER_ELECTION_DELAY_MS if observer else 0

    def _kept_zxid(self) -> Zxid | None:
        """What the ending role leaves in memory (ZK: Leader.shutdown and Learner.shutdown
        call ZooKeeperServer.shutdown(false), which keeps the database); a learner amid a
        SNAP clears it (shutdown(true)), and one past it has the snapshot on disk."""
        learning = self.learning
        if learning is not None and learning.zab is not None and learning.zab.sync_mode == "SNAP":
            return None
        memory = self._database_zxid()
        return memory if memory is not None and memory > self.durable.last_zxid else None

    def _persist(self, **changes: int) -> None:
        self.durable = replace(self.durable, **changes)
        self._out.persist = self.durable

    def update_election_vote(self, new_epoch: int) -> None:
        """ZK: updateElectionVote - after sync only peerEpoch changes (ZOOKEEPER-1732)."""
        self.current_vote = replace(self.current_vote, peer_epoch=new_epoch)

    # --- leader (ZK: Leader.lead) ------------------------------------------------------------

    def _lead(self) -> None:
        if self.timing.zab_leader:
            # The runtime's Zab leader times its own waits and reports ZabProgress.
            self.leading = _Leading(None)
            self.deadline = None
            return
        t = self.timing
        d = self.durable
        zab = ZabLeader(
            self.myid,
            self.quorum_verifier,
            accepted_epoch=d.accepted_epoch,
            current_epoch=d.current_epoch,
            init_limit=t.init_limit,
            sync_limit=t.sync_limit,
            config=self.config,
            config_version=self.quorum_verifier.version,
            tick_time=t.tick_time_ms,
            snapshot=self.data.snapshot,
            log=self.data.log,
            processed_zxid=self.processed_zxid,
        )
        lead = self.leading = _Leading(zab)
        self._leader_actions(lead, zab.start(now=int(self.now)))
        self._arm_tick()

    def _arm_tick(self) -> None:
        lead = self.leading
        if lead is not None:
            lead.next_tick = self.now + self.timing.tick_time_ms
            self._arm_leader_timer(lead)

    def _arm_leader_timer(self, lead: _Leading) -> None:
        """Wake at the next tick, or before it when a wait of the leader times out (a
        packet only moves a wait later, so arming at each wake-up is enough)."""
        due = lead.zab.due if lead.zab is not None else None
        self.deadline = lead.next_tick if due is None else min(lead.next_tick, due)

    def _leader_timer(self, lead: _Leading) -> None:
        if lead.zab is None:
            self.deadline = None
            return
        if self.now < lead.next_tick:
            self._leader_actions(lead, lead.zab.expire(now=int(self.now)))
            if self.leading is lead:
                self._arm_leader_timer(lead)
            return
        self._leader_actions(lead, lead.zab.tick(now=int(self.now)))
        self._arm_tick()

    def _leader_packet(self, lead: _Leading, sid: Sid, item: ZabItem) -> None:
        zab = lead.zab
        if zab is None:
            return  # the runtime's leader reads its own connections
        cnx = lead.cnx.get(sid)
        if cnx is None:
            lead.next_cnx += 1
            cnx = lead.cnx[sid] = lead.next_cnx
            lead.sids[cnx] = sid
            zab.connect(cnx, now=int(self.now))
        lead.heard[cnx] = self.now
        if isinstance(item, SnapshotDump):
            zab.disconnect(cnx)  # ZK: a learner never sends a dump; LearnerHandler's read fails
            self._forget_learner(lead, cnx)
            self._out.zab.append(ClosePeer(sid, "A database dump from a learner"))
            return
        self._leader_actions(lead, zab.receive(cnx, item, now=int(self.now)))

    def _forget_learner(self, lead: _Leading, cnx: int) -> None:
        lead.heard.pop(cnx, None)
        sid = lead.sids.pop(cnx)
        del lead.cnx[sid]

    def _leader_actions(self, lead: _Leading, actions: list[LeaderAction]) -> None:
        """Carry the leader's actions into the output, in order; a Fail ends leadership."""
        zab = lead.zab
        assert zab is not None
        logged = None
        for action in actions:
            if isinstance(action, SendTo):
                self._out.zab.append(SendPacket(lead.sids[action.cnx], action.item))
            elif isinstance(action, Drop):
                sid = lead.sids[action.cnx]
                self._forget_learner(lead, action.cnx)
                self._out.zab.append(ClosePeer(sid, action.reason))
            elif isinstance(action, Committed):
                self._out.committed.extend(action.zxids)
            elif isinstance(action, DigestMismatch):
                self.digest_mismatches += 1
            elif isinstance(action, Fail):
                self._back_to_looking(action.reason)
                return
            else:
                self._durable_action(action)
                if isinstance(action, LogTxns):
                    logged = action.entries[-1].zxid
        if logged is not None:
            # The node's log is on its disk once the step's output is carried out, before
            # anything after it: the leader's own ACK (ZK: SyncRequestProcessor's flush,
            # then AckRequestProcessor).
            self._leader_actions(lead, zab.logged(logged))
            return
        if self.established and self.current_vote.peer_epoch != zab.epoch:
            self.update_election_vote(zab.epoch)  # ZK: Leader.lead, once established

    def _client_write(self, count: int) -> None:
        lead = self.leading
        if lead is None or self.zab_state != ZabState.BROADCAST:
            self._out.write_error = (
                f"n{self.myid} is {self.peer_state.name}, not an established leader"
            )
            return
        if lead.zab is None:
            self._out.write_error = f"n{self.myid} leads over Zab: clients write through a learner"
            return
        self._leader_actions(lead, lead.zab.write(count, now=int(self.now)))

    # --- learner (ZK: Follower.followLeader, Observer.observeLeader) ----------------------------

    def _follow_leader(self, leader: Sid) -> None:
        if leader not in self.quorum_verifier.all_members:
            # ZK: Learner.findLeader - we cannot follow a leader outside our view.
            self._back_to_looking(f"Couldn't find the leader with id = {leader}")
            return
        budget = self.timing.init_limit * self.timing.tick_time_ms
        self.learning = _Learning(leader, self.now + budget)
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
        if self.timing.zab_leader:
            self.deadline = None  # the runtime's learner reads with its own timeouts
            return
        d = self.durable
        learning.zab = ZabLearner(
            self.myid,
            observer=self.learner_type == LearnerType.OBSERVER,
            accepted_epoch=d.accepted_epoch,
            current_epoch=d.current_epoch,
            config_version=self.quorum_verifier.version,
            snapshot=self.data.snapshot,
            log=self.data.log,
            config=self.config,
            processed_zxid=self.processed_zxid,
        )
        self._learner_actions(learning, learning.zab.start())

    def _learner_connect_failed(self, leader: Sid) -> None:
        learning = self.learning
        if learning is None or learning.leader != leader or learning.connected:
            return
        if learning.tries >= LEADER_CONNECT_TRIES or self.now >= learning.budget_end:
            self._back_to_looking("connectToLeader exceeded on retries.")
            return
        self.deadline = self.now + LEADER_CONNECT_DELAY_DURING_RETRY_MS

    def _learner_timer(self, learning: _Learning) -> None:
        if not learning.connected:
            self._connect_to_leader()  # the retry delay elapsed
        elif learning.zab is not None:
            self._back_to_looking("Read timed out: no packet from the leader")
        else:
            self.deadline = None

    def _learner_packet(self, learning: _Learning, sid: Sid, item: ZabItem) -> None:
        zab = learning.zab
        if sid != learning.leader or not learning.connected or zab is None:
            return
        self._learner_actions(learning, zab.receive(item))

    def _learner_actions(self, learning: _Learning, actions: list[Action]) -> None:
        """Carry the learner's actions into the output, in order; a Fail leaves the leader.
        Then the read timeout starts again: initLimit ticks until NEWLEADER, then syncLimit
        (ZK: Learner.syncWithLeader's setSoTimeout)."""
        zab = learning.zab
        assert zab is not None
        for action in actions:
            if isinstance(action, Send):
                self._out.zab.append(SendPacket(learning.leader, action.packet))
            elif isinstance(action, Fail):
                self._back_to_looking(action.reason)
                return
            elif isinstance(action, DigestMismatch):
                self.digest_mismatches += 1
            elif not isinstance(action, Committed):  # Committed: applied, nothing to do
                self._durable_action(action)
        if self.established and self.current_vote.peer_epoch != zab.new_epoch:
            self.update_election_vote(zab.new_epoch)  # ZK: Learner.syncWithLeader, UPTODATE
        t = self.timing
        ticks = t.init_limit if zab.read_limit == "init" else t.sync_limit
        self.deadline = self.now + ticks * t.tick_time_ms

    # --- what Zab makes durable -------------------------------------------------------------

    def _durable_action(self, action: SaveEpoch | LogTxns | TakeSnapshot | TruncateLog) -> None:
        """An epoch file or the Zab data written (the runtime does it, in the output's
        order); the last zxid follows the data (ZK: getLastLoggedZxid after a reload)."""
        if isinstance(action, SaveEpoch):
            if action.name == "acceptedEpoch":
                self._persist(accepted_epoch=action.epoch)
            else:
                self._persist(current_epoch=action.epoch)
            return
        self._out.zab.append(action)
        self.data = self.data.apply(action)
        if self.data.last_logged_zxid != self.durable.last_zxid:
            self._persist(last_zxid=self.data.last_logged_zxid)

    # --- the runtime's Zab (Timing.zab_leader), mirrored --------------------------------------

    def _zab_progress(self, p: ZabProgress) -> None:
        """The runtime's Zab learner of a leader moved on (ZK: Learner.registerWithLeader,
        syncWithLeader, then the packet loop of Follower / Observer). Its epochs and zxid
        are on disk already - it made them durable before acknowledging - so they are
        mirrored here, not persisted again; its socket times its own reads (initLimit, then
        syncLimit ticks), so the core has no read timer."""
        if not self.timing.zab_leader:
            return  # the core runs Zab itself: nothing of the runtime's to mirror
        if p.leader == self.myid:
            self._zab_leader_progress(p)
            return
        learning = self.learning
        if learning is None or learning.leader != p.leader or not learning.connected:
            return  # a late report from a connection the node already left
        self.deadline = None
        self.durable = Durable(p.current_epoch, p.accepted_epoch, p.last_zxid)
        self.processed_zxid = None  # the learner's database (its last_zxid) started from it
        learning.sync_mode = p.sync_mode
        if p.zab in _ZAB_PHASES:
            if p.zab == ZabState.BROADCAST and learning.phase != ZabState.BROADCAST:
                self.update_election_vote(p.current_epoch)
            learning.phase = p.zab
        if p.ended is not None:
            learning.connected = False  # gone already: nothing to close
            self._back_to_looking(p.ended)

    def _zab_leader_progress(self, p: ZabProgress) -> None:
        """The runtime's Zab leader moved on (ZK: Leader.lead - getEpochToPropose,
        waitForEpochAck, waitForNewLeaderAck, then the ping loop), its epochs and log on
        disk already; it times its own waits, so the core only mirrors it and goes back to
        LOOKING with its reason when it ends."""
        lead = self.leading
        if lead is None or lead.zab is not None:
            return  # a late report from a leadership the node already left
        self.durable = Durable(p.current_epoch, p.accepted_epoch, p.last_zxid)
        if p.zab in _ZAB_PHASES:
            if p.zab == ZabState.BROADCAST and lead.phase != ZabState.BROADCAST:
                self.update_election_vote(p.current_epoch)
                # ZK: Leader.startZkServer - the database's zxid becomes the epoch's (the
                # runtime's ZabLeader did it; its reports carry the log's last zxid).
                epoch_zxid = make_zxid(p.current_epoch, 0)
                if epoch_zxid > p.last_zxid:
                    self.processed_zxid = epoch_zxid
            lead.phase = p.zab
        if p.ended is not None:
            self._back_to_looking(p.ended)

    # --- connection events ------------------------------------------------------------------------

    def _packet_received(self, sid: Sid, item: ZabItem) -> None:
        if self.leading is not None:
            self._leader_packet(self.leading, sid, item)
        elif self.learning is not None:
            self._learner_packet(self.learning, sid, item)
        else:
            self._out.zab.append(ClosePeer(sid))  # nobody listens for quorum packets now

    def _disconnected(self, sid: Sid) -> None:
        lead, learning = self.leading, self.learning
        if lead is not None and sid in lead.cnx:
            # ZK: the LearnerHandler exits; the quorum check at the next tick notices.
            cnx = lead.cnx[sid]
            self._forget_learner(lead, cnx)
            if lead.zab is not None:
                self._leader_actions(lead, lead.zab.disconnect(cnx))
        elif learning is not None and learning.leader == sid and learning.connected:
            learning.connected = False
            self._back_to_looking("Connection to the leader closed")


_ZAB_PHASES = (ZabState.DISCOVERY, ZabState.SYNCHRONIZATION, ZabState.BROADCAST)
