"""The election plane of a Host: QuorumCnxManager's connections and workers between its
nodes - WorkerSender, connectOne, SendWorker and RecvWorker (loopback included).
"""

from __future__ import annotations

from engine.core.cnxmanager import Message
from engine.core.vote import Sid
from engine.core.wire import encode_notification
from engine.runtime.hosted import Envelope, Node
from engine.runtime.network import Network


class ElectionPlane(Network):
    """The election connections of a host's nodes, as ZooKeeper's threads use them."""

    def connection_up(self, a: Node, b: Node, lives: tuple[int, int]) -> None:
        """An election connection a<->b opened while the nodes were in these lives (the
        threaded runtime makes the connection's queues and workers here, holding both
        nodes' locks: it must be quick)."""

    # --- WorkerSender / QuorumCnxManager --------------------------------------------------

    def worker_sender(self, node: Node) -> bool:
        """Encode one ToSend and queue it (QuorumCnxManager.toSend); False when idle."""
        with node.lock:
            if not node.running or not node.sendqueue:
                return False
            m = node.sendqueue.popleft()
            msg_id = self._next_id("m")
            self.recorder.emit_rounded(
                "send", self.now_rounded(), node.sid, {"msg": msg_id, "to": m.sid}
            )
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
        self.recorder.emit_rounded(
            "deliver", self.now_rounded(), node.sid, {"msg": msg_id, "from": node.sid}
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
            # Before anything is written to it, so that every message on it takes one way.
            self.connection_up(na, nb, (na.life, nb.life))
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

    # --- RecvWorker -----------------------------------------------------------------------

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
            self.recorder.emit_rounded(
                "deliver", self.now_rounded(), env.dst, {"msg": env.msg_id, "from": env.src}
            )
            evicted = node.qcm.add_to_recv_queue(Message(env.payload, env.src, env.msg_id))
            if evicted is not None:
                self._drop(env.dst, evicted.msg_id, "recv_capacity", evicted.sid, env.dst)
            self.wake(node, "receiver")
