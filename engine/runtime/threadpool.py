"""OS threads for the threaded runtime's workers, started ahead and handed back: starting
a thread costs GIL-held time that a large cluster's first election cannot spare."""

from __future__ import annotations

import _thread
from collections.abc import Callable


class ThreadPool:
    """OS threads for workers: a worker that ends gives its thread back, and the next
    worker (a connection opened later) runs on it instead of starting a new one.

    Starting a thread costs ~100-150 µs of GIL-held time plus two GIL hand-offs; a
    51-node cluster once started four workers for each of its 1275 connections in its
    first election (now its nodes' 204, and a connection's RecvWorkers when a fault gives
    them work). `reserve` starts threads ahead of time (when the cluster is built), so that
    the election only hands them their work. Every thread is still one ZooKeeper thread at
    a time: a pooled thread runs exactly one worker until that worker ends. A thread whose
    worker ends while the pool holds more than the reserve exits: a crashed node's workers
    still ending while its restart starts new ones would otherwise leave the pool at its
    high-water mark for good (RELIABILITY.md, no leak).
    """

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._idle: list[_PooledThread] = []
        self._threads: list[_PooledThread] = []
        self._keep = 0
        """Threads kept at most once their workers end (the largest reserve asked for)."""
        self.closed = False

    def run(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self.closed:
                raise RuntimeError("the runtime is stopped")
            thread = self._idle.pop() if self._idle else None
            if thread is None:
                thread = self._new()
        thread.assign(fn)

    def reserve(self, count: int) -> None:
        """Have at least `count` idle threads."""
        with self._lock:
            self._keep = max(self._keep, count)
            for _ in range(count - len(self._idle)):
                self._idle.append(self._new())

    def _new(self) -> _PooledThread:
        thread = _PooledThread(self)
        self._threads.append(thread)
        _thread.start_new_thread(thread.main, ())
        return thread

    def give_back(self, thread: _PooledThread) -> bool:
        """A worker ended on `thread`: keep it for the next one (False: it must exit)."""
        with self._lock:
            if self.closed:
                return False
            if len(self._threads) > self._keep:
                self._threads.remove(thread)
                return False
            self._idle.append(thread)
            return True

    def close(self) -> list[_PooledThread]:
        """No more work: idle threads exit now, busy ones when their worker ends."""
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
            threads = list(self._threads)
        for thread in idle:
            thread.assign(None)
        return threads

    def alive(self) -> int:
        with self._lock:
            return sum(1 for t in self._threads if t.done.locked())

    def idle(self) -> int:
        """Threads waiting for a worker."""
        with self._lock:
            return len(self._idle)


class _PooledThread:
    __slots__ = ("_go", "done", "fn", "pool")

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool
        self.fn: Callable[[], None] | None = None
        self._go = _thread.allocate_lock()
        self._go.acquire()
        self.done = _thread.allocate_lock()
        self.done.acquire()
        """Held while the thread lives."""

    def assign(self, fn: Callable[[], None] | None) -> None:
        self.fn = fn
        self._go.release()

    def main(self) -> None:
        try:
            while True:
                self._go.acquire()
                fn, self.fn = self.fn, None
                if fn is None:
                    return
                fn()
                if not self.pool.give_back(self):
                    return
        finally:
            self.done.release()

    def join(self, timeout: float) -> bool:
        if not self.done.acquire(True, timeout):
            return False
        self.done.release()
        return True
