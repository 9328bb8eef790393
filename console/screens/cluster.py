"""Provides the cluster screen: every panel of one backend, live or replayed.

The screen polls its backend on a timer (`FPS` times a second): one `view()`, the new
events, the info. It never
renders per event: bursts are coalesced into one frame, only changed cells are redrawn,
and the log keeps the last `LOG_CAP` lines. Commands run on a worker thread, one at a
time in the order typed, so the UI never waits for the engine. Its keys are
console.screens.keys'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer
from textual.worker import Worker

from console.backend import (
    Backend,
    BackendInfo,
    CommandResult,
    Event,
    ReplayBackend,
    describe_exception,
    is_replay,
    read_info,
    safe_execute,
)
from console.format import VERBOSE_KINDS, EventFormatter, HealthTracker, LogLine, faulted_nodes
from console.history import CommandHistory
from console.ladder import FilterError, describe, parse_filter
from console.screens.help import HelpScreen
from console.screens.keys import KeyedScreen
from console.widgets.commandbar import CommandBar, CommandInput
from console.widgets.detail import NodeDetail
from console.widgets.ensemble import EnsembleTable
from console.widgets.ladder import SequenceDiagram
from console.widgets.log import LOG_CAP, MessageLog
from console.widgets.plots import PlotsView
from console.widgets.status import Header, Lamps, PositionBar
from console.widgets.timeline import ElectionsTimeline
from engine.control.commands import Fork, Help, Quit, Replay, parse
from engine.control.predicates import CommandError
from engine.core.view import ClusterView
from engine.core.vote import Sid
from engine.trace.elections import Timeline

FPS = 40
"""Frames per second at most: how often the screen polls its backend. Frames more often
are smaller: under a storm a frame's work grows with the events since the last one, and
a long frame keeps the node threads from the interpreter's lock longer (measured: a cap
on the console's CPU that left frames out made elections slower, not faster)."""

REFILL_EVENTS = 20_000
"""After a seek, the log reads back at most this many events for what led there."""
SNAPSHOT_LOOKBACK = 2_000
"""How far before a refilled window the diagram looks for a snapshot (a live cluster
records one after every command and at least every 1000 events)."""


class ClusterScreen(KeyedScreen):
    """The live (or replay) console of one backend."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]  # noqa: RUF012

    def __init__(self, backend: Backend, history: CommandHistory, *, forked: bool = False) -> None:
        super().__init__()
        self.backend = backend
        self.replay = is_replay(backend)
        self.forked = forked
        """A fork of the replay on the screen under this one (`q` goes back to it)."""
        self.history = history
        self.cluster_view: ClusterView | None = None
        self.info = BackendInfo(mode="replay" if self.replay else "live", runtime="?")
        self.last_seq = 0
        self.formatter = EventFormatter()
        self.health = HealthTracker()
        self._busy: list[str] = []
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zkfle-command")
        self._backend_error: str | None = None
        self._display_error: str | None = None
        self._replay_clock = 0
        self.position = 0
        self._faults: dict[Sid, list[str]] = {}
        self._stop_said: tuple[str, int] | None = None
        self.header = Header(id="header")
        self.ensemble = EnsembleTable(id="ensemble")
        self.detail = NodeDetail(id="detail")
        self.log_view = MessageLog(id="log")
        self.diagram = SequenceDiagram(id="diagram")
        self.plots = PlotsView(id="plots")
        self.views = ContentSwitcher(id="views", initial="log")
        self.timeline = ElectionsTimeline(id="timeline")
        self.position_bar = PositionBar(id="position")
        self.bar = CommandBar(lambda: self.cluster_view, history, id="commandbar")
        self.poll_timer: Timer | None = None
        """Polls FPS times a second once mounted."""

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.ensemble
        with Horizontal(id="middle"):
            yield self.detail
            with self.views:
                yield self.log_view
                yield self.diagram
                yield self.plots
        yield self.timeline
        if self.replay:
            yield self.position_bar
        yield self.bar
        yield Footer()

    def on_mount(self) -> None:
        self.detail.border_title = "node"
        self.log_view.border_title = "messages"
        self.diagram.border_title = "sequence"
        self.plots.border_title = "plots"
        self.timeline.border_title = "elections"
        if self.replay:
            self.detail.replay_clock = 0
        self.ensemble.focus()
        self.poll()
        self.poll_timer = self.set_interval(1 / FPS, self.poll, name="poll")

    def on_unmount(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # --- polling the backend ------------------------------------------------------------------

    def poll(self) -> None:
        """One frame: read the backend, feed the new events, redraw what changed."""
        backend = self.backend
        try:
            view = backend.view()
            info = read_info(backend)
            rewound = False
            if isinstance(backend, ReplayBackend) and self.replay:
                position = backend.position
                if position < self.last_seq:
                    self._rewind(position)
                    self.plots.truncate_after(view.t_ms)
                    rewound = True
                if position != self.position or rewound:
                    self.position = position
                    self._replay_clock += 1
                    self.detail.replay_clock = self._replay_clock
            events = backend.events_after(self.last_seq)
            timeline = backend.timeline()
        except Exception as exc:  # the console outlives any backend failure
            message = describe_exception(exc)
            if message != self._backend_error:
                self._backend_error = message
                self.bar.say(f"backend: {message}", error=True)
            return
        self._backend_error = None
        try:
            self._show(backend, view, info, events, timeline)
        except Exception as exc:  # a display bug must not take the console down either
            message = f"display: {describe_exception(exc)}"
            if message != self._display_error:
                self._display_error = message
                self.bar.say(message, error=True)

    def _show(
        self,
        backend: Backend,
        view: ClusterView,
        info: BackendInfo,
        events: list[Event],
        timeline: Timeline,
    ) -> None:
        self.info = info
        self.bar.set_trace(info.trace_path, self.replay)
        if not self._busy:  # every command has answered: the backend's word is the truth
            self.asked_running = self.asked_speed = None
        if events:
            self._take(events)
        self.health.observe(view)
        self.plots.sample(view)
        self.timeline.set_timeline(timeline, view.t_ms)
        if view != self.cluster_view:
            self.cluster_view = view
            self._faults = faulted_nodes(view)
            self.ensemble.show(view, self._faults)
            self.diagram.set_lanes(list(view.sids))
            self._show_detail()
        elif self.replay or self.detail.behind:
            self._show_detail()
        safe, why = self.health.safety(view)
        live, live_why = self.health.liveness(view)
        extra = f"⋯ {self._busy[0]}" if self._busy else ""
        self.header.set_state(info, view, Lamps(safe, why, live, live_why), extra)
        if self.replay and isinstance(backend, ReplayBackend):
            self._show_position(backend, info)
        else:
            self._say_stop(info.stop_reason, 0, info.running)  # the reason names its seq

    def _show_position(self, backend: ReplayBackend, info: BackendInfo) -> None:
        try:
            position, reason = backend.position, backend.stop_reason
            self.position_bar.set_state(
                position,
                backend.total,
                info.running,
                info.speed,
                backend.marks,
                backend.breakpoints,
                reason,
            )
        except Exception as exc:
            self.bar.say(f"backend: {describe_exception(exc)}", error=True)
            return
        self._say_stop(reason, position, info.running)

    def _say_stop(self, reason: str | None, position: int, running: bool) -> None:
        """A run that stops by itself (a breakpoint, the end of a replay, a divergence) says
        so where the `run` that started it answered; once every command has answered, so
        that the answer does not cover it."""
        if running:
            self._stop_said = None
        elif reason and not self._busy and (reason, position) != self._stop_said:
            self._stop_said = (reason, position)
            self.bar.say(Text.assemble(("‖ stopped: ", "bold yellow"), reason))

    def _rewind(self, position: int) -> None:
        self.last_seq = position
        self.log_view.truncate_after(position)
        self.diagram.truncate_after(position)
        self.health.truncate(position)
        self.formatter.reset()
        if not self.log_view.lines:
            self._refill(position)

    def _take(self, events: list[Event]) -> None:
        first, last = events[0].get("seq", 0), events[-1].get("seq")
        if isinstance(first, int) and first > self.last_seq + 1:
            seeked = isinstance(self.backend, ReplayBackend) and not self.info.running
            if seeked and isinstance(last, int):
                self._refill(last)  # show what led there
                return
            if self.last_seq > 0:
                skipped = first - self.last_seq - 1
                note = self._note(f"… {skipped} events not shown (too fast)", "dim")
                self.log_view.add([note])
        for event in events:
            self.health.feed(event)
        if isinstance(last, int):
            self.last_seq = max(self.last_seq, last)
        lines: list[LogLine] = []
        for event in events:
            lines += self.formatter.lines(event)
        self.log_view.add(lines)
        self.diagram.feed(events)
        self.plots.feed(events)

    def _refill(self, position: int) -> None:
        """A replay moved to `position`: the log shows the events before it (the last
        LOG_CAP shown lines, read back through at most REFILL_EVENTS events)."""
        backend = self.backend
        if not isinstance(backend, ReplayBackend):
            return
        events: list[Event] = []
        lo, shown = position + 1, 0
        while lo > 1 and shown < LOG_CAP and position - lo + 1 < REFILL_EVENTS:
            start = max(1, lo - 2000, position - REFILL_EVENTS + 1)
            chunk = backend.events(start, lo - 1)
            shown += sum(1 for e in chunk if e.get("kind") not in VERBOSE_KINDS)
            events[:0] = chunk
            lo = start
        self.log_view.clear()
        # who was paused at the window's start: the last snapshot before it says
        before = backend.events(max(1, lo - SNAPSHOT_LOOKBACK), lo - 1) if lo > 1 else []
        last = max((i for i, e in enumerate(before) if e.get("kind") == "snapshot"), default=0)
        down = {n.sid for n in backend.view().nodes if not n.alive}
        self.diagram.refill(events, down, before[last:])
        self.plots.clear()
        self.plots.feed(events)
        self.formatter.reset()
        for event in events:
            if event.get("seq", 0) > self.last_seq:
                self.health.feed(event)
        self.last_seq = position
        lines = [self._note(f"… events 1-{lo - 1} not shown: seek there to see them", "dim")]
        lines = lines if lo > 1 else []
        for event in events:
            lines += self.formatter.lines(event)
        self.log_view.add(lines)

    def _note(self, text: str | Text, style: str = "") -> LogLine:
        body = text if isinstance(text, Text) else Text(text, style)
        t_ms = self.cluster_view.t_ms if self.cluster_view else 0.0
        return LogLine(self.last_seq, t_ms, "note", body)

    # --- the selected node ------------------------------------------------------------------

    def _show_detail(self) -> None:
        node = self.selected_node
        title = f"node n{node.sid}" if node else "node"
        if self.detail.border_title != title:  # setting it repaints the whole pane
            self.detail.border_title = title
        self.detail.show(node)

    @on(EnsembleTable.Selected)
    def _node_selected(self) -> None:
        self.detail.select()
        self._show_detail()

    @on(MessageLog.Selected)
    def _message_selected(self, event: MessageLog.Selected) -> None:
        line = event.line
        if line is None or self.replay:
            return
        hints = []
        if line.msg:
            hints.append(f"d deliver {line.msg}  x drop {line.msg}")
        if line.link:
            hints.append(f"h hold {line.link[0]}->{line.link[1]}")
        if hints:
            self.bar.say(Text("  ".join(hints), "dim"))

    @on(SequenceDiagram.Selected)
    def _row_selected(self, event: SequenceDiagram.Selected) -> None:
        row = event.row
        if row is None:
            self.bar.say("")
        elif row.arrow is not None:
            self.bar.say(Text("\n".join(describe(row.arrow))))
        else:
            where = f"n{row.node} " if row.node is not None else ""
            self.bar.say(Text(f"seq {row.seq} at {row.t_ms / 1000:.3f}s: {where}{row.text}"))

    # --- the command line ---------------------------------------------------------------------

    @on(Header.CheckPressed)
    def _check_pressed(self) -> None:
        self.run_command("check")

    @on(CommandBar.Submitted)
    def _submitted(self, event: CommandBar.Submitted) -> None:
        # Enter empties the command line and lets go of it, after an error too: the line is
        # in the history (`:` then ↑ brings it back to be fixed). A line opened since, by
        # `:` typed in the same burst, stays open for what follows it.
        if not self.bar.is_open:
            self._leave_bar(clear_filter=False)
        if event.mode == "command":
            self.run_command(event.text)

    @on(CommandBar.FilterChanged)
    def _filter_changed(self, event: CommandBar.FilterChanged) -> None:
        if self.views.current == "diagram":
            self._filter_diagram(event.pattern)
            return
        self.log_view.pattern = event.pattern.strip()
        self.title_log()

    def _filter_diagram(self, text: str) -> None:
        try:
            self.diagram.set_filter(parse_filter(text))
        except FilterError as e:
            self.bar.say(str(e), error=True)
            return
        self.bar.say("")
        shown = self.diagram.filter.text
        self.diagram.border_title = "sequence" + (f" /{shown}" if shown else "")

    @on(CommandInput.Left)
    def _left(self) -> None:
        self._leave_bar(clear_filter=self.bar.mode == "filter")

    def _leave_bar(self, clear_filter: bool) -> None:
        if clear_filter and self.views.current == "diagram":
            self._filter_diagram("")
        elif clear_filter:
            self.log_view.pattern = ""
            self.title_log()
        self.bar.close()
        self.set_focus(self.ensemble)  # at once: the next key is a binding again

    def title_log(self) -> None:
        title = "messages"
        if self.log_view.pattern:
            title += f" /{self.log_view.pattern}"
        if self.log_view.show_verbose:
            title += " (all events)"
        self.log_view.border_title = title

    def run_command(self, text: str) -> None:
        """Run one command line: validated here, then handled here (`help`, `quit`,
        `replay`) or executed by the backend on the command thread. A line that does not
        parse is an error shown under the command line; nothing is called."""
        text = text.strip()
        if not text:
            return
        try:
            command = parse(text)
        except CommandError as e:
            self.bar.say(Text.assemble(("✗ ", "bold"), str(e)), error=True)
            return
        if isinstance(command, Help):
            self.app.push_screen(HelpScreen(command.topic, self.key_help()))
        elif isinstance(command, Quit) and self.forked:
            self.action_leave_fork()
        elif isinstance(command, Quit):
            self.app.exit()
        elif isinstance(command, Replay):
            self.zkfle.open_replay(command.file)
        elif isinstance(command, Fork):
            if isinstance(self.backend, ReplayBackend):
                self.action_fork()
            else:
                self.bar.say(Text("✗ fork: only a replay can be forked", "bold"), error=True)
        else:
            self._busy.append(text)
            self.bar.say(Text(f"⋯ {text}", "dim"))
            # a callable, not a coroutine: one that never starts (at exit) leaves no warning
            work: Callable[[], Coroutine[None, None, None]] = partial(self._execute, text)
            _: Worker[None] = self.run_worker(work, group="commands")

    async def _execute(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, safe_execute, self.backend, text)
        except RuntimeError:  # the executor is shut down: the screen is going away
            return
        self._busy.remove(text)
        self.show_result(text, result)
        self.poll()

    def show_result(self, text: str, result: CommandResult) -> None:
        lines = result.text.splitlines() or [""]
        head = Text.assemble(("› ", "bold"), (text, "bold"))
        if result.ok:
            head.append(f"  {lines[0]}", "dim")
            self.bar.say(Text.assemble(("✓ ", "bold green"), result.text or text))
        else:
            head.append(f"  {lines[0]}", "red")
            head.stylize("red", 0, 2)
            self.bar.say(Text.assemble(("✗ ", "bold"), result.text), error=True)
        if not self.replay or len(lines) == 1:
            # A live backend records every command as a `cmd` event, which the log shows
            # in its place; moving through a replay is not part of the recorded story.
            return
        notes = [self._note(head)]
        notes += [
            self._note(Text("  " + line, "cyan" if result.ok else "red")) for line in lines[1:]
        ]
        self.log_view.add(notes)
