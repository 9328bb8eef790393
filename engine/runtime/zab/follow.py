"""One learner connection to a Zab leader's quorum port over TCP, on its own thread: the
bytes cut by `QuorumStream`, fed to the pure `ZabLearner`, its actions carried out in order
against a `ZabStore` (each durable write done before the next action, so before any
acknowledgement after it) and the socket.

`zkfle node` hands it the socket it already opened to a leader that sent no zkfle greeting
(engine.runtime.quorumside); tests dial a leader with it directly. `on_progress` hears of every
change of phase, sync mode, epoch or zxid - after the actions that made it durable - and
`on_end` of the end, `on_mismatch` of a txn whose tree digest is not the one the leader
sent (logged as an error here, as ZooKeeper's DataTree.compareDigest does), all on the
connection's thread.

The socket's read timeout is ZooKeeper's: `initLimit` ticks until NEWLEADER, then
`syncLimit` ticks (ZK: Learner.syncWithLeader's setSoTimeout). The connection ends - and
`ended` says why, in ZooKeeper's words - on that timeout, on the leader's EOF, on a
malformed packet (named, as LearnerHandler.packetToString would) or when the learner
fails; a node would go back to LOOKING then.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from engine.core.jute.archive import JuteError
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.stream import QuorumStream
from engine.core.jute.txn import TxnEntry
from engine.core.vote import zxid_hex
from engine.core.zab.learner import (
    Action,
    Committed,
    DigestMismatch,
    Fail,
    LogTxns,
    SaveEpoch,
    Send,
    TakeSnapshot,
    TruncateLog,
    ZabLearner,
)
from engine.runtime.transport.sockets import Address, connect_with_timeout, shutdown_socket
from engine.runtime.zab.store import ZabStore

__all__ = ["LearnerConnection", "LearnerSettings", "LearnerView", "group_commit"]

log = logging.getLogger("zkfle.zab")


@dataclass(frozen=True, slots=True)
class LearnerSettings:
    sid: int
    observer: bool = False
    config_version: int = 0
    tick_time_ms: int = 200
    init_limit: int = 10
    sync_limit: int = 5
    config: str = ""
    """The quorum config text (QuorumVerifier.toString): /zookeeper/config of a fresh tree."""


class LearnerView(NamedTuple):
    """Where the learner stands (what a node's core mirrors)."""

    zab_state: str
    sync_mode: str | None
    accepted_epoch: int
    current_epoch: int
    last_zxid: int


def group_commit(actions: list[Action]) -> list[Action]:
    """`actions` with the txns of consecutive LogTxns written as one (one fsync) before the
    Sends between them: what a single read brought (a pipelined leader's proposals) is
    acknowledged after one flush, as ZooKeeper's SyncRequestProcessor flushes a batch and
    then its SendAckRequestProcessor acknowledges it. Nothing is sent (nor a commit
    applied) before the txns logged ahead of it, and nothing moves across another durable
    action."""
    out: list[Action] = []
    entries: list[TxnEntry] = []
    held: list[Action] = []
    for action in actions:
        if isinstance(action, LogTxns):
            entries += action.entries
        elif entries and isinstance(action, Send | Committed):
            held.append(action)
        else:
            if entries:
                out += [LogTxns(tuple(entries)), *held]
                entries, held = [], []
            out.append(action)
    if entries:
        out += [LogTxns(tuple(entries)), *held]
    return out


class LearnerConnection:
    """Follow (or observe) the leader at `leader` with the data in `store`."""

    def __init__(
        self,
        settings: LearnerSettings,
        leader: Address,
        store: ZabStore,
        on_end: Callable[[str], None] | None = None,
        on_progress: Callable[[LearnerView], None] | None = None,
        processed_zxid: int | None = None,
    ) -> None:
        self.settings = settings
        self.leader = leader
        self.store = store
        self.processed_zxid = processed_zxid
        """The node's database zxid kept from its last role where ahead of the log
        (engine.core.zab.learner's `processed_zxid`)."""
        self.on_end = on_end
        self.on_progress = on_progress
        self.on_mismatch: Callable[[], None] | None = None
        self._shown: LearnerView | None = None
        """What on_progress heard last."""
        self.learner: ZabLearner | None = None
        self.ended: str | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        """Held while the learner steps: readers of its state take it too."""

    def start(self, sock: socket.socket | None = None) -> None:
        """Load the data (ZabStoreError, DurableError or JuteError if it cannot be read), then dial
        the leader (ZK: Learner.connectToLeader, within initLimit ticks) - unless `sock` is
        a connection to it already up, which the learner then owns - and run the connection
        on a thread; `ended` says why it ended."""
        s = self.settings
        durable = self.store.epochs.load()
        snapshot, logged = self.store.load()
        self.learner = ZabLearner(
            s.sid,
            observer=s.observer,
            accepted_epoch=durable.accepted_epoch,
            current_epoch=durable.current_epoch,
            config_version=s.config_version,
            snapshot=snapshot,
            log=logged,
            config=s.config.encode(),
            processed_zxid=self.processed_zxid,
        )
        self._sock = sock
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"zab-learner-{s.sid}", daemon=True
        )
        self._thread.start()

    def halt(self) -> None:
        """Close the connection without waiting for its thread (`join` does)."""
        self._halt.set()
        if self._sock is not None:
            shutdown_socket(self._sock)

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def stop(self) -> None:
        self.halt()
        self.join()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def view(self) -> LearnerView:
        assert self.learner is not None
        with self._lock:
            lr = self.learner
            return LearnerView(
                lr.zab_state, lr.sync_mode, lr.accepted_epoch, lr.current_epoch, lr.last_logged_zxid
            )

    def snapshot_state(self) -> tuple[str, str | None, int, str]:
        """(zab state, sync mode, last logged zxid, database fingerprint), read consistently."""
        assert self.learner is not None
        with self._lock:
            lr = self.learner
            return lr.zab_state, lr.sync_mode, lr.last_logged_zxid, lr.database.fingerprint()

    # --- the thread -------------------------------------------------------------------------

    def _run(self, adopted: socket.socket | None) -> None:
        s = self.settings
        sock = adopted or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock = sock
        try:
            if adopted is None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                problem = connect_with_timeout(
                    sock, self.leader, s.init_limit * s.tick_time_ms / 1000, self._halt.is_set
                )
                if problem is not None:
                    self._end(f"Failed connect to {self.leader[0]}:{self.leader[1]}: {problem}")
                    return
            assert self.learner is not None
            with self._lock:
                actions = self.learner.start()
            if self._carry_out(actions):
                self._read(sock)
        finally:
            sock.close()

    def _read(self, sock: socket.socket) -> None:
        s = self.settings
        stream = QuorumStream()
        assert self.learner is not None
        while not self._halt.is_set():
            limit = s.init_limit if self.learner.read_limit == "init" else s.sync_limit
            sock.settimeout(limit * s.tick_time_ms / 1000)
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                self._end("Read timed out: no packet from the leader")
                return
            except OSError as e:
                self._end(f"Connection to the leader broken: {e}")
                return
            if not data:
                self._end("Connection to the leader closed")
                return
            try:
                items = stream.feed(data)
                if stream.deferring and not select.select([sock], [], [], 0)[0]:
                    # A dump cut short, and nothing more to read now: the leader paused,
                    # and its end (then NEWLEADER, awaiting our ACK) may be here already.
                    items += stream.feed(b"", settle=True)
            except JuteError as e:
                self._end(f"Malformed packet from the leader: {e}")
                return
            actions: list[Action] = []
            with self._lock:
                for item in items:
                    actions += self.learner.receive(item)
            if not self._carry_out(group_commit(actions)):
                return

    def _carry_out(self, actions: list[Action]) -> bool:
        """Each action in order; False once the connection ended."""
        assert self._sock is not None
        for action in actions:
            if isinstance(action, Send):
                try:
                    self._sock.sendall(action.packet.encode())
                except OSError as e:
                    self._end(f"Connection to the leader broken: {e}")
                    return False
            elif isinstance(action, SaveEpoch):
                self.store.save_epoch(action.name, action.epoch)
            elif isinstance(action, LogTxns):
                if self.store.append(action.entries):
                    self.store.snapshot_in_background(self._image)
            elif isinstance(action, TakeSnapshot):
                self.store.take_snapshot(action.dump, action.zxid)
            elif isinstance(action, TruncateLog):
                self.store.truncate(action.zxid)
            elif isinstance(action, DigestMismatch):
                log.error(
                    "sid %d: digest mismatch on txn %s: the leader's %d, our tree's %d",
                    self.settings.sid,
                    zxid_hex(action.zxid),
                    action.logged,
                    action.computed,
                )
                if self.on_mismatch is not None:
                    self.on_mismatch()
            elif isinstance(action, Fail):
                self._end(action.reason)
                return False
        self._report()
        return True

    def _image(self) -> tuple[SnapshotDump, int]:
        """The tree as it stands, for a snapshot (ZK: ZooKeeperServer.takeSnapshot)."""
        assert self.learner is not None
        with self._lock:
            db = self.learner.database
            return db.dump(), db.last_processed_zxid

    def _report(self) -> None:
        """on_progress, if the learner moved since it last heard."""
        if self.on_progress is None:
            return
        view = self.view()
        if view != self._shown:
            self._shown = view
            self.on_progress(view)

    def _end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = "halted" if self._halt.is_set() else reason
            log.info("sid %d: left the leader: %s", self.settings.sid, self.ended)
            if self.on_end is not None:
                self.on_end(self.ended)
