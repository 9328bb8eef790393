"""The post-election side of a `TcpNode`: its learner<->leader connection - the QuorumPlane
(our framing between zkfle nodes), the leader's quorum port, and ZooKeeper's learner when
the leader is a Java server.

With Java servers
-----------------
The election is ZooKeeper's, byte for byte: Java servers log our notifications and count
our votes, and we count theirs. After it:

* as a learner of a Java leader, the node follows (or observes) it over Zab. The node
  dials the leader's quorum port as always; a zkfle leader greets first (our framing,
  engine.runtime.transport.quorum), a Java leader sends nothing before FOLLOWERINFO and
  waits initLimit ticks for it. So the plane waits for a greeting at most half of those
  ticks (`zab_probe_ms`, at most 1 s: a zkfle leader greets from its accept thread at
  once) and then hands the socket to ZooKeeper's learner (engine.runtime.zab.follow, the
  data in the dataDir as ZabStore keeps it). This keeps zkfle-only clusters on their
  framing until our leader speaks Zab, sends nothing new towards Java, and a wrong guess
  fails safe: the connection closes and the node re-elects. The learner's every change
  of phase, sync mode, epoch or zxid - once durable - reaches the core as a `ZabProgress`
  input, so the core's state, the trace and `verify` follow Zab too; its end (the
  leader's EOF, initLimit/syncLimit ticks of silence, a packet it refuses) sends the node
  back to LOOKING with ZooKeeper's reason. On start the node votes with the last zxid of
  its txn log and snapshots (ZK: getLastLoggedZxid) when it has them.
* as the leader elected by Java servers, the node listens on its quorum port; a Java
  follower sends FOLLOWERINFO in jute, which is not our greeting, so the connection is
  closed at once (logged) and the follower goes back to LOOKING. Without a quorum of
  zkfle learners our leader gives up after initLimit ticks ("Timeout while waiting for
  epoch from quorum") and goes back to LOOKING too; the Java servers meanwhile elect
  another leader among themselves if they can.

Between zkfle nodes the post-election packets use our own small framing (see
engine.runtime.transport.quorum), so a cluster of zkfle nodes elects, establishes an epoch,
pings, and replaces a crashed leader as the in-memory runtime does.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from engine.core.config import QuorumPeerConfig
from engine.core.jute.archive import JuteError
from engine.core.peer.io import (
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    PacketReceived,
    QuorumPacket,
    SendPacket,
    Timing,
    ZabAction,
    ZabProgress,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import LearnerType, ServerState, Sid
from engine.runtime.durable import DurableError
from engine.runtime.transport.quorum import QuorumHooks, QuorumPlane
from engine.runtime.transport.sockets import TransportError
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings, LearnerView
from engine.runtime.zab.store import ZabStore, ZabStoreError
from engine.trace.record import packet_json

log = logging.getLogger("zkfle.node")

ZAB_PROBE_MAX_MS = 1000
"""Longest wait for a zkfle leader's greeting before taking the leader to speak Zab."""


class QuorumSide:
    """A TcpNode's learner<->leader connection (TcpNode is built on it). The node steps
    its core with what this side reports (`_inbox`) and hands it the core's Zab actions
    (`_zab_action`) and each new state (`_leader_port`)."""

    # What the node gives this side.
    myid: Sid
    cfg: QuorumPeerConfig
    qv: QuorumVerifier
    config_text: str
    timing: Timing
    zab_store: ZabStore
    lock: threading.RLock
    _main_cond: threading.Condition
    core: QuorumPeer | None
    inbox: deque[Input]
    stopping: bool
    if TYPE_CHECKING:

        def emit(self, kind: str, **fields: Any) -> None: ...

        def _next_id(self, prefix: str) -> str: ...

    def __init__(self) -> None:
        self.plane: QuorumPlane | None = None
        self.zab_conn: LearnerConnection | None = None
        """The Zab learner running on the connection to a Java leader, if any."""
        self._zab_leader: Sid | None = None
        self._retired: list[LearnerConnection] = []
        """Zab learners closed but maybe not finished: stop() joins them."""

    def zab_probe_ms(self) -> float:
        """How long our learner waits for a zkfle leader's greeting: half of the initLimit
        ticks a Java leader waits for FOLLOWERINFO (the other half is the learner's), at
        most a second - a zkfle leader greets from its accept thread at once. (initLimit 0,
        which only a config with a single voter allows, is no limit in ZooKeeper.)"""
        half = self.timing.init_limit * self.timing.tick_time_ms / 2
        return min(half, ZAB_PROBE_MAX_MS) if half > 0 else ZAB_PROBE_MAX_MS

    def _new_plane(self) -> QuorumPlane:
        return QuorumPlane(
            self.myid,
            QuorumHooks(
                connected=self._learner_connected,
                connect_failed=self._learner_connect_failed,
                joined=self._learner_joined,
                packet=self._packet,
                closed=self._quorum_closed,
                zab=self._zab_handover,
            ),
            name=f"myid={self.myid}",
            greeting_timeout_ms=self.timing.init_limit * self.timing.tick_time_ms or 10_000,
            zab_probe_ms=self.zab_probe_ms(),
        )

    def _learners(self) -> list[LearnerConnection]:
        """Every Zab learner that may still run (caller holds the lock)."""
        return self._retired + ([self.zab_conn] if self.zab_conn is not None else [])

    # --- the learner <-> leader connection ------------------------------------------------

    def _zab_action(self, action: ZabAction) -> None:
        plane = self.plane
        if plane is None:
            return
        if isinstance(action, SendPacket):
            if plane.send(action.to, action.packet):
                self.emit(
                    "zsend", msg=self._next_id("p"), to=action.to, packet=packet_json(action.packet)
                )
        elif isinstance(action, ConnectToLeader):
            leader = self.qv.all_members.get(action.leader)
            if leader is None:
                self.inbox.append(LearnerConnectFailed(action.leader))
                return
            budget = self.timing.init_limit * self.timing.tick_time_ms
            plane.connect(action.leader, leader.addr, budget or self.cfg.cnx_timeout_ms)
        elif isinstance(action, ClosePeer) and (
            self._close_zab(action.peer) or plane.close(action.peer)
        ):
            self.emit("conn", peer=action.peer, up=False, plane="quorum", reason="closed")

    def _leader_port(self, core: QuorumPeer) -> None:
        """ZK: the Leader binds the quorum port while it leads."""
        plane = self.plane
        if plane is None:
            return
        leading = core.peer_state == ServerState.LEADING
        if leading and not plane.listening:
            host, port = self.qv.all_members[self.myid].addr[0]
            if self.cfg.quorum_listen_on_all_ips:
                host = "0.0.0.0"
            try:
                plane.listen((host, port))
            except TransportError as e:
                log.error("n%s: %s", self.myid, e)
        elif not leading and plane.listening:
            plane.stop_listening()

    # --- the Zab learner of a Java leader (caller of _close_zab holds the lock) -----------

    def _zab_handover(self, leader: Sid, sock: socket.socket) -> None:
        """The leader sent no zkfle greeting: it speaks Zab, so ZooKeeper's learner runs on
        the socket, with the data kept in the data dir (engine.runtime.zab)."""
        with self.lock:
            core = self.core
            if core is None or self.stopping or self.zab_conn is not None:
                sock.close()
                return
            t = self.timing
            settings = LearnerSettings(
                self.myid,
                observer=core.learner_type == LearnerType.OBSERVER,
                config_version=self.qv.version,
                tick_time_ms=t.tick_time_ms,
                init_limit=t.init_limit,
                sync_limit=t.sync_limit,
                config=self.config_text,
            )
            address = self.qv.all_members[leader].addr[0]
            conn = LearnerConnection(settings, address, self.zab_store)
            conn.on_progress = lambda view: self._zab_moved(conn, leader, view)
            conn.on_end = lambda reason: self._zab_ended(conn, leader, reason)
            self.zab_conn, self._zab_leader = conn, leader
            log.info(
                "n%s: leader %s sent no zkfle greeting: following it over Zab", self.myid, leader
            )
            try:
                conn.start(sock)  # loads the data dir: ZooKeeper's loadDataBase
            except (ZabStoreError, DurableError, JuteError) as e:
                sock.close()
                self.zab_conn = None
                d = core.durable
                reason = f"cannot load the data dir: {e}"
                self._inbox(
                    ZabProgress(
                        leader,
                        core.zab_state,
                        None,
                        d.accepted_epoch,
                        d.current_epoch,
                        d.last_zxid,
                        reason,
                    )
                )

    def _zab_moved(self, conn: LearnerConnection, leader: Sid, view: LearnerView) -> None:
        with self.lock:
            if conn is self.zab_conn:
                self._inbox(ZabProgress(leader, *view))

    def _zab_ended(self, conn: LearnerConnection, leader: Sid, reason: str) -> None:
        with self.lock:
            if conn is not self.zab_conn:
                return
            self._retire_zab()
            self.emit("conn", peer=leader, up=False, plane="quorum", reason=reason)
            self._inbox(ZabProgress(leader, *conn.view(), ended=reason))

    def _close_zab(self, peer: Sid) -> bool:
        """Close the Zab learner's connection with `peer`, if it has one."""
        conn = self.zab_conn
        if conn is None or self._zab_leader != peer:
            return False
        conn.halt()  # its thread ends without the lock we hold: stop() joins it
        self._retire_zab()
        return True

    def _retire_zab(self) -> None:
        if self.zab_conn is not None:
            self._retired = [c for c in self._retired if c.alive()] + [self.zab_conn]
        self.zab_conn = self._zab_leader = None

    # --- the QuorumPlane's reports --------------------------------------------------------

    def _inbox(self, event: Input) -> None:
        with self.lock:
            if self.core is None or self.stopping:
                return
            self.inbox.append(event)
            self._main_cond.notify()

    def _learner_connected(self, leader: Sid) -> None:
        with self.lock:
            if self.core is None or self.stopping:
                return
            self.emit("conn", peer=leader, up=True, plane="quorum")
            self._inbox(LearnerConnected(leader))

    def _learner_connect_failed(self, leader: Sid, reason: str) -> None:
        log.info("n%s: cannot connect to leader %s: %s", self.myid, leader, reason)
        self._inbox(LearnerConnectFailed(leader))

    def _learner_joined(self, sid: Sid) -> None:
        with self.lock:
            if not self.stopping:
                self.emit("conn", peer=sid, up=True, plane="quorum")

    def _packet(self, peer: Sid, packet: QuorumPacket) -> None:
        with self.lock:
            if self.core is None or self.stopping:
                return
            self.emit("zdeliver", msg=self._next_id("p"), **{"from": peer})
            self._inbox(PacketReceived(peer, packet))

    def _quorum_closed(self, peer: Sid, reason: str) -> None:
        with self.lock:
            if self.core is None or self.stopping:
                return
            self.emit("conn", peer=peer, up=False, plane="quorum", reason=reason)
            self._inbox(Disconnected(peer))
