"""A Zab leader's side of the quorum port over TCP: the pure `ZabLeader` driven by its
learners' connections (a reading and a writing thread each, as LearnerHandler and its
sender) and a ticker, its actions carried out in order against a `ZabStore`.

One lock covers each step of the core and the carrying out of its actions; an epoch is
on disk before the step's later actions and before any other step, so no LEADERINFO or
sync leaves before it. Proposals are logged by a thread of their own, as ZooKeeper's
SyncRequestProcessor does: it takes every txn queued since its last write, appends them
and fsyncs once, without the lock, then reports the batch durable (`ZabLeader.logged`: the
leader's own ACK of each, so it acknowledges nothing before it is on disk); when the store
found a snapshot due (snapCount), the tree is handed to its snapshot thread. Packets go to
a learner's queue, encoded and sent by its writer thread - everything queued by then in
one write - so a slow learner never stalls the others nor the core (ZK:
LearnerHandler.queuedPackets, sendPackets). A learner's packets that arrive together are
one step.

Learner connections come from the service's own listener (`listen=`), or are handed in
by whoever accepted them (`adopt`, as `zkfle node` does on its quorum port). `on_end`
hears why leadership ended (a Fail, in ZooKeeper's words, or "halted"); the server then
goes back to LOOKING. `on_progress` hears that the phase, an epoch or the last logged
zxid changed: it is called without the service's lock, so the listener may take its own
lock and then read `view()` (always the current one, however late the call comes).
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from engine.core.jute.archive import JuteError
from engine.core.jute.records import QuorumPacket
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.stream import QuorumStream, encode_item
from engine.core.jute.txn import TxnEntry
from engine.core.peer.learners import learner_view
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import LearnerView
from engine.core.vote import LearnerType, zxid_hex
from engine.core.zab.leader import Drop, LeaderAction, SendTo, ZabLeader
from engine.core.zab.learner import DigestMismatch, Fail, LogTxns, SaveEpoch
from engine.runtime.transport.sockets import Address, shutdown_socket
from engine.runtime.zab.store import ZabStore

__all__ = ["LeaderService", "LeaderSettings", "LeaderView"]

log = logging.getLogger("zkfle.zab")


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    sid: int
    verifier: QuorumVerifier
    config_version: int = 0
    tick_time_ms: int = 2000
    init_limit: int = 10
    sync_limit: int = 5
    config: str = ""
    """The quorum config text (QuorumVerifier.toString) NEWLEADER carries."""
    container_check_ms: int = 60_000
    """How often empty containers are deleted once established (ZK: ContainerManager,
    znode.container.checkIntervalMs)."""


class LeaderView(NamedTuple):
    """Where the leader stands, and each learner (cnx, sid, stage, sync mode)."""

    zab_state: str
    accepted_epoch: int
    current_epoch: int
    last_committed: int
    learners: tuple[tuple[int, int, str, str | None], ...]
    last_logged: int = 0
    """The last zxid in the leader's snapshot and txn log (ZK: getLastLoggedZxid)."""


class _Learner:
    """One learner connection: its socket, its outgoing queue and their two threads."""

    def __init__(self, cnx: int, sock: socket.socket) -> None:
        self.cnx = cnx
        self.sock = sock
        self.heard = time.monotonic()
        """When a packet from it was last read (its connection's start until then)."""
        self.out: queue.SimpleQueue[QuorumPacket | SnapshotDump | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []

    def close(self) -> None:
        self.out.put(None)
        shutdown_socket(self.sock)


class LeaderService:
    """Lead the learners that connect, from the data in `store`."""

    def __init__(
        self,
        settings: LeaderSettings,
        store: ZabStore,
        *,
        listen: Address | None = None,
        on_end: Callable[[str], None] | None = None,
        on_progress: Callable[[], None] | None = None,
        processed_zxid: int | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.listen = listen
        self.processed_zxid = processed_zxid
        """The node's database zxid kept from its last role where ahead of the log
        (engine.core.zab.leader's `processed_zxid`)."""
        self.on_end = on_end
        self.on_progress = on_progress
        self.on_mismatch: Callable[[], None] | None = None
        """Hears of committed txns whose digest was not our tree's (none, unless a bug)."""
        self.last_logged = 0
        self._summary: tuple[str, int, int, int] | None = None
        self.leader: ZabLeader | None = None
        self.ended: str | None = None
        self.address: Address | None = None
        self._lock = threading.Lock()
        self._to_log: list[TxnEntry] = []
        """Proposals the core logged and the log thread has not yet written."""
        self._log_wake = threading.Condition(self._lock)
        self._appending = threading.Lock()
        """Held by the log thread while it writes; `halt` waits for it."""
        self._halt = threading.Event()
        self._learners: dict[int, _Learner] = {}
        self._cnx = itertools.count(1)
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._log_thread: threading.Thread | None = None

    def start(self) -> Address | None:
        """Load the data (ZabStoreError, DurableError or JuteError if it cannot be read),
        start leading (ZK: Leader.lead) and, with `listen`, accept learners there; returns
        the address bound."""
        s = self.settings
        durable = self.store.epochs.load()
        snapshot, logged = self.store.load()
        if logged:
            self.last_logged = logged[-1].zxid
        elif snapshot is not None:
            self.last_logged = snapshot[1]
        self.leader = ZabLeader(
            s.sid,
            s.verifier,
            accepted_epoch=durable.accepted_epoch,
            current_epoch=durable.current_epoch,
            init_limit=s.init_limit,
            sync_limit=s.sync_limit,
            config=s.config.encode(),
            config_version=s.config_version,
            tick_time=s.tick_time_ms,
            snapshot=snapshot,
            log=logged,
            processed_zxid=self.processed_zxid,
        )
        self._step(lambda lead: lead.start(now=_now_ms()))
        if self.listen is not None:
            self._listener = socket.create_server(self.listen)
            self.address = self._listener.getsockname()[:2]
            self._spawn(f"zab-leader-{s.sid}-accept", self._accept, self._listener)
        self._spawn(f"zab-leader-{s.sid}-tick", self._tick)
        self._log_thread = self._spawn(f"zab-leader-{s.sid}-log", self._log_txns)
        return self.address

    def adopt(self, sock: socket.socket) -> None:
        """Take a learner connection accepted elsewhere; the service owns it from now."""
        cnx = next(self._cnx)
        learner = _Learner(cnx, sock)
        with self._lock:
            if self._halt.is_set():
                sock.close()
                return
            self._learners[cnx] = learner
            assert self.leader is not None
            self.leader.connect(cnx, now=_now_ms())
        sid = self.settings.sid
        learner.threads = [
            self._spawn(f"zab-leader-{sid}-read-{cnx}", self._read, learner),
            self._spawn(f"zab-leader-{sid}-write-{cnx}", self._write, learner),
        ]

    def call(self, step: Callable[[ZabLeader], list[LeaderAction]]) -> None:
        """Run `step` on the core (e.g. a proposal of the runtime's own) and carry out its
        actions, as any other step."""
        self._step(step)

    def view(self) -> LeaderView:
        assert self.leader is not None
        with self._lock:
            lead = self.leader
            return LeaderView(
                lead.zab_state,
                lead.accepted_epoch,
                lead.current_epoch,
                lead.last_committed,
                tuple(lead.learners()),
                self.last_logged,
            )

    def learner_views(self) -> tuple[LearnerView, ...]:
        """Each learner that has said who it is, as the leader sees it now, by sid."""
        s = self.settings
        now = time.monotonic()
        views = []
        with self._lock:
            lead = self.leader
            for cnx, sid, stage, mode in lead.learners() if lead is not None else ():
                learner = self._learners.get(cnx)
                member = s.verifier.all_members.get(sid)
                if learner is None or member is None:
                    continue  # closing, or before its FOLLOWERINFO named it
                views.append(
                    learner_view(
                        sid,
                        member.learner_type == LearnerType.OBSERVER,
                        stage,
                        mode,
                        (now - learner.heard) * 1000,
                        tick_time_ms=s.tick_time_ms,
                        init_limit=s.init_limit,
                        sync_limit=s.sync_limit,
                    )
                )
        return tuple(sorted(views, key=lambda v: v.sid))

    def fingerprint(self) -> tuple[int, str]:
        """(last committed zxid, fingerprint of the tree), read consistently."""
        assert self.leader is not None
        with self._lock:
            return self.leader.last_committed, self.leader.database.fingerprint()

    def halt(self) -> None:
        """Stop leading without waiting for the threads (`join` does) - but for a batch of
        txns being written: once this returns the log is what `last_logged` says, so the
        server's next vote is its disk's (ZK: Leader.shutdown joins SyncRequestProcessor)."""
        with self._lock:
            self._halt.set()
            self._log_wake.notify()
            learners = list(self._learners.values())
        if threading.current_thread() is not self._log_thread:
            with self._appending:
                pass
        if self._listener is not None:
            shutdown_socket(self._listener)
            self._listener.close()
        for learner in learners:
            learner.close()

    def join(self, timeout_s: float | None = None) -> None:
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout_s)

    def stop(self) -> None:
        self.halt()
        self.join()
        self._end("halted")

    def alive(self) -> list[str]:
        """The names of the service's threads still running."""
        return [t.name for t in self._threads if t.is_alive()]

    # --- threads --------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _accept(self, listener: socket.socket) -> None:
        while not self._halt.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.adopt(sock)

    def _tick(self) -> None:
        """ZK: lead()'s loop every tickTime; in between, the waits that time out then (the
        leader's for a quorum, its learners' reads: `ZabLeader.due`) and the container
        checks (ContainerManager's timer)."""
        period = self.settings.tick_time_ms / 1000
        every = self.settings.container_check_ms / 1000
        next_tick = time.monotonic() + period
        next_check = None  # ZK: ContainerManager's timer starts once the leader serves
        while True:
            with self._lock:
                due = self.leader.due if self.leader is not None else None
                serving = self.leader is not None and self.leader.established
            if serving and next_check is None:
                next_check = time.monotonic() + every
            wait = next_tick - time.monotonic()
            if due is not None:
                wait = min(wait, (due - _now_ms()) / 1000)
            if next_check is not None:
                wait = min(wait, next_check - time.monotonic())
            if self._halt.wait(max(wait, 0.0)):
                return
            if next_check is not None and time.monotonic() >= next_check:
                self._step(lambda lead: lead.check_containers(now=_now_ms()))
                next_check += every
            if time.monotonic() < next_tick:
                self._step(lambda lead: lead.expire(now=_now_ms()))
                continue
            self._step(lambda lead: lead.tick(now=_now_ms()))
            next_tick = time.monotonic() + period

    def _read(self, learner: _Learner) -> None:
        """ZK: LearnerHandler.run's reading: packets to the core until the connection ends."""
        stream = QuorumStream()
        try:
            while not self._halt.is_set():
                try:
                    data = learner.sock.recv(1 << 16)
                except OSError:
                    break
                if not data:
                    break
                try:
                    packets = stream.feed(data)
                except JuteError as e:
                    log.warning("sid %d: malformed packet from a learner: %s", self.settings.sid, e)
                    break
                learner.heard = time.monotonic()
                quorum = [qp for qp in packets if isinstance(qp, QuorumPacket)]
                if len(quorum) != len(packets):  # a learner never sends SNAP
                    log.warning("sid %d: a database dump from a learner", self.settings.sid)
                    return
                if quorum and not self._step(partial(_receive, learner.cnx, quorum)):
                    return
        finally:
            with self._lock:
                self._learners.pop(learner.cnx, None)
                if self.leader is not None:
                    self.leader.disconnect(learner.cnx)
            learner.close()
            learner.sock.close()

    @staticmethod
    def _write(learner: _Learner) -> None:
        """ZK: LearnerHandler.sendPackets: what is queued, encoded and sent in one write
        (its stream is flushed when the queue runs dry)."""
        while True:
            items, ended = _take_all(learner.out)
            try:
                if items:
                    learner.sock.sendall(b"".join(encode_item(item) for item in items))
            except OSError:
                shutdown_socket(learner.sock)
                return
            if ended:
                return

    def _log_txns(self) -> None:
        """ZK: SyncRequestProcessor: every txn queued since the last write appended and
        fsynced together, then the leader's ACK of them (`ZabLeader.logged`)."""
        while True:
            with self._lock:
                while not self._to_log and not self._halt.is_set():
                    self._log_wake.wait()
                if self._halt.is_set():
                    return
                batch, self._to_log = tuple(self._to_log), []
            try:
                with self._appending:
                    if self._halt.is_set():
                        return
                    snapshot_due = self.store.append(batch)
                    self.last_logged = batch[-1].zxid
            except OSError as e:  # ZK: SyncRequestProcessor exits the server
                log.error("sid %d: cannot log txns: %s", self.settings.sid, e)
                self.halt()
                self._end(f"cannot log txns: {e}")
                return
            if snapshot_due:
                self.store.snapshot_in_background(self._image)
            if not self._step(partial(_logged, batch[-1].zxid)):
                return

    def _image(self) -> tuple[SnapshotDump, int]:
        """The tree as it stands, for a snapshot (ZK: ZooKeeperServer.takeSnapshot's,
        taken here under the lock, so at one zxid, where ZooKeeper's is fuzzy)."""
        with self._lock:
            assert self.leader is not None
            db = self.leader.database
            return db.dump(), db.last_processed_zxid

    # --- the core ---------------------------------------------------------------------------

    def _step(self, step: Callable[[ZabLeader], list[LeaderAction]]) -> bool:
        """One step of the core and its actions, in order; False once leadership ended."""
        failed = None
        moved = False
        mismatches = 0
        with self._lock:
            if self._halt.is_set() or self.leader is None:
                return False
            for action in step(self.leader):
                if isinstance(action, SendTo):
                    learner = self._learners.get(action.cnx)
                    if learner is not None:
                        learner.out.put(action.item)
                elif isinstance(action, LogTxns):
                    self._to_log += action.entries
                    self._log_wake.notify()
                elif isinstance(action, SaveEpoch):
                    self.store.save_epoch(action.name, action.epoch)
                elif isinstance(action, Drop):
                    log.info(
                        "sid %d: closing learner %d: %s",
                        self.settings.sid,
                        action.cnx,
                        action.reason,
                    )
                    dropped = self._learners.pop(action.cnx, None)
                    if dropped is not None:
                        dropped.close()
                elif isinstance(action, DigestMismatch):
                    mismatches += 1
                    log.error(
                        "sid %d: digest mismatch on txn %s: proposed with %d, our tree's %d",
                        self.settings.sid,
                        zxid_hex(action.zxid),
                        action.logged,
                        action.computed,
                    )
                elif isinstance(action, Fail):
                    failed = action.reason
                    break
            lead = self.leader
            summary = (lead.zab_state, lead.accepted_epoch, lead.current_epoch, self.last_logged)
            if summary != self._summary:
                self._summary, moved = summary, True
        if moved and self.on_progress is not None:
            self.on_progress()
        if self.on_mismatch is not None:
            for _ in range(mismatches):
                self.on_mismatch()
        if failed is not None:
            log.info("sid %d: leadership ended: %s", self.settings.sid, failed)
            self._end(failed)
            self.halt()
            return False
        return True

    def _end(self, reason: str) -> None:
        with self._lock:
            if self.ended is not None:
                return
            self.ended = reason
        if self.on_end is not None:
            self.on_end(reason)


def _receive(cnx: int, packets: list[QuorumPacket], lead: ZabLeader) -> list[LeaderAction]:
    now = _now_ms()
    return [action for qp in packets for action in lead.receive(cnx, qp, now=now)]


def _logged(zxid: int, lead: ZabLeader) -> list[LeaderAction]:
    return lead.logged(zxid)


def _take_all(
    out: queue.SimpleQueue[QuorumPacket | SnapshotDump | None],
) -> tuple[list[QuorumPacket | SnapshotDump], bool]:
    """Everything queued, waiting for the first item; and whether the end (None) came."""
    items = []
    item = out.get()
    while item is not None:
        items.append(item)
        try:
            item = out.get_nowait()
        except queue.Empty:
            return items, False
    return items, True


def _now_ms() -> int:
    """ZK: Time.currentWallTime, the txns' times and the sessions' clock."""
    return int(time.time() * 1000)
