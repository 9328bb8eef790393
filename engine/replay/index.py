"""The index of a trace file: where each event's line starts, its time, and the marks, so
that a replay reads any event again by its seq (16 bytes per event in memory)."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import orjson

from engine.replay.cores import ReplayError
from engine.trace.compressed import open_trace_file
from engine.trace.format import Event, Trace, TraceError


@dataclass(frozen=True, slots=True)
class Mark:
    """A `mark` event of the trace, a breakpoint's hit (a `break` event: the position it
    halted at), or a mark made during this replay session."""

    seq: int
    t_ms: float
    label: str


class TraceIndex:
    """Built by reading the whole file once (checked as engine.trace.format's reader checks
    it); after `open()` it reads events by seq until `close()`. Reads may come from several
    threads."""

    def __init__(self, path: str, trace: Trace) -> None:
        self.path = path
        self.offsets = array("q")
        self.times = array("d")
        self.marks: list[Mark] = []
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        offsets, times, marks = self.offsets, self.times, self.marks
        with open_trace_file(path) as f:
            pos = len(f.readline())
            try:
                for event in trace:
                    raw = f.readline()
                    offsets.append(pos)
                    pos += len(raw)
                    times.append(float(event["t_ms"]))
                    if event["kind"] == "mark":
                        marks.append(Mark(event["seq"], float(event["t_ms"]), str(event["label"])))
                    elif event["kind"] == "break":  # where a live session halted
                        marks.append(Mark(int(event["at"]), float(event["t_ms"]), event["id"]))
            except TraceError as e:
                raise ReplayError.of(e) from None
        self.total = len(offsets)

    def open(self) -> None:
        self._file = open_trace_file(self.path)

    def read(self, lo: int, hi: int) -> Iterator[Event]:
        """The events lo..hi (1-based, inclusive)."""
        if lo > hi:
            return
        with self._lock:
            f = self._file
            assert f is not None, "TraceIndex.open() first"
            f.seek(self.offsets[lo - 1])
            lines = [f.readline() for _ in range(hi - lo + 1)]
        loads = orjson.loads
        for raw in lines:
            yield loads(raw)

    def stream(self, lo: int, hi: int) -> Iterator[Event]:
        """Like `read`, in chunks (for long forward runs)."""
        chunk = 4096
        while lo <= hi:
            top = min(hi, lo + chunk - 1)
            yield from self.read(lo, top)
            lo = top + 1

    def seq_at_time(self, t_ms: float) -> int:
        """The last seq at or before `t_ms` on the trace's clock (0: before the first)."""
        # Times are sorted in a simulator trace; a threaded one may jitter by microseconds,
        # so this binary search finds a neighbour of the exact answer there.
        lo, hi = 0, self.total
        times = self.times
        while lo < hi:
            mid = (lo + hi) // 2
            if times[mid] <= t_ms:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def close(self) -> None:
        with self._lock:
            if self._file is not None and not self._file.closed:
                self._file.close()
