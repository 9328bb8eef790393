"""The interpreter settings a large threaded cluster runs under: a longer thread switch
interval and a cyclic GC that leaves the cluster alone (`enter`, `leave`); and the one
keeper of the process's cyclic GC settings (`collect_less`), which the console and
exploration use too.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator

SWITCH_INTERVAL_S = 0.05
"""The interpreter's thread switch interval while a threaded runtime of LARGE_CLUSTER
members or more runs (5 ms by default). Each thread waiting for the GIL wakes up every
interval to ask for it, and the holder is then preempted, possibly holding a node's lock;
with the thousands of threads of a large cluster that costs more than the work. Measured
under the same load, 3 runs each: N = 51 elected in a median 2.1-2.4 s with 50 ms against
3.3-4.5 s with 5 ms. Not for small clusters: there it changed little for the election
alone and, with the console in the same process, let its frames delay the election."""
LARGE_CLUSTER = 16
FULL_COLLECTION_EVERY = 1000
"""While a large cluster runs: a full collection after this many collections of the
middle generation (gc's third threshold, 10 by default), i.e. after ~7 million net
allocations instead of ~70 000."""
_large_lock = threading.Lock()
_large_users = 0
_switch_before = 0.005

_gc_lock = threading.Lock()
_gc_holds: list[tuple[int, int]] = []
_gc_before = gc.get_threshold()


def collect_less(young: int = 0, full: int = 0) -> None:
    """Leave what the process holds now out of the cyclic GC (`gc.freeze`) and raise its
    first (young) and third (full) thresholds to at least `young` and `full`, until
    `collect_as_before(young, full)`. Holders nest - a large cluster inside the console,
    an exploration beside one: the thresholds are the highest any holder asked for, and
    the freeze and the thresholds are undone when the last holder lets go, not before."""
    global _gc_before
    with _gc_lock:
        if not _gc_holds:
            _gc_before = gc.get_threshold()
        _gc_holds.append((young, full))
        _set_thresholds()
        gc.freeze()


def collect_as_before(young: int = 0, full: int = 0) -> None:
    """One holder of `collect_less(young, full)` lets go."""
    with _gc_lock:
        _gc_holds.remove((young, full))
        if _gc_holds:
            _set_thresholds()
        else:
            gc.set_threshold(*_gc_before)
            gc.unfreeze()


@contextlib.contextmanager
def collecting_less(young: int = 0, full: int = 0) -> Iterator[None]:
    """`collect_less` for the duration."""
    collect_less(young, full)
    try:
        yield
    finally:
        collect_as_before(young, full)


def _set_thresholds() -> None:
    young, middle, full = _gc_before
    young = max([young, *(y for y, _ in _gc_holds)])
    gc.set_threshold(young, middle, max([full, *(f for _, f in _gc_holds)]))


def enter() -> None:
    """A large cluster (LARGE_CLUSTER members or more) is built and runs: raise the switch
    interval (SWITCH_INTERVAL_S), and leave what the process holds now - the cluster's
    nodes, workers and thread pool - out of the cyclic GC's full collections until the
    last large runtime stops. A full collection walks every object holding the GIL, so
    every node thread waits: at N = 51 three of them fell inside each election, 50-190 ms
    each, and found nothing to collect (gc.callbacks). Objects still die by their
    reference counts; cycles among the frozen ones are collected after `leave`.

    Frozen, the objects made since (the connections' workers and queues) still met a full
    collection twice in each N = 51 election - after freeze() the collector's rule of
    thumb (a full collection once 25 % more objects survived than the last one saw) has
    no base, so the third threshold alone sets the pace. Each took 10-35 ms of CPU, but
    on a busy machine the thread collecting is preempted holding the GIL: 150-650 ms of
    wall time with every node thread stopped (gc.callbacks, time.thread_time). So they
    are made rare (FULL_COLLECTION_EVERY) until the last large runtime stops; the young
    generations are collected as before."""
    global _large_users, _switch_before
    with _large_lock:
        if _large_users == 0:
            _switch_before = sys.getswitchinterval()
            sys.setswitchinterval(max(_switch_before, SWITCH_INTERVAL_S))
        collect_less(full=FULL_COLLECTION_EVERY)
        _large_users += 1


def leave() -> None:
    global _large_users
    with _large_lock:
        _large_users -= 1
        if _large_users == 0:
            sys.setswitchinterval(_switch_before)
        collect_as_before(full=FULL_COLLECTION_EVERY)
