"""Provides the Textual console: `ZkfleApp` and `run_app`, its entry point.

The app shows one `ClusterScreen` per backend: the one it was started on (live or replay),
then one more for each `replay FILE` typed and each fork of a replay (`ctrl+w` closes a
screen and goes back). When it quits, every backend is closed and `run_app` prints where
each trace is and the command that replays it.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import IO, ClassVar

from textual.app import App, SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.worker import Worker

from console.backend import Backend, ReplayBackend, describe_exception, read_info
from console.history import CommandHistory, history_path
from console.screens.cluster import ClusterScreen
from console.screens.help import HelpScreen
from engine.commands import VERBS, Verb

ReplayOpener = Callable[[str], ReplayBackend]
"""Opens a trace file for replay (raises with a clear message if it cannot)."""


def _needs_arguments(verb: Verb) -> bool:
    return any(not a.optional and not a.keyword for a in verb.args) or verb.needs_option


class CommandsProvider(Provider):
    """The command palette's commands: every verb of the command language."""

    def _screen(self) -> ClusterScreen | None:
        screen = self.app.screen_stack[-1] if self.app.screen_stack else None
        return screen if isinstance(screen, ClusterScreen) else None

    def _run(self, verb: Verb) -> None:
        screen = self._screen()
        if screen is None:
            return
        if _needs_arguments(verb):
            screen.bar.open("command", verb.name + " ")
        else:
            screen.run_command(verb.name)

    async def discover(self) -> Hits:
        for verb in VERBS:
            yield DiscoveryHit(verb.synopsis, partial(self._run, verb), help=verb.summary)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for verb in VERBS:
            for candidate in (verb.synopsis, *verb.aliases):
                score = matcher.match(candidate)
                if score > 0:
                    yield Hit(
                        score,
                        matcher.highlight(verb.synopsis),
                        partial(self._run, verb),
                        help=verb.summary,
                    )
                    break


class ZkfleApp(App[int]):
    """The zkfle console on one backend (more come with `replay` and fork)."""

    CSS_PATH = "app.tcss"
    TITLE = "zkfle"
    COMMANDS: ClassVar = App.COMMANDS | {CommandsProvider}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        backend: Backend,
        *,
        open_replay: ReplayOpener | None = None,
        history: CommandHistory | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.backends: list[Backend] = [backend]
        self.open_replay_file = open_replay
        self.history = history if history is not None else CommandHistory(history_path())

    def on_mount(self) -> None:
        self.push_screen(ClusterScreen(self.backend, self.history))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, ClusterScreen):
            yield SystemCommand(
                "Keys and commands", "Help for every key and command", screen.action_help
            )
            yield SystemCommand(
                "Show every event",
                "Toggle core steps, quorum packets and connections in the log",
                screen.action_verbose,
            )

    def adopt(self, backend: Backend) -> None:
        """Show another backend (a fork, a replay) on a new screen over the current one."""
        self.backends.append(backend)
        self.push_screen(ClusterScreen(backend, self.history))

    def open_replay(self, path: str) -> None:
        """`replay FILE` on the command line: open it (off the UI thread) and show it."""
        opener = self.open_replay_file
        if opener is None:
            self._say(f"replay is not available here: run zkfle replay {path}", error=True)
            return

        async def load() -> None:
            try:
                backend = await asyncio.get_running_loop().run_in_executor(None, opener, path)
            except Exception as exc:  # a bad file is a message, never a traceback
                message = str(exc) or describe_exception(exc)
                self._say(f"✗ replay {path}: {message}", error=True)
                return
            self.adopt(backend)

        work: Callable[[], Coroutine[None, None, None]] = load
        _: Worker[None] = self.run_worker(work, group="replay")

    def _say(self, text: str, error: bool = False) -> None:
        screen = self.screen
        if isinstance(screen, ClusterScreen):
            screen.bar.say(text, error=error)
        else:
            self.notify(text, severity="error" if error else "information")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def close_backends(self) -> list[str]:
        """Close every backend; the trace files they recorded."""
        traces = []
        for backend in self.backends:
            try:
                info = read_info(backend)
                if info.mode == "live" and info.trace_path:
                    traces.append(info.trace_path)
            except Exception:
                pass
            try:
                backend.close()
            except Exception as exc:
                print(
                    f"zkfle: closing a cluster failed: {describe_exception(exc)}", file=sys.stderr
                )
        return traces


def exit_message(traces: list[str]) -> str:
    """What `run_app` prints when the console closes: where the traces are."""
    lines = []
    for path in traces:
        lines.append(f"Trace: {path}")
        lines.append(f"Replay it: zkfle replay {_shell_quote(path)}")
    return "\n".join(lines)


def _shell_quote(path: str) -> str:
    return shlex.quote(path)


def run_app(
    backend: Backend,
    *,
    open_replay: ReplayOpener | None = None,
    out: IO[str] | None = None,
) -> int:
    """Run the console on `backend` until the user quits; close every backend; print where
    the traces are. Returns the exit status (0; 1 if the console itself failed)."""
    app = ZkfleApp(backend, open_replay=open_replay)
    status = 0
    try:
        app.run()
        if app.return_code not in (None, 0):
            status = 1
    finally:
        traces = app.close_backends()
        message = exit_message(traces)
        if message:
            print(message, file=out or sys.stdout)
    return status
