"""The deterministic simulator: one thread, virtual time, a seeded event heap.

ZooKeeper's threads become events: when an operation of `Host` has work (a WorkerSender
with a ToSend, a WorkerReceiver with a message, a main thread with a due input), an event
runs it a few microseconds of virtual time later - the jitter, drawn from a seeded stream,
stands for thread scheduling and makes interleavings vary with the seed. Network delays
and timers are events too. Ties in time are broken by a sequence counter, so the same
seed and the same commands give the same events, byte for byte, whatever PYTHONHASHSEED.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

from engine.host import Host, Node
from engine.peer import Timing
from engine.quorum import QuorumVerifier
from engine.recorder import Recorder
from engine.vote import Sid

THREAD_HOP_MS = (0.001, 0.02)
"""Virtual time between an operation being woken and running (thread scheduling)."""

STUCK_EVENTS = 200_000
"""Events in a row without virtual time advancing before the run is declared stuck."""


class SimulationStuckError(RuntimeError):
    """Virtual time stopped advancing: something livelocks."""


class Simulation(Host):
    """A cluster in virtual time."""

    def __init__(
        self,
        qv: QuorumVerifier,
        timing: Timing,
        stores: dict[Sid, Any],
        recorder: Recorder | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(qv, timing, stores, recorder, seed)
        self._now = 0.0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._counter = itertools.count()
        self._pending: set[tuple[Sid, str, Sid | None]] = set()
        self._timer_gen: dict[Sid, int] = {}
        self.rng_sched = random.Random(f"{seed}:sched")
        self.events_run = 0
        self._same_time = 0

    # --- Host hooks ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        due = round(max(t_ms, self._now), 3)
        heapq.heappush(self._heap, (due, next(self._counter), fn, args))

    def wake(self, node: Node, what: str, peer: Sid | None = None) -> None:
        key = (node.sid, what, peer)
        if key in self._pending:
            return
        self._pending.add(key)
        self.call_later(self.rng_sched.uniform(*THREAD_HOP_MS), self._run_op, key)

    def timer_changed(self, node: Node) -> None:
        gen = self._timer_gen.get(node.sid, 0) + 1
        self._timer_gen[node.sid] = gen
        due = self.main_due(node)
        if due is not None and node.running:
            self.call_at(due, self._timer_fired, node.sid, gen)

    # --- events -------------------------------------------------------------------------------

    def _run_op(self, key: tuple[Sid, str, Sid | None]) -> None:
        self._pending.discard(key)
        sid, what, peer = key
        node = self.nodes[sid]
        if what == "sender":
            busy = self.worker_sender(node)
        elif what == "receiver":
            busy = self.worker_receiver(node)
        elif what == "main":
            busy = self.main(node)
        else:
            assert peer is not None
            busy = self.send_worker(node, peer)
        if busy:
            self.wake(node, what, peer)  # the thread loops while it has work

    def _timer_fired(self, sid: Sid, gen: int) -> None:
        if self._timer_gen.get(sid) == gen:
            self.wake(self.nodes[sid], "main")

    def run_one(self) -> bool:
        """Run the next event; False when nothing is scheduled."""
        if not self._heap:
            return False
        due, _, fn, args = heapq.heappop(self._heap)
        if due > self._now:
            self._now = due
            self._same_time = 0
        else:
            self._same_time += 1
            if self._same_time > STUCK_EVENTS:
                raise SimulationStuckError(
                    f"virtual time stuck at {self._now:.3f} ms after {STUCK_EVENTS} events"
                )
        fn(*args)
        self.events_run += 1
        return True

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, t_ms: float, stop: Callable[[], bool] | None = None) -> bool:
        """Run events up to virtual time `t_ms`, or until `stop()` holds (checked after each
        event; time then stays at that event). Returns whether `stop` held."""
        while self._heap and self._heap[0][0] <= t_ms:
            self.run_one()
            if stop is not None and stop():
                return True
        self._now = max(self._now, t_ms)
        return stop is not None and stop()
