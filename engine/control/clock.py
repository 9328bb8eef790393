"""How a live cluster's time moves and how its callers wait on it: the simulator's event
loop and its pace with the wall clock (the console's), the threads' change signal and the
monitor that observes them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.runtime.protocol import Runtime
from engine.runtime.sim import Simulation
from engine.runtime.threads import ThreadedRuntime
from engine.trace.format import RotatingTraceWriter, TraceWriter
from engine.trace.recorder import Recorder

PACE_INTERVAL_S = 0.01
"""How often a paced simulator catches up with the wall clock."""
OBSERVE_INTERVAL_S = 0.01
"""Views are built at most this often while waiting (each takes every node's lock)."""


class Clock:
    """The clock of `runtime`. `observe` takes note of what changed (under `lock`, which
    serialises commands and, in the simulator, every run of the event loop); `halts`
    counts the run's halts at breakpoints, which end a wait; the monitor writes out
    `writer` after each look."""

    def __init__(
        self,
        runtime: Runtime,
        recorder: Recorder,
        writer: TraceWriter | RotatingTraceWriter | None,
        lock: threading.RLock,
        observe: Callable[[], None],
        halts: Callable[[], int],
    ) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.writer = writer
        self._lock = lock
        self.sim = isinstance(runtime, Simulation)
        self._observe = observe
        self._halts = halts
        self.version = 0
        """Moves whenever something views show may have changed (threads)."""
        self._version_cond = threading.Condition()
        self._dirty = False
        """Something a view shows changed since the simulator's loop last looked."""
        self._closing = threading.Event()
        self.sim_running = False
        """The simulator's clock follows the wall clock (a paced one only)."""
        self.speed = 1.0
        self.pacer: threading.Thread | None = None
        self._monitor: threading.Thread | None = None

    def start(self, pace: bool, halted: bool) -> None:
        """Start the threads that move time: with `pace`, the simulator's pacer (its clock
        stopped until `run` if `halted`); on threads, the monitor."""
        self.sim_running = pace and not halted
        if self.sim and pace:
            self.pacer = threading.Thread(target=self._pace_loop, name="Pacer", daemon=True)
            self.pacer.start()
        if not self.sim:
            self._monitor = threading.Thread(target=self._monitor_loop, name="Monitor", daemon=True)
            self._monitor.start()

    def note_change(self) -> None:
        """An event views show was recorded (a recorder listener calls it)."""
        self._dirty = True
        if not self.sim:
            self.changed()

    def changed(self) -> None:
        """Wake whoever waits for a change (threads: views, the halt). Its lock is never
        held while emitting, so the recorder's gate may call it."""
        with self._version_cond:
            self.version += 1
            self._version_cond.notify_all()

    def _wait_change(self, seen: int, timeout_s: float) -> int:
        """Wait until the version of what views show moves past `seen` (or the timeout)."""
        with self._version_cond:
            self._version_cond.wait_for(lambda: self.version != seen, timeout_s)
            return self.version

    def halt(self) -> None:
        """Stop the clock (it returns at once: the recorder's gate calls it)."""
        if self.sim:
            self.sim_running = False
        else:
            assert isinstance(self.runtime, ThreadedRuntime)
            self.runtime.halt()
            self.changed()  # `step` waits for the halt; no event may follow to say so

    def _monitor_loop(self) -> None:
        seen = -1
        while not self._closing.is_set():
            seen = self._wait_change(seen, 0.05)
            with self._lock:
                if self._closing.is_set():
                    return
                self._observe()
            if self.writer is not None:
                self.writer.flush()
            # Coalesce bursts: a view takes every node's lock, so not more than 100 a second.
            self._closing.wait(OBSERVE_INTERVAL_S)

    def _pace_loop(self) -> None:
        """Advance virtual time with the wall clock x speed while running."""
        last = time.monotonic()
        while not self._closing.wait(PACE_INTERVAL_S):
            now = time.monotonic()
            elapsed, last = now - last, now
            with self._lock:  # after `halt` has answered, the clock does not move
                if self.sim_running:
                    self.sim_run(self.runtime.now() + elapsed * 1000.0 * self.speed)

    def stop_pace(self) -> None:
        """The cluster closes: no more pacing (and the monitor ends with its next look)."""
        self._closing.set()
        if self.pacer is not None:
            self.pacer.join(5.0)

    def stop_monitor(self) -> None:
        if self._monitor is not None:
            self.changed()
            self._monitor.join(5.0)

    def advance(self, ms: float) -> None:
        """Let `ms` pass on the cluster's clock (virtual in the simulator)."""
        if self.sim:
            self.sim_run(self.runtime.now() + ms)
        else:
            deadline = time.monotonic() + ms / 1000.0
            while (left := deadline - time.monotonic()) > 0:
                threading.Event().wait(min(left, 0.05))

    def sim_run(
        self, until_ms: float, stop: Callable[[], bool] | None = None, cheap: bool = False
    ) -> bool:
        """Run the simulator up to `until_ms` or until `stop()` holds. `stop` is checked
        after state changes only, or after every event if it is `cheap`."""
        sim = self.runtime
        assert isinstance(sim, Simulation)
        with self._lock:
            hit = False
            halts = self._halts()
            self.recorder.release()  # what a step held comes before what runs now
            if self._halts() != halts:
                return False
            while not hit and sim.run_next(until_ms):  # one call per event: most of a run
                if self._dirty:
                    self._dirty = False
                    self._observe()
                    hit = stop is not None and stop()
                elif cheap and stop is not None:
                    hit = stop()
                if self._halts() != halts:
                    return hit  # a breakpoint: the clock stays at its event
            if not hit:
                sim.run_until(until_ms)
                self._observe()
                hit = stop is not None and stop()
            return hit

    def wait_for(self, condition: Callable[[], bool], within_ms: float) -> bool:
        """Wait until `condition()` holds, checking after state changes (at most every
        OBSERVE_INTERVAL_S in the threaded runtime); False if it did not in time."""
        if condition():
            return True
        if self.sim:
            return self.sim_run(self.runtime.now() + within_ms, condition)
        deadline = time.monotonic() + within_ms / 1000.0
        seen = self.version
        halts = self._halts()
        while True:
            if condition():
                return True
            left = deadline - time.monotonic()
            if left <= 0 or self._halts() != halts:
                return False
            self._closing.wait(min(left, OBSERVE_INTERVAL_S))
            seen = self._wait_change(seen, max(deadline - time.monotonic(), 0.0))
