"""The post-election side of a `TcpNode`: its learner<->leader connection - ZooKeeper's
Zab leader on the quorum port while the node leads, ZooKeeper's Zab learner when it
follows or observes, and the QuorumPlane that dials the leader.

The core runs no Zab of its own here (`Timing.zab_leader`): it mirrors the runtime's
leader and learner, whose packets are the Java servers' bytes, and asks this side only to
connect to a leader and to close a connection.

Leading
-------
When the core decides LEADING, the node runs ZooKeeper's leader (engine.runtime.zab.lead:
the pure `ZabLeader` over TCP) on its quorum port, with the data in the data dir (ZabStore,
ZooKeeper's own files). It greets nobody: a Java learner sends FOLLOWERINFO or
OBSERVERINFO at once, and a zkfle learner does the same (below) - so Java and zkfle
learners are led alike, by the same code. The core keeps
no leader of its own (`Timing.zab_leader`): each change of the service's phase, epochs or
last logged zxid - on disk already, as the service writes before it sends - reaches the
core as a `ZabProgress` input with the node as leader, so status(), the printed lines,
the trace and `verify` follow the real leader; when the service ends (no quorum of
epochs, ACKEPOCHs or NEWLEADER acks within initLimit ticks, too few synced followers)
the core goes back to LOOKING with ZooKeeper's reason. The service only reports that it
moved; the node then reads its view under the node's lock, so the lock order is always
node then service and a late report can never carry a stale view.

Following
---------
The election is ZooKeeper's, byte for byte, so any leader may be a Java server. The node
dials the leader's quorum port and, as every leader speaks Zab (a Java leader, and a
zkfle leader too), ZooKeeper's learner (engine.runtime.zab.follow) runs on the socket at
once, with the data in the data dir. Its every change of
phase, sync mode, epoch or zxid - once durable - reaches the core as a `ZabProgress`
input; its end (the leader's EOF, initLimit/syncLimit ticks of silence, a packet it
refuses) sends the node back to LOOKING with ZooKeeper's reason. On start the node votes
with the last zxid of its txn log and snapshots (ZK: getLastLoggedZxid); once it has led,
with the epoch's zxid its leader's database took where no txn of the epoch is logged,
which the core keeps (`QuorumPeer.processed_zxid`) and its next leader or learner starts
from.
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
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    Timing,
    ZabAction,
    ZabProgress,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import LearnerType, Sid
from engine.runtime.durable import DurableError
from engine.runtime.transport.quorum import QuorumHooks, QuorumPlane
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings, LearnerView
from engine.runtime.zab.lead import LeaderService, LeaderSettings
from engine.runtime.zab.store import ZabStore, ZabStoreError

log = logging.getLogger("zkfle.node")


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

    def __init__(self) -> None:
        self.plane: QuorumPlane | None = None
        self.zab_conn: LearnerConnection | None = None
        """The Zab learner running on the connection to a Java leader, if any."""
        self._zab_leader: Sid | None = None
        self._retired: list[LearnerConnection] = []
        """Zab learners closed but maybe not finished: stop() joins them."""
        self.digest_mismatches = 0
        """Txns its Zab learners applied, or its Zab leader committed, whose tree digest was
        not the one they carried (ZK: mntr's zk_digest_mismatches_count)."""
        self.zab_lead: LeaderService | None = None
        """The Zab leader running on the quorum port while the node leads."""
        self._retired_leads: list[LeaderService] = []
        self._led: object | None = None
        """The core's leadership the last service was started for."""

    def _new_plane(self) -> QuorumPlane:
        return QuorumPlane(
            self.myid,
            QuorumHooks(
                connected=self._learner_connected,
                connect_failed=self._learner_connect_failed,
                zab=self._zab_handover,
            ),
            name=f"myid={self.myid}",
        )

    def _learners(self) -> list[LearnerConnection]:
        """Every Zab learner that may still run (caller holds the lock)."""
        return self._retired + ([self.zab_conn] if self.zab_conn is not None else [])

    # --- the learner <-> leader connection ------------------------------------------------

    def _zab_action(self, action: ZabAction) -> None:
        """A mirroring core asks only to connect and to close (it sends no packets)."""
        plane = self.plane
        if plane is None:
            return
        if isinstance(action, ConnectToLeader):
            leader = self.qv.all_members.get(action.leader)
            if leader is None:
                self.inbox.append(LearnerConnectFailed(action.leader))
                return
            budget = self.timing.init_limit * self.timing.tick_time_ms
            plane.connect(action.leader, leader.addr, budget or self.cfg.cnx_timeout_ms)
        elif isinstance(action, ClosePeer) and self._close_zab(action.peer):
            self.emit("conn", peer=action.peer, up=False, plane="quorum", reason="closed")

    def _leader_port(self, core: QuorumPeer) -> None:
        """ZK: the Leader binds the quorum port while it leads - here ZooKeeper's Zab
        leader (engine.runtime.zab.lead), whatever its learners are (caller holds the lock)."""
        leading = core.leading
        if leading is not None and leading is not self._led:
            # Once per leadership: one that ended stays ended until the core hears it.
            self._led = leading
            self._lead(core)
        elif leading is None and self.zab_lead is not None:
            self._retire_lead()

    # --- the Zab leader (caller holds the lock) -------------------------------------------

    def _lead(self, core: QuorumPeer) -> None:
        """Lead over Zab on the quorum port, from the data in the data dir; the core
        mirrors the service's progress (`_lead_moved`) until it ends (`_lead_ended`)."""
        t = self.timing
        settings = LeaderSettings(
            self.myid,
            self.qv,
            config_version=self.qv.version,
            tick_time_ms=t.tick_time_ms,
            init_limit=t.init_limit,
            sync_limit=t.sync_limit,
            config=self.config_text,
            container_check_ms=self.cfg.container_check_ms,
        )
        host, port = self.qv.all_members[self.myid].addr[0]
        if self.cfg.quorum_listen_on_all_ips:
            host = "0.0.0.0"
        service = LeaderService(
            settings, self.zab_store, listen=(host, port), processed_zxid=core.processed_zxid
        )
        service.on_progress = lambda: self._lead_moved(service)
        service.on_end = lambda reason: self._lead_ended(service, reason)
        service.on_mismatch = self._digest_mismatch
        self.zab_lead = service
        try:
            service.start()  # loads the data dir: ZooKeeper's loadDataBase
        except OSError as e:
            self._lead_failed(core, f"cannot bind quorum address {host}:{port}: {e}")
        except (ZabStoreError, DurableError, JuteError) as e:
            self._lead_failed(core, f"cannot load the data dir: {e}")

    def _lead_failed(self, core: QuorumPeer, reason: str) -> None:
        log.error("n%s: %s", self.myid, reason)
        self._retire_lead()
        self._zab_failed(core, self.myid, reason)

    def _zab_failed(self, core: QuorumPeer, leader: Sid, reason: str) -> None:
        """Zab could not start: the core ends that role with `reason`."""
        d = core.durable
        ended = ZabProgress(
            leader, core.zab_state, None, d.accepted_epoch, d.current_epoch, d.last_zxid, reason
        )
        self._inbox(ended)

    def _lead_moved(self, service: LeaderService) -> None:
        with self.lock:
            if service is self.zab_lead:
                self._inbox(self._lead_progress(service))

    def _lead_ended(self, service: LeaderService, reason: str) -> None:
        with self.lock:
            if service is not self.zab_lead:
                return
            self._retire_lead()
            self._inbox(self._lead_progress(service, reason))

    def _lead_progress(self, service: LeaderService, ended: str | None = None) -> ZabProgress:
        v = service.view()
        return ZabProgress(
            self.myid, v.zab_state, None, v.accepted_epoch, v.current_epoch, v.last_logged, ended
        )

    def _retire_lead(self) -> None:
        """Stop leading; the service's threads end without our lock: stop() joins them."""
        if self.zab_lead is not None:
            self.zab_lead.halt()
            self._retired_leads = [s for s in self._retired_leads if s.alive()] + [self.zab_lead]
        self.zab_lead = None

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
            conn = LearnerConnection(
                settings, address, self.zab_store, processed_zxid=core.processed_zxid
            )
            conn.on_progress = lambda view: self._zab_moved(conn, leader, view)
            conn.on_end = lambda reason: self._zab_ended(conn, leader, reason)
            conn.on_mismatch = self._digest_mismatch
            self.zab_conn, self._zab_leader = conn, leader
            log.info(
                "n%s: leader %s sent no zkfle greeting: following it over Zab", self.myid, leader
            )
            try:
                conn.start(sock)  # loads the data dir: ZooKeeper's loadDataBase
            except (ZabStoreError, DurableError, JuteError) as e:
                sock.close()
                self.zab_conn = None
                self._zab_failed(core, leader, f"cannot load the data dir: {e}")

    def _zab_moved(self, conn: LearnerConnection, leader: Sid, view: LearnerView) -> None:
        with self.lock:
            if conn is self.zab_conn:
                self._inbox(ZabProgress(leader, *view))

    def _digest_mismatch(self) -> None:
        with self.lock:
            self.digest_mismatches += 1

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
