"""The replay session: a trace opened for stepping, seeking, breakpoints, playing and
forking - the console's replay mode (it satisfies console.backend.ReplayBackend).

The file is indexed once (line offsets, times, marks); checkpoints (clones of the
`ClusterState`) are kept every K events as replay passes them, so that `seek`/`back`
re-execute at most K events; step, seek by seq, time or mark, breakpoints (`break when
<predicate>`, `break on <event>`), play at a speed, and `fork` (engine.replay.fork).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.control import commands as c
from engine.control.breakpoints import Breakpoint, Breakpoints
from engine.control.cluster import Cluster
from engine.control.help import help_text
from engine.control.predicates import CommandError, Predicate
from engine.control.values import EventFilter, Instant
from engine.core.view import ClusterView, leadership_text, messages_text
from engine.replay.cores import Divergence, ReplayError
from engine.replay.fork import fork
from engine.replay.index import Mark, TraceIndex
from engine.replay.parents import open_trace, parent_prefix
from engine.replay.state import ClusterState
from engine.replay.verify import verify
from engine.trace.elections import Election, Timeline
from engine.trace.explain.outage import (
    LEAD_IN,
    Explanation,
    context_from_header,
    explain_window,
    window_from_events,
)
from engine.trace.format import Event

DEFAULT_CHECKPOINT_EVERY = 2000
"""Events between two replay checkpoints: a seek re-executes at most this many."""
MAX_CHECKPOINT_EVERY = 20_000
PLAY_MAX_EVENTS = 20_000
"""Most events one `view()` call applies while playing (keeps the UI responsive)."""
EVENTS_AFTER_WINDOW = 2000
"""Most events `events_after` returns (the console notices the gap)."""


class _ClosedError(Exception):
    """The replayer was closed while verifying ahead."""


@dataclass(frozen=True, slots=True)
class _ResultText:
    ok: bool
    text: str


# --- the replay session --------------------------------------------------------------------------


class Replayer:
    """A trace opened for stepping, seeking, breakpoints and forking (the console's replay
    mode; satisfies console.backend.ReplayBackend).

    Opening reads the whole file once to index it (line offsets, times, marks) and checks
    it as engine.trace.format's reader does; events are re-read from the file on demand, so a
    long trace costs 16 bytes per event. Moving forward applies events to the
    reconstructed `ClusterState`; every `checkpoint_every` events a clone is kept, so any
    seek re-executes at most that many events. Thread-safe: the console's UI thread calls
    `view()` while a worker thread runs `execute()`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint_every: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        verify_ahead: bool = False,
    ) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        trace = open_trace(path)
        self.header: dict[str, Any] = trace.header
        self.notes: list[str] = trace.notes
        self.index = TraceIndex(self.path, trace)
        self.total = self.index.total
        self.torn_line = trace.torn_line
        every = checkpoint_every or min(
            MAX_CHECKPOINT_EVERY, max(DEFAULT_CHECKPOINT_EVERY, self.total // 500)
        )
        self.checkpoint_every = every
        base = ClusterState(self.header, self.path)
        self.parent_events = 0
        for event in parent_prefix(path, self.header):
            base.apply(event)
            self.parent_events += 1
        if base.divergence is not None:
            raise ReplayError(path, 1, f"the parent trace diverges: {base.divergence}")
        base.seq = 0
        self._t0 = base.t_ms
        """The clock before the first event (0, or where a fork's parent was)."""
        self._checkpoints: dict[int, ClusterState] = {0: base.clone()}
        self._state = base
        self.index.open()
        self._cached_view: tuple[ClusterState, ClusterView] | None = None
        self.divergence: Divergence | None = None
        self.breaks = Breakpoints()
        self.stop_reason: str | None = None
        self.running = False
        self.speed = 1.0
        self._clock = clock
        self._play_wall = 0.0
        self._play_t = 0.0
        self._session_marks: list[Mark] = []
        self.forks: list[Cluster] = []
        self._ahead: Divergence | None = None
        self._closing = threading.Event()
        self._verifier: threading.Thread | None = None
        if verify_ahead:
            self._verifier = threading.Thread(
                target=self._verify_ahead, name="zkfle-verify-ahead", daemon=True
            )
            self._verifier.start()

    # --- reading ----------------------------------------------------------------------------

    def event(self, seq: int) -> Event:
        """The event with this seq (1..total)."""
        return next(self.index.read(seq, seq))

    def events(self, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        """The events from_seq..to_seq (inclusive; clipped to the trace)."""
        hi = self.total if to_seq is None else min(to_seq, self.total)
        return list(self.index.read(max(1, from_seq), hi))

    def stream(self, lo: int, hi: int) -> Iterator[Event]:
        """The events lo..hi, read in chunks (for long forward runs)."""
        return self.index.stream(lo, hi)

    # --- position ---------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The seq of the last event applied (0: before the first event)."""
        return self._state.seq

    @property
    def state(self) -> ClusterState:
        """The reconstructed cluster at `position` (do not modify it: see `fork`)."""
        return self._state

    def snapshot(self) -> tuple[int, ClusterState]:
        """The position and a copy of the cluster there, taken together (while playing,
        another thread moves them on)."""
        with self._lock:
            return self.position, self._state.clone()

    @property
    def marks(self) -> list[Mark]:
        return sorted([*self.index.marks, *self._session_marks], key=lambda m: m.seq)

    @property
    def mark_seqs(self) -> dict[str, int]:
        """label -> seq (the first mark with each label)."""
        out: dict[str, int] = {}
        for m in self.marks:
            out.setdefault(m.label, m.seq)
        return out

    def t_at(self, seq: int) -> float:
        return self._t0 if seq <= 0 else self.index.times[min(seq, self.total) - 1]

    def step(self, n: int = 1) -> int:
        """Apply the next `n` events (stopping at the end); returns the position."""
        with self._lock:
            self._forward(min(self.total, self.position + max(0, n)), breaks=False)
            return self.position

    def back(self, n: int = 1) -> int:
        with self._lock:
            return self.seek(max(0, self.position - max(0, n)))

    def seek(self, seq: int) -> int:
        """Go to just after event `seq` (0..total); re-executes at most K events."""
        with self._lock:
            seq = max(0, min(seq, self.total))
            start = max(k for k in self._checkpoints if k <= seq)
            if seq < self.position or start > self.position:
                self._state = self._checkpoints[start].clone()
            self._forward(seq, breaks=False)
            return self.position

    def seek_mark(self, label: str) -> int:
        """Go to the mark `label`, or to the trace's `start` or `end` (unless a mark has
        that name)."""
        with self._lock:
            seq = self.mark_seqs.get(label)
            if seq is None and label in ("start", "end"):
                seq = 0 if label == "start" else self.total
            if seq is None:
                known = ", ".join(f'"{m}"' for m in self.mark_seqs) or "none"
                raise KeyError(
                    f'no mark "{label}" in this trace (marks: {known}); seek also takes'
                    " a seq, a time @1.5s, start or end"
                )
            return self.seek(seq)

    def seek_time(self, t_ms: float) -> int:
        """Go to the last event at or before `t_ms` on the trace's clock."""
        with self._lock:
            return self.seek(self.index.seq_at_time(t_ms))

    def _forward(self, target: int, breaks: bool) -> Breakpoint | None:
        """Apply events up to `target`; with `breaks`, stop after one that hits a
        breakpoint (returned). Checkpoints are taken on the way."""
        state = self._state
        if state.seq >= target:
            return None
        every = self.checkpoint_every
        checkpoints = self._checkpoints
        filters = breaks and bool(self.breaks.filters)
        predicates = breaks and bool(self.breaks.predicates)
        if predicates:
            self.breaks.arm(state.view())
        for event in self.stream(state.seq + 1, target):
            divergence = state.apply(event)
            if divergence is not None and self.divergence is None:
                self.divergence = divergence
            seq = state.seq
            if not seq % every and seq not in checkpoints:
                checkpoints[seq] = state.clone()
            if divergence is not None and breaks:
                self.stop_reason = f"divergence at seq {seq} on n{divergence.node}"
                return Breakpoint("divergence", str(divergence))
            hit = self.breaks.match_event(event) if filters else None
            if hit is None and predicates:
                hit = self.breaks.match_view(state.view(), event)
            if hit is not None:
                self.stop_reason = str(hit)
                return hit.breakpoint
        return None

    def run_until_break(self, limit: int | None = None) -> Breakpoint | None:
        """Apply events until a breakpoint hits (returned) or the end (or `limit` events)."""
        with self._lock:
            target = self.total if limit is None else min(self.total, self.position + limit)
            hit = self._forward(target, breaks=True)
            if hit is None and self.position >= self.total:
                self.stop_reason = "end of trace"
            return hit

    # --- views -------------------------------------------------------------------------------

    def view(self) -> ClusterView:
        """The cluster after the event at `position` (advances first while playing)."""
        with self._lock:
            self._play()
            cached = self._cached_view
            if cached is not None and cached[0] is self._state and cached[1].seq == self.position:
                return cached[1]
            v = self._state.view()
            self._cached_view = (self._state, v)
            return v

    def timeline(self) -> Timeline:
        """The elections and outages up to `position` (engine.trace.elections)."""
        with self._lock:
            return self._state.elections.timeline()

    def explain(self, election: Election) -> Explanation | None:
        """`zkfle explain` of an election's outage, up to `position` if it goes on there."""
        outage = election.outage
        if outage is None:
            return None
        end = outage.ended_seq if outage.ended_seq is not None else self.position
        events = self.events(max(1, outage.started_seq - LEAD_IN), end)
        window = window_from_events(events, outage, election)
        return explain_window(window, context_from_header(self.header))

    def events_after(self, seq: int) -> list[Event]:
        """The events in (seq, position] (the last EVENTS_AFTER_WINDOW of them)."""
        with self._lock:
            hi = self.position
            lo = max(seq + 1, hi - EVENTS_AFTER_WINDOW + 1, 1)
            return self.events(lo, hi)

    # --- breakpoints ------------------------------------------------------------------------------

    @property
    def breakpoints(self) -> list[Breakpoint]:
        return self.breaks.listed

    def break_when(self, predicate: Predicate | str) -> Breakpoint:
        """Stop (while playing) after the event that makes `predicate` true."""
        if isinstance(predicate, str):
            cmd = c.parse(f"break when {predicate}")
            assert isinstance(cmd, c.BreakWhen)
            predicate = cmd.predicate
        with self._lock:
            return self.breaks.add(predicate, self._state.view())

    def break_on(self, event_filter: EventFilter | str) -> Breakpoint:
        """Stop (while playing) after the next event matching the filter."""
        if isinstance(event_filter, str):
            cmd = c.parse(f"break on {event_filter}")
            assert isinstance(cmd, c.BreakOn)
            event_filter = cmd.event
        with self._lock:
            return self.breaks.add(event_filter, self._state.view())

    def remove_breakpoint(self, bp_id: str | None = None) -> int:
        """Remove one breakpoint (or all); returns how many were removed."""
        with self._lock:
            return self.breaks.remove(bp_id)

    # --- playing ---------------------------------------------------------------------------------

    def play(self, speed: float | None = None) -> None:
        """Advance by itself at `speed` × the trace's clock, on each `view()` call."""
        with self._lock:
            if speed is not None:
                self.speed = speed
            self.running = True
            self.stop_reason = None
            self._play_wall = self._clock()
            self._play_t = self.t_at(self.position)

    def halt(self) -> None:
        """Stop playing (the user's word: why playback last stopped by itself is over)."""
        with self._lock:
            self.running = False
            self.stop_reason = None

    def _play(self) -> None:
        if not self.running:
            return
        now = self._clock()
        target_t = self._play_t + (now - self._play_wall) * 1000.0 * self.speed
        target = min(self.index.seq_at_time(target_t), self.position + PLAY_MAX_EVENTS)
        if target <= self.position and self.position < self.total:
            return
        try:
            hit = self._forward(min(target, self.total), breaks=True)
        except ReplayError as e:
            self.running = False
            self.stop_reason = str(e)
            return
        if target >= self.position + PLAY_MAX_EVENTS:
            # Too far behind the clock: play on from here rather than race to catch up.
            self._play_wall, self._play_t = now, self.t_at(self.position)
        if hit is not None:
            self.running = False
        elif self.position >= self.total:
            self.running = False
            self.stop_reason = "end of trace"

    # --- verifying ahead ------------------------------------------------------------------------

    def _verify_ahead(self) -> None:
        """Re-execute the whole file once, as `verify` does (without the invariants, which
        the trace records as it goes), so that a divergence is known soon after opening
        rather than once the replay reaches it; in the background, giving way often."""

        def give_way(_: int) -> None:
            if self._closing.is_set():
                raise _ClosedError
            time.sleep(0)  # let the console's thread have the interpreter

        try:
            found = verify(self.path, invariants=False, progress=give_way, progress_every=2048)
        except _ClosedError:
            return
        except (ReplayError, OSError):
            return  # opening read the whole file: only its removal since gets here
        self._ahead = found.divergence

    @property
    def first_divergence(self) -> Divergence | None:
        """The trace's first divergence: met while replaying, or found verifying ahead."""
        return self.divergence or self._ahead

    # --- the console's backend protocol -------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        found = self.first_divergence
        return {
            "mode": "replay",
            "runtime": self.header.get("runtime", "?"),
            "seed": self.header.get("seed"),
            "trace_path": self.path,
            "label": self.header.get("label", ""),
            "running": self.running,
            "speed": self.speed,
            "divergence": f"diverges at seq {found.seq} on n{found.node}" if found else None,
        }

    def execute(self, text: str) -> _ResultText:
        """The navigation commands of the language; the rest is refused (read-only)."""
        try:
            cmd = c.parse(text.strip())
        except CommandError as e:
            return _ResultText(False, str(e))
        try:
            return self._execute(cmd)
        except (CommandError, ReplayError) as e:
            return _ResultText(False, str(e))
        except KeyError as e:
            return _ResultText(False, str(e.args[0]))

    def _execute(self, cmd: c.Command) -> _ResultText:
        match cmd:
            case c.Step(count):
                self.halt()
                return self._at(self.step(count))
            case c.Seek(target):
                self.halt()
                if isinstance(target, int):
                    return self._at(self.seek(target))
                if isinstance(target, Instant):
                    return self._at(self.seek_time(target.t_ms))
                return self._at(self.seek_mark(target))
            case c.Run():
                if self.position >= self.total:
                    return _ResultText(False, "run: at the end of the trace (seek back first)")
                self.play()
                return _ResultText(True, f"playing at {self.speed:g}x")
            case c.Halt():
                self.halt()
                return self._at(self.position, "halted")
            case c.Speed(factor):
                with self._lock:
                    self._play_wall, self._play_t = self._clock(), self.t_at(self.position)
                    self.speed = factor
                return _ResultText(True, f"speed {factor:g}x")
            case c.BreakWhen() | c.BreakOn() | c.Breaks() | c.Unbreak():
                with self._lock:
                    answer = self.breaks.execute(cmd, self._state.view())
                assert answer is not None
                return _ResultText(*answer)
            case c.Mark(label):
                with self._lock:
                    seq = self.position
                    mark = Mark(seq, self.t_at(seq), label or f"mark@{seq}")
                    self._session_marks.append(mark)
                return _ResultText(True, f'marked seq {seq} "{mark.label}" (in this session)')
            case c.Status():
                return _ResultText(True, self.status_text())
            case c.Help(topic):
                return _ResultText(True, help_text(topic or None))
            case c.Check():
                return _ResultText(
                    False, f"check: a recorded run is checked by `zkfle check {self.path}`"
                )
        return _ResultText(
            False,
            f"{cmd.verb}: a replay is read-only; fork it to continue as a live simulated cluster",
        )

    def _at(self, seq: int, what: str = "at") -> _ResultText:
        note = ""
        if self.divergence is not None and self.divergence.seq <= seq:
            note = f" (diverged at seq {self.divergence.seq})"
        return _ResultText(True, f"{what} seq {seq}/{self.total}, t={self.t_at(seq):.3f} ms{note}")

    def status_text(self) -> str:
        v = self.view()
        lines = [
            f"replay {self.path}: seq {self.position}/{self.total} t={v.t_ms:.3f} ms"
            f" {leadership_text(v)}",
            messages_text(v.messages),
        ]
        for n in v.nodes:
            state = n.state.name if n.state is not None else "down"
            lines.append(
                f"n{n.sid:<3} {state:<10} round={n.shown('logicalclock', str(n.logicalclock))}"
                f" zab={n.shown('zab_phase', n.zab_phase)}"
            )
        found = self.first_divergence
        if found is not None:
            lines.append(f"diverges: {found}")
        return "\n".join(lines)

    def fork(
        self, seed: int | None = None, trace_path: str | os.PathLike[str] | None = None
    ) -> Cluster:
        """A live simulated cluster continuing from `position` (engine.replay.fork.fork), halted
        until `run`; playback stops here (the fork goes on from this step)."""
        self.halt()
        cluster = fork(self, seed=seed, trace_path=trace_path)
        self.forks.append(cluster)
        return cluster

    def close(self) -> None:
        self._closing.set()
        if self._verifier is not None:
            self._verifier.join(5.0)
        with self._lock:
            self.running = False
            self.index.close()

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Replayer"]
