"""The cluster screen's keys: their bindings, when each works, and the command each runs.

Every key runs a command of the language (shown in the log like a typed one), except for
the ones that only move around the screen. `KeyedScreen` is the cluster screen's base: it
holds the keys' own state (what run/halt and +/- last asked for, when digits were typed)
and reads the rest of the screen (the panels, the backend, `run_command`), which
console.screens.cluster.ClusterScreen sets up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Protocol, runtime_checkable

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import ContentSwitcher
from textual.worker import Worker

from console.backend import Backend, BackendInfo, ReplayBackend, describe_exception
from console.format import LogLine
from console.screens.explain import ExplainScreen, explainer
from console.screens.help import HelpScreen
from console.widgets.commandbar import CommandBar, CommandInput
from console.widgets.ensemble import EnsembleTable
from console.widgets.ladder import SequenceDiagram
from console.widgets.log import MessageLog
from console.widgets.timeline import ElectionsTimeline
from engine.core.view import ClusterView, NodeView


@runtime_checkable
class Navigator(Protocol):
    """What a cluster screen asks of the app that shows it (console.app.ZkfleApp): a trace
    opened for replay, a forked cluster shown over this one, this screen closed. The app
    knows the screen; the screen knows only this."""

    def open_replay(self, path: str) -> None: ...

    def adopt(self, backend: Backend, *, forked: bool = False) -> None: ...

    def leave(self, screen: KeyedScreen) -> None: ...


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


class KeyedScreen(Screen[None]):
    """The keys of the cluster screen (see the module doc)."""

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

    # What the keys act on: the cluster screen sets these up.
    backend: Backend
    replay: bool
    forked: bool
    info: BackendInfo
    cluster_view: ClusterView | None
    position: int
    executor: ThreadPoolExecutor
    bar: CommandBar
    ensemble: EnsembleTable
    views: ContentSwitcher
    log_view: MessageLog
    diagram: SequenceDiagram
    run_command: Callable[[str], None]
    title_log: Callable[[], None]

    def __init__(self) -> None:
        super().__init__()
        self.asked_running: bool | None = None
        self.asked_speed: float | None = None
        """What run/halt and +/- last asked for (None: every command has answered)."""
        self.clock: Callable[[], float] = time.monotonic
        """When keys are typed (digits typed quickly make one sid)."""

    @property
    def zkfle(self) -> Navigator:
        assert isinstance(self.app, Navigator)
        return self.app

    @property
    def typing(self) -> bool:
        return isinstance(self.focused, CommandInput)

    @property
    def selected_node(self) -> NodeView | None:
        view, sid = self.cluster_view, self.ensemble.selected_sid
        if view is None or sid is None or sid not in view.sids:
            return None
        return view.node(sid)

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
        if showing == "diagram":
            self.diagram.catch_up()  # what it was fed while hidden, before it is drawn
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
        self.title_log()

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
        running = self.asked_running if self.asked_running is not None else self.info.running
        self.asked_running = not running
        self.run_command("run" if self.asked_running else "halt")

    def _speed(self, faster: bool) -> None:
        now = self.asked_speed or self.info.speed
        ladder = [s for s in SPEEDS if (s > now * 1.001 if faster else s < now * 0.999)]
        if ladder:
            self.asked_speed = ladder[0] if faster else ladder[-1]
            self.run_command(f"speed {self.asked_speed:g}x")

    def action_faster(self) -> None:
        self._speed(True)

    def action_slower(self) -> None:
        self._speed(False)

    def action_step(self, count: int) -> None:
        self.run_command("step" if count == 1 else f"step {count}")

    def action_back(self, count: int) -> None:
        self.run_command(f"seek {max(0, self.position - count)}")

    def _marks(self) -> list[int]:
        backend = self.backend
        if not isinstance(backend, ReplayBackend):
            return []
        try:
            return sorted({m.seq for m in backend.marks})
        except Exception:
            return []

    def action_prev_mark(self) -> None:
        before = [s for s in self._marks() if s < self.position]
        if before:
            self.run_command(f"seek {before[-1]}")
        else:
            self.bar.say("no mark before this position", error=True)

    def action_next_mark(self) -> None:
        after = [s for s in self._marks() if s > self.position]
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
        self.bar.say(Text(f"⋯ fork at seq {self.position}", "dim"))
        loop = asyncio.get_running_loop()
        try:
            live = await loop.run_in_executor(self.executor, backend.fork)
        except Exception as exc:
            self.bar.say(f"✗ fork: {describe_exception(exc)}", error=True)
            return
        self.bar.say(f"✓ forked a live cluster at seq {self.position}")
        self.zkfle.adopt(live, forked=True)
