"""Elections and outages derived from trace events: the one definition the console's
timeline, replay (at any position) and `zkfle explain` share.

Feed `ElectionTracker.feed` every event in seq order (it skips the kinds it does not read);
`timeline()` is an immutable summary. Like the invariant checker it only reads events, so a
live cluster, a replay and a trace file on disk give the same answer.

Theory of operation
-------------------
An *election* is a group of FLE runs (ZooKeeper's lookForLeader, one per node) with one end:

* `elected`: its leader established an epoch with a quorum (zab BROADCAST); one per epoch;
* `rejoined`: its nodes decided for a leader that was serving already (a late joiner, a
  restarted follower, the minority side of a healed partition);
* `abandoned`: every node in it stopped first (`crash all` during an election);
* `ongoing`: none of these yet.

At most one election is ongoing: a node that starts looking joins it, or opens one. When it
elects, the nodes still looking carry over into a new one (that may end rejoined: a
partition's minority, or a node slower than the leader's quorum).

An *outage* runs from the instant the cluster stops having a serving leader to the instant
one is established again. A serving leader is a running LEADING node in zab BROADCAST whose
running followers, on links no `block` fault cuts, form a quorum with it (QuorumVerifier,
voters only). So the trigger is what ended the service, when it happened: the cluster's
start, the leader's crash, pause or step-down, a partition, or the loss of the followers
it needed - not the moment the followers noticed (that is part of the outage).

Every election also keeps each voter's credential when it began to look: (currentEpoch,
lastLoggedZxid, sid), the proposal totalOrderPredicate compares (ZOOKEEPER-1419). The
winner's against the best other one says which field made the leader lead.

Real servers' logs (trace 1.1) say less, and the tracker reads them for what they say: a
`peer_state` line is a state change, `took` a decision (for the leader of the server's own
last loopback vote), the leader's `Follower sid`/`Have quorum of supporters` lines name its
learners and the epoch, `New election` gives the credential's zxid and the own votes its
epoch. Nothing is guessed: an election whose round no log shows has round None. A
leader's end shows in its followers' logs (EOF, a read timeout after syncLimit); when the
one that takes its quorum comes after another's within one read timeout, the outage began
at the first: a killed leader's followers read EOF at moments a busy machine spreads apart.

Pure: no clock, threads or I/O. Events with missing or odd fields are read as well as they
can be and never raise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid, Zxid, parse_zxid

Event = Mapping[str, Any]

ONGOING = "ongoing"
ELECTED = "elected"
REJOINED = "rejoined"
ABANDONED = "abandoned"

KEEP = 1000
"""The most elections (and outages) kept; older ones are forgotten."""

Credential: TypeAlias = tuple[int, Zxid, Sid]
"""(peer epoch, zxid, sid): what totalOrderPredicate compares, in its order."""

CREDENTIAL_FIELDS = ("epoch", "zxid", "sid")

KINDS = frozenset(
    {"boot", "stop", "state", "snapshot", "pause", "resume", "fault", "heal", "recv", "election"}
    | {"peer_state", "took", "zk"}
)
"""The event kinds the tracker reads: the engine's, and real servers' evidence (trace 1.1:
what `zkfle import` read from their logs). Pauses are `pause`/`resume` events (1.3); in
older traces a snapshot shows them."""


def deciding_field(winner: Credential, other: Credential) -> int | None:
    """Which field of (peer epoch, zxid, sid) decides between two votes in
    totalOrderPredicate's order: the index of the first that differs (None if equal)."""
    for i, (a, b) in enumerate(zip(winner, other, strict=True)):
        if a != b:
            return i
    return None


@dataclass(frozen=True, slots=True)
class Outage:
    """A time without a serving leader: from what ended the service to the next leader."""

    started_seq: int
    started_ms: float
    trigger: str
    """`start`, `n5 crashed`, `n5 paused`, `n5 went LOOKING: <reason>`, `f1 partition ...`,
    or `quorum lost: <what took a follower away>`."""
    ended_seq: int | None = None
    ended_ms: float | None = None
    leader: Sid | None = None
    """Who ended it (None while it goes on)."""
    epoch: int | None = None

    @property
    def ongoing(self) -> bool:
        return self.ended_ms is None

    def duration_ms(self, now_ms: float) -> float:
        """How long it lasted (or has lasted at `now_ms`, while it goes on)."""
        end = now_ms if self.ended_ms is None else self.ended_ms
        return max(0.0, end - self.started_ms)


@dataclass(frozen=True, slots=True)
class Election:
    """One election (see the module docstring); times on the trace's clock."""

    started_seq: int
    started_ms: float
    """When its first node began to look."""
    status: str
    cause: str
    """What began it: the outage's trigger, or the first node's reason to look."""
    leader: Sid | None = None
    """Who leads (ongoing: who last decided to lead; rejoined: whom they joined)."""
    round: int | None = None
    """The leader's election round (its vote's electionEpoch)."""
    epoch: int | None = None
    """The epoch established (rejoined: the epoch joined)."""
    decided_ms: float | None = None
    """When the leader decided to lead (its last attempt)."""
    ended_seq: int | None = None
    ended_ms: float | None = None
    took: tuple[tuple[Sid, float], ...] = ()
    """Per node that decided for the leader: ZooKeeper's "LEADER ELECTION TOOK", in ms."""
    looking: tuple[Sid, ...] = ()
    """Ongoing: its nodes still looking."""
    attempts: int = 0
    """Decisions to lead taken in it (more than one: a leader failed to establish)."""
    leader_credential: Credential | None = None
    runner_up: Credential | None = None
    """The best other voter's credential when it began to look."""
    outage: Outage | None = None
    """The outage it ended (elected) or runs in (ongoing)."""

    @property
    def leader_took_ms(self) -> float | None:
        return next((ms for sid, ms in self.took if sid == self.leader), None)

    @property
    def slowest_ms(self) -> float | None:
        return max((ms for _, ms in self.took), default=None)

    @property
    def won_on(self) -> str | None:
        """`epoch`, `zxid` or `sid`: the field of its credential by which the leader beat the
        runner-up; None without a runner-up, on a tie, or if the runner-up was better (it
        was not there, or the leader was joined from outofelection)."""
        if self.leader_credential is None or self.runner_up is None:
            return None
        if self.leader_credential <= self.runner_up:
            return None
        index = deciding_field(self.leader_credential, self.runner_up)
        return None if index is None else CREDENTIAL_FIELDS[index]


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the tracker knows at one position: oldest first, the ongoing election last."""

    elections: tuple[Election, ...] = ()
    outages: tuple[Outage, ...] = ()
    serving: Sid | None = None
    version: int = 0
    """Changes whenever anything above does."""


@dataclass(slots=True)
class _Node:
    alive: bool = False
    paused: bool = False
    state: str | None = None
    zab: str = ""
    leader: Sid | None = None
    epoch: int = 0
    since: tuple[int, float] | None = None
    """(seq, t_ms) it began to look; None while not looking."""
    zxid: Zxid = 0
    """Real servers: the last zxid its `New election` line gave."""
    own_vote: tuple[Sid, int | None] | None = None
    """Real servers: (leader, round) of its last loopback LOOKING vote (what it proposed)."""
    zab_logged: bool = False
    """Real servers: it logs its zab phases (3.5+: `Peer state changed: leading - ...`)."""


@dataclass(slots=True)
class _Open:
    """The ongoing election, while it is being built."""

    started: tuple[int, float]
    cause: str
    members: dict[Sid, None] = field(default_factory=dict)
    """Nodes in it that are not done (looking, or decided for a leader not yet serving)."""
    took: dict[Sid, float] = field(default_factory=dict)
    decided_for: dict[Sid, Sid] = field(default_factory=dict)
    credentials: dict[Sid, Credential] = field(default_factory=dict)
    joined: dict[Sid, None] = field(default_factory=dict)
    """Nodes that decided for a leader already serving."""
    leader: Sid | None = None
    round: int | None = None
    decided_ms: float | None = None
    attempts: int = 0

    def clone(self) -> _Open:
        other = copy.copy(self)
        other.members = dict(self.members)
        other.took = dict(self.took)
        other.decided_for = dict(self.decided_for)
        other.credentials = dict(self.credentials)
        other.joined = dict(self.joined)
        return other


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _zxid(value: Any) -> Zxid:
    try:
        return parse_zxid(value) if isinstance(value, str) else 0
    except ValueError:
        return 0


_STOPPED = {"crash": "crashed", "restart": "restarted", "shutdown": "shut down"}


class ElectionTracker:
    """Feed events in seq order; `timeline()` says what they add up to."""

    def __init__(self, verifier: QuorumVerifier, read_timeout_ms: float | None = None) -> None:
        self.verifier = verifier
        self.read_timeout_ms = read_timeout_ms
        """syncLimit x tickTime, when known: a real follower that logs a read timeout has
        heard nothing from its leader for that long, so the service ended that much earlier
        than the line (its socket timeout; Learner.readPacket)."""
        self._silent = 0.0
        self._voters = frozenset(s for s in verifier.voting_members if verifier.weight(s) > 0)
        self.nodes: dict[Sid, _Node] = {}
        self.elections: list[Election] = []
        """Ended elections, oldest first."""
        self.outages: list[Outage] = []
        """Ended outages, oldest first."""
        self.open: _Open | None = None
        self.outage: Outage | None = None
        """The outage going on, if any."""
        self.serving: Sid | None = None
        self.served = False
        """Some leader has served (so a later outage is not the start)."""
        self.version = 0
        self._blocks: dict[str, frozenset[tuple[Sid, Sid]]] = {}
        self._cut: frozenset[tuple[Sid, Sid]] = frozenset()
        self._pauses: dict[str, tuple[Sid, ...]] = {}
        self._what: str | None = None
        """The event being fed, in words (an outage's trigger); None: a `state` event, put
        in words only if needed (`_words`)."""
        self._event: Event = {}
        self._about: Sid | None = None
        """The node that event is about."""
        self._cached: Timeline | None = None
        self._unnamed: dict[Sid, tuple[float, int, float]] = {}
        """Real learners that logged their `took` for a leader not yet known: (took_ms,
        seq, t_ms), until a leader names them."""
        self._lost: dict[Sid, tuple[Sid, int, float, str]] = {}
        """Real followers that logged losing their leader: (leader, seq, when its silence
        began or its connection ended, in words), for the outage that leader's loss of
        its quorum begins (`_check_service`)."""

    def clone(self) -> ElectionTracker:
        """An independent copy (replay checkpoints, forks); records are shared, immutable."""
        other = copy.copy(self)
        other.nodes = {sid: copy.copy(n) for sid, n in self.nodes.items()}
        other.elections = list(self.elections)
        other.outages = list(self.outages)
        other.open = self.open.clone() if self.open is not None else None
        other._blocks = dict(self._blocks)
        other._pauses = dict(self._pauses)
        other._unnamed = dict(self._unnamed)
        other._lost = dict(self._lost)
        return other

    # --- feeding ----------------------------------------------------------------------------

    def feed(self, event: Event) -> bool:
        """Take one event; True if the timeline changed."""
        kind = event.get("kind")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return False
        before = self.version
        seq = _int(event.get("seq")) or 0
        t = event.get("t_ms")
        t_ms = float(t) if isinstance(t, int | float) else 0.0
        self._about = _int(event.get("node"))
        self._what, self._event, self._silent = None, event, 0.0
        handler(self, event, seq, t_ms)
        self._check_service(seq, t_ms)
        return self.version != before

    def _node(self, sid: Sid) -> _Node:
        node = self.nodes.get(sid)
        if node is None:
            node = self.nodes[sid] = _Node()
        return node

    def _changed(self) -> None:
        self.version += 1

    def _on_boot(self, e: Event, seq: int, t_ms: float) -> None:
        sid = self._about
        if sid is None:
            return
        node = self._node(sid)
        node.alive, node.paused, node.state, node.zab, node.leader = True, False, None, "", None
        node.since = None
        self._what = f"n{sid} started"

    def _on_stop(self, e: Event, seq: int, t_ms: float) -> None:
        sid = self._about
        if sid is None:
            return
        node = self._node(sid)
        node.alive, node.state, node.since = False, None, None
        reason = str(e.get("reason", "stopped"))
        self._what = f"n{sid} {_STOPPED.get(reason, reason)}"
        op = self.open
        if op is not None and sid in op.members:
            del op.members[sid]
            self._changed()
            self._end_if_done(seq, t_ms)

    def _on_state(self, e: Event, seq: int, t_ms: float) -> None:
        sid = self._about
        state = e.get("state")
        if sid is None or not isinstance(state, str):
            return
        node = self._node(sid)
        before, before_zab = node.state, node.zab
        raw = e.get("vote")
        vote: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        node.alive = True
        node.state, node.zab = state, str(e.get("zab", ""))
        node.leader = _int(vote.get("leader"))
        node.epoch = _int(e.get("current_epoch")) or 0
        if state == "LOOKING":
            if before != "LOOKING":
                node.since = (seq, t_ms)
                credential = (node.epoch, _zxid(e.get("last_zxid")), sid)
                why = f"n{sid} started" if before is None else self._words()
                self._look(sid, credential, why, seq, t_ms)
            return
        node.since = None
        took = e.get("took_ms")
        if isinstance(took, int | float) and node.leader is not None:
            rnd = _int(vote.get("election_epoch"))
            self._decided(sid, state, (node.leader, rnd), took, (seq, t_ms))
        established = state == "LEADING" and node.zab == "BROADCAST" and node.leader == sid
        if established and not (before == "LEADING" and before_zab == "BROADCAST"):
            self._established(sid, node.epoch, seq, t_ms)

    def _words(self) -> str:
        """The event being fed, in words."""
        if self._what is None:
            e = self._event
            if e.get("kind") in ("state", "peer_state"):
                reason = e.get("reason")
                self._what = f"n{self._about} went {e.get('state')}"
                self._what += f": {reason}" if reason else ""
            else:
                self._what = str(e.get("kind"))
        return self._what

    def _on_snapshot(self, e: Event, seq: int, t_ms: float) -> None:
        paused: list[Sid] = []
        for summary in _list(e.get("nodes")):
            sid = _int(summary.get("sid")) if isinstance(summary, Mapping) else None
            if sid is None or sid not in self.nodes:
                continue
            node = self.nodes[sid]
            now = summary.get("paused") is True
            if now and not node.paused:
                paused.append(sid)
            node.paused = now
        self._say_paused(paused)

    def _on_pause(self, e: Event, seq: int, t_ms: float) -> None:
        sid = self._about
        if sid is None:
            return
        node = self._node(sid)
        node.paused = e.get("kind") == "pause"  # recorded of running servers only
        if node.paused:
            self._say_paused([sid])
        else:
            self._what = f"n{sid} resumed"

    def _on_fault(self, e: Event, seq: int, t_ms: float) -> None:
        fid, op = str(e.get("id", "?")), e.get("op")
        self._what = f"{fid} {e.get('text', op)}"
        if op == "block":
            self._blocks[fid] = frozenset(
                (link[0], link[1])
                for link in _list(e.get("links"))
                if isinstance(link, list)
                and len(link) == 2
                and _int(link[0]) is not None
                and _int(link[1]) is not None
            )
            self._cut = frozenset().union(*self._blocks.values())
        elif op == "pause":
            sids = tuple(s for s in _list(e.get("nodes")) if _int(s) is not None)
            self._pauses[fid] = sids
            for sid in sids:
                self._node(sid).paused = True
            self._say_paused(list(sids))

    def _on_heal(self, e: Event, seq: int, t_ms: float) -> None:
        ids = [str(i) for i in _list(e.get("ids"))]
        self._what = f"healed {', '.join(ids)}"
        for fid in ids:
            self._blocks.pop(fid, None)
            for sid in self._pauses.pop(fid, ()):
                self._node(sid).paused = False
        self._cut = frozenset().union(*self._blocks.values())

    # --- real servers' evidence (trace 1.1) --------------------------------------------------

    def _on_recv(self, e: Event, seq: int, t_ms: float) -> None:
        sid, n = self._about, e.get("n")
        if sid is None or not isinstance(n, Mapping) or n.get("sid") != sid:
            return
        leader = _int(n.get("leader"))
        if n.get("state") == "LOOKING" and leader is not None:
            node = self._node(sid)
            node.own_vote = (leader, _int(n.get("election_epoch")))
            if leader == sid:  # its initial vote carries its own currentEpoch
                node.epoch = _int(n.get("peer_epoch")) or node.epoch
                op = self.open
                if op is not None and sid in op.credentials:
                    op.credentials[sid] = (node.epoch, op.credentials[sid][1], sid)

    def _on_election(self, e: Event, seq: int, t_ms: float) -> None:
        sid, proposal = self._about, e.get("proposal")
        if sid is None:
            return
        node = self._node(sid)
        node.zxid = _zxid(proposal.get("zxid")) if isinstance(proposal, Mapping) else 0
        node.own_vote = None
        if node.state != "LOOKING":
            self._real_state(sid, "LOOKING", "ELECTION", seq, t_ms)
        else:
            op = self.open
            if op is not None and sid in op.credentials:
                op.credentials[sid] = (node.epoch, node.zxid, sid)

    def _on_peer_state(self, e: Event, seq: int, t_ms: float) -> None:
        sid, state = self._about, e.get("state")
        if sid is not None and isinstance(state, str):
            zab = e.get("zab")
            if isinstance(zab, str) and zab != "ELECTION":
                self._node(sid).zab_logged = True
            self._real_state(sid, state, zab if isinstance(zab, str) else None, seq, t_ms)

    def _real_state(self, sid: Sid, state: str, zab: str | None, seq: int, t_ms: float) -> None:
        node = self._node(sid)
        before, before_zab = node.state, node.zab
        node.alive = True
        if state != before:
            node.zab = zab or ("ELECTION" if state == "LOOKING" else "")
            node.state = state
            node.leader = sid if state == "LEADING" else None
        elif zab is not None:
            node.zab = zab
        if state == "LOOKING":
            if before != "LOOKING":
                node.since = (seq, t_ms)
                self._look(sid, (node.epoch, node.zxid, sid), self._words(), seq, t_ms)
            return
        node.since = None
        established = state == "LEADING" and node.zab == "BROADCAST"
        if established and not (before == "LEADING" and before_zab == "BROADCAST"):
            self._established(sid, node.epoch, seq, t_ms)

    def _on_took(self, e: Event, seq: int, t_ms: float) -> None:
        sid, state, took = self._about, e.get("state"), e.get("took_ms")
        if sid is None or not isinstance(state, str) or not isinstance(took, int | float):
            return
        node = self._node(sid)
        own = node.own_vote
        if state == "LEADING":
            leader, rnd = sid, own[1] if own is not None else None
        elif own is not None and own[0] != sid:
            leader, rnd = own
        else:  # it joined a leader its own votes never named: wait for that leader to say
            self._unnamed[sid] = (float(took), seq, t_ms)
            return
        node.leader = leader
        self._decided(sid, state, (leader, rnd), took, (seq, t_ms))

    def _on_zk(self, e: Event, seq: int, t_ms: float) -> None:
        sid, what = self._about, e.get("what")
        if sid is None:
            return
        if what == "start":
            self._on_boot(e, seq, t_ms)
        elif what in ("follow_failed", "leader_disconnected"):
            node = self._node(sid)
            if node.leader is not None and node.state in ("FOLLOWING", "OBSERVING"):
                reason = e.get("reason")
                self._what = f"n{sid} lost its leader n{node.leader}" + (
                    f" ({reason})" if reason else ""
                )
                if reason == "read timed out" and self.read_timeout_ms:
                    self._silent = self.read_timeout_ms
                    self._what += f": silent for syncLimit, {self.read_timeout_ms:.0f} ms"
                self._lost[sid] = (node.leader, seq, t_ms - self._silent, self._what)
                node.leader = None
        elif what in ("learner_info", "quorum_formed"):
            # The leader names the servers that follow it; its quorum's zxid, the epoch.
            peers = _list(e.get("sids")) if what == "quorum_formed" else [e.get("peer")]
            for peer in peers:
                learner = _int(peer)
                if learner is None or learner == sid:
                    continue
                self._node(learner).leader = sid
                took = self._unnamed.pop(learner, None)
                if took is not None:
                    self._decided(learner, "FOLLOWING", (sid, None), took[0], took[1:])
            zxid = e.get("zxid")
            if what == "quorum_formed" and isinstance(zxid, str):
                self._node(sid).epoch = _zxid(zxid) >> 32
            node = self._node(sid)
            if what == "quorum_formed" and not node.zab_logged and node.state == "LEADING":
                # Releases before 3.5 log no zab phases: the leader serves once a quorum
                # acknowledged NEWLEADER (Leader.lead: startZkServer follows that line).
                self._real_state(sid, "LEADING", "BROADCAST", seq, t_ms)

    def _say_paused(self, sids: list[Sid]) -> None:
        if sids:
            first = self.serving if self.serving in sids else sids[0]
            self._what, self._about = f"n{first} paused", first

    # --- elections --------------------------------------------------------------------------

    def _look(self, sid: Sid, credential: Credential, why: str, seq: int, t_ms: float) -> None:
        """`sid` began lookForLeader: it joins the ongoing election (or opens one)."""
        op = self.open
        if op is None:
            cause = self.outage.trigger if self.outage is not None else why
            op = self.open = _Open((seq, t_ms), cause)
        op.members[sid] = None
        op.credentials[sid] = credential
        op.decided_for.pop(sid, None)
        self._changed()

    def _decided(
        self, sid: Sid, state: str, vote: tuple[Sid, int | None], took: float, at: tuple[int, float]
    ) -> None:
        """lookForLeader returned `vote` (leader, round) after `took` ms, at (seq, t_ms)."""
        (leader, rnd), (seq, t_ms) = vote, at
        op = self.open
        if op is None:  # the events began in the middle of an election
            op = self.open = _Open((0, t_ms), "")
        op.took[sid] = float(took)
        op.decided_for[sid] = leader
        self._changed()
        if leader == self.serving and sid != leader:
            op.members.pop(sid, None)
            op.joined[sid] = None
            self._end_if_done(seq, t_ms)
        else:
            op.members[sid] = None
            if state == "LEADING" and leader == sid:
                op.leader, op.round, op.decided_ms = sid, rnd, t_ms
                op.attempts += 1

    def _established(self, leader: Sid, epoch: int, seq: int, t_ms: float) -> None:
        """`leader` reached zab BROADCAST: its election ends, elected."""
        op = self.open
        if op is None:
            op = _Open((seq, t_ms), "")
        won = {s: ms for s, ms in op.took.items() if op.decided_for.get(s) == leader}
        others = [c for s, c in op.credentials.items() if s != leader and s in self._voters]
        self._record(
            Election(
                op.started[0],
                op.started[1],
                ELECTED,
                op.cause,
                leader=leader,
                round=op.round,
                epoch=epoch,
                decided_ms=op.decided_ms,
                ended_seq=seq,
                ended_ms=t_ms,
                took=tuple(sorted(won.items())),
                attempts=op.attempts,
                leader_credential=op.credentials.get(leader),
                runner_up=max(others, default=None),
            )
        )
        rest = [s for s in op.members if s not in won and self._node(s).alive]
        self.open = None
        if rest:
            since = [self._node(s).since for s in rest]
            started = min((s for s in since if s is not None), default=(seq, t_ms))
            carry = _Open(started, op.cause)
            carry.members = dict.fromkeys(rest)
            carry.credentials = {s: op.credentials[s] for s in rest if s in op.credentials}
            self.open = carry

    def _end_if_done(self, seq: int, t_ms: float) -> None:
        """The ongoing election has no node left in it: it ends, rejoined or abandoned."""
        op = self.open
        if op is None or op.members:
            return
        self.open = None
        joined = {s: op.took[s] for s in op.joined}
        leaders = [op.decided_for[s] for s in joined]
        leader = max(set(leaders), key=leaders.count) if leaders else None
        self._record(
            Election(
                op.started[0],
                op.started[1],
                REJOINED if joined else ABANDONED,
                op.cause,
                leader=leader,
                epoch=self._node(leader).epoch if leader is not None else None,
                ended_seq=seq,
                ended_ms=t_ms,
                took=tuple(sorted(joined.items())),
                attempts=op.attempts,
            )
        )

    def _record(self, election: Election) -> None:
        self.elections.append(election)
        del self.elections[:-KEEP]
        self._changed()

    # --- outages ----------------------------------------------------------------------------

    def _serving_leader(self) -> Sid | None:
        leaders: list[Sid] = []
        following: dict[Sid, list[Sid]] = {}
        for sid, n in self.nodes.items():
            if not n.alive or n.paused:
                continue
            if n.state == "LEADING" and n.zab == "BROADCAST":
                leaders.append(sid)
            elif n.state == "FOLLOWING" and n.leader is not None:
                following.setdefault(n.leader, []).append(sid)
        cut = self._cut
        for leader in leaders:
            with_it = [leader] + [
                f
                for f in following.get(leader, ())
                if (leader, f) not in cut and (f, leader) not in cut
            ]
            if self.verifier.contains_quorum([s for s in with_it if s in self._voters]):
                return leader
        return None

    def _check_service(self, seq: int, t_ms: float) -> None:
        """Open or close the outage after an event."""
        before, now = self.serving, self._serving_leader()
        if now == before:
            if now is None and self.outage is None and any(n.alive for n in self.nodes.values()):
                trigger = self._words() if self.served else "start"
                self.outage = Outage(seq, t_ms, trigger)
                self._changed()
            return
        self.serving = now
        self._changed()
        if now is None:
            about_leader = self._about is None or self._about == before
            trigger = self._words() if about_leader else f"quorum lost: {self._words()}"
            start = (seq, t_ms - self._silent)
            if not about_leader and before is not None:
                first = self._first_loss(before, start[1])
                if first is not None:
                    gone = f"its quorum gone {start[1] - first[1]:.0f} ms later"
                    start, trigger = first[:2], f"{first[2]}, {gone}"
            self.outage = Outage(start[0], max(0.0, start[1]), trigger)
            return
        self.served = True
        outage = self.outage
        if outage is None:
            return
        ended = replace(
            outage, ended_seq=seq, ended_ms=t_ms, leader=now, epoch=self.nodes[now].epoch
        )
        self.outages.append(ended)
        del self.outages[:-KEEP]
        self.outage = None
        last = self.elections[-1] if self.elections else None
        if last is not None and last.status == ELECTED and last.ended_seq == seq:
            self.elections[-1] = replace(last, outage=ended)

    def _first_loss(self, leader: Sid, at: float) -> tuple[int, float, str] | None:
        """The first of `leader`'s followers to lose it, within one read timeout before
        `at`, when its quorum is lost at `at`: the leader's end began there, not at the
        loss that took its quorum (a killed leader's followers read EOF at moments a busy
        machine spreads apart; a silent one's time out a ping apart). Followers that left
        it longer ago left for reasons of their own."""
        window = self.read_timeout_ms
        lost = [v[1:] for v in self._lost.values() if v[0] == leader]
        for sid in [s for s, v in self._lost.items() if v[0] == leader]:
            del self._lost[sid]
        if not window:
            return None
        earlier = [x for x in lost if 0.0 < at - x[1] <= window]
        return min(earlier, key=lambda x: (x[1], x[0]), default=None)

    # --- reading ----------------------------------------------------------------------------

    def timeline(self) -> Timeline:
        """The elections (the ongoing one last) and outages so far."""
        cached = self._cached
        if cached is not None and cached.version == self.version:
            return cached
        elections = tuple(self.elections)
        op = self.open
        if op is not None:
            leading = op.leader if op.leader is not None and op.leader in op.members else None
            voters = [c for s, c in op.credentials.items() if s != leading and s in self._voters]
            elections += (
                Election(
                    op.started[0],
                    op.started[1],
                    ONGOING,
                    op.cause,
                    leader=leading,
                    round=op.round if leading is not None else None,
                    decided_ms=op.decided_ms if leading is not None else None,
                    took=tuple(sorted((s, ms) for s, ms in op.took.items() if s in op.members)),
                    looking=tuple(
                        sorted(s for s in op.members if self._node(s).state == "LOOKING")
                    ),
                    attempts=op.attempts,
                    leader_credential=op.credentials.get(leading) if leading else None,
                    runner_up=max(voters, default=None) if leading is not None else None,
                    outage=self.outage,
                ),
            )
        outages = tuple(self.outages) + ((self.outage,) if self.outage is not None else ())
        self._cached = Timeline(elections, outages, self.serving, self.version)
        return self._cached


_Handler = Callable[[ElectionTracker, Event, int, float], None]
_HANDLERS: dict[str, _Handler] = {
    "boot": ElectionTracker._on_boot,
    "stop": ElectionTracker._on_stop,
    "state": ElectionTracker._on_state,
    "snapshot": ElectionTracker._on_snapshot,
    "pause": ElectionTracker._on_pause,
    "resume": ElectionTracker._on_pause,
    "fault": ElectionTracker._on_fault,
    "heal": ElectionTracker._on_heal,
    "recv": ElectionTracker._on_recv,
    "election": ElectionTracker._on_election,
    "peer_state": ElectionTracker._on_peer_state,
    "took": ElectionTracker._on_took,
    "zk": ElectionTracker._on_zk,
}
