"""FastLeaderElection: ZooKeeper's election algorithm as a pure state machine.

Theory of operation
-------------------
In ZooKeeper one election object serves three threads: the WorkerReceiver thread decodes
each message from QuorumCnxManager's receive queue, answers some senders directly and
hands votes to `recvqueue`; the QuorumPeer main thread runs `lookForLeader`, which polls
`recvqueue` with a timeout; the WorkerSender thread drains `sendqueue`. Here the same
decisions are three methods on one object, each called by whichever runtime hosts it, one
call at a time:

* `worker_receiver(n)` - what WorkerReceiver.run decides for one decoded notification;
* `look_for_leader()` - the prologue of lookForLeader (new round, initial vote, broadcast);
* `poll()` / `timed_out(have_delivered)` - one iteration of lookForLeader's loop: the head
  of `recvqueue` was taken, or the poll timed out. `wait_ms` says how long the caller
  must wait for the next notification before calling `timed_out`; it is never 0.

The blocking finalize loop of lookForLeader ("once a quorum agrees, wait finalizeWait for
a better vote") is the flag `finalizing`: while it is set, `poll` discards notifications
that are not better and re-queues a better one at the tail, and `timed_out` decides.

Nothing here reads a clock, sleeps, draws random numbers, logs or locks. Messages to send
accumulate in `sendqueue` (ZK: FastLeaderElection.sendqueue) for the host to drain; the
host also owns the peer state (`ElectionHost`, ZK: QuorumPeer).

Differences from ZooKeeper
--------------------------
* Peers are iterated in sorted order, where Java iterates a HashSet.
* The oracle (QuorumOracleMaj, ZOOKEEPER-3922) is not modelled; no verifier needs it.
* Dynamic reconfiguration is not modelled (reconfigEnabled=false): a received config with
  a higher version and different membership restarts the election as ZooKeeper does, but
  the received config is never adopted (ZOOKEEPER-3829).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from engine.core.quorum.error import ConfigError
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorum.verifier import QuorumVerifier, SyncedLearnerTracker
from engine.core.vote import (
    LONG_MIN,
    LearnerType,
    Notification,
    ServerState,
    Sid,
    ToSend,
    Vote,
    Zxid,
    total_order_predicate,
    vote_equals,
)

FINALIZE_WAIT_MS = 200
"""ZK: FastLeaderElection.finalizeWait."""
MIN_NOTIFICATION_INTERVAL_MS = FINALIZE_WAIT_MS
"""ZK: minNotificationInterval (zookeeper.fastleader.minNotificationInterval)."""
MAX_NOTIFICATION_INTERVAL_MS = 60_000
"""ZK: maxNotificationInterval (zookeeper.fastleader.maxNotificationInterval)."""

VoteKey = tuple[Sid, Zxid, int, int]
"""(leader, zxid, election_epoch, peer_epoch): what `vote_equals` compares when either
vote is LOOKING - so, between our proposal and any vote in recvset."""


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    """FLE's timing knobs (ZooKeeper reads them once from system properties)."""

    finalize_wait_ms: int = FINALIZE_WAIT_MS
    min_notification_interval_ms: int = MIN_NOTIFICATION_INTERVAL_MS
    max_notification_interval_ms: int = MAX_NOTIFICATION_INTERVAL_MS

    def __post_init__(self) -> None:
        if self.finalize_wait_ms <= 0 or self.min_notification_interval_ms <= 0:
            raise ValueError("FLE waits must be positive")
        if self.max_notification_interval_ms < self.min_notification_interval_ms:
            raise ValueError("maxNotificationInterval is below minNotificationInterval")


class ElectionHost(Protocol):
    """What FastLeaderElection reads from and sets on its QuorumPeer (Java: `self`)."""

    myid: Sid
    learner_type: LearnerType
    peer_state: ServerState
    current_vote: Vote
    quorum_verifier: QuorumVerifier
    last_seen_quorum_verifier: QuorumVerifier | None
    shutting_down_le: bool

    @property
    def current_epoch(self) -> int: ...

    def last_logged_zxid(self) -> Zxid: ...


class FastLeaderElection:
    """One election object; it lives across elections until the peer restarts it."""

    def __init__(self, host: ElectionHost, config: ElectionConfig | None = None) -> None:
        self.host = host
        self.config = config or ElectionConfig()
        self.logicalclock = 0
        """The election round (ZK logs it as n.round); starts at 0 for each new object."""
        # ZK: FastLeaderElection.starter
        self.proposed_leader: Sid = -1
        self.proposed_zxid: Zxid = -1
        self.proposed_epoch = 0
        self.recvset: dict[Sid, Vote] = {}
        self.outofelection: dict[Sid, Vote] = {}
        self.recvqueue: deque[Notification] = deque()
        self.sendqueue: list[ToSend] = []
        self.connect_all_requested = False
        """lookForLeader called manager.connectAll() (the host drains this flag)."""
        self.not_timeout = self.config.min_notification_interval_ms
        self.finalizing = False
        self.in_election = False
        """Inside lookForLeader (between the prologue and a decision)."""
        self.stop = False
        self.vote_set: SyncedLearnerTracker | None = None
        """ZK: voteSet - the tracker of our proposal once a quorum agrees with it."""
        self.leading_vote_set: SyncedLearnerTracker | None = None
        # recvset grouped by VoteKey, kept in step with it (see _recvset_put): counting
        # the votes equal to our proposal is then a lookup instead of a pass over recvset
        # per notification, which is O(N^2) per election at N = 51.
        self._tally: dict[VoteKey, set[Sid]] = {}
        self._tally_key: dict[Sid, VoteKey] = {}
        self._voters: tuple[QuorumVerifier, QuorumVerifier | None, tuple[Sid, ...]] | None = None
        self._voter_sets: dict[int, tuple[QuorumVerifier, frozenset[Sid]]] = {}
        self._config: tuple[str, QuorumVerifier | None] | None = None
        """The last config text received and its parse (the same text object arrives on
        nearly every notification: engine.core.wire decodes equal bytes to one str)."""

    # --- views ------------------------------------------------------------------------------

    @property
    def wait_ms(self) -> int:
        """How long lookForLeader's next poll blocks: finalizeWait while finalizing, else
        the backed-off notification interval. Never 0."""
        return self.config.finalize_wait_ms if self.finalizing else self.not_timeout

    def get_vote(self) -> Vote:
        """The current proposal (ZK: getVote; the 3-argument Vote has electionEpoch -1)."""
        return Vote(self.proposed_leader, self.proposed_zxid, -1, self.proposed_epoch)

    # --- the initial vote (ZK: getInitId, getInitLastLoggedZxid, getPeerEpoch) -------------

    def init_id(self) -> Sid:
        host = self.host
        return host.myid if host.myid in host.quorum_verifier.voting_members else LONG_MIN

    def init_last_logged_zxid(self) -> Zxid:
        host = self.host
        return host.last_logged_zxid() if host.learner_type == LearnerType.PARTICIPANT else LONG_MIN

    def init_peer_epoch(self) -> int:
        host = self.host
        return host.current_epoch if host.learner_type == LearnerType.PARTICIPANT else LONG_MIN

    # --- helpers named after the Java ----------------------------------------------------------

    def current_and_next_config_voters(self) -> list[Sid]:
        """ZK: QuorumPeer.getCurrentAndNextConfigVoters, in sorted order."""
        return list(self._config_voters())

    def _config_voters(self) -> tuple[Sid, ...]:
        """current_and_next_config_voters, computed once per pair of verifiers."""
        host = self.host
        qv, last_seen = host.quorum_verifier, host.last_seen_quorum_verifier
        cached = self._voters
        if cached is None or cached[0] is not qv or cached[1] is not last_seen:
            voters = set(qv.voting_members)
            if last_seen is not None:
                voters.update(last_seen.voting_members)
            cached = self._voters = (qv, last_seen, tuple(sorted(voters)))
        return cached[2]

    def valid_voter(self, sid: Sid) -> bool:
        host = self.host
        if sid in host.quorum_verifier.voting_members:
            return True
        last_seen = host.last_seen_quorum_verifier
        return last_seen is not None and sid in last_seen.voting_members

    def total_order_predicate(
        self,
        new_id: Sid,
        new_zxid: Zxid,
        new_epoch: int,
        cur_id: Sid,
        cur_zxid: Zxid,
        cur_epoch: int,
    ) -> bool:
        """ZK: totalOrderPredicate - nobody switches to a zero-weight server (hierarchical).

        A hierarchical config has no weight for an id outside it; ZooKeeper then throws
        (a NullPointerException that ends lookForLeader) - only reachable from the finalize
        wait, which does not check validVoter. Here such a vote is simply never better."""
        try:
            if self.host.quorum_verifier.weight(new_id) == 0:
                return False
        except KeyError:
            return False
        return total_order_predicate(new_id, new_zxid, new_epoch, cur_id, cur_zxid, cur_epoch)

    def get_vote_tracker(self, votes: dict[Sid, Vote], vote: Vote) -> SyncedLearnerTracker:
        """ZK: getVoteTracker - acks of every sid whose vote `vote.equals`."""
        tracker = SyncedLearnerTracker()
        committed = self.host.quorum_verifier
        tracker.add_quorum_verifier(committed)
        last_seen = self.host.last_seen_quorum_verifier
        if last_seen is not None and last_seen.version > committed.version:
            tracker.add_quorum_verifier(last_seen)
        for sid in sorted(votes):
            if vote_equals(vote, votes[sid]):
                tracker.add_ack(sid)
        return tracker

    def check_leader(self, votes: dict[Sid, Vote], leader: Sid, election_epoch: int) -> bool:
        """ZK: checkLeader. Another leader must have told us itself that it is LEADING; we
        may only lead in the round we are in (ZOOKEEPER-1514)."""
        if leader != self.host.myid:
            vote = votes.get(leader)
            return vote is not None and vote.state == ServerState.LEADING
        return self.logicalclock == election_epoch

    def _recvset_put(self, sid: Sid, vote: Vote) -> None:
        """recvset[sid] = vote, and the tally with it."""
        self.recvset[sid] = vote
        key = (vote.leader, vote.zxid, vote.election_epoch, vote.peer_epoch)
        tally_key = self._tally_key
        old = tally_key.get(sid)
        if old != key:
            tally = self._tally
            if old is not None:
                acks = tally[old]
                acks.discard(sid)
                if not acks:
                    del tally[old]
            tally.setdefault(key, set()).add(sid)
            tally_key[sid] = key

    def _recvset_clear(self) -> None:
        self.recvset.clear()
        self._tally.clear()
        self._tally_key.clear()

    def _voter_set(self, qv: QuorumVerifier) -> frozenset[Sid]:
        cached = self._voter_sets.get(id(qv))
        if cached is None or cached[0] is not qv:
            cached = self._voter_sets[id(qv)] = (qv, frozenset(qv.voting_members))
        return cached[1]

    def _proposal_has_quorum(self, key: VoteKey) -> bool:
        """`get_vote_tracker(recvset, proposal).has_all_quorums()` from the tally: the
        sids whose vote equals the (LOOKING) proposal are those filed under its key."""
        if len(self._tally_key) != len(self.recvset):  # recvset changed behind our back
            self._retally()
        acks = self._tally.get(key)
        if acks is None:
            return False
        host = self.host
        committed = host.quorum_verifier
        if not committed.contains_quorum(acks & self._voter_set(committed)):
            return False
        last_seen = host.last_seen_quorum_verifier
        if last_seen is not None and last_seen.version > committed.version:
            return last_seen.contains_quorum(acks & self._voter_set(last_seen))
        return True

    def _retally(self) -> None:
        votes = dict(self.recvset)
        self._recvset_clear()
        for sid, vote in votes.items():
            self._recvset_put(sid, vote)

    def update_proposal(self, leader: Sid, zxid: Zxid, epoch: int) -> None:
        self.proposed_leader, self.proposed_zxid, self.proposed_epoch = leader, zxid, epoch

    def send_notifications(self) -> None:
        """ZK: sendNotifications - the proposal to every voter, ourselves included (our own
        vote reaches recvset only through the connection manager's loopback)."""
        config = self.host.quorum_verifier.to_string()
        leader, zxid, epoch = self.proposed_leader, self.proposed_zxid, self.logicalclock
        peer_epoch = self.proposed_epoch
        looking = ServerState.LOOKING
        append = self.sendqueue.append
        for sid in self._config_voters():
            append(ToSend(leader, zxid, epoch, looking, sid, peer_epoch, config))

    def _reply(self, to: Sid, vote: Vote, election_epoch: int) -> None:
        host = self.host
        self.sendqueue.append(
            ToSend(
                vote.leader,
                vote.zxid,
                election_epoch,
                host.peer_state,
                to,
                vote.peer_epoch,
                host.quorum_verifier.to_string(),
            )
        )

    def set_peer_state(self, proposed_leader: Sid, vote_set: SyncedLearnerTracker | None) -> None:
        """ZK: setPeerState - LEADING for ourselves, else FOLLOWING or OBSERVING."""
        host = self.host
        if proposed_leader == host.myid:
            host.peer_state = ServerState.LEADING
            self.leading_vote_set = vote_set
        elif host.learner_type == LearnerType.PARTICIPANT:
            host.peer_state = ServerState.FOLLOWING
        else:
            host.peer_state = ServerState.OBSERVING

    def leave_instance(self, vote: Vote) -> Vote:
        """ZK: leaveInstance - notifications received while deciding are lost."""
        self.recvqueue.clear()
        self.in_election = False
        self.finalizing = False
        return vote

    def shutdown(self) -> None:
        """ZK: FastLeaderElection.shutdown."""
        self.stop = True
        self.proposed_leader = -1
        self.proposed_zxid = -1
        self.leading_vote_set = None
        self.in_election = False
        self.finalizing = False

    # --- WorkerReceiver ------------------------------------------------------------------------

    def worker_receiver(self, n: Notification) -> None:
        """What WorkerReceiver.run decides for one well-formed notification.

        Decoding (and dropping malformed payloads) happened before; `n.config` is the
        config text of a version > 1 message.
        """
        if self.stop:
            return  # our WorkerReceiver has exited (restart pending)
        host = self.host
        if n.version > 1 and n.config is not None and self._config_restarts_election(n.config):
            return
        if not self.valid_voter(n.sid):
            # A non-voter (observer, unknown id) hears our last *decided* vote right away.
            self._reply(n.sid, host.current_vote, self.logicalclock)
            return
        if host.peer_state == ServerState.LOOKING:
            self.recvqueue.append(n)
            # A LOOKING peer that lags behind our round learns our proposal.
            if n.state == ServerState.LOOKING and n.election_epoch < self.logicalclock:
                self._reply(n.sid, self.get_vote(), self.logicalclock)
        elif n.state == ServerState.LOOKING:
            # Decided peers tell LOOKING ones whom they follow (ZK reports the looking sid
            # to the Leader here, ZOOKEEPER-3109; maxTimeToWaitForEpoch is disabled).
            current = host.current_vote
            self._reply(n.sid, current, current.election_epoch)

    def _config_restarts_election(self, text: str) -> bool:
        """Config handling of a received version-2 message (reference §1.5 steps 1-2)."""
        host = self.host
        cached = self._config
        if cached is not None and cached[0] is text:
            rqv = cached[1]
        else:
            try:
                rqv = parse_dynamic_config(text)
            except ConfigError:
                rqv = None
            self._config = (text, rqv)
        if rqv is None:
            return False  # ZK logs it and processes the vote without a config
        committed = host.quorum_verifier
        if rqv.version <= committed.version or host.peer_state != ServerState.LOOKING:
            return False
        # processReconfig is a no-op with reconfig disabled; a different config still
        # restarts leader election (QuorumPeer.shuttingDownLE).
        if rqv.equals(committed):
            return False
        host.shutting_down_le = True
        self.shutdown()
        return True

    # --- lookForLeader -------------------------------------------------------------------------

    def look_for_leader(self) -> None:
        """The prologue of lookForLeader: a new round with our initial vote."""
        self.recvset = {}
        self._tally = {}
        self._tally_key = {}
        self.outofelection = {}
        self.not_timeout = self.config.min_notification_interval_ms
        self.finalizing = False
        self.vote_set = None
        self.in_election = True
        self.logicalclock += 1
        self.update_proposal(self.init_id(), self.init_last_logged_zxid(), self.init_peer_epoch())
        self.send_notifications()

    def timed_out(self, have_delivered: bool) -> Vote | None:
        """lookForLeader's poll returned nothing within `wait_ms`."""
        if self.finalizing:
            # Silence after a quorum agreed: decide (ZK: "if (n == null)" after the loop).
            self.set_peer_state(self.proposed_leader, self.vote_set)
            return self.leave_instance(
                Vote(
                    self.proposed_leader, self.proposed_zxid, self.logicalclock, self.proposed_epoch
                )
            )
        if have_delivered:
            self.send_notifications()
        else:
            self.connect_all_requested = True
        self.not_timeout = min(self.not_timeout * 2, self.config.max_notification_interval_ms)
        return None

    def poll(self) -> Vote | None:
        """lookForLeader took the head of `recvqueue`; returns the decided vote, if any."""
        n = self.recvqueue.popleft()
        if self.finalizing:
            # ZK: the finalize loop - a better vote goes back to the tail and the election
            # goes on; anything else is discarded unprocessed, even FOLLOWING/LEADING votes.
            if self.total_order_predicate(
                n.leader,
                n.zxid,
                n.peer_epoch,
                self.proposed_leader,
                self.proposed_zxid,
                self.proposed_epoch,
            ):
                self.recvqueue.append(n)
                self.finalizing = False
            return None
        if not (self.valid_voter(n.sid) and self.valid_voter(n.leader)):
            return None
        if n.state == ServerState.LOOKING:
            self._received_looking_notification(n)
            return None
        if n.state == ServerState.OBSERVING:
            return None
        return self.received_following_notification(n)

    def _received_looking_notification(self, n: Notification) -> None:
        """ZK: lookForLeader, case LOOKING."""
        if self.init_last_logged_zxid() == -1 or n.zxid == -1:
            return  # ZOOKEEPER-261: an untrusted (reinitialised) database takes no part
        if n.election_epoch > self.logicalclock:
            self.logicalclock = n.election_epoch
            self._recvset_clear()
            # Compared with the INITIAL vote, not the old proposal.
            if self.total_order_predicate(
                n.leader,
                n.zxid,
                n.peer_epoch,
                self.init_id(),
                self.init_last_logged_zxid(),
                self.init_peer_epoch(),
            ):
                self.update_proposal(n.leader, n.zxid, n.peer_epoch)
            else:
                self.update_proposal(
                    self.init_id(), self.init_last_logged_zxid(), self.init_peer_epoch()
                )
            self.send_notifications()
        elif n.election_epoch < self.logicalclock:
            return
        elif self.total_order_predicate(
            n.leader,
            n.zxid,
            n.peer_epoch,
            self.proposed_leader,
            self.proposed_zxid,
            self.proposed_epoch,
        ):
            self.update_proposal(n.leader, n.zxid, n.peer_epoch)
            self.send_notifications()
        self._recvset_put(n.sid, n.vote)
        key = (self.proposed_leader, self.proposed_zxid, self.logicalclock, self.proposed_epoch)
        if self._proposal_has_quorum(key):
            self.vote_set = self.get_vote_tracker(self.recvset, Vote(*key))
            self.finalizing = True
        else:
            self.vote_set = None

    def received_following_notification(self, n: Notification) -> Vote | None:
        """ZK: receivedFollowingNotification (also the LEADING case without an oracle)."""
        if n.election_epoch == self.logicalclock:
            # Stored with its state but version 0 (ZK's 5-argument Vote constructor).
            self._recvset_put(
                n.sid, Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.state)
            )
            tracker = self.get_vote_tracker(
                self.recvset,
                Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.state, n.version),
            )
            if tracker.has_all_quorums() and self.check_leader(
                self.recvset, n.leader, n.election_epoch
            ):
                self.set_peer_state(n.leader, tracker)
                return self.leave_instance(Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch))
        # ZOOKEEPER-1732: outofelection keeps current-round votes too.
        vote = Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.state, n.version)
        self.outofelection[n.sid] = vote
        tracker = self.get_vote_tracker(self.outofelection, vote)
        if tracker.has_all_quorums() and self.check_leader(
            self.outofelection, n.leader, n.election_epoch
        ):
            self.logicalclock = n.election_epoch  # adopt the ensemble's round
            self.set_peer_state(n.leader, tracker)
            return self.leave_instance(Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch))
        return None
