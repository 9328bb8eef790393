"""Where explored runs execute: this process, a pool of local processes, or a Dask
distributed cluster. Each run is a pure function of (Spec, index), so the backend changes
how fast the outcomes come, never what they are; they come in the order they finish.

Dask rather than Ray: `distributed` is pure Python and installs from PyPI in seconds with
no native runtime, its `LocalCluster` starts in-process for tests, and a plain
`dask scheduler` / `dask worker` pair is all a user needs on other machines.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from engine.explore.run import Outcome, Spec, explore_one

SCHEDULER = re.compile(r"(tcp|tls|inproc)://[^\s/]+")
EXTRA = "pip install 'zkfle[cluster]'"


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
) -> Iterator[Outcome]:
    """Runs on `jobs` local processes (this one if 1), started by `start` (a multiprocessing
    start method; `start_method()` unless given)."""
    one = partial(explore_one, spec, sids=sids)
    if jobs <= 1:
        yield from map(one, indices)
        return
    with multiprocessing.get_context(start or start_method()).Pool(jobs) as pool:
        chunk = max(1, min(8, len(indices) // (jobs * 8)))  # few round trips, even ends
        yield from pool.imap_unordered(one, indices, chunksize=chunk)


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
