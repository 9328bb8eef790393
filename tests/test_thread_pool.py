"""The threaded runtime's pool of OS threads keeps no more threads than it reserved once
their workers end (the leak check of RELIABILITY.md: a crashed node's workers still ending
while its restart starts new ones left the pool at its high-water mark)."""

from __future__ import annotations

import threading
import time

from engine.runtime.threadpool import ThreadPool

DEADLINE_S = 10.0


def wait_for(predicate: object, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_threads_beyond_the_reserve_exit_when_their_workers_end() -> None:
    pool = ThreadPool()
    pool.reserve(2)
    release = threading.Event()
    started = threading.Semaphore(0)

    def worker() -> None:
        started.release()
        release.wait(DEADLINE_S)

    try:
        for _ in range(5):  # more workers at once than reserved: the pool grows to 5
            pool.run(worker)
        for _ in range(5):
            assert started.acquire(timeout=DEADLINE_S)
        assert pool.alive() == 5
        release.set()
        # the kept threads must be back in the pool, or the next run starts a new one
        wait_for(lambda: pool.alive() == pool.idle() == 2, "the pool shrinks back to its reserve")
        release.clear()
        for _ in range(2):  # the kept threads take the next workers
            pool.run(worker)
        for _ in range(2):
            assert started.acquire(timeout=DEADLINE_S)
        assert pool.alive() == 2
    finally:
        release.set()
        for thread in pool.close():
            assert thread.join(DEADLINE_S)
    assert pool.alive() == 0
