"""Events per source in sorted runs on disk (bounded memory), merged in time order on the
corrected clock.
"""

from __future__ import annotations

import heapq
import itertools
import marshal
import operator
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from engine.core.vote import Sid
from engine.replay.zkimport.sources import Source

RUN_EVENTS = 200_000
"""Events sorted in memory at a time; more are spilled to sorted runs on disk."""
SPILL_CHUNK = 1024
"""Events per marshalled chunk of a run: the merge holds one chunk of every run at a time."""
MAX_MERGE = 64
"""Runs merged at once: with more, a source's runs are first merged into fewer on disk, so
that the merge's memory (a chunk per run) does not grow with the logs."""


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
        self.written = 0

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
            self.runs.append((source, self._write(events)))
        self.batch = {}
        self.size = 0

    def _write(self, events: Iterable[_Spilled]) -> Path:
        """A sorted run on disk, in chunks of SPILL_CHUNK events."""
        path = self.directory / f"{self.name}{self.written}.bin"
        self.written += 1
        it = iter(events)
        with open(path, "wb") as out:
            while chunk := list(itertools.islice(it, SPILL_CHUNK)):
                data = marshal.dumps(chunk)
                out.write(len(data).to_bytes(4, "little"))
                out.write(data)
        return path

    def compact(self) -> None:
        """Merge runs of one source on disk until at most MAX_MERGE runs are left (or every
        source has one run); each pass reads MAX_MERGE runs of the source that has most."""
        fan_in = MAX_MERGE
        while len(self.runs) > fan_in:
            by_source: dict[Source, list[Path]] = {}
            for source, path in self.runs:
                by_source.setdefault(source, []).append(path)
            source, paths = max(by_source.items(), key=lambda item: len(item[1]))
            if len(paths) < 2:
                return
            group = paths[:fan_in]
            merged = self._write(heapq.merge(*(self.read(p) for p in group), key=_ORDER))
            for path in group:
                path.unlink()
            taken = set(group)
            self.runs = [r for r in self.runs if r[1] not in taken] + [(source, merged)]

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
    runs.compact()

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
