"""The recorder: gives every event its global sequence number and hands it to the sinks.

Runtimes call `emit` for everything that happens (core steps, messages, faults, commands);
the recorder stamps `seq` and `t_ms`, keeps counters and a bounded window of recent events
for the console, and passes the event on to its listeners (the online invariant checker,
test probes) and sinks (a trace file writer). It is thread-safe: the threaded runtime
emits from many threads, each while holding the lock of the node the event belongs to, so
that a node's events get their seq in the order the node consumed them.
"""

from __future__ import annotations

import threading
from _thread import get_ident as _get_ident
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from engine.core.view import DELIVERED_DROP_REASONS, MessageCounts

Event = dict[str, Any]

RECENT_EVENTS = 5000
"""How many recent events the recorder keeps for the console's message log."""
PASSING_KINDS = frozenset(("cmd", "mark", "break"))
"""What is recorded while the recorder holds: what the user did and why the run halted."""

Gate = Callable[[dict[str, Any]], dict[str, Any] | None]
"""Recorder.gate: None lets the run go on; a dict holds it (see `Recorder.gate`)."""


class Sink(Protocol):
    def write(self, event: Event) -> None: ...


class Recorder:
    """Sequence numbers, counters and fan-out of events.

    `emit` stamps the event and queues it under the recorder's lock; the queue is then
    handed to the listeners and sinks, in seq order, outside that lock, by whichever
    thread finds it non-empty and nobody else handing it over (that thread takes the
    events of the others too, and looks again after it let go, so none is left behind).
    Listeners and sinks may therefore run on another thread than the event's, a little
    after `emit` returned, but one event at a time and in order.

    Why outside the lock: listeners (the online invariant checker) and sinks (a trace
    file's write(2)) take time, and every thread of the threaded runtime emits while it
    holds its node's lock. Under the lock, each of those threads waited for all of that;
    under the GIL, a thread that blocks on a lock gives up the GIL and waits to get it
    back behind every other runnable thread - milliseconds with a 51-node cluster's 5000.

    A run halts exactly at an event through `gate`, which sees each event as it gets its
    seq: when the gate says halt, every later event (but the user's `cmd`, `mark` and
    `break`) is held, unnumbered, until `release`; the threads that emit them are never
    blocked (they may hold their node's lock, which views and commands take too), and
    the threaded runtime parks them between operations.

    `emit` returns once its event has been handed over (the caller may wait for another
    thread to finish handing over a batch), so a command that emits knows its listeners saw
    it. Except for a thread registered with `defer_thread`: its events wait in the queue
    until it calls `drain`, which it does when it holds no lock (the threaded runtime's
    workers, after each operation), or until another thread hands them over.
    """

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = list(sinks or [])
        self.listeners: list[Callable[[Event], None]] = []
        """Called with every event, in seq order, one at a time; must be quick."""
        self.seq = 0
        self.recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.sent = 0
        self.delivered = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        """Events not yet handed to the listeners and sinks (in seq order)."""
        self._handing = threading.Lock()
        self._handing_thread: int | None = None
        self._deferring: set[int] = set()
        self.gate: Gate | None = None
        """Called with each event as it gets its seq, under the recorder's lock (so it must
        be quick, emit nothing and take no lock that anyone holds while emitting): None
        goes on; a dict holds every later event, and a non-empty one is recorded at once,
        next, as a `break` event's fields. While holding it still sees what passes (and
        its answer is ignored), so that it knows every recorded event."""
        self._held: list[tuple[str, float, int | None, dict[str, Any]]] | None = None
        """While holding: the events emitted since, in order, not yet numbered."""

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        """Hold every later event until `release` (a halt that no event caused)."""
        with self._lock:
            if self._held is None:
                self._held = []

    def release(self) -> int:
        """Record the held events, in order, and stop holding - unless one of them meets
        the gate again, which holds the rest. Returns how many were recorded."""
        with self._lock:
            held, self._held = self._held or [], None
            done = 0
            while done < len(held) and self._held is None:
                self._stamp(*held[done])
                done += 1
            if self._held is not None:
                self._held.extend(held[done:])
        self.drain(wait=True)
        return done

    def emit(self, kind: str, t_ms: float, node: int | None = None, **fields: Any) -> Event:
        """Record one event; returns it with its `seq` (none yet if it is held)."""
        return self.emit_fields(kind, t_ms, node, fields)

    def emit_fields(
        self, kind: str, t_ms: float, node: int | None, fields: dict[str, Any]
    ) -> Event:
        """`emit` with the event's own fields as one dict (which the event copies)."""
        return self.emit_rounded(kind, round(t_ms, 3), node, fields)

    def emit_rounded(self, kind: str, t: float, node: int | None, fields: dict[str, Any]) -> Event:
        """`emit_fields` for a time already rounded to the microsecond."""
        ident = _get_ident()
        with self._lock:
            if self._held is not None and kind not in PASSING_KINDS:
                self._held.append((kind, t, node, dict(fields)))
                return {"t_ms": t, "kind": kind, "node": node, **fields}
            event = self._stamp(kind, t, node, fields)
            if ident == self._handing_thread or ident in self._deferring:
                return event  # a listener's own event, or a worker's: handed over later
            # The usual case: nobody else is at it, and the queue is taken with the lock
            # already held (one lock round per event instead of two: the simulator's ~350
            # events per election each pass here).
            batch = None
            if self._handing.acquire(blocking=False):
                batch, self._pending = self._pending, []
        if batch is not None:
            self._hand_over(ident, batch)
        if self._pending:
            self.drain(wait=True)
        return event

    def _stamp(self, kind: str, t: float, node: int | None, fields: dict[str, Any]) -> Event:
        """With the lock held: number the event, count it, queue it, ask the gate."""
        self.seq = seq = self.seq + 1
        if node is None:
            event: Event = {"seq": seq, "t_ms": t, "kind": kind, **fields}
        else:
            event = {"seq": seq, "t_ms": t, "kind": kind, "node": node, **fields}
        if kind == "send":
            self.sent += 1
        elif kind == "deliver":
            self.delivered += 1
        elif kind == "drop":
            self._count_drop(fields)
        self.recent.append(event)
        self._pending.append(event)
        if self.gate is not None:
            halt = self.gate(event)
            if halt is not None and self._held is None:
                self._held = []
                if halt:
                    self._stamp("break", t, None, halt)
        return event

    def _count_drop(self, fields: dict[str, Any]) -> None:
        if str(fields.get("msg"))[:1] == "m":  # of notifications only
            self.dropped += 1
            if fields.get("reason") in DELIVERED_DROP_REASONS:
                self.delivered -= 1

    def defer_thread(self, ident: int, defer: bool = True) -> None:
        """Let thread `ident`'s events wait in the queue until it calls `drain`."""
        if defer:
            self._deferring.add(ident)
        else:
            self._deferring.discard(ident)

    def drain(self, wait: bool = False) -> None:
        """Hand the queued events to the listeners and sinks (see the class docstring).
        If another thread is doing it, return at once (it hands ours over too), or with
        `wait`, wait for it and hand over what it left."""
        while self._pending:
            if not self._handing.acquire(blocking=wait):
                return
            self._hand_over(_get_ident(), [])

    def _hand_over(self, ident: int, batch: list[Event]) -> None:
        """With `_handing` held: hand over `batch` (taken from the queue), then the batches
        queued meanwhile until none is left, then let go."""
        self._handing_thread = ident
        lock = self._lock
        try:
            while True:
                if batch:
                    # Copies, as a listener may come or go meanwhile; no generator of bound
                    # methods per batch, which the simulator hands over one event at a time.
                    listeners, sinks = tuple(self.listeners), tuple(self.sinks)
                    for event in batch:
                        for take in listeners:
                            take(event)
                        for sink in sinks:
                            sink.write(event)
                if not self._pending:
                    break
                with lock:
                    batch, self._pending = self._pending, []
        finally:
            self._handing_thread = None
            self._handing.release()

    @property
    def counts(self) -> MessageCounts:
        return MessageCounts(self.sent, self.delivered, self.dropped)

    def events_after(self, seq: int) -> list[Event]:
        """Recent events with a sequence number above `seq` (for incremental display)."""
        with self._lock:
            if not self.recent or self.recent[-1]["seq"] <= seq:
                return []
            return [e for e in self.recent if e["seq"] > seq]
