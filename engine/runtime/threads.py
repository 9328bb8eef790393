"""The threaded runtime: ZooKeeper's threads, for real, on the wall clock.

Per node: the QuorumPeer main thread, WorkerSender and WorkerReceiver, and one thread for
the SendWorkers of all its election connections (in memory a write never blocks, so they
take turns: `_send_workers`); per live election connection a RecvWorker on each side. Every
thread loops over one `Host` operation and, when it has nothing to do, blocks until another
thread says there is work (`wake`), its deadline passes, or the runtime stops - so `stop()`
always returns with no thread left behind.

A notification goes from the SendWorker straight into the RecvWorker's inbound queue (the
socket), stamped with the time it arrives after the link's latency, and is read at that
time, as a socket read returns once the bytes are there: by the SendWorker itself when that
is at once (no fault delays it), else by the RecvWorker, whose thread starts when it first
has work (a delayed message, the connection closing). One network thread runs
everything else that is due later: delayed or held messages of the learner<->leader
connections, their set-up and tear-down, expiring faults. (Going through it cost every
notification one more thread hand-off, and made one thread the bottleneck of all traffic.)
A connector thread opens the election connections, apart from it.

Threads under the GIL: a hand-off between two threads is their cost, more than the Python
they run. A worker sleeps on a bare lock (released to wake it: ~3x cheaper than
threading.Event), wakes nobody for work it is about to do itself (a step of the main thread
that moves its own timer), and the main thread is only woken when its deadline moves
earlier than the one it sleeps on.

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
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from engine.core.peer.io import Timing
from engine.core.peer.mainthread import main_due
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid
from engine.runtime import futexhash, interpreter
from engine.runtime.durable import Store
from engine.runtime.host import Host
from engine.runtime.hosted import Envelope, Node
from engine.runtime.network import LINK_LATENCY_MS
from engine.runtime.threadpool import ThreadPool
from engine.trace.recorder import Recorder

JOIN_TIMEOUT_S = 5.0
_monotonic = time.monotonic
_get_ident = _thread.get_ident


class _Gate:
    """Where the runtime's threads stop while the cluster is halted (`halt`, a breakpoint,
    the end of a `step`): between two operations, never inside one, so the cluster halts at
    an event boundary and every node's state is one its own threads could leave it in.

    A thread marks itself busy and then looks at `open`; the halter closes `open` and then
    waits until no thread is busy: one of the two always sees the other (GIL order), so
    no operation starts once the halter saw every thread out of one."""

    __slots__ = ("_cond", "open")

    def __init__(self) -> None:
        self.open = True
        self._cond = threading.Condition()

    def close(self) -> None:
        self.open = False

    def reopen(self) -> None:
        with self._cond:
            self.open = True
            self._cond.notify_all()

    def park(self) -> None:
        """A thread found the gate closed: say it left its operation, wait until it opens."""
        with self._cond:
            self._cond.notify_all()
            while not self.open:
                self._cond.wait()

    def wait_quiet(self, busy: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `busy()` is False (no thread in an operation); False on timeout."""
        deadline = _monotonic() + timeout_s
        with self._cond:
            while busy():
                left = deadline - _monotonic()
                if left <= 0:
                    return False
                # a thread that ends its operation without parking (it sleeps) notifies
                # nobody: look again now and then
                self._cond.wait(min(left, 0.005))
        return True


class _Worker:
    """One thread running one operation in a loop.

    Started with the low-level `_thread` module: `threading.Thread.start` blocks until the
    new thread has run, which under a busy GIL costs milliseconds per connection and would
    stall every election while connections open (and the pool reuses threads). `join`
    stands in for the thread's join().

    It sleeps on `_signal`, a lock held while no wake-up is pending: `wake` releases it
    (once: a second wake before the worker runs is the same wake-up) and the worker's
    acquire consumes it. A wake that comes while the worker is busy makes its next sleep
    return at once, so no wake-up is ever lost."""

    __slots__ = (
        "_done",
        "_signal",
        "_unstarted",
        "alive",
        "armed",
        "busy",
        "gate",
        "ident",
        "name",
        "on_error",
        "on_exit",
        "op",
        "pool",
        "recorder",
        "timeout",
    )

    def __init__(
        self,
        name: str,
        op: Callable[[], bool],
        alive: Callable[[], bool],
        on_error: Callable[[str, BaseException], None],
        pool: ThreadPool | None = None,
        recorder: Recorder | None = None,
        gate: _Gate | None = None,
    ) -> None:
        self.name = name
        self.gate = gate or _Gate()
        self.busy = False
        """In an operation (see _Gate)."""
        self.op = op
        self.alive = alive
        self.on_error = on_error
        self.pool = pool
        self.recorder = recorder
        """Its events are handed to listeners and sinks after each operation, when the
        worker holds no lock (Recorder.defer_thread)."""
        self._signal = _thread.allocate_lock()
        self._signal.acquire()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        """Held until the worker has ended."""
        self.timeout: Callable[[], float | None] = _no_timeout
        self.on_exit: Callable[[], None] | None = None
        self.ident: int | None = None
        self._unstarted: Any = None
        """With `start(lazily=True)`: a lock the first wake-up takes to start the thread."""
        self.armed: float | None = _AWAKE
        """The deadline (runtime clock) this worker sleeps until; None: no deadline;
        _AWAKE while it runs (it looks at its deadline again before it sleeps)."""

    def start(self, lazily: bool = False) -> None:
        """Run the worker's thread; `lazily`: at its first wake-up (a worker that is
        mostly never woken then costs no thread hand-off, and no thread, until it is)."""
        if lazily:
            self._unstarted = _thread.allocate_lock()
            return
        if self.pool is not None:
            self.pool.run(self._main)
        else:
            _thread.start_new_thread(self._main, ())

    def is_alive(self) -> bool:
        return self._done.locked()

    @property
    def started(self) -> bool:
        return self._unstarted is None

    def end_unstarted(self) -> bool:
        """A worker whose thread never started ends without one (the runtime stops)."""
        unstarted = self._unstarted
        if unstarted is None or not unstarted.acquire(False):
            return False
        self._unstarted = None
        self._done.release()
        return True

    def join(self, timeout: float) -> bool:
        """Wait until the worker has ended; False if it still runs after `timeout` s."""
        if not self._done.acquire(True, timeout):
            return False
        self._done.release()
        return True

    def wake(self) -> None:
        if self.ident == _get_ident():
            return  # it is running: it loops over its operation until that has no work
        unstarted = self._unstarted
        if unstarted is not None and unstarted.acquire(False):  # the first wake-up starts it
            self._unstarted = None
            self.start()
            return  # a thread starts with its operation: the wake-up is not lost
        try:  # noqa: SIM105 - contextlib.suppress costs more than the release itself
            self._signal.release()
        except RuntimeError:
            pass  # a wake-up is pending already

    def _main(self) -> None:
        self.ident = ident = _get_ident()
        recorder = self.recorder
        if recorder is not None:
            recorder.defer_thread(ident)
        try:
            self._run()
            if self.on_exit is not None:
                self.on_exit()
        except BaseException as e:  # a dying worker must say why, not vanish
            self.on_error(self.name, e)
        finally:
            if recorder is not None:
                recorder.defer_thread(ident, False)
                recorder.drain()
            self.ident = None  # the thread may go on to run another worker
            self._done.release()

    def _run(self) -> None:
        alive, op, signal, gate = self.alive, self.op, self._signal, self.gate
        drain = self.recorder.drain if self.recorder is not None else _nothing
        while alive():
            while True:
                self.busy = True
                if not gate.open:
                    self.busy = False
                    gate.park()
                    if not alive():
                        return
                    continue
                worked = op()
                self.busy = False
                if not worked:
                    break
                drain()
                if not alive():
                    return
            drain()
            if not alive():
                return
            timeout = self.timeout()
            if timeout is None:
                signal.acquire()
            elif timeout > 0.0:
                signal.acquire(True, timeout)
            else:
                signal.acquire(False)
            self.armed = _AWAKE


def _no_timeout() -> float | None:
    return None


def _nothing() -> None:
    pass


_AWAKE = float("-inf")


class _Inbound:
    """What travels on one direction of an election connection and has not been read yet
    (the receiving socket's buffer): (arrival time, order, message), earliest first.

    Read by its RecvWorker and by the SendWorker writing into it (see ThreadedRuntime.
    `_send_workers`), one at a time (`reading`), so messages arrive in the order they are
    taken off the heap."""

    __slots__ = ("closed", "heap", "lock", "reading", "writer")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Envelope]] = []
        self.lock = _thread.allocate_lock()
        """Guards the heap; taken last (a SendWorker pushes holding its node's lock)."""
        self.reading = _thread.allocate_lock()
        """Held by whoever takes a message off the heap until it has arrived; taken
        holding no other lock."""
        self.closed = False
        """Its RecvWorker has ended: nothing reads the heap any more."""
        self.writer: _Worker | None = None
        """The thread of the SendWorkers at the other end, which reads what it wrote as it
        arrives."""


class _Timers:
    """Calls due at times on the runtime's clock, and the one thread that runs them in
    time order (a call due at the same time as another runs after it).

    Halted (see _Gate), the thread puts back what fell due and parks; `busy` says it is
    in a call, for `wait_halted`."""

    def __init__(self, name: str, runtime: ThreadedRuntime, gate: _Gate) -> None:
        self._runtime = runtime
        self._gate = gate
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self.busy = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def call_at(self, t_ms: float, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (t_ms, next(self._order), fn, args))
            self._cond.notify()

    def stop(self) -> None:
        """Wake the thread so that it sees the runtime stopping (then `thread.join`)."""
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        runtime = self._runtime
        recorder, gate, heap, cond = runtime.recorder, self._gate, self._heap, self._cond
        recorder.defer_thread(_get_ident())  # like a worker: hand events over unlocked
        try:
            while True:
                with cond:
                    while not runtime.stopping:
                        wait = heap[0][0] - runtime.now() if heap else None
                        if wait is not None and wait <= 0:
                            break
                        cond.wait(None if wait is None else wait / 1000.0)
                    if runtime.stopping:
                        return
                    item = heapq.heappop(heap)
                self.busy = True
                if not gate.open:  # halted: put it back, run it after `go`
                    self.busy = False
                    with cond:
                        heapq.heappush(heap, item)
                    gate.park()
                    continue
                item[2](*item[3])
                self.busy = False
                recorder.drain()
        finally:
            recorder.defer_thread(_get_ident(), False)
            recorder.drain()


LATENCY_SLACK_MS = LINK_LATENCY_MS[1]
"""A RecvWorker reads a message this much before its arrival time: the in-memory link's
base latency (at most this) is shorter than the thread hand-off that carries the message
anyway, so waiting it out would only cost a second wake-up per message. Delays from faults
(1 ms and more) are kept to within this."""


class ThreadedRuntime(Host):
    """A cluster of nodes, each with ZooKeeper's threads."""

    kind = "threaded"

    def __init__(
        self,
        qv: QuorumVerifier,
        timing: Timing,
        stores: Mapping[Sid, Store],
        recorder: Recorder | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(qv, timing, stores, recorder, seed)
        self._large = len(qv.all_members) >= interpreter.LARGE_CLUSTER
        self._t0 = time.monotonic()
        self._frozen: float | None = None
        """The clock while the cluster is halted: no timer runs out during a halt."""
        self._halted_wall = 0.0
        self._gate = _Gate()
        self._workers: dict[tuple[Sid, str, Sid | None], _Worker] = {}
        self._all: list[_Worker] = []
        self._prune_at = 64
        """Every worker ever started (replaced ones included), for stop()."""
        self.errors: list[tuple[str, BaseException]] = []
        """Exceptions that ended a worker (a bug: the trace and status show them)."""
        self._inbound: dict[tuple[Sid, Sid], _Inbound] = {}
        """(receiver, sender) -> the receiving side of that election connection."""
        self._send_ready: dict[Sid, deque[Sid]] = {}
        """Per node: the peers whose SendWorker was woken (`wake`), in that order."""
        self._arrivals = itertools.count()
        self._workers_lock = threading.Lock()
        self._pool = ThreadPool()
        # Threads for 4 workers per node (a RecvWorker's thread starts when a fault or a
        # close gives it work: connection_up); room in the futex table for all of them, 2
        # per connection between a participant and any other member.
        members = len(qv.all_members)
        voters = len(qv.voting_members)
        links = voters * (voters - 1) // 2 + voters * (members - voters)
        futexhash.widen(4 * members + 2 * links)
        self._pool.reserve(4 * members)
        if self._large:
            interpreter.enter()
        self._network = _Timers("Network", self, self._gate)
        """Delayed deliveries, the learner<->leader connections, expiring faults."""
        self._connector = _Timers("Connector", self, self._gate)
        """Opening election connections (ZK: QuorumCnxManager's connection executor): the
        thousands a large cluster opens at its start must not delay the network's other
        work - a learner's connect to its leader waited behind them for tens of seconds
        (N = 101), past initLimit, and the election began again."""

    # --- Host hooks ---------------------------------------------------------------------------

    def now(self) -> float:
        frozen = self._frozen
        if frozen is not None:
            return frozen
        return (_monotonic() - self._t0) * 1000.0

    # --- halting ------------------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        return not self._gate.open

    def halt(self) -> None:
        """Stop the cluster at its next event boundary: every thread stops before its next
        operation and the clock stops, so no timeout runs out while halted and each keeps
        what was left of it. Returns at once (a listener calls it, maybe holding a node's
        lock); `wait_halted` waits for the operations under way to end."""
        if self.stopping:
            return
        if self._frozen is None:
            self._frozen = self.now()
            self._halted_wall = _monotonic()
        self._gate.close()

    def wait_halted(self, timeout_s: float) -> bool:
        """Wait until no thread is in an operation (after `halt`); False on timeout."""
        with self._workers_lock:
            workers = list(self._all)
        return self._gate.wait_quiet(
            lambda: self._network.busy or self._connector.busy or any(w.busy for w in workers),
            timeout_s,
        )

    def go(self) -> None:
        """Let a halted cluster run again, its clock going on from where it stopped."""
        if self._frozen is not None:
            self._t0 += _monotonic() - self._halted_wall
            self._frozen = None
        self._gate.reopen()

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        self._network.call_at(t_ms, fn, args)

    def connect_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        self._connector.call_at(t_ms, fn, args)

    def wake(self, node: Node, what: str, peer: Sid | None = None) -> None:
        if what == "send_worker":  # they share a thread: tell it which one has work
            ready = self._send_ready.get(node.sid)
            if ready is None or peer is None:
                return
            ready.append(peer)
            what, peer = "send_workers", None
        worker = self._workers.get((node.sid, what, peer))
        if worker is not None:
            worker.wake()

    def timer_changed(self, node: Node) -> None:
        """Wake the main thread only if it sleeps past its new deadline."""
        worker = self._workers.get((node.sid, "main", None))
        if worker is None:
            return
        due = main_due(node)
        if due is None:
            return  # it wakes up early at most, finds nothing due and sleeps on
        armed = worker.armed
        if armed is not None and 0.0 <= armed <= due:
            return
        worker.wake()

    def connection_up(self, a: Node, b: Node, lives: tuple[int, int]) -> None:
        """Each side's inbound queue and RecvWorker, whose thread starts at its first
        wake-up: the SendWorker at the other end reads what it wrote (`_send_workers`), so
        the RecvWorker has work only when a fault delays a message or the connection
        closes. Called holding both nodes' locks, before anything is written to the
        connection: every message on it goes through its queue."""
        inbounds = {(a.sid, b.sid): _Inbound(), (b.sid, a.sid): _Inbound()}
        for (x, y), life in zip(((a, b), (b, a)), lives, strict=True):
            inbound = inbounds[(x.sid, y.sid)]
            inbounds[(y.sid, x.sid)].writer = self._workers.get((x.sid, "send_workers", None))
            recv = self._start_worker(
                x,
                "recv_worker",
                y.sid,
                f"RecvWorker[myid={x.sid}<-{y.sid}]",
                partial(self._recv_worker, inbound),
                self._link_checker(x, y.sid, life, "recv_worker"),
                start=False,
            )
            recv.timeout = partial(self._recv_timeout, inbound)
            recv.on_exit = partial(self._recv_worker_exit, inbound)
            recv.start(lazily=True)
        self._inbound.update(inbounds)

    def _link_checker(self, node: Node, peer: Sid, life: int, what: str) -> Callable[[], bool]:
        key = (node.sid, what, peer)
        workers = self._workers

        def alive() -> bool:
            worker = workers.get(key)
            return (
                not self.stopping
                and node.life == life
                and peer in node.qcm.sender_worker_map
                and worker is not None
                and worker.ident == _get_ident()  # a newer connection has its own workers
            )

        return alive

    # --- threads --------------------------------------------------------------------------------

    def _start_worker(
        self,
        node: Node,
        what: str,
        peer: Sid | None,
        name: str,
        op: Callable[[], bool],
        alive: Callable[[], bool],
        start: bool = True,
    ) -> _Worker:
        worker = _Worker(
            name, op, alive, self._worker_failed, self._pool, self.recorder, self._gate
        )
        with self._workers_lock:
            old = self._workers.get((node.sid, what, peer))
            self._workers[(node.sid, what, peer)] = worker
            if len(self._all) >= self._prune_at:  # forget finished workers, now and then
                self._all = [w for w in self._all if w.is_alive()]
                self._prune_at = max(64, 2 * len(self._all))
            self._all.append(worker)
        if old is not None:
            old.wake()  # it notices it is no longer alive and exits
        if start:
            worker.start()
        return worker

    def _worker_failed(self, name: str, error: BaseException) -> None:
        self.errors.append((name, error))
        self.emit("invariant", name="WorkerAlive", ok=False, detail=f"{name} died: {error!r}")

    def _node_alive(self, node: Node, life: int) -> bool:
        return not self.stopping and node.life == life

    def started(self, node: Node) -> None:
        sid, life = node.sid, node.life
        alive = partial(self._node_alive, node, life)
        main = self._start_worker(
            node,
            "main",
            None,
            f"QuorumPeer[myid={sid}]",
            partial(self.main, node),
            alive,
            start=False,
        )
        main.timeout = partial(self._main_timeout, node, main)
        main.start()
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
        ready = self._send_ready[sid] = deque()
        self._start_worker(
            node,
            "send_workers",
            None,
            f"SendWorker[myid={sid}->*]",
            partial(self._send_workers, node, ready),
            alive,
        )

    def _main_timeout(self, node: Node, worker: _Worker) -> float | None:
        due = main_due(node)
        if due is None or not node.running:
            worker.armed = None
            return None
        worker.armed = due
        return max(due - self.now(), 0.0) / 1000.0

    def crash(self, sid: Sid, reason: str = "crash") -> None:
        super().crash(sid, reason)
        # Its threads and the peers' workers on its connections notice and exit.
        with self._workers_lock:
            workers = [w for key, w in self._workers.items() if sid in (key[0], key[2])]
        for w in workers:
            w.wake()

    def _peer_sees_close(self, peer: Node, sid: Sid) -> None:
        # Taking the peer's lock here, under the closing node's, would invert the order
        # _connection_opened follows (smaller sid first) and could deadlock with it. Its
        # RecvWorker notices a moment later instead, as it notices a closed socket.
        self.call_at(self.now(), self._election_closed, peer, sid)

    def _election_closed(self, node: Node, peer: Sid) -> None:
        super()._election_closed(node, peer)
        for what in ("send_worker", "recv_worker"):
            self.wake(node, what, peer)

    # --- the receiving side of an election connection --------------------------------------------

    def _deliver_later(self, env: Envelope, plane: str, extra_ms: float) -> None:
        if plane != "election":
            super()._deliver_later(env, plane, extra_ms)
            return
        due = self._arrival_due(env, plane, extra_ms)
        inbound = self._inbound.get((env.dst, env.src))
        if inbound is not None and self.nodes[env.dst].life == env.dst_life:
            with inbound.lock:
                queued = not inbound.closed
                if queued:
                    heapq.heappush(inbound.heap, (due, next(self._arrivals), env))
            if queued:
                writer = inbound.writer
                if (
                    writer is None
                    or writer.ident != _get_ident()
                    or due - self.now() > LATENCY_SLACK_MS
                ):
                    self.wake(self.nodes[env.dst], "recv_worker", env.src)
                return
        # No RecvWorker reads it (its node crashed or the connection closed; peers send to
        # a crashed node until they notice): at its arrival time, arrive() records the drop.
        self.call_at(due, self.arrive, env)

    def _send_workers(self, node: Node, ready: deque[Sid]) -> bool:
        """The SendWorker of one connection that has work (ZK: SendWorker.run), then the
        RecvWorker at the other end reading what arrived; False when none has work.

        A node's SendWorkers share one thread: in memory a write never blocks, so serving
        them in turn is a schedule their own threads could take, and a broadcast to 50
        peers wakes one thread instead of 50 (an N = 51 election: ~5 000 hand-offs fewer,
        each a wait for a CPU on a busy machine, and 2 550 threads fewer). Each sends from
        its own queue (capacity 1) on its own connection, as before.

        In memory, a message written to a connection is there to read at once (within the
        link's latency: LATENCY_SLACK_MS), and the RecvWorker would read it at once; the
        SendWorker reads it instead, with the same lock and in the same order, after it
        let go of its node's lock (the read takes the receiver's). Waking the RecvWorker
        for it cost one more thread hand-off per notification, ~3 400 in an N = 51
        election."""
        if not ready:
            return False
        peer = ready.popleft()
        while self.send_worker(node, peer):
            outbound = self._inbound.get((peer, node.sid))
            if outbound is not None:
                while self._recv_worker(outbound):
                    pass
        return True

    def _recv_worker(self, inbound: _Inbound) -> bool:
        """RecvWorker: read the next message that has arrived, if one has."""
        with inbound.reading:
            with inbound.lock:
                heap = inbound.heap
                if not heap or heap[0][0] - self.now() > LATENCY_SLACK_MS:
                    return False
                env = heapq.heappop(heap)[2]
            self.arrive(env)
        return True

    def _recv_timeout(self, inbound: _Inbound) -> float | None:
        with inbound.lock:
            if not inbound.heap:
                return None
            due = inbound.heap[0][0]
        return max(due - LATENCY_SLACK_MS - self.now(), 0.0) / 1000.0

    def _recv_worker_exit(self, inbound: _Inbound) -> None:
        """The connection closed: what it still carried is lost (arrive() says why), and
        what reaches it later too (_deliver_later)."""
        with inbound.reading:
            with inbound.lock:
                inbound.closed = True
                left = [env for _, _, env in sorted(inbound.heap)]
                inbound.heap.clear()
            if self.stopping:
                return
            for env in left:
                self.arrive(env)

    # --- shutdown -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every thread and wait for them; no thread is left behind."""
        if self._large:
            self._large = False
            interpreter.leave()
        self.stopping = True
        self._gate.reopen()  # parked threads see `stopping` and end
        timers = (self._network, self._connector)
        for t in timers:
            t.stop()
        with self._workers_lock:
            workers = list(self._all)
        for w in workers:
            if not w.end_unstarted():
                w.wake()
        for t in timers:
            t.thread.join(JOIN_TIMEOUT_S)
        stuck = [w.name for w in workers if not w.join(JOIN_TIMEOUT_S)]
        stuck += [t.thread.name for t in timers if t.thread.is_alive()]
        threads = self._pool.close()
        idle = sum(1 for t in threads if not t.join(JOIN_TIMEOUT_S))
        if idle:
            stuck.append(f"{idle} pooled thread(s)")
        self.recorder.drain()
        if stuck:
            raise RuntimeError(f"threads did not stop: {', '.join(stuck)}")

    def threads(self) -> list[str]:
        """Names of the threads still running (for tests and `status`); a worker whose
        thread has not started yet has none."""
        with self._workers_lock:
            names = [w.name for w in self._all if w.is_alive() and w.started]
        names += [t.thread.name for t in (self._network, self._connector) if t.thread.is_alive()]
        if self._pool.closed:
            left = self._pool.alive()
            if left:
                names.append(f"{left} pooled thread(s)")
        return names
