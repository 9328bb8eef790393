"""Halting a live run at its events and letting it go on: the recorder's gate that `break
on|when` and `step` stop at, the shadow `break when` is judged on, and the run, halt, step
and speed commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.control import commands as c
from engine.control.breakpoints import Breakpoints, Hit
from engine.control.clock import Clock
from engine.control.predicates import CommandError
from engine.control.shadow import MakeShadow, Shadow
from engine.core.view import ClusterView
from engine.runtime.sim import Simulation
from engine.runtime.threads import ThreadedRuntime
from engine.trace.format import RotatingTraceWriter, TraceWriter, read_trace
from engine.trace.recorder import RECENT_EVENTS, Event, Recorder

BOOKKEEPING_KINDS = frozenset(("cmd", "mark", "break", "snapshot", "invariant"))
"""What the facade records about the run, not the run's own events (a `step` skips them)."""
HALT_WAIT_S = 5.0
"""How long `halt` waits for the threads' operations under way to end."""
STEP_WAIT_S = 5.0
"""How long `step` on threads waits for its events (a lone LOOKING node may be silent
for up to a minute)."""


class Gate:
    """The breakpoints of a run that `recorder` records and `clock` moves. `make_shadow`
    rebuilds the run for `break when` from its trace (`writer`'s, or the recorder's recent
    events under `header`); `observe` takes note of what the events let through changed;
    `view` is the live view `break on` and `breaks` are answered with."""

    def __init__(
        self,
        recorder: Recorder,
        clock: Clock,
        make_shadow: MakeShadow | None,
        writer: TraceWriter | RotatingTraceWriter | None,
        header: Event,
        observe: Callable[[], None],
        view: Callable[[], ClusterView],
    ) -> None:
        self.recorder = recorder
        self.clock = clock
        self._make_shadow = make_shadow
        self._writer = writer
        self._header = header
        self._observe = observe
        self._view = view
        self.breaks = Breakpoints()
        self.stop_reason: str | None = None
        """Why the run stopped by itself (a breakpoint), until it is let go on."""
        self.hits = 0
        self._step_left: int | None = None
        """How many more of the run's events a `step` records before it halts."""
        self.shadow: Shadow | None = None
        """While a `break when` is set: the cluster as its recorded events show it (fed by
        the recorder's gate), which the predicates are judged on (engine.control.shadow)."""

    def _at_event(self, event: Event) -> dict[str, Any] | None:
        """The recorder's gate (under its lock, on whichever thread emits): halt right after
        an event a `break on` matches, an event after which a `break when` predicate holds
        on the shadow (and did not before it), or the last event of a `step`, so that it is
        the last event recorded until the run goes on (Recorder.gate)."""
        shadow = self.shadow
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
            self.clock.halt()
            return {}
        return None

    def _unjudged(self, event: Event, error: Exception) -> dict[str, Any] | None:
        """The shadow failed on `event` (a bug): halt there, drop the `break when`s that
        can no longer be judged and say so."""
        self.shadow = None
        dropped = [b for b, _ in self.breaks.predicates]
        if not dropped:
            return None  # the last one was removed meanwhile
        for b in dropped:
            self.breaks.remove(b.id)
        hit = Hit(dropped[0], int(event["seq"]), f"cannot judge it any more, removed: {error}")
        self._hit(hit)
        return hit.event_fields()

    def _arm(self) -> None:
        """Ask the recorder about every event only while a breakpoint or a `step` needs it."""
        wanted = self.breaks.filters or self._step_left is not None or self.shadow is not None
        self.recorder.gate = self._at_event if wanted else None

    def _build_shadow(self, verb: str) -> Shadow:
        """The shadow at the last recorded event, rebuilt from the run's trace (or, without
        one, from the recorder's recent events while they go back to the start). The caller
        holds the recorder, so that no event goes unjudged meanwhile."""
        make = self._make_shadow
        if make is None:
            raise CommandError(
                f"{verb}: this cluster cannot judge predicates at events (it was built"
                " without ClusterOptions.shadow)",
                0,
            )
        self.recorder.drain(wait=True)
        if self._writer is not None:
            self._writer.flush()
            name = str(self._writer.path)
            trace = read_trace(name)
            header, events = trace.header, trace.events()
        else:
            name, header = "<live run>", self._header
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
        self.hits += 1
        self.clock.halt()

    def going_on(self) -> bool:
        """The run goes on (run, step, wait): predicates stop it when they become true
        from here, what stopped it before is over, and what was held is recorded. False if
        a held event hit a breakpoint again (the run stays halted there)."""
        self.stop_reason = None
        if self.shadow is not None:
            self.recorder.hold()  # a run already going changes the shadow on its threads
            self.breaks.arm(self.shadow.view())
        self.recorder.release()
        if not self.recorder.holding:
            self._observe()
        return not self.recorder.holding

    def close(self) -> None:
        """The run ends: nothing halts it any more, and what was held is recorded."""
        self.recorder.gate = None
        self.shadow = None
        self.recorder.release()  # a halted run's held events belong to its trace

    def break_command(self, cmd: c.Command) -> tuple[bool, str]:
        """break when|on, breaks, unbreak; the first `break when` builds the shadow (its
        predicates are judged on it) and the last one removed drops it (no cost per event
        without one). A `break when` holds the run's events meanwhile: the gate changes the
        shadow with each, on the threads that emit them."""
        holding = self.recorder.holding
        try:
            if isinstance(cmd, c.BreakWhen):
                self.recorder.hold()
                if self.shadow is None:
                    self.shadow = self._build_shadow(cmd.verb)
            shadow = self.shadow if isinstance(cmd, c.BreakWhen) else None
            answer = self.breaks.execute(cmd, shadow.view() if shadow else self._view())
            assert answer is not None
            if not self.breaks.predicates:
                self.shadow = None
            self._arm()
        finally:
            if not holding:
                self.recorder.release()  # judged from here on: they may halt the run
        return answer

    def halt_or_go(self, cmd: c.Command, host: ThreadedRuntime) -> str:
        """run / halt / step on threads: the gate every node thread stops at, and the clock
        that stops with them (ThreadedRuntime.halt)."""
        match cmd:
            case c.Run():
                if not self.going_on():
                    return f"stopped: {self.stop_reason}"
                host.go()
                return "running"
            case c.Halt():
                host.halt()
                self.recorder.hold()
                return self._halted(cmd, host)
            case c.Step(count):

                def run() -> None:
                    host.go()
                    if not self.clock.wait_for(lambda: host.halted, STEP_WAIT_S * 1000.0):
                        host.halt()  # the cluster had less to do than asked
                        self.recorder.hold()

                return self._halted(cmd, host, self._step(count, run))
        raise CommandError(f"{cmd.verb}: only the simulator (--sim) has a speed to set", 0)

    def _step(self, count: int, run: Callable[[], None]) -> int:
        """`step n`: record n more of the run's events (those held first: they happened
        first) and halt right after the last; `run` lets the runtime go until the recorder's
        gate halts it. Returns how many were recorded (fewer if a breakpoint hit)."""
        self._step_left = count
        self._arm()
        if self.going_on():
            run()
        ran = count - (self._step_left or 0)
        self._step_left = None
        self._arm()
        return ran

    def _halted(self, cmd: c.Command, host: ThreadedRuntime, ran: int | None = None) -> str:
        """Wait for the operations under way to end (what they record is held); say where
        the cluster halted (and how many events a step ran)."""
        if not host.wait_halted(HALT_WAIT_S):
            raise CommandError(f"{cmd.verb}: threads still busy after {HALT_WAIT_S:g} s", 0)
        at = f"halted at t={host.now():.3f} ms, seq {self.recorder.seq}"
        return at if ran is None else f"ran {ran} event(s); {at}"

    def pace(self, cmd: c.Command) -> str:
        """run / halt / step / speed: the simulator's clock (the threaded runtime has none)."""
        clock = self.clock
        sim = clock.runtime
        if not isinstance(sim, Simulation):
            raise CommandError(f"{cmd.verb}: only the simulator (--sim) has a clock to stop", 0)
        if clock.pacer is None and isinstance(cmd, c.Run | c.Speed):
            # Without a pacer nothing would move: say so rather than claim to run.
            raise CommandError(
                f"{cmd.verb}: this simulation has no wall clock (a script, or `zkfle run`);"
                " move its time with `wait <dur>` or `step`",
                0,
            )
        match cmd:
            case c.Run():
                if not self.going_on():
                    return f"stopped: {self.stop_reason}"
                clock.sim_running = True
                return f"running at {clock.speed:g}x"
            case c.Halt():
                clock.sim_running = False
                return f"halted at t={sim.now():.3f} ms"
            case c.Speed(factor):
                clock.speed = factor
                return f"speed {factor:g}x"
            case c.Step(count):
                clock.sim_running = False

                def run() -> None:
                    while not self.recorder.holding and sim.run_one():
                        pass

                ran = self._step(count, run)
                self._observe()
                return f"ran {ran} event(s); t={sim.now():.3f} ms"
        raise AssertionError(cmd)
