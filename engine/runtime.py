"""The threaded runtime: ZooKeeper's threads, for real, on the wall clock.

Per node: the QuorumPeer main thread, WorkerSender and WorkerReceiver; per live election
connection a SendWorker and a RecvWorker thread on each side. One network thread delivers
messages when their link delay has passed. Every thread loops over one `Host` operation
and, when it has nothing to do, blocks on its own event until another thread says there is
work (`wake`), its deadline passes, or the runtime stops - so `stop()` always returns with
no thread left behind.

Nothing here is deterministic, and nothing needs to be: every input a core consumed is
recorded in consumption order (under the node's lock), so the trace replays exactly.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from engine.host import Envelope, Host, Node
from engine.peer import Timing
from engine.quorum import QuorumVerifier
from engine.recorder import Recorder
from engine.vote import Sid

JOIN_TIMEOUT_S = 5.0


class _Worker:
    """One thread running one operation in a loop."""

    def __init__(self, name: str, op: Callable[[], bool], alive: Callable[[], bool]) -> None:
        self.name = name
        self.op = op
        self.alive = alive
        self.event = threading.Event()
        self.timeout: Callable[[], float | None] = lambda: None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while self.alive():
            self.event.clear()
            while self.alive() and self.op():
                pass
            if not self.alive():
                return
            self.event.wait(self.timeout())


class ThreadedRuntime(Host):
    """A cluster of nodes, each with ZooKeeper's threads."""

    def __init__(
        self,
        qv: QuorumVerifier,
        timing: Timing,
        stores: dict[Sid, Any],
        recorder: Recorder | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(qv, timing, stores, recorder, seed)
        self._t0 = time.monotonic()
        self._workers: dict[tuple[Sid, str, Sid | None], _Worker] = {}
        self._threads: list[threading.Thread] = []
        """Every worker thread ever started (replaced ones included), for stop()."""
        self._inbound: dict[tuple[Sid, Sid], deque[Envelope]] = {}
        self._workers_lock = threading.Lock()
        self._net_cond = threading.Condition()
        self._net_heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._net_counter = itertools.count()
        self._net_thread = threading.Thread(target=self._network, name="Network", daemon=True)
        self._net_thread.start()

    # --- Host hooks ---------------------------------------------------------------------------

    def now(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        with self._net_cond:
            heapq.heappush(self._net_heap, (t_ms, next(self._net_counter), fn, args))
            self._net_cond.notify()

    def wake(self, node: Node, what: str, peer: Sid | None = None) -> None:
        worker = self._workers.get((node.sid, what, peer))
        if worker is not None:
            worker.event.set()

    def timer_changed(self, node: Node) -> None:
        self.wake(node, "main")

    def connection_up(self, a: Node, b: Node) -> None:
        for x, y in ((a, b), (b, a)):
            self._inbound[(x.sid, y.sid)] = deque()
            alive = self._link_checker(x, y.sid, x.life)
            self._start_worker(
                x,
                "send_worker",
                y.sid,
                f"SendWorker[myid={x.sid}->{y.sid}]",
                partial(self.send_worker, x, y.sid),
                alive,
            )
            self._start_worker(
                x,
                "recv_worker",
                y.sid,
                f"RecvWorker[myid={x.sid}<-{y.sid}]",
                partial(self._recv_worker, x, y.sid),
                alive,
            )

    def _link_checker(self, node: Node, peer: Sid, life: int) -> Callable[[], bool]:
        return lambda: self._link_alive(node, peer, life)

    # --- threads --------------------------------------------------------------------------------

    def _start_worker(
        self,
        node: Node,
        what: str,
        peer: Sid | None,
        name: str,
        op: Callable[[], bool],
        alive: Callable[[], bool],
    ) -> _Worker:
        worker = _Worker(name, op, alive)
        with self._workers_lock:
            old = self._workers.get((node.sid, what, peer))
            self._workers[(node.sid, what, peer)] = worker
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(worker.thread)
        if old is not None:
            old.event.set()  # it notices it is no longer alive and exits
        worker.thread.start()
        return worker

    def _node_alive(self, node: Node, life: int) -> bool:
        return not self.stopping and node.life == life

    def _link_alive(self, node: Node, peer: Sid, life: int) -> bool:
        return self._node_alive(node, life) and peer in node.qcm.sender_worker_map

    def boot(self, sid: Sid) -> None:
        node = self.nodes[sid]
        with node.lock:
            if node.alive:
                return
            super().boot(sid)
            life = node.life
            names = {
                "main": f"QuorumPeer[myid={sid}]",
                "sender": f"WorkerSender[myid={sid}]",
                "receiver": f"WorkerReceiver[myid={sid}]",
            }
            ops: dict[str, Callable[[], bool]] = {
                "main": lambda: self.main(node),
                "sender": lambda: self.worker_sender(node),
                "receiver": lambda: self.worker_receiver(node),
            }
            for what, name in names.items():
                worker = self._start_worker(
                    node, what, None, name, ops[what], lambda: self._node_alive(node, life)
                )
                if what == "main":
                    worker.timeout = lambda: self._main_timeout(node)
                worker.event.set()

    def _main_timeout(self, node: Node) -> float | None:
        due = self.main_due(node)
        if due is None or not node.running:
            return None
        return max(due - self.now(), 0.0) / 1000.0

    def crash(self, sid: Sid, reason: str = "crash") -> None:
        super().crash(sid, reason)
        # Its threads and the peers' workers on its connections notice and exit.
        with self._workers_lock:
            workers = [w for key, w in self._workers.items() if sid in (key[0], key[2])]
        for w in workers:
            w.event.set()

    def _election_closed(self, node: Node, peer: Sid) -> None:
        super()._election_closed(node, peer)
        for what in ("send_worker", "recv_worker"):
            self.wake(node, what, peer)

    def _schedule_arrival(self, env: Envelope, plane: str, extra_ms: float) -> None:
        if plane == "election":
            # Through the receiving side's RecvWorker thread, as a socket read would be.
            super()._schedule_arrival(env, "recv_worker", extra_ms)
        else:
            super()._schedule_arrival(env, plane, extra_ms)

    def _arrival_fn(self, plane: str) -> Callable[[Envelope], None]:
        return self._to_recv_worker if plane == "recv_worker" else super()._arrival_fn(plane)

    def _to_recv_worker(self, env: Envelope) -> None:
        node = self.nodes[env.dst]
        inbound = self._inbound.get((env.dst, env.src))
        if inbound is None or node.life != env.dst_life:
            self.arrive(env)  # no RecvWorker: arrive() records why it is dropped
            return
        inbound.append(env)
        self.wake(node, "recv_worker", env.src)

    def _recv_worker(self, node: Node, peer: Sid) -> bool:
        inbound = self._inbound.get((node.sid, peer))
        if not inbound:
            return False
        self.arrive(inbound.popleft())
        return True

    def _network(self) -> None:
        """Run delayed deliveries and connection events when they are due."""
        while True:
            with self._net_cond:
                while not self.stopping:
                    wait = self._net_heap[0][0] - self.now() if self._net_heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._net_cond.wait(None if wait is None else wait / 1000.0)
                if self.stopping:
                    return
                _, _, fn, args = heapq.heappop(self._net_heap)
            fn(*args)

    # --- shutdown -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every thread and wait for them; no thread is left behind."""
        self.stopping = True
        with self._net_cond:
            self._net_cond.notify_all()
        with self._workers_lock:
            workers = list(self._workers.values())
            threads = [*self._threads, self._net_thread]
        for w in workers:
            w.event.set()
        for t in threads:
            t.join(JOIN_TIMEOUT_S)
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            raise RuntimeError(f"threads did not stop: {', '.join(stuck)}")

    def threads(self) -> list[threading.Thread]:
        """Threads that are still running (for tests and `status`)."""
        with self._workers_lock:
            return [t for t in [*self._threads, self._net_thread] if t.is_alive()]
