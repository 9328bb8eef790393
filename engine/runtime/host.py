"""What every runtime does around the cores: ZooKeeper's threads as operations.

A `Host` owns a cluster's nodes - each a `QuorumPeer` core, a `QuorumCnxManager`, durable
state and the bookkeeping of its threads - plus the in-memory network between them and the
recorder. The work ZooKeeper's threads do is written here once, as operations:

* `worker_sender` - FLE.WorkerSender: encode one ToSend, QuorumCnxManager.toSend, connectOne;
* `send_worker` - SendWorker[a->b]: take the payload queued for b and write it to the link;
* `arrive` - RecvWorker[b<-a]: a payload reached b; offer it to b's receive queue;
* `worker_receiver` - FLE.WorkerReceiver: decode one message and step the core with it;
* `main` - the QuorumPeer main thread: lookForLeader's poll, timeouts, the leader/learner
  packets, all one input at a time.

A runtime decides *when* each operation runs: the simulator from an event heap in virtual
time, the threaded runtime from real threads that block until their queue has work. They
plug in through four methods: `now`, `wake` (an operation has work), `call_later` (the
network's delays) and `timer_changed` (the main thread's deadline moved).

Every core step is recorded with its input and output, in the order each node consumed
its inputs, so that any run replays exactly; messages, drops, deliveries, connections
and state changes are recorded as observations.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.cnxmanager import Message, QuorumCnxManager
from engine.core.peer.io import (
    ClientWrite,
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Durable,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    LookForLeader,
    Output,
    PacketReceived,
    QuorumPacket,
    Receive,
    SendPacket,
    Timing,
    ZabState,
)
from engine.core.peer.mainthread import next_main_input
from engine.core.peer.quorumpeer import QuorumPeer, quiet_receive
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import ClusterView, FaultView, NodeView, quorum_count, stable_leader
from engine.core.vote import LearnerType, ServerState, Sid, ToSend, Vote, zxid_hex
from engine.core.wire import UnknownStateError, WireError, decode_notification, encode_notification
from engine.runtime.durable import DurableError, Store
from engine.runtime.faults import NO_FAULT, FaultTable, LinkFault
from engine.runtime.protocol import Life
from engine.trace.record import (
    durable_json,
    input_json,
    output_json,
    packet_json,
    state_fields,
    state_signature,
    vote_json,
)
from engine.trace.recorder import Recorder

LINK_LATENCY_MS = (0.05, 0.5)
"""Base one-way latency of an in-memory link, drawn uniformly (before any delay fault)."""
_LATENCY_LO, _LATENCY_SPAN = LINK_LATENCY_MS[0], LINK_LATENCY_MS[1] - LINK_LATENCY_MS[0]
"""FaultTable.fate of a link without faults (it draws nothing then)."""
_STATE_NAME = {state: state.name for state in ServerState}


@dataclass
class Node:
    """One server as a runtime hosts it."""

    sid: Sid
    learner_type: LearnerType
    store: Store
    lock: threading.RLock = field(default_factory=threading.RLock)
    core: QuorumPeer | None = None
    qcm: QuorumCnxManager = field(init=False)
    durable: Durable = field(default_factory=Durable)
    alive: bool = False
    paused: bool = False
    forced_timeout: bool = False
    """The `timeout` command asked the main thread to time out now."""
    life: int = 0
    """Incremented at every boot and crash, so stale scheduled work can tell."""
    sendqueue: deque[ToSend] = field(default_factory=deque)
    """FLE.sendqueue, drained by WorkerSender."""
    inbox: deque[Input] = field(default_factory=deque)
    """Main-thread inputs other than lookForLeader's poll (packets, connects, writes)."""
    deadline: float | None = None
    look_at: float | None = None
    """When the main loop enters lookForLeader next (after an observer's delay)."""
    zab_peers: set[Sid] = field(default_factory=set)
    zab_conn: dict[Sid, int] = field(default_factory=dict)
    """Which learner<->leader connection with each peer is the current one."""
    connecting: set[Sid] = field(default_factory=set)
    last_signature: tuple[Any, ...] = ()
    last_event: str = ""

    def __post_init__(self) -> None:
        self.qcm = QuorumCnxManager(self.sid)

    def have_delivered(self) -> bool:
        return self.qcm.have_delivered()

    @property
    def running(self) -> bool:
        return self.alive and not self.paused


def peer_view(
    sid: Sid,
    learner_type: str,
    weight: int,
    alive: bool,
    paused: bool,
    durable: Durable,
    last_event: str,
    core: QuorumPeer | None,
    *,
    recv_queue: int,
    send_queues: tuple[tuple[Sid, int], ...],
    connections: tuple[Sid, ...],
) -> NodeView:
    """One node's NodeView from its core and what surrounds it (live or replayed)."""
    if core is None:
        return NodeView(
            sid=sid,
            learner_type=learner_type,
            weight=weight,
            alive=alive,
            paused=paused,
            current_epoch=durable.current_epoch,
            accepted_epoch=durable.accepted_epoch,
            last_zxid=durable.last_zxid,
            last_event=last_event,
        )
    fle = core.election
    return NodeView(
        sid=sid,
        learner_type=learner_type,
        weight=weight,
        alive=alive,
        paused=paused,
        state=core.peer_state,
        logicalclock=fle.logicalclock,
        proposal=fle.get_vote(),
        current_vote=core.current_vote,
        finalizing=fle.finalizing,
        not_timeout_ms=fle.not_timeout,
        recvset=tuple(sorted(fle.recvset.items())),
        outofelection=tuple(sorted(fle.outofelection.items())),
        fle_recvqueue=len(fle.recvqueue),
        recv_queue=recv_queue,
        send_queues=send_queues,
        connections=connections,
        zab_phase=core.zab_state,
        established=core.zab_state == ZabState.BROADCAST,
        current_epoch=core.durable.current_epoch,
        accepted_epoch=core.durable.accepted_epoch,
        last_zxid=core.durable.last_zxid,
        last_event=last_event,
        election_started_ms=core.election_started_ms,
        election_took_ms=core.election_took_ms,
    )


@dataclass(frozen=True, slots=True)
class _Summary:
    """The little of a node that stability depends on."""

    sid: Sid
    alive: bool
    paused: bool
    state: ServerState | None
    established: bool
    current_vote: Vote | None


@dataclass(slots=True)
class Envelope:
    """A message on the in-memory network (a value: never changed once made; not declared
    frozen because that makes every message ~1.5 µs slower to create)."""

    msg_id: str
    src: Sid
    dst: Sid
    payload: bytes | QuorumPacket
    src_life: int
    dst_life: int
    conn: int = 0
    """The learner<->leader connection a packet was written to (Node.zab_conn)."""


class Host:
    """The cluster's nodes, network and recorder, and the operations of ZooKeeper's threads.
    Answers engine.runtime.protocol.Runtime for the Cluster facade."""

    kind = ""
    """The trace header's `runtime` (each subclass names itself)."""

    def __init__(
        self,
        qv: QuorumVerifier,
        timing: Timing,
        stores: Mapping[Sid, Store],
        recorder: Recorder | None = None,
        seed: int = 0,
    ) -> None:
        self.qv = qv
        self.timing = timing
        self.config_text = qv.to_string()
        self.recorder = recorder or Recorder()
        self.nodes = {
            sid: Node(sid, server.learner_type, stores[sid])
            for sid, server in sorted(qv.all_members.items())
        }
        self.faults = FaultTable()
        self.net_lock = threading.RLock()
        self.seed = seed
        # One seeded stream per purpose (never the global random): a change in how often
        # one purpose draws does not shift the others.
        self.rng_net = random.Random(f"{seed}:net")
        self.rng_latency = random.Random(f"{seed}:latency")
        self.rng_observer = random.Random(f"{seed}:observer")
        self._ids = {"m": 0, "p": 0}
        self._ids_lock = threading.Lock()
        self.link_fifo: dict[tuple[Sid, Sid, str], float] = {}
        """Last arrival time per directed link and plane: TCP keeps order."""
        self._zab_conns = itertools.count(1)
        """Numbers learner<->leader connections as they are accepted (Node.zab_conn)."""
        self.held: dict[tuple[Sid, Sid], deque[Envelope]] = {}
        self.in_flight: dict[str, list[Envelope]] = {}
        """Messages on their way (every copy, by id), for `drop`/`deliver m<id>`."""
        self.cancelled: dict[str, int] = {}
        """Copies of messages taken off the wire whose scheduled arrival must be ignored."""
        """Messages a `hold` fault keeps in flight, per directed link."""
        self.stopping = False
        self._sorted_nodes = [self.nodes[sid] for sid in sorted(self.nodes)]
        self._stable_cache: tuple[tuple[Any, ...], Sid | None] | None = None

    # --- the runtime's hooks ------------------------------------------------------------------

    def now(self) -> float:
        raise NotImplementedError

    def wake(self, node: Node, what: str, peer: Sid | None = None) -> None:
        """Operation `what` ("sender", "receiver", "main", "send_worker") has work."""
        raise NotImplementedError

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` at time `t_ms` on the runtime's clock (at once if it passed);
        calls due at the same time run in the order they were made."""
        raise NotImplementedError

    def call_later(self, delay_ms: float, fn: Callable[..., None], *args: Any) -> None:
        self.call_at(self.now() + max(delay_ms, 0.0), fn, *args)

    def connect_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        """`call_at` for opening an election connection (the threaded runtime opens them
        on a thread of their own, as ZooKeeper's connection executor does)."""
        self.call_at(t_ms, fn, *args)

    def timer_changed(self, node: Node) -> None:
        """The main thread's deadline or pending lookForLeader moved."""
        raise NotImplementedError

    def connection_up(self, a: Node, b: Node, lives: tuple[int, int]) -> None:
        """An election connection a<->b opened while the nodes were in these lives (the
        threaded runtime starts the connection's workers here)."""

    def stop(self) -> None:
        """Stop what the runtime runs (the threaded runtime's threads)."""

    # --- what the Cluster facade asks (engine.runtime.protocol.Runtime) ------------------------

    @property
    def sids(self) -> list[Sid]:
        return sorted(self.nodes)

    def describe(self) -> dict[str, Any]:
        return {}

    def notes(self) -> list[str]:
        return []

    def life(self, sid: Sid) -> Life:
        node = self.nodes[sid]
        return "down" if not node.alive else "paused" if node.paused else "running"

    def stored(self, sid: Sid) -> Durable | None:
        return self.nodes[sid].store.stored()

    def save_durable(self, sid: Sid, durable: Durable) -> None:
        node = self.nodes[sid]
        node.store.save(durable)
        node.durable = durable

    def show_durable(self, sid: Sid, durable: Durable) -> None:
        self.nodes[sid].durable = durable

    def force_timeout(self, sid: Sid) -> bool:
        node = self.nodes[sid]
        with node.lock:
            core = node.core
            if core is None or not core.election.in_election or not node.running:
                return False
            node.forced_timeout = True  # recorded as Timeout(forced=True)
            self.wake(node, "main")
            return True

    def add_fault(self, fault: LinkFault) -> None:
        with self.net_lock:
            self.faults.add(fault)

    def remove_fault(self, fault_id: str) -> LinkFault | None:
        with self.net_lock:
            return self.faults.remove(fault_id)

    def clear_faults(self) -> list[LinkFault]:
        with self.net_lock:
            return self.faults.clear()

    # --- recording ------------------------------------------------------------------------------

    def emit(self, kind: str, node: Sid | None = None, **fields: Any) -> None:
        self.recorder.emit_fields(kind, self.now(), node, fields)

    def _next_id(self, prefix: str) -> str:
        with self._ids_lock:
            n = self._ids[prefix] = self._ids[prefix] + 1
        return f"{prefix}{n}"

    # --- life cycle --------------------------------------------------------------------------

    def boot(self, sid: Sid) -> None:
        """QuorumPeer.start: load durable state, start the election (main loop: LOOKING)."""
        problems = self.boot_many([sid])
        if problems:
            raise problems[sid]

    def boot_many(self, sids: list[Sid]) -> dict[Sid, DurableError]:
        """Start several nodes at once: every one is ready (state loaded, threads waiting)
        before the first enters lookForLeader, as if their processes started together.
        A node whose durable state is inconsistent refuses to start; the others start.

        The nodes' locks are held from the first until every node has entered
        lookForLeader (taken in sid order, as everywhere): no thread of a node can take a
        notification before its `boot` event, which replay needs; and nobody sends before
        all have entered lookForLeader - otherwise the first nodes' threads are busy
        opening connections while the last ones still boot, and each later node, with a
        higher sid and a better vote, makes all the others change their vote once more
        (O(N^3) notifications at N = 51)."""
        problems: dict[Sid, DurableError] = {}
        ready = []
        nodes = [self.nodes[sid] for sid in sids]
        with contextlib.ExitStack() as locks:
            for node in sorted({n.sid: n for n in nodes}.values(), key=lambda n: n.sid):
                locks.enter_context(node.lock)
            for node in nodes:
                sid = node.sid
                if node.alive:
                    continue
                try:
                    durable = node.store.load()
                except DurableError as e:
                    problems[sid] = e
                    continue
                node.durable = durable
                node.core = QuorumPeer(sid, self.qv, durable, self.timing)
                node.qcm = QuorumCnxManager(sid)
                node.alive, node.paused = True, False
                node.life += 1
                node.sendqueue.clear()
                node.inbox.clear()
                node.zab_peers.clear()
                node.connecting.clear()
                node.deadline, node.look_at = None, None
                node.last_signature = ()
                self.started(node)
                ready.append(node)
            for node in ready:
                if node.core is None:
                    continue
                self.emit("boot", node.sid, durable=durable_json(node.durable))
                self.step(node, LookForLeader())
        return problems

    def started(self, node: Node) -> None:
        """A node is about to run (the threaded runtime starts its threads here)."""

    def crash(self, sid: Sid, reason: str = "crash") -> None:
        """Threads stop, volatile state is lost, connections close (peers see EOF at once)."""
        node = self.nodes[sid]
        with node.lock:
            if not node.alive:
                return
            node.alive = False
            node.paused = False
            node.life += 1
            node.core = None
            node.deadline = node.look_at = None
            node.sendqueue.clear()
            node.inbox.clear()
            self._drop_unsent(node, "crash")
            election_peers, _ = node.qcm.halt()
            zab_peers = sorted(node.zab_peers)
            node.zab_peers.clear()
            node.connecting.clear()
            node.last_event = reason
            self.emit("stop", sid, reason=reason)
            self.timer_changed(node)
        for peer in election_peers:
            self._election_closed(self.nodes[peer], sid)
        for peer in zab_peers:
            self._zab_closed(self.nodes[peer], sid)

    def pause(self, sid: Sid) -> None:
        node = self.nodes[sid]
        with node.lock:
            if not node.alive or node.paused:
                return
            node.paused = True
            self.emit("pause", sid)
            self.timer_changed(node)

    def resume(self, sid: Sid) -> None:
        node = self.nodes[sid]
        with node.lock:
            if not node.paused:
                return
            node.paused = False
            self.emit("resume", sid)
            self.timer_changed(node)
            for what in ("sender", "receiver", "main"):
                self.wake(node, what)
            for peer in sorted(node.qcm.sender_worker_map):
                self.wake(node, "send_worker", peer)

    # --- the core boundary -----------------------------------------------------------------

    def step(self, node: Node, event: Input, msg: str | None = None) -> Output:
        """Feed one input to a node's core (caller holds node.lock) and carry out the output."""
        core = node.core
        assert core is not None
        now = round(self.now(), 3)
        out = core.step(event, now)
        config = self.config_text
        fields: dict[str, Any] = {
            "input": input_json(event, config),
            "output": output_json(out, config),
        }
        if msg:
            fields["msg"] = msg
        self.recorder.emit_rounded("step", now, node.sid, fields)
        if not quiet_receive(out):  # a notification only queued changes no state
            self._record_state(node, core, out)
        self._apply(node, out)
        return out

    def _record_state(self, node: Node, core: QuorumPeer, out: Output) -> None:
        signature = state_signature(core)
        if signature == node.last_signature:
            return
        node.last_signature = signature
        node.last_event = f"{core.peer_state.name} {core.zab_state.lower()}"
        self.recorder.emit_fields("state", self.now(), node.sid, state_fields(core, out))

    def _apply(self, node: Node, out: Output) -> None:
        if out.persist is not None:
            node.store.save(out.persist, node.durable)
            node.durable = out.persist
        if out.restart_election:
            # QuorumPeer.startLeaderElection: a new QuorumCnxManager replaces the old one.
            self._drop_unsent(node, "closed")
            peers, _ = node.qcm.halt()
            node.qcm = QuorumCnxManager(node.sid)
            for peer in peers:
                self._election_closed(self.nodes[peer], node.sid)
        if out.sends:
            node.sendqueue.extend(out.sends)
            self.wake(node, "sender")
        if out.connect_all:
            for peer in node.qcm.connect_all_sids():
                self.connect_one(node, peer)
        if out.zab:
            for action in out.zab:
                self._zab_action(node, action)
        core = node.core
        assert core is not None
        node.deadline = core.deadline
        if out.election_delay_max_ms is not None:
            delay = 0.0
            if out.election_delay_max_ms > 0:
                delay = self.rng_observer.uniform(0, out.election_delay_max_ms)
            node.look_at = self.now() + delay
        self.timer_changed(node)
        fle = core.election
        if node.inbox or (fle.in_election and fle.recvqueue):
            self.wake(node, "main")

    # --- WorkerSender / QuorumCnxManager -------------------------------------------------------

    def worker_sender(self, node: Node) -> bool:
        """Encode one ToSend and queue it (QuorumCnxManager.toSend); False when idle."""
        with node.lock:
            if not node.running or not node.sendqueue:
                return False
            m = node.sendqueue.popleft()
            msg_id = self._next_id("m")
            self.recorder.emit_fields("send", self.now(), node.sid, {"msg": msg_id, "to": m.sid})
            payload = encode_notification(m)
            if m.sid == node.sid:
                self._loopback(node, msg_id, payload)
                return True
            evicted = node.qcm.to_send(m.sid, payload, msg_id)
            if evicted is not None:
                self._drop(node.sid, evicted.msg_id, "capacity", evicted.sid, m.sid)
            self.connect_one(node, m.sid)
            if m.sid in node.qcm.sender_worker_map:
                self.wake(node, "send_worker", m.sid)
            return True

    def _loopback(self, node: Node, msg_id: str, payload: bytes) -> None:
        """QuorumCnxManager.toSend to ourselves: no wire, straight into our receive queue
        (our own vote comes back to us); a full queue evicts its oldest message."""
        self.recorder.emit_fields(
            "deliver", self.now(), node.sid, {"msg": msg_id, "from": node.sid}
        )
        evicted = node.qcm.add_to_recv_queue(Message(payload, node.sid, msg_id))
        if evicted is not None:
            self._drop(node.sid, evicted.msg_id, "recv_capacity", evicted.sid, node.sid)
        self.wake(node, "receiver")

    def _drop_unsent(self, node: Node, reason: str) -> None:
        """The messages waiting in a QuorumCnxManager's send queues die with it (a crash, or
        a new QuorumCnxManager for a new election)."""
        for peer, queue in sorted(node.qcm.queue_send_map.items()):
            for message in queue.clear():
                self._drop(node.sid, message.msg_id, reason, node.sid, peer)

    def _drop(self, at: Sid, msg_id: str, reason: str, src: Sid, dst: Sid, **extra: Any) -> None:
        fields = {"msg": msg_id, "reason": reason, "from": src, "to": dst}
        if extra:
            fields.update(extra)
        self.recorder.emit_fields("drop", self.now(), at, fields)

    def connect_one(self, node: Node, peer: Sid) -> None:
        """QuorumCnxManager.connectOne: open an election connection unless one exists or is
        being opened. It needs both nodes running and the link open both ways (a TCP
        handshake); otherwise nothing happens and the message waits in its queue."""
        if peer in node.qcm.sender_worker_map or peer in node.connecting or peer == node.sid:
            return
        other = self.nodes.get(peer)
        if other is None or not other.running or not node.running:
            return
        with self.net_lock:
            if self.faults.blocked(node.sid, peer) or self.faults.blocked(peer, node.sid):
                return
        node.connecting.add(peer)
        due = self.now() + 2 * self._latency(node.sid, peer)
        self.connect_at(due, self._connection_opened, node.sid, peer, node.life, other.life)

    def _connection_opened(self, a: Sid, b: Sid, life_a: int, life_b: int) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        first, second = (na, nb) if a < b else (nb, na)  # lock order: smaller sid first
        with first.lock, second.lock:
            na.connecting.discard(b)
            if na.life != life_a or nb.life != life_b or not na.running or not nb.running:
                return
            if b in na.qcm.sender_worker_map:
                return
            self.emit("conn", a, peer=b, up=True, plane="election")
            for x, y in ((na, nb), (nb, na)):
                resend = x.qcm.sender_worker_started(y.sid)
                if resend is not None:
                    # SendWorker.run: an empty queue re-sends the last message (a duplicate
                    # on reconnect is intended and harmless).
                    msg_id = self._next_id("m")
                    self.emit("send", x.sid, msg=msg_id, to=y.sid, resend=resend.msg_id)
                    self._transmit(x, y.sid, resend.payload, msg_id)
            self.wake(na, "send_worker", b)
            self.wake(nb, "send_worker", a)
            lives = (na.life, nb.life)
        # Outside the locks: starting threads is slow and the nodes need not wait for it.
        self.connection_up(na, nb, lives)

    def _election_closed(self, node: Node, peer: Sid) -> None:
        with node.lock:
            if peer in node.qcm.sender_worker_map:
                node.qcm.sender_worker_finished(peer)
                if node.alive:
                    self.emit("conn", node.sid, peer=peer, up=False, plane="election")

    def send_worker(self, node: Node, peer: Sid) -> bool:
        """SendWorker[node->peer]: write the queued payload to the link; False when idle."""
        with node.lock:
            if not node.running or peer not in node.qcm.sender_worker_map:
                return False
            message = node.qcm.poll_send_queue(peer)
            if message is None:
                return False
            self._transmit(node, peer, message.payload, message.msg_id)
            return True

    # --- continuing a run from a replayed state (engine.replay.fork) ------------------------------

    def continue_ids(self, messages: int, packets: int) -> None:
        """Number new messages after the parent run's (`m<n>`, `p<n>` stay unique)."""
        with self._ids_lock:
            self._ids["m"] = max(self._ids["m"], messages)
            self._ids["p"] = max(self._ids["p"], packets)

    def put_in_flight(self, env: Envelope, plane: str) -> None:
        """A message that was on the wire arrives after a fresh latency; a loopback one,
        caught between its `send` and its `deliver`, is delivered now."""
        if env.src == env.dst and isinstance(env.payload, bytes):
            node = self.nodes[env.dst]
            with node.lock:
                self._loopback(node, env.msg_id, env.payload)
            return
        self._schedule_arrival(env, plane, 0.0)

    def eof_later(self, sid: Sid, peer: Sid) -> None:
        """`sid` sees EOF on its learner<->leader connection with `peer` after a latency."""
        self.call_later(
            self._latency(peer, sid), self._zab_closed_later, sid, peer, self.nodes[sid].life
        )

    def redial(self, learner: Node, leader: Sid) -> None:
        """The learner's connection attempt to `leader` starts again."""
        self._zab_connect(learner, leader)

    def _latency(self, a: Sid, b: Sid) -> float:
        with self.net_lock:
            # random.uniform(lo, hi) is lo + (hi - lo) * random(): the same draw, inlined.
            return round(_LATENCY_LO + _LATENCY_SPAN * self.rng_latency.random(), 3)

    def _transmit(self, node: Node, peer: Sid, payload: bytes | QuorumPacket, msg_id: str) -> None:
        """Put a message on the wire: the link's faults decide its fate."""
        plane = "quorum" if isinstance(payload, QuorumPacket) else "election"
        dst = self.nodes[peer]
        conn = node.zab_conn.get(peer, 0) if plane == "quorum" else 0
        env = Envelope(msg_id, node.sid, peer, payload, node.life, dst.life, conn)
        with self.net_lock:
            faults = self.faults
            if not faults.faults:
                fate = NO_FAULT
            elif plane == "quorum":
                fate = faults.stream_fate(node.sid, peer, self.rng_net)
            else:
                fate = faults.fate(node.sid, peer, self.rng_net)
            # A stream's packet waits behind its stalled ones still held after a heal (the
            # threaded runtime sends while resume_streams drains them): TCP keeps order.
            if fate.dropped is None and (fate.held or self._stalled(env)):
                self.held.setdefault((node.sid, peer), deque()).append(env)
                return
        if fate.dropped is not None:
            self._drop(node.sid, msg_id, fate.dropped, node.sid, peer, fault=fate.fault_id)
            return
        for copy, extra in enumerate(fate.delays_ms):
            if copy:  # a duplicate is a message of its own: it is delivered or dropped too
                dup_id = self._next_id(msg_id[0])
                self.emit("send", node.sid, msg=dup_id, to=peer, dup=msg_id)
                env = Envelope(dup_id, node.sid, peer, payload, node.life, dst.life, conn)
            self._schedule_arrival(env, plane, extra)

    def _schedule_arrival(self, env: Envelope, plane: str, extra_ms: float) -> None:
        with self.net_lock:
            self.in_flight.setdefault(env.msg_id, []).append(env)
        self._deliver_later(env, plane, extra_ms)

    def _deliver_later(self, env: Envelope, plane: str, extra_ms: float) -> None:
        self.call_at(self._arrival_due(env, plane, extra_ms), self._arrival_fn(plane), env)

    def _landed(self, env: Envelope) -> bool:
        """`env` reached its receiver: False if the user dropped or delivered it meanwhile."""
        with self.net_lock:
            left = self.cancelled.get(env.msg_id)
            if left:
                if left == 1:
                    del self.cancelled[env.msg_id]
                else:
                    self.cancelled[env.msg_id] = left - 1
                return False
            copies = self.in_flight.get(env.msg_id)
            if copies:
                copies.pop()
                if not copies:
                    del self.in_flight[env.msg_id]
            return True

    def take_message(self, msg_id: str) -> list[Envelope]:
        """Take a message (every copy) off the wire - held or in flight - for the user to
        drop or deliver now; [] if it is in neither place."""
        with self.net_lock:
            found = self.in_flight.pop(msg_id, [])
            if found:
                self.cancelled[msg_id] = self.cancelled.get(msg_id, 0) + len(found)
            for queue in self.held.values():
                for env in [e for e in queue if e.msg_id == msg_id]:
                    queue.remove(env)
                    found.append(env)
        return found

    def drop_message(self, msg_id: str) -> bool:
        """The user drops one message; a learner<->leader packet breaks its connection."""
        envs = self.take_message(msg_id)
        for env in envs:
            self._drop(env.src, env.msg_id, "user", env.src, env.dst)
            if isinstance(env.payload, QuorumPacket):
                self._zab_closed(self.nodes[env.src], env.dst)
                self._zab_closed(self.nodes[env.dst], env.src)
        return bool(envs)

    def deliver_message(self, msg_id: str) -> bool:
        """The user delivers one message now (in order on its link for a stream)."""
        envs = self.take_message(msg_id)
        for env in envs:
            if isinstance(env.payload, QuorumPacket):
                self._zab_arrive(env)
            else:
                self._arrive(env)
        return bool(envs)

    def _arrival_due(self, env: Envelope, plane: str, extra_ms: float) -> float:
        """When `env` reaches the other end: now + the link's latency + `extra_ms`, and
        not before what was sent on the link before it (TCP keeps order) unless a
        delay or reorder fault holds it back."""
        with self.net_lock:
            base = round(_LATENCY_LO + _LATENCY_SPAN * self.rng_latency.random(), 3)
            due = round(self.now() + base + extra_ms, 3)
            key = (env.src, env.dst, plane)
            if extra_ms < 1.0 or plane != "election":
                # TCP keeps order: not before what went on the link before it.
                due = max(due, self.link_fifo.get(key, 0.0))
                self.link_fifo[key] = due
            # A notification held back by a per-message fault (reorder, delay with jitter)
            # sets no floor: later ones may overtake it, which is what the fault is for.
        return due

    def _arrival_fn(self, plane: str) -> Callable[[Envelope], None]:
        return self.arrive if plane == "election" else self.zab_arrive

    def release(self, a: Sid, b: Sid, count: int | None = None) -> int:
        """Let held messages on a->b go (all, or the first `count`)."""
        return self._drain(a, b, count, quorum_only=False)

    def _stalled(self, env: Envelope) -> bool:
        """Whether packets of `env`'s learner<->leader stream wait in the held queue (the
        caller holds net_lock)."""
        queue = self.held.get((env.src, env.dst))
        return (
            isinstance(env.payload, QuorumPacket)
            and queue is not None
            and any(isinstance(e.payload, QuorumPacket) for e in queue)
        )

    def _drain(self, a: Sid, b: Sid, count: int | None, quorum_only: bool) -> int:
        """Send held messages on a->b on their way in order (the first `count`, or all; only
        learner<->leader packets, and only while the link is open, if `quorum_only`). A
        packet leaves the queue when its arrival is scheduled, both under net_lock, so one
        that `_transmit` queues behind it meanwhile arrives after it."""
        moved = 0
        while count is None or moved < count:
            with self.net_lock:
                if quorum_only and (self.faults.blocked(a, b) or self.faults.held(a, b)):
                    break
                queue = self.held.get((a, b), deque())
                env = next(
                    (e for e in queue if not quorum_only or isinstance(e.payload, QuorumPacket)),
                    None,
                )
                if env is None:
                    break
                queue.remove(env)
                stream = isinstance(env.payload, QuorumPacket)
                if stream:  # takes only net_lock (again) and the runtime timer lock
                    self._schedule_arrival(env, "quorum", 0.0)
            if not stream:  # a notification's RecvWorker is woken: outside net_lock
                self._schedule_arrival(env, "election", 0.0)
            moved += 1
        return moved

    def discard_held(self, a: Sid, b: Sid, count: int | None = None) -> int:
        """Drop held messages on a->b (all, or the first `count`), as the user asked. A
        packet cannot be taken out of a TCP stream: dropping a learner<->leader packet
        breaks that connection (both ends see EOF)."""
        with self.net_lock:
            queue = self.held.get((a, b), deque())
            n = len(queue) if count is None else min(count, len(queue))
            envs = [queue.popleft() for _ in range(n)]
        for env in envs:
            self._drop(env.src, env.msg_id, "user", env.src, env.dst)
            if isinstance(env.payload, QuorumPacket):
                self._zab_closed(self.nodes[env.src], env.dst)
                self._zab_closed(self.nodes[env.dst], env.src)
        return n

    def resume_streams(self) -> int:
        """Learner<->leader streams stalled by a partition or a hold go on, in order, on
        every link that is open again (after a heal); returns how many packets moved."""
        with self.net_lock:
            links = list(self.held)
        return sum(self._drain(a, b, None, quorum_only=True) for a, b in links)

    # --- RecvWorker / WorkerReceiver --------------------------------------------------------

    def arrive(self, env: Envelope) -> None:
        """RecvWorker: a payload reached `env.dst`; it joins the receive queue (capacity 100)."""
        if self._landed(env):
            self._arrive(env)

    def _arrive(self, env: Envelope) -> None:
        node = self.nodes[env.dst]
        with node.lock:
            if not self._connected(node, env, node.qcm.sender_worker_map):
                return
            assert isinstance(env.payload, bytes)
            self.recorder.emit_fields(
                "deliver", self.now(), env.dst, {"msg": env.msg_id, "from": env.src}
            )
            evicted = node.qcm.add_to_recv_queue(Message(env.payload, env.src, env.msg_id))
            if evicted is not None:
                self._drop(env.dst, evicted.msg_id, "recv_capacity", evicted.sid, env.dst)
            self.wake(node, "receiver")

    def _connected(self, node: Node, env: Envelope, peers: set[Sid]) -> bool:
        """Whether the connection `env` travelled on still exists at its destination."""
        if node.alive and node.life == env.dst_life and self.nodes[env.src].life == env.src_life:
            if env.src in peers:
                return True
            reason = "closed"
        else:
            reason = "crash"
        self._drop(env.dst, env.msg_id, reason, env.src, env.dst)
        return False

    def worker_receiver(self, node: Node) -> bool:
        """Decode one received message and step the core with it; False when idle."""
        with node.lock:
            if not node.running:
                return False
            message = node.qcm.poll_recv_queue()
            if message is None:
                return False
            try:
                n = decode_notification(message.payload, message.sid)
            except UnknownStateError as e:
                self._drop(
                    node.sid, message.msg_id, "unknown_state", message.sid, node.sid, detail=str(e)
                )
                return True
            except WireError as e:
                self._drop(
                    node.sid,
                    message.msg_id,
                    "malformed",
                    message.sid,
                    node.sid,
                    detail=str(e),
                    payload=message.payload.hex(),
                )
                return True
            node.last_event = f"recv {_STATE_NAME[n.state]} leader={n.leader} from n{n.sid}"
            self.step(node, Receive(n), msg=message.msg_id)
            return True

    # --- the main thread -------------------------------------------------------------------

    def main(self, node: Node) -> bool:
        """Take the main thread's next input, if one is due; False when it must wait."""
        with node.lock:
            core = node.core
            if not node.running or core is None:
                return False
            event = next_main_input(core, node, self.now())
            if event is None:
                return False
            self.step(node, event)
            return True

    def client_write(self, sid: Sid, count: int) -> None:
        """The core commits later: `committed`/`write_error` come in its step outputs."""
        node = self.nodes[sid]
        with node.lock:
            node.inbox.append(ClientWrite(count))
            self.wake(node, "main")

    # --- the learner <-> leader connection ----------------------------------------------------

    def _zab_action(self, node: Node, action: Any) -> None:
        if isinstance(action, SendPacket):
            if action.to in node.zab_peers:
                msg_id = self._next_id("p")
                self.emit(
                    "zsend", node.sid, msg=msg_id, to=action.to, packet=packet_json(action.packet)
                )
                self._transmit(node, action.to, action.packet, msg_id)
        elif isinstance(action, ConnectToLeader):
            self._zab_connect(node, action.leader)
        elif isinstance(action, ClosePeer) and action.peer in node.zab_peers:
            node.zab_peers.discard(action.peer)
            self.emit("conn", node.sid, peer=action.peer, up=False, plane="quorum")
            peer = self.nodes[action.peer]
            self.call_later(
                self._latency(node.sid, peer.sid),
                self._zab_closed_later,
                peer.sid,
                node.sid,
                peer.life,
            )

    def _zab_connect(self, learner: Node, leader_sid: Sid) -> None:
        """The learner dials the leader's quorum port (Learner.connectToLeader)."""
        leader = self.nodes[leader_sid]
        with self.net_lock:
            cut = self.faults.blocked(learner.sid, leader_sid) or self.faults.blocked(
                leader_sid, learner.sid
            )
        if cut is not None or (leader.alive and leader.paused):
            # A black hole: the connect attempt hangs until its timeout.
            delay = float(self.timing.init_limit * self.timing.tick_time_ms)
            self.call_later(
                delay, self._zab_connect_result, learner.sid, leader_sid, learner.life, False
            )
            return
        self.call_later(
            2 * self._latency(learner.sid, leader_sid),
            self._zab_accept,
            learner.sid,
            leader_sid,
            learner.life,
        )

    def _zab_accept(self, learner_sid: Sid, leader_sid: Sid, learner_life: int) -> None:
        leader = self.nodes[leader_sid]
        with leader.lock:
            core = leader.core
            listening = (
                leader.running and core is not None and core.peer_state == ServerState.LEADING
            )
            conn = next(self._zab_conns)
            if listening:
                leader.zab_peers.add(learner_sid)
                leader.zab_conn[learner_sid] = conn
                self.emit("conn", leader_sid, peer=learner_sid, up=True, plane="quorum")
        self._zab_connect_result(learner_sid, leader_sid, learner_life, listening, conn)

    def _zab_connect_result(
        self, learner_sid: Sid, leader_sid: Sid, life: int, ok: bool, conn: int = 0
    ) -> None:
        learner = self.nodes[learner_sid]
        with learner.lock:
            if learner.life != life or not learner.alive:
                return
            if ok:
                learner.zab_peers.add(leader_sid)
                learner.zab_conn[leader_sid] = conn
                learner.inbox.append(LearnerConnected(leader_sid))
            else:
                learner.inbox.append(LearnerConnectFailed(leader_sid))
            self.wake(learner, "main")

    def zab_arrive(self, env: Envelope) -> None:
        if self._landed(env):
            self._zab_arrive(env)

    def _zab_arrive(self, env: Envelope) -> None:
        node = self.nodes[env.dst]
        with node.lock:
            assert isinstance(env.payload, QuorumPacket)
            if not self._connected(node, env, node.zab_peers):
                return
            if node.zab_conn.get(env.src, 0) != env.conn:
                # Written to a connection that has closed since: TCP never hands its bytes
                # to a later connection between the same two servers.
                self._drop(env.dst, env.msg_id, "closed", env.src, env.dst)
                return
            self.emit("zdeliver", env.dst, msg=env.msg_id, **{"from": env.src})
            node.inbox.append(PacketReceived(env.src, env.payload))
            self.wake(node, "main")

    def _zab_closed_later(self, sid: Sid, peer: Sid, life: int) -> None:
        node = self.nodes[sid]
        if node.life == life:
            self._zab_closed(node, peer)

    def _zab_closed(self, node: Node, peer: Sid) -> None:
        """EOF on the learner<->leader connection."""
        with node.lock:
            if peer not in node.zab_peers:
                return
            node.zab_peers.discard(peer)
            if node.alive:
                self.emit("conn", node.sid, peer=peer, up=False, plane="quorum")
                node.inbox.append(Disconnected(peer))
                self.wake(node, "main")

    # --- views ----------------------------------------------------------------------------------

    def node_view(self, node: Node) -> NodeView:
        with node.lock:
            qcm = node.qcm
            return peer_view(
                node.sid,
                node.learner_type.word,
                self._weight(node.sid),
                node.alive,
                node.paused,
                node.durable,
                node.last_event,
                node.core,
                recv_queue=len(qcm.recv_queue),
                send_queues=tuple((s, len(q)) for s, q in sorted(qcm.queue_send_map.items())),
                connections=tuple(sorted(qcm.sender_worker_map)),
            )

    def _weight(self, sid: Sid) -> int:
        try:
            return self.qv.weight(sid)
        except KeyError:
            return 0

    def stable_leader(self) -> Sid | None:
        """ClusterView.stable's answer without building views (the monitor and every `wait
        until stable` ask it after each state change).

        Cached: what it depends on (alive, paused, the core, and its state, zab phase and
        vote - which every step records in `last_signature`, replaced when they change)
        is compared by identity first, and only a change recomputes the answer."""
        nodes = self._sorted_nodes
        key = tuple((n.alive, n.paused, n.core, n.last_signature) for n in nodes)
        cached = self._stable_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        leader = self._stable_leader(nodes)
        self._stable_cache = (key, leader)
        return leader

    def _stable_leader(self, nodes: list[Node]) -> Sid | None:
        summaries = []
        for node in nodes:
            sid = node.sid
            with node.lock:
                core = node.core
                summaries.append(
                    _Summary(
                        sid,
                        node.alive,
                        node.paused,
                        core.peer_state if core is not None else None,
                        core is not None and core.zab_state == ZabState.BROADCAST,
                        core.current_vote if core is not None else None,
                    )
                )
        return stable_leader(summaries)

    def view(self) -> ClusterView:
        nodes = tuple(self.node_view(self.nodes[sid]) for sid in sorted(self.nodes))
        with self.net_lock:
            faults = tuple(
                FaultView(f.fault_id, f.text, f.sids) for f in self.faults.faults.values()
            )
        return ClusterView(
            t_ms=self.now(),
            seq=self.recorder.seq,
            nodes=nodes,
            faults=faults,
            messages=self.recorder.counts,
            quorum=quorum_count(self.qv, nodes),
        )


def snapshot_json(view: ClusterView) -> dict[str, Any]:
    """The `snapshot` event body: a summary of every node plus stability."""
    nodes = []
    for n in view.nodes:
        d: dict[str, Any] = {"sid": n.sid, "alive": n.alive, "paused": n.paused}
        if n.state is not None:
            d["state"] = n.state.name
            d["logicalclock"] = n.logicalclock
            if n.current_vote is not None:
                d["vote"] = vote_json(n.current_vote)
            d["established"] = n.established
        d["current_epoch"] = n.current_epoch
        d["last_zxid"] = zxid_hex(n.last_zxid)
        nodes.append(d)
    return {"nodes": nodes, "stable": view.stable, "leader": view.leader}
