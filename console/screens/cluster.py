"""Provides the cluster screen: every panel of one backend, live or replayed.

The screen polls its backend on a timer (`FPS` times a second): one `view()`, the new
events, the info. It never
renders per event: bursts are coalesced into one frame, only changed cells are redrawn,
and the log keeps the last `LOG_CAP` lines. Commands run on a worker thread, one at a
time in the order typed, so the UI never waits for the engine.
Every key runs a command of the language (shown in the log like a typed one), except for
the ones that only move around the screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ClassVar, Protocol, runtime_checkable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
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
from console.screens.explain import ExplainScreen, explainer
from console.screens.help import HelpScreen
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
from engine.core.view import ClusterView, NodeView
from engine.core.vote import Sid
from engine.trace.elections import Timeline


@runtime_checkable
class Navigator(Protocol):
    """What a cluster screen asks of the app that shows it (console.app.ZkfleApp): a trace
    opened for replay, a forked cluster shown over this one, this screen closed. The app
    knows the screen; the screen knows only this."""

    def open_replay(self, path: str) -> None: ...

    def adopt(self, backend: Backend, *, forked: bool = False) -> None: ...

    def leave(self, screen: ClusterScreen) -> None: ...


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

SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 100.0)
"""The `+`/`-` ladder of speeds."""

NODE_KEYS = frozenset(
    {"crash", "restart", "pause", "isolate", "heal", "write", "timeout", "mark"}
    | {"deliver", "drop", "hold"}
)
"""Actions that change the cluster (refused in a replay)."""
REPLAY_KEYS = frozenset({"back", "prev_mark", "next_mark", "goto", "fork", "seek_selected"})
SIM_KEYS = frozenset({"faster", "slower"})
"""Keys for a clock with a speed (a replay's, the simulator's); space (run/halt) and n
(step) work on threads too: a live threaded cluster halts and steps like the others."""
KEY_COMMANDS = {
    "crash": "crash <node>",
    "restart": "restart <node>",
    "pause": "pause <node> / resume <node>",
    "isolate": "isolate <node> / heal f<id>",
    "heal": "heal",
    "mark": "mark",
    "write": "write",
    "timeout": "timeout <node>",
    "deliver": "deliver m<id>",
    "drop": "drop m<id>",
    "hold": "hold <from>-><to>",
    "step(1)": "step",
    "step(10)": "step 10",
    "back(1)": "seek <seq - 1>",
    "back(10)": "seek <seq - 10>",
    "prev_mark": "seek <seq of the mark>",
    "next_mark": "seek <seq of the mark>",
    "goto": "seek …",
    "run_halt": "run / halt",
    "faster": "speed <x>",
    "slower": "speed <x>",
}
"""The command each key runs (shown by help); <node> is the selected node."""
TYPING_OFF = (
    NODE_KEYS
    | REPLAY_KEYS
    | SIM_KEYS
    | {
        "command",
        "filter",
        "help",
        "quit",
        "leave_fork",
        "select_digit",
        "verbose",
        "focus_log",
        "close_screen",
        "switch_view",
    }
)
"""Single-key actions switched off while the command line has the focus."""


class ClusterScreen(Screen[None]):
    """The live (or replay) console of one backend."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "command", "Command", key_display=":"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("c", "crash", "Crash"),
        Binding("r", "restart", "Restart"),
        Binding("p", "pause", "Pause/resume"),
        Binding("i", "isolate", "Isolate/heal"),
        Binding("H", "heal", "Heal all", show=False),
        Binding("m", "mark", "Mark"),
        Binding("w", "write", "Write", show=False),
        Binding("t", "timeout", "Time out", show=False),
        Binding("d", "deliver", "Deliver msg", show=False),
        Binding("x", "drop", "Drop msg", show=False),
        Binding("h", "hold", "Hold link", show=False),
        Binding("n", "step(1)", "Step"),
        Binding("N", "step(10)", "Step 10", show=False),
        Binding("b", "back(1)", "Back"),
        Binding("B", "back(10)", "Back 10", show=False),
        Binding("left_square_bracket", "prev_mark", "Prev mark", key_display="[", show=False),
        Binding("right_square_bracket", "next_mark", "Next mark", key_display="]", show=False),
        Binding("g", "goto", "Seek"),
        Binding("f", "fork", "Fork"),
        Binding("space", "run_halt", "Run/halt"),
        Binding("plus", "faster", "Faster", key_display="+", show=False),
        Binding("minus", "slower", "Slower", key_display="-", show=False),
        Binding("v", "verbose", "All events", show=False),
        Binding("l", "focus_log", "Log", show=False),
        Binding("s", "switch_view", "Log/diagram/plots"),
        Binding("ctrl+w", "close_screen", "Close", show=False),
        Binding("escape", "dismiss_result", "Dismiss the result", show=False),
        Binding("q", "quit", "Quit"),
        Binding("q", "leave_fork", "Back to the replay"),  # on a fork, instead of quitting
        *(Binding(str(i), f"select_digit({i})", show=False) for i in range(10)),
    ]

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
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zkfle-command")
        self._backend_error: str | None = None
        self._display_error: str | None = None
        self._replay_clock = 0
        self._position = 0
        self._faults: dict[Sid, list[str]] = {}
        self._asked_running: bool | None = None
        self._asked_speed: float | None = None
        self._stop_said: tuple[str, int] | None = None
        self.clock: Callable[[], float] = time.monotonic
        """When keys are typed (digits typed quickly make one sid)."""
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

    @property
    def zkfle(self) -> Navigator:
        assert isinstance(self.app, Navigator)
        return self.app

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
        self._executor.shutdown(wait=False, cancel_futures=True)

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
                if position != self._position or rewound:
                    self._position = position
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
            self._asked_running = self._asked_speed = None
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

    @property
    def selected_node(self) -> NodeView | None:
        view, sid = self.cluster_view, self.ensemble.selected_sid
        if view is None or sid is None or sid not in view.sids:
            return None
        return view.node(sid)

    def _show_detail(self) -> None:
        node = self.selected_node
        self.detail.border_title = f"node n{node.sid}" if node else "node"
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

    @property
    def typing(self) -> bool:
        return isinstance(self.focused, CommandInput)

    @on(Header.CheckPressed)
    def _check_pressed(self) -> None:
        self.run_command("check")

    @on(CommandBar.Submitted)
    def _submitted(self, event: CommandBar.Submitted) -> None:
        # Enter empties the command line and lets go of it, after an error too: the line is
        # in the history (`:` then ↑ brings it back to be fixed).
        self._leave_bar(clear_filter=False)
        if event.mode == "command":
            self.run_command(event.text)

    @on(CommandBar.FilterChanged)
    def _filter_changed(self, event: CommandBar.FilterChanged) -> None:
        if self.views.current == "diagram":
            self._filter_diagram(event.pattern)
            return
        self.log_view.pattern = event.pattern.strip()
        self._title_log()

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
            self._title_log()
        self.bar.close()
        self.set_focus(self.ensemble)  # at once: the next key is a binding again

    def _title_log(self) -> None:
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
            result = await loop.run_in_executor(self._executor, safe_execute, self.backend, text)
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

    def key_help(self) -> list[tuple[str, str]]:
        """The keys that work on this screen now, and the command each one runs."""
        out = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            action = binding.action.split("(")[0]
            if not binding.description or self._allowed(action) is not True:
                continue
            keys = (binding.key_display or binding.key).replace("question_mark", "?, f1")
            what = binding.description
            if binding.action in KEY_COMMANDS:
                what += f"  → {KEY_COMMANDS[binding.action]}"
            out.append((keys, what))
        out.append(("0-9", "Select a node by its sid: 3 is n3; 1 2 typed quickly is n12"))
        out.append(("↑ ↓ j k", "Select a node (in the log: a line)"))
        out.append(
            (
                "tab",
                "Move between the nodes, the node detail, the log, the elections, the command line",
            )
        )
        if self.replay:
            out.append(("enter", "In the log: seek to the selected line  → seek <seq>"))
        return out

    # --- key actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TYPING_OFF and self.typing:
            return False
        return self._allowed(action)

    def _allowed(self, action: str) -> bool | None:
        if self.replay and action in NODE_KEYS:
            return False
        if not self.replay and action in REPLAY_KEYS:
            return False
        if action in SIM_KEYS and not self.replay and self.info.runtime != "sim":
            return False
        if action in ("quit", "leave_fork"):
            return self.forked == (action == "leave_fork")
        return not (action == "close_screen" and len(self.app.screen_stack) <= 2)

    def _with_node(self, make: Callable[[NodeView], str | None]) -> None:
        node = self.selected_node
        if node is None:
            self.bar.say("select a node first (↑/↓ or 1-9)", error=True)
            return
        text = make(node)
        if text:
            self.run_command(text)

    def action_command(self) -> None:
        self.bar.open("command")

    def action_filter(self) -> None:
        diagram = self.views.current == "diagram"
        self.bar.open("filter", self.diagram.filter.text if diagram else self.log_view.pattern)

    def action_switch_view(self) -> None:
        """`s`: the message log, the sequence diagram or the plots in the right-hand pane."""
        order = ("log", "diagram", "plots")
        showing = order[(order.index(self.views.current or "log") + 1) % len(order)]
        self.views.current = showing
        self.views.query_one(f"#{showing}").focus()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen("", self.key_help()))

    def on_elections_timeline_explain(self, message: ElectionsTimeline.Explain) -> None:
        """Enter on the elections timeline: the selected election's outage explained."""
        self.app.push_screen(ExplainScreen(*explainer(self.backend, message.election)))

    def action_quit(self) -> None:
        self.app.exit()

    def action_dismiss_result(self) -> None:
        self.bar.say("")

    def action_leave_fork(self) -> None:
        self.zkfle.leave(self)

    def action_close_screen(self) -> None:
        self.zkfle.leave(self)

    def action_select_digit(self, digit: int) -> None:
        if self.ensemble.type_digit(str(digit), self.clock()) is None:
            self.bar.say(f"no node has sid {digit}", error=True)

    def action_focus_log(self) -> None:
        self.views.query_one(f"#{self.views.current or 'log'}").focus()

    def action_verbose(self) -> None:
        self.log_view.show_verbose = not self.log_view.show_verbose
        self._title_log()

    def action_crash(self) -> None:
        self._with_node(lambda n: f"crash {n.sid}")

    def action_restart(self) -> None:
        self._with_node(lambda n: f"restart {n.sid}")

    def action_pause(self) -> None:
        self._with_node(lambda n: f"{'resume' if n.paused else 'pause'} {n.sid}")

    def action_isolate(self) -> None:
        def isolate(node: NodeView) -> str:
            view = self.cluster_view
            for fault in view.faults if view else ():
                if fault.text == f"isolate {node.sid}":
                    return f"heal {fault.fault_id}"
            return f"isolate {node.sid}"

        self._with_node(isolate)

    def action_timeout(self) -> None:
        self._with_node(lambda n: f"timeout {n.sid}")

    def action_heal(self) -> None:
        self.run_command("heal")

    def action_mark(self) -> None:
        self.run_command("mark")

    def action_write(self) -> None:
        self.run_command("write")

    def _with_message(self, make: Callable[[LogLine], str | None], what: str) -> None:
        line = self.log_view.selected
        text = make(line) if line is not None else None
        if text is None:
            self.bar.say(f"select {what} in the log first (l, then ↑/↓)", error=True)
            return
        self.run_command(text)

    def action_deliver(self) -> None:
        self._with_message(lambda m: f"deliver {m.msg}" if m.msg else None, "a message")

    def action_drop(self) -> None:
        self._with_message(lambda m: f"drop {m.msg}" if m.msg else None, "a message")

    def action_hold(self) -> None:
        self._with_message(
            lambda m: f"hold {m.link[0]}->{m.link[1]}" if m.link else None, "a message"
        )

    def action_run_halt(self) -> None:
        # Toggle from what was last asked for, not from the last frame: two quick presses
        # must run and halt, not halt twice.
        running = self._asked_running if self._asked_running is not None else self.info.running
        self._asked_running = not running
        self.run_command("run" if self._asked_running else "halt")

    def _speed(self, faster: bool) -> None:
        now = self._asked_speed or self.info.speed
        ladder = [s for s in SPEEDS if (s > now * 1.001 if faster else s < now * 0.999)]
        if ladder:
            self._asked_speed = ladder[0] if faster else ladder[-1]
            self.run_command(f"speed {self._asked_speed:g}x")

    def action_faster(self) -> None:
        self._speed(True)

    def action_slower(self) -> None:
        self._speed(False)

    def action_step(self, count: int) -> None:
        self.run_command("step" if count == 1 else f"step {count}")

    def action_back(self, count: int) -> None:
        self.run_command(f"seek {max(0, self._position - count)}")

    def _marks(self) -> list[int]:
        backend = self.backend
        if not isinstance(backend, ReplayBackend):
            return []
        try:
            return sorted({m.seq for m in backend.marks})
        except Exception:
            return []

    def action_prev_mark(self) -> None:
        before = [s for s in self._marks() if s < self._position]
        if before:
            self.run_command(f"seek {before[-1]}")
        else:
            self.bar.say("no mark before this position", error=True)

    def action_next_mark(self) -> None:
        after = [s for s in self._marks() if s > self._position]
        if after:
            self.run_command(f"seek {after[0]}")
        else:
            self.bar.say("no mark after this position", error=True)

    def action_seek_selected(self) -> None:
        diagram = self.views.current == "diagram"
        line = self.diagram.selected if diagram else self.log_view.selected
        if line is None:
            what = "a row in the diagram" if diagram else "a line in the log"
            self.bar.say(f"select {what} first (l, then ↑/↓)", error=True)
        else:
            self.run_command(f"seek {line.seq}")

    def action_goto(self) -> None:
        self.bar.open("command", "seek ")

    def action_fork(self) -> None:
        work: Callable[[], Coroutine[None, None, None]] = self._fork
        _: Worker[None] = self.run_worker(work, group="commands")

    async def _fork(self) -> None:
        backend = self.backend
        if not isinstance(backend, ReplayBackend):
            return
        self.bar.say(Text(f"⋯ fork at seq {self._position}", "dim"))
        loop = asyncio.get_running_loop()
        try:
            live = await loop.run_in_executor(self._executor, backend.fork)
        except Exception as exc:
            self.bar.say(f"✗ fork: {describe_exception(exc)}", error=True)
            return
        self.bar.say(f"✓ forked a live cluster at seq {self._position}")
        self.zkfle.adopt(live, forked=True)
