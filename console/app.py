"""Provides the Textual console: `ZkfleApp` and `run_app`, its entry point.

The app shows one `ClusterScreen` per backend: the one it was started on (live or replay),
then one more for each `replay FILE` typed and each fork of a replay. `q` on a fork (or
`ctrl+w` on any screen over another) closes that screen's backend and goes back to the
screen under it. `replay FILE` typed on a live cluster first asks whether to stop it: the
replay then takes its place. When the app quits, every backend is closed and `run_app`
prints where each trace is and the command that replays it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import IO, ClassVar

from textual.app import App, SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.worker import Worker

from console import collector
from console.backend import Backend, ReplayBackend, describe_exception, read_info
from console.history import CommandHistory, history_path
from console.screens.cluster import ClusterScreen
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.screens.keys import KeyedScreen
from engine.control.commands import VERBS, Verb

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
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zkfle-close")
        """Closes the backends of screens left behind (a cluster may take a moment)."""

    def on_mount(self) -> None:
        self.push_screen(ClusterScreen(self.backend, self.history))

    def on_ready(self) -> None:
        collector.settle()  # the first screen is up: what it took to get here stays

    def on_unmount(self) -> None:
        collector.restore()

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

    def adopt(self, backend: Backend, *, forked: bool = False) -> None:
        """Show another backend (a fork, a replay) on a new screen over the current one."""
        self.backends.append(backend)
        self.push_screen(ClusterScreen(backend, self.history, forked=forked))

    def leave(self, screen: KeyedScreen) -> None:
        """Close `screen` (the top one, over another) and its backend; back to the one
        under it, which says where the closed cluster's trace is."""
        if screen is not self.screen or len(self.screen_stack) <= 2:
            return
        self.pop_screen()
        what = "the fork" if screen.forked else "the replay"
        self._run(partial(self._close, screen.backend, what))

    async def _close(self, backend: Backend, what: str) -> None:
        """Close `backend` off the UI thread and say so (with its trace, if it recorded)."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wrap_future(self._closer.submit(backend.close), loop=loop)
            info = read_info(backend)
        except Exception as exc:
            self._say(f"✗ closing {what}: {describe_exception(exc)}", error=True)
            return
        if info.mode == "live" and info.trace_path:
            self._say(f"closed {what}; its trace: {info.trace_path}")

    def open_replay(self, path: str) -> None:
        """`replay FILE` on the command line: open it (off the UI thread) and show it. On a
        live cluster, ask first: the replay takes its place and the cluster is stopped."""
        opener = self.open_replay_file
        if opener is None:
            self._say(f"replay is not available here: run zkfle replay {path}", error=True)
            return
        screen = self.screen
        live = screen if isinstance(screen, ClusterScreen) and not screen.replay else None
        self._run(partial(self._replace_or_adopt, opener, path, live))

    async def _replace_or_adopt(
        self, opener: ReplayOpener, path: str, live: ClusterScreen | None
    ) -> None:
        """Show the replay of `path` over the current screen, or in place of `live`."""
        backend = await self._open(opener, path)  # first: a bad file is not worth a question
        if backend is None:
            return
        if live is None:
            self.adopt(backend)
            return
        cluster = live.backend
        what = "the fork" if live.forked else "the live cluster"
        trace = read_info(cluster).trace_path
        detail = f"Its trace is kept: {trace}" if trace else "It is not recording: it is lost."
        question = ConfirmScreen(f"Stop {what} and replay {path}?", detail)
        if not await self.push_screen_wait(question):
            backend.close()
            self._say(f"replay {path}: not opened; {what} goes on")
            return
        own = _same_file(trace, path)
        if own:  # the replay of the trace being written: open it again once it is complete
            await self._close(cluster, what)
            backend.close()
            backend = await self._open(opener, path)
            if backend is None:
                return
        self.backends.append(backend)
        replay = ClusterScreen(backend, self.history)
        if self.screen is live:
            await self.switch_screen(replay)
        else:
            await self.push_screen(replay)
        if not own:
            await self._close(cluster, what)

    async def _open(self, opener: ReplayOpener, path: str) -> ReplayBackend | None:
        """The opened trace, or None (and the reason said)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, opener, path)
        except Exception as exc:  # a bad file is a message, never a traceback
            message = str(exc) or describe_exception(exc)
            self._say(f"✗ replay {path}: {message}", error=True)
            return None

    def _run(self, work: Callable[[], Coroutine[None, None, None]]) -> None:
        # a callable, not a coroutine: one that never starts (at exit) leaves no warning
        _: Worker[None] = self.run_worker(work, group="screens")

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
        self._closer.shutdown(wait=True)  # a backend being closed now is closed first
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


def _same_file(a: str | None, b: str) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


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
