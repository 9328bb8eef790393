"""`--runtime zookeeper`: real Apache ZooKeeper servers as a runtime of the Cluster facade.

N servers (engine.runtime.zookeeper.server) on 127.0.0.1, each with its own directory, data
dir, myid and generated config whose peer ports are the recording proxy's (proxy.py), so
every server-to-server byte crosses the proxy and the network faults happen there. The
runtime answers engine.runtime.protocol.Runtime:

* life: `boot` launches the JVM (on the same data dir after a crash), `crash` is SIGKILL,
  `pause`/`resume` SIGSTOP/SIGCONT; link faults, `hold`/`release`, `drop`/`deliver` go to
  the proxy; `write` is a real client write (kazoo) that returns the zxids ZooKeeper gave.
* what it records: the proxy's events (every notification sent, delivered or dropped, every
  Zab packet, connections) and every server's log, tailed and read by the tolerant reader
  (engine.trace.zklog) into the real-server kinds of trace format 1.1, with the server's own
  timestamp (`at`) and the run's clock (`t_ms`); a line the reader does not know is kept
  verbatim as a `log` event and counted. A change of what `srvr` says is a `zk` event
  (`what` `serving`), a server that exits by itself a `zk` `exited` with its log's tail.
* what views show: life from the process; state, established and zxid from `srvr` (a
  server serves only once its leader established the epoch with a quorum), else from its
  log; epochs from the data dir's currentEpoch/acceptedEpoch files; vote and logicalclock
  from the last notification it sent (the proxy decodes it); whom a learner follows from
  its FOLLOWERINFO/OBSERVERINFO; in place of send queues, what the proxy holds or delays
  per link (`proxied`). What a real server does not expose is in `unknown`.

What cannot be done to a real server is refused with one line: forcing the notification
timeout, and `set zxid=` (a server's last zxid comes from its transaction log; `write`
moves it).
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from engine.core.peer.io import Durable, Timing
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import ClusterView, FaultView, NodeView, quorum_count, stable_leader
from engine.core.vote import LearnerType, ServerState, Sid, Vote, parse_zxid
from engine.runtime.durable import DurableError
from engine.runtime.faults import LinkFault
from engine.runtime.protocol import Life, RefusedError, UnavailableError
from engine.runtime.zookeeper.events import ELECTION, LinkDepth, ProxyError, ProxyEvent
from engine.runtime.zookeeper.proxy import ZkProxy
from engine.runtime.zookeeper.server import (
    ZkServer,
    ZkServerError,
    ZkSettings,
    java_missing,
    make_ensemble,
    real_ports,
    route_through,
    zookeeper_version,
)
from engine.trace.evidence import Evidence
from engine.trace.recorder import Recorder
from engine.trace.zklog.layout import Record, read_records
from engine.trace.zklog.statements import recognise, record_event

POLL_INTERVAL_S = 0.05
"""How often the watcher reads the logs and asks each server `srvr`."""
SRVR_TIMEOUT_S = 0.5
WRITE_TIMEOUT_S = 10.0
"""A client write: connecting and committing, on a loaded machine."""
WRITE_PATH = "/zkfle/write-"
LOG_TAIL_LINES = 12
"""How much of a server's log an `exited` event and an error message quote."""
NEVER_SHOWN = frozenset(
    {
        "recvset",
        "outofelection",
        "finalizing",
        "not_timeout_ms",
        "fle_recvqueue",
        "recv_queue",
    }
)
"""NodeView fields a real server shows neither on the wire, in `srvr` nor in its log."""
PROXIED = frozenset({"send_queues"})
"""NodeView fields the proxy fills in (what it holds per link; see NodeView.proxied)."""
_PARTIAL_VOTE = frozenset(
    {"current_vote.zxid", "current_vote.election_epoch", "current_vote.peer_epoch"}
)
_MODES = {
    "leader": ServerState.LEADING,
    "follower": ServerState.FOLLOWING,
    "observer": ServerState.OBSERVING,
}
_SRVR_LINE = re.compile(r"^(Zxid|Mode): (\S+)", re.MULTILINE)
_LEARNER_INFO = frozenset({"FOLLOWERINFO", "OBSERVERINFO"})

# kazoo reports connection trouble through logging; the console owns the terminal.
logging.getLogger("kazoo").addHandler(logging.NullHandler())
logging.getLogger("kazoo").propagate = False


@dataclass
class _Watched:
    """What is known of one server now (guarded by the runtime's lock)."""

    server: ZkServer
    paused: bool = False
    expected_down: bool = True
    """We stopped it (or never started it): its exit is no news."""
    mode: str | None = None
    """srvr's Mode, `not-serving`, or None (no answer)."""
    zxid: int | None = None
    durable: Durable = field(default_factory=Durable)
    """The data dir's epochs as last read (the dir may be gone after the run)."""
    sent: dict[str, Any] | None = None
    """The last notification it sent (the proxy's `n`)."""
    proposal: dict[str, Any] | None = None
    """The last notification it sent while LOOKING: its proposal and logicalclock."""
    following: Sid | None = None
    connections: dict[Sid, int] = field(default_factory=dict)
    log_offset: int = 0
    log_rest: bytes = b""
    log_lines: int = 0
    unknown_lines: int = 0
    took_ms: float | None = None
    started_ms: float | None = None
    last_event: str = ""


class ZooKeeperRuntime:
    """Real ZooKeeper servers behind the recording proxy (see the module docstring)."""

    kind = "zookeeper"

    def __init__(
        self,
        qv: QuorumVerifier,
        timing: Timing,
        recorder: Recorder,
        seed: int,
        directory: Path,
        initial: Mapping[Sid, Durable] = {},
    ) -> None:
        problem = java_missing()
        if problem is not None:
            raise UnavailableError(f"--runtime zookeeper: {problem}")
        self.qv = qv
        self.recorder = recorder
        self.version = zookeeper_version()
        self._t0 = time.monotonic()
        self._wall0_ms = time.time() * 1000.0
        """The run's start on the wall clock, which the servers' log timestamps use."""
        observers = [
            sid for sid, s in qv.all_members.items() if s.learner_type == LearnerType.OBSERVER
        ]
        # Hierarchical quorums: the group and weight lines, as the config text has them.
        extra = tuple(
            line for line in qv.to_string().splitlines() if line.startswith(("group.", "weight."))
        )
        settings = ZkSettings(timing.tick_time_ms, timing.init_limit, timing.sync_limit, extra)
        servers = make_ensemble(directory, sorted(qv.all_members), settings, observers)
        self._lock = threading.RLock()
        self._reading = threading.RLock()
        """One reader of the logs at a time: the watcher, or the last read at close."""
        self._watched = {sid: _Watched(server) for sid, server in servers.items()}
        self._faults: dict[str, LinkFault] = {}
        self._evidence = Evidence(timing.election.min_notification_interval_ms)
        self._timers: set[threading.Timer] = set()
        self._stopped = threading.Event()
        self._final: ClusterView | None = None
        """The view as the run ended (what `run --json` reports after the JVMs are gone)."""
        for sid, durable in initial.items():
            self.save_durable(sid, durable)
        # Nothing runs yet: dials to a server are refused until it is launched.
        self.proxy = ZkProxy(
            real_ports(servers), on_event=self._proxy_event, seed=seed, down=list(servers)
        )
        route_through(servers, self.proxy.peer_ports)
        self.proxy.start()
        self._watcher = threading.Thread(target=self._watch, name="zk-watch", daemon=True)
        self._watcher.start()

    # --- clock and recording ----------------------------------------------------------------------

    def now(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    def emit(self, kind: str, node: Sid | None = None, **fields: Any) -> None:
        self.recorder.emit_fields(kind, self.now(), node, fields)

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        self.call_later(t_ms - self.now(), fn, *args)

    def call_later(self, delay_ms: float, fn: Callable[..., None], *args: Any) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            if not self._stopped.is_set():
                fn(*args)

        timer = threading.Timer(max(delay_ms, 0.0) / 1000.0, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def describe(self) -> dict[str, Any]:
        return {"zookeeper": {"version": self.version}}

    # --- life -------------------------------------------------------------------------------------

    @property
    def sids(self) -> list[Sid]:
        return sorted(self._watched)

    def life(self, sid: Sid) -> Life:
        w = self._watched[sid]
        if not w.server.alive():
            return "down"
        return "paused" if w.paused else "running"

    def boot(self, sid: Sid) -> None:
        problems = self.boot_many([sid])
        if problems:
            raise problems[sid]

    def boot_many(self, sids: list[Sid]) -> dict[Sid, Exception]:
        problems: dict[Sid, Exception] = {}
        for sid in sids:
            w = self._watched[sid]
            try:
                self.stored(sid)  # QuorumPeer refuses these too, less clearly
                w.server.start()
            except (DurableError, ZkServerError, OSError) as e:
                problems[sid] = e
                continue
            with self._lock:
                w.expected_down, w.paused = False, False
            self.proxy.set_down(sid, False)
        return problems

    def crash(self, sid: Sid) -> None:
        w = self._watched[sid]
        with self._lock:
            w.expected_down = True
        # The stop is when SIGKILL went: its peers log the EOF at once, while the wait for
        # the JVM to be reaped and the proxy's closing of its ports take tens of ms more.
        killed_at = self.now()
        w.server.stop(kill=True)
        self.proxy.set_down(sid, True)
        self._forget(sid)
        self.recorder.emit_fields("stop", killed_at, sid, {"reason": "crash"})

    def _forget(self, sid: Sid) -> None:
        """What a dead process knew is gone (its disk and log stay)."""
        with self._lock:
            w = self._watched[sid]
            w.paused = False
            w.mode, w.sent, w.proposal, w.following = None, None, None, None
            w.connections.clear()

    def pause(self, sid: Sid) -> None:
        self._watched[sid].server.signal(signal.SIGSTOP)
        with self._lock:
            self._watched[sid].paused = True
        self.emit("pause", sid)

    def resume(self, sid: Sid) -> None:
        self._watched[sid].server.signal(signal.SIGCONT)
        with self._lock:
            self._watched[sid].paused = False
        self.emit("resume", sid)

    # --- durable state ------------------------------------------------------------------------

    def _epoch_file(self, sid: Sid, name: str) -> Path:
        return self._watched[sid].server.data_dir / "version-2" / name

    def stored(self, sid: Sid) -> Durable | None:
        """currentEpoch and acceptedEpoch as the data dir has them; the last zxid as the
        server last said (it is in the transaction log, which only ZooKeeper reads)."""
        epochs = []
        for name in ("currentEpoch", "acceptedEpoch"):
            path = self._epoch_file(sid, name)
            try:
                epochs.append(int(path.read_text().strip() or "0"))
            except FileNotFoundError:
                epochs.append(0)
            except (OSError, ValueError) as e:
                raise DurableError(f"n{sid}: unreadable {path}: {e}") from None
        current, accepted = epochs
        if accepted < current:  # QuorumPeer.loadDataBase refuses to start
            raise DurableError(
                f"n{sid}: acceptedEpoch {accepted} is less than currentEpoch {current}"
            )
        return Durable(current, accepted, self._watched[sid].zxid or 0)

    def save_durable(self, sid: Sid, durable: Durable) -> None:
        known = self._watched[sid].zxid or 0
        if durable.last_zxid != known:
            raise RefusedError(
                f"n{sid}: a real server's last zxid is in its transaction log, which zkfle"
                " does not write; move zxids with `write` while it runs"
            )
        for name, value in (
            ("currentEpoch", durable.current_epoch),
            ("acceptedEpoch", durable.accepted_epoch),
        ):
            path = self._epoch_file(sid, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(".tmp")
            temp.write_text(str(value))
            temp.replace(path)

    def show_durable(self, sid: Sid, durable: Durable) -> None:
        """Views read the data dir itself: nothing to keep."""

    # --- commands on running servers -----------------------------------------------------------

    def force_timeout(self, sid: Sid) -> bool:
        raise RefusedError(
            "a real server's notification timeout cannot be fired from outside;"
            " `delay`, `hold` or `block` its links to make it time out"
        )

    def client_write(self, sid: Sid, count: int) -> list[int]:
        """`count` znodes created through a client of server `sid`; their zxids."""
        port = self._watched[sid].server.client_port
        client = KazooClient(hosts=f"127.0.0.1:{port}", timeout=WRITE_TIMEOUT_S)
        zxids = []
        try:
            client.start(timeout=WRITE_TIMEOUT_S)
            for _ in range(count):
                _, stat = client.create(WRITE_PATH, sequence=True, makepath=True, include_data=True)
                zxids.append(int(stat.czxid))
        except (KazooException, OSError) as e:  # kazoo's timeouts are KazooExceptions too
            done = f" after {len(zxids)} of {count}" if zxids else ""
            raise RefusedError(f"n{sid}: {type(e).__name__} {e}{done}".rstrip()) from None
        finally:
            with contextlib.suppress(KazooException, OSError):
                client.stop()
            client.close()
        return zxids

    # --- the network: the proxy -----------------------------------------------------------------

    def add_fault(self, fault: LinkFault) -> None:
        self.proxy.add_fault(fault)
        with self._lock:
            self._faults[fault.fault_id] = fault

    def remove_fault(self, fault_id: str) -> LinkFault | None:
        with self._lock:
            self._faults.pop(fault_id, None)
        return self.proxy.remove_fault(fault_id)

    def clear_faults(self) -> list[LinkFault]:
        with self._lock:
            self._faults.clear()
        return self.proxy.clear_faults()

    def release(self, a: Sid, b: Sid, count: int | None = None) -> int:
        return self.proxy.release(a, b, count)

    def discard_held(self, a: Sid, b: Sid, count: int | None = None) -> int:
        return self.proxy.discard_held(a, b, count)

    def resume_streams(self) -> int:
        """The proxy resumes its streams itself when a fault heals."""
        return 0

    def drop_message(self, msg_id: str) -> bool:
        return self.proxy.drop_message(msg_id)

    def deliver_message(self, msg_id: str) -> bool:
        return self.proxy.deliver_message(msg_id)

    def _proxy_event(self, event: ProxyEvent) -> None:
        """The proxy's event thread: record the event, note what it says of its node."""
        fields = event.fields
        if event.node is not None:
            with self._lock:
                self._note(self._watched[event.node], event.kind, fields)
        t_ms = (event.t_mono - self._t0) * 1000.0
        self.recorder.emit_fields(event.kind, t_ms, event.node, dict(fields))

    def _note(self, w: _Watched, kind: str, fields: Mapping[str, Any]) -> None:
        if kind == "send" and isinstance(fields.get("n"), dict):
            n = fields["n"]
            w.sent = n
            if n.get("state") == "LOOKING":
                w.proposal = n
        elif kind == "zsend" and fields.get("packet", {}).get("type") in _LEARNER_INFO:
            w.following = fields.get("to")
        elif kind == "conn" and fields.get("plane") == ELECTION:
            peer = fields.get("peer")
            if type(peer) is int:
                count = w.connections.get(peer, 0) + (1 if fields.get("up") else -1)
                w.connections[peer] = max(count, 0)

    # --- the watcher: logs and srvr --------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopped.wait(POLL_INTERVAL_S):
            for sid in self.sids:
                self._read_log(sid)
                self._ask(sid)

    def _read_log(self, sid: Sid) -> None:
        """The server's new complete log lines as events."""
        with self._reading:
            self._read_new_lines(sid)

    def _read_new_lines(self, sid: Sid) -> None:
        w = self._watched[sid]
        try:
            with open(w.server.log_path, "rb") as f:
                f.seek(w.log_offset)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        w.log_offset += len(data)
        data = w.log_rest + data
        cut = data.rfind(b"\n") + 1
        w.log_rest = data[cut:]
        lines = data[:cut].decode("utf-8", "replace").splitlines()
        first = w.log_lines + 1
        w.log_lines += len(lines)
        name = f"n{sid}/{w.server.log_path.name}"
        for item in read_records(enumerate(lines, first)):
            if isinstance(item, Record):
                fact = recognise(item)
                event = record_event(item, fact)
                if item.exception is not None and "exception" not in event:
                    event["exception"] = item.exception
                # When the server says it happened (same host, same clock; the JVM logs
                # in UTC), on the run's clock: when the line was read can be a poll later,
                # and `zkfle check` infers timeouts from these times.
                t_ms = item.ms - self._wall0_ms
            else:  # a line before any timestamp: kept verbatim
                fact, event = None, {"kind": "log", "text": item.text}
                t_ms = self.now()
            if fact is None:
                w.unknown_lines += 1
            event["src"] = f"{name}:{item.lineno}"
            kind = event.pop("kind")
            with self._lock:
                self._evidence.apply({"kind": kind, "node": sid, **event}, t_ms)
                self._noted_from_log(w, kind, event, t_ms)
            self.recorder.emit_fields(kind, t_ms, sid, event)

    def _noted_from_log(self, w: _Watched, kind: str, event: Mapping[str, Any], t: float) -> None:
        if kind == "election":
            w.started_ms, w.last_event = t, "new election"
        elif kind == "took" and isinstance(event.get("took_ms"), int | float):
            w.took_ms = float(event["took_ms"])
        elif kind in ("peer_state", "zk", "took"):
            w.last_event = kind if kind != "zk" else str(event.get("what", kind))

    def _ask(self, sid: Sid) -> None:
        """`srvr` of a running server; its exit if it died by itself; its epoch files."""
        w = self._watched[sid]
        with contextlib.suppress(DurableError):
            durable = self.stored(sid) or Durable()
            with self._lock:
                w.durable = durable
        if not w.server.alive():
            with self._lock:
                news = not w.expected_down
                w.expected_down = True
            if news:
                self.proxy.set_down(sid, True)
                self._forget(sid)
                status = w.server.process.returncode if w.server.process else None
                with self._lock:
                    w.last_event = f"exited with status {status}"
                self.emit("zk", sid, what="exited", status=status, tail=_last_words(w.server))
            return
        if w.paused:
            return  # it would not answer
        answer = w.server.four_letter_word("srvr", SRVR_TIMEOUT_S)
        found = dict(_SRVR_LINE.findall(answer or ""))
        if answer is None:
            mode = None
        elif "not currently serving" in answer:
            mode = "not-serving"
        else:
            mode = found.get("Mode")
        zxid = found.get("Zxid")
        with self._lock:
            changed = mode != w.mode
            w.mode = mode
            if zxid is not None:
                with contextlib.suppress(ValueError):
                    w.zxid = parse_zxid(zxid)
        if changed:
            extra = {"zxid": zxid} if zxid is not None else {}
            self.emit("zk", sid, what="serving", mode=mode, **extra)

    # --- views ------------------------------------------------------------------------------------

    def view(self) -> ClusterView:
        if self._final is not None:
            return self._final
        try:
            depths = self.proxy.depths()
        except ProxyError:  # stopping
            depths = {}
        with self._lock:
            nodes = tuple(self._node_view(sid, depths) for sid in self.sids)
            faults = tuple(FaultView(f.fault_id, f.text, f.sids) for f in self._faults.values())
        return ClusterView(
            t_ms=self.now(),
            seq=self.recorder.seq,
            nodes=nodes,
            faults=faults,
            messages=self.recorder.counts,
            quorum=quorum_count(self.qv, nodes),
        )

    def stable_leader(self) -> Sid | None:
        return stable_leader(self.view().nodes)

    def _node_view(self, sid: Sid, depths: Mapping[tuple[Sid, Sid], LinkDepth]) -> NodeView:
        w = self._watched[sid]
        learner_type = self.qv.all_members[sid].learner_type.word
        weight = self.qv.weight(sid) if sid in self.qv.voting_members else 0
        durable = w.durable
        alive = w.server.alive()
        if not alive:
            return NodeView(
                sid,
                learner_type,
                weight,
                current_epoch=durable.current_epoch,
                accepted_epoch=durable.accepted_epoch,
                last_zxid=w.zxid or 0,
                last_event=w.last_event or "down",
            )
        logged = self._evidence.view(sid, learner_type, weight)
        unknown = set(NEVER_SHOWN)
        state = _MODES.get(w.mode or "")
        established = state is not None  # it serves: its epoch is established
        if state is None:
            state = logged.state or ServerState.LOOKING
        leader = {
            ServerState.LEADING: sid,
            ServerState.FOLLOWING: w.following,
            ServerState.OBSERVING: w.following,
        }.get(state)
        vote = _vote(w.sent)
        if state != ServerState.LOOKING and (vote is None or vote.leader != leader):
            if leader is None:
                vote = None
                unknown.add("current_vote")
            else:  # decided, and it has not said the whole vote since
                vote = Vote(leader, 0, 0, 0, state)
                unknown |= _PARTIAL_VOTE
        elif vote is None:
            unknown.add("current_vote")
        proposal = _vote(w.proposal)
        if proposal is None:
            unknown |= {"proposal", "logicalclock"}
        zab = "BROADCAST" if established else logged.zab_phase
        if not zab:
            unknown.add("zab_phase")
        if w.zxid is None and "last_zxid" in logged.unknown:
            unknown.add("last_zxid")
        unknown |= logged.unknown & {"sync_mode"}
        return NodeView(
            sid=sid,
            learner_type=learner_type,
            weight=weight,
            alive=True,
            paused=w.paused,
            state=state,
            logicalclock=proposal.election_epoch if proposal is not None else 0,
            proposal=proposal,
            current_vote=vote,
            connections=tuple(sorted(p for p, n in w.connections.items() if n > 0)),
            zab_phase=zab,
            established=established,
            current_epoch=durable.current_epoch,
            accepted_epoch=durable.accepted_epoch,
            last_zxid=w.zxid if w.zxid is not None else logged.last_zxid,
            sync_mode=logged.sync_mode,
            learners=logged.learners if state == ServerState.LEADING else (),
            last_event=w.last_event,
            election_started_ms=w.started_ms,
            election_took_ms=w.took_ms,
            send_queues=tuple(
                (peer, d.held + d.delayed)
                for peer in self.sids
                if peer != sid
                for d in [depths.get((sid, peer), LinkDepth())]
            ),
            unknown=frozenset(unknown),
            proxied=PROXIED,
        )

    def server(self, sid: Sid) -> ZkServer:
        """Server `sid`: its directory, ports and process."""
        return self._watched[sid].server

    def notes(self) -> list[str]:
        """What `status` adds: log lines the reader did not recognise (each kept as a `log`
        event) and what the proxy could not decode (garbage, truncated, oversized)."""
        with self._lock:
            unknown = sum(w.unknown_lines for w in self._watched.values())
        bad = self.proxy.stats().undecodable if not self._stopped.is_set() else {}
        undecodable = ", ".join(f"{n} {why}" for why, n in sorted(bad.items())) or "none"
        return [
            f"zookeeper {self.version}: {unknown} log line(s) kept verbatim;"
            f" undecodable on the wire: {undecodable}"
        ]

    # --- the end ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill every JVM (by pid), stop the proxy and the watcher; nothing is left."""
        if self._stopped.is_set():
            return
        self._final = self.view()
        self._stopped.set()
        with self._lock:
            timers = list(self._timers)
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        if threading.current_thread() is not self._watcher:
            self._watcher.join(5.0)
        # The logs one last time, from servers frozen first: `srvr` can show a leader whose
        # last lines the watcher's last poll had not read, and a server killed before
        # another would make that one log the loss of its peer. (A watcher still at work
        # on a loaded machine asks frozen servers nothing, and reads before or after.)
        running = [w for w in self._watched.values() if w.server.alive()]
        with self._lock:
            for w in running:
                w.paused = True
        for w in running:
            w.server.signal(signal.SIGSTOP)
        for sid in self.sids:
            self._read_log(sid)
        # Not recorded as `stop` events: the run's end is the footer, as on our runtimes,
        # and not an outage (a shut-down server in imported logs is one).
        for w in running:
            w.expected_down = True
            w.server.stop(kill=True)
        self.proxy.stop()


def _vote(n: Mapping[str, Any] | None) -> Vote | None:
    """The vote a notification carries."""
    if n is None:
        return None
    try:
        return Vote(
            int(n["leader"]),
            parse_zxid(str(n["zxid"])),
            int(n["election_epoch"]),
            int(n["peer_epoch"]),
            ServerState[str(n["state"])],
        )
    except (KeyError, TypeError, ValueError):
        return None


def _last_words(server: ZkServer) -> str:
    """The last lines of a server's log and console output without stack frames: what it
    said as it ended (the exception's message, `Exiting JVM with code 1`)."""
    lines = server.log_tail(10 * LOG_TAIL_LINES).splitlines()
    said = [line for line in lines if not line.startswith(("\tat ", "\t... "))]
    return "\n".join(said[-LOG_TAIL_LINES:])
