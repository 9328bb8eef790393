"""`zkfle explain`: why an outage (a time without a serving leader) lasted as long as it did.

Theory of operation
-------------------
An outage is engine.elections' outage: from what ended the service (a crash, a pause, a
partition, lost quorum, the start) to a leader established with a quorum. `OutageWindows`
keeps the events of each outage (and a lead-in before it) while the tracker that defines
outages is fed; `explain_window` turns one window into an `Explanation`:

* a **critical path**: walking back from the event that established the leader, each step
  is charged to what it waited for last - the message it received, the timer that ran out,
  the connection attempt, the packet of the sync - until the walk reaches the outage's
  start. Each piece of the walk covers the time between its predecessor and itself, and the
  first is cut at the start, so the phases add up to the outage's wall time exactly;
* each phase named with a cause of engine.causes where the evidence shows one (a backed-off
  notification timeout, syncLimit's read timeout, a refused connection, ...), or none where
  it is the algorithm's normal cost (a message round, finalizeWait);
* why the leader won (totalOrderPredicate's fields), why a node one might have expected
  did not, a per-node timeline and a verdict of two or three sentences.

Two walks, one result. Traces of zkfle's runtimes (simulator, threads, TCP) record every
core step with the message that caused it, so the walk follows exact causes. Real servers'
evidence (trace 1.1: imported logs) says less: a decision follows the notification that gave
its proposal a quorum (plus finalizeWait); a vote was sent when its sender began its election,
adopted that vote on hearing it, or timed out - whichever its own log shows last before the
vote arrived. Where a server's log is missing, or its clock cannot be compared with the
others', the phase says so (`unknown`, `clock-skew`): derived, never guessed.

Pure: a function of the events, no clock, files or threads.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from engine.elections import (
    CREDENTIAL_FIELDS,
    ELECTED,
    ONGOING,
    Credential,
    Election,
    ElectionTracker,
    Outage,
    deciding_field,
)
from engine.quorum import ConfigError, QuorumVerifier, parse_dynamic_config
from engine.vote import Sid, parse_zxid

Event = Mapping[str, Any]

WINDOW_KINDS = frozenset(
    {"step", "send", "deliver", "state", "boot", "stop", "cmd", "fault", "heal", "conn"}
    | {"zsend", "zdeliver", "recv", "sent", "election", "fle_timeout", "peer_state", "took"}
    | {"zk"}
)
"""The kinds an explanation reads (not the `log` lines of imported traces, snapshots,
drops, invariants: most of a trace's volume)."""
LEAD_IN = 2000
"""Events kept from before an outage: the timers and votes it began with."""
MAX_WINDOW = 400_000
"""The most events kept of one outage (its last ones: the walk goes backwards)."""
KEEP_WINDOWS = 16
"""Ended outages whose events a live cluster keeps for explaining (the newest)."""
SYNC_SLOW_SHARE = 0.5
"""Discovery and sync longer than this share of initLimit x tickTime are `sync-slow`."""
TIMED_OUT_SHARE = 0.5
"""A failed connection attempt that took this share of its budget timed out (else it was
refused)."""
TOLERANCE_MS = 20.0
"""Slack between a server's log timestamps and what its threads did (as zkcheck's)."""
EMPTY_MS = 0.001
"""Pieces of the path shorter than this that name no cause are folded into a neighbour."""
CHURN = 2
"""Drops of one pair's election connection while a vote travelled that make it churn (one
drop is the normal smaller-sid handshake)."""
MAX_TIMELINE = 24
"""Entries per node in an explanation's per-node timeline (the rest are counted)."""

PHASES = (
    "detection",
    "down",
    "round",
    "wait",
    "decision",
    "connect",
    "restart",
    "discovery",
    "sync",
    "fault",
    "unknown",
)
"""Phase names, as `--json` carries them."""


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One piece of the critical path."""

    node: Sid | None
    phase: str
    start: float
    ms: float
    cause: str | None
    """A cause id of engine.causes, or None: the algorithm's normal cost."""
    text: str
    seq: int | None = None
    """The event that ended it."""

    @property
    def end(self) -> float:
        return self.start + self.ms

    def json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "phase": self.phase,
            "start": round(self.start, 3),
            "ms": round(self.ms, 3),
            "cause": self.cause,
            "text": self.text,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """One outage explained."""

    start: float
    end: float | None
    """None: the input ends without a leader."""
    wall_ms: float
    trigger: str
    leader: Sid | None
    epoch: int | None
    phases: tuple[Phase, ...]
    causes: tuple[str, ...]
    """Cause ids, the costliest first."""
    verdict: str
    why_leader: str
    why_not: tuple[str, ...]
    """Why nodes one might have expected to lead did not."""
    nodes: tuple[tuple[Sid, tuple[str, ...]], ...]
    """Per node, what it did during the outage (time and words)."""
    unknown: tuple[str, ...]
    """Evidence the explanation lacks."""
    started_seq: int
    ended_seq: int | None
    start_at: str | None = None
    """Imported traces: the start on the servers' clock (ISO 8601)."""
    end_at: str | None = None
    origin: datetime | None = None
    """Imported traces: when t_ms 0 was on the servers' clock."""

    def clock(self, t_ms: float) -> str:
        return clock_at(self.origin, t_ms)

    @property
    def ended(self) -> bool:
        return self.end is not None

    def json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3) if self.end is not None else None,
            "start_at": self.start_at,
            "end_at": self.end_at,
            "wall_ms": round(self.wall_ms, 3),
            "trigger": self.trigger,
            "leader": self.leader,
            "epoch": self.epoch,
            "causes": list(self.causes),
            "phases": [p.json() for p in self.phases],
            "verdict": self.verdict,
            "why_leader": self.why_leader,
            "why_not": list(self.why_not),
            "nodes": {str(sid): list(lines) for sid, lines in self.nodes},
            "unknown": list(self.unknown),
            "seq": [self.started_seq, self.ended_seq],
        }


@dataclass(frozen=True, slots=True)
class Context:
    """What an explanation needs from the trace's header."""

    qv: QuorumVerifier
    tick_ms: float
    init_limit: int
    sync_limit: int
    finalize_ms: float
    min_interval_ms: float
    max_interval_ms: float
    imported: bool
    origin: datetime | None
    """When t_ms 0 was on the servers' clock (imported traces; see `_origin`)."""
    skew: Mapping[Sid, Mapping[str, Any]] = field(default_factory=dict)
    """Imported traces: each server's clock offset estimate (header source.skew)."""
    logged: frozenset[Sid] = frozenset()
    """Imported traces: the servers whose logs were read."""

    @property
    def voters(self) -> frozenset[Sid]:
        return frozenset(s for s in self.qv.voting_members if self.qv.weight(s) > 0)

    def clock(self, t_ms: float) -> str:
        return clock_at(self.origin, t_ms)

    def iso(self, t_ms: float | None) -> str | None:
        if self.origin is None or t_ms is None:
            return None
        moment = self.origin + timedelta(milliseconds=t_ms)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def context_from_header(header: Mapping[str, Any]) -> Context:
    """The context of a trace header (engine.trace's format); ConfigError for a bad config."""
    cluster = header.get("cluster")
    config = cluster.get("config") if isinstance(cluster, Mapping) else None
    if not isinstance(config, str):
        raise ConfigError("the header has no cluster config")
    qv = parse_dynamic_config(config)
    timing = header.get("timing")
    t: Mapping[str, Any] = timing if isinstance(timing, Mapping) else {}

    def num(key: str, default: float) -> float:
        value = t.get(key)
        return float(value) if isinstance(value, int | float) and value > 0 else default

    imported = header.get("runtime") == "imported"
    skew: dict[Sid, Mapping[str, Any]] = {}
    logged: frozenset[Sid] = frozenset()
    if imported:
        source = header.get("source")
        if isinstance(source, Mapping):
            raw = source.get("skew")
            if isinstance(raw, Mapping):
                skew = {int(k): v for k, v in raw.items() if k.isdigit() and isinstance(v, Mapping)}
            servers = source.get("servers")
            if isinstance(servers, Mapping):
                logged = frozenset(int(k) for k in servers if k.isdigit())
    return Context(
        qv=qv,
        tick_ms=num("tick_time_ms", 2000.0),
        init_limit=int(num("init_limit", 10)),
        sync_limit=int(num("sync_limit", 5)),
        finalize_ms=num("finalize_wait_ms", 200.0),
        min_interval_ms=num("min_notification_interval_ms", 200.0),
        max_interval_ms=num("max_notification_interval_ms", 60000.0),
        imported=imported,
        origin=None,
        skew=skew,
        logged=logged,
    )


def clock_at(origin: datetime | None, t_ms: float) -> str:
    """A trace time as people read it: the servers' wall clock for imported traces (with
    their origin), the run's own clock otherwise."""
    if origin is not None:
        moment = origin + timedelta(milliseconds=t_ms)
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return clock_text(t_ms)


def clock_text(t_ms: float) -> str:
    """A time on a run's clock: `12.345s`, `1m05.250s`."""
    seconds = t_ms / 1000.0
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:06.3f}s"


def ms_text(ms: float) -> str:
    """A duration: `412 ms`, `2.30 s`, `1 m 5.2 s`."""
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, rest = divmod(ms / 1000, 60)
    return f"{int(minutes)} m {rest:.1f} s"


# --- windows -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """One outage's events (with a lead-in), and the election that ended it."""

    outage: Outage
    election: Election | None
    events: tuple[Event, ...]
    dropped: int = 0
    """Events of the outage left out (more than MAX_WINDOW)."""
    notes: tuple[str, ...] = ()


class OutageWindows:
    """Keeps each outage's events as the tracker that defines outages is fed.

    Call `feed(event, tracker)` right after `tracker.feed(event)`; it returns the window of
    an outage that this event ended. `ongoing(tracker)` is the window so far of the outage
    going on. With `keep`, the last `keep` ended windows stay available (`window`)."""

    def __init__(self, keep: int = 0) -> None:
        self._lead: deque[Event] = deque(maxlen=LEAD_IN)
        self._events: deque[Event] = deque(maxlen=MAX_WINDOW)
        self._count = 0
        self._open: Outage | None = None
        self._keep = keep
        self._ended: deque[Window] = deque(maxlen=max(keep, 1))

    def feed(self, event: Event, tracker: ElectionTracker) -> Window | None:
        relevant = event.get("kind") in WINDOW_KINDS
        done: Window | None = None
        if self._open is not None:
            if relevant:
                self._events.append(event)
                self._count += 1
            if tracker.outage is not self._open:
                done = self._close(tracker)
        if self._open is None and tracker.outage is not None:
            self._open = tracker.outage
            self._events = deque(self._lead, maxlen=MAX_WINDOW)
            self._count = len(self._events)
            if relevant:
                self._events.append(event)
                self._count += 1
        if relevant:
            self._lead.append(event)
        return done

    def _close(self, tracker: ElectionTracker) -> Window | None:
        opened = self._open
        assert opened is not None
        self._open = None
        ended = next(
            (o for o in reversed(tracker.outages) if o.started_seq == opened.started_seq), None
        )
        if ended is None:
            return None
        election = next(
            (
                e
                for e in reversed(tracker.elections)
                if e.outage is not None and e.outage.started_seq == ended.started_seq
            ),
            None,
        )
        window = Window(ended, election, tuple(self._events), self._count - len(self._events))
        if self._keep:
            self._ended.append(window)
        return window

    def ongoing(self, tracker: ElectionTracker) -> Window | None:
        """The outage going on, with its events so far."""
        if self._open is None or tracker.outage is None:
            return None
        timeline = tracker.timeline()
        last = timeline.elections[-1] if timeline.elections else None
        election = last if last is not None and last.status == ONGOING else None
        return Window(
            tracker.outage, election, tuple(self._events), self._count - len(self._events)
        )

    def window(self, started_seq: int) -> Window | None:
        """A kept window of an ended outage, by the seq it started at."""
        for w in reversed(self._ended):
            if w.outage.started_seq == started_seq:
                return w
        return None


def window_from_events(
    events: Iterable[Event], outage: Outage, election: Election | None
) -> Window:
    """A window from a run of events (a replay's): the relevant ones up to the outage's end."""
    end = outage.ended_seq
    kept = tuple(
        e for e in events if e.get("kind") in WINDOW_KINDS and (end is None or _seq(e) <= end)
    )
    return Window(outage, election, kept)


class Explainer:
    """Every outage of a trace explained: feed every event in seq order, then `finish`."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        self.context = context_from_header(header)
        ctx = self.context
        self.tracker = ElectionTracker(ctx.qv, ctx.sync_limit * ctx.tick_ms)
        self.windows = OutageWindows()
        self.explanations: list[Explanation] = []

    def feed(self, event: Event) -> None:
        self.tracker.feed(event)
        window = self.windows.feed(event, self.tracker)
        if window is not None:
            self.explanations.append(explain_window(window, self.context))

    def finish(self) -> list[Explanation]:
        """The explanations, the outage still going on (if any) last."""
        ongoing = self.windows.ongoing(self.tracker)
        if ongoing is not None:
            self.explanations.append(explain_window(ongoing, self.context))
        return self.explanations


# --- helpers -------------------------------------------------------------------------------------


def _seq(e: Event) -> int:
    seq = e.get("seq")
    return seq if isinstance(seq, int) else 0


def _t(e: Event) -> float:
    t = e.get("t_ms")
    return float(t) if isinstance(t, int | float) else 0.0


def _node(e: Event) -> Sid | None:
    n = e.get("node")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _zxid(value: Any) -> int:
    try:
        return parse_zxid(value) if isinstance(value, str) else 0
    except ValueError:
        return 0


VoteKey = tuple[Sid, int, int, int]
"""(leader, zxid, round, peer epoch) of a LOOKING vote."""


def _vote_key(n: Mapping[str, Any]) -> VoteKey | None:
    leader, rnd = _int(n.get("leader")), _int(n.get("election_epoch"))
    if leader is None or rnd is None:
        return None
    return (leader, _zxid(n.get("zxid")), rnd, _int(n.get("peer_epoch")) or 0)


def _better(new: VoteKey, cur: VoteKey, ctx: Context) -> bool:
    """totalOrderPredicate on two votes (epoch, then zxid, then sid; ZOOKEEPER-1419),
    never for a zero-weight server."""
    if ctx.qv.weight(new[0]) == 0 if new[0] in ctx.qv.all_members else False:
        return False
    return (new[3], new[1], new[0]) > (cur[3], cur[1], cur[0])


def _credential_of(key: VoteKey) -> Credential:
    return (key[3], key[1], key[0])


def _vote_words(key: VoteKey) -> str:
    return f"n{key[0]} (r{key[2]} e{key[3]} 0x{key[1]:x})" if key[1] >= 0 else f"n{key[0]}"


@dataclass(slots=True)
class _Seg:
    """A raw piece of the walk: [start, end] on `node`, before classification."""

    node: Sid | None
    kind: str
    start: float
    end: float
    seq: int | None
    info: dict[str, Any] = field(default_factory=dict)


# --- the walk over core steps (zkfle's own runtimes) ------------------------------------------


class _Steps:
    """Indexes of a window's events for the walk over core steps."""

    def __init__(self, events: Sequence[Event], ctx: Context, start_seq: int) -> None:
        self.ctx = ctx
        self.steps: dict[Sid, list[Event]] = {}
        self.step_seqs: dict[Sid, list[int]] = {}
        self.waits: dict[Sid, list[int]] = {}
        """Per node, the positions (in `steps`) of steps whose output set a wait."""
        self.connects: dict[Sid, list[int]] = {}
        """Per node, positions of steps that dialled the leader."""
        self.sends: dict[str, Event] = {}
        self.delivers: dict[str, Event] = {}
        self.packets_in: dict[Sid, list[Event]] = {}
        """Per node, the packets delivered to it (zdeliver), in order: packet steps name
        their sender and packet, not the packet's id."""
        self.state_after: dict[int, Event] = {}
        """A step's seq -> the state event it wrote."""
        self.boots: dict[Sid, list[Event]] = {}
        self.stops: dict[Sid, list[Event]] = {}
        self.conn_down: dict[tuple[Sid, Sid], list[Event]] = {}
        self.cmds: list[Event] = []
        self._decided_at: dict[Sid, list[int]] = {}
        """Per node, the steps at which it decided during the outage."""
        self.faults: dict[str, Event] = {}
        self.undone: list[Event] = []
        """`heal` events and `resume` commands: what lets a held-up message through."""
        self.late_switch: set[int] = set()
        """Receive steps of a better vote that came while its receiver was in its finalize
        wait (so the wait was abandoned and the election went on)."""
        self.round_jump: set[int] = set()
        """Steps after which a LOOKING node moved to a higher round, or began looking again
        after it had decided during the outage."""
        self.states: dict[Sid, list[Event]] = {}
        last_step: dict[Sid, Event] = {}
        for e in events:
            kind = e.get("kind")
            sid = _node(e)
            if kind == "step" and sid is not None:
                steps = self.steps.setdefault(sid, [])
                position = len(steps)
                steps.append(e)
                self.step_seqs.setdefault(sid, []).append(_seq(e))
                out = _map(e.get("output"))
                if "wait_ms" in out:
                    self.waits.setdefault(sid, []).append(position)
                if any("connect" in _map(z) for z in out.get("zab", ()) or ()):
                    self.connects.setdefault(sid, []).append(position)
                last_step[sid] = e
            elif kind in ("send", "zsend"):
                msg = e.get("msg")
                if isinstance(msg, str):
                    self.sends.setdefault(msg, e)
            elif kind in ("deliver", "zdeliver"):
                msg = e.get("msg")
                if isinstance(msg, str):
                    self.delivers.setdefault(msg, e)
                if kind == "zdeliver" and sid is not None:
                    self.packets_in.setdefault(sid, []).append(e)
            elif kind == "state" and sid is not None:
                self.states.setdefault(sid, []).append(e)
                step = last_step.get(sid)
                if step is not None and _seq(step) not in self.state_after:
                    self.state_after[_seq(step)] = e
            elif kind == "boot" and sid is not None:
                self.boots.setdefault(sid, []).append(e)
            elif kind == "stop" and sid is not None:
                self.stops.setdefault(sid, []).append(e)
            elif kind == "conn" and sid is not None and e.get("up") is False:
                peer = _int(e.get("peer"))
                if peer is not None:
                    self.conn_down.setdefault((peer, sid), []).append(e)
            elif kind == "cmd":
                self.cmds.append(e)
                if e.get("ok") and str(e.get("result", "")).startswith("resumed"):
                    self.undone.append(e)
            elif kind == "heal":
                self.undone.append(e)
            elif kind == "fault":
                self.faults[str(e.get("id"))] = e
        for sid, steps in self.steps.items():
            self._follow_lookforleader(sid, steps, start_seq)

    def _follow_lookforleader(self, sid: Sid, steps: list[Event], start_seq: int) -> None:
        """Follow one node's lookForLeader through its steps - recvqueue, recvset, its
        round and proposal (from its state events) - far enough to know when it was in the
        finalize wait (ZK: the loop after `voteSet.hasAllQuorums()`), so that a better vote
        that arrived then (late-better-vote) and new rounds (round-restart) are exact."""
        ctx = self.ctx
        queue: deque[tuple[Mapping[str, Any], int]] = deque()
        recvset: dict[Sid, VoteKey] = {}
        proposal: VoteKey | None = None
        finalizing = looked = looking = False
        for e in steps:
            inp, out = _map(e.get("input")), _map(e.get("output"))
            typ, seq = inp.get("type"), _seq(e)
            after = self.state_after.get(seq)
            if typ == "look_for_leader" and seq > start_seq:
                looked = looked or any(d > start_seq for d in self._decided_at.get(sid, ()))
            if after is not None and after.get("state") == "LOOKING":
                prop = _map(after.get("proposal"))
                clock = _int(after.get("logicalclock")) or 0
                new = (_int(prop.get("leader")) or 0, _zxid(prop.get("zxid")), clock,
                       _int(prop.get("peer_epoch")) or 0)  # fmt: skip
                rose = proposal is not None and clock > proposal[2] and seq > start_seq
                if rose and (typ != "look_for_leader" or looked):
                    self.round_jump.add(seq)
                proposal = new
            if typ == "look_for_leader":
                recvset, finalizing = {}, False
            elif typ == "receive" and out.get("state") == "LOOKING":
                queue.append((_map(inp.get("n")), seq))
            elif typ == "poll" and queue:
                n, received = queue.popleft()
                key = _vote_key(n)
                if finalizing:
                    if key is not None and proposal is not None and _better(key, proposal, ctx):
                        self.late_switch.add(received)
                        queue.append((n, received))
                        finalizing = False
                elif n.get("state") == "LOOKING" and key is not None and proposal is not None:
                    if key[2] > max((k[2] for k in recvset.values()), default=key[2]):
                        recvset = {}
                    sender = _int(n.get("sid"))
                    if sender is not None and key[2] == proposal[2]:
                        recvset[sender] = key
                    agreed = [s for s, k in recvset.items() if k == proposal and s in ctx.voters]
                    finalizing = ctx.qv.contains_quorum(agreed)
            if after is not None and after.get("state") not in ("LOOKING", None):
                queue.clear()
                recvset, finalizing = {}, False
                if seq > start_seq and looking:
                    self._decided_at.setdefault(sid, []).append(seq)
            if after is not None:
                looking = after.get("state") == "LOOKING"

    def previous_step(self, sid: Sid, seq: int) -> Event | None:
        seqs = self.step_seqs.get(sid, [])
        i = bisect.bisect_left(seqs, seq)
        return self.steps[sid][i - 1] if i > 0 else None

    def _last_of(self, table: dict[Sid, list[int]], sid: Sid, seq: int) -> Event | None:
        steps = self.steps.get(sid, [])
        positions = table.get(sid, [])
        seqs = self.step_seqs.get(sid, [])
        limit = bisect.bisect_left(seqs, seq)
        i = bisect.bisect_left(positions, limit)
        return steps[positions[i - 1]] if i > 0 else None

    def decision_step(self, sid: Sid) -> Event | None:
        """The node's last step that decided (lookForLeader returned)."""
        for e in reversed(self.steps.get(sid, [])):
            if isinstance(_map(e.get("output")).get("decided"), Mapping):
                return e
        return None

    def wait_setter(self, sid: Sid, seq: int) -> Event | None:
        """The last step before `seq` that set the node's wait."""
        return self._last_of(self.waits, sid, seq)

    def connect_issuer(self, sid: Sid, seq: int) -> Event | None:
        return self._last_of(self.connects, sid, seq)

    def packet_send(self, step: Event) -> Event | None:
        """The zsend of the packet a `packet` step took: the last one delivered to the node
        from that sender, of that type, before the step."""
        sid = _node(step)
        inp = _map(step.get("input"))
        sender, kind = inp.get("from"), _map(inp.get("packet")).get("type")
        seq = _seq(step)
        for d in reversed(self.packets_in.get(sid, []) if sid is not None else []):
            if _seq(d) > seq or d.get("from") != sender:
                continue
            msg = d.get("msg")
            send = self.sends.get(msg) if isinstance(msg, str) else None
            if send is not None and _map(send.get("packet")).get("type") == kind:
                return send
        return None

    def producer(self, send: Event) -> Event | None:
        """The step whose output made a send (the sender's last step before it)."""
        sid = _node(send)
        return self.previous_step(sid, _seq(send)) if sid is not None else None

    def held_up(self, send: Event, step: Event) -> Event | None:
        """What let a message through that waited since its send: the receiver's (or
        sender's) boot, a heal or a resume between the send and the step that took it."""
        lo, hi = _seq(send), _seq(step)
        sender, receiver = _node(send), _node(step)
        found = [
            b
            for sid in (receiver, sender)
            if sid is not None
            for b in self.boots.get(sid, [])
            if lo < _seq(b) < hi
        ]
        found += [u for u in self.undone if lo < _seq(u) < hi]
        return max(found, key=_seq) if found else None

    def boot_before(self, sid: Sid, seq: int) -> Event | None:
        boots = [b for b in self.boots.get(sid, []) if _seq(b) < seq]
        return boots[-1] if boots else None

    def stop_before(self, sid: Sid, seq: int) -> Event | None:
        stops = [s for s in self.stops.get(sid, []) if _seq(s) < seq]
        return stops[-1] if stops else None

    def state_before(self, sid: Sid, seq: int) -> Event | None:
        states = self.states.get(sid, [])
        i = bisect.bisect_left([_seq(s) for s in states], seq)
        return states[i - 1] if i > 0 else None


def _step_walk(
    w: Window, ctx: Context, ix: _Steps, cursor: Event | None
) -> tuple[list[_Seg], list[str]]:
    """Walk back from `cursor` (the step that established the leader, or that decided the
    leader of an outage still going on) to the outage's start (see the module doc)."""
    outage = w.outage
    start_t, start_seq = outage.started_ms, outage.started_seq
    unknown: list[str] = []
    if cursor is not None and _seq(cursor) < start_seq:
        cursor = None
    segs: list[_Seg] = []
    if cursor is None:
        return segs, unknown
    bound = _t(cursor)
    first_seq = _seq(w.events[0]) if w.events else 0
    guard = 0
    while cursor is not None and bound > start_t and guard < 1_000_000:
        guard += 1
        pred, kind, info = _step_predecessor(cursor, ix, ctx)
        seq = _seq(cursor)
        if pred is None:
            if kind in ("down", "fault"):
                segs.append(_Seg(_node(cursor), kind, start_t, bound, seq, info))
            else:
                if first_seq > start_seq and w.dropped:
                    unknown.append(f"the outage's first {w.dropped} events were not kept")
                segs.append(_Seg(_node(cursor), "unknown", start_t, bound, seq, info))
            return segs, unknown
        t = max(start_t, min(bound, _t(pred)))
        segs.append(_Seg(_node(cursor), kind, t, bound, seq, info))
        bound = t
        cursor = pred
    return segs, unknown


def _step_predecessor(
    step: Event, ix: _Steps, ctx: Context
) -> tuple[Event | None, str, dict[str, Any]]:
    """What `step` (or boot) waited for last: (that event, the kind of wait, details)."""
    sid = _node(step)
    seq = _seq(step)
    if step.get("kind") in ("heal", "cmd"):
        return None, "fault", {"undone": step}
    if sid is None:
        return None, "unknown", {}
    if step.get("kind") == "boot":
        return None, "down", {"boot": step}
    if step.get("kind") == "stop":
        return None, "fault", {"stop": step}
    inp = _map(step.get("input"))
    out = _map(step.get("output"))
    typ = inp.get("type")
    if typ in ("receive", "packet"):
        msg = step.get("msg")
        send = ix.sends.get(msg) if isinstance(msg, str) else None
        if send is None and typ == "packet":
            send = ix.packet_send(step)
        if send is not None:
            producer = ix.producer(send)
            info: dict[str, Any] = {
                "from": _node(send),
                "input": inp,
                "send": send,
                "after": ix.state_after.get(seq),
            }
            held = ix.held_up(send, step)
            original = send.get("resend") or send.get("dup")
            if held is None and isinstance(original, str) and original in ix.sends:
                # SendWorker re-sent the last message on a new connection: what made the
                # connection (a boot of either end) let it through, else the first send
                held = ix.held_up(ix.sends[original], step)
                producer = ix.producer(ix.sends[original])
            if held is not None:
                info["held"] = held
                return held, "held", info
            if producer is not None:
                return producer, "msg" if typ == "receive" else "packet", info
            return send, "msg" if typ == "receive" else "packet", info
    elif typ == "timeout":
        setter = ix.wait_setter(sid, seq)
        if setter is not None:
            waited = _map(setter.get("output")).get("wait_ms")
            return (
                setter,
                "wait",
                {
                    "wait_ms": waited if isinstance(waited, int | float) else None,
                    "input": inp,
                    "output": out,
                    "state": _state_at(ix, sid, seq),
                    "after": ix.state_after.get(seq),
                },
            )
    elif typ in ("learner_connected", "learner_connect_failed"):
        issuer = ix.connect_issuer(sid, seq)
        if issuer is not None:
            return (
                issuer,
                "connect",
                {"ok": typ == "learner_connected", "leader": inp.get("leader")},
            )
    elif typ == "disconnected":
        peer = _int(inp.get("peer"))
        if peer is not None:
            stop = ix.stop_before(peer, seq)
            downs = [c for c in ix.conn_down.get((sid, peer), []) if _seq(c) < seq]
            found = [e for e in (stop, downs[-1] if downs else None) if e is not None]
            if found:
                cause = max(found, key=_seq)
                closer = ix.previous_step(peer, _seq(cause) + 1)
                why = _map(closer.get("output")).get("reason") if closer is not None else None
                return cause, "eof", {"peer": peer, "crashed": cause is stop, "why": why}
    elif typ == "look_for_leader":
        previous = ix.previous_step(sid, seq)
        boot = ix.boot_before(sid, seq)
        if boot is not None and (previous is None or _seq(previous) < _seq(boot)):
            return boot, "start", {"boot": boot}
        if previous is not None:
            return previous, "proc", {"after": ix.state_after.get(seq), "look": True}
    previous = ix.previous_step(sid, seq)
    boot = ix.boot_before(sid, seq)
    if boot is not None and (previous is None or _seq(previous) < _seq(boot)):
        return boot, "start", {"boot": boot}
    if previous is None:
        return None, "unknown", {"why": f"n{sid}'s earlier steps are not in the window"}
    return previous, "proc", {"after": ix.state_after.get(seq)}


def _state_at(ix: _Steps, sid: Sid, seq: int) -> str | None:
    state = ix.state_before(sid, seq)
    value = state.get("state") if state is not None else None
    return value if isinstance(value, str) else None


def _running_voters(ix: _Steps, ctx: Context, seq: int) -> int:
    """Voters running at `seq` (booted and not stopped since)."""
    running = 0
    for sid in ctx.voters:
        boot = ix.boot_before(sid, seq + 1)
        stop = ix.stop_before(sid, seq + 1)
        if boot is not None and (stop is None or _seq(stop) < _seq(boot)):
            running += 1
    return running


def _classify_steps(segs: list[_Seg], ix: _Steps, ctx: Context) -> list[Phase]:
    """Raw walk pieces (chronological) to phases with causes and words."""
    phases: list[Phase] = []
    tick = ctx.tick_ms
    for s in segs:
        node = s.node
        ms = max(0.0, s.end - s.start)
        name, cause, text = "round", None, ""
        info = s.info
        if s.kind == "wait":
            name, cause, text = _wait_words(s, ctx)
        elif s.kind in ("msg", "proc"):
            name = "round"
            after = _map(info.get("after"))
            seq = s.seq or 0
            if seq in ix.late_switch:
                cause = "late-better-vote"
            elif seq in ix.round_jump:
                cause = "round-restart"
            if s.kind == "msg":
                n = _map(_map(info.get("input")).get("n"))
                key = _vote_key(n)
                vote = _vote_words(key) if key is not None else "?"
                sender = info.get("from")
                text = f"n{sender}→n{node}: {n.get('state', '?')} vote {vote}"
                if sender == node and cause is None:
                    text = ""  # its own vote looping back: no news
                if cause == "late-better-vote":
                    text += f", a better vote during n{node}'s finalize wait: the election went on"
                elif cause == "round-restart":
                    text += f"; n{node} began round {after.get('logicalclock', '?')}"
            elif info.get("look"):
                text = f"n{node} began round {after.get('logicalclock', '?')}"
                if cause == "round-restart":
                    text += " (looking again after its attempt failed)"
            else:
                text = ""
        elif s.kind == "packet":
            packet = _map(_map(info.get("input")).get("packet"))
            kind = str(packet.get("type", "?"))
            name = "discovery" if kind in _DISCOVERY_PACKETS else "sync"
            text = f"n{info.get('from')}→n{node}: {kind}"
        elif s.kind == "connect":
            name = "connect"
            leader = info.get("leader")
            budget = ctx.init_limit * tick
            if info.get("ok"):
                text = f"n{node} connected to leader n{leader} ({ms_text(ms)})"
            elif ms >= TIMED_OUT_SHARE * budget:
                cause = "peer-unreachable"
                text = f"n{node}'s connection to leader n{leader} timed out after {ms_text(ms)}"
            else:
                text = (
                    f"n{node}'s connection to n{leader} was refused: n{leader} was not"
                    " listening yet"
                )
        elif s.kind == "eof":
            name, cause, text = _eof_words(s, ix)
        elif s.kind in ("down", "start"):
            name = "down"
            boot = _map(info.get("boot"))
            seq = _seq(boot) if boot else (s.seq or 0)
            running = _running_voters(ix, ctx, seq - 1)
            needed = _quorum_size(ctx)
            if running < needed:
                cause = "no-quorum"
                text = (
                    f"n{node} was not running until {ctx.clock(s.end)}; {running} of"
                    f" {len(ctx.voters)} voters ran, {needed} needed"
                )
            else:
                text = f"n{node} was not running until {ctx.clock(s.end)}"
        elif s.kind == "held":
            name = "round"
            n = _map(_map(info.get("input")).get("n"))
            key = _vote_key(n)
            held = _map(info.get("held"))
            what = (
                f"{n.get('state', '?')} vote {_vote_words(key)}"
                if key is not None
                else str(_map(_map(info.get("input")).get("packet")).get("type", "packet"))
            )
            text = f"n{info.get('from')}→n{node}: {what} (held up until {ctx.clock(_t(held))})"
        elif s.kind == "fault":
            name, cause, text = _fault_words(info, ix, ctx)
        else:
            name, cause = "unknown", "unknown"
            text = str(info.get("why") or "the events before this are not in the trace")
        phases.append(Phase(node, name, s.start, ms, cause, text, s.seq))
    return _mark_sync(_split_faults(phases, ix, ctx), ctx)


def _split_faults(phases: list[Phase], ix: _Steps, ctx: Context) -> list[Phase]:
    """The part of a wait during which a block fault (partition, isolate) cut its node off
    from every quorum is charged to the fault: nothing could have come through then."""
    cuts: list[tuple[float, float, Sid, str]] = []
    healed = {
        str(i): _t(u) for u in ix.undone if u.get("kind") == "heal" for i in u.get("ids", ()) or ()
    }
    voters = ctx.voters
    for fid, f in ix.faults.items():
        if f.get("op") != "block":
            continue
        links = {
            (a, b)
            for link in f.get("links", ()) or ()
            if isinstance(link, list) and len(link) == 2
            for a, b in [link]
        }
        end = healed.get(fid, float("inf"))
        for sid in sorted({n for link in links for n in link if isinstance(n, int)}):
            reach = [
                m for m in voters if m == sid or ((sid, m) not in links and (m, sid) not in links)
            ]
            if not ctx.qv.contains_quorum(reach):
                cuts.append((_t(f), end, sid, f"{fid} ({f.get('text', 'block')})"))
    if not cuts:
        return phases
    out: list[Phase] = []
    for p in phases:
        pieces = [p]
        for lo, hi, sid, what in cuts:
            if p.phase != "wait" or sid != p.node:
                continue
            rest: list[Phase] = []
            for q in pieces:
                a, b = max(q.start, lo), min(q.end, hi)
                if b <= a or q.phase != "wait":
                    rest.append(q)
                    continue
                until = f"until {ctx.clock(hi)}" if hi != float("inf") else "past the outage's end"
                text = f"{what} cut n{q.node} off from every quorum {until}"
                cut = Phase(q.node, "fault", a, b - a, "peer-unreachable", text, q.seq)
                if a > q.start:
                    rest.append(replace(q, ms=a - q.start))
                rest.append(cut)
                if b < q.end:
                    rest.append(replace(q, start=b, ms=q.end - b))
            pieces = rest
        out += pieces
    return out


def _eof_words(s: _Seg, ix: _Steps) -> tuple[str, str | None, str]:
    """A connection between a learner and its leader closed: who noticed, and why."""
    node, peer = s.node, s.info.get("peer")
    how = f"n{peer} crashed" if s.info.get("crashed") else "the connection closed"
    if node is None or _state_at(ix, node, s.seq or 0) != "LEADING":
        return (
            "detection",
            "leader-lost-connection",
            f"n{node}'s connection to its leader n{peer} closed ({how}): EOF at once",
        )
    # a leader lost a learner: why did the learner leave?
    reason = str(s.info.get("why") or "")
    if "less than accepted epoch" in reason:
        return (
            "restart",
            "epoch-mismatch",
            f"n{peer} refused leader n{node}'s epoch and left it: {reason}",
        )
    return "discovery", None, f"leader n{node}'s learner n{peer} left ({reason or how})"


def _fault_words(info: Mapping[str, Any], ix: _Steps, ctx: Context) -> tuple[str, str | None, str]:
    """A fault the walk ended at: a heal or resume that let the critical message through."""
    undone = _map(info.get("undone"))
    at = ctx.clock(_t(undone)) if undone else "?"
    if undone.get("kind") == "heal":
        ids = [str(i) for i in undone.get("ids", ()) or ()]
        texts = [str(ix.faults[i].get("text", i)) if i in ix.faults else i for i in ids]
        return (
            "fault",
            "peer-unreachable",
            f"{', '.join(f'{i} ({t})' for i, t in zip(ids, texts, strict=True))} cut the"
            f" links the election needed until it was healed at {at}",
        )
    if undone.get("kind") == "cmd":
        return "fault", None, f"{undone.get('result')} at {at}: nothing got through before"
    stop = _map(info.get("stop"))
    return "fault", None, f"n{stop.get('node')} was stopped ({stop.get('reason', '?')})"


_DISCOVERY_PACKETS = frozenset({"FOLLOWERINFO", "OBSERVERINFO", "LEADERINFO", "ACKEPOCH"})


def _quorum_size(ctx: Context) -> int:
    """The fewest voters that form a quorum (majorities: exactly; hierarchies: a bound)."""
    voters = sorted(ctx.voters)
    for k in range(1, len(voters) + 1):
        if ctx.qv.contains_quorum(voters[:k]) or ctx.qv.contains_quorum(voters[-k:]):
            return k
    return len(voters)


def _limit_words(wait: float | None, ctx: Context) -> str:
    """syncLimit or initLimit x tickTime, whichever the wait was."""
    tick = ctx.tick_ms
    if (
        wait is not None
        and abs(wait - ctx.init_limit * tick) < 1
        and ctx.init_limit != ctx.sync_limit
    ):
        return f"initLimit ({ctx.init_limit} x {tick:.0f} ms) while syncing"
    if wait is not None and abs(wait - ctx.sync_limit * tick) >= 1:
        return f"{ms_text(wait)}"
    return f"syncLimit ({ctx.sync_limit} x {tick:.0f} ms)"


def _wait_words(s: _Seg, ctx: Context) -> tuple[str, str | None, str]:
    info, node = s.info, s.node
    out = _map(info.get("output"))
    inp = _map(info.get("input"))
    wait = info.get("wait_ms")
    state = info.get("state")
    reason = out.get("reason")
    after = _map(info.get("after"))
    if isinstance(reason, str) and "Read timed out" in reason:
        leader = _map(after.get("vote")).get("leader")
        return (
            "detection",
            "leader-lost-sync-timeout",
            f"n{node} heard nothing from leader n{leader} for {_limit_words(wait, ctx)}: {reason}",
        )
    if isinstance(reason, str) and reason.startswith("Not sufficient followers"):
        return "detection", "quorum-lost", f"leader n{node} stepped down: {reason}"
    if isinstance(reason, str) and reason.startswith("Timeout while waiting"):
        return (
            "restart",
            "init-limit-expired",
            f"leader n{node} waited initLimit ({ctx.init_limit} x {ctx.tick_ms:.0f} ms): {reason}",
        )
    if isinstance(reason, str) and "connectToLeader" in reason:
        return "restart", "peer-unreachable", f"n{node} gave up on its leader: {reason}"
    decided = out.get("decided")
    if isinstance(decided, Mapping):
        return (
            "decision",
            None,
            f"n{node} waited finalizeWait ({ctx.finalize_ms:.0f} ms) for a better vote, then"
            f" decided {out.get('state', '?')} for n{decided.get('leader')}",
        )
    if state in ("FOLLOWING", "OBSERVING") and any(
        "connect" in _map(z) for z in out.get("zab", ())
    ):
        return (
            "connect",
            None,
            f"n{node} retried its leader connection after {ms_text(wait or 0)}"
            " (leaderConnectDelayDuringRetryMs)",
        )
    if state == "LOOKING" or (state is None and "wait_ms" in out):
        if inp.get("forced"):
            return "wait", None, f"the timeout command ended n{node}'s notification wait early"
        value = float(wait) if isinstance(wait, int | float) else None
        if inp.get("have_delivered") is False:
            return (
                "wait",
                "peer-unreachable",
                f"n{node}'s notification timeout ({ms_text(value or 0)}) ran out with every"
                " send queue still full: no peer reached, connectAll",
            )
        nxt = out.get("wait_ms")
        tail = f"; next {ms_text(float(nxt))}" if isinstance(nxt, int | float) else ""
        if value is not None and value > ctx.min_interval_ms:
            return (
                "wait",
                "notification-backoff",
                f"n{node} heard nothing for its backed-off notification timeout"
                f" {ms_text(value)}, then sent its vote again{tail}",
            )
        return (
            "wait",
            None,
            f"n{node} heard nothing for its notification timeout {ms_text(value or 0)}, then"
            f" sent its vote again{tail}",
        )
    return "wait", None, f"n{node} waited {ms_text(float(wait or 0))}"


def _mark_sync(phases: list[Phase], ctx: Context) -> list[Phase]:
    """Discovery and sync as a whole longer than SYNC_SLOW_SHARE of initLimit: sync-slow."""
    total = sum(p.ms for p in phases if p.phase in ("discovery", "sync"))
    budget = ctx.init_limit * ctx.tick_ms
    if total <= SYNC_SLOW_SHARE * budget:
        return phases
    return [
        Phase(p.node, p.phase, p.start, p.ms, "sync-slow", p.text, p.seq)
        if p.phase in ("discovery", "sync") and p.cause is None
        else p
        for p in phases
    ]


def _step_timelines(w: Window, ctx: Context) -> dict[Sid, list[str]]:
    """What each node did during the outage, from its state changes and timers."""
    start_seq = w.outage.started_seq
    lines: dict[Sid, list[str]] = {}
    last: dict[Sid, tuple[Any, ...]] = {}
    for e in w.events:
        sid = _node(e)
        if sid is None or _seq(e) < start_seq:
            continue
        kind = e.get("kind")
        at = ctx.clock(_t(e))
        text = None
        if kind == "state":
            state, zab = e.get("state"), e.get("zab")
            clock = e.get("logicalclock")
            prop = _map(e.get("proposal"))
            now = (state, zab, clock, prop.get("leader"))
            if now == last.get(sid):
                continue
            before = last.get(sid)
            last[sid] = now
            if state == "LOOKING":
                reason = e.get("reason")
                if before is None or before[0] != "LOOKING":
                    text = "LOOKING" + (f" ({reason})" if reason else "")
                else:
                    text = f"round {clock}, proposes n{prop.get('leader')}"
            else:
                vote = _map(e.get("vote"))
                text = f"{state} n{vote.get('leader')} ({str(zab).lower()})"
        elif kind == "boot":
            text = "started"
        elif kind == "stop":
            text = str(e.get("reason", "stopped"))
        elif kind == "step":
            inp = _map(e.get("input"))
            out = _map(e.get("output"))
            if inp.get("type") == "timeout" and out.get("state") == "LOOKING" and "sends" in out:
                text = f"notification timeout, next {ms_text(float(out.get('wait_ms', 0)))}"
            elif (
                inp.get("type") == "timeout"
                and out.get("state") == "LOOKING"
                and out.get("connect_all")
            ):
                text = "notification timeout with no peer reached: connectAll"
            elif inp.get("type") == "learner_connect_failed":
                text = f"connection to leader n{inp.get('leader')} failed"
        if text is not None:
            lines.setdefault(sid, []).append(f"{at} {text}")
    return lines


# --- the walk over real servers' evidence (imported logs) -----------------------------------------


class _Evidence:
    """Indexes of what each real server logged in a window."""

    def __init__(self, events: Sequence[Event], ctx: Context) -> None:
        self.ctx = ctx
        self.by_node: dict[Sid, list[Event]] = {}
        self.times: dict[Sid, list[float]] = {}
        for e in events:
            sid = _node(e)
            if sid is None or e.get("kind") not in _REAL:
                continue
            self.by_node.setdefault(sid, []).append(e)
        for sid, evs in self.by_node.items():
            self.times[sid] = [_t(e) for e in evs]

    def before(self, sid: Sid, t: float, slack: float = 0.0) -> list[Event]:
        """The node's events at or before t (+ slack), newest last."""
        evs = self.by_node.get(sid, [])
        return evs[: bisect.bisect_right(self.times.get(sid, []), t + slack)]

    def between(self, sid: Sid, lo: float, hi: float) -> list[Event]:
        times = self.times.get(sid, [])
        evs = self.by_node.get(sid, [])
        return evs[bisect.bisect_left(times, lo) : bisect.bisect_right(times, hi)]


_REAL = frozenset({"recv", "sent", "election", "fle_timeout", "peer_state", "took", "zk"})


def _state_of(e: Event) -> str | None:
    """The state an evidence event shows its server in, if it shows one."""
    kind = e.get("kind")
    if kind == "peer_state" or kind == "took":
        state = e.get("state")
        return state if isinstance(state, str) else None
    if kind == "election":
        return "LOOKING"
    if kind == "recv":
        state = e.get("my_state")
        return state if isinstance(state, str) else None
    return None


def _decision_event(ev: _Evidence, sid: Sid, t: float) -> Event | None:
    """The event where `sid` last left LOOKING (decided) at or before t."""
    decided: Event | None = None
    state: str | None = None
    for e in ev.before(sid, t):
        now = _state_of(e)
        if now is None:
            continue
        if now != "LOOKING" and state in ("LOOKING", None) and e.get("kind") != "recv":
            decided = e
        state = now
    return decided


def _last_election(ev: _Evidence, sid: Sid, t: float) -> Event | None:
    for e in reversed(ev.before(sid, t)):
        if e.get("kind") == "election":
            return e
    return None


def _quorum_moment(ev: _Evidence, sid: Sid, t_dec: float, ctx: Context) -> Event | None:
    """The notification after which `sid`'s final proposal had a quorum of LOOKING votes
    (its own loopback copy included) in its round, before its decision at t_dec."""
    began = _last_election(ev, sid, t_dec)
    lo = _t(began) if began is not None else float("-inf")
    recvs = [
        e
        for e in ev.before(sid, t_dec, TOLERANCE_MS)
        if e.get("kind") == "recv" and _t(e) >= lo and e.get("my_state") in ("LOOKING", None)
    ]
    own = [e for e in recvs if _map(e.get("n")).get("sid") == sid]
    final = _vote_key(_map(own[-1].get("n"))) if own else None
    if final is None:
        return recvs[-1] if recvs else None
    votes: dict[Sid, VoteKey] = {}
    moment: Event | None = None
    had = False
    for e in recvs:
        n = _map(e.get("n"))
        sender = _int(n.get("sid"))
        key = _vote_key(n)
        if sender is None or key is None or n.get("state") != "LOOKING" or key[2] != final[2]:
            continue
        votes[sender] = key
        agreed = [s for s, k in votes.items() if k == final and s in ctx.voters]
        has = ctx.qv.contains_quorum(agreed)
        if has and not had:
            moment = e
        had = has
    return moment if moment is not None else (recvs[-1] if recvs else None)


def _send_cause(
    ev: _Evidence, sender: Sid, key: VoteKey, t_recv: float, receiver: Sid
) -> tuple[Event, str] | None:
    """Why and when `sender` sent the vote `key` that arrived at t_recv, as its log shows:
    its election began (its own vote), it adopted the vote on hearing it from another, or a
    notification timeout made it send again, or it answered the receiver's own notification
    (WorkerReceiver replies at once to a LOOKING server of a lower round, and a decided
    server to any LOOKING one) - the latest of these before the arrival (a little later
    only when its clock may lag: nothing else is found)."""
    for slack in (0.0, TOLERANCE_MS):
        found = _send_cause_by(ev, sender, key, t_recv + slack, receiver)
        if found is not None:
            return found
    return None


def _send_cause_by(
    ev: _Evidence, sender: Sid, key: VoteKey, t: float, receiver: Sid
) -> tuple[Event, str] | None:
    evs = ev.before(sender, t)
    began = next((e for e in reversed(evs) if e.get("kind") == "election"), None)
    lo = _t(began) if began is not None else float("-inf")
    # notifications queue while a server is LOOKING, also before its election's first line
    since = float("-inf")
    for e in reversed(evs):
        state = _state_of(e)
        if _t(e) < lo and state is not None and state != "LOOKING":
            since = _t(e)
            break
    candidates: list[tuple[Event, str]] = []
    if began is not None and key[0] == sender:
        candidates.append((began, "election"))
    for e in evs:
        if _t(e) <= since or e.get("kind") != "recv" or e.get("my_state") not in ("LOOKING", None):
            continue
        n = _map(e.get("n"))
        other = _int(n.get("sid"))
        if other is not None and other != sender and _int(n.get("leader")) == key[0]:
            # the first vote for that leader it heard; heard before its election began, it
            # was taken (and the vote sent) once the election began
            if began is not None and _t(e) < lo:
                candidates.append((began, "election"))
            else:
                candidates.append((e, "adopt"))
            break
    for e in reversed(evs):
        if _t(e) < lo:
            break
        if e.get("kind") == "fle_timeout":
            candidates.append((e, "timeout"))
            break
    for e in reversed(evs):
        n = _map(e.get("n"))
        if e.get("kind") != "recv" or n.get("sid") != receiver or n.get("state") != "LOOKING":
            continue
        rnd = _int(n.get("election_epoch"))
        if e.get("my_state") not in ("LOOKING", None) or (rnd is not None and rnd < key[2]):
            candidates.append((e, "adopt"))  # a reply: follow the receiver's notification
        break
    if not candidates:
        return None
    return max(candidates, key=lambda c: (_t(c[0]), _seq(c[0])))


def _skew_doubt(ctx: Context, a: Sid, b: Sid) -> str | None:
    """Why the times of servers a and b cannot be compared well, if they cannot: no vote was
    logged at both ends (no offset), only in one direction (an offset bounded on one side),
    or the votes disagree."""
    if a == b or not ctx.skew:
        return None
    for sid in (a, b):
        k = ctx.skew.get(sid)
        if k is None or k.get("status") == "unknown":
            return f"n{sid}'s clock offset unknown"
        if k.get("consistent") is False:
            return f"n{sid}'s clock offsets disagree"
        if k.get("status") == "estimated" and (k.get("lo_ms") is None or k.get("hi_ms") is None):
            return f"n{sid}'s clock offset bounded on one side only"
    return None


_Cursor = tuple[str, Sid, Event]
"""What the evidence walk explains next: (`decided` | `recv` | `timeout` | `election`, the
server, its event)."""


class _EvidenceWalk:
    """The walk back over real servers' evidence (see the module doc)."""

    def __init__(self, w: Window, ctx: Context, ev: _Evidence) -> None:
        self.ctx = ctx
        self.ev = ev
        self.start = w.outage.started_ms
        self.bound = w.outage.ended_ms if w.outage.ended_ms is not None else self.start
        self.phases: list[Phase] = []
        """Newest first."""
        self.unknown: list[str] = []

    def add(
        self, node: Sid | None, name: str, lo: float, cause: str | None, text: str, seq: int | None
    ) -> None:
        """The phase from `lo` (cut at the outage's start) to where the walk stands."""
        t = max(self.start, min(self.bound, lo))
        self.phases.append(Phase(node, name, t, self.bound - t, cause, text, seq))
        self.bound = t

    def missing(self, node: Sid | None, text: str, what: str, seq: int | None) -> None:
        self.add(node, "unknown", self.start, "unknown", text, seq)
        self.unknown.append(what)

    def run(self, leader: Sid, established: bool = True) -> None:
        """Walk back from `leader`'s establishment (or, for an outage still going on, from
        its decision: that of the leader or of a server that decided to follow)."""
        dec = _decision_event(self.ev, leader, self.bound)
        if dec is None:
            self.missing(
                leader,
                f"n{leader}'s log shows no decision to lead",
                f"when n{leader} decided",
                None,
            )
            return
        if established:
            self.establish(leader, _t(dec))
        else:
            self.bound = min(self.bound, _t(dec))
        cursor: _Cursor | None = ("decided", leader, dec)
        steps = 0
        while cursor is not None and self.bound > self.start and steps < 10_000:
            steps += 1
            kind, sid, e = cursor
            if _t(e) > self.bound + TOLERANCE_MS:
                self.missing(sid, "the logs' order of events is not causal here", "order", _seq(e))
                return
            if kind == "decided":
                cursor = self.decided(sid, e)
            elif kind == "recv":
                cursor = self.received(sid, e)
            elif kind == "timeout":
                cursor = self.timed_out(sid, e)
            else:
                cursor = self.why_looking(sid, e)
        if self.bound > self.start:
            self.missing(None, "the logs do not show what happened before", "earlier events", None)

    def establish(self, leader: Sid, t_dec: float) -> None:
        """Discovery and sync after the leader decided, as the logs show them."""
        ev, ctx = self.ev, self.ctx
        sync_at = next(
            (
                _t(e)
                for e in ev.between(leader, t_dec, self.bound)
                if e.get("kind") == "peer_state" and e.get("zab") == "SYNCHRONIZATION"
            ),
            None,
        )
        modes: list[str] = []
        trouble: list[str] = []
        cause: str | None = None
        for sid in sorted(ev.by_node):
            for e in ev.between(sid, t_dec, self.bound):
                what = e.get("what")
                if what == "sync" and sid != leader:
                    modes.append(f"{e.get('mode')} to n{sid}")
                elif what == "leader_connect_failed":
                    trouble.append(f"n{sid}'s connection {e.get('reason')} at first")
                    if e.get("reason") == "timed out":
                        cause = "peer-unreachable"
                elif what == "epoch_mismatch":
                    cause = "epoch-mismatch"
                    trouble.append(f"n{sid}: epoch mismatch")
        took = self.bound - t_dec
        budget = ctx.init_limit * ctx.tick_ms
        if cause is None and took > SYNC_SLOW_SHARE * budget:
            cause = "sync-slow"
        synced = f"n{leader} synced its followers" + (f" ({', '.join(modes[:4])})" if modes else "")
        synced += f"; {ms_text(took)} of initLimit's {ms_text(budget)} from its decision"
        gathered = f"n{leader} gathered a quorum of followers and proposed its epoch"
        if trouble:
            gathered += "; " + "; ".join(trouble[:3])
        if sync_at is not None:
            self.add(leader, "sync", sync_at, cause, synced, None)
            self.add(leader, "discovery", t_dec, cause, gathered, None)
        else:
            self.add(leader, "sync", t_dec, cause, f"{gathered}; {synced}", None)

    def decided(self, sid: Sid, e: Event) -> _Cursor | None:
        """`sid` decided at `e`: finalizeWait after the last notification it took (its
        proposal's quorum, or a later vote that was not better and began the wait again)."""
        t_dec = _t(e)
        q = _quorum_moment(self.ev, sid, t_dec, self.ctx)
        if q is None:
            self.missing(
                sid,
                f"n{sid}'s log shows no notification before its decision",
                f"the notifications n{sid} decided on",
                _seq(e),
            )
            return None
        finalize = self.ctx.finalize_ms
        last = q
        for x in self.ev.between(sid, _t(q), t_dec - finalize + TOLERANCE_MS):
            if x.get("kind") == "recv" and x is not q:
                last = x
        text = (
            f"n{sid} decided {ms_text(max(0.0, t_dec - _t(last)))} after the last notification"
            f" it took (finalizeWait {finalize:.0f} ms)"
        )
        if last is not q:
            other = _map(last.get("n")).get("sid")
            text += (
                f"; its proposal had had a quorum since {self.ctx.clock(_t(q))}, then n{other}'s"
                " vote (not better) began the wait again"
            )
        self.add(sid, "decision", _t(last), None, text, _seq(e))
        return ("recv", sid, last)

    def received(self, sid: Sid, e: Event) -> _Cursor | None:
        """`sid` logged receiving a vote: when and why its sender sent it."""
        n = _map(e.get("n"))
        sender, key = _int(n.get("sid")), _vote_key(n)
        if sender is None or key is None:
            return None
        if sender not in self.ev.by_node:
            self.missing(
                sender,
                f"n{sender}'s vote {_vote_words(key)} reached n{sid} at {self.ctx.clock(_t(e))};"
                f" n{sender}'s log is missing, so when and why it sent it is unknown",
                f"n{sender}'s log",
                _seq(e),
            )
            return None
        found = _send_cause(self.ev, sender, key, _t(e), sid)
        if found is None:
            self.missing(
                sender,
                f"n{sender}'s log does not show why it sent {_vote_words(key)}",
                f"when n{sender} sent {_vote_words(key)}",
                _seq(e),
            )
            return None
        src, how = found
        text = f"n{sender}→n{sid}: vote {_vote_words(key)}"
        restarted = [x for x in self.ev.between(sid, _t(src), _t(e)) if x.get("what") == "start"]
        if restarted and sender != sid:
            # the receiver (re)started after the vote was sent: it could only arrive once
            # the receiver was up, which is what the walk follows
            up = restarted[-1]
            began = next(
                (x for x in self.ev.between(sid, _t(up), _t(e)) if x.get("kind") == "election"),
                None,
            )
            lo = _t(began) if began is not None else _t(up)
            self.add(sid, "round", lo, None, f"{text} (n{sid} was not up before)", _seq(e))
            if began is not None:
                return ("election", sid, began)
            self.add(
                sid,
                "down",
                self.start,
                None,
                f"n{sid} started at {self.ctx.clock(_t(up))}",
                _seq(up),
            )
            return None
        if sender == sid:
            text = f"n{sid}'s own vote {_vote_words(key)} came back (loopback)"
        trouble = _connection_trouble(self.ev, sender, sid, _t(src), _t(e))
        cause = trouble[0] if trouble else None
        if trouble:
            text += f"; {trouble[1]}"
        doubt = _skew_doubt(self.ctx, sender, sid)
        if _t(e) + TOLERANCE_MS < _t(src) and sender != sid:
            cause = cause or "clock-skew"
            text += f"; logged received {ms_text(_t(src) - _t(e))} before it was sent"
        elif doubt and cause is None:
            cause = "clock-skew"
            text += f" ({doubt})"
        self.add(sid, "connect" if trouble else "round", _t(src), cause, text, _seq(e))
        if how == "election":
            return ("election", sender, src)
        if how == "adopt":
            return ("recv", sender, src)
        return ("timeout", sender, src)

    def timed_out(self, sid: Sid, e: Event) -> _Cursor | None:
        """`sid`'s notification timeout ran out (the line gives the new, doubled value)."""
        ev, ctx = self.ev, self.ctx
        value = _int(e.get("timeout_ms"))
        earlier = [
            x for x in ev.before(sid, _t(e)) if x.get("kind") == "fle_timeout" and x is not e
        ]
        expired = float(value) / 2 if value is not None else None
        if value is not None and value >= ctx.max_interval_ms and earlier:
            expired = float(_int(earlier[-1].get("timeout_ms")) or value)
        began = _t(e) - (expired or 0.0)
        prior = [
            x
            for x in ev.before(sid, began + TOLERANCE_MS)
            if x.get("kind") in ("election", "fle_timeout", "recv") and x is not e
        ]
        failed = [x for x in ev.between(sid, began, _t(e)) if x.get("what") == "conn_failed"]
        if expired is not None and expired > ctx.min_interval_ms:
            cause: str | None = "notification-backoff"
        else:
            cause = "peer-unreachable" if failed else None
        text = (
            f"n{sid} heard nothing for its notification timeout {ms_text(expired or 0)}"
            f" (next {ms_text(float(value or 0))}), then sent its vote again"
        )
        if failed:
            peers = ", ".join(f"n{p}" for p in sorted({str(x.get("peer")) for x in failed}))
            text += f"; its connections to {peers} failed ({failed[-1].get('reason')})"
        lo = min(_t(prior[-1]), began) if prior else began
        self.add(sid, "wait", lo, cause, text, _seq(e))
        if not prior:
            return None
        p = prior[-1]
        if p.get("kind") == "election":
            return ("election", sid, p)
        if p.get("kind") == "fle_timeout":
            return ("timeout", sid, p)
        if _map(p.get("n")).get("sid") != sid:
            return ("recv", sid, p)
        began_election = _last_election(ev, sid, _t(p))
        return ("election", sid, began_election) if began_election is not None else None

    def why_looking(self, sid: Sid, began: Event) -> _Cursor | None:
        """Why `sid` began the election logged at `began`, from what its log shows before."""
        ev, ctx = self.ev, self.ctx
        t_began = _t(began)
        for x in reversed(ev.before(sid, t_began)):
            if x is began:
                continue
            kind, what = x.get("kind"), x.get("what")
            if kind == "election":
                break
            if kind == "zk" and what == "start":
                self.add(
                    sid,
                    "down",
                    _t(x),
                    None,
                    f"n{sid} started at {ctx.clock(_t(x))} and began its election at"
                    f" {ctx.clock(t_began)} (the server's start-up)",
                    _seq(began),
                )
                if _t(x) > self.start:
                    up = _up_at(ev, ctx, _t(x))
                    needed = _quorum_size(ctx)
                    cause = "no-quorum" if up < needed else None
                    text = f"n{sid} was not running"
                    if cause is not None:
                        text += f"; {up} of {len(ctx.voters)} voters were up, {needed} needed"
                    self.add(sid, "down", self.start, cause, text, _seq(x))
                return None
            if kind == "zk" and what in _LEFT_LEADER:
                # the lines of one leave-taking: the one that says why, and the first one
                group = [
                    y
                    for y in ev.between(sid, _t(x) - ctx.tick_ms, t_began)
                    if y.get("kind") == "zk" and y.get("what") in _LEFT_LEADER
                ]
                best = min(group, key=lambda y: _LEFT_LEADER[str(y.get("what"))])
                cause, text = _detection_words(ctx, sid, best)
                waited = ctx.sync_limit * ctx.tick_ms if cause == "leader-lost-sync-timeout" else 0
                lo = min(_t(y) for y in group)
                self.add(sid, "detection", lo - waited, cause, text, _seq(began))
                return None
            if kind == "zk" and what in ("epoch_mismatch", "leader_connect_failed"):
                mismatch = what == "epoch_mismatch"
                text = (
                    f"n{sid} refused its leader's epoch and looked again"
                    if mismatch
                    else f"n{sid} could not connect to its leader ({x.get('reason')}) and looked"
                    " again"
                )
                cause = "epoch-mismatch" if mismatch else "peer-unreachable"
                self.add(sid, "restart", _t(x), cause, text, _seq(began))
                previous = _decision_event(ev, sid, _t(x))
                return ("decided", sid, previous) if previous is not None else None
        self.missing(
            sid,
            f"why n{sid} began looking at {ctx.clock(t_began)} is not in its log",
            f"why n{sid} began looking",
            _seq(began),
        )
        return None


_LEFT_LEADER = {"follow_failed": 0, "leader_disconnected": 1, "conn_broken": 2, "shutdown": 3}
"""What a server logs as it leaves its leader, the most telling first."""


def _connection_trouble(
    ev: _Evidence, sender: Sid, receiver: Sid, lo: float, hi: float
) -> tuple[str, str] | None:
    """Connection failures or churn the sender or receiver logged while a vote travelled."""
    failed = [
        x
        for x in ev.between(sender, lo, hi)
        if x.get("what") == "conn_failed"
        and (x.get("peer") == receiver or x.get("reason") in ("timed out", "unresolved"))
    ]
    if failed:
        peers = ", ".join(sorted({f"n{x.get('peer')}" for x in failed}))
        reasons = ", ".join(sorted({str(x.get("reason")) for x in failed}))
        cost = ""
        if any(x.get("reason") in ("timed out", "unresolved") for x in failed):
            cost = "; before 3.6 connectOne waited on each, up to cnxTimeout (ZOOKEEPER-3756)"
        return (
            "peer-unreachable",
            f"{len(failed)} connection attempt(s) of n{sender} to {peers} failed meanwhile"
            f" ({reasons}){cost}",
        )
    pair = {sender, receiver}
    dropped = [
        x
        for sid in (sender, receiver)
        for x in ev.between(sid, lo, hi)
        if x.get("what") in ("conn_dropped", "conn_broken") and {sid, x.get("peer")} == pair
    ]
    if len(dropped) >= CHURN:
        return (
            "connection-churn",
            f"the election connection of n{sender} and n{receiver} was dropped and made again"
            f" {len(dropped)} times (only the one the larger sid opens survives)",
        )
    return None


def _up_at(ev: _Evidence, ctx: Context, t: float) -> int:
    """Voters whose logs show them up just before t: they logged before, and what they log
    next is not a start (a server that starts again was down before it)."""
    up = 0
    for sid in ctx.voters:
        if not ev.before(sid, t - 1):
            continue
        after = ev.between(sid, t - 1, float("inf"))
        if not after or not (after[0].get("kind") == "zk" and after[0].get("what") == "start"):
            up += 1
    return up


def _detection_words(ctx: Context, sid: Sid, x: Event) -> tuple[str | None, str]:
    """What a server's log says about how it left its leader."""
    what, reason = x.get("what"), str(x.get("reason") or "")
    at = ctx.clock(_t(x))
    if what == "shutdown" and x.get("role") == "leader":
        if "sufficient" in reason.lower() or "quorum" in reason.lower():
            return "quorum-lost", f"leader n{sid} stepped down at {at}: {reason}"
        return None, f"leader n{sid} shut down at {at}" + (f": {reason}" if reason else "")
    if reason == "read timed out":
        return (
            "leader-lost-sync-timeout",
            f"n{sid} heard nothing from its leader for syncLimit ({ctx.sync_limit} x"
            f" {ctx.tick_ms:.0f} ms): Read timed out at {at}",
        )
    if reason == "epoch mismatch":
        return "epoch-mismatch", f"n{sid} refused its leader's epoch at {at}"
    if reason in ("eof", "reset", "") or what in ("leader_disconnected", "conn_broken"):
        how = reason.upper() if reason in ("eof",) else (reason or "closed")
        return (
            "leader-lost-connection",
            f"n{sid}'s connection to its leader closed ({how}) at {at}: it went LOOKING at once",
        )
    return None, f"n{sid} left its leader at {at} ({reason})"


def _evidence_timelines(w: Window, ctx: Context) -> dict[Sid, list[str]]:
    start_seq = w.outage.started_seq
    lines: dict[Sid, list[str]] = {}
    shown: dict[Sid, tuple[Any, ...]] = {}
    """The state each node's timeline last said (servers log a state in several lines)."""
    for e in w.events:
        sid = _node(e)
        if sid is None or _seq(e) < start_seq:
            continue
        kind = e.get("kind")
        text = None
        if kind == "election":
            text = f"new election, zxid {_map(e.get('proposal')).get('zxid')}"
        elif kind == "peer_state":
            zab = e.get("zab")
            now = (e.get("state"), zab if zab != "ELECTION" else None, e.get("sync"))
            if shown.get(sid) == now or (shown.get(sid, (None,))[0] == now[0] and not zab):
                continue
            shown[sid] = now
            text = f"{e.get('state')}" + (f" {str(zab).lower()}" if zab else "")
            if e.get("sync"):
                text += f" {e.get('sync')}"
        elif kind == "took":
            text = f"{e.get('state')}: election took {e.get('took_ms')} ms"
        elif kind == "fle_timeout":
            text = f"notification timeout, next {e.get('timeout_ms')} ms"
        elif kind == "zk":
            what = e.get("what")
            if what in (
                "start",
                "follow_failed",
                "conn_failed",
                "epoch_mismatch",
                "quorum_formed",
                "leader_connect_failed",
                "sync",
                "shutdown",
                "leader_disconnected",
            ):
                detail = e.get("reason") or e.get("mode") or e.get("peer") or ""
                text = f"{str(what).replace('_', ' ')} {detail}".strip()
        if text is not None:
            lines.setdefault(sid, []).append(f"{ctx.clock(_t(e))} {text}")
    return lines


# --- the explanation -----------------------------------------------------------------------------


def explain_window(w: Window, ctx: Context) -> Explanation:
    """One outage explained (see the module doc)."""
    outage = w.outage
    start = outage.started_ms
    if ctx.imported:
        ctx = replace(ctx, origin=_origin(w, ctx))
    has_steps = any(e.get("kind") == "step" for e in w.events)
    unknown: list[str] = list(w.notes)
    end = outage.ended_ms
    last = max((_t(e) for e in w.events), default=start)
    elect = w.election.leader if w.election is not None and end is None else None
    if has_steps:
        ix = _Steps(w.events, ctx, outage.started_seq)
        cursor = None
        if end is not None and outage.leader is not None and outage.ended_seq is not None:
            cursor = ix.previous_step(outage.leader, outage.ended_seq + 1)
        elif elect is not None:
            cursor = ix.decision_step(elect)
        segs, missing = _step_walk(w, ctx, ix, cursor)
        unknown += missing
        phases = _classify_steps(list(reversed(segs)), ix, ctx)
        timelines = _step_timelines(w, ctx)
    else:
        walk = _EvidenceWalk(w, ctx, _Evidence(w.events, ctx))
        if outage.leader is not None and end is not None:
            walk.run(outage.leader)
        elif elect is None:
            elect = _decided_last(walk.ev, outage.started_ms, last)
        if end is None and elect is not None:
            walk.bound = last
            walk.run(elect, established=False)
        unknown += walk.unknown
        phases = list(reversed(walk.phases))
        timelines = _evidence_timelines(w, ctx)
        for sid in sorted(ctx.voters - ctx.logged):
            if ctx.logged:
                unknown.append(f"n{sid}'s log")
    if end is None:
        wall = max(0.0, last - start)
        reached = phases[-1].end if phases else start
        phases.append(_still_going(w, ctx, reached, last, elect))
    else:
        wall = max(0.0, end - start)
        if not phases:
            phases = [_fault_phase(w, ctx, wall)]
    phases = _merge(phases)
    causes = _rank_causes(phases)
    why_leader, why_not = _leader_words(w, ctx)
    nodes = tuple((sid, tuple(_capped(lines))) for sid, lines in sorted(timelines.items()))
    verdict = _verdict(w, ctx, phases, wall, _left_nodes(w, ctx))
    return Explanation(
        start=start,
        end=end,
        wall_ms=wall,
        trigger=outage.trigger,
        leader=outage.leader,
        epoch=outage.epoch,
        phases=tuple(phases),
        causes=tuple(causes),
        verdict=verdict,
        why_leader=why_leader,
        why_not=tuple(why_not),
        nodes=nodes,
        unknown=tuple(dict.fromkeys(unknown)),
        started_seq=outage.started_seq,
        ended_seq=outage.ended_seq,
        start_at=ctx.iso(start),
        end_at=ctx.iso(end),
        origin=ctx.origin,
    )


def _origin(w: Window, ctx: Context) -> datetime | None:
    """When t_ms 0 was on the reference server's clock: an event's own timestamp (`at`,
    on its server's clock) less its t_ms and its server's offset."""
    for e in w.events:
        at, sid = e.get("at"), _node(e)
        if not isinstance(at, str) or sid is None:
            continue
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            continue
        offset = _map(ctx.skew.get(sid)).get("offset_ms")
        shift = float(offset) if isinstance(offset, int | float) else 0.0
        return moment - timedelta(milliseconds=_t(e) + shift)
    return None


def _capped(lines: list[str]) -> list[str]:
    """Repeats folded (`conn failed refused (x4)`), and at most MAX_TIMELINE entries."""
    folded: list[list[Any]] = []
    for line in lines:
        at, _, text = line.partition(" ")
        if folded and folded[-1][1] == text:
            folded[-1][2] += 1
        else:
            folded.append([at, text, 1])
    out = [f"{at} {text}" + (f" (x{n})" if n > 1 else "") for at, text, n in folded]
    if len(out) <= MAX_TIMELINE:
        return out
    return [*out[: MAX_TIMELINE - 1], f"... {len(out) - MAX_TIMELINE + 1} more"]


def _decided_last(ev: _Evidence, start: float, last: float) -> Sid | None:
    """The server whose log shows the latest decision in the outage (a fragment from a
    follower: its decision to follow)."""
    found = [
        (_t(d), sid)
        for sid in sorted(ev.by_node)
        if (d := _decision_event(ev, sid, last)) is not None and _t(d) >= start
    ]
    return max(found)[1] if found else None


def _followed(w: Window, sid: Sid) -> Sid | None:
    """Whom `sid` decided for: its state event's vote, or its last own LOOKING vote."""
    leader: Sid | None = None
    for e in w.events:
        if _node(e) != sid:
            continue
        if e.get("kind") == "peer_state" and e.get("state") == "LEADING":
            leader = sid
        elif e.get("kind") == "recv":
            n = _map(e.get("n"))
            if n.get("sid") == sid and n.get("state") == "LOOKING":
                leader = _int(n.get("leader"))
    return leader


def _fault_phase(w: Window, ctx: Context, wall: float) -> Phase:
    """An outage that ended without an election: the fault that caused it was undone."""
    return Phase(
        w.outage.leader,
        "fault",
        w.outage.started_ms,
        wall,
        None,
        f"{w.outage.trigger}; service came back without an election when that ended",
        w.outage.ended_seq,
    )


def _still_going(w: Window, ctx: Context, reached: float, last: float, elect: Sid | None) -> Phase:
    """The rest of an outage the input ends in: after a leader's decision, its attempt to
    establish; before one, the election going on."""
    if elect is not None:
        text = f"n{elect} decided to lead; the input ends at {ctx.clock(last)} before it"
        text += " established its epoch with a quorum"
        if ctx.imported:
            leader = _followed(w, elect)
            role = "lead" if leader == elect else f"follow n{leader}" if leader else "follow"
            text = (
                f"n{elect} decided to {role}; the logs do not show"
                f" {'its' if leader == elect else 'the leader' + chr(39) + 's'} epoch"
                " established (a zab phase line, `Have quorum of supporters`) before they"
                f" end at {ctx.clock(last)}"
            )
        return Phase(
            elect,
            "discovery",
            reached,
            max(0.0, last - reached),
            "unknown" if ctx.imported else None,
            text,
        )
    e = w.election
    looking = [s for s in (e.looking if e is not None else ()) if s in ctx.voters]
    needed = _quorum_size(ctx)
    cause = "no-quorum" if len(looking) < needed else None
    names = ", ".join(f"n{s}" for s in looking) or "none"
    return Phase(
        None,
        "round" if cause is None else "down",
        reached,
        max(0.0, last - reached),
        cause,
        f"no leader yet at {ctx.clock(last)}: looking {names}; a quorum needs {needed} of"
        f" {len(ctx.voters)} voters",
    )


def _merge(phases: list[Phase]) -> list[Phase]:
    """Fold empty pieces that name no cause into their neighbour, then join neighbours of
    the same phase and cause (and node, except for rounds, discovery, sync and faults);
    every wait stays apart. The sum stays the outage's wall time."""
    kept: list[Phase] = []
    carry = 0.0
    for p in phases:
        if p.cause is None and (p.ms < EMPTY_MS or not p.text) and (kept or len(phases) > 1):
            if kept:
                kept[-1] = replace(kept[-1], ms=kept[-1].ms + p.ms)
            else:
                carry += p.ms
            continue
        if carry:
            p = replace(p, start=p.start - carry, ms=p.ms + carry)
            carry = 0.0
        kept.append(p)
    merged: list[Phase] = []
    for p in kept:
        if merged:
            q = merged[-1]
            same_node = q.node == p.node or p.phase in ("round", "discovery", "sync", "fault")
            if q.phase == p.phase and q.cause == p.cause and same_node and p.phase != "wait":
                texts = q.text.split(" · ")
                text = q.text if p.text in texts else _join_text(q.text, p.text)
                merged[-1] = Phase(p.node, q.phase, q.start, q.ms + p.ms, q.cause, text, p.seq)
                continue
        merged.append(p)
    return merged


def _join_text(a: str, b: str) -> str:
    if not a or not b:
        return a or b
    parts = a.split(" · ")
    if len(parts) >= 4:
        if parts[-1].startswith("+"):
            more = int(parts[-1][1:].split()[0]) + 1
            return " · ".join([*parts[:-1], f"+{more} more"])
        return " · ".join([*parts, "+1 more"])
    return f"{a} · {b}"


def _rank_causes(phases: Sequence[Phase]) -> list[str]:
    cost: dict[str, float] = {}
    for p in phases:
        if p.cause is not None:
            cost[p.cause] = cost.get(p.cause, 0.0) + p.ms
    return [c for c, _ in sorted(cost.items(), key=lambda kv: -kv[1])]


def _leader_words(w: Window, ctx: Context) -> tuple[str, list[str]]:
    """Why the leader won, and why others one might have expected did not."""
    e = w.election
    leader = w.outage.leader
    if leader is None:
        return "no leader was established", []
    if e is None or e.status != ELECTED or e.leader_credential is None:
        return f"n{leader} leads (the logs do not show the votes it won on)", []
    mine = e.leader_credential
    runner = e.runner_up
    words = f"n{leader} won with (epoch {mine[0]}, zxid 0x{mine[1]:x}, sid {mine[2]})"
    if runner is not None and e.won_on is not None:
        field_name = e.won_on
        index = CREDENTIAL_FIELDS.index(field_name)
        words += (
            f": {field_name} beat n{runner[2]}'s"
            f" {_field_text(runner, index)} (totalOrderPredicate compares epoch, then zxid,"
            " then sid)"
        )
    elif runner is None:
        words += ": no other voter was looking"
    why_not: list[str] = []
    credentials = _credentials(w, ctx)
    expected: list[Sid] = []
    top = max(ctx.voters, default=None)
    if top is not None and top != leader:
        expected.append(top)
    if runner is not None and runner > mine and runner[2] not in expected:
        expected.append(runner[2])
    best = max(credentials.items(), key=lambda kv: kv[1], default=None)
    if best is not None and best[0] != leader and best[0] not in expected:
        expected.append(best[0])
    for sid in expected:
        why_not.append(_why_not(w, ctx, sid, mine, credentials.get(sid)))
    return words, why_not


def _field_text(c: Credential, index: int) -> str:
    value = c[index]
    return f"0x{value:x}" if index == 1 else str(value)


def _credentials(w: Window, ctx: Context) -> dict[Sid, Credential]:
    """Each node's credential when it last began to look in the outage."""
    out: dict[Sid, Credential] = {}
    start_seq = w.outage.started_seq
    for e in w.events:
        sid = _node(e)
        if sid is None:
            continue
        if e.get("kind") == "state" and e.get("state") == "LOOKING" and _seq(e) >= start_seq:
            out[sid] = (_int(e.get("current_epoch")) or 0, _zxid(e.get("last_zxid")), sid)
        elif e.get("kind") == "recv" and _seq(e) >= start_seq:
            n = _map(e.get("n"))
            if n.get("sid") == sid and n.get("leader") == sid and n.get("state") == "LOOKING":
                key = _vote_key(n)
                if key is not None:
                    out[sid] = _credential_of(key)
    return out


def _why_not(w: Window, ctx: Context, sid: Sid, leader: Credential, mine: Credential | None) -> str:
    status = _status_at_end(w, sid)
    if status is not None:
        return f"n{sid} did not lead: it {status}"
    if not any(_node(e) == sid and _seq(e) >= w.outage.started_seq for e in w.events):
        refused = [
            e
            for e in w.events
            if e.get("what") == "conn_failed"
            and e.get("peer") == sid
            and _seq(e) >= w.outage.started_seq
        ]
        if refused:
            how = ", ".join(sorted({str(e.get("reason")) for e in refused}))
            return f"n{sid} did not lead: it was down or unreachable (connections to it: {how})"
        return f"n{sid} did not lead: it was not running (nothing of it in the outage's events)"
    if mine is None:
        if ctx.imported and sid not in ctx.logged:
            return f"n{sid} did not lead: its log was not read and no vote of it was seen"
        return f"n{sid} did not lead: it did not take part in the election (its vote was not seen)"
    if mine < leader:
        index = deciding_field(leader, mine)
        name = CREDENTIAL_FIELDS[index] if index is not None else "sid"
        return (
            f"n{sid} did not lead: its {name} {_field_text(mine, index or 0)} was lower than"
            f" n{leader[2]}'s {_field_text(leader, index or 0)}"
        )
    return (
        f"n{sid} did not lead although its vote (epoch {mine[0]}, zxid 0x{mine[1]:x}) was"
        " better: a quorum decided before its vote counted"
    )


def _status_at_end(w: Window, sid: Sid) -> str | None:
    """`was down since 1.2s` / `was paused` / `was cut off by f1`, from the window's events."""
    down: Event | None = None
    paused = False
    cut: dict[str, str] = {}
    for e in w.events:
        kind = e.get("kind")
        if kind == "fault" and e.get("op") == "block":
            ends = {n for link in e.get("links", ()) or () for n in link}
            if sid in ends:
                cut[str(e.get("id"))] = str(e.get("text", "block"))
        elif kind == "heal":
            for i in e.get("ids", ()) or ():
                cut.pop(str(i), None)
        if _node(e) == sid and kind == "stop":
            down = e
        elif _node(e) == sid and kind == "boot":
            down = None
        elif kind == "cmd" and e.get("ok"):
            result = str(e.get("result", ""))
            if result.startswith("paused") and f"n{sid}" in result.split():
                paused = True
            if result.startswith("resumed") and f"n{sid}" in result.split():
                paused = False
        elif kind == "zk" and _node(e) == sid and e.get("what") == "start":
            down = None
    if down is not None:
        return f"was down ({down.get('reason', 'stopped')} at seq {_seq(down)})"
    if paused:
        return "was paused"
    if cut:
        return "was cut off by " + ", ".join(f"{i} ({t})" for i, t in sorted(cut.items()))
    return None


def _verdict(
    w: Window, ctx: Context, phases: Sequence[Phase], wall: float, left: Sequence[_Left]
) -> str:
    """Two or three sentences: how long, what began it and who noticed when, what the
    election and the sync took and where most of the time went."""
    outage = w.outage
    if outage.ended_ms is None:
        first = f"No leader for {ms_text(wall)}, and none when the input ends."
    else:
        first = f"No leader for {ms_text(wall)}."
    at = ctx.clock(outage.started_ms)
    if outage.trigger == "start":
        second = f"The ensemble started at {at}"
    else:
        second = f"It began at {at}: {outage.trigger}"
    if left:
        parts = [
            f"n{x.sid} {'at once' if x.after_ms < 1 else ms_text(x.after_ms) + ' later'} ({x.why})"
            for x in left[:3]
        ]
        more = f" and {len(left) - 3} more" if len(left) > 3 else ""
        second += "; " + ", ".join(parts) + more + " went LOOKING"
    second += "."
    third = ""
    if outage.leader is not None and outage.ended_ms is not None:
        election_ms = sum(p.ms for p in phases if p.phase in _ELECTION_PHASES)
        setup_ms = sum(p.ms for p in phases if p.phase in ("connect", "discovery", "sync"))
        won = ""
        e = w.election
        if e is not None and e.won_on is not None:
            won = f" (highest {e.won_on})"
        third = (
            f"The election took {ms_text(election_ms)} and chose n{outage.leader}{won};"
            f" connecting and syncing took {ms_text(setup_ms)}"
        )
    ranked = [c for c in _rank_causes(phases) if c != "unknown"] or _rank_causes(phases)
    if ranked:
        top = ranked[0]
        cost = sum(p.ms for p in phases if p.cause == top)
        if cost >= 0.2 * wall or not third:
            third += (
                "; most" if third else "Most"
            ) + f" of the time went to {top} ({ms_text(cost)})"
    return " ".join(s for s in (first, second, third + "." if third else "") if s)


_ELECTION_PHASES = frozenset({"round", "wait", "decision", "restart"})


@dataclass(frozen=True, slots=True)
class _Left:
    """A node that left its role (went LOOKING) during the outage."""

    sid: Sid
    after_ms: float
    """Since the outage began."""
    why: str


def _reason_words(reason: str) -> str:
    """ZooKeeper's reason for leaving a role, shortly."""
    low = reason.lower()
    for needle, words in (
        ("read timed out", "read timeout"),
        ("connection to the leader closed", "EOF"),
        ("eof", "EOF"),
        ("not sufficient followers", "its followers were not a quorum"),
        ("timeout while waiting", "initLimit expired"),
        ("connecttoleader", "could not connect to its leader"),
        ("less than accepted epoch", "epoch mismatch"),
        ("epoch mismatch", "epoch mismatch"),
    ):
        if needle in low:
            return words
    return reason or "left its role"


def _left_nodes(w: Window, ctx: Context) -> list[_Left]:
    """Each node's first move to LOOKING after the outage began, with why."""
    start_seq, start = w.outage.started_seq, w.outage.started_ms
    seen: dict[Sid, _Left] = {}
    reasons: dict[Sid, str] = {}
    for e in w.events:
        sid = _node(e)
        if sid is None or sid in seen:
            continue
        kind = e.get("kind")
        if kind == "zk" and e.get("what") in _LEFT_LEADER:
            if e.get("reason") or sid not in reasons:
                reasons[sid] = str(e.get("reason") or e.get("what"))
            continue
        if _seq(e) < start_seq:
            continue
        elif kind == "state" and e.get("state") == "LOOKING" and e.get("reason"):
            why = _reason_words(str(e.get("reason")))
            seen[sid] = _Left(sid, max(0.0, _t(e) - start), why)
        elif kind in ("peer_state", "election") and sid in reasons:
            state = e.get("state", "LOOKING")
            if state == "LOOKING":
                seen[sid] = _Left(sid, max(0.0, _t(e) - start), _reason_words(reasons[sid]))
    return sorted(seen.values(), key=lambda x: (x.after_ms, x.sid))


# --- text ----------------------------------------------------------------------------------------


def explanation_text(x: Explanation, index: int, total: int) -> str:
    """One outage for people (what `zkfle explain` prints)."""
    end = x.clock(x.end) if x.end is not None else "(still none)"
    leader = f"n{x.leader} (epoch {x.epoch})" if x.leader is not None else "none"
    lines = [
        f"outage {index} of {total}: {x.clock(x.start)} -> {end}, no leader for"
        f" {ms_text(x.wall_ms)}; leader {leader}",
        f"  {x.verdict}",
        "  critical path:",
    ]
    for p in x.phases:
        node = f"n{p.node}" if p.node is not None else "-"
        cause = p.cause or "-"
        lines.append(
            f"    {node:>4}  {p.phase:<9}  {x.clock(p.start):>12}  {ms_text(p.ms):>9}"
            f"  {cause:<24}  {p.text}"
        )
    lines.append(f"  leader: {x.why_leader}")
    lines += [f"  {line}" for line in x.why_not]
    if x.causes:
        lines.append("  causes: " + ", ".join(x.causes))
    if x.unknown:
        lines.append("  unknown: " + "; ".join(x.unknown))
    for sid, entries in x.nodes:
        lines.append(f"  n{sid}: " + " · ".join(entries))
    return "\n".join(lines)
