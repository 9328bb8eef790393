"""`zkfle explain`: why an outage (a time without a serving leader) lasted as long as it did.

Theory of operation
-------------------
An outage is engine.trace.elections' outage: from what ended the service (a crash, a pause, a
partition, lost quorum, the start) to a leader established with a quorum. `OutageWindows`
keeps the events of each outage (and a lead-in before it) while the tracker that defines
outages is fed; `explain_window` turns one window into an `Explanation`:

* a **critical path**: walking back from the event that established the leader, each step
  is charged to what it waited for last - the message it received, the timer that ran out,
  the connection attempt, the packet of the sync - until the walk reaches the outage's
  start. Each piece of the walk covers the time between its predecessor and itself, and the
  first is cut at the start, so the phases add up to the outage's wall time exactly;
* each phase named with a cause of engine.trace.explain.causes where the evidence shows
  one (a backed-off notification timeout, syncLimit's read timeout, a refused connection,
  ...), or none where it is the algorithm's normal cost (a message round, finalizeWait);
* why the leader won (totalOrderPredicate's fields), why a node one might have expected
  did not, a per-node timeline and a verdict of two or three sentences.

Two walks, one result. Traces of zkfle's runtimes (simulator, threads, TCP) record every
core step with the message that caused it, so that walk (engine.trace.explain.steps) follows
exact causes. Real servers' evidence (trace 1.1: imported logs) says less, and its walk
(engine.trace.explain.logs) follows what the logs show; where a server's log is missing, or
clocks cannot be compared, the phase says so (`unknown`, `clock-skew`): derived, never
guessed. This module keeps the windows, puts the phases together with the rest of the
answer, and words it.

Pure: a function of the events, no clock, files or threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine.core.vote import Sid
from engine.trace.elections import (
    CREDENTIAL_FIELDS,
    ELECTED,
    ONGOING,
    Credential,
    Election,
    ElectionTracker,
    Outage,
    deciding_field,
)
from engine.trace.explain.base import (
    PHASES,
    Context,
    Event,
    Phase,
    Window,
    as_int,
    as_map,
    as_zxid,
    clock_at,
    context_from_header,
    credential_of,
    event_node,
    event_seq,
    event_t,
    ms_text,
    quorum_size,
    vote_key,
)
from engine.trace.explain.logs import LEFT_LEADER, followed, log_path
from engine.trace.explain.steps import step_path

__all__ = [
    "KEEP_WINDOWS",
    "LEAD_IN",
    "PHASES",
    "WINDOW_KINDS",
    "Context",
    "Explainer",
    "Explanation",
    "OutageWindows",
    "Phase",
    "Window",
    "context_from_header",
    "explain_window",
    "explanation_text",
    "ms_text",
    "window_from_events",
]

WINDOW_KINDS = frozenset(
    {"step", "send", "deliver", "state", "boot", "stop", "cmd", "fault", "heal", "conn"}
    | {"zsend", "zdeliver", "recv", "sent", "election", "fle_timeout", "peer_state", "took"}
    | {"zk", "pause", "resume"}
)
"""The kinds an explanation reads (not the `log` lines of imported traces, snapshots,
drops, invariants: most of a trace's volume)."""

LEAD_IN = 100
"""Events kept from before an outage: the timers and votes it began with."""

NODE_LEAD_IN = 24
"""And each node's last events before it (its last timer, vote and state)."""

MAX_WINDOW = 400_000
"""The most events kept of one outage (its last ones: the walk goes backwards)."""

KEEP_WINDOWS = 16
"""Ended outages whose events a live cluster keeps for explaining (the newest)."""

EMPTY_MS = 0.001
"""Pieces of the path shorter than this that name no cause are folded into a neighbour."""

RECENT_MS = 1000.0
"""A server's line saying how it left its leader counts for an outage that began at most
this long after it (the other followers' lines end an outage's first moments)."""
MAX_TIMELINE = 24
"""Entries per node in an explanation's per-node timeline (the rest are counted)."""


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


class OutageWindows:
    """Keeps each outage's events as the tracker that defines outages is fed.

    Call `feed(event, tracker)` right after `tracker.feed(event)`; it returns the window of
    an outage that this event ended. `ongoing(tracker)` is the window so far of the outage
    going on. With `keep`, the last `keep` ended windows stay available (`window`)."""

    def __init__(self, keep: int = 0) -> None:
        self._lead: deque[Event] = deque(maxlen=LEAD_IN)
        self._per_node: dict[Sid, deque[Event]] = {}
        """Each node's last events (a busy cluster's lead-in may not reach back to a quiet
        node's last timer or vote)."""
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
            if tracker.outage is self._open:  # nearly always: no outage begins or ends
                if relevant:
                    self._lead_in(event)
                return None
            done = self._close(tracker)
        if self._open is None and tracker.outage is not None:
            self._open = tracker.outage
            lead = {id(e): e for q in self._per_node.values() for e in q}
            lead.update((id(e), e) for e in self._lead)
            self._events = deque(sorted(lead.values(), key=event_seq), maxlen=MAX_WINDOW)
            self._count = len(self._events)
            if relevant:
                self._events.append(event)
                self._count += 1
        if relevant:
            self._lead_in(event)
        return done

    def _lead_in(self, event: Event) -> None:
        """Keep `event` among the last ones before an outage (its node's, and all nodes')."""
        self._lead.append(event)
        sid = event.get("node")
        if type(sid) is int:  # event_node
            mine = self._per_node.get(sid)
            if mine is None:
                mine = self._per_node[sid] = deque(maxlen=NODE_LEAD_IN)
            mine.append(event)

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
        e for e in events if e.get("kind") in WINDOW_KINDS and (end is None or event_seq(e) <= end)
    )
    return Window(outage, election, kept)


class Explainer:
    """Every outage of a trace explained: feed every event in seq order, then `finish`.
    With a `sink`, each explanation goes to it as soon as its outage ends (memory stays flat
    however many outages a trace has); without, they are kept in `explanations`."""

    def __init__(
        self, header: Mapping[str, Any], sink: Callable[[Explanation], None] | None = None
    ) -> None:
        self.context = context_from_header(header)
        ctx = self.context
        self.tracker = ElectionTracker(ctx.qv, ctx.sync_limit * ctx.tick_ms)
        self.windows = OutageWindows()
        self.explanations: list[Explanation] = []
        self._sink = sink or self.explanations.append

    def feed(self, event: Event) -> None:
        self.tracker.feed(event)
        window = self.windows.feed(event, self.tracker)
        if window is not None:
            self._sink(explain_window(window, self.context))

    def finish(self) -> list[Explanation]:
        """The explanations kept, the outage still going on (if any) last."""
        ongoing = self.windows.ongoing(self.tracker)
        if ongoing is not None:
            self._sink(explain_window(ongoing, self.context))
        return self.explanations


def explain_window(w: Window, ctx: Context) -> Explanation:
    """One outage explained (see the module doc)."""
    outage = w.outage
    start, end = outage.started_ms, outage.ended_ms
    if ctx.imported:
        ctx = replace(ctx, origin=_origin(w, ctx))
    last = w.last_ms
    elect = w.election.leader if w.election is not None and end is None else None
    if any(e.get("kind") == "step" for e in w.events):
        phases, missing, timelines = step_path(w, ctx, elect)
    else:
        phases, missing, timelines, elect = log_path(w, ctx, elect)
    unknown = [*w.notes, *missing]
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
        at, sid = e.get("at"), event_node(e)
        if not isinstance(at, str) or sid is None:
            continue
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            continue
        offset = as_map(ctx.skew.get(sid)).get("offset_ms")
        shift = float(offset) if isinstance(offset, int | float) else 0.0
        return moment - timedelta(milliseconds=event_t(e) + shift)
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
            leader = followed(w, elect)
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
    needed = quorum_size(ctx)
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
    statuses = _statuses(w) if expected else {}
    for sid in expected:
        why_not.append(_why_not(w, ctx, sid, mine, credentials.get(sid), statuses))
    return words, why_not


def _field_text(c: Credential, index: int) -> str:
    value = c[index]
    return f"0x{value:x}" if index == 1 else str(value)


def _credentials(w: Window, ctx: Context) -> dict[Sid, Credential]:
    """Each node's credential when it last began to look in the outage."""
    out: dict[Sid, Credential] = {}
    for e in w.outage_events:
        sid = event_node(e)
        if sid is None:
            continue
        if e.get("kind") == "state" and e.get("state") == "LOOKING":
            out[sid] = (as_int(e.get("current_epoch")) or 0, as_zxid(e.get("last_zxid")), sid)
        elif e.get("kind") == "recv":
            n = as_map(e.get("n"))
            if n.get("sid") == sid and n.get("leader") == sid and n.get("state") == "LOOKING":
                key = vote_key(n)
                if key is not None:
                    out[sid] = credential_of(key)
    return out


def _why_not(
    w: Window,
    ctx: Context,
    sid: Sid,
    leader: Credential,
    mine: Credential | None,
    statuses: Mapping[Sid, str],
) -> str:
    status = statuses.get(sid)
    if status is not None:
        return f"n{sid} did not lead: it {status}"
    if not any(event_node(e) == sid for e in w.outage_events):
        refused = [
            e for e in w.outage_events if e.get("what") == "conn_failed" and e.get("peer") == sid
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


_STATUS_KINDS = frozenset({"fault", "heal", "stop", "boot", "pause", "resume", "cmd", "zk"})


def _statuses(w: Window) -> dict[Sid, str]:
    """Who was down, paused or cut off when the outage ended (`was down (crash at seq 12)`,
    `was paused`, `was cut off by f1 (isolate 3)`), from the window's events."""
    down: dict[Sid, Event] = {}
    paused: set[Sid] = set()
    cuts: dict[str, tuple[str, set[Sid]]] = {}
    for e in w.events:
        kind = e.get("kind")
        if kind not in _STATUS_KINDS:
            continue
        sid = event_node(e)
        if kind == "fault" and e.get("op") == "block":
            ends = {n for link in e.get("links", ()) or () for n in link if isinstance(n, int)}
            cuts[str(e.get("id"))] = (str(e.get("text", "block")), ends)
        elif kind == "heal":
            for i in e.get("ids", ()) or ():
                cuts.pop(str(i), None)
        elif kind == "stop" and sid is not None:
            down[sid] = e
            paused.discard(sid)
        elif kind in ("pause", "resume") and sid is not None:
            paused = paused | {sid} if kind == "pause" else paused - {sid}
        elif (kind == "boot" or (kind == "zk" and e.get("what") == "start")) and sid is not None:
            down.pop(sid, None)
        elif kind == "cmd" and e.get("ok"):  # traces before 1.3 have no `pause` events
            words = str(e.get("result", "")).split()
            if words and words[0] in ("paused", "resumed"):
                named = {int(w[1:]) for w in (w.strip(",") for w in words[1:]) if w[1:].isdigit()}
                paused = paused | named if words[0] == "paused" else paused - named
    out: dict[Sid, str] = {}
    for fid, (text, ends) in sorted(cuts.items(), reverse=True):
        for sid in ends:
            out[sid] = f"was cut off by {fid} ({text})"
    for sid in paused:
        out[sid] = "was paused"
    for sid, stop in down.items():
        out[sid] = f"was down ({stop.get('reason', 'stopped')} at seq {event_seq(stop)})"
    return out


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
        sid = event_node(e)
        if sid is None or sid in seen:
            continue
        kind = e.get("kind")
        if kind == "zk" and e.get("what") in LEFT_LEADER:
            # how it left its leader, if that was part of this outage (the lead-in reaches
            # back to older ones)
            if event_t(e) >= start - RECENT_MS and (e.get("reason") or sid not in reasons):
                reasons[sid] = str(e.get("reason") or e.get("what"))
            continue
        if event_seq(e) < start_seq:
            continue
        elif kind == "state" and e.get("state") == "LOOKING" and e.get("reason"):
            why = _reason_words(str(e.get("reason")))
            seen[sid] = _Left(sid, max(0.0, event_t(e) - start), why)
        elif kind in ("peer_state", "election") and sid in reasons:
            state = e.get("state", "LOOKING")
            if state == "LOOKING":
                seen[sid] = _Left(sid, max(0.0, event_t(e) - start), _reason_words(reasons[sid]))
    return sorted(seen.values(), key=lambda x: (x.after_ms, x.sid))


def explanation_text(x: Explanation, index: int) -> str:
    """One outage for people (what `zkfle explain` prints)."""
    end = x.clock(x.end) if x.end is not None else "(still none)"
    leader = f"n{x.leader} (epoch {x.epoch})" if x.leader is not None else "none"
    lines = [
        f"outage {index}: {x.clock(x.start)} -> {end}, no leader for"
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
