"""The recorder: gives every event its global sequence number and hands it to the sinks.

Runtimes call `emit` for everything that happens (core steps, messages, faults, commands);
the recorder stamps `seq` and `t_ms`, keeps counters and a bounded window of recent events
for the console, and passes the event on to its sinks (a trace file writer, the online
invariant checker, test probes). It is thread-safe: the threaded runtime emits from many
threads, each while holding the lock of the node the event belongs to, so that a node's
events appear in the order the node consumed them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from engine.view import MessageCounts

Event = dict[str, Any]

RECENT_EVENTS = 5000
"""How many recent events the recorder keeps for the console's message log."""


class Sink(Protocol):
    def write(self, event: Event) -> None: ...


class Recorder:
    """Sequence numbers, counters and fan-out of events."""

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = list(sinks or [])
        self.listeners: list[Callable[[Event], None]] = []
        """Called (under the recorder's lock) with every event; must be quick."""
        self.seq = 0
        self.recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.sent = 0
        self.delivered = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def emit(self, kind: str, t_ms: float, node: int | None = None, **fields: Any) -> Event:
        """Record one event; returns it with its `seq`."""
        with self._lock:
            self.seq += 1
            event: Event = {"seq": self.seq, "t_ms": round(t_ms, 3), "kind": kind}
            if node is not None:
                event["node"] = node
            event.update(fields)
            if kind == "send":
                self.sent += 1
            elif kind == "deliver":
                self.delivered += 1
            elif kind == "drop":
                self.dropped += 1
            self.recent.append(event)
            for sink in self.sinks:
                sink.write(event)
            for listener in self.listeners:
                listener(event)
            return event

    @property
    def counts(self) -> MessageCounts:
        return MessageCounts(self.sent, self.delivered, self.dropped)

    def events_after(self, seq: int) -> list[Event]:
        """Recent events with a sequence number above `seq` (for incremental display)."""
        with self._lock:
            if not self.recent or self.recent[-1]["seq"] <= seq:
                return []
            return [e for e in self.recent if e["seq"] > seq]
