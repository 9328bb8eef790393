"""What every runtime does around the cores: ZooKeeper's threads as operations.

A `Host` owns a cluster's nodes - each a `QuorumPeer` core, a `QuorumCnxManager`, durable
state and the bookkeeping of its threads (`hosted.Node`) - plus the in-memory network
between them and the recorder. The work ZooKeeper's threads do is written once, as
operations, here and in the layers `Host` is built on:

* `worker_sender` - FLE.WorkerSender: encode one ToSend, QuorumCnxManager.toSend, connectOne;
* `send_worker` - SendWorker[a->b]: take the payload queued for b and write it to the link;
* `arrive` - RecvWorker[b<-a]: a payload reached b; offer it to b's receive queue;
* `worker_receiver` - FLE.WorkerReceiver: decode one message and step the core with it;
* `main` - the QuorumPeer main thread: lookForLeader's poll, timeouts, the leader/learner
  packets, all one input at a time.

The first three are the election plane's (`electionplane`), the learner<->leader
connections the Zab plane's (`zabplane`), both on the wire of `network`; `held` keeps
messages off their way and lets the user drop or deliver one. This module holds the
nodes' life cycle, the core boundary (`step`), the two threads that step the core, and
the views.

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
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.cnxmanager import QuorumCnxManager
from engine.core.peer.io import (
    ClientWrite,
    DataAction,
    Durable,
    Input,
    LookForLeader,
    Output,
    Receive,
    Timing,
    ZabState,
)
from engine.core.peer.mainthread import next_main_input
from engine.core.peer.outbox import quiet_receive
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import ClusterView, FaultView, NodeView, quorum_count, stable_leader
from engine.core.vote import ServerState, Sid, Vote
from engine.core.wire import UnknownStateError, WireError, decode_notification
from engine.runtime.durable import DurableError, Store
from engine.runtime.held import HeldMessages
from engine.runtime.hosted import Node
from engine.runtime.protocol import Life
from engine.runtime.views import peer_view
from engine.trace.record import durable_json, input_json, output_json, state_fields, state_signature
from engine.trace.recorder import Recorder

_STATE_NAME = {state: state.name for state in ServerState}


@dataclass(slots=True)
class _Summary:
    """The little of a node that stability depends on (a value, not declared frozen: that
    makes each ~1 µs slower to create, and one is made per node after every state change)."""

    sid: Sid
    alive: bool
    paused: bool
    state: ServerState | None
    established: bool
    current_vote: Vote | None


class Host(HeldMessages):
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
        nodes = {
            sid: Node(sid, server.learner_type, stores[sid])
            for sid, server in sorted(qv.all_members.items())
        }
        super().__init__(nodes, recorder or Recorder(), seed)
        self.rng_observer = random.Random(f"{seed}:observer")  # a stream of its own
        self.stopping = False
        self._sorted_nodes = [self.nodes[sid] for sid in sorted(self.nodes)]
        self._stable_cache: tuple[tuple[Any, ...], Sid | None] | None = None

    # --- the runtime's hooks (the others are the network's) -------------------------------

    def timer_changed(self, node: Node) -> None:
        """The main thread's deadline or pending lookForLeader moved."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop what the runtime runs (the threaded runtime's threads)."""

    # --- what the Cluster facade asks (engine.runtime.protocol.Runtime) -------------------

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

    # --- life cycle -----------------------------------------------------------------------

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
                node.core = QuorumPeer(sid, self.qv, durable, self.timing, node.data)
                node.data = node.core.data  # aligned with the durable state (`set` edits it)
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

    # --- the core boundary ----------------------------------------------------------------

    def step(self, node: Node, event: Input, msg: str | None = None) -> Output:
        """Feed one input to a node's core (caller holds node.lock) and carry out the output."""
        core = node.core
        assert core is not None
        now = self.now_rounded()
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
        self.recorder.emit_rounded("state", self.now_rounded(), node.sid, state_fields(core, out))

    def _peer_sees_close(self, peer: Node, sid: Sid) -> None:
        """The peer's end of a connection that `sid` closed under its own lock (a new
        QuorumCnxManager): in the simulator it learns at once."""
        self._election_closed(peer, sid)

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
                self._peer_sees_close(self.nodes[peer], node.sid)
        if out.sends:
            node.sendqueue.extend(out.sends)
            self.wake(node, "sender")
        if out.connect_all:
            for peer in node.qcm.connect_all_sids():
                self.connect_one(node, peer)
        if out.zab:
            for action in out.zab:
                if isinstance(action, DataAction):
                    node.data = node.data.apply(action)  # on disk before what follows
                else:
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

    # --- WorkerReceiver -------------------------------------------------------------------

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

    # --- the main thread ------------------------------------------------------------------

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

    # --- views ----------------------------------------------------------------------------

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
                now_ms=self.now(),
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
                live = node.alive and not node.paused
                if live and core is not None and core.peer_state == ServerState.LOOKING:
                    return None  # stable_leader's answer whatever the others are
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
