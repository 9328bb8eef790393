"""The replayer: re-execute a trace on fresh cores, verify it, and move through it in time.

Theory of operation
-------------------
A trace records every input each node's core consumed and every output it produced
(DESIGN §2.3). Replay rebuilds a `QuorumPeer` at each `boot` event (from the header's
config and timing and the event's durable state), forgets it at `stop`, and feeds it the
input of each of its `step` events at the step's `t_ms`; the output it returns, in the
trace's JSON form (`engine.record.output_json`), must equal the recorded one. The first
mismatch is a divergence. Nothing else is needed to re-execute, so a trace of the
free-running threaded runtime replays exactly on one thread: steps of different nodes
interleave, but per node they are in consumption order, and each core only sees its own.

Three layers, each on top of the one before:

* `CoreReplay` - the cores and nothing else: `apply(event)` re-executes ★ events (`boot`,
  `stop`, `step`) and returns a `Divergence` or None. `verify()` streams a file through it
  (and through the invariant checker) with flat memory: this is `zkfle verify`.
* `ClusterState` - the cores plus everything the console shows that is not inside a core,
  reconstructed from the observation events: QuorumCnxManager's send queues, receive
  queue, connections and last-sent messages; WorkerSender's queue; the main thread's inbox
  of quorum packets and connection results; messages in flight (and held); faults,
  paused nodes, counters. `view()` gives the same `ClusterView` the live cluster gives,
  and `engine.fork` builds a live simulation from it.
* `Replayer` - a trace opened for the console's replay mode: an index of line offsets,
  checkpoints (clones of the `ClusterState`) every K events taken as replay passes them,
  so that `seek`/`back` re-execute at most K events; step, seek by seq, time or mark,
  breakpoints (`break when <predicate>`, `break on <event>`), play at a speed, and `fork`.
  It satisfies the console's `ReplayBackend` protocol (console/backend.py).

Inferring the queues: the trace records when WorkerSender queued a notification (`send`),
when it was evicted (`drop` capacity), delivered (`deliver`) or lost (`drop`), but not the
instant a SendWorker took it off its queue. The replayer takes it off when the SendWorker
would run at once - when the message is queued while the election connection is up and
the node runs, when the connection comes up, when the node is resumed - and a message found
queued when a newer one is queued for the same peer without an eviction has left too. In
the simulator a SendWorker runs microseconds after it is woken, so the view is exact up to
that instant.

A forked trace (header `parent: {"trace": path, "seq": n}`) continues the parent's run
after its event n: replaying it first replays the parent up to n (verifying it), then
continues with the child's events on the same cores and queues.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from engine import commands as c
from engine.election import ElectionConfig
from engine.elections import KINDS as ELECTION_KINDS
from engine.elections import Election, ElectionTracker, Timeline
from engine.evidence import Evidence
from engine.explain import (
    LEAD_IN,
    Explanation,
    context_from_header,
    explain_window,
    window_from_events,
)
from engine.faults import LinkFault
from engine.host import peer_view
from engine.invariants import InvariantChecker, Violation
from engine.peer import (
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Durable,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    Output,
    PacketReceived,
    QuorumPacket,
    QuorumPeer,
    SendPacket,
    Timing,
)
from engine.predicates import CommandError, Predicate
from engine.quorum import ConfigError, QuorumVerifier, parse_dynamic_config
from engine.record import RecordError, durable_from, input_from, output_json, packet_from
from engine.trace import REAL_KINDS, Event, Trace, TraceError, read_trace
from engine.view import (
    DELIVERED_DROP_REASONS,
    ClusterView,
    FaultView,
    MessageCounts,
    NodeView,
    leadership_text,
    messages_text,
    quorum_count,
    stable_leader,
)
from engine.vote import ServerState, Sid, ToSend, Vote

if TYPE_CHECKING:
    from engine.cluster import Cluster

__all__ = [
    "Breakpoint",
    "ClusterState",
    "CoreReplay",
    "Divergence",
    "FaultInfo",
    "Mark",
    "Msg",
    "ReplayError",
    "Replayer",
    "VerifyResult",
    "event_matches",
    "json_diff",
    "resolve_parent",
    "timing_from_header",
    "verify",
]

RECV_CAPACITY = 100
"""ZK: QuorumCnxManager.RECV_CAPACITY (engine.cnxmanager)."""
DEFAULT_CHECKPOINT_EVERY = 2000
"""Events between two replay checkpoints: a seek re-executes at most this many."""
MAX_CHECKPOINT_EVERY = 20_000
PLAY_MAX_EVENTS = 20_000
"""Most events one `view()` call applies while playing (keeps the UI responsive)."""
EVENTS_AFTER_WINDOW = 2000
"""Most events `events_after` returns (the console notices the gap)."""
INPUT_CACHE = 4096
"""Decoded inputs kept for reuse while replaying."""


class ReplayError(Exception):
    """A trace that cannot be replayed: names the file, the 1-based line and the problem
    (an unreadable or invalid file, a step for a node that never booted, a missing parent)."""

    def __init__(self, path: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message

    @classmethod
    def of(cls, e: TraceError) -> ReplayError:
        return cls(e.path, e.line, e.message)


# --- divergences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """The first step whose re-executed output differs from the recorded one."""

    path: str
    seq: int
    node: Sid
    t_ms: float
    input: Mapping[str, Any]
    expected: Mapping[str, Any]
    actual: Mapping[str, Any]

    @property
    def line(self) -> int:
        return self.seq + 1

    @property
    def differences(self) -> list[str]:
        return json_diff(self.expected, self.actual, "output")

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: divergence at seq {self.seq} on n{self.node}"

    def report(self) -> str:
        """Several lines: where, the input, both outputs and what differs."""
        dumps = _dumps_text
        lines = [
            f"{self.path}:{self.line}: DIVERGENCE at seq {self.seq} on n{self.node}"
            f" (t={self.t_ms:.3f} ms)",
            f"  input:    {dumps(self.input)}",
            f"  expected: {dumps(self.expected)}",
            f"  actual:   {dumps(self.actual)}",
            "  differences:",
        ]
        lines += [f"    {d}" for d in self.differences]
        return "\n".join(lines)


def _dumps_text(value: object) -> str:
    return orjson.dumps(value).decode()


def json_diff(expected: object, actual: object, path: str = "") -> list[str]:
    """What differs between two JSON values, one line per difference, by path
    (`output.sends[0].to: expected [1,2,3], actual [1,2]`)."""
    out: list[str] = []
    _diff(expected, actual, path, out)
    return out


def _diff(expected: object, actual: object, path: str, out: list[str]) -> None:
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        keys = [*expected, *(k for k in actual if k not in expected)]
        for key in keys:
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: expected {_dumps_text(expected[key])}, actual (absent)")
            elif key not in expected:
                out.append(f"{sub}: expected (absent), actual {_dumps_text(actual[key])}")
            else:
                _diff(expected[key], actual[key], sub, out)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(
                f"{path}: expected {len(expected)} item(s), actual {len(actual)}: "
                f"expected {_dumps_text(expected)}, actual {_dumps_text(actual)}"
            )
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _diff(e, a, f"{path}[{i}]", out)
        return
    if expected != actual or (
        type(expected) is not type(actual) and not _numbers(expected, actual)
    ):
        out.append(f"{path}: expected {_dumps_text(expected)}, actual {_dumps_text(actual)}")


def _numbers(a: object, b: object) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float)


# --- the cores -----------------------------------------------------------------------------------


def timing_from_header(header: Mapping[str, Any], path: str = "<trace>") -> Timing:
    """The `Timing` the cores of a trace ran with (header `timing`)."""
    t = header.get("timing")
    try:
        if not isinstance(t, Mapping):
            raise TypeError("not an object")
        return Timing(
            tick_time_ms=int(t["tick_time_ms"]),
            init_limit=int(t["init_limit"]),
            sync_limit=int(t["sync_limit"]),
            election=ElectionConfig(
                int(t.get("finalize_wait_ms", 200)),
                int(t.get("min_notification_interval_ms", 200)),
                int(t.get("max_notification_interval_ms", 60_000)),
            ),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ReplayError(path, 1, f"the header's timing is not usable: {e}") from None


def _verifier_from_header(header: Mapping[str, Any], path: str) -> QuorumVerifier:
    try:
        return parse_dynamic_config(str(header["cluster"]["config"]))
    except (ConfigError, KeyError, TypeError) as e:
        raise ReplayError(path, 1, f"the header's cluster.config is not usable: {e}") from None


class CoreReplay:
    """Re-executes the ★ events of one trace on `QuorumPeer` cores."""

    def __init__(self, header: Mapping[str, Any], path: str = "<trace>") -> None:
        self.header = header
        self.path = path
        self.config: str = str(header["cluster"]["config"])
        self.qv = _verifier_from_header(header, path)
        self.timing = timing_from_header(header, path)
        self.cores: dict[Sid, QuorumPeer] = {}
        self.steps = 0
        self.nodes_seen: set[Sid] = set()
        self._inputs: dict[Any, Input] = {}
        self.last_input: Input | None = None
        """The input of the last `step` (decoded)."""

    def boot(self, sid: Sid, durable: Durable, seq: int) -> QuorumPeer:
        try:
            core = QuorumPeer(sid, self.qv, durable, self.timing)
        except Exception as e:  # PeerError: not in the config
            raise ReplayError(self.path, seq + 1, f"seq {seq}: cannot boot n{sid}: {e}") from None
        self.cores[sid] = core
        self.nodes_seen.add(sid)
        return core

    def apply(self, event: Event) -> Divergence | None:
        """Re-execute one event (only ★ kinds do anything); a mismatch is returned."""
        kind = event["kind"]
        if kind == "step":
            return self.step(event)[1]
        if kind == "boot":
            self.boot(self._sid(event), self._durable(event), event["seq"])
        elif kind == "stop":
            self.cores.pop(self._sid(event), None)
        return None

    def _sid(self, event: Event) -> Sid:
        sid = event.get("node")
        if type(sid) is not int:
            raise ReplayError(
                self.path, event["seq"] + 1, f"seq {event['seq']}: 'node' must be a sid"
            )
        return sid

    def _durable(self, event: Event) -> Durable:
        try:
            return durable_from(event["durable"])
        except (RecordError, KeyError, TypeError) as e:
            raise ReplayError(
                self.path, event["seq"] + 1, f"seq {event['seq']}: bad durable state: {e}"
            ) from None

    def step(self, event: Event) -> tuple[Output | None, Divergence | None]:
        """Re-execute one `step` event: the core's output and, if it differs, the divergence."""
        seq = event["seq"]
        sid = event["node"]
        core = self.cores.get(sid)
        if core is None:
            raise ReplayError(
                self.path,
                seq + 1,
                f"seq {seq}: step for n{sid}, which is not running (no boot event before it)",
            )
        inp = self.last_input = self._input(event["input"], seq)
        now = event["t_ms"]
        self.steps += 1
        try:
            out = core.step(inp, now)
        except Exception as e:  # the recorded core took this input; ours cannot
            actual: Mapping[str, Any] = {"error": f"{type(e).__name__}: {e}"}
            return None, self._divergence(event, actual)
        actual = output_json(out, self.config)
        if actual != event["output"]:
            return out, self._divergence(event, actual)
        return out, None

    def _input(self, d: Any, seq: int) -> Input:
        """The decoded input, from a cache: most inputs recur (a broadcast is received by
        every voter, polls and timeouts have no or one field)."""
        try:
            kind = d["type"]
            if kind == "receive":
                key: Any = tuple(d["n"].items())
            elif kind == "timeout":
                key = (kind, d.get("have_delivered"))
            elif kind in ("poll", "look_for_leader"):
                key = kind
            elif kind == "packet":
                key = (d["from"], tuple(d["packet"].items()))
            else:
                return input_from(d, self.config)
            found = self._inputs.get(key)
            if found is None:
                found = input_from(d, self.config)
                if len(self._inputs) >= INPUT_CACHE:
                    self._inputs.clear()
                self._inputs[key] = found
            return found
        except (RecordError, AttributeError, KeyError, TypeError) as e:
            raise ReplayError(self.path, seq + 1, f"seq {seq}: bad step input: {e}") from None

    def _divergence(self, event: Event, actual: Mapping[str, Any]) -> Divergence:
        expected = event["output"]
        return Divergence(
            self.path,
            event["seq"],
            event["node"],
            float(event["t_ms"]),
            event["input"],
            expected if isinstance(expected, Mapping) else {"(recorded)": expected},
            actual,
        )


# --- verify --------------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    """What `verify` found."""

    path: str
    events: int = 0
    """Events read and fed (the trace's own; a parent's are counted in `parent_events`)."""
    steps: int = 0
    nodes: tuple[Sid, ...] = ()
    seconds: float = 0.0
    divergence: Divergence | None = None
    violations: list[Violation] = field(default_factory=list)
    invariants_checked: bool = True
    notes: list[str] = field(default_factory=list)
    torn_line: int | None = None
    complete: bool = False
    parent_events: int = 0

    @property
    def ok(self) -> bool:
        return self.divergence is None and not self.violations

    @property
    def events_per_s(self) -> float:
        return (self.events + self.parent_events) / self.seconds if self.seconds > 0 else 0.0


def resolve_parent(child: str | os.PathLike[str], parent: object) -> tuple[Path, int]:
    """The parent file and seq a forked trace's header names (relative paths are tried
    as written, then next to the child)."""
    if not isinstance(parent, Mapping) or not isinstance(parent.get("seq"), int):
        raise ReplayError(child, 1, f"the header's parent is not {{trace, seq}}: {parent!r}")
    name = parent.get("trace")
    if not isinstance(name, str) or not name:
        raise ReplayError(child, 1, "the header's parent names no trace file")
    candidate = Path(name)
    if not candidate.exists() and not candidate.is_absolute():
        beside = Path(child).parent / candidate.name
        if beside.exists():
            candidate = beside
    if not candidate.exists():
        raise ReplayError(
            child,
            1,
            f"this trace was forked from {name} at seq {parent['seq']}, which is not found:"
            " replaying a fork needs its parent",
        )
    return candidate, int(parent["seq"])


def _open(path: str | os.PathLike[str]) -> Trace:
    try:
        return read_trace(path)
    except TraceError as e:
        raise ReplayError.of(e) from None


def _parent_prefix(path: str | os.PathLike[str], header: Mapping[str, Any]) -> Iterator[Event]:
    """The events that precede a forked trace, or a part of a rotated one: its ancestors'
    up to the fork points, oldest first (a long session's parts may be many)."""
    chain: list[tuple[Path, Trace, int]] = []
    seen = {Path(path).resolve()}
    child, head = Path(path), header
    while (parent := head.get("parent")) is not None:
        ppath, pseq = resolve_parent(child, parent)
        if ppath.resolve() in seen:
            raise ReplayError(child, 1, f"the parents of {path} form a cycle at {ppath}")
        seen.add(ppath.resolve())
        ptrace = _open(ppath)
        if ptrace.header["cluster"]["config"] != head["cluster"]["config"]:
            raise ReplayError(child, 1, f"the parent {ppath} has another cluster config")
        chain.append((ppath, ptrace, pseq))
        child, head = ppath, ptrace.header
    for ppath, ptrace, pseq in reversed(chain):
        last = 0
        try:
            for event in ptrace.events(1, pseq):
                last = event["seq"]
                yield event
        except TraceError as e:
            raise ReplayError.of(e) from None
        if last < pseq:
            raise ReplayError(path, 1, f"the parent {ppath} ends at seq {last}, before seq {pseq}")


def verify(
    path: str | os.PathLike[str],
    *,
    invariants: bool = True,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 100_000,
) -> VerifyResult:
    """Re-execute a trace and check its invariants (`zkfle verify`), streaming;
    `progress(n)` is called every `progress_every` events.

    Raises ReplayError when the file (or a fork's parent) is unreadable or invalid; a torn
    last line is not an error (`torn_line`), everything before it is verified.
    """
    trace = _open(path)
    result = VerifyResult(str(path), invariants_checked=invariants)
    header = trace.header
    replay = CoreReplay(header, str(path))
    checker = InvariantChecker(header) if invariants else None
    t0 = time.perf_counter()
    for event in _parent_prefix(path, header):
        result.parent_events += 1
        divergence = replay.apply(event)
        if divergence is not None:
            raise ReplayError(
                path, 1, f"the parent trace diverges: {divergence}\n{divergence.report()}"
            )
        if checker is not None:
            checker.feed(event)
    if checker is not None:
        checker.violations.clear()  # the parent's own problems are the parent's
    result.events, result.divergence = _verify_loop(
        trace, replay, checker, progress, progress_every
    )
    result.seconds = time.perf_counter() - t0
    result.steps = replay.steps
    result.nodes = tuple(sorted(replay.nodes_seen))
    if checker is not None and result.divergence is None:
        result.violations = [*checker.violations, *checker.finish()]
    result.notes = list(trace.notes)
    result.torn_line = trace.torn_line.line if trace.torn_line is not None else None
    result.complete = trace.complete
    return result


def _verify_loop(
    trace: Trace,
    replay: CoreReplay,
    checker: InvariantChecker | None,
    progress: Callable[[int], None] | None,
    progress_every: int,
) -> tuple[int, Divergence | None]:
    """The hot loop: every event to the checker, ★ events to the cores."""
    n = 0
    feed = checker.feed if checker is not None else None
    step = replay.step
    apply = replay.apply
    try:
        for event in trace:
            n += 1
            kind = event["kind"]
            if kind == "step":
                divergence = step(event)[1]
                if divergence is not None:
                    return n, divergence
            elif kind == "boot" or kind == "stop":
                apply(event)
            if feed is not None:
                feed(event)
            if progress is not None and not n % progress_every:
                progress(n)
    except TraceError as e:
        raise ReplayError.of(e) from None
    return n, None


# --- the reconstructed cluster ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Msg:
    """A message the replay follows: an election notification (`body` a ToSend) or a quorum
    packet (`body` a QuorumPacket); None when its body is unknown. `src_life`/`dst_life`
    are the node lives it was transmitted in (a message outliving one is dropped)."""

    msg_id: str
    src: Sid
    dst: Sid
    body: ToSend | QuorumPacket | None
    src_life: int = 0
    dst_life: int = 0

    @property
    def plane(self) -> str:
        return "quorum" if isinstance(self.body, QuorumPacket) else "election"


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """An active link fault as the trace recorded it, with what `LinkFault` needs."""

    fault_id: str
    text: str
    op: str
    links: tuple[tuple[Sid, Sid], ...]
    t_ms: float
    nodes: tuple[Sid, ...] = ()

    def link_fault(self) -> LinkFault:
        """The fault as the runtime models it (parameters from its command text)."""
        params: dict[str, float] = {}
        for_ms: float | None = None
        try:
            cmd = c.parse(self.text)
        except CommandError:
            cmd = None
        match cmd:
            case c.Delay(_, ms, jitter_ms, for_ms=f):
                params = {"delay_ms": ms, "jitter_ms": jitter_ms}
                for_ms = f
            case (
                c.Loss(_, percent, for_ms=f)
                | c.Dup(_, percent, for_ms=f)
                | c.Reorder(_, percent, for_ms=f)
            ):
                params = {"probability": percent / 100}
                for_ms = f
            case c.Partition(for_ms=f) | c.Isolate(for_ms=f) | c.Block(for_ms=f) | c.Hold(for_ms=f):
                for_ms = f
            case _:
                pass
        expires = None if for_ms is None else self.t_ms + for_ms
        return LinkFault(
            self.fault_id,
            self.op,
            frozenset(self.links),
            self.text,
            expires_ms=expires,
            nodes=frozenset(self.nodes),
            **params,
        )


class _NodeState:
    """One node as the replay reconstructs it (mirrors engine.host.Node)."""

    __slots__ = (
        "alive",
        "closing",
        "conns",
        "core",
        "durable",
        "inbox",
        "last_event",
        "last_sent",
        "learner_type",
        "life",
        "look_at",
        "paused",
        "pending_connect",
        "recv_queue",
        "send_queues",
        "sendqueue",
        "sid",
        "weight",
        "zab_out",
        "zab_peers",
    )

    def __init__(self, sid: Sid, learner_type: str, weight: int, durable: Durable) -> None:
        self.sid = sid
        self.learner_type = learner_type
        self.weight = weight
        self.core: QuorumPeer | None = None
        self.alive = False
        self.paused = False
        self.life = 0
        self.durable = durable
        self.sendqueue: deque[ToSend] = deque()
        """FLE.sendqueue, drained by WorkerSender (one `send` event per entry)."""
        self.send_queues: dict[Sid, Msg | None] = {}
        """QuorumCnxManager.queueSendMap: capacity 1 per peer; a key is a queue that exists."""
        self.last_sent: dict[Sid, Msg] = {}
        self.recv_queue: deque[Msg] = deque()
        self.conns: set[Sid] = set()
        """QuorumCnxManager.senderWorkerMap: peers with a live election connection."""
        self.zab_peers: set[Sid] = set()
        self.inbox: deque[Input] = deque()
        self.zab_out: deque[SendPacket] = deque()
        """Packets of the node's last step output, until their `zsend` events."""
        self.closing: set[Sid] = set()
        """Quorum connections this node closed whose `conn` down event is still to come."""
        self.pending_connect: Sid | None = None
        self.look_at: float | None = None
        self.last_event = ""

    @property
    def running(self) -> bool:
        return self.alive and not self.paused

    # What stability is judged on (engine.view.Decided).

    @property
    def state(self) -> ServerState | None:
        return self.core.peer_state if self.core is not None else None

    @property
    def established(self) -> bool:
        return self.core is not None and self.core.established

    @property
    def current_vote(self) -> Vote | None:
        return self.core.current_vote if self.core is not None else None

    @property
    def decided(self) -> tuple[ServerState | None, bool, Vote | None]:
        return self.state, self.established, self.current_vote

    def clone(self, memo: dict[int, Any]) -> _NodeState:
        other = _NodeState.__new__(_NodeState)
        for name in _NodeState.__slots__:
            setattr(other, name, getattr(self, name))
        other.core = copy.deepcopy(self.core, memo) if self.core is not None else None
        other.sendqueue = deque(self.sendqueue)
        other.send_queues = dict(self.send_queues)
        other.last_sent = dict(self.last_sent)
        other.recv_queue = deque(self.recv_queue)
        other.conns = set(self.conns)
        other.zab_peers = set(self.zab_peers)
        other.inbox = deque(self.inbox)
        other.closing = set(self.closing)
        other.zab_out = deque(self.zab_out)
        return other

    def reset_qcm(self) -> None:
        self.send_queues = {}
        self.last_sent = {}
        self.recv_queue = deque()
        self.conns = set()


class ClusterState:
    """The whole cluster at one seq, rebuilt from a trace's events (see the module doc)."""

    def __init__(self, header: Mapping[str, Any], path: str = "<trace>") -> None:
        self.path = path
        self.replay = CoreReplay(header, path)
        self.config = self.replay.config
        servers = header["cluster"].get("servers") or []
        initial = header.get("initial") or {}
        self.nodes: dict[Sid, _NodeState] = {}
        for sid in sorted(self.replay.qv.all_members):
            server: Mapping[str, Any] = next((s for s in servers if s.get("sid") == sid), {})
            try:
                durable = durable_from(initial[str(sid)]) if str(sid) in initial else Durable()
            except (RecordError, KeyError, TypeError):
                durable = Durable()
            self.nodes[sid] = _NodeState(
                sid,
                str(server.get("type", self.replay.qv.all_members[sid].learner_type.word)),
                int(server.get("weight", 1)),
                durable,
            )
        self.seq = 0
        self.t_ms = 0.0
        self.in_flight: dict[str, Msg] = {}
        """Messages on the wire (sent or transmitted, not yet delivered or dropped)."""
        self.held: dict[str, None] = {}
        """Ids of in-flight messages a `hold` fault keeps."""
        self.pending_eof: dict[tuple[Sid, Sid], None] = {}
        """(node, peer): the peer closed their quorum connection; node has not seen EOF."""
        self.faults: dict[str, FaultInfo] = {}
        self.sent = self.delivered = self.dropped = 0
        self.loopback_delivers = _version(header) >= (1, 1)
        """Format 1.1 records a `deliver` for a loopback send; before, the send was all."""
        self.max_ids = {"m": 0, "p": 0, "f": 0}
        self.divergence: Divergence | None = None
        """The first divergence met (the replay goes on with our cores' state)."""
        self.unstable_since: float | None = 0.0
        """ClusterView.unstable_since_ms: judged after each event that can change it (a
        step that changes a node's state, vote or zab phase, a boot, a stop, a pause or a
        resume), as the live cluster judges it after each."""
        self._judge = False
        self.evidence = Evidence(self.replay.timing.election.min_notification_interval_ms)
        """Real servers' logged events (trace 1.1): what a node without a core shows."""
        timing = self.replay.timing
        self.elections = ElectionTracker(self.replay.qv, timing.sync_limit * timing.tick_time_ms)
        self._handlers: dict[str, Callable[[Event], None]] = {
            "boot": self._on_boot,
            "stop": self._on_stop,
            "step": self._on_step,
            "send": self._on_send,
            "zsend": self._on_zsend,
            "deliver": self._on_deliver,
            "zdeliver": self._on_zdeliver,
            "drop": self._on_drop,
            "conn": self._on_conn,
            "fault": self._on_fault,
            "heal": self._on_heal,
            "cmd": self._on_cmd,
            "snapshot": self._on_snapshot,
            "state": self._on_state,
            **dict.fromkeys(REAL_KINDS, self._on_real),
        }

    # --- copying ----------------------------------------------------------------------------

    def clone(self) -> ClusterState:
        """An independent copy (checkpoints, forks); immutable parts are shared."""
        other = ClusterState.__new__(ClusterState)
        other.__dict__.update(self.__dict__)
        replay = copy.copy(self.replay)
        memo: dict[int, Any] = {
            id(self.replay.qv): self.replay.qv,
            id(self.replay.timing): self.replay.timing,
            id(self.replay.header): self.replay.header,
        }
        other.nodes = {sid: n.clone(memo) for sid, n in self.nodes.items()}
        replay.cores = {sid: n.core for sid, n in other.nodes.items() if n.core is not None}
        replay.nodes_seen = set(self.replay.nodes_seen)
        other.replay = replay
        other.in_flight = dict(self.in_flight)
        other.held = dict(self.held)
        other.pending_eof = dict(self.pending_eof)
        other.faults = dict(self.faults)
        other.max_ids = dict(self.max_ids)
        other.evidence = self.evidence.copy()
        other.elections = self.elections.clone()
        other._handlers = {kind: getattr(other, fn.__name__) for kind, fn in self._handlers.items()}
        return other

    # --- events -----------------------------------------------------------------------------

    def apply(self, event: Event) -> Divergence | None:
        """Apply one event; returns a divergence its step revealed, if any."""
        self.seq = event["seq"]
        self.t_ms = float(event["t_ms"])
        self._divergence = None
        handler = self._handlers.get(event["kind"])
        if handler is not None:
            handler(event)
        if self._judge:
            self._judge = False
            if stable_leader(self.nodes.values()) is not None:
                self.unstable_since = None
            elif self.unstable_since is None:
                self.unstable_since = self.t_ms
        if event["kind"] in ELECTION_KINDS:
            self.elections.feed(event)
        found = self._divergence
        if found is not None and self.divergence is None:
            self.divergence = found
        return found

    _divergence: Divergence | None = None

    def _node(self, event: Event) -> _NodeState:
        sid = event.get("node")
        node = self.nodes.get(sid) if type(sid) is int else None
        if node is None:
            raise ReplayError(
                self.path, event["seq"] + 1, f"seq {event['seq']}: no node {sid!r} in the cluster"
            )
        return node

    def _on_boot(self, event: Event) -> None:
        node = self._node(event)
        node.durable = self.replay._durable(event)
        node.core = self.replay.boot(node.sid, node.durable, event["seq"])
        node.alive, node.paused = True, False
        node.life += 1
        self._judge = True
        node.reset_qcm()
        node.sendqueue.clear()
        node.inbox.clear()
        node.zab_peers.clear()
        node.closing.clear()
        node.pending_connect = None
        node.look_at = None

    def _on_stop(self, event: Event) -> None:
        node = self._node(event)
        self.replay.cores.pop(node.sid, None)
        node.core = None
        node.alive = node.paused = False
        node.life += 1
        self._judge = True
        node.reset_qcm()
        node.sendqueue.clear()
        node.inbox.clear()
        node.zab_peers.clear()
        node.closing.clear()
        node.pending_connect = None
        node.look_at = None
        node.last_event = str(event.get("reason", "stop"))
        for key in [k for k in self.pending_eof if node.sid in k]:
            del self.pending_eof[key]

    def _on_step(self, event: Event) -> None:
        node = self._node(event)
        decided = node.decided
        out, divergence = self.replay.step(event)
        self._divergence = divergence
        if node.paused:
            node.paused = False  # it consumed an input: it runs (a timed resume)
            self._resumed(node)
            self._judge = True
        self._judge |= node.decided != decided
        inp = event["input"]
        kind = inp.get("type")
        msg = event.get("msg")
        if kind == "receive":
            if isinstance(msg, str):
                _remove_msg(node.recv_queue, msg)
            n = inp.get("n") or {}
            node.last_event = f"recv {n.get('state')} leader={n.get('leader')} from n{n.get('sid')}"
        elif kind == "look_for_leader":
            node.look_at = None
        elif kind in _INBOX_TYPES:
            self._take_inbox(node, self.replay.last_input)
        core = node.core
        if out is None or core is None:
            return
        self._apply_output(node, core, out)

    def _take_inbox(self, node: _NodeState, taken: Input | None) -> None:
        for i, queued in enumerate(node.inbox):
            if queued == taken:
                del node.inbox[i]
                break
        if isinstance(taken, LearnerConnected | LearnerConnectFailed):
            node.pending_connect = None

    def _apply_output(self, node: _NodeState, core: QuorumPeer, out: Output) -> None:
        """What engine.host.Host._apply does with an output, on the reconstruction."""
        if out.persist is not None:
            node.durable = out.persist
        if out.restart_election:
            node.reset_qcm()  # a new QuorumCnxManager; peers see the connections close
        if out.sends:
            node.sendqueue.extend(out.sends)
        node.zab_out = deque(a for a in out.zab if isinstance(a, SendPacket))
        for action in out.zab:
            if isinstance(action, ConnectToLeader):
                node.pending_connect = action.leader
            elif isinstance(action, ClosePeer) and action.peer in node.zab_peers:
                node.zab_peers.discard(action.peer)
                node.closing.add(action.peer)
                peer = self.nodes.get(action.peer)
                if peer is not None and node.sid in peer.zab_peers:
                    self.pending_eof[(action.peer, node.sid)] = None
        if out.election_delay_max_ms is not None:
            # The runtime draws the delay from its rng; the following look_for_leader step
            # says when it ran. Until then: due now.
            node.look_at = self.t_ms

    def _on_send(self, event: Event) -> None:
        node = self._node(event)
        self.sent += 1
        msg_id = str(event.get("msg", ""))
        self._note_id(msg_id)
        to = event.get("to")
        if type(to) is not int:
            return
        resend = event.get("resend")
        if resend is not None:
            # SendWorker.run on a new connection: the last message again, straight out.
            last = node.last_sent.get(to)
            body = last.body if last is not None and last.msg_id == resend else None
            if body is None:
                body = self._body_of(str(resend))
            self._transmit(Msg(msg_id, node.sid, to, body))
            return
        dup = event.get("dup")
        if dup is not None:  # the network duplicated message `dup` on the wire
            self._transmit(Msg(msg_id, node.sid, to, self._body_of(str(dup))))
            return
        body = _pop_tosend(node.sendqueue, to)
        message = Msg(msg_id, node.sid, to, body)
        if to == node.sid:  # loopback (an eviction is a `drop` next)
            if self.loopback_delivers:
                self.in_flight[msg_id] = message  # until its `deliver`
            else:
                self.delivered += 1
                _offer(node.recv_queue, message)
            return
        old = node.send_queues.get(to)
        if old is not None:
            # Not evicted (that is a `drop` capacity right after): the SendWorker took it.
            self._sent_off(node, to, old)
        node.send_queues[to] = message
        if to in node.conns and node.running:
            self._sent_off(node, to, message)

    def _sent_off(self, node: _NodeState, peer: Sid, message: Msg) -> None:
        """A SendWorker took `message` off the queue for `peer` and wrote it to the link."""
        if node.send_queues.get(peer) is message:
            node.send_queues[peer] = None
        node.last_sent[peer] = message
        self._transmit(message)

    def _transmit(self, message: Msg) -> None:
        src, dst = self.nodes.get(message.src), self.nodes.get(message.dst)
        message = Msg(
            message.msg_id,
            message.src,
            message.dst,
            message.body,
            src.life if src is not None else 0,
            dst.life if dst is not None else 0,
        )
        self.in_flight[message.msg_id] = message
        if any(
            f.op == "hold" and (message.src, message.dst) in f.links for f in self.faults.values()
        ):
            self.held[message.msg_id] = None

    def _body_of(self, msg_id: str) -> ToSend | QuorumPacket | None:
        for node in self.nodes.values():
            for m in node.last_sent.values():
                if m.msg_id == msg_id:
                    return m.body
        found = self.in_flight.get(msg_id)
        return found.body if found is not None else None

    def _on_zsend(self, event: Event) -> None:
        node = self._node(event)
        msg_id = str(event.get("msg", ""))
        self._note_id(msg_id)
        to = event.get("to")
        packet: QuorumPacket | None = None
        # The packet is in the sender's last step output (zsend follows that step).
        pending = node.zab_out
        while pending:
            action = pending.popleft()
            if action.to == to:
                packet = action.packet
                break
        if packet is None:
            try:
                packet = packet_from(event["packet"])
            except (RecordError, KeyError, TypeError, ValueError):
                packet = None
        if type(to) is int:
            self._transmit(Msg(msg_id, node.sid, to, packet))

    def _on_deliver(self, event: Event) -> None:
        node = self._node(event)
        self.delivered += 1
        msg_id = str(event.get("msg", ""))
        message = self._take(msg_id, event.get("from"), node.sid)
        if message is None:
            src = event.get("from")
            message = Msg(msg_id, src if type(src) is int else -1, node.sid, None)
        _offer(node.recv_queue, message)

    def _on_zdeliver(self, event: Event) -> None:
        node = self._node(event)
        message = self._take(str(event.get("msg", "")), event.get("from"), node.sid)
        if message is not None and isinstance(message.body, QuorumPacket):
            node.inbox.append(PacketReceived(message.src, message.body))

    def _take(self, msg_id: str, src: object, dst: Sid) -> Msg | None:
        """Take a message off the wire (or, if it never left in our inference, its queue)."""
        self.held.pop(msg_id, None)
        message = self.in_flight.pop(msg_id, None)
        if message is not None:
            return message
        sender = self.nodes.get(src) if type(src) is int else None
        if sender is not None:
            queued = sender.send_queues.get(dst)
            if queued is not None and queued.msg_id == msg_id:
                sender.send_queues[dst] = None
                sender.last_sent[dst] = queued
                return queued
        return None

    def _on_drop(self, event: Event) -> None:
        msg_id = event.get("msg")
        if not isinstance(msg_id, str):
            return
        if msg_id[:1] == "m":  # notifications only, as Recorder counts them
            self.dropped += 1
            if event.get("reason") in DELIVERED_DROP_REASONS:
                self.delivered -= 1
        node = self.nodes.get(event.get("node", -1))
        src, dst = event.get("from"), event.get("to")
        if self.in_flight.pop(msg_id, None) is not None:
            self.held.pop(msg_id, None)
            return
        sender = self.nodes.get(src) if type(src) is int else None
        if sender is not None and type(dst) is int:
            queued = sender.send_queues.get(dst)
            if queued is not None and queued.msg_id == msg_id:
                sender.send_queues[dst] = None
                return
        if node is not None:
            _remove_msg(node.recv_queue, msg_id)

    def _on_conn(self, event: Event) -> None:
        node = self._node(event)
        peer = self.nodes.get(event.get("peer", -1))
        if peer is None:
            return
        up = event.get("up") is True
        if event.get("plane") == "quorum":
            if up:
                # Leader.accept, then the learner's connect result (Host._zab_accept).
                node.zab_peers.add(peer.sid)
                if peer.alive:
                    peer.zab_peers.add(node.sid)
                    peer.inbox.append(LearnerConnected(node.sid))
            elif peer.sid in node.closing:
                node.closing.discard(peer.sid)  # our own close (ClosePeer)
            else:
                node.zab_peers.discard(peer.sid)  # EOF from the peer
                self.pending_eof.pop((node.sid, peer.sid), None)
                if node.alive:
                    node.inbox.append(Disconnected(peer.sid))
            return
        if not up:
            node.conns.discard(peer.sid)
            return
        for x, y in ((node, peer), (peer, node)):
            x.conns.add(y.sid)
            x.send_queues.setdefault(y.sid, None)
            queued = x.send_queues[y.sid]
            if queued is not None and x.running:
                self._sent_off(x, y.sid, queued)

    def _resumed(self, node: _NodeState) -> None:
        for peer in sorted(node.conns):
            queued = node.send_queues.get(peer)
            if queued is not None:
                self._sent_off(node, peer, queued)

    def _on_fault(self, event: Event) -> None:
        fid = str(event.get("id"))
        links = event.get("links") or []
        self.faults[fid] = FaultInfo(
            fid,
            str(event.get("text", "")),
            str(event.get("op", "")),
            tuple((int(a), int(b)) for a, b in links if isinstance(a, int) and isinstance(b, int)),
            self.t_ms,
            tuple(int(s) for s in event.get("nodes") or () if isinstance(s, int)),
        )
        self._note_id(fid)

    def _on_heal(self, event: Event) -> None:
        ids = event.get("ids")
        for fid in ids if isinstance(ids, list) else []:
            fault = self.faults.pop(str(fid), None)
            if fault is not None and fault.op == "hold":
                self._release(set(fault.links), None)

    def _release(self, links: set[tuple[Sid, Sid]], count: int | None) -> None:
        """Held messages on these links go on their way (all, or `count` per link)."""
        released: dict[tuple[Sid, Sid], int] = {}
        for msg_id in list(self.held):
            m = self.in_flight.get(msg_id)
            if m is None:
                del self.held[msg_id]
                continue
            link = (m.src, m.dst)
            if link in links and (count is None or released.get(link, 0) < count):
                released[link] = released.get(link, 0) + 1
                del self.held[msg_id]

    def _on_cmd(self, event: Event) -> None:
        if event.get("ok") is not True:
            return
        try:
            cmd = c.parse(str(event.get("text", "")))
        except CommandError:
            return
        match cmd:
            case c.Release(link, mode):
                self._release(self._links(link), None if mode == "all" else 1)
            case c.Deliver(c.Link() as link):
                self._release(self._links(link), 1)
            case c.Set(sid=sid, current_epoch=ce, accepted_epoch=ae, zxid=zxid):
                node = self.nodes.get(sid)
                if node is not None and not node.alive:
                    d = node.durable
                    node.durable = Durable(
                        ce if ce is not None else d.current_epoch,
                        ae if ae is not None else d.accepted_epoch,
                        zxid if zxid is not None else d.last_zxid,
                    )
            case _:
                pass

    def _links(self, link: c.Link) -> set[tuple[Sid, Sid]]:
        try:
            return set(c.resolve_link(link, self.view(), _NoRandom()))
        except CommandError:
            return set()

    def _on_state(self, event: Event) -> None:
        node = self._node(event)
        node.last_event = f"{event.get('state')} {str(event.get('zab', '')).lower()}"

    def _on_real(self, event: Event) -> None:
        self.evidence.apply(event, self.t_ms)

    def _on_snapshot(self, event: Event) -> None:
        for summary in event.get("nodes") or []:
            node = self.nodes.get(summary.get("sid", -1)) if isinstance(summary, dict) else None
            if node is None or not node.alive:
                continue
            paused = summary.get("paused") is True
            self._judge |= node.paused != paused
            if node.paused and not paused:
                node.paused = False
                self._resumed(node)
            node.paused = paused

    def _note_id(self, ident: str) -> None:
        prefix, number = ident[:1], ident[1:]
        if prefix in self.max_ids and number.isdigit():
            self.max_ids[prefix] = max(self.max_ids[prefix], int(number))

    # --- views ------------------------------------------------------------------------------

    def view(self) -> ClusterView:
        """The cluster after the event at `seq`, in the live cluster's shape."""
        nodes = tuple(self.node_view(self.nodes[sid]) for sid in sorted(self.nodes))
        return ClusterView(
            t_ms=self.t_ms,
            seq=self.seq,
            nodes=nodes,
            faults=tuple(
                FaultView(f.fault_id, f.text, f.link_fault().sids) for f in self.faults.values()
            ),
            messages=MessageCounts(self.sent, self.delivered, self.dropped),
            quorum=quorum_count(self.replay.qv, nodes),
            unstable_since_ms=self.unstable_since,
        )

    def node_view(self, node: _NodeState) -> NodeView:
        if node.core is None and node.sid in self.evidence:
            return self.evidence.view(node.sid, node.learner_type, node.weight)
        return peer_view(
            node.sid,
            node.learner_type,
            node.weight,
            node.alive,
            node.paused,
            node.durable,
            node.last_event,
            node.core,
            recv_queue=len(node.recv_queue),
            send_queues=tuple(
                (s, 0 if m is None else 1) for s, m in sorted(node.send_queues.items())
            ),
            connections=tuple(sorted(node.conns)),
        )

    def held_on(self, a: Sid, b: Sid) -> list[Msg]:
        return [
            m
            for i in self.held
            if (m := self.in_flight.get(i)) is not None and m.src == a
            if m.dst == b
        ]


_INBOX_TYPES = frozenset(
    {"packet", "learner_connected", "learner_connect_failed", "disconnected", "write"}
)


class _NoRandom:
    """Node words that need randomness resolve to nothing in a replay."""

    def sample(self, population: Sequence[Any], k: int) -> list[Any]:
        return list(population)[:k]

    def randint(self, a: int, b: int) -> int:
        return a


def _version(header: Mapping[str, Any]) -> tuple[int, int]:
    major, _, minor = str(header.get("version", "1.0")).partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (1, 0)


def _offer(queue: deque[Msg], message: Msg) -> None:
    if len(queue) >= RECV_CAPACITY:
        queue.popleft()
    queue.append(message)


def _remove_msg(queue: deque[Msg], msg_id: str) -> None:
    if queue and queue[0].msg_id == msg_id:
        queue.popleft()
        return
    for i, m in enumerate(queue):
        if m.msg_id == msg_id:
            del queue[i]
            return


def _pop_tosend(queue: deque[ToSend], to: Sid) -> ToSend | None:
    """WorkerSender takes the head of FLE.sendqueue (its recipient is `to`)."""
    if queue and queue[0].sid == to:
        return queue.popleft()
    for i, m in enumerate(queue):
        if m.sid == to:
            del queue[i]
            return m
    return None


# --- breakpoints -------------------------------------------------------------------------------


def event_matches(f: c.EventFilter, event: Mapping[str, Any]) -> bool:
    """Whether a trace event is one `break on <filter>` stops at."""
    kind = event.get("kind")
    match f.kind:
        case "send":
            return kind == "send" and _is(f.src, event.get("node")) and _is(f.dst, event.get("to"))
        case "deliver":
            return (
                kind == "deliver"
                and _is(f.src, event.get("from"))
                and _is(f.dst, event.get("node"))
            )
        case "drop":
            return kind == "drop" and _is(f.src, event.get("from")) and _is(f.dst, event.get("to"))
        case "state":
            return (
                kind == "state"
                and _is(f.node, event.get("node"))
                and (f.state is None or event.get("state") == f.state.name)
            )
        case "decide":
            if kind != "step" or not _is(f.node, event.get("node")):
                return False
            decided = event.get("output", {}).get("decided")
            return isinstance(decided, Mapping) and _is(f.leader, decided.get("leader"))
        case "timeout":
            return (
                kind == "step"
                and event.get("input", {}).get("type") == "timeout"
                and _is(f.node, event.get("node"))
            )
    return False


def _is(wanted: object, value: object) -> bool:
    return wanted is None or wanted == value


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """An active breakpoint (`b1`) and its canonical command text."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Mark:
    """A `mark` event of the trace (or one made during this replay session)."""

    seq: int
    t_ms: float
    label: str


class _ClosedError(Exception):
    """The replayer was closed while verifying ahead."""


@dataclass(frozen=True, slots=True)
class _ResultText:
    ok: bool
    text: str


# --- the replay session --------------------------------------------------------------------------


class Replayer:
    """A trace opened for stepping, seeking, breakpoints and forking (the console's replay
    mode; satisfies console.backend.ReplayBackend).

    Opening reads the whole file once to index it (line offsets, times, marks) and checks
    it as engine.trace's reader does; events are re-read from the file on demand, so a
    long trace costs 16 bytes per event. Moving forward applies events to the
    reconstructed `ClusterState`; every `checkpoint_every` events a clone is kept, so any
    seek re-executes at most that many events. Thread-safe: the console's UI thread calls
    `view()` while a worker thread runs `execute()`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint_every: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        verify_ahead: bool = False,
    ) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        trace = _open(path)
        self.header: dict[str, Any] = trace.header
        self.notes: list[str] = trace.notes
        self._offsets = array("q")
        self._times = array("d")
        self._marks: list[Mark] = []
        self._index(trace)
        self.total = len(self._offsets)
        self.torn_line = trace.torn_line
        every = checkpoint_every or min(
            MAX_CHECKPOINT_EVERY, max(DEFAULT_CHECKPOINT_EVERY, self.total // 500)
        )
        self.checkpoint_every = every
        base = ClusterState(self.header, self.path)
        self.parent_events = 0
        for event in _parent_prefix(path, self.header):
            base.apply(event)
            self.parent_events += 1
        if base.divergence is not None:
            raise ReplayError(path, 1, f"the parent trace diverges: {base.divergence}")
        base.seq = 0
        self._t0 = base.t_ms
        """The clock before the first event (0, or where a fork's parent was)."""
        self._checkpoints: dict[int, ClusterState] = {0: base.clone()}
        self._state = base
        self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self._cached_view: tuple[ClusterState, ClusterView] | None = None
        self.divergence: Divergence | None = None
        self._breaks: list[tuple[Breakpoint, Predicate | c.EventFilter]] = []
        self._break_counter = 0
        self.stop_reason: str | None = None
        self.running = False
        self.speed = 1.0
        self._clock = clock
        self._play_wall = 0.0
        self._play_t = 0.0
        self._session_marks: list[Mark] = []
        self.forks: list[Cluster] = []
        self._ahead: Divergence | None = None
        self._closing = threading.Event()
        self._verifier: threading.Thread | None = None
        if verify_ahead:
            self._verifier = threading.Thread(
                target=self._verify_ahead, name="zkfle-verify-ahead", daemon=True
            )
            self._verifier.start()

    def _index(self, trace: Trace) -> None:
        offsets, times, marks = self._offsets, self._times, self._marks
        with open(self.path, "rb") as f:
            pos = len(f.readline())
            try:
                for event in trace:
                    raw = f.readline()
                    offsets.append(pos)
                    pos += len(raw)
                    times.append(float(event["t_ms"]))
                    if event["kind"] == "mark":
                        marks.append(Mark(event["seq"], float(event["t_ms"]), str(event["label"])))
            except TraceError as e:
                raise ReplayError.of(e) from None

    # --- reading ----------------------------------------------------------------------------

    def event(self, seq: int) -> Event:
        """The event with this seq (1..total)."""
        return next(self._read(seq, seq))

    def events(self, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        """The events from_seq..to_seq (inclusive; clipped to the trace)."""
        hi = self.total if to_seq is None else min(to_seq, self.total)
        return list(self._read(max(1, from_seq), hi))

    def _read(self, lo: int, hi: int) -> Iterator[Event]:
        if lo > hi:
            return
        with self._lock:
            f = self._file
            f.seek(self._offsets[lo - 1])
            lines = [f.readline() for _ in range(hi - lo + 1)]
        loads = orjson.loads
        for raw in lines:
            yield loads(raw)

    def _stream(self, lo: int, hi: int) -> Iterator[Event]:
        """Like `_read`, in chunks (for long forward runs)."""
        chunk = 4096
        while lo <= hi:
            top = min(hi, lo + chunk - 1)
            yield from self._read(lo, top)
            lo = top + 1

    # --- position ---------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The seq of the last event applied (0: before the first event)."""
        return self._state.seq

    @property
    def state(self) -> ClusterState:
        """The reconstructed cluster at `position` (do not modify it: see `fork`)."""
        return self._state

    def snapshot(self) -> tuple[int, ClusterState]:
        """The position and a copy of the cluster there, taken together (while playing,
        another thread moves them on)."""
        with self._lock:
            return self.position, self._state.clone()

    @property
    def marks(self) -> list[Mark]:
        return sorted([*self._marks, *self._session_marks], key=lambda m: m.seq)

    @property
    def mark_seqs(self) -> dict[str, int]:
        """label -> seq (the first mark with each label)."""
        out: dict[str, int] = {}
        for m in self.marks:
            out.setdefault(m.label, m.seq)
        return out

    def t_at(self, seq: int) -> float:
        return self._t0 if seq <= 0 else self._times[min(seq, self.total) - 1]

    def step(self, n: int = 1) -> int:
        """Apply the next `n` events (stopping at the end); returns the position."""
        with self._lock:
            self._forward(min(self.total, self.position + max(0, n)), breaks=False)
            return self.position

    def back(self, n: int = 1) -> int:
        with self._lock:
            return self.seek(max(0, self.position - max(0, n)))

    def seek(self, seq: int) -> int:
        """Go to just after event `seq` (0..total); re-executes at most K events."""
        with self._lock:
            seq = max(0, min(seq, self.total))
            start = max(k for k in self._checkpoints if k <= seq)
            if seq < self.position or start > self.position:
                self._state = self._checkpoints[start].clone()
            self._forward(seq, breaks=False)
            return self.position

    def seek_mark(self, label: str) -> int:
        with self._lock:
            seq = self.mark_seqs.get(label)
            if seq is None:
                known = ", ".join(f'"{m}"' for m in self.mark_seqs) or "none"
                raise KeyError(f'no mark "{label}" in this trace (marks: {known})')
            return self.seek(seq)

    def seek_time(self, t_ms: float) -> int:
        """Go to the last event at or before `t_ms` on the trace's clock."""
        with self._lock:
            return self.seek(self._seq_at_time(t_ms))

    def _seq_at_time(self, t_ms: float) -> int:
        # Times are sorted in a simulator trace; a threaded one may jitter by microseconds,
        # so this binary search finds a neighbour of the exact answer there.
        lo, hi = 0, self.total
        times = self._times
        while lo < hi:
            mid = (lo + hi) // 2
            if times[mid] <= t_ms:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _forward(self, target: int, breaks: bool) -> Breakpoint | None:
        """Apply events up to `target`; with `breaks`, stop after one that hits a
        breakpoint (returned). Checkpoints are taken on the way."""
        state = self._state
        if state.seq >= target:
            return None
        every = self.checkpoint_every
        checkpoints = self._checkpoints
        predicates = [(b, p) for b, p in self._breaks if isinstance(p, Predicate)] if breaks else []
        filters = (
            [(b, f) for b, f in self._breaks if isinstance(f, c.EventFilter)] if breaks else []
        )
        before = {b.id: p.evaluate(state.view()) for b, p in predicates}
        for event in self._stream(state.seq + 1, target):
            divergence = state.apply(event)
            if divergence is not None and self.divergence is None:
                self.divergence = divergence
            seq = state.seq
            if not seq % every and seq not in checkpoints:
                checkpoints[seq] = state.clone()
            if divergence is not None and breaks:
                self.stop_reason = f"divergence at seq {seq} on n{divergence.node}"
                return Breakpoint("divergence", str(divergence))
            for b, f in filters:
                if event_matches(f, event):
                    self.stop_reason = f"{b.id}: {b.text.removeprefix('break ')} at seq {seq}"
                    return b
            if predicates:
                view = state.view()
                for b, p in predicates:
                    now = p.evaluate(view)
                    hit = now and not before[b.id]
                    before[b.id] = now
                    if hit:
                        self.stop_reason = f"{b.id}: {b.text.removeprefix('break ')} at seq {seq}"
                        return b
        return None

    def run_until_break(self, limit: int | None = None) -> Breakpoint | None:
        """Apply events until a breakpoint hits (returned) or the end (or `limit` events)."""
        with self._lock:
            target = self.total if limit is None else min(self.total, self.position + limit)
            hit = self._forward(target, breaks=True)
            if hit is None and self.position >= self.total:
                self.stop_reason = "end of trace"
            return hit

    # --- views -------------------------------------------------------------------------------

    def view(self) -> ClusterView:
        """The cluster after the event at `position` (advances first while playing)."""
        with self._lock:
            self._play()
            cached = self._cached_view
            if cached is not None and cached[0] is self._state and cached[1].seq == self.position:
                return cached[1]
            v = self._state.view()
            self._cached_view = (self._state, v)
            return v

    def timeline(self) -> Timeline:
        """The elections and outages up to `position` (engine.elections)."""
        with self._lock:
            return self._state.elections.timeline()

    def explain(self, election: Election) -> Explanation | None:
        """`zkfle explain` of an election's outage, up to `position` if it goes on there."""
        outage = election.outage
        if outage is None:
            return None
        end = outage.ended_seq if outage.ended_seq is not None else self.position
        events = self.events(max(1, outage.started_seq - LEAD_IN), end)
        window = window_from_events(events, outage, election)
        return explain_window(window, context_from_header(self.header))

    def events_after(self, seq: int) -> list[Event]:
        """The events in (seq, position] (the last EVENTS_AFTER_WINDOW of them)."""
        with self._lock:
            hi = self.position
            lo = max(seq + 1, hi - EVENTS_AFTER_WINDOW + 1, 1)
            return self.events(lo, hi)

    # --- breakpoints ------------------------------------------------------------------------------

    @property
    def breakpoints(self) -> list[Breakpoint]:
        return [b for b, _ in self._breaks]

    def break_when(self, predicate: Predicate | str) -> Breakpoint:
        """Stop (while playing) after the event that makes `predicate` true."""
        if isinstance(predicate, str):
            cmd = c.parse(f"break when {predicate}")
            assert isinstance(cmd, c.BreakWhen)
            predicate = cmd.predicate
        with self._lock:
            predicate.check(self._state.view())
            return self._add_break(f"break when {predicate}", predicate)

    def break_on(self, event_filter: c.EventFilter | str) -> Breakpoint:
        """Stop (while playing) after the next event matching the filter."""
        if isinstance(event_filter, str):
            cmd = c.parse(f"break on {event_filter}")
            assert isinstance(cmd, c.BreakOn)
            event_filter = cmd.event
        with self._lock:
            return self._add_break(f"break on {event_filter}", event_filter)

    def _add_break(self, text: str, cond: Predicate | c.EventFilter) -> Breakpoint:
        self._break_counter += 1
        bp = Breakpoint(f"b{self._break_counter}", text)
        self._breaks.append((bp, cond))
        return bp

    def remove_breakpoint(self, bp_id: str | None = None) -> int:
        """Remove one breakpoint (or all); returns how many were removed."""
        with self._lock:
            before = len(self._breaks)
            self._breaks = [(b, x) for b, x in self._breaks if bp_id is not None and b.id != bp_id]
            return before - len(self._breaks)

    # --- playing ---------------------------------------------------------------------------------

    def play(self, speed: float | None = None) -> None:
        """Advance by itself at `speed` × the trace's clock, on each `view()` call."""
        with self._lock:
            if speed is not None:
                self.speed = speed
            self.running = True
            self.stop_reason = None
            self._play_wall = self._clock()
            self._play_t = self.t_at(self.position)

    def halt(self) -> None:
        """Stop playing (the user's word: why playback last stopped by itself is over)."""
        with self._lock:
            self.running = False
            self.stop_reason = None

    def _play(self) -> None:
        if not self.running:
            return
        now = self._clock()
        target_t = self._play_t + (now - self._play_wall) * 1000.0 * self.speed
        target = min(self._seq_at_time(target_t), self.position + PLAY_MAX_EVENTS)
        if target <= self.position and self.position < self.total:
            return
        try:
            hit = self._forward(min(target, self.total), breaks=True)
        except ReplayError as e:
            self.running = False
            self.stop_reason = str(e)
            return
        if target >= self.position + PLAY_MAX_EVENTS:
            # Too far behind the clock: play on from here rather than race to catch up.
            self._play_wall, self._play_t = now, self.t_at(self.position)
        if hit is not None:
            self.running = False
        elif self.position >= self.total:
            self.running = False
            self.stop_reason = "end of trace"

    # --- verifying ahead ------------------------------------------------------------------------

    def _verify_ahead(self) -> None:
        """Re-execute the whole file once, as `verify` does (without the invariants, which
        the trace records as it goes), so that a divergence is known soon after opening
        rather than once the replay reaches it; in the background, giving way often."""

        def give_way(_: int) -> None:
            if self._closing.is_set():
                raise _ClosedError
            time.sleep(0)  # let the console's thread have the interpreter

        try:
            found = verify(self.path, invariants=False, progress=give_way, progress_every=2048)
        except _ClosedError:
            return
        except (ReplayError, OSError):
            return  # opening read the whole file: only its removal since gets here
        self._ahead = found.divergence

    @property
    def first_divergence(self) -> Divergence | None:
        """The trace's first divergence: met while replaying, or found verifying ahead."""
        return self.divergence or self._ahead

    # --- the console's backend protocol -------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        found = self.first_divergence
        return {
            "mode": "replay",
            "runtime": self.header.get("runtime", "?"),
            "seed": self.header.get("seed"),
            "trace_path": self.path,
            "label": self.header.get("label", ""),
            "running": self.running,
            "speed": self.speed,
            "divergence": f"diverges at seq {found.seq} on n{found.node}" if found else None,
        }

    def execute(self, text: str) -> _ResultText:
        """The navigation commands of the language; the rest is refused (read-only)."""
        try:
            cmd = c.parse(text.strip())
        except CommandError as e:
            return _ResultText(False, str(e))
        try:
            return self._execute(cmd)
        except (CommandError, ReplayError) as e:
            return _ResultText(False, str(e))
        except KeyError as e:
            return _ResultText(False, str(e.args[0]))

    def _execute(self, cmd: c.Command) -> _ResultText:
        match cmd:
            case c.Step(count):
                self.halt()
                return self._at(self.step(count))
            case c.Seek(target):
                self.halt()
                if isinstance(target, int):
                    return self._at(self.seek(target))
                if isinstance(target, c.Instant):
                    return self._at(self.seek_time(target.t_ms))
                return self._at(self.seek_mark(target))
            case c.Run():
                if self.position >= self.total:
                    return _ResultText(False, "run: at the end of the trace (seek back first)")
                self.play()
                return _ResultText(True, f"playing at {self.speed:g}x")
            case c.Halt():
                self.halt()
                return self._at(self.position, "halted")
            case c.Speed(factor):
                with self._lock:
                    self._play_wall, self._play_t = self._clock(), self.t_at(self.position)
                    self.speed = factor
                return _ResultText(True, f"speed {factor:g}x")
            case c.BreakWhen(predicate):
                bp = self.break_when(predicate)
                return _ResultText(True, f"{bp.id}: {bp.text}")
            case c.BreakOn(event):
                bp = self.break_on(event)
                return _ResultText(True, f"{bp.id}: {bp.text}")
            case c.Breaks():
                listing = [f"{b.id}  {b.text}" for b in self.breakpoints]
                return _ResultText(True, "\n".join(listing) or "no breakpoints")
            case c.Unbreak(number):
                bp_id = None if number is None else f"b{number}"
                removed = self.remove_breakpoint(bp_id)
                if bp_id is not None and not removed:
                    return _ResultText(False, f"unbreak: no breakpoint {bp_id} (see `breaks`)")
                return _ResultText(True, f"removed {removed} breakpoint(s)")
            case c.Mark(label):
                with self._lock:
                    seq = self.position
                    mark = Mark(seq, self.t_at(seq), label or f"mark@{seq}")
                    self._session_marks.append(mark)
                return _ResultText(True, f'marked seq {seq} "{mark.label}" (in this session)')
            case c.Status():
                return _ResultText(True, self.status_text())
            case c.Help(topic):
                return _ResultText(True, c.help_text(topic or None))
        return _ResultText(
            False,
            f"{cmd.verb}: a replay is read-only; fork it to continue as a live simulated cluster",
        )

    def _at(self, seq: int, what: str = "at") -> _ResultText:
        note = ""
        if self.divergence is not None and self.divergence.seq <= seq:
            note = f" (diverged at seq {self.divergence.seq})"
        return _ResultText(True, f"{what} seq {seq}/{self.total}, t={self.t_at(seq):.3f} ms{note}")

    def status_text(self) -> str:
        v = self.view()
        lines = [
            f"replay {self.path}: seq {self.position}/{self.total} t={v.t_ms:.3f} ms"
            f" {leadership_text(v)}",
            messages_text(v.messages),
        ]
        for n in v.nodes:
            state = n.state.name if n.state is not None else "down"
            lines.append(f"n{n.sid:<3} {state:<10} round={n.logicalclock} zab={n.zab_phase}")
        found = self.first_divergence
        if found is not None:
            lines.append(f"diverges: {found}")
        return "\n".join(lines)

    def fork(
        self, seed: int | None = None, trace_path: str | os.PathLike[str] | None = None
    ) -> Cluster:
        """A live simulated cluster continuing from `position` (engine.fork.fork), halted
        until `run`; playback stops here (the fork goes on from this step)."""
        from engine.fork import fork

        self.halt()
        cluster = fork(self, seed=seed, trace_path=trace_path)
        self.forks.append(cluster)
        return cluster

    def close(self) -> None:
        self._closing.set()
        if self._verifier is not None:
            self._verifier.join(5.0)
        with self._lock:
            self.running = False
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay_to(path: str | os.PathLike[str], seq: int | None = None) -> ClusterState:
    """A fresh `ClusterState` after event `seq` (the end if None), streaming."""
    trace = _open(path)
    state = ClusterState(trace.header, str(path))
    for event in _parent_prefix(path, trace.header):
        state.apply(event)
    state.seq = 0
    try:
        for event in trace.events(1, seq):
            state.apply(event)
    except TraceError as e:
        raise ReplayError.of(e) from None
    return state


def iter_views(
    path: str | os.PathLike[str], seqs: Iterable[int]
) -> Iterator[tuple[int, ClusterView]]:
    """The view after each of the (ascending) seqs, in one pass."""
    wanted = sorted(set(seqs))
    trace = _open(path)
    state = ClusterState(trace.header, str(path))
    for event in _parent_prefix(path, trace.header):
        state.apply(event)
    state.seq = 0
    i = 0
    if wanted and wanted[0] <= 0:
        yield 0, state.view()
        i = 1
    try:
        for event in trace:
            if i >= len(wanted):
                return
            state.apply(event)
            while i < len(wanted) and wanted[i] == state.seq:
                yield state.seq, state.view()
                i += 1
    except TraceError as e:
        raise ReplayError.of(e) from None
