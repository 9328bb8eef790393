"""What real servers' logged events say about them, as NodeViews (imported traces).

A trace of real servers (zkfle import, trace format 1.1) has no core for the replayer to
re-execute. `Evidence` keeps, per server, what its events state - its state and zab phase,
its round and proposal from its own loopback votes, its decided vote as the others heard
it, its notification timeout, how long its election took - and makes a NodeView of it in
which everything the logs do not show is listed in `NodeView.unknown` (the console shows
those as unknown; nothing is made up). It derives nothing through the election model: that
is `zkfle check`'s work.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from engine.core.view import LearnerView, NodeView
from engine.core.vote import LONG_MIN, ServerState, Sid, Vote, parse_zxid

NEVER_LOGGED = frozenset(
    {
        "finalizing",
        "recvset",
        "outofelection",
        "fle_recvqueue",
        "recv_queue",
        "send_queues",
        "connections",
        "accepted_epoch",
    }
)
"""NodeView fields no INFO log line of ZooKeeper shows."""
_PARTIAL_VOTE = frozenset(
    {"current_vote.zxid", "current_vote.election_epoch", "current_vote.peer_epoch"}
)


class _Server:
    """One server's evidence so far."""

    __slots__ = (
        "current_epoch",
        "down",
        "established",
        "last_event",
        "last_zxid",
        "leader",
        "logicalclock",
        "not_timeout_ms",
        "proposal",
        "seen",
        "started_ms",
        "state",
        "sync",
        "took_ms",
        "vote",
        "zab",
    )

    def __init__(self) -> None:
        self.seen = False
        self.down = False
        """Its process ended (a `stop` of a run that killed it)."""
        self.state: ServerState | None = None
        self.zab: str | None = None
        self.sync: str | None = None
        """How its leader last synced it (DIFF, SNAP, TRUNC), as its log says."""
        self.logicalclock: int | None = None
        self.proposal: Vote | None = None
        self.vote: Vote | None = None
        """The decided vote, as another server received it (all fields known)."""
        self.leader: Sid | None = None
        """The decided leader, when only that is known (a leader names its learners)."""
        self.not_timeout_ms: int | None = None
        self.established: bool | None = None
        self.current_epoch: int | None = None
        self.last_zxid: int | None = None
        self.started_ms: float | None = None
        self.took_ms: float | None = None
        self.last_event = ""

    def restarted(self) -> None:
        """The process started again: a new election object, LOOKING; what it keeps on
        disk (currentEpoch, its last zxid) stays known."""
        self.seen, self.down = True, False
        self.state, self.zab, self.logicalclock = ServerState.LOOKING, "ELECTION", 0
        self.sync = None
        self.proposal = self.vote = self.leader = None
        self.not_timeout_ms = None
        self.established = False

    def decided(self, state: ServerState, myid: Sid) -> None:
        self.state = state
        self.sync = None
        self.vote = None
        self.leader = myid if state == ServerState.LEADING else None
        self.established = False


class Evidence:
    """Every real server's evidence in a trace, fed event by event."""

    def __init__(self, min_notification_interval_ms: int) -> None:
        self.min_interval = min_notification_interval_ms
        self.servers: dict[Sid, _Server] = {}

    def copy(self) -> Evidence:
        return copy.deepcopy(self)

    def __contains__(self, sid: object) -> bool:
        return sid in self.servers

    def running(self, sid: Sid) -> bool:
        """The server's logs show it running (it logged, and zkfle did not stop it)."""
        s = self.servers.get(sid)
        return s is not None and s.seen and not s.down

    def _server(self, sid: Sid) -> _Server:
        server = self.servers.get(sid)
        if server is None:
            server = self.servers[sid] = _Server()
        return server

    def stopped(self, sid: Sid, reason: str) -> None:
        """The server's process ended (zkfle killed it: a run of `--runtime zookeeper`);
        what it keeps on disk stays known, the rest is gone until it starts again."""
        s = self._server(sid)
        s.down = True
        s.state, s.zab, s.established, s.sync = None, None, False, None
        s.vote = s.leader = s.proposal = None
        s.last_event = reason

    def apply(self, event: Mapping[str, Any], t_ms: float) -> None:
        """Take one real-server event (kinds engine.trace.format.REAL_KINDS)."""
        sid = event.get("node")
        if type(sid) is not int:
            return
        s = self._server(sid)
        s.seen = True
        kind = event.get("kind")
        if kind == "recv":
            self._recv(sid, s, event)
        elif kind == "election":
            s.state, s.zab, s.established = ServerState.LOOKING, "ELECTION", False
            s.started_ms, s.not_timeout_ms = t_ms, self.min_interval
            s.vote = s.leader = None
            s.logicalclock = s.logicalclock + 1 if s.logicalclock is not None else None
            zxid = _zxid(event.get("proposal"))
            # A non-voter proposes Long.MIN_VALUE (FastLeaderElection.getInitLastLoggedZxid):
            # that says nothing of its log.
            s.last_zxid = zxid if zxid != LONG_MIN else None
            s.last_event = "new election"
        elif kind == "fle_timeout":
            value = event.get("timeout_ms")
            s.not_timeout_ms = value if isinstance(value, int) else None
            s.last_event = f"timeout, next {value} ms"
        elif kind == "peer_state":
            self._peer_state(sid, s, event)
        elif kind == "took":
            took = event.get("took_ms")
            s.took_ms = float(took) if isinstance(took, int | float) else None
            s.last_event = f"took {took} ms"
        elif kind == "zk":
            self._zk(sid, s, event)

    def _recv(self, sid: Sid, s: _Server, event: Mapping[str, Any]) -> None:
        n = event.get("n")
        my_state = event.get("my_state")
        if (
            isinstance(my_state, str)
            and my_state in ServerState.__members__
            and s.state != ServerState[my_state]
        ):
            s.state = ServerState[my_state]
            s.zab = "ELECTION" if s.state == ServerState.LOOKING else None
        if not isinstance(n, Mapping):
            return
        sender, state = n.get("sid"), n.get("state")
        s.last_event = f"recv n{sender} {state}"
        vote = _vote(n)
        if sender == sid and state == "LOOKING" and vote is not None:
            # Our own vote came back (loopback): it is the proposal we broadcast.
            s.proposal = Vote(vote.leader, vote.zxid, -1, vote.peer_epoch)
            s.logicalclock = vote.election_epoch
            if vote.leader == sid:  # our initial vote: our currentEpoch and last zxid
                s.current_epoch, s.last_zxid = vote.peer_epoch, vote.zxid
        elif type(sender) is int and sender != sid and state in ("FOLLOWING", "LEADING"):
            # A decided server answers with its current vote: that is what it decided.
            other = self._server(sender)
            other.seen = True
            other.state = ServerState[str(state)]
            other.vote = vote
            other.leader = vote.leader if vote is not None else other.leader

    def _peer_state(self, sid: Sid, s: _Server, event: Mapping[str, Any]) -> None:
        name = event.get("state")
        if not (isinstance(name, str) and name in ServerState.__members__):
            return
        state = ServerState[name]
        if state != s.state:
            if state == ServerState.LOOKING:
                s.state, s.vote, s.leader, s.established = state, None, None, False
                s.sync = None
            else:
                s.decided(state, sid)
        zab, sync = event.get("zab"), event.get("sync")
        if isinstance(sync, str):
            s.sync = sync
        if isinstance(zab, str):
            s.zab = zab
        elif state == ServerState.LOOKING:
            s.zab = "ELECTION"
        if s.zab == "BROADCAST":
            s.established = True
        s.last_event = f"{name.lower()} {str(zab or '').lower()}".strip()

    def _zk(self, sid: Sid, s: _Server, event: Mapping[str, Any]) -> None:
        what = str(event.get("what", ""))
        if what == "start":
            s.restarted()
        elif what == "sync" and isinstance(event.get("mode"), str):
            s.sync = str(event["mode"])
        elif what in ("learner_info", "quorum_formed"):
            # The leader names the servers that follow it.
            peers = event.get("sids") if what == "quorum_formed" else [event.get("peer")]
            for peer in peers if isinstance(peers, list) else []:
                if type(peer) is int and peer != sid:
                    other = self._server(peer)
                    if other.vote is None or other.vote.leader != sid:
                        other.vote, other.leader = None, sid
            if what == "quorum_formed":
                s.established = True
        s.last_event = _zk_text(what, event)

    def view(self, sid: Sid, learner_type: str, weight: int) -> NodeView:
        """The server as its evidence shows it; every other field is in `unknown`."""
        s = self.servers.get(sid) or _Server()
        unknown = set(NEVER_LOGGED)
        vote = s.vote
        if vote is None and s.leader is not None:
            vote = Vote(s.leader, 0, 0, 0, s.state or ServerState.LOOKING)
            unknown |= _PARTIAL_VOTE
        for name, value in (
            ("state", s.state),
            ("zab_phase", s.zab),
            ("logicalclock", s.logicalclock),
            ("proposal", s.proposal),
            ("current_vote", vote),
            ("not_timeout_ms", s.not_timeout_ms),
            ("established", s.established),
            ("current_epoch", s.current_epoch),
            ("last_zxid", s.last_zxid),
        ):
            if value is None and not (s.down and name not in ("current_epoch", "last_zxid")):
                unknown.add(name)  # (a server that is down has no state to know)
        learning = s.state in (ServerState.FOLLOWING, ServerState.OBSERVING)
        if learning and s.sync is None and s.zab in (None, "BROADCAST"):
            unknown.add("sync_mode")  # it synced, but its log did not say how
        return NodeView(
            sid=sid,
            learner_type=learner_type,
            weight=weight,
            alive=self.running(sid),
            state=s.state,
            logicalclock=s.logicalclock or 0,
            proposal=s.proposal,
            current_vote=vote,
            not_timeout_ms=s.not_timeout_ms or 0,
            zab_phase=s.zab or "",
            established=bool(s.established),
            current_epoch=s.current_epoch or 0,
            last_zxid=s.last_zxid or 0,
            sync_mode=s.sync,
            learners=self._learners(sid) if s.state == ServerState.LEADING else (),
            last_event=s.last_event,
            election_started_ms=s.started_ms,
            election_took_ms=s.took_ms,
            unknown=frozenset(unknown),
        )

    def _learners(self, leader: Sid) -> tuple[LearnerView, ...]:
        """The running servers that follow `leader`, from their own logs: their phase and
        sync as they logged them (3.5+), which is where the leader has them too. No INFO
        line says when the leader last heard from one."""
        learners = []
        for sid, o in sorted(self.servers.items()):
            follows = o.vote.leader if o.vote is not None else o.leader
            if sid == leader or follows != leader or not self.running(sid):
                continue
            if o.state not in (ServerState.FOLLOWING, ServerState.OBSERVING):
                continue
            unknown = {"ping_age_ms", "timeout_ms"}
            if o.zab is None:
                unknown.add("zab_phase")
            if o.zab in (None, "SYNCHRONIZATION"):
                unknown.add("synced")  # whether it acknowledged NEWLEADER yet
            if o.sync is None and o.zab in (None, "BROADCAST"):
                unknown.add("sync_mode")  # it synced, but its log did not say how
            learners.append(
                LearnerView(
                    sid,
                    "follower" if o.state == ServerState.FOLLOWING else "observer",
                    o.zab or "",
                    o.sync,
                    synced=o.zab == "BROADCAST",
                    unknown=frozenset(unknown),
                )
            )
        return tuple(learners)


def _zxid(proposal: object) -> int | None:
    try:
        return parse_zxid(str(proposal["zxid"])) if isinstance(proposal, Mapping) else None
    except (KeyError, ValueError):
        return None


def _vote(n: Mapping[str, Any]) -> Vote | None:
    """The vote a logged notification carries, if the log shows all of it."""
    try:
        state = ServerState[str(n["state"])]
        return Vote(
            int(n["leader"]),
            parse_zxid(str(n["zxid"])),
            int(n["election_epoch"]),
            int(n["peer_epoch"]),
            state,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _zk_text(what: str, event: Mapping[str, Any]) -> str:
    peer = event.get("peer")
    reason = event.get("reason") or event.get("mode") or ""
    return " ".join(
        str(p) for p in (what.replace("_", " "), f"n{peer}" if peer else "", reason) if p
    )
