"""The learner<->leader plane of a Host: a learner dials its leader's quorum port
(Learner.connectToLeader), the leader accepts, ZooKeeper's packets (jute QuorumPackets,
SNAP's dump) flow on that one connection, and either end sees EOF when it closes.
"""

from __future__ import annotations

from typing import Any

from engine.core.peer.io import (
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    LearnerConnected,
    LearnerConnectFailed,
    PacketReceived,
    SendPacket,
    Timing,
)
from engine.core.vote import ServerState, Sid
from engine.runtime.hosted import Envelope, Node
from engine.runtime.network import Network
from engine.trace.record import packet_json


class ZabPlane(Network):
    """The learner<->leader connections of a host's nodes."""

    timing: Timing
    """The cluster's ticks (Host sets them): a connect into a black hole hangs initLimit."""

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
            with self.net_lock:
                cut = self.faults.blocked(node.sid, action.peer)
            if cut is not None:
                return  # the FIN is lost on the cut link: the peer times out on its own
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
            assert not isinstance(env.payload, bytes)
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

    # --- continuing a run from a replayed state (engine.replay.fork) ----------------------

    def eof_later(self, sid: Sid, peer: Sid) -> None:
        """`sid` sees EOF on its learner<->leader connection with `peer` after a latency."""
        self.call_later(
            self._latency(peer, sid), self._zab_closed_later, sid, peer, self.nodes[sid].life
        )

    def redial(self, learner: Node, leader: Sid) -> None:
        """The learner's connection attempt to `leader` starts again."""
        self._zab_connect(learner, leader)
