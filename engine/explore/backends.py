"""Where explored runs execute: this process, a pool of local processes, or a Dask
distributed cluster. Each run is a pure function of (Spec, index), so the backend changes
how fast the outcomes come, never what they are; they come in the order they finish.

Dask rather than Ray: `distributed` is pure Python and installs from PyPI in seconds with
no native runtime, its `LocalCluster` starts in-process for tests, and a plain
`dask scheduler` / `dask worker` pair is all a user needs on other machines.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import threading
from collections.abc import Generator, Iterator, Sequence
from functools import partial
from typing import Any

from engine.explore.run import Outcome, Spec, explore_one
from engine.runtime import interpreter

SCHEDULER = re.compile(r"(tcp|tls|inproc)://[^\s/]+")
EXTRA = "pip install 'zkfle[cluster]'"
YOUNG = 20_000
"""The cyclic GC's first threshold while runs execute here (CPython's is 700). A run builds
and drops a cluster of a few thousand objects in reference cycles, which at 700 were
walked by ~5 young and ~0.5 middle collections per run: 7-11 % of a run's CPU, 4 % at
20,000 (gc.callbacks timed in CPU time, 100 runs of 5 nodes). Memory stays bounded."""
CHUNK = 8
"""The most runs a worker takes at once (fewer round trips to this process)."""


class BackendError(Exception):
    """The backend cannot run the exploration (a missing extra, an unreachable scheduler)."""


def start_method() -> str:
    """How local workers start: forked when this process runs no other thread, so a worker
    has zkfle imported at once (a spawned one imports it again: 0.2 CPU-seconds, 0.75
    without cached bytecode, on the critical path of every exploration); spawned
    otherwise, since a fork copies the locks other threads may hold."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def local(
    spec: Spec, indices: Sequence[int], sids: list[int], jobs: int, start: str | None = None
) -> Generator[Outcome, None, None]:
    """Runs on `jobs` local processes (this one if 1), started by `start` (a multiprocessing
    start method; `start_method()` unless given), all under `collector()` (until the runs
    end or the generator is closed)."""
    with collector():
        if jobs <= 1:
            yield from map(partial(explore_one, spec, sids=sids), indices)
            return
        context = multiprocessing.get_context(start or start_method())
        with context.Pool(jobs, initializer=_collect_as_exploring) as pool:
            many = partial(explore_many, spec, sids=sids)
            for outcomes in pool.imap_unordered(many, chunks(indices, jobs)):
                yield from outcomes


def explore_many(spec: Spec, indices: Sequence[int], sids: list[int]) -> list[Outcome]:
    """Runs `indices`, in a worker."""
    return [explore_one(spec, index, sids) for index in indices]


def chunks(indices: Sequence[int], jobs: int) -> list[Sequence[int]]:
    """`indices` cut for `jobs` workers: chunks of `CHUNK` runs that shrink to one as the
    end nears (guided self-scheduling), so that no worker waits idle at the end while
    another finishes a whole chunk (with 8 runs a chunk, 0.37 s of 30 s on 2 jobs)."""
    cut: list[Sequence[int]] = []
    at = 0
    while at < len(indices):
        size = max(1, min(CHUNK, (len(indices) - at) // (4 * jobs)))
        cut.append(indices[at : at + size])
        at += size
    return cut


def collector() -> contextlib.AbstractContextManager[None]:
    """The cyclic GC while runs execute in this process and in the workers it forks: what
    exists now is frozen (never walked again, so a forked worker's collections do not
    write into the pages it shares with this process, copying them), and the young
    generation is collected every `YOUNG` allocations; undone on exit, unless something
    else still holds the collector (interpreter.collect_less)."""
    return interpreter.collecting_less(young=YOUNG)


def _collect_as_exploring() -> None:
    """`collector()`'s settings in a worker, for good (a forked one inherits them)."""
    interpreter.collect_less(young=YOUNG)


def dask(spec: Spec, indices: Sequence[int], sids: list[int], scheduler: str) -> Iterator[Outcome]:
    """Runs on the Dask distributed cluster whose scheduler is at `scheduler`; its workers
    need zkfle installed."""
    if not SCHEDULER.fullmatch(scheduler):
        raise BackendError(
            f"--scheduler: expected an address like tcp://127.0.0.1:8786, got {scheduler!r}"
        )
    try:
        import distributed
    except ImportError:
        raise BackendError(f"--scheduler needs the cluster extra: {EXTRA}") from None
    dist: Any = distributed  # partly typed: its Client and as_completed are not
    try:
        client = dist.Client(scheduler, timeout=10, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise BackendError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    with client:
        futures = client.map(explore_one, [spec] * len(indices), indices, sids=sids, pure=False)
        try:
            for future in dist.as_completed(futures, loop=client.loop):
                yield future.result()
                future.release()
        except OSError as e:  # distributed's CommClosedError among them
            raise BackendError(f"lost the Dask scheduler at {scheduler}: {e}") from None
