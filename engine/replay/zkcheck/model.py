"""One real server's model in `zkfle check`: FastLeaderElection on a host set from the
server's evidence, and the votes the model expects the server to be seen sending."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from engine.core.election import ElectionConfig, FastLeaderElection
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import LearnerType, Notification, ServerState, Sid, ToSend, Vote, Zxid
from engine.replay.zkcheck.report import NodeReport
from engine.trace.format import Event

MAX_EXPECTED = 1000
"""Sends remembered per recipient for comparison (bounded: most traces show few sends)."""


class _Host:
    """The QuorumPeer side the model reads (ElectionHost), set from the server's evidence."""

    def __init__(self, myid: Sid, qv: QuorumVerifier) -> None:
        self.myid = myid
        member = qv.all_members.get(myid)
        self.learner_type = member.learner_type if member else LearnerType.PARTICIPANT
        self.peer_state = ServerState.LOOKING
        self.current_vote = Vote(myid, 0, 0, 0)
        self.quorum_verifier = qv
        self.last_seen_quorum_verifier: QuorumVerifier | None = None
        self.shutting_down_le = False
        self.epoch = 0
        self.zxid: Zxid = 0

    @property
    def current_epoch(self) -> int:
        return self.epoch

    def last_logged_zxid(self) -> Zxid:
        return self.zxid


class NodeModel:
    """One server's model and what it expects to see next."""

    def __init__(self, sid: Sid, qv: QuorumVerifier, config: ElectionConfig) -> None:
        self.sid = sid
        self.qv = qv
        self.config = config
        self.report = NodeReport(sid)
        self.host = _Host(sid, qv)
        self.fle = FastLeaderElection(self.host, config)
        self.clock_known = False
        """The model's logicalclock is the server's (a start, or an election, was seen)."""
        self.pending_zxid: Zxid | None = None
        """A New election was logged; the model starts it at the loopback copy."""
        self.pending_at = 0.0
        """When that New election was logged: lookForLeader's first poll began then."""
        self.pending_timeouts: list[tuple[Event, float]] = []
        """`Notification time out` lines logged before that loopback copy came back."""
        self.started = False
        """Inside a checked lookForLeader."""
        self.in_sync = False
        """The model tracks the server (after its first checked election start)."""
        self.last_poll = 0.0
        self.decided: Vote | None = None
        """The model decided and the server's decision has not been seen yet."""
        self.decided_at = 0.0
        self.real_state = ServerState.LOOKING
        """The state the server's last peer_state line named."""
        self.left: tuple[str, float] | None = None
        """The state that line changed from, and when."""
        self.straddler: tuple[Notification, str, float] | None = None
        """The last LOOKING peer's notification logged while the server was not LOOKING,
        with that state and its time: queued all the same if the server left that state
        in between WorkerReceiver's two reads of it (see the checker's `_straddled`)."""
        self.loopback: deque[tuple[ToSend, bool]] = deque()
        """Votes the model sent to itself, in order (True: may be missing, see haveDelivered)."""
        self.sent: dict[Sid, deque[tuple[ToSend, bool]]] = {}
        self.vote_reported = False
        self.timeouts_ahead = 0
        """Timeouts the model took from evidence before their `Notification time out` line
        (3.6+ logs it after re-broadcasting, so the loopback copy can come first)."""
        self.held: list[tuple[Event, Notification, Mapping[str, Any], float]] = []
        """Notifications logged around the end of a wait, until evidence says whether the
        server polled them or timed out first (see the module doc)."""
        self.held_deadline = 0.0

    @property
    def deadline(self) -> float:
        """When the model's current wait (poll) runs out."""
        return self.last_poll + self.fle.wait_ms

    def restart(self) -> None:
        """The process started: a new election object (QuorumPeer.startLeaderElection)."""
        self.host = _Host(self.sid, self.qv)
        self.fle = FastLeaderElection(self.host, self.config)
        self.clock_known = True
        self.started = self.in_sync = False
        self.pending_zxid = None
        self.pending_timeouts.clear()
        self.decided = None
        self.real_state = ServerState.LOOKING
        self.left = None
        self.straddler = None
        self.loopback.clear()
        self.sent.clear()
        self.held.clear()
        self.timeouts_ahead = 0

    def take_sends(self, optional: bool = False) -> None:
        """Move what the model queued for sending into the expectations."""
        for m in self.fle.sendqueue:
            if m.sid == self.sid:
                self.loopback.append((m, optional))
            queue = self.sent.setdefault(m.sid, deque(maxlen=MAX_EXPECTED))
            queue.append((m, optional))
        self.fle.sendqueue.clear()
        self.fle.connect_all_requested = False
