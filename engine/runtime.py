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

import _thread
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
    """One thread running one operation in a loop.

    Started with the low-level `_thread` module: `threading.Thread.start` blocks until the
    new thread has run, which under a busy GIL costs milliseconds per connection and would
    stall every election while connections open. `finished` stands in for join()."""

    def __init__(
        self,
        name: str,
        op: Callable[[], bool],
        alive: Callable[[], bool],
        on_error: Callable[[str, BaseException], None],
    ) -> None:
        self.name = name
        self.op = op
        self.alive = alive
        self.on_error = on_error
        self.event = threading.Event()
        self.finished = threading.Event()
        self.timeout: Callable[[], float | None] = lambda: None

    def start(self) -> None:
        _thread.start_new_thread(self._main, ())

    def is_alive(self) -> bool:
        return not self.finished.is_set()

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as e:  # a dying worker must say why, not vanish
            self.on_error(self.name, e)
        finally:
            self.finished.set()

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
        self._all: list[_Worker] = []
        self._prune_at = 64
        """Every worker ever started (replaced ones included), for stop()."""
        self.errors: list[tuple[str, BaseException]] = []
        """Exceptions that ended a worker (a bug: the trace and status show them)."""
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

    def connection_up(self, a: Node, b: Node, lives: tuple[int, int]) -> None:
        for (x, y), life in zip(((a, b), (b, a)), lives, strict=True):
            self._inbound[(x.sid, y.sid)] = deque()
            alive = self._link_checker(x, y.sid, life)
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
        worker = _Worker(name, op, alive, self._worker_failed)
        with self._workers_lock:
            old = self._workers.get((node.sid, what, peer))
            self._workers[(node.sid, what, peer)] = worker
            if len(self._all) >= self._prune_at:  # forget finished workers, now and then
                self._all = [w for w in self._all if w.is_alive()]
                self._prune_at = max(64, 2 * len(self._all))
            self._all.append(worker)
        if old is not None:
            old.event.set()  # it notices it is no longer alive and exits
        worker.start()
        return worker

    def _worker_failed(self, name: str, error: BaseException) -> None:
        self.errors.append((name, error))
        self.emit("invariant", name="WorkerAlive", ok=False, detail=f"{name} died: {error!r}")

    def _node_alive(self, node: Node, life: int) -> bool:
        return not self.stopping and node.life == life

    def _link_alive(self, node: Node, peer: Sid, life: int) -> bool:
        return self._node_alive(node, life) and peer in node.qcm.sender_worker_map

    def started(self, node: Node) -> None:
        sid, life = node.sid, node.life
        alive = partial(self._node_alive, node, life)
        main = self._start_worker(
            node, "main", None, f"QuorumPeer[myid={sid}]", partial(self.main, node), alive
        )
        main.timeout = partial(self._main_timeout, node)
        self._start_worker(
            node,
            "sender",
            None,
            f"WorkerSender[myid={sid}]",
            partial(self.worker_sender, node),
            alive,
        )
        self._start_worker(
            node,
            "receiver",
            None,
            f"WorkerReceiver[myid={sid}]",
            partial(self.worker_receiver, node),
            alive,
        )

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
            workers = list(self._all)
        for w in workers:
            w.event.set()
        self._net_thread.join(JOIN_TIMEOUT_S)
        stuck = [w.name for w in workers if not w.finished.wait(JOIN_TIMEOUT_S)]
        if self._net_thread.is_alive():
            stuck.append("Network")
        if stuck:
            raise RuntimeError(f"threads did not stop: {', '.join(stuck)}")

    def threads(self) -> list[str]:
        """Names of the threads still running (for tests and `status`)."""
        with self._workers_lock:
            names = [w.name for w in self._all if w.is_alive()]
        if self._net_thread.is_alive():
            names.append(self._net_thread.name)
        return names
