"""Events per source in sorted runs on disk (bounded memory), merged in time order on the
corrected clock.
"""

from __future__ import annotations

import heapq
import marshal
import operator
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.core.vote import Sid
from engine.replay.zkimport.sources import Source

RUN_EVENTS = 200_000
"""Events sorted in memory at a time; more are spilled to sorted runs on disk."""
SPILL_CHUNK = 4096
"""Events per marshalled chunk of a run: the merge holds one chunk of every run at a time."""


_Spilled = tuple[int, int, str, bytes]
"""(µs on the server's own clock, order (file << 32 | line), thread, event JSON)."""


class Runs:
    """Events per source, sorted by (time, file, line) in bounded memory: at most
    RUN_EVENTS are kept, then sorted and spilled to one temporary file per source."""

    def __init__(self, directory: Path, name: str = "run") -> None:
        self.directory = directory
        self.name = name
        self.batch: dict[Source, list[_Spilled]] = {}
        self.size = 0
        self.runs: list[tuple[Source, Path]] = []

    def add(self, source: Source, event: _Spilled) -> None:
        events = self.batch.get(source)
        if events is None:
            events = self.batch[source] = []
        events.append(event)
        self.size += 1
        if self.size >= RUN_EVENTS:
            self.spill()

    def spill(self) -> None:
        for source, events in self.batch.items():
            events.sort(key=_ORDER)
            path = self.directory / f"{self.name}{len(self.runs)}.bin"
            with open(path, "wb") as out:
                for start in range(0, len(events), SPILL_CHUNK):
                    chunk = marshal.dumps(events[start : start + SPILL_CHUNK])
                    out.write(len(chunk).to_bytes(4, "little"))
                    out.write(chunk)
            self.runs.append((source, path))
        self.batch = {}
        self.size = 0

    @staticmethod
    def read(path: Path) -> Iterator[_Spilled]:
        with open(path, "rb") as f:
            while size := f.read(4):
                chunk: list[_Spilled] = marshal.loads(f.read(int.from_bytes(size, "little")))
                yield from chunk


_ORDER = operator.itemgetter(0, 1)


def merged_runs(
    runs: Runs, place: Callable[[Source, str], Sid | None], offsets: dict[Sid, int]
) -> Iterator[tuple[int, int, Sid, bytes]]:
    """Every placed event on the corrected clock, in time order: runs of one server shift
    by one offset and stay sorted; a run whose lines are placed thread by thread (a stream
    naming several servers before it split) is placed and sorted in memory."""
    runs.spill()

    def shifted(source: Source, path: Path) -> Iterator[tuple[int, int, Sid, bytes]]:
        whole = place(source, "")
        if whole is not None:
            offset = offsets.get(whole, 0)
            for us, order, _, body in runs.read(path):
                yield us - offset, order, whole, body
        elif source[0] == "stream":
            placed = []
            for us, order, thread, body in runs.read(path):
                sid = place(source, thread)
                if sid is not None:
                    placed.append((us - offsets.get(sid, 0), order, sid, body))
            placed.sort(key=_ORDER)
            yield from placed

    return heapq.merge(*(shifted(source, path) for source, path in runs.runs))
