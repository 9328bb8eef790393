"""The deterministic simulator: one thread, virtual time, a seeded event heap.

ZooKeeper's threads become events: when an operation of `Host` has work (a WorkerSender
with a ToSend, a WorkerReceiver with a message, a main thread with a due input), an event
runs it a few microseconds of virtual time later - the jitter, drawn from a seeded stream,
stands for thread scheduling and makes interleavings vary with the seed. Network delays
and timers are events too. Ties in time are broken by a sequence counter, so the same
seed and the same commands give the same events, byte for byte, whatever PYTHONHASHSEED.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from heapq import heappop as _heappop
from heapq import heappush as _heappush
from typing import Any

from engine.core.peer.io import Timing
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid
from engine.runtime.durable import Store
from engine.runtime.host import Host
from engine.runtime.hosted import Node
from engine.trace.recorder import Recorder

THREAD_HOP_MS = (0.001, 0.02)
"""Virtual time between an operation being woken and running (thread scheduling)."""
_HOP_LO, _HOP_SPAN = THREAD_HOP_MS[0], THREAD_HOP_MS[1] - THREAD_HOP_MS[0]

STUCK_EVENTS = 200_000
"""Events in a row without virtual time advancing before the run is declared stuck."""


class SimulationStuckError(RuntimeError):
    """Virtual time stopped advancing: something livelocks."""


class Simulation(Host):
    """A cluster in virtual time."""

    kind = "sim"

    def __init__(
        self,
        qv: QuorumVerifier,
        timing: Timing,
        stores: Mapping[Sid, Store],
        recorder: Recorder | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(qv, timing, stores, recorder, seed)
        self._now = 0.0
        self._due = 0.0
        """The due time of the last event that moved the clock (rounded, as all are)."""
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._counter = itertools.count()
        self._pending: set[tuple[Sid, str, Sid | None]] = set()
        self._timer_gen: dict[Sid, int] = {}
        self.rng_sched = random.Random(f"{seed}:sched")
        self.events_run = 0
        self._same_time = 0
        self._ops: dict[str, Callable[[Node], bool]] = {
            "sender": self.worker_sender,
            "receiver": self.worker_receiver,
            "main": self.main,
        }
        self._run_op_bound = self._run_op
        """Made once: every wake schedules it."""

    # --- Host hooks ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def now_rounded(self) -> float:
        # At an event's time, as nearly always, the clock is rounded already: every due
        # time is (round() costs ~0.25 us, and ~400 events an election record the time).
        now = self._now
        return now if now == self._due else round(now, 3)

    def set_clock(self, t_ms: float) -> None:
        """Continue a run whose clock had reached `t_ms` (a fork of a replay)."""
        self._now = max(self._now, t_ms)

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        now = self._now
        due = round(t_ms if t_ms > now else now, 3)
        _heappush(self._heap, (due, next(self._counter), fn, args))

    def wake(self, node: Node, what: str, peer: Sid | None = None) -> None:
        self._wake((node.sid, what, peer))

    def _wake(self, key: tuple[Sid, str, Sid | None]) -> None:
        pending = self._pending
        if key in pending:
            return
        pending.add(key)
        # call_later(rng_sched.uniform(*THREAD_HOP_MS), ...), inlined: the same draw and
        # the same arithmetic (uniform is lo + (hi - lo) * random()), so the same times;
        # the delay is at least _HOP_LO > 0, so call_at's clamps to now never apply.
        due = round(self._now + (_HOP_LO + _HOP_SPAN * self.rng_sched.random()), 3)
        _heappush(self._heap, (due, next(self._counter), self._run_op_bound, (key,)))

    def timer_changed(self, node: Node) -> None:
        sid = node.sid
        gen = self._timer_gen[sid] = self._timer_gen.get(sid, 0) + 1
        deadline, look_at = node.deadline, node.look_at
        due = (
            deadline if look_at is None else look_at if deadline is None else min(deadline, look_at)
        )
        if due is not None and node.alive and not node.paused:
            self.call_at(due, self._timer_fired, sid, gen)

    # --- events -------------------------------------------------------------------------------

    def _run_op(self, key: tuple[Sid, str, Sid | None]) -> None:
        self._pending.discard(key)
        sid, what, peer = key
        node = self.nodes[sid]
        op = self._ops.get(what)
        if op is not None:
            busy = op(node)
        else:
            assert peer is not None
            busy = self.send_worker(node, peer)
        if busy:
            self._wake(key)  # the thread loops while it has work

    def _timer_fired(self, sid: Sid, gen: int) -> None:
        if self._timer_gen.get(sid) == gen:
            self._wake((sid, "main", None))

    def run_one(self) -> bool:
        """Run the next event; False when nothing is scheduled."""
        return bool(self._heap) and self.run_next(self._heap[0][0])

    def run_next(self, until_ms: float) -> bool:
        """Run the next event if one is due by `until_ms`; False if none is."""
        heap = self._heap
        if not heap or heap[0][0] > until_ms:
            return False
        due, _, fn, args = _heappop(heap)
        if due > self._now:
            self._now = self._due = due
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
        while self.run_next(t_ms):
            if stop is not None and stop():
                return True
        self._now = max(self._now, t_ms)
        return stop is not None and stop()
