"""Provides the boundary between the console and a cluster: the `Backend` protocols.

The console (the Textual app and the shell) only ever talks to a cluster through these
protocols. The engine's `Cluster` facade satisfies `Backend` for a live cluster (threaded or
simulated); the replayer satisfies `ReplayBackend`. Both are driven like this:

* `view()` is called from the UI thread 10-20 times a second and must be cheap and never
  block for long (take node locks briefly, copy, return an immutable `ClusterView`).
* `events_after(seq)` is called right after it, with the highest `seq` the console has
  seen; it returns the recent events above that seq (a bounded window is fine: the console
  notices gaps and says how many events it skipped).
* `execute(text)` runs one command of the command language and may block (`wait 2s`,
  `wait until stable`). The console calls it from one worker thread, one command at a
  time, in the order the user typed them, so that the UI never waits for the engine.
* `timeline()` is read every frame too; it must be cheap (a cached immutable value).
* `info` is read every frame; it must be cheap.
* `close()` stops the cluster and closes its trace; the console calls it once at exit.

Nothing here imports Textual or prompt_toolkit: tests and the shell use it too.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from engine.core.view import ClusterView
from engine.trace.elections import Timeline

Event = dict[str, Any]
"""One trace event: `seq`, `t_ms`, `kind`, usually `node`, and the kind's fields."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one command did.

    `ok` is False when the command was rejected or failed (a parse error, an `expect` that
    did not hold, a `wait until` that timed out); a rejected command changed nothing. `text`
    is the command's output (possibly several lines) or the error message, which says what
    was expected (the messages of `engine.control.predicates.CommandError`).
    """

    ok: bool
    text: str = ""


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """What the header shows about a backend; read every frame, so keep it a cheap value."""

    mode: Literal["live", "replay"]
    runtime: str
    """`threaded` or `sim` (a replay reports the runtime the trace was recorded with)."""
    seed: int | None = None
    trace_path: str | None = None
    """The trace being recorded (live) or replayed (replay); None when not recording."""
    label: str = ""
    running: bool = True
    """The cluster or the replay is advancing by itself (threads: not halted)."""
    speed: float = 1.0
    """The simulator's or the replay's speed factor (1.0 = real time)."""
    divergence: str | None = None
    """A replay's first divergence, as soon as it is known (the replayer verifies the
    whole trace in the background): `diverges at seq 812 on n3`."""
    stop_reason: str | None = None
    """Why a live cluster halted by itself (a breakpoint), until it runs on."""
    check: str | None = None
    """The live model check of a real ZooKeeper run: `ok (N events)` or `K
    disagreement(s)` (the `check` command lists them); None without one."""


class ResultLike(Protocol):
    """What `execute` returns: `CommandResult`, or any object with these two attributes."""

    @property
    def ok(self) -> bool: ...

    @property
    def text(self) -> str: ...


@runtime_checkable
class Backend(Protocol):
    """A live cluster as the console sees it (the engine's `Cluster` facade)."""

    @property
    def info(self) -> BackendInfo | Mapping[str, Any]:
        """A `BackendInfo`, or a mapping with its fields (`trace` may stand for
        `trace_path`); see `read_info`."""
        ...

    def view(self) -> ClusterView:
        """An immutable snapshot of the whole cluster, now."""
        ...

    def execute(self, text: str) -> ResultLike:
        """Run one command line of the command language (DESIGN §4).

        The console handles `help`, `quit` and `replay` itself and validates every line with
        `engine.control.commands.parse` before it calls this, but a backend must still answer any
        text with a CommandResult and never raise for bad input. Every command it runs is
        recorded as a `cmd` event (`text`, `ok`, and `result` or `error` with the whole
        output): that event is how the command and its output appear in the log."""
        ...

    def events_after(self, seq: int) -> list[Event]:
        """Recent events with a sequence number above `seq`, in order."""
        ...

    def timeline(self) -> Timeline:
        """The elections and outages so far (a replay: up to `position`), as
        `engine.trace.elections` derives them from every event, not from a window of them."""
        ...

    def close(self) -> None:
        """Stop the cluster and close the trace (idempotent)."""
        ...


class MarkLike(Protocol):
    """A bookmark in a trace (`mark` commands are recorded as `mark` events)."""

    @property
    def seq(self) -> int: ...

    @property
    def t_ms(self) -> float: ...

    @property
    def label(self) -> str: ...


class BreakpointLike(Protocol):
    """An active breakpoint (`break when <pred>` or `break on <event>`)."""

    @property
    def id(self) -> str:
        """Like `b1`."""
        ...

    @property
    def text(self) -> str:
        """The canonical command text, e.g. `break when leaders > 1`."""
        ...


@dataclass(frozen=True, slots=True)
class TraceMark:
    """A MarkLike value."""

    seq: int
    t_ms: float
    label: str


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A BreakpointLike value."""

    id: str
    text: str


@runtime_checkable
class ReplayBackend(Backend, Protocol):
    """A recorded trace being replayed: the same panels, read-only, moved through in time.

    `view()` is the cluster after the event at `position`; `events_after(seq)` returns the
    events in (seq, position]. When `position` moves backwards the console drops what it
    showed after it and asks again from there.

    `execute` understands the navigation commands of the language: `step [n]`,
    `seek <seq|@t|mark|start|end>`, `run`, `halt`, `speed <x>`, `break when <pred>`,
    `break on <event>`, `status`; every command that would change the cluster is refused
    with a message that says the replay is read-only and that fork (the `f` key) makes a
    live cluster. While
    `info.running`, the replay advances by itself at `info.speed` (from its own thread, or
    lazily on each `view()` by elapsed wall time) and stops at a breakpoint or at the end,
    saying why in `stop_reason`.
    """

    @property
    def position(self) -> int:
        """The seq of the last event applied (0: before the first event)."""
        ...

    @property
    def total(self) -> int:
        """The seq of the last event in the trace."""
        ...

    @property
    def marks(self) -> Sequence[MarkLike]: ...

    @property
    def breakpoints(self) -> Sequence[BreakpointLike]: ...

    def events(self, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        """The events from_seq..to_seq (inclusive; clipped to the trace): what led to
        `position`, for the log after a seek."""
        ...

    @property
    def stop_reason(self) -> str | None:
        """Why playback last stopped by itself (`b1: leaders > 1 at seq 812`, `end of
        trace`, a divergence), or None."""
        ...

    def fork(self) -> Backend:
        """A live simulated cluster that continues from the current position (recording a
        new trace); the replay itself is unchanged."""
        ...


def read_info(backend: Backend) -> BackendInfo:
    """`backend.info` as a BackendInfo (a mapping is converted; bad values are ignored)."""
    raw = backend.info
    if isinstance(raw, BackendInfo):
        return raw
    get = raw.get
    mode: Literal["live", "replay"] = "replay" if get("mode") == "replay" else "live"
    seed = get("seed")
    trace = get("trace_path", get("trace"))
    speed = get("speed", 1.0)
    divergence = get("divergence")
    stop_reason = get("stop_reason")
    check = get("check")
    return BackendInfo(
        mode=mode,
        runtime=str(get("runtime", "?")),
        seed=seed if isinstance(seed, int) else None,
        trace_path=str(trace) if trace else None,
        label=str(get("label", "") or ""),
        running=bool(get("running", True)),
        speed=float(speed) if isinstance(speed, int | float) else 1.0,
        divergence=str(divergence) if divergence else None,
        stop_reason=str(stop_reason) if stop_reason else None,
        check=str(check) if check else None,
    )


def is_replay(backend: Backend) -> bool:
    """Whether the console should show `backend` as a replay."""
    return isinstance(backend, ReplayBackend) and read_info(backend).mode == "replay"


def describe_exception(exc: BaseException) -> str:
    """One line for a backend failure the console shows instead of a traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"internal error: {type(exc).__name__}: {exc}{where}"


def safe_execute(backend: Backend, text: str) -> CommandResult:
    """`backend.execute(text)`, with any exception turned into a failed result."""
    try:
        result = backend.execute(text)
    except Exception as exc:  # the console must survive any backend bug
        return CommandResult(False, describe_exception(exc))
    if isinstance(result, CommandResult):
        return result
    ok: object = getattr(result, "ok", None)
    out: object = getattr(result, "text", None)
    if not isinstance(ok, bool) or not isinstance(out, str):
        return CommandResult(False, f"internal error: execute returned {result!r}")
    return CommandResult(ok, out)
