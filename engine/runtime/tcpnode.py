"""One server as its own process over TCP (`TcpNode`, what `zkfle node` runs), speaking
ZooKeeper's election protocol.

Theory of operation
-------------------
A `TcpNode` runs one `QuorumPeer` core with ZooKeeper's threads around it, over a
`TcpCnxManager` (the election connections, ZooKeeper's wire format) and a `QuorumPlane`
(the learner-leader connection):

* WorkerSender (ZK: FastLeaderElection.Messenger.WorkerSender) encodes the core's
  notifications and hands them to QuorumCnxManager.toSend, which connects if needed;
* WorkerReceiver (ZK: Messenger.WorkerReceiver) takes messages from the receive queue,
  decodes them (a malformed one is skipped with a log line and a `drop` event) and steps
  the core with `Receive`;
* the QuorumPeer main thread takes the core's main-thread inputs one at a time:
  lookForLeader's poll, its timeouts (with `have_delivered` read from the manager),
  learner/leader packets and connection events, and the next lookForLeader.

Every step is recorded with its input and output (engine.trace.record forms), in the order the
core consumed them, together with boot/stop, state changes, sends, deliveries, drops and
connections, so `zkfle verify` re-executes the node's trace.

The learner<->leader side, with Java leaders and followers too, is `QuorumSide`'s
(engine.runtime.quorumside); the command line is engine.runtime.node's.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.core.config import QuorumPeerConfig
from engine.core.election import ElectionConfig
from engine.core.peer.io import Durable, Input, LookForLeader, Output, Receive, Timing, ZabState
from engine.core.peer.mainthread import main_due, next_main_input
from engine.core.peer.quorumpeer import PeerError, QuorumPeer
from engine.core.vote import ServerState, Sid, ToSend, zxid_hex
from engine.core.wire import UnknownStateError, WireError, decode_notification, encode_notification
from engine.runtime.clientport import ClientPort, client_address
from engine.runtime.durable import DurableError, DurableStore
from engine.runtime.quorumside import QuorumSide
from engine.runtime.transport.sockets import Address, TransportError
from engine.runtime.transport.tcp import CnxHooks, TcpCnxManager
from engine.runtime.views import learners_json
from engine.runtime.zab.store import ZabStore, ZabStoreError
from engine.trace.format import TraceWriter, default_trace_path, make_header
from engine.trace.record import (
    durable_json,
    input_json,
    output_json,
    state_fields,
    state_signature,
    timing_json,
    vote_json,
)
from engine.trace.recorder import Recorder

__all__ = ["NodeError", "TcpNode"]

log = logging.getLogger("zkfle.node")

JOIN_TIMEOUT_S = 5.0
_IDLE_S = 0.2
"""The main thread wakes at least this often when idle, to hand the trace to the kernel."""
_RECV_POLL_S = 0.5


class NodeError(Exception):
    """The node cannot start: bad config, no myid or data dir, durable state, ports."""


def _weight(cfg: QuorumPeerConfig, sid: Sid) -> int:
    try:
        return cfg.quorum_verifier.weight(sid)
    except KeyError:
        return 0


class TcpNode(QuorumSide):
    """One server over TCP: a QuorumPeer core, ZooKeeper's threads, a trace.

    `out` receives one human-readable line per state change (default: print). `trace`
    is the trace file (default traces/<time>-node<myid>.jsonl; `record=False` writes
    none). `socket_timeout_ms` defaults to ZooKeeper's tickTime × syncLimit (or the
    zoo.cfg key quorumCnxnTimeoutMs when positive).
    """

    def __init__(
        self,
        cfg: QuorumPeerConfig,
        *,
        data_dir: Path | str | None = None,
        trace: Path | str | None = None,
        record: bool = True,
        out: Callable[[str], None] | None = None,
        seed: int | None = None,
        label: str | None = None,
    ) -> None:
        if cfg.myid is None:
            raise NodeError(f"{cfg.path}: no myid: give --myid or write the id to <dataDir>/myid")
        self.cfg = cfg
        self.myid: Sid = cfg.myid
        directory = data_dir if data_dir is not None else cfg.data_dir
        if directory is None:
            raise NodeError(f"{cfg.path}: no dataDir: give --data-dir or set dataDir")
        self.data_dir = Path(directory)
        self.qv = cfg.quorum_verifier
        self.config_text = self.qv.to_string()
        self.timing = Timing(
            tick_time_ms=cfg.tick_time_ms,
            init_limit=cfg.init_limit,
            sync_limit=cfg.sync_limit,
            election=ElectionConfig(),
            zab_leader=True,  # it leads with ZooKeeper's Zab (QuorumSide._lead)
        )
        self.socket_timeout_ms = self._socket_timeout_ms(cfg)
        self.store = DurableStore(self.data_dir)
        self.seed = seed if seed is not None else secrets.randbelow(1 << 31)
        self.zab_store = ZabStore(
            self.data_dir,
            snap_count=cfg.snap_count,
            snap_size_limit_kb=cfg.snap_size_limit_kb,
            rand=random.Random(f"{self.seed}:snapshots").randrange,
        )
        super().__init__()  # the learner<->leader side: nothing connected yet
        self.rng_observer = random.Random(f"{self.seed}:observer")
        self.out = out if out is not None else _print_line
        self.label = label or f"node{self.myid}"
        self.trace_path: Path | None = None
        self.writer: TraceWriter | None = None
        self.recorder = Recorder()
        self._record = record
        self._trace_arg = Path(trace) if trace is not None else None

        self.lock = threading.RLock()
        self._main_cond = threading.Condition(self.lock)
        self._sender_cond = threading.Condition(self.lock)
        self.core: QuorumPeer | None = None
        self.durable = Durable()
        self.sendqueue: deque[ToSend] = deque()
        """FLE.sendqueue, drained by WorkerSender."""
        self.inbox: deque[Input] = deque()
        """Main-thread inputs other than lookForLeader's poll."""
        self.deadline: float | None = None
        self.look_at: float | None = None
        self.forced_timeout = False
        self.qcm: TcpCnxManager | None = None
        self.client_port: ClientPort | None = None
        self.stopping = False
        self.started = False
        self._threads: list[threading.Thread] = []
        self._ids = {"m": itertools.count(1), "p": itertools.count(1)}
        self._t0 = time.monotonic()
        self._bound: tuple[Address, ...] | None = None
        self._electing = threading.Event()
        """Set once the first lookForLeader ran: WorkerReceiver waits for it (messages that
        arrive earlier wait in the receive queue)."""
        self.errors: list[str] = []
        """Exceptions that ended one of our threads (a bug: they are logged too)."""
        self.last_reason: str | None = None

    @staticmethod
    def _socket_timeout_ms(cfg: QuorumPeerConfig) -> int:
        """ZK: QuorumPeer.getQuorumCnxnTimeoutMs - tickTime × syncLimit unless
        quorumCnxnTimeoutMs is positive."""
        for key, value in cfg.other:
            if key == "quorumCnxnTimeoutMs":
                try:
                    if int(value) > 0:
                        return int(value)
                except ValueError:
                    pass
        return max(cfg.tick_time_ms * cfg.sync_limit, 1)

    # --- clock and recording --------------------------------------------------------------

    def now(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    def emit(self, kind: str, **fields: Any) -> None:
        self.recorder.emit(kind, self.now(), self.myid, **fields)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids[prefix])}"

    def _header(self) -> dict[str, Any]:
        t = self.timing
        servers = [
            {"sid": sid, "type": qs.learner_type.word, "weight": _weight(self.cfg, sid)}
            for sid, qs in sorted(self.qv.all_members.items())
        ]
        return make_header(
            config=self.config_text,
            servers=servers,
            timing=timing_json(t),
            initial={str(self.myid): durable_json(self.durable)},
            runtime="threaded",
            transport="tcp",
            seed=self.seed,
            label=self.label,
            created=datetime.now(UTC),
        )

    # --- life cycle -----------------------------------------------------------------------

    def bind(self) -> tuple[Address, ...]:
        """Load durable state, build the core (`boot`), bind the election port and start
        the threads, without electing yet (ZK: QuorumPeer.start up to the main loop).
        Start several nodes with bind() on each, then start() on each, and every one
        listens before the first one votes. Returns the bound election addresses.
        Raises NodeError."""
        if self._bound is not None:
            return self._bound
        if self.started:
            raise NodeError("already started")
        self.started = True
        try:
            self.durable = self.store.load(self.zab_store.last_logged_zxid())
        except (DurableError, ZabStoreError) as e:
            raise NodeError(str(e)) from None
        try:
            core = QuorumPeer(self.myid, self.qv, self.durable, self.timing)
        except PeerError as e:
            raise NodeError(f"{self.cfg.path}: {e}") from None
        if self._record:
            path = self._trace_arg or default_trace_path(self.label, datetime.now())
            self.writer = TraceWriter(path, self._header())
            self.trace_path = path
            self.recorder.sinks.append(self.writer)
        for warning in self.cfg.warnings:
            log.warning("%s", warning)
        # The core boots first: nothing the transports report can precede it.
        with self.lock:
            self.core = core
            self.emit("boot", durable=durable_json(self.durable))
        qcm = self._new_qcm()
        try:
            bound = qcm.start()
        except TransportError as e:
            with self.lock:
                self.core = None
                self.stopping = True
            if self.writer is not None:
                self.writer.close(self.writer.footer_event(round(self.now(), 3), "aborted"))
            raise NodeError(str(e)) from None
        self.qcm = qcm
        self.plane = self._new_plane()
        self.client_port = self._open_client_port()
        self._spawn(f"QuorumPeer[myid={self.myid}]", self._main_loop)
        self._spawn(f"WorkerSender[myid={self.myid}]", self._worker_sender)
        self._spawn(f"WorkerReceiver[myid={self.myid}]", self._worker_receiver)
        self._bound = bound
        return bound

    def _open_client_port(self) -> ClientPort | None:
        """Refuse clients where ZooKeeper would serve them (engine.runtime.clientport). A
        port that cannot be bound is said once and the node runs on: it serves no clients
        either way, and its election must not depend on a port it does not use."""
        address = client_address(self.cfg)
        if address is None:
            return None
        port = ClientPort(self.myid, address, self.out)
        try:
            port.start()
        except OSError as e:
            self.out(
                f"n{self.myid}: client port {address[0]}:{address[1]} not opened "
                f"({os.strerror(e.errno) if e.errno else e}): clients get no answer from this node"
            )
            return None
        return port

    def start(self) -> None:
        """bind() if not done yet, then enter the first election (lookForLeader).
        Raises NodeError."""
        bound = self.bind()
        with self.lock:
            if self.core is None or self.stopping or self._electing.is_set():
                return
            where = ", ".join(f"{h}:{p}" for h, p in bound)
            self.out(
                f"n{self.myid}: LOOKING (election port {where}, currentEpoch "
                f"{self.durable.current_epoch}, acceptedEpoch {self.durable.accepted_epoch}, "
                f"lastZxid {zxid_hex(self.durable.last_zxid)})"
            )
            self._step(LookForLeader())
            self._electing.set()

    def _new_qcm(self) -> TcpCnxManager:
        cfg = self.cfg
        view = {sid: qs.election_addr for sid, qs in self.qv.all_members.items()}
        listen: tuple[Address, ...] | None = None
        if cfg.quorum_listen_on_all_ips:
            listen = tuple(("0.0.0.0", port) for _, port in view[self.myid])
        keepalive = any(k == "tcpKeepAlive" and v.lower() == "true" for k, v in cfg.other)
        return TcpCnxManager(
            self.myid,
            view,
            listen=listen,
            socket_timeout_ms=self.socket_timeout_ms,
            cnx_timeout_ms=cfg.cnx_timeout_ms,
            multi_address=cfg.multi_address_enabled,
            tcp_keepalive=keepalive,
            hooks=CnxHooks(
                evicted=self._evicted,
                sent=self._sent,
                delivered=self._delivered,
                connection=self._connection,
            ),
            message_id=lambda: self._next_id("m"),
        )

    def stop(self, reason: str = "shutdown") -> None:
        """Stop every thread, close every socket, finish the trace. Idempotent."""
        with self.lock:
            if self.stopping or not self.started:
                self.stopping = True
                return
            was_running = self.core is not None
            if was_running:
                self.emit("stop", reason=reason)
            self.stopping = True
            self.core = None
            self._main_cond.notify_all()
            self._sender_cond.notify_all()
            qcm, plane = self.qcm, self.plane
            zab = self._learners()
            self.zab_conn, self._retired = None, []
            self._retire_lead()
            leads, self._retired_leads = self._retired_leads, []
        for conn in zab:
            conn.halt()
            conn.join(JOIN_TIMEOUT_S)
        for service in leads:
            service.join(JOIN_TIMEOUT_S)
        self.zab_store.join_snapshot(JOIN_TIMEOUT_S)
        if self.client_port is not None:
            self.client_port.stop(JOIN_TIMEOUT_S)
        problems = []
        for part in (plane, qcm):
            if part is None:
                continue
            try:
                part.halt()
            except TransportError as e:
                problems.append(str(e))
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT_S)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if self.writer is not None:
            self.writer.close(self.writer.footer_event(round(self.now(), 3)))
        if was_running:
            self.out(f"n{self.myid}: stopped ({reason})")
        if stuck:
            problems.append(f"threads did not stop: {', '.join(stuck)}")
        if problems:
            raise TransportError("; ".join(problems))

    def threads(self) -> list[str]:
        """Names of every thread of this node still running (transports included)."""
        names = [t.name for t in self._threads if t.is_alive()]
        with self.lock:
            zab = self._learners()
            leads = self._retired_leads + ([self.zab_lead] if self.zab_lead is not None else [])
        names += [f"zab-learner-{self.myid}" for conn in zab if conn.alive()]
        names += [name for service in leads for name in service.alive()]
        if self.client_port is not None and self.client_port.alive():
            names.append(f"ClientPort[myid={self.myid}]")
        for part in (self.qcm, self.plane):
            if part is not None:
                names += part.threads()
        return names

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, name: str, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception as e:  # a dying thread must say why, not vanish
            self.errors.append(f"{name}: {e!r}")
            log.exception("%s died", name)

    # --- views (for tests and status lines) -----------------------------------------------

    @property
    def state(self) -> ServerState | None:
        with self.lock:
            return self.core.peer_state if self.core is not None else None

    @property
    def established(self) -> bool:
        with self.lock:
            return self.core is not None and self.core.zab_state == ZabState.BROADCAST

    def status(self) -> dict[str, Any]:
        """A summary like `zkfle run --json` gives per node."""
        with self.lock:
            core = self.core
            d: dict[str, Any] = {"sid": self.myid, "alive": core is not None}
            if core is None:
                return d
            d.update(
                state=core.peer_state.name,
                zab=core.zab_state,
                leader=core.current_vote.leader if core.peer_state != ServerState.LOOKING else None,
                logicalclock=core.election.logicalclock,
                vote=vote_json(core.current_vote),
                current_epoch=core.durable.current_epoch,
                accepted_epoch=core.durable.accepted_epoch,
                last_zxid=zxid_hex(core.last_logged_zxid()),
                established=core.zab_state == ZabState.BROADCAST,
                sync_mode=core.sync_mode,
                digest_mismatches=self.digest_mismatches,
            )
            lead = self.zab_lead
            learners = lead.learner_views() if lead is not None else core.zab_learners(self.now())
            if core.peer_state == ServerState.LEADING:
                d["learners"] = learners_json(learners)
            return d

    # --- the core boundary ----------------------------------------------------------------

    def _step(self, event: Input, msg: str | None = None) -> Output:
        """Feed one input to the core (caller holds the lock) and carry out the output."""
        core = self.core
        assert core is not None
        before = (core.peer_state, core.zab_state, core.sync_mode)
        signature = state_signature(core)
        now = round(self.now(), 3)
        out = core.step(event, now)
        fields: dict[str, Any] = {
            "input": input_json(event, self.config_text),
            "output": output_json(out, self.config_text),
        }
        if msg:
            fields["msg"] = msg
        self.recorder.emit("step", now, self.myid, **fields)
        if state_signature(core) != signature:
            self.emit("state", **state_fields(core, out))
        self._apply(core, out)
        self._report(core, out, before)
        return out

    def _apply(self, core: QuorumPeer, out: Output) -> None:
        if out.persist is not None:
            self.store.save(out.persist, self.durable)
            self.durable = out.persist
        if out.restart_election:
            self._restart_election()
        if out.sends:
            self.sendqueue.extend(out.sends)
            self._sender_cond.notify()
        if out.connect_all and self.qcm is not None:
            self.qcm.connect_all()
        for action in out.zab:
            self._zab_action(action)
        self._leader_port(core)
        self.deadline = core.deadline
        if out.election_delay_max_ms is not None:
            delay = 0.0
            if out.election_delay_max_ms > 0:
                delay = self.rng_observer.uniform(0, out.election_delay_max_ms)
            self.look_at = self.now() + delay
        self._main_cond.notify()

    def _restart_election(self) -> None:
        """ZK: startLeaderElection - a new QuorumCnxManager replaces the old one."""
        old = self.qcm
        if old is not None:
            try:
                old.halt()
            except TransportError as e:
                log.error("n%s: %s", self.myid, e)
        qcm = self._new_qcm()
        try:
            qcm.start()
        except TransportError as e:
            log.error("n%s: cannot restart the election connections: %s", self.myid, e)
        self.qcm = qcm

    def _report(
        self, core: QuorumPeer, out: Output, before: tuple[ServerState, str, str | None]
    ) -> None:
        state, zab = core.peer_state, core.zab_state
        if out.reason:
            self.last_reason = out.reason
        if before[0] == ServerState.LOOKING and out.decided is not None:
            vote = out.decided
            took = f" took={core.election_took_ms:.0f}ms" if core.election_took_ms else ""
            self.out(
                f"n{self.myid}: LOOKING → {state.name} leader={vote.leader} "
                f"round={vote.election_epoch}{took}"
            )
        elif before[0] != state:
            why = f" ({out.reason})" if out.reason else ""
            self.out(f"n{self.myid}: {before[0].name} → {state.name}{why}")
        leader = core.current_vote.leader
        if core.sync_mode is not None and core.sync_mode != before[2]:
            self.out(
                f"n{self.myid}: {state.name}: {core.sync_mode} from leader {leader} "
                f"(acceptedEpoch {core.durable.accepted_epoch})"
            )
        if zab == ZabState.BROADCAST and before[1] != ZabState.BROADCAST:
            epoch = core.durable.current_epoch
            if state == ServerState.LEADING:
                self.out(f"n{self.myid}: LEADING: epoch {epoch} established with a quorum")
            else:
                how = f" (UPTODATE, zxid {zxid_hex(core.durable.last_zxid)})"
                self.out(
                    f"n{self.myid}: {state.name}: synced with leader {leader}, epoch {epoch}{how}"
                )
        if out.restart_election:
            self.out(f"n{self.myid}: election restarted (a newer config arrived)")

    # --- QuorumCnxManager observations ----------------------------------------------------

    def _evicted(self, to: Sid, message: Any, reason: str) -> None:
        if self.stopping:
            return
        src = message.sid
        self.emit("drop", msg=message.msg_id, reason=reason, **{"from": src, "to": to})

    def _sent(self, to: Sid, message: Any, resend: bool) -> None:
        if resend and not self.stopping:
            # SendWorker.run: an empty queue on a new connection re-sends the last message.
            self.emit("send", msg=self._next_id("m"), to=to, resend=message.msg_id)

    def _delivered(self, sender: Sid, message: Any) -> None:
        if not self.stopping:  # loopback too: trace format 1.1 accounts for every message
            self.emit("deliver", msg=message.msg_id, **{"from": sender})

    def _connection(self, sid: Sid, up: bool, reason: str) -> None:
        if not self.stopping:
            self.emit("conn", peer=sid, up=up, plane="election", reason=reason)

    # --- threads --------------------------------------------------------------------------

    def _main_loop(self) -> None:
        """The QuorumPeer main thread: one core input at a time."""
        with self.lock:
            while not self.stopping:
                if self.core is not None and self._main_once():
                    continue
                self._main_cond.wait(self._main_wait_s())
                if self.writer is not None:
                    self.writer.flush()

    def _main_once(self) -> bool:
        core = self.core
        assert core is not None
        event = next_main_input(core, self, self.now())
        if event is None:
            return False
        self._step(event)
        return True

    def have_delivered(self) -> bool:
        return self.qcm.have_delivered() if self.qcm is not None else False

    def _main_wait_s(self) -> float:
        due = main_due(self)
        if due is None:
            return _IDLE_S
        return min(max(due - self.now(), 0.0) / 1000.0, _IDLE_S)

    def _worker_sender(self) -> None:
        """ZK: WorkerSender - encode, QuorumCnxManager.toSend (which connects)."""
        while True:
            with self.lock:
                while not self.stopping and not self.sendqueue:
                    self._sender_cond.wait()
                if self.stopping:
                    return
                m = self.sendqueue.popleft()
                msg_id = self._next_id("m")
                self.emit("send", msg=msg_id, to=m.sid)
                qcm = self.qcm
                if qcm is not None and m.sid == self.myid:
                    # ZK: toSend puts a message to ourselves straight into recvQueue; its
                    # delivery is recorded under the same hold as its send, so a stop cannot
                    # fall between them (trace format 1.1: every loopback send is delivered).
                    self._to_send(qcm, m, msg_id)
                    continue
            if qcm is not None:
                self._to_send(qcm, m, msg_id)

    def _to_send(self, qcm: TcpCnxManager, m: ToSend, msg_id: str) -> None:
        try:
            qcm.to_send(m.sid, encode_notification(m), msg_id)
        except WireError as e:  # a field out of Java's range: our bug, say so
            log.error("n%s: cannot encode notification to %s: %s", self.myid, m.sid, e)

    def _worker_receiver(self) -> None:
        """ZK: WorkerReceiver - decode, skip malformed messages, step the core."""
        while not self._electing.wait(_RECV_POLL_S):
            if self.stopping:
                return
        while not self.stopping:
            qcm = self.qcm
            if qcm is None:
                return
            message = qcm.poll_recv_queue(_RECV_POLL_S)
            if message is None:
                continue
            try:
                n = decode_notification(message.payload, message.sid)
            except UnknownStateError as e:
                self._skip(message, "unknown_state", str(e))
                continue
            except WireError as e:
                log.warning("n%s: skipping malformed notification: %s", self.myid, e)
                self._skip(message, "malformed", str(e), payload=message.payload.hex())
                continue
            with self.lock:
                if self.core is None or self.stopping:
                    return
                self._step(Receive(n), msg=message.msg_id)

    def _skip(self, message: Any, reason: str, detail: str, **extra: Any) -> None:
        with self.lock:
            if not self.stopping:
                self.emit(
                    "drop",
                    msg=message.msg_id,
                    reason=reason,
                    detail=detail,
                    **{"from": message.sid, "to": self.myid},
                    **extra,
                )


def _print_line(line: str) -> None:
    print(line, flush=True)
