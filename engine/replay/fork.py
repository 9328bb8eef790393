"""Fork: continue a replayed run, from any step, as a live simulated cluster.

`fork(replayer)` builds a `Cluster` on the simulator whose nodes start from the replayed
state at the replayer's position: the replayed `QuorumPeer` cores themselves (clones), the
reconstructed QuorumCnxManager queues, connections and last-sent messages, WorkerSender's
queue, each main thread's inbox and deadline, paused and crashed nodes, the active link
faults (with their remaining `for=` time) and held messages. Messages that were on the
wire are delivered after fresh latencies drawn from the fork's seed. The new trace's
header names its parent (`"parent": {"trace": path, "seq": n}`); its clock, message ids
and fault ids continue the parent's, so replaying (and verifying) the fork replays the
parent up to seq n first and then goes on with the fork's own events.

A fork is live like `zkfle --sim`, halted at the step it was taken at: `run` lets its
virtual time follow the wall clock x `speed` (the cluster's pacer), `halt` stops it, and
`wait`/`step` move it as in a script.

What cannot be carried over is work the parent's runtime had scheduled but not recorded:
an election connection being opened (the next send or connectAll opens it again), a
learner's pending connect to its leader (dialled again), an EOF on its way (delivered at
once), an observer's random delay before re-electing (none), timed restarts and resumes
of `crash ... for=` / `pause ... for=` (they do not happen), client writes not yet taken.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.cnxmanager import Message, QuorumCnxManager
from engine.core.config import QuorumPeerConfig, to_zoo_cfg
from engine.core.peer.io import LearnerConnected, LearnerConnectFailed, ZabItem
from engine.core.vote import ToSend
from engine.core.wire import encode_notification
from engine.replay.parents import parent_prefix
from engine.replay.state import ClusterState, rebuild
from engine.replay.tracked import Msg
from engine.runtime.hosted import Envelope, Node
from engine.runtime.sim import Simulation
from engine.trace.format import Event
from engine.trace.record import state_signature

__all__ = ["ForkError", "fork", "fork_state"]


class ForkError(Exception):
    """The replayed state cannot continue as a live cluster (says why)."""


class Replayed(Protocol):
    """What a fork takes from a replay (engine.replay.player.Replayer): the trace and its
    header, the position with a copy of the reconstructed cluster there, and the events."""

    path: str
    header: dict[str, Any]

    def snapshot(self) -> tuple[int, ClusterState]: ...

    def stream(self, lo: int, hi: int) -> Iterator[Event]: ...


def fork(
    replayer: Replayed,
    seed: int | None = None,
    trace_path: str | os.PathLike[str] | None = None,
    *,
    label: str = "fork",
) -> Cluster:
    """A live simulated cluster continuing from `replayer.position`, recording a new trace
    (default `traces/<time>-fork.jsonl`) whose header names the replayed trace as parent.
    `seed` (default: the parent's) seeds the fork's latencies, scheduling and faults."""
    runtime = replayer.header.get("runtime")
    if runtime in ("imported", "zookeeper"):
        raise ForkError(
            f"{'an imported' if runtime == 'imported' else 'a real ZooKeeper'} trace has no"
            " cores to continue from (its servers were real ZooKeeper); `zkfle check` runs"
            " their notifications through the model instead"
        )
    position, state = replayer.snapshot()
    parent = {"trace": replayer.path, "seq": position}
    if seed is None:
        parent_seed = replayer.header.get("seed")
        seed = parent_seed if isinstance(parent_seed, int) else 0
    cluster = fork_state(
        state, replayer.header, parent, seed=seed, trace_path=trace_path, label=label
    )
    # The online invariant checker continues the parent's history (epochs led, rounds).
    checker = cluster.checker
    for event in parent_prefix(replayer.path, replayer.header):
        checker.feed(event)
    if position:
        for event in replayer.stream(1, position):
            checker.feed(event)
    checker.violations.clear()
    cluster.execute(f"mark fork of {replayer.path} at seq {position}")
    return cluster


def fork_state(
    state: ClusterState,
    header: dict[str, Any],
    parent: dict[str, Any],
    *,
    seed: int,
    trace_path: str | os.PathLike[str] | None = None,
    label: str = "fork",
) -> Cluster:
    """Build the cluster and install `state` (which the cluster then owns) into it."""
    timing = state.replay.timing
    qv = state.replay.qv
    cfg = QuorumPeerConfig(
        qv,
        tick_time_ms=timing.tick_time_ms,
        init_limit=timing.init_limit,
        sync_limit=timing.sync_limit,
        standalone_enabled=False,
    )
    fd, cfg_path = tempfile.mkstemp(prefix="zkfle-fork-", suffix=".cfg")
    try:
        with os.fdopen(fd, "w", encoding="iso-8859-1") as f:
            f.write(to_zoo_cfg(cfg))
        cluster = Cluster(
            ClusterOptions(
                config=Path(cfg_path),
                runtime="sim",
                seed=seed,
                trace=Path(trace_path) if trace_path is not None else None,
                label=label,
                initial={sid: n.durable for sid, n in state.nodes.items()},
                parent=parent,
                pace=True,  # live like `zkfle --sim`: `run` lets the clock follow the wall
                halted=True,
                shadow=rebuild,
            )
        )
    finally:
        os.unlink(cfg_path)
    try:
        if cluster.config.quorum_verifier.to_string() != state.config:
            raise ForkError("the cluster config does not survive zoo.cfg (cannot fork)")
        if cluster.timing != timing:
            raise ForkError(f"the trace's timing {timing} cannot be set on a cluster")
        _install(cluster, state)
    except BaseException:
        cluster.close("aborted")
        raise
    return cluster


def _install(cluster: Cluster, state: ClusterState) -> None:
    sim = cluster.host
    if not isinstance(sim, Simulation):
        raise ForkError("a fork runs on the simulator")
    # Continue the parent's clock and numbering (ids stay unique across parent and fork).
    sim.set_clock(state.t_ms)
    sim.continue_ids(state.max_ids["m"], state.max_ids["p"])
    cluster.continue_faults(state.max_ids["f"], [f.link_fault() for f in state.faults.values()])
    cluster.continue_elections(state.elections, state.unstable_since)
    recorder = cluster.recorder
    recorder.sent, recorder.delivered, recorder.dropped = state.sent, state.delivered, state.dropped
    for sid in sorted(state.nodes):
        _install_node(sim, sim.nodes[sid], state, sid)
    _install_wire(sim, state)
    for sid in sorted(state.nodes):
        _wake(sim, sim.nodes[sid], state, sid)


def _install_node(sim: Simulation, node: Node, state: ClusterState, sid: int) -> None:
    ns = state.nodes[sid]
    node.life = ns.life
    node.durable = ns.durable
    node.store.save(ns.durable)
    core = ns.core
    # The Zab data on its disk: a running node's core has it, a stopped one left it.
    node.data = core.data if core is not None else state.replay.data.get(sid, node.data)
    if core is None or not ns.alive:
        node.alive, node.paused, node.core = False, False, None
        node.last_event = ns.last_event
        return
    node.core = core
    node.alive, node.paused = True, ns.paused
    qcm = QuorumCnxManager(sid)
    for peer, queued in sorted(ns.send_queues.items()):
        queue = qcm.send_queue(peer)
        message = _message(queued) if queued is not None else None
        if message is not None:
            queue.offer(message)
    for peer, last in sorted(ns.last_sent.items()):
        message = _message(last)
        if message is not None:
            qcm.last_message_sent[peer] = message
    for received in ns.recv_queue:
        message = _message(received)
        if message is not None:
            qcm.recv_queue.offer(message)
    qcm.sender_worker_map = set(ns.conns)
    node.qcm = qcm
    node.sendqueue = deque(ns.sendqueue)
    node.inbox = deque(ns.inbox)
    node.deadline = core.deadline
    node.look_at = None if ns.look_at is None else max(ns.look_at, state.t_ms)
    node.zab_peers = set(ns.zab_peers)
    node.connecting = set()
    node.last_signature = state_signature(core)
    node.last_event = ns.last_event


def _message(m: Msg) -> Message | None:
    if not isinstance(m.body, ToSend):
        return None
    return Message(encode_notification(m.body), m.src, m.msg_id)


def _install_wire(sim: Simulation, state: ClusterState) -> None:
    """Messages on the wire: held ones stay held, the others arrive after fresh latencies."""
    for msg_id, m in state.in_flight.items():
        payload: bytes | ZabItem
        if isinstance(m.body, ToSend):
            payload = encode_notification(m.body)
        elif isinstance(m.body, ZabItem):
            payload = m.body
        else:
            continue  # a body the trace never showed: lost in the fork
        env = Envelope(msg_id, m.src, m.dst, payload, m.src_life, m.dst_life)
        if msg_id in state.held:
            with sim.net_lock:
                sim.held.setdefault((m.src, m.dst), deque()).append(env)
        else:
            sim.put_in_flight(env, m.plane)
    for node_sid, peer_sid in state.pending_eof:
        sim.eof_later(node_sid, peer_sid)


def _wake(sim: Simulation, node: Node, state: ClusterState, sid: int) -> None:
    """Start each thread that has work, and the timers."""
    ns = state.nodes[sid]
    core = node.core
    if core is None or not node.alive:
        return
    sim.timer_changed(node)
    if node.paused:
        return
    sim.wake(node, "main")
    if node.sendqueue:
        sim.wake(node, "sender")
    if not node.qcm.recv_queue.is_empty():
        sim.wake(node, "receiver")
    for peer, queue in sorted(node.qcm.queue_send_map.items()):
        if queue.is_empty():
            continue
        if peer in node.qcm.sender_worker_map:
            sim.wake(node, "send_worker", peer)
        else:
            sim.connect_one(node, peer)
    learning = core.learning
    leader = ns.pending_connect
    answered = any(
        isinstance(i, LearnerConnected | LearnerConnectFailed) and i.leader == leader
        for i in node.inbox
    )
    if (
        leader is not None
        and learning is not None
        and learning.leader == leader
        and not learning.connected
        and not answered
    ):
        sim.redial(node, leader)  # the attempt in progress is dialled again
