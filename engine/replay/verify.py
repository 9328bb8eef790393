"""`zkfle verify`: re-execute a whole trace on fresh cores, streaming with flat memory, and
check its invariants.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.core.vote import Sid
from engine.replay.cores import CoreReplay, Divergence, ReplayError
from engine.replay.parents import open_trace, parent_prefix
from engine.trace.format import Trace, TraceError
from engine.trace.invariants import InvariantChecker, Violation


@dataclass
class VerifyResult:
    """What `verify` found."""

    path: str
    events: int = 0
    """Events read and fed (the trace's own; a parent's are counted in `parent_events`)."""
    steps: int = 0
    nodes: tuple[Sid, ...] = ()
    seconds: float = 0.0
    divergence: Divergence | None = None
    violations: list[Violation] = field(default_factory=list)
    invariants_checked: bool = True
    notes: list[str] = field(default_factory=list)
    torn_line: int | None = None
    complete: bool = False
    parent_events: int = 0

    @property
    def ok(self) -> bool:
        return self.divergence is None and not self.violations

    @property
    def events_per_s(self) -> float:
        return (self.events + self.parent_events) / self.seconds if self.seconds > 0 else 0.0


def verify(
    path: str | os.PathLike[str],
    *,
    invariants: bool = True,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 100_000,
) -> VerifyResult:
    """Re-execute a trace and check its invariants (`zkfle verify`), streaming;
    `progress(n)` is called every `progress_every` events.

    Raises ReplayError when the file (or a fork's parent) is unreadable or invalid; a torn
    last line is not an error (`torn_line`), everything before it is verified.
    """
    trace = open_trace(path)
    result = VerifyResult(str(path), invariants_checked=invariants)
    header = trace.header
    replay = CoreReplay(header, str(path))
    checker = InvariantChecker(header) if invariants else None
    t0 = time.perf_counter()
    for event in parent_prefix(path, header):
        result.parent_events += 1
        divergence = replay.apply(event)
        if divergence is not None:
            raise ReplayError(
                path, 1, f"the parent trace diverges: {divergence}\n{divergence.report()}"
            )
        if checker is not None:
            checker.feed(event)
    if checker is not None:
        checker.violations.clear()  # the parent's own problems are the parent's
    result.events, result.divergence = _verify_loop(
        trace, replay, checker, progress, progress_every
    )
    result.steps, nodes = replay.steps, replay.nodes_seen
    result.seconds = time.perf_counter() - t0
    result.nodes = tuple(sorted(nodes))
    if checker is not None and result.divergence is None:
        result.violations = [*checker.violations, *checker.finish()]
    result.notes = list(trace.notes)
    result.torn_line = trace.torn_line.line if trace.torn_line is not None else None
    result.complete = trace.complete
    return result


def _verify_loop(
    trace: Trace,
    replay: CoreReplay,
    checker: InvariantChecker | None,
    progress: Callable[[int], None] | None,
    progress_every: int,
) -> tuple[int, Divergence | None]:
    """The hot loop: every event to the checker, ★ events to the cores."""
    n = 0
    feed = checker.feed if checker is not None else None
    step = replay.step
    apply = replay.apply
    try:
        for event in trace:
            n += 1
            kind = event["kind"]
            if kind == "step":
                divergence = step(event)[1]
                if divergence is not None:
                    return n, divergence
            elif kind == "boot" or kind == "stop":
                apply(event)
            if feed is not None:
                feed(event)
            if progress is not None and not n % progress_every:
                progress(n)
    except TraceError as e:
        raise ReplayError.of(e) from None
    return n, None


__all__ = ["VerifyResult", "verify"]
