"""The Cluster facade: the one API the console, the shell and scripts use.

A `Cluster` is built from `ClusterOptions` (a generated `--nodes N --observers M` cluster
or a zoo.cfg), picks a runtime (threads on the wall clock, or the simulator in virtual
time), records everything to a trace, and executes commands of the command language
(engine.control.commands) against it. Every command is recorded as a `cmd` event with its
result; a wrong command changes nothing and says what was expected.

The facade owns the runtime, the trace and what is observed of the run (invariants,
snapshots, elections, views) and hands each command to the collaborator it belongs to:
`setup` builds what it runs on, `clock` moves time and waits, `gate` halts at events,
`lifecycle` and `links` act on nodes and links, `writes` asks the leader for
transactions and `report` says what the cluster is.
"""

from __future__ import annotations

import random
import secrets
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.control import commands as c
from engine.control.breakpoints import Breakpoints
from engine.control.clock import OBSERVE_INTERVAL_S, Clock
from engine.control.gate import Gate
from engine.control.help import help_text
from engine.control.lifecycle import Lifecycle
from engine.control.links import Links, healed
from engine.control.modelcheck import CheckSummary, MakeCheck, ModelCheck, shadowed
from engine.control.predicates import CommandError, Predicate
from engine.control.report import faults_text, result_json, status_text
from engine.control.resolve import resolve_nodes
from engine.control.setup import load_config, make_runtime, stored_durables, timing_of, trace_header
from engine.control.shadow import MakeShadow
from engine.control.values import Nodes, show_ms
from engine.control.writes import client_write
from engine.core.peer.io import Durable
from engine.core.view import ClusterView
from engine.core.vote import Sid
from engine.runtime.durable import DurableError
from engine.runtime.faults import LinkFault
from engine.runtime.host import Host
from engine.runtime.protocol import RefusedError, Runtime
from engine.runtime.sim import SimulationStuckError
from engine.runtime.threads import ThreadedRuntime
from engine.runtime.views import snapshot_json
from engine.trace.elections import KINDS as ELECTION_KINDS
from engine.trace.elections import Election, ElectionTracker, Timeline
from engine.trace.explain.outage import (
    KEEP_WINDOWS,
    WINDOW_KINDS,
    Explanation,
    OutageWindows,
    context_from_header,
    explain_window,
)
from engine.trace.format import RotatingTraceWriter, TraceWriter, default_trace_path
from engine.trace.invariants import InvariantChecker, Violation
from engine.trace.recorder import Event, Recorder

SNAPSHOT_EVERY = 1000
"""A `snapshot` event every this many events (and after every command)."""
CHECKED_KINDS = frozenset(
    ("boot", "stop", "step", "state", "fault", "heal", "snapshot", "cmd", "pause", "resume")
)
"""What the online invariant checker reads (messages themselves never break an invariant)."""
VIEW_KINDS = frozenset(
    ("state", "boot", "stop", "pause", "resume", "fault", "heal", "cmd", "peer_state", "zk")
)
"""Events after which views may show something new (`peer_state` and `zk`: a real server's
log, or what its `srvr` says)."""
_READERS = {
    kind: (
        kind in VIEW_KINDS,
        kind in CHECKED_KINDS,
        kind in ELECTION_KINDS,
        kind in ELECTION_KINDS or kind in WINDOW_KINDS,
    )
    for kind in VIEW_KINDS | CHECKED_KINDS | ELECTION_KINDS | WINDOW_KINDS
}
"""Who reads an event of each kind (one look-up per event; `drop` and most of the
messages' kinds reach nobody): views, the invariant checker, the elections tracker, the
outage windows."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to build a cluster (the `zkfle` command line options)."""

    nodes: int = 5
    observers: int = 0
    config: Path | None = None
    """A zoo.cfg; replaces nodes/observers."""
    runtime: str = "threaded"
    """"threaded" (wall clock), "sim" (virtual time, seeded) or "zookeeper" (real Java
    servers behind the recording proxy, engine.runtime.zookeeper.runtime)."""
    transport: str = "memory"
    seed: int | None = None
    tick_ms: int | None = None
    init_limit: int | None = None
    sync_limit: int | None = None
    data_dir: Path | None = None
    """Where nodes keep their durable state (threaded runtime); a temp dir if None."""
    trace: Path | None = None
    """The trace file; a name under traces/ if None (unless record is False)."""
    record: bool = True
    trace_max_bytes: int | None = None
    """Go on in a new part of the trace once a part holds this much (RotatingTraceWriter)."""
    label: str = "run"
    initial: dict[Sid, Durable] = field(default_factory=dict)
    parent: dict[str, Any] | None = None
    pace: bool = False
    """Simulator only: let virtual time follow the wall clock (x `speed`) by itself, as
    the console wants; scripts leave it off and move time with `wait`."""
    halted: bool = False
    """With `pace`: start with the clock stopped until `run` (a fork waits at its step)."""
    check: MakeCheck | None = None
    """Builds the model check that follows the run (the front end passes
    engine.replay.livecheck's, which checks real ZooKeeper runs)."""
    shadow: MakeShadow | None = None
    """Builds the reconstruction `break when` is judged on at each event (the front end
    passes engine.replay.state.rebuild; without one, `break when` is refused)."""


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    text: str
    command: c.Command | None = None
    seq: int | None = None
    """The seq of the `cmd` event that recorded it (where to seek to see it)."""

    @property
    def failed_check(self) -> bool:
        """An `expect` failed or a `wait until` timed out (exit status 1)."""
        return not self.ok and isinstance(self.command, c.Expect | c.WaitUntil)


class Cluster:
    """A local cluster that commands act on (see the module docstring)."""

    def __init__(self, options: ClusterOptions) -> None:
        self.options = options
        self.config = load_config(
            options.config,
            options.nodes,
            options.observers,
            options.tick_ms,
            options.init_limit,
            options.sync_limit,
        )
        qv = self.config.quorum_verifier
        self.timing = timing_of(self.config)
        # A fresh seed when none is given (recorded in the header, so the run can be redone).
        self.seed = options.seed if options.seed is not None else secrets.randbelow(1 << 31)
        self.rng = random.Random(f"{self.seed}:commands")
        self.sim = options.runtime == "sim"
        self.recorder = Recorder()
        self.writer: TraceWriter | RotatingTraceWriter | None = None
        self.runtime: Runtime
        self.runtime, self._tmp = make_runtime(
            options.runtime,
            self.config,
            self.timing,
            self.recorder,
            self.seed,
            options.data_dir,
            options.initial,
        )
        try:
            initial = stored_durables(self.runtime)
            header = trace_header(
                self.config,
                self.timing,
                initial,
                self.runtime,
                options.runtime,
                options.transport,
                self.seed,
                options.label,
                options.parent,
            )
        except BaseException:
            self.runtime.stop()
            raise
        self.checker = InvariantChecker(header)
        self._elections = ElectionTracker(qv)
        self._elections_lock = threading.Lock()
        self._outages = OutageWindows(keep=KEEP_WINDOWS)
        self._explain_context = context_from_header(header)
        self.violations: list[Violation] = []
        self._pending_violations: list[Violation] = []
        if options.record:
            path = options.trace or default_trace_path(options.label, datetime.now())
            fsynced = options.runtime != "sim"  # a simulated run is made again from its seed
            if options.trace_max_bytes is None:
                self.writer = TraceWriter(path, header, durable=fsynced)
            else:
                self.writer = RotatingTraceWriter(
                    path, header, options.trace_max_bytes, durable=fsynced
                )
            self.recorder.sinks.append(self.writer)
        self.model_check: ModelCheck | None = None
        if options.check is not None:
            self.model_check = options.check(header, str(self.trace_path or "<live run>"))
        if self.model_check is not None:
            self.recorder.listeners.append(self.model_check.feed)
        self._lock = threading.RLock()
        """Serialises commands (and, in the simulator, every run of the event loop)."""
        self._clock = Clock(
            self.runtime,
            self.recorder,
            self.writer,
            self._lock,
            self._observe,
            lambda: self._gate.hits,
        )
        self._gate = Gate(
            self.recorder,
            self._clock,
            options.shadow,
            self.writer,
            header,
            self._observe,
            self._host_view,
        )
        self._links = Links(self.runtime, self.view, self.rng)
        self._lifecycle = Lifecycle(self.runtime, self._links)
        self.recorder.listeners.append(self._listen)
        version = header.get("zookeeper", {}).get("version")
        self._runtime_label = f"{options.runtime} {version}" if version else options.runtime
        """What the console's header and the shell's greeting call the runtime."""
        for sid, durable in initial.items():
            self.runtime.show_durable(sid, durable)  # shown while the node is down
        self._view_lock = threading.Lock()
        self._cached_view: tuple[float, int, ClusterView] | None = None
        self._last_stable: bool | None = None
        self._last_snapshot_seq = 0
        self._closed = False
        self._unstable_since: float | None = self.runtime.now()
        """ClusterView.unstable_since_ms, judged whenever the monitor or the simulator's
        loop observes a change (in the simulator: right after the event that made it)."""
        self._clock.start(options.pace, options.halted)

    @property
    def host(self) -> Host:
        """The runtime of our own cores (threads or simulator): what a fork and tests
        reach into. The facade itself only uses `runtime`."""
        assert isinstance(self.runtime, Host), f"no Host in a {self.runtime.kind} cluster"
        return self.runtime

    @property
    def breaks(self) -> Breakpoints:
        return self._gate.breaks

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped by itself (a breakpoint), until it is let go on."""
        return self._gate.stop_reason

    @property
    def sids(self) -> list[Sid]:
        return self.runtime.sids

    @property
    def trace_path(self) -> Path | None:
        """The trace file being written (of a rotated trace, the current part)."""
        return self.writer.path if self.writer is not None else None

    # --- observation ------------------------------------------------------------------------

    def _listen(self, event: Event) -> None:
        """Recorder listener: called one event at a time, in seq order, possibly on another
        thread than the event's and while node locks are held, so it only takes notes."""
        readers = _READERS.get(event["kind"])
        if readers is None:
            return
        view, checked, election, window = readers
        if view:
            self._clock.note_change()
        if checked:
            found = self.checker.feed(event)
            if found:
                self._pending_violations.extend(found)
        if window:
            with self._elections_lock:
                if election:
                    self._elections.feed(event)
                self._outages.feed(event, self._elections)

    def timeline(self) -> Timeline:
        """The elections and outages so far (engine.trace.elections, fed every event)."""
        with self._elections_lock:
            return self._elections.timeline()

    def explain(self, election: Election) -> Explanation | None:
        """`zkfle explain` of an election's outage (None: it has none, or its events are
        older than the last KEEP_WINDOWS outages this cluster keeps)."""
        outage = election.outage
        if outage is None:
            return None
        with self._elections_lock:
            window = self._outages.window(outage.started_seq)
            if window is None and outage.ongoing:
                window = self._outages.ongoing(self._elections)
        return explain_window(window, self._explain_context) if window is not None else None

    def continue_elections(self, tracker: ElectionTracker, unstable_since: float | None) -> None:
        """Continue a run's elections and outages (a fork): `tracker` knows its history, and
        an outage under way began at `unstable_since` (not when the fork was made)."""
        with self._elections_lock:
            self._elections = tracker
        self._unstable_since = unstable_since

    def continue_faults(self, counter: int, faults: list[LinkFault]) -> None:
        """Continue a run's faults (a fork): the next id after `counter`, these active."""
        self._links.continue_faults(counter, faults)

    def _observe(self, snapshot: bool = False) -> None:
        """Emit what the listener noted: invariant results, stability snapshots (one in any
        case with `snapshot`: after a command)."""
        while self._pending_violations:
            v = self._pending_violations.pop(0)
            self.violations.append(v)
            fields = v.event_fields()
            fields.pop("kind")
            fields.pop("node", None)
            self.runtime.emit("invariant", v.node, **fields)
        stable = self.runtime.stable_leader() is not None
        if stable:
            self._unstable_since = None
        elif self._unstable_since is None:
            self._unstable_since = self.runtime.now()
        if (
            snapshot
            or stable != self._last_stable
            or self.recorder.seq - self._last_snapshot_seq >= SNAPSHOT_EVERY
        ):
            self._snapshot()

    def _snapshot(self, view: ClusterView | None = None) -> None:
        if self.recorder.holding:
            self._last_stable = None  # halted: one follows the held events (Gate.going_on)
            return
        view = view or self.runtime.view()
        self._last_stable = view.stable
        self.runtime.emit("snapshot", **snapshot_json(view))
        self._last_snapshot_seq = self.recorder.seq

    def view(self) -> ClusterView:
        """A snapshot of the cluster. The threaded runtime reuses one for OBSERVE_INTERVAL_S
        while no node changed state (building one takes every node's lock, and watchers
        ask often); queue depths in it may then be that old."""
        if self.sim:
            return self._host_view()
        now = time.monotonic()
        with self._view_lock:
            cached = self._cached_view
            if (
                cached is None
                or cached[1] != self._clock.version
                or now - cached[0] >= OBSERVE_INTERVAL_S
            ):
                version = self._clock.version
                cached = self._cached_view = (now, version, self._host_view())
            return cached[2]

    def _host_view(self) -> ClusterView:
        view = self.runtime.view()
        if self.model_check is not None:
            check = self.model_check
            view = replace(view, nodes=tuple(shadowed(n, check) for n in view.nodes))
        return replace(view, unstable_since_ms=self._unstable_since)

    def events_after(self, seq: int) -> list[Event]:
        return self.recorder.events_after(seq)

    @property
    def info(self) -> dict[str, Any]:
        return {
            "mode": "live",
            "runtime": self._runtime_label,
            "seed": self.seed,
            "trace": str(self.trace_path) if self.trace_path else None,
            "label": self.options.label,
            "running": self._clock.sim_running if self.sim else not self._threads_halted(),
            "speed": self._clock.speed,
            "stop_reason": self.stop_reason,
            "check": summary.lamp if (summary := self.check_summary()) else None,
        }

    def _threads_halted(self) -> bool:
        return isinstance(self.runtime, ThreadedRuntime) and self.runtime.halted

    # --- waiting -------------------------------------------------------------------------------

    def advance(self, ms: float) -> None:
        """Let `ms` pass on the cluster's clock (virtual in the simulator)."""
        self._clock.advance(ms)

    def wait_until(self, predicate: Callable[[ClusterView], bool], within_ms: float) -> bool:
        """Wait until `predicate(view)` holds; False if it did not within `within_ms`."""
        return self.wait_for(lambda: predicate(self.view()), within_ms)

    def wait_for(self, condition: Callable[[], bool], within_ms: float) -> bool:
        """Wait until `condition()` holds, checking after state changes (at most every
        OBSERVE_INTERVAL_S in the threaded runtime); False if it did not in time."""
        return self._clock.wait_for(condition, within_ms)

    def wait_stable(self, within_ms: float = 30_000.0) -> bool:
        return self.wait_for(lambda: self.runtime.stable_leader() is not None, within_ms)

    # --- commands -----------------------------------------------------------------------------

    def start(self, sids: list[Sid] | None = None) -> CommandResult:
        return self.execute("start" if not sids else "start " + ",".join(map(str, sids)))

    def execute(self, text: str) -> CommandResult:
        """Parse and run one command line; the result says what happened or what was wrong."""
        text = text.strip()
        try:
            command = c.parse(text)
        except CommandError as e:
            result = CommandResult(False, str(e))
            return replace(result, seq=self._record_cmd(text, result))
        return self.run(command, text)

    def run(self, command: c.Command, text: str | None = None) -> CommandResult:
        with self._lock:
            try:
                result = self._dispatch(command)
            except (CommandError, DurableError) as e:
                result = CommandResult(False, str(e), command)
            except RefusedError as e:
                result = CommandResult(False, f"{command.verb}: {e}", command)
            except SimulationStuckError as e:
                result = CommandResult(
                    False, f"{command.verb}: the simulation stopped: {e}", command
                )
            except Exception as e:  # an engine bug must not take the console down with it
                where = traceback.extract_tb(e.__traceback__)[-1]
                detail = f"{type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"
                result = CommandResult(False, f"{command.verb}: internal error: {detail}", command)
            seq = self._record_cmd(text if text is not None else command.text, result)
            return replace(result, seq=seq)

    def _record_cmd(self, text: str, result: CommandResult) -> int:
        with self._lock:
            fields: dict[str, Any] = {"text": text, "ok": result.ok}
            fields["result" if result.ok else "error"] = result.text
            seq = self.recorder.emit_fields("cmd", self.runtime.now(), None, fields)["seq"]
            self._observe(snapshot=True)
            return int(seq)

    def _ok(self, command: c.Command, text: str) -> CommandResult:
        return CommandResult(True, text, command)

    def _nodes(self, spec: Nodes) -> tuple[Sid, ...]:
        return resolve_nodes(spec, self.view(), self.rng)

    def _dispatch(self, cmd: c.Command) -> CommandResult:
        match cmd:
            case c.Start(nodes) | c.Restart(nodes):
                ok, text = self._lifecycle.start(cmd.verb, self._nodes(nodes))
                return CommandResult(ok, text, cmd)
            case c.Crash(nodes, for_ms):
                return self._ok(cmd, self._lifecycle.crash(self._nodes(nodes), for_ms))
            case c.Pause(nodes, for_ms):
                return self._ok(cmd, self._lifecycle.pause(self._nodes(nodes), for_ms))
            case c.Resume(nodes):
                return self._ok(cmd, self._lifecycle.resume(self._nodes(nodes)))
            case c.Timeout(nodes):
                return self._ok(cmd, self._lifecycle.fire_timeouts(self._nodes(nodes)))
            case c.Write(count):
                return self._ok(cmd, client_write(self._clock, self.view(), count))
            case c.Set():
                return self._ok(cmd, self._lifecycle.set(cmd))
            case c.Status():
                return self._ok(cmd, self.status_text())
            case c.Check():
                summary = self.check_summary()
                if summary is None:
                    return CommandResult(
                        False,
                        "check: only runs of real ZooKeeper servers (--runtime zookeeper) are"
                        " model-checked as they go; `zkfle check TRACE` checks a recorded one",
                        cmd,
                    )
                return self._ok(cmd, summary.text())
            case (
                c.Partition()
                | c.Isolate()
                | c.Block()
                | c.Hold()
                | c.Delay()
                | c.Loss()
                | c.Dup()
                | c.Reorder()
            ):
                return self._ok(cmd, self._links.fault(cmd))
            case c.Heal(fault):
                ids = self._links.heal(None if fault is None else f"f{fault}")
                return self._ok(cmd, healed(ids))
            case c.Faults():
                return self._ok(cmd, self.faults_text())
            case c.Reset():
                ok, text = self._lifecycle.reset()
                return CommandResult(ok, text, cmd)
            case c.Release(link, mode):
                return self._ok(cmd, self._links.release(link, mode))
            case c.Drop(target) | c.Deliver(target):
                deliver = isinstance(cmd, c.Deliver)
                return self._ok(cmd, self._links.drop_or_deliver(cmd, target, deliver))
            case c.Wait(ms):
                hits, start = self._gate.hits, self.runtime.now()
                if not self.sim or self._gate.going_on():
                    self.advance(ms)
                if self.sim and self._gate.hits != hits:
                    waited = show_ms(self.runtime.now() - start)
                    return self._ok(cmd, f"waited {waited}; stopped: {self.stop_reason}")
                return self._ok(cmd, f"waited {show_ms(ms)}")
            case c.WaitUntil(predicate, within_ms):
                return self._wait_for(cmd, predicate, within_ms)
            case c.Expect(predicate, within_ms):
                return self._wait_for(cmd, predicate, within_ms or 0.0)
            case c.Mark(label):
                self.runtime.emit("mark", label=label or f"mark@{self.recorder.seq + 1}")
                return self._ok(cmd, f"marked seq {self.recorder.seq}")
            case c.Record():
                where = str(self.trace_path) if self.trace_path else "nowhere (--no-trace)"
                return self._ok(cmd, f"recording to {where}")
            case c.Help(topic):
                return self._ok(cmd, help_text(topic or None))
            case c.Run() | c.Halt() | c.Step() | c.Speed():
                if isinstance(self.runtime, ThreadedRuntime):
                    return self._ok(cmd, self._gate.halt_or_go(cmd, self.runtime))
                return self._ok(cmd, self._gate.pace(cmd))
            case c.BreakWhen() | c.BreakOn() | c.Breaks() | c.Unbreak():
                if not isinstance(self.runtime, Host):
                    raise CommandError(f"{cmd.verb}: real servers cannot be halted", 0)
                ok, text = self._gate.break_command(cmd)
                return CommandResult(ok, text, cmd)
            case _:
                raise CommandError(
                    f"{cmd.verb}: not available here (live {self.info['runtime']} cluster)", 0
                )

    def _wait_for(self, cmd: c.Command, predicate: Predicate, within_ms: float) -> CommandResult:
        predicate.check(self.view())
        hits = self._gate.hits
        waits = within_ms > 0 and (not self.sim or self._gate.going_on())
        ok = (
            self.wait_until(predicate.evaluate, within_ms)
            if waits
            else predicate.evaluate(self.view())
        )
        if ok:
            return self._ok(cmd, f"{predicate.describe()}: holds")
        if self._gate.hits != hits:
            return CommandResult(False, f"{predicate.describe()}: stopped: {self.stop_reason}", cmd)
        what = "did not hold" if within_ms == 0 else f"did not hold within {show_ms(within_ms)}"
        if self._threads_halted():
            what += " (the cluster is halted: `continue` lets it run)"
        return CommandResult(False, f"{predicate.describe()}: {what}\n{self.status_text()}", cmd)

    # --- texts ----------------------------------------------------------------------------------

    def status_text(self) -> str:
        return status_text(self.view(), self.check_summary(), self.runtime.notes())

    def check_summary(self) -> CheckSummary | None:
        """The live model check so far (None: this run has none)."""
        return self.model_check.summary() if self.model_check is not None else None

    def faults_text(self) -> str:
        return faults_text(self.view())

    def result_json(
        self, elapsed_ms: float, failures: Iterable[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """The `zkfle run --json` object (DESIGN §4); `failures` are the failed checks of
        the script (file, line, predicate, seq)."""
        view = self.view()
        trace = str(self.trace_path) if self.trace_path else None
        return result_json(view, elapsed_ms, failures, trace, self.violations, self.check_summary())

    # --- closing --------------------------------------------------------------------------------

    def close(self, end: str | None = None) -> None:
        """Stop every thread, finish the trace (footer) and remove temporary data."""
        if self._closed:
            return
        self._clock.stop_pace()
        with self._lock:
            self._gate.close()
            self._observe()
            self._closed = True
        self.runtime.stop()
        if self.model_check is not None:
            self.model_check.finish()
        self._clock.stop_monitor()
        self.violations.extend(self.checker.finish())
        if self.writer is not None:
            final = end or ("violation" if self.violations else "ok")
            self.writer.close(self.writer.footer_event(round(self.runtime.now(), 3), final))
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close("aborted" if exc[0] is not None else None)
