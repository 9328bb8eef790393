"""The Cluster facade: the one API the console, the shell and scripts use.

A `Cluster` is built from `ClusterOptions` (a generated `--nodes N --observers M` cluster
or a zoo.cfg), picks a runtime (threads on the wall clock, or the simulator in virtual
time), records everything to a trace, and executes commands of the command language
(engine.control.commands) against it. Every command is recorded as a `cmd` event with its result;
a wrong command changes nothing and says what was expected.
"""

from __future__ import annotations

import functools
import random
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.control import commands as c
from engine.control.breakpoints import Breakpoints, Hit
from engine.control.help import help_text
from engine.control.modelcheck import CheckSummary, MakeCheck, ModelCheck
from engine.control.predicates import CommandError, Predicate
from engine.control.resolve import chosen, resolve_link, resolve_nodes, resolve_partition
from engine.control.shadow import MakeShadow, Shadow
from engine.control.values import Link, MessageId, Nodes, show_ms
from engine.core.config import ConfigError, QuorumPeerConfig, generate_config, load_zoo_cfg
from engine.core.election import ElectionConfig
from engine.core.peer.io import Durable, Timing
from engine.core.view import ClusterView, NodeView, leadership_text, messages_text
from engine.core.vote import ServerState, Sid, zxid_hex
from engine.runtime.durable import DurableError, DurableStore, MemoryStore, Store
from engine.runtime.faults import LinkFault
from engine.runtime.host import Host
from engine.runtime.protocol import RefusedError, Runtime
from engine.runtime.sim import Simulation, SimulationStuckError
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
from engine.trace.format import (
    RotatingTraceWriter,
    TraceWriter,
    default_trace_path,
    make_header,
    read_trace,
)
from engine.trace.invariants import InvariantChecker, Violation
from engine.trace.record import durable_json, timing_json, vote_json
from engine.trace.recorder import RECENT_EVENTS, Event, Recorder

SNAPSHOT_EVERY = 1000
"""A `snapshot` event every this many events (and after every command)."""
WRITE_TIMEOUT_MS = 5000.0
CHECKED_KINDS = frozenset(
    ("boot", "stop", "step", "state", "fault", "heal", "snapshot", "cmd", "pause", "resume")
)
"""What the online invariant checker reads (messages themselves never break an invariant)."""
BOOKKEEPING_KINDS = frozenset(("cmd", "mark", "break", "snapshot", "invariant"))
"""What the facade records about the run, not the run's own events (a `step` skips them)."""
VIEW_KINDS = frozenset(
    ("state", "boot", "stop", "pause", "resume", "fault", "heal", "cmd", "peer_state", "zk")
)
"""Events after which views may show something new (`peer_state` and `zk`: a real server's
log, or what its `srvr` says)."""
PACE_INTERVAL_S = 0.01
"""How often a paced simulator catches up with the wall clock."""
OBSERVE_INTERVAL_S = 0.01
"""Views are built at most this often while waiting (each takes every node's lock)."""
HALT_WAIT_S = 5.0
"""How long `halt` waits for the threads' operations under way to end."""
STEP_WAIT_S = 5.0
"""How long `step` on threads waits for its events (a lone LOOKING node may be silent
for up to a minute)."""


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
        self.config = self._load_config(options)
        qv = self.config.quorum_verifier
        self.timing = Timing(
            tick_time_ms=self.config.tick_time_ms,
            init_limit=self.config.init_limit,
            sync_limit=self.config.sync_limit,
            election=ElectionConfig(),
        )
        # A fresh seed when none is given (recorded in the header, so the run can be redone).
        self.seed = options.seed if options.seed is not None else secrets.randbelow(1 << 31)
        self.rng = random.Random(f"{self.seed}:commands")
        self.sim = options.runtime == "sim"
        self._tmp: Path | None = None
        self.recorder = Recorder()
        self.writer: TraceWriter | RotatingTraceWriter | None = None
        self.runtime: Runtime = self._make_runtime(options, sorted(qv.all_members))
        try:
            header = self._header()
        except BaseException:
            self.runtime.stop()
            raise
        self.checker = InvariantChecker(header)
        self._trace_header = header
        self._elections = ElectionTracker(qv)
        self._elections_lock = threading.Lock()
        self._outages = OutageWindows(keep=KEEP_WINDOWS)
        self._explain_context = context_from_header(header)
        self.violations: list[Violation] = []
        self._pending_violations: list[Violation] = []
        if options.record:
            path = options.trace or default_trace_path(options.label, datetime.now())
            if options.trace_max_bytes is None:
                self.writer = TraceWriter(path, header)
            else:
                self.writer = RotatingTraceWriter(path, header, options.trace_max_bytes)
            self.recorder.sinks.append(self.writer)
        self.model_check: ModelCheck | None = None
        if options.check is not None:
            self.model_check = options.check(header, str(self.trace_path or "<live run>"))
        if self.model_check is not None:
            self.recorder.listeners.append(self.model_check.feed)
        self.recorder.listeners.append(self._listen)
        version = header.get("zookeeper", {}).get("version")
        self._runtime_label = f"{options.runtime} {version}" if version else options.runtime
        """What the console's header and the shell's greeting call the runtime."""
        for sid, durable in self._initial_durable.items():
            self.runtime.show_durable(sid, durable)  # shown while the node is down
        self._view_lock = threading.Lock()
        self._cached_view: tuple[float, int, ClusterView] | None = None
        self._dirty = False
        """Something a view shows changed since the monitor last looked (simulator)."""
        self._version = 0
        self._version_cond = threading.Condition()
        self._closing = threading.Event()
        self._last_stable: bool | None = None
        self._last_snapshot_seq = 0
        self._fault_counter = 0
        self._lock = threading.RLock()
        """Serialises commands (and, in the simulator, every run of the event loop)."""
        self._closed = False
        self._started_at = self.runtime.now()
        self._unstable_since: float | None = self._started_at
        """ClusterView.unstable_since_ms, judged whenever the monitor or the simulator's
        loop observes a change (in the simulator: right after the event that made it)."""
        self._sim_running = options.pace and not options.halted
        self.breaks = Breakpoints()
        self.stop_reason: str | None = None
        """Why the run stopped by itself (a breakpoint), until it is let go on."""
        self._hits = 0
        self._step_left: int | None = None
        """How many more of the run's events a `step` records before it halts."""
        self._shadow: Shadow | None = None
        """While a `break when` is set: the cluster as its recorded events show it (fed by
        the recorder's gate), which the predicates are judged on (engine.control.shadow)."""
        self._speed = 1.0
        self._pacer: threading.Thread | None = None
        if self.sim and options.pace:
            self._pacer = threading.Thread(target=self._pace_loop, name="Pacer", daemon=True)
            self._pacer.start()
        self._monitor: threading.Thread | None = None
        if not self.sim:
            self._monitor = threading.Thread(target=self._monitor_loop, name="Monitor", daemon=True)
            self._monitor.start()

    # --- building -----------------------------------------------------------------------------

    @staticmethod
    def _load_config(options: ClusterOptions) -> QuorumPeerConfig:
        overrides: dict[str, Any] = {}
        for flag, name, value in (
            ("--tick", "tick_time_ms", options.tick_ms),
            ("--init-limit", "init_limit", options.init_limit),
            ("--sync-limit", "sync_limit", options.sync_limit),
        ):
            if value is not None:
                if value < 1:  # every cluster of ours elects: ZooKeeper needs them positive
                    raise ConfigError(f"{flag} must be at least 1, not {value}")
                overrides[name] = value
        if options.config is not None:
            # Every server is ours: no dataDir/myid of this host says which one "we" are.
            cfg = load_zoo_cfg(str(options.config), read_myid=False)
            return replace(cfg, **overrides) if overrides else cfg
        return _generated_config(options.nodes, options.observers, tuple(sorted(overrides.items())))

    def _stores(self, options: ClusterOptions, sids: list[Sid]) -> dict[Sid, Store]:
        if self.sim:
            return {s: MemoryStore(options.initial.get(s)) for s in sids}
        root = options.data_dir
        if root is None:
            root = self._tmp = Path(tempfile.mkdtemp(prefix="zkfle-"))
        stores: dict[Sid, Store] = {}
        for sid in sids:
            store = DurableStore(Path(root) / f"n{sid}")
            if sid in options.initial:
                store.save(options.initial[sid])
            stores[sid] = store
        return stores

    def _header(self) -> Event:
        qv = self.config.quorum_verifier
        initial: dict[str, Any] = {}
        self._initial_durable: dict[Sid, Durable] = {}
        for sid in self.runtime.sids:
            try:
                durable = self.runtime.stored(sid) or Durable()
            except DurableError:  # unreadable: a start will say why
                durable = Durable()
            self._initial_durable[sid] = durable
            initial[str(sid)] = durable_json(durable)
        servers: list[Mapping[str, Any]] = [
            {"sid": sid, "type": qs.learner_type.word, "weight": _weight(self.config, sid)}
            for sid, qs in sorted(qv.all_members.items())
        ]
        t = self.timing
        return (
            make_header(
                config=qv.to_string(),
                servers=servers,
                timing=timing_json(t),
                initial=initial,
                runtime=self.options.runtime,
                # Real servers speak ZooKeeper's protocol over TCP, through the proxy.
                transport="tcp" if self.options.runtime == "zookeeper" else self.options.transport,
                seed=self.seed,
                label=self.options.label,
                created=datetime.now(UTC),
                parent=self.options.parent,
            )
            | self.runtime.describe()
        )

    def _make_runtime(self, options: ClusterOptions, sids: list[Sid]) -> Runtime:
        qv = self.config.quorum_verifier
        if options.runtime == "zookeeper":
            root = options.data_dir
            if root is None:
                root = self._tmp = Path(tempfile.mkdtemp(prefix="zkfle-zk-"))
            # Imported here: it brings kazoo and asyncio, which a simulated or threaded
            # cluster (every `zkfle run --sim`, every explored run) never uses.
            from engine.runtime.zookeeper.runtime import ZooKeeperRuntime

            try:
                return ZooKeeperRuntime(
                    qv, self.timing, self.recorder, self.seed, Path(root), options.initial
                )
            except BaseException:
                self._remove_tmp()
                raise
        stores = self._stores(options, sids)
        if self.sim:
            return Simulation(qv, self.timing, stores, self.recorder, self.seed)
        return ThreadedRuntime(qv, self.timing, stores, self.recorder, self.seed)

    @property
    def host(self) -> Host:
        """The runtime of our own cores (threads or simulator): what a fork and tests
        reach into. The facade itself only uses `runtime`."""
        assert isinstance(self.runtime, Host), f"no Host in a {self.runtime.kind} cluster"
        return self.runtime

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
        if event["kind"] in VIEW_KINDS:
            self._dirty = True
            if not self.sim:
                self._changed()
        if event["kind"] in CHECKED_KINDS:
            found = self.checker.feed(event)
            if found:
                self._pending_violations.extend(found)
        kind = event["kind"]
        if kind in ELECTION_KINDS or kind in WINDOW_KINDS:
            with self._elections_lock:
                if kind in ELECTION_KINDS:
                    self._elections.feed(event)
                self._outages.feed(event, self._elections)

    # --- breakpoints ------------------------------------------------------------------------

    def _at_event(self, event: Event) -> dict[str, Any] | None:
        """The recorder's gate (under its lock, on whichever thread emits): halt right after
        an event a `break on` matches, an event after which a `break when` predicate holds
        on the shadow (and did not before it), or the last event of a `step`, so that it is
        the last event recorded until the run goes on (Recorder.gate)."""
        shadow = self._shadow
        if shadow is not None:
            try:
                shadow.apply(event)
            except Exception as e:  # the run goes on without the predicates: say why
                return self._unjudged(event, e)
        if self.recorder.holding:
            return None  # what passes a halt (a command) is for the shadow only
        stepped = False
        if self._step_left is not None and event["kind"] not in BOOKKEEPING_KINDS:
            self._step_left -= 1
            stepped = self._step_left == 0
            if stepped:
                self._step_left = None
        hit = self.breaks.match_event(event)
        if hit is None and shadow is not None and self.breaks.predicates:
            hit = self.breaks.match_view(shadow.view(), event)
        if hit is not None:
            self._hit(hit)
            return hit.event_fields()
        if stepped:
            self._halt_runtime()
            return {}
        return None

    def _unjudged(self, event: Event, error: Exception) -> dict[str, Any] | None:
        """The shadow failed on `event` (a bug): halt there, drop the `break when`s that
        can no longer be judged and say so."""
        self._shadow = None
        dropped = [b for b, _ in self.breaks.predicates]
        if not dropped:
            return None  # the last one was removed meanwhile
        for b in dropped:
            self.breaks.remove(b.id)
        hit = Hit(dropped[0], int(event["seq"]), f"cannot judge it any more, removed: {error}")
        self._hit(hit)
        return hit.event_fields()

    def _arm_gate(self) -> None:
        """Ask the recorder about every event only while a breakpoint or a `step` needs it."""
        wanted = self.breaks.filters or self._step_left is not None or self._shadow is not None
        self.recorder.gate = self._at_event if wanted else None

    def _build_shadow(self, verb: str) -> Shadow:
        """The shadow at the last recorded event, rebuilt from the run's trace (or, without
        one, from the recorder's recent events while they go back to the start). The caller
        holds the recorder, so that no event goes unjudged meanwhile."""
        make = self.options.shadow
        if make is None:
            raise CommandError(
                f"{verb}: this cluster cannot judge predicates at events (it was built"
                " without ClusterOptions.shadow)",
                0,
            )
        self.recorder.drain(wait=True)
        if self.writer is not None:
            self.writer.flush()
            name = str(self.writer.path)
            trace = read_trace(name)
            header, events = trace.header, trace.events()
        else:
            name, header = "<live run>", self._trace_header
            events = iter(self.recorder.events_after(0))
            if self.recorder.seq and next(iter(self.recorder.recent))["seq"] != 1:
                raise CommandError(
                    f"{verb}: judged on the run's events from the start, and this run records"
                    f" no trace (--no-trace) and keeps only its last {RECENT_EVENTS} (it is at"
                    f" seq {self.recorder.seq}); record a trace to use it",
                    0,
                )
        try:
            return make(header, name, events)
        except Exception as e:  # ReplayError and what a broken trace file raises
            raise CommandError(f"{verb}: cannot rebuild the run from {name}: {e}", 0) from e

    def _hit(self, hit: Hit) -> None:
        """A breakpoint hit: say why, and halt."""
        self.stop_reason = str(hit)
        self._hits += 1
        self._halt_runtime()

    def _halt_runtime(self) -> None:
        """Stop the clock (it returns at once: the recorder's gate calls it)."""
        if self.sim:
            self._sim_running = False
        else:
            assert isinstance(self.runtime, ThreadedRuntime)
            self.runtime.halt()
            self._changed()  # `step` waits for the halt; no event may follow to say so

    def _going_on(self) -> bool:
        """The run goes on (run, step, wait): predicates stop it when they become true
        from here, what stopped it before is over, and what was held is recorded. False if
        a held event hit a breakpoint again (the run stays halted there)."""
        self.stop_reason = None
        if self._shadow is not None:
            self.recorder.hold()  # a run already going changes the shadow on its threads
            self.breaks.arm(self._shadow.view())
        self.recorder.release()
        if not self.recorder.holding:
            self._observe()
        return not self.recorder.holding

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
            self._last_stable = None  # halted: one follows the held events (_going_on)
            return
        view = view or self.runtime.view()
        self._last_stable = view.stable
        self.runtime.emit("snapshot", **snapshot_json(view))
        self._last_snapshot_seq = self.recorder.seq

    def _changed(self) -> None:
        """Wake whoever waits for a change (threads: views, the halt). Its lock is never
        held while emitting, so the recorder's gate may call it."""
        with self._version_cond:
            self._version += 1
            self._version_cond.notify_all()

    def _wait_change(self, seen: int, timeout_s: float) -> int:
        """Wait until the version of what views show moves past `seen` (or the timeout)."""
        with self._version_cond:
            self._version_cond.wait_for(lambda: self._version != seen, timeout_s)
            return self._version

    def _monitor_loop(self) -> None:
        seen = -1
        while not self._closing.is_set():
            seen = self._wait_change(seen, 0.05)
            with self._lock:
                if self._closed:
                    return
                self._observe()
            if self.writer is not None:
                self.writer.flush()
            # Coalesce bursts: a view takes every node's lock, so not more than 100 a second.
            self._closing.wait(OBSERVE_INTERVAL_S)

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
                or cached[1] != self._version
                or now - cached[0] >= OBSERVE_INTERVAL_S
            ):
                version = self._version
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
            "running": self._sim_running if self.sim else not self._threads_halted(),
            "speed": self._speed,
            "stop_reason": self.stop_reason,
            "check": summary.lamp if (summary := self.check_summary()) else None,
        }

    def _threads_halted(self) -> bool:
        return isinstance(self.runtime, ThreadedRuntime) and self.runtime.halted

    # --- the simulator's pace (console) --------------------------------------------------------

    def _pace_loop(self) -> None:
        """Advance virtual time with the wall clock x speed while running."""
        last = time.monotonic()
        while not self._closing.wait(PACE_INTERVAL_S):
            now = time.monotonic()
            elapsed, last = now - last, now
            with self._lock:  # after `halt` has answered, the clock does not move
                if self._sim_running:
                    self._sim_run(self.runtime.now() + elapsed * 1000.0 * self._speed)

    # --- running the clock -----------------------------------------------------------------

    def advance(self, ms: float) -> None:
        """Let `ms` pass on the cluster's clock (virtual in the simulator)."""
        if self.sim:
            self._sim_run(self.runtime.now() + ms)
        else:
            deadline = time.monotonic() + ms / 1000.0
            while (left := deadline - time.monotonic()) > 0:
                threading.Event().wait(min(left, 0.05))

    def _sim_run(
        self, until_ms: float, stop: Callable[[], bool] | None = None, cheap: bool = False
    ) -> bool:
        """Run the simulator up to `until_ms` or until `stop()` holds. `stop` is checked
        after state changes only, or after every event if it is `cheap`."""
        sim = self.runtime
        assert isinstance(sim, Simulation)
        with self._lock:
            hit = False
            hits = self._hits
            self.recorder.release()  # what a step held comes before what runs now
            if self._hits != hits:
                return False
            while not hit and sim.run_next(until_ms):  # one call per event: most of a run
                if self._dirty:
                    self._dirty = False
                    self._observe()
                    hit = stop is not None and stop()
                elif cheap and stop is not None:
                    hit = stop()
                if self._hits != hits:
                    return hit  # a breakpoint: the clock stays at its event
            if not hit:
                sim.run_until(until_ms)
                self._observe()
                hit = stop is not None and stop()
            return hit

    def wait_until(self, predicate: Callable[[ClusterView], bool], within_ms: float) -> bool:
        """Wait until `predicate(view)` holds; False if it did not within `within_ms`."""
        return self.wait_for(lambda: predicate(self.view()), within_ms)

    def wait_for(self, condition: Callable[[], bool], within_ms: float) -> bool:
        """Wait until `condition()` holds, checking after state changes (at most every
        OBSERVE_INTERVAL_S in the threaded runtime); False if it did not in time."""
        if condition():
            return True
        if self.sim:
            return self._sim_run(self.runtime.now() + within_ms, condition)
        deadline = time.monotonic() + within_ms / 1000.0
        seen = self._version
        hits = self._hits
        while True:
            if condition():
                return True
            left = deadline - time.monotonic()
            if left <= 0 or self._hits != hits:
                return False
            self._closing.wait(min(left, OBSERVE_INTERVAL_S))
            seen = self._wait_change(seen, max(deadline - time.monotonic(), 0.0))

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
                # Only nodes that are down: DESIGN §3.4, a running node is refused, not bounced.
                sids, note = self._acting_on(cmd, self._nodes(nodes), "down")
                return self._start(cmd, sids, note)
            case c.Crash(nodes, for_ms):
                sids, note = self._acting_on(cmd, self._nodes(nodes), "running", "paused")
                for sid in sids:
                    self.runtime.crash(sid)
                if for_ms is not None:
                    self.runtime.call_later(for_ms, self._restart_later, sids)
                return self._ok(cmd, f"crashed {_names(sids)}{note}")
            case c.Pause(nodes, for_ms):
                sids, note = self._acting_on(cmd, self._nodes(nodes), "running")
                for sid in sids:
                    self.runtime.pause(sid)
                if for_ms is not None:
                    self.runtime.call_later(for_ms, self._resume_later, sids)
                return self._ok(cmd, f"paused {_names(sids)}{note}")
            case c.Resume(nodes):
                sids, note = self._acting_on(cmd, self._nodes(nodes), "paused")
                for sid in sids:
                    self.runtime.resume(sid)
                return self._ok(cmd, f"resumed {_names(sids)}{note}")
            case c.Timeout(nodes):
                return self._fire_timeouts(cmd, self._nodes(nodes))
            case c.Write(count):
                return self._write(cmd, count)
            case c.Set():
                return self._set(cmd)
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
            case c.Partition(groups, for_ms):
                parts = resolve_partition(groups, self.view(), self.rng)
                links = {(a, b) for g in parts for h in parts if g != h for a in g for b in h}
                return self._add_fault(
                    replace(cmd, groups=tuple(Nodes(g) for g in parts)),
                    "block",
                    links,
                    for_ms,
                    nodes={s for g in parts for s in g},
                )
            case c.Isolate(nodes, for_ms):
                sids = self._nodes(nodes)
                links = {
                    (a, b)
                    for a in self.sids
                    for b in self.sids
                    if a != b and (a in sids or b in sids)
                }
                return self._add_fault(
                    replace(cmd, nodes=chosen(nodes, sids)),
                    "block",
                    links,
                    for_ms,
                    nodes=set(sids),
                )
            case c.Block(link, for_ms) | c.Hold(link, for_ms):
                ends, links = self._links(link)
                return self._add_fault(replace(cmd, link=ends), cmd.verb, links, for_ms)
            case c.Delay(link, ms, jitter_ms, for_ms):
                ends, links = self._links(link)
                return self._add_fault(
                    replace(cmd, link=ends),
                    "delay",
                    links,
                    for_ms,
                    delay_ms=ms,
                    jitter_ms=jitter_ms,
                )
            case (
                c.Loss(link, pct, for_ms) | c.Dup(link, pct, for_ms) | c.Reorder(link, pct, for_ms)
            ):
                ends, links = self._links(link)
                return self._add_fault(
                    replace(cmd, link=ends), cmd.verb, links, for_ms, probability=pct / 100
                )
            case c.Heal(fault):
                return self._heal(cmd, None if fault is None else f"f{fault}")
            case c.Faults():
                return self._ok(cmd, self.faults_text())
            case c.Reset():
                return self._reset(cmd)
            case c.Release(link, mode):
                limit = None if mode == "all" else 1
                ends, pairs = self._links(link)
                released = sum(self.runtime.release(a, b, limit) for a, b in sorted(pairs))
                return self._ok(cmd, f"released {released} held message(s) on {ends}")
            case c.Drop(target) | c.Deliver(target):
                return self._drop_or_deliver(cmd, target, isinstance(cmd, c.Deliver))
            case c.Wait(ms):
                hits, start = self._hits, self.runtime.now()
                if not self.sim or self._going_on():
                    self.advance(ms)
                if self.sim and self._hits != hits:
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
                    return self._halt_or_go(cmd, self.runtime)
                return self._pace(cmd)
            case c.BreakWhen() | c.BreakOn() | c.Breaks() | c.Unbreak():
                if not isinstance(self.runtime, Host):
                    raise CommandError(f"{cmd.verb}: real servers cannot be halted", 0)
                return self._break_command(cmd)
            case _:
                raise CommandError(
                    f"{cmd.verb}: not available here (live {self.info['runtime']} cluster)", 0
                )

    def _break_command(self, cmd: c.Command) -> CommandResult:
        """break when|on, breaks, unbreak; the first `break when` builds the shadow (its
        predicates are judged on it) and the last one removed drops it (no cost per event
        without one). A `break when` holds the run's events meanwhile: the gate changes the
        shadow with each, on the threads that emit them."""
        holding = self.recorder.holding
        try:
            if isinstance(cmd, c.BreakWhen):
                self.recorder.hold()
                if self._shadow is None:
                    self._shadow = self._build_shadow(cmd.verb)
            shadow = self._shadow if isinstance(cmd, c.BreakWhen) else None
            answer = self.breaks.execute(cmd, shadow.view() if shadow else self._host_view())
            assert answer is not None
            if not self.breaks.predicates:
                self._shadow = None
            self._arm_gate()
        finally:
            if not holding:
                self.recorder.release()  # judged from here on: they may halt the run
        ok, text = answer
        return CommandResult(ok, text, cmd)

    def _halt_or_go(self, cmd: c.Command, host: ThreadedRuntime) -> CommandResult:
        """run / halt / step on threads: the gate every node thread stops at, and the clock
        that stops with them (ThreadedRuntime.halt)."""
        match cmd:
            case c.Run():
                if not self._going_on():
                    return self._ok(cmd, f"stopped: {self.stop_reason}")
                host.go()
                return self._ok(cmd, "running")
            case c.Halt():
                host.halt()
                self.recorder.hold()
                return self._halted(cmd, host)
            case c.Step(count):

                def run() -> None:
                    host.go()
                    if not self.wait_for(lambda: host.halted, STEP_WAIT_S * 1000.0):
                        host.halt()  # the cluster had less to do than asked
                        self.recorder.hold()

                return self._halted(cmd, host, self._step(count, run))
        raise CommandError(f"{cmd.verb}: only the simulator (--sim) has a speed to set", 0)

    def _step(self, count: int, run: Callable[[], None]) -> int:
        """`step n`: record n more of the run's events (those held first: they happened
        first) and halt right after the last; `run` lets the runtime go until the recorder's
        gate halts it. Returns how many were recorded (fewer if a breakpoint hit)."""
        self._step_left = count
        self._arm_gate()
        if self._going_on():
            run()
        ran = count - (self._step_left or 0)
        self._step_left = None
        self._arm_gate()
        return ran

    def _halted(
        self, cmd: c.Command, host: ThreadedRuntime, ran: int | None = None
    ) -> CommandResult:
        """Wait for the operations under way to end (what they record is held); say where
        the cluster halted (and how many events a step ran)."""
        if not host.wait_halted(HALT_WAIT_S):
            raise CommandError(f"{cmd.verb}: threads still busy after {HALT_WAIT_S:g} s", 0)
        at = f"halted at t={host.now():.3f} ms, seq {self.recorder.seq}"
        return self._ok(cmd, at if ran is None else f"ran {ran} event(s); {at}")

    def _pace(self, cmd: c.Command) -> CommandResult:
        """run / halt / step / speed: the simulator's clock (the threaded runtime has none)."""
        sim = self.runtime
        if not isinstance(sim, Simulation):
            raise CommandError(f"{cmd.verb}: only the simulator (--sim) has a clock to stop", 0)
        if self._pacer is None and isinstance(cmd, c.Run | c.Speed):
            # Without a pacer nothing would move: say so rather than claim to run.
            raise CommandError(
                f"{cmd.verb}: this simulation has no wall clock (a script, or `zkfle run`);"
                " move its time with `wait <dur>` or `step`",
                0,
            )
        match cmd:
            case c.Run():
                if not self._going_on():
                    return self._ok(cmd, f"stopped: {self.stop_reason}")
                self._sim_running = True
                return self._ok(cmd, f"running at {self._speed:g}x")
            case c.Halt():
                self._sim_running = False
                return self._ok(cmd, f"halted at t={sim.now():.3f} ms")
            case c.Speed(factor):
                self._speed = factor
                return self._ok(cmd, f"speed {factor:g}x")
            case c.Step(count):
                self._sim_running = False

                def run() -> None:
                    while not self.recorder.holding and sim.run_one():
                        pass

                ran = self._step(count, run)
                self._observe()
                return self._ok(cmd, f"ran {ran} event(s); t={sim.now():.3f} ms")
        raise AssertionError(cmd)

    def _links(self, link: Link) -> tuple[Link, set[tuple[Sid, Sid]]]:
        """`link` written with the sids its node words chose (what a result echoes and
        `faults` lists), and the directed links it names."""
        view = self.view()
        src, dst = (resolve_nodes(end, view, self.rng) for end in (link.src, link.dst))
        named = Link(chosen(link.src, src), chosen(link.dst, dst), link.both)
        return named, set(resolve_link(named, view, self.rng))

    def _life(self, sid: Sid) -> str:
        return self.runtime.life(sid)

    def _acting_on(
        self, cmd: c.Command, sids: tuple[Sid, ...], *lives: str
    ) -> tuple[tuple[Sid, ...], str]:
        """The nodes among `sids` a node command acts on (those in one of `lives`), and a
        note naming the others by what they are; CommandError if that is all of them."""
        acted = tuple(s for s in sids if self._life(s) in lives)
        others: dict[str, list[Sid]] = {}
        for sid in sids:
            if sid not in acted:
                others.setdefault(self._life(sid), []).append(sid)
        note = "; ".join(
            f"{_names(tuple(group))} {'is' if len(group) == 1 else 'are'} {life}"
            for life, group in others.items()
        )
        if not acted:
            hint = _NOTHING_TO_DO.get(cmd.verb, "")
            raise CommandError(f"{cmd.verb}: {note}{hint}", 0)
        return acted, f"; {note}" if note else ""

    def _start(self, cmd: c.Command, sids: tuple[Sid, ...], note: str = "") -> CommandResult:
        refused = self.runtime.boot_many(list(sids))
        started = tuple(s for s in sids if s not in refused)
        lines = [f"{cmd.verb}ed {_names(started)}{note}"] if started else [note[2:]] * bool(note)
        return CommandResult(not refused, "\n".join(lines + _refusals(refused)), cmd)

    def _restart_later(self, sids: tuple[Sid, ...]) -> None:
        for sid in sids:
            try:
                self.runtime.boot(sid)
            except DurableError as e:
                self.runtime.emit("cmd", text=f"restart n{sid}", ok=False, error=str(e))

    def _resume_later(self, sids: tuple[Sid, ...]) -> None:
        for sid in sids:
            self.runtime.resume(sid)

    def _fire_timeouts(self, cmd: c.Command, sids: tuple[Sid, ...]) -> CommandResult:
        fired = [sid for sid in sids if self.runtime.force_timeout(sid)]
        if not fired:
            raise CommandError(f"timeout: none of {_names(sids)} is waiting in lookForLeader", 0)
        return self._ok(cmd, f"fired the notification timeout of {_names(tuple(fired))}")

    def _write(self, cmd: c.Command, count: int) -> CommandResult:
        view = self.view()
        leaders = [
            n
            for n in view.nodes
            if n.alive and not n.paused and n.state == ServerState.LEADING and n.established
        ]
        if not leaders:
            raise CommandError("write: no established leader (the cluster has no quorum now)", 0)
        leader = leaders[0].sid
        outcome: list[Event] = []
        done = threading.Event()

        def listen(event: Event) -> None:
            if event["kind"] == "step" and event.get("node") == leader:
                output = event["output"]
                if "committed" in output or "write_error" in output:
                    outcome.append(event)
                    committed = sum(len(e["output"].get("committed", ())) for e in outcome)
                    if committed >= count or "write_error" in output:
                        done.set()
                if output.get("state") != "LEADING":
                    done.set()

        self.recorder.listeners.append(listen)
        try:
            committed = self.runtime.client_write(leader, count)
            if committed is not None:
                done.set()
            elif self.sim:
                self._sim_run(self.runtime.now() + WRITE_TIMEOUT_MS, done.is_set, cheap=True)
            else:
                done.wait(WRITE_TIMEOUT_MS / 1000.0)
        finally:
            self.recorder.listeners.remove(listen)
        if committed is not None:
            zxids = [zxid_hex(z) for z in committed]
        else:
            zxids = [z for e in outcome for z in e["output"].get("committed", ())]
        errors = [e["output"]["write_error"] for e in outcome if "write_error" in e["output"]]
        if errors:
            raise CommandError(f"write: {errors[0]}", 0)
        if len(zxids) < count:
            raise CommandError(
                f"write: n{leader} committed {len(zxids)} of {count} transactions"
                " (no quorum acked the rest)",
                0,
            )
        span = zxids[0] if count == 1 else f"{zxids[0]}..{zxids[-1]}"
        return self._ok(cmd, f"n{leader} committed {count} transaction(s): {span}")

    def _set(self, cmd: c.Set) -> CommandResult:
        if cmd.sid not in self.sids:
            raise CommandError(f"set: no node {cmd.sid} in this cluster", 0)
        if self.runtime.life(cmd.sid) != "down":
            raise CommandError(
                f"set: n{cmd.sid} is running; crash it first (or set it before start)", 0
            )
        try:
            # As stored, unchecked: a state that refused to start keeps what `set` does not name.
            stored: Durable | None = self.runtime.stored(cmd.sid)
        except DurableError as e:
            if None in (cmd.current_epoch, cmd.accepted_epoch, cmd.zxid):
                raise CommandError(
                    f"set: n{cmd.sid}: {e}; give zxid= and epoch= to replace it", 0
                ) from None
            stored = None
        old = stored or Durable()
        updated = Durable(
            old.current_epoch if cmd.current_epoch is None else cmd.current_epoch,
            old.accepted_epoch if cmd.accepted_epoch is None else cmd.accepted_epoch,
            old.last_zxid if cmd.zxid is None else cmd.zxid,
        )
        self.runtime.save_durable(cmd.sid, updated)
        return self._ok(cmd, f"n{cmd.sid}: {_describe_durable(updated)}")

    def _add_fault(
        self,
        cmd: c.Command,
        kind: str,
        links: set[tuple[Sid, Sid]],
        for_ms: float | None,
        nodes: set[Sid] | None = None,
        **params: float,
    ) -> CommandResult:
        self._fault_counter += 1
        fid = f"f{self._fault_counter}"
        expires = None if for_ms is None else self.runtime.now() + for_ms
        fault = LinkFault(
            fid,
            kind,
            frozenset(links),
            cmd.text,
            expires_ms=expires,
            nodes=frozenset(nodes or ()),
            **params,
        )
        self.runtime.add_fault(fault)
        self.runtime.emit(
            "fault",
            id=fid,
            text=cmd.text,
            op=kind,
            links=sorted([a, b] for a, b in links),
            nodes=list(fault.sids),
        )
        if for_ms is not None:
            self.runtime.call_later(for_ms, self._expire, fid)
        return self._ok(cmd, f"{fid}: {cmd.text}")

    def continue_faults(self, counter: int, faults: list[LinkFault]) -> None:
        """Continue a run's faults (a fork): the next id after `counter`, these active."""
        self._fault_counter = max(self._fault_counter, counter)
        for fault in faults:
            self.runtime.add_fault(fault)
            if fault.expires_ms is not None:
                self.runtime.call_at(fault.expires_ms, self._expire, fault.fault_id)

    def _expire(self, fid: str) -> None:
        fault = self.runtime.remove_fault(fid)
        if fault is not None:
            self._healed([fault.fault_id], [fault])

    def _healed(self, ids: list[str], faults: list[LinkFault]) -> None:
        self.runtime.emit("heal", ids=ids)
        for fault in faults:
            if fault.kind == "hold":
                for a, b in sorted(fault.links):
                    self.runtime.release(a, b)
        self.runtime.resume_streams()
        # Queued notifications wait for the next connectOne; nodes retry on their own.

    def _heal(self, cmd: c.Command, fid: str | None) -> CommandResult:
        if fid is None:
            removed = self.runtime.clear_faults()
        else:
            one = self.runtime.remove_fault(fid)
            if one is None:
                raise CommandError(f"heal: no active fault {fid} (see `faults`)", 0)
            removed = [one]
        ids = [f.fault_id for f in removed]
        if ids:
            self._healed(ids, removed)
        return self._ok(cmd, f"healed {', '.join(ids)}" if ids else "no active network fault")

    def _reset(self, cmd: c.Command) -> CommandResult:
        healed = self._heal(cmd, None).text
        done = [healed] if healed.startswith("healed") else []
        paused = tuple(s for s in self.sids if self._life(s) == "paused")
        for sid in paused:
            self.runtime.resume(sid)
        if paused:
            done.append(f"resumed {_names(paused)}")
        down = tuple(s for s in self.sids if self._life(s) == "down")
        refused = self.runtime.boot_many(list(down))
        restarted = tuple(s for s in down if s not in refused)
        if restarted:
            done.append(f"restarted {_names(restarted)}")
        lines = ["; ".join(done)] if done else []
        if not done and not refused:
            lines = ["nothing to reset: no fault, and no node paused or down"]
        return CommandResult(not refused, "\n".join(lines + _refusals(refused)), cmd)

    def _drop_or_deliver(
        self, cmd: c.Command, target: Link | MessageId, deliver: bool
    ) -> CommandResult:
        verb = "delivered" if deliver else "dropped"
        if isinstance(target, MessageId):
            msg_id = str(target)
            done = (self.runtime.deliver_message if deliver else self.runtime.drop_message)(msg_id)
            if not done:
                raise CommandError(
                    f"{cmd.verb}: {msg_id} is not on the wire (already delivered, dropped, or"
                    " still in a send queue)",
                    0,
                )
            return self._ok(cmd, f"{verb} {msg_id}")
        n = 0
        ends, pairs = self._links(target)
        for a, b in sorted(pairs):
            n += self.runtime.release(a, b, 1) if deliver else self.runtime.discard_held(a, b, 1)
        if n == 0:
            raise CommandError(f"{cmd.verb}: no held message on {ends} (use `hold` first)", 0)
        return self._ok(cmd, f"{verb} {n} message(s) on {ends}")

    def _wait_for(self, cmd: c.Command, predicate: Predicate, within_ms: float) -> CommandResult:
        predicate.check(self.view())
        hits = self._hits
        waits = within_ms > 0 and (not self.sim or self._going_on())
        ok = (
            self.wait_until(predicate.evaluate, within_ms)
            if waits
            else predicate.evaluate(self.view())
        )
        if ok:
            return self._ok(cmd, f"{predicate.describe()}: holds")
        if self._hits != hits:
            return CommandResult(False, f"{predicate.describe()}: stopped: {self.stop_reason}", cmd)
        what = "did not hold" if within_ms == 0 else f"did not hold within {show_ms(within_ms)}"
        if self._threads_halted():
            what += " (the cluster is halted: `continue` lets it run)"
        return CommandResult(False, f"{predicate.describe()}: {what}\n{self.status_text()}", cmd)

    # --- texts ----------------------------------------------------------------------------------

    def status_text(self) -> str:
        view = self.view()
        lines = [
            f"t={view.t_ms / 1000:.3f}s seq={view.seq} {leadership_text(view)}",
            messages_text(view.messages),
        ]
        for n in view.nodes:
            if not n.alive:
                lines.append(
                    f"n{n.sid:<3} down       epoch={n.current_epoch} zxid={zxid_hex(n.last_zxid)}"
                )
                continue
            vote = n.current_vote
            state = n.state.name if n.state is not None else "-"
            flag = " paused" if n.paused else ""
            lines.append(
                f"n{n.sid:<3} {state:<10} round={n.shown('logicalclock', str(n.logicalclock))}"
                f" vote={vote.leader if vote else '-'}"
                f" zab={n.shown('zab_phase', n.zab_phase.lower())}"
                f" epoch={n.shown('current_epoch', str(n.current_epoch))}"
                f" zxid={n.shown('last_zxid', zxid_hex(n.last_zxid))}{flag}"
            )
        if view.faults:
            lines.append("faults: " + "; ".join(f"{f.fault_id} {f.text}" for f in view.faults))
        summary = self.check_summary()
        if summary is not None:
            lines.append(f"check: {summary.lamp}")
        return "\n".join(lines + self.runtime.notes())

    def check_summary(self) -> CheckSummary | None:
        """The live model check so far (None: this run has none)."""
        return self.model_check.summary() if self.model_check is not None else None

    def faults_text(self) -> str:
        view = self.view()
        lines = [f"{f.fault_id}  {f.text}" for f in view.faults]
        lines += [f"n{n.sid}  paused" for n in view.nodes if n.paused]
        lines += [f"n{n.sid}  down" for n in view.nodes if not n.alive]
        return "\n".join(lines) or "no active faults"

    def result_json(
        self, elapsed_ms: float, failures: Iterable[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """The `zkfle run --json` object (DESIGN §4); `failures` are the failed checks of
        the script (file, line, predicate, seq)."""
        view = self.view()
        nodes = []
        for n in view.nodes:
            d: dict[str, Any] = {
                "sid": n.sid,
                "type": n.learner_type,
                "alive": n.alive,
                "state": n.state.name if n.state is not None and n.alive else None,
                "leader": n.current_vote.leader
                if n.current_vote and n.state not in (None, ServerState.LOOKING)
                else None,
                "logicalclock": n.logicalclock,
                "vote": vote_json(n.current_vote) if n.current_vote else None,
                "current_epoch": n.current_epoch,
                "accepted_epoch": n.accepted_epoch,
                "last_zxid": zxid_hex(n.last_zxid),
            }
            if d["vote"] is not None:
                d["vote"] = {
                    k: d["vote"][k] for k in ("leader", "zxid", "election_epoch", "peer_epoch")
                }
            if n.paused:
                d["paused"] = True
            nodes.append(d)
        m, q = view.messages, view.quorum
        return {
            "stable": view.stable,
            "leader": view.leader,
            "elapsed_ms": round(elapsed_ms, 1),
            "nodes": nodes,
            "serving_leader": view.serving_leader,
            "quorum": {"up": q.up, "needed": q.needed} if q is not None else None,
            "messages": {
                "sent": m.sent,
                "delivered": m.delivered,
                "dropped": m.dropped,
                "in_flight": m.in_flight,
            },
            "trace": str(self.trace_path) if self.trace_path else None,
            "failures": list(failures),
            "violations": [str(v) for v in self.violations],
        } | ({"check": summary.json()} if (summary := self.check_summary()) else {})

    # --- closing --------------------------------------------------------------------------------

    def close(self, end: str | None = None) -> None:
        """Stop every thread, finish the trace (footer) and remove temporary data."""
        if self._closed:
            return
        self._closing.set()
        if self._pacer is not None:
            self._pacer.join(5.0)
        with self._lock:
            self.recorder.gate = None
            self._shadow = None
            self.recorder.release()  # a halted run's held events belong to its trace
            self._observe()
            self._closed = True
        self.runtime.stop()
        if self.model_check is not None:
            self.model_check.finish()
        if self._monitor is not None:
            with self._version_cond:
                self._version += 1
                self._version_cond.notify_all()
            self._monitor.join(5.0)
        self.violations.extend(self.checker.finish())
        if self.writer is not None:
            final = end or ("violation" if self.violations else "ok")
            self.writer.close(self.writer.footer_event(round(self.runtime.now(), 3), final))
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close("aborted" if exc[0] is not None else None)


SHADOWED = frozenset({"recvset", "outofelection", "proposal", "logicalclock"})
"""What the shadow engine can give of a real server's election (NodeView.derived)."""


def shadowed(n: NodeView, check: ModelCheck) -> NodeView:
    """A real server's view with what its model derives in place of what it does not show
    (marked in `derived`); unchanged while the model does not track the server."""
    missing = n.unknown & SHADOWED
    if not n.alive or not missing:
        return n
    d = check.derived(n.sid)
    if d is None:
        return n
    values: dict[str, Any] = {
        "recvset": d.recvset,
        "outofelection": d.outofelection,
        "proposal": d.proposal,
        "logicalclock": d.logicalclock,
    }
    filled = {name: values[name] for name in missing}
    return replace(n, unknown=n.unknown - missing, derived=missing, **filled)


@functools.lru_cache(maxsize=32)
def _generated_config(
    nodes: int, observers: int, overrides: tuple[tuple[str, Any], ...]
) -> QuorumPeerConfig:
    """generate_config, once per shape (it writes a zoo.cfg text and parses it back)."""
    return generate_config(nodes, observers, **dict(overrides))


_NOTHING_TO_DO = {
    "restart": " (restart brings back crashed nodes; crash a node first to restart it)",
    "start": " (start brings up nodes that are down)",
    "resume": " (resume lets paused nodes run again)",
}
"""What a node command that found nothing to act on adds to its one line."""


def _refusals(refused: Mapping[Sid, Exception]) -> list[str]:
    return [f"n{sid} refuses to start: {e}" for sid, e in sorted(refused.items())]


def _names(sids: tuple[Sid, ...]) -> str:
    return ", ".join(f"n{s}" for s in sids)


def _describe_durable(d: Durable) -> str:
    return (
        f"currentEpoch={d.current_epoch} acceptedEpoch={d.accepted_epoch}"
        f" lastZxid={zxid_hex(d.last_zxid)}"
    )


def _weight(cfg: QuorumPeerConfig, sid: Sid) -> int:
    try:
        return cfg.quorum_verifier.weight(sid)
    except KeyError:
        return 0
