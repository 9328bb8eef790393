"""Breakpoints of a replay: which trace events `break on <event>` stops at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.control.values import EventFilter


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
    return False


def _is(wanted: object, value: object) -> bool:
    return wanted is None or wanted == value


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """An active breakpoint (`b1`) and its canonical command text."""

    id: str
    text: str


__all__ = ["Breakpoint", "event_matches"]
