"""Breakpoints of a run, live or replayed: which event or view `break on`/`break when` stops
at, the `break`, `breaks` and `unbreak` commands, and the line that says why a run stopped.

One implementation for every runtime: the simulator and the threaded runtime (through the
Cluster facade) and the replayer feed it the same trace events and views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.control import commands as c
from engine.control.predicates import Predicate
from engine.control.values import EventFilter
from engine.core.view import ClusterView


def event_matches(f: EventFilter, event: Mapping[str, Any]) -> bool:
    """Whether a trace event is one `break on <filter>` stops at."""
    kind = event.get("kind")
    match f.kind:
        case "send":
            return kind == "send" and _is(f.src, event.get("node")) and _is(f.dst, event.get("to"))
        case "deliver":
            return (
                kind == "deliver"
                and _is(f.src, event.get("from"))
                and _is(f.dst, event.get("node"))
            )
        case "drop":
            return kind == "drop" and _is(f.src, event.get("from")) and _is(f.dst, event.get("to"))
        case "state":
            return (
                kind == "state"
                and _is(f.node, event.get("node"))
                and (f.state is None or event.get("state") == f.state.name)
            )
        case "decide":
            if kind != "step" or not _is(f.node, event.get("node")):
                return False
            decided = event.get("output", {}).get("decided")
            return isinstance(decided, Mapping) and _is(f.leader, decided.get("leader"))
        case "timeout":
            return (
                kind == "step"
                and event.get("input", {}).get("type") == "timeout"
                and _is(f.node, event.get("node"))
            )
        case "violation":
            return (
                kind == "invariant" and event.get("ok") is False and _is(f.node, event.get("node"))
            )
    return False


def _is(wanted: object, value: object) -> bool:
    return wanted is None or wanted == value


def describe_event(event: Mapping[str, Any]) -> str:
    """A trace event in a few words, for the line that says why a run stopped."""
    kind, node = event.get("kind"), event.get("node")
    match kind:
        case "send":
            return f"n{node} sends {event.get('msg')} to n{event.get('to')}"
        case "deliver":
            return f"n{node} receives {event.get('msg')} from n{event.get('from')}"
        case "drop":
            src, dst = event.get("from"), event.get("to")
            return f"{event.get('msg')} n{src}->n{dst} dropped: {event.get('reason')}"
        case "state":
            return f"n{node} {event.get('state')} round {event.get('logicalclock')}"
        case "stop":
            return f"n{node} stops: {event.get('reason')}"
        case "boot":
            return f"n{node} starts"
        case "pause" | "resume":
            return f"n{node} {kind}s"
        case "cmd":
            return f"`{event.get('text')}`"
        case "invariant":
            return f"{event.get('name')} violated: {event.get('detail')}"
        case "step":
            output = event.get("output", {})
            decided = output.get("decided")
            if isinstance(decided, Mapping):
                return f"n{node} decides on leader n{decided.get('leader')}"
            why = output.get("reason")  # why it went LOOKING (QuorumPeer's log line)
            return f"n{node} {_input_words(event.get('input', {}))}" + (f": {why}" if why else "")
    return f"{kind}" if node is None else f"{kind} on n{node}"


def _input_words(inp: Mapping[str, Any]) -> str:
    """A core step's input in a few words (the trace's `step.input`)."""
    match inp.get("type"):
        case "packet":
            packet = inp.get("packet")
            name = packet.get("type") if isinstance(packet, Mapping) else "a packet"
            return f"takes {name} from n{inp.get('from')}"
        case "receive":
            n = inp.get("n")
            return f"takes a notification from n{n.get('sid') if isinstance(n, Mapping) else '?'}"
        case "disconnected":
            return f"loses its connection to n{inp.get('peer')}"
        case "timeout":
            return "times out"
    return str(inp.get("type"))


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """An active breakpoint (`b1`) and its canonical command text."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A breakpoint that stopped the run: which one, at which seq, and why."""

    breakpoint: Breakpoint
    seq: int
    why: str

    def event_fields(self) -> dict[str, Any]:
        """The trace's `break` event: which breakpoint hit, on the event at which seq."""
        fields: dict[str, Any] = {"id": self.breakpoint.id, "text": self.breakpoint.text}
        fields["at"] = self.seq
        if self.why:
            fields["why"] = self.why
        return fields

    def __str__(self) -> str:
        return (
            f"{self.breakpoint.id}: {self.breakpoint.text.removeprefix('break ')} at seq {self.seq}"
            + (f" ({self.why})" if self.why else "")
        )


class Breakpoints:
    """The active breakpoints of one run and what they stop at.

    Event filters are matched against each trace event; a predicate hits when it becomes
    true (false at the last view it was shown, true at this one), so a predicate that
    already holds when the run goes on does not stop it again at once.
    """

    def __init__(self) -> None:
        self._breaks: list[tuple[Breakpoint, Predicate | EventFilter]] = []
        self._counter = 0
        self._before: dict[str, bool] = {}
        self.filters: list[tuple[Breakpoint, EventFilter]] = []
        """The `break on` ones (read on every event: kept apart)."""
        self.predicates: list[tuple[Breakpoint, Predicate]] = []

    @property
    def listed(self) -> list[Breakpoint]:
        return [b for b, _ in self._breaks]

    def add(self, cond: Predicate | EventFilter, view: ClusterView) -> Breakpoint:
        """A new breakpoint (`b<n>`); a predicate is checked against `view` and armed."""
        if isinstance(cond, Predicate):
            cond.check(view)
            text = f"break when {cond}"
        else:
            text = f"break on {cond}"
        self._counter += 1
        bp = Breakpoint(f"b{self._counter}", text)
        self._breaks.append((bp, cond))
        if isinstance(cond, Predicate):
            self._before[bp.id] = cond.evaluate(view)
        self._split()
        return bp

    def remove(self, bp_id: str | None = None) -> int:
        """Remove one breakpoint (or all); returns how many were removed."""
        before = len(self._breaks)
        self._breaks = [(b, x) for b, x in self._breaks if bp_id is not None and b.id != bp_id]
        self._split()
        return before - len(self._breaks)

    def _split(self) -> None:
        self.filters = [(b, f) for b, f in self._breaks if isinstance(f, EventFilter)]
        self.predicates = [(b, p) for b, p in self._breaks if isinstance(p, Predicate)]

    def arm(self, view: ClusterView) -> None:
        """The run goes on from `view`: predicates stop it when they become true from here."""
        self._before = {b.id: p.evaluate(view) for b, p in self.predicates}

    def match_event(self, event: Mapping[str, Any]) -> Hit | None:
        for b, f in self.filters:
            if event_matches(f, event):
                return Hit(b, int(event["seq"]), describe_event(event))
        return None

    def match_view(self, view: ClusterView, event: Mapping[str, Any] | None = None) -> Hit | None:
        """The first predicate that became true since the last view shown (at `event`, the
        one that made `view`, which the hit then describes)."""
        hit = None
        for b, p in self.predicates:
            now = p.evaluate(view)
            if hit is None and now and not self._before.get(b.id, True):
                hit = Hit(b, view.seq, describe_event(event) if event is not None else "")
            self._before[b.id] = now
        return hit

    def execute(self, cmd: c.Command, view: ClusterView) -> tuple[bool, str] | None:
        """`break when|on`, `breaks`, `unbreak`: (ok, text); None for any other command."""
        match cmd:
            case c.BreakWhen(predicate):
                bp = self.add(predicate, view)
                return True, f"{bp.id}: {bp.text}"
            case c.BreakOn(event):
                bp = self.add(event, view)
                return True, f"{bp.id}: {bp.text}"
            case c.Breaks():
                return True, "\n".join(f"{b.id}  {b.text}" for b in self.listed) or "no breakpoints"
            case c.Unbreak(number):
                bp_id = None if number is None else f"b{number}"
                removed = self.remove(bp_id)
                if bp_id is not None and not removed:
                    return False, f"unbreak: no breakpoint {bp_id} (see `breaks`)"
                return True, f"removed {removed} breakpoint(s)"
        return None


__all__ = ["Breakpoint", "Breakpoints", "Hit", "describe_event", "event_matches"]
