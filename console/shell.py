"""Provides `zkfle shell`: a prompt_toolkit REPL on a backend, with the console's command
language, completion (from `engine.control.complete.complete`) and history (shared with the TUI).

On a terminal it prompts with a live status toolbar and prints what happens in the cluster
(state changes, elections, faults, crashes, invariant violations) as it happens. With
piped input (`printf 'status\\ncrash leader\\n' | zkfle shell`) it reads one command per
line, echoes it, runs it, then prints what happened meanwhile: a transcript. Either way
`help`, `quit` (or end of input) and errors are handled here, and nothing - a bad
command, a backend exception - ends the session with a traceback.

Exit status: 0 if every command succeeded, 1 if any failed (a bad command, an `expect`
that did not hold, a `wait until` that timed out).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.patch_stdout import patch_stdout
from rich.console import Console
from rich.text import Text

from console.backend import Backend, CommandResult, describe_exception, read_info, safe_execute
from console.format import EventFormatter, node_summary
from console.history import file_history, history_path
from engine.control.commands import Help, Quit, Replay, parse
from engine.control.complete import complete
from engine.control.help import help_text
from engine.control.predicates import CommandError
from engine.core.view import ClusterView

PROMPT = "zkfle> "

SHOWN_KINDS = frozenset(
    {"state", "boot", "stop", "pause", "resume", "fault", "heal", "mark", "invariant"}
)
"""What the shell reports from the event stream (messages are too many to print)."""


class CommandCompleter(Completer):
    """prompt_toolkit completion from the command language's grammar."""

    def __init__(self, view: Callable[[], ClusterView | None]) -> None:
        self._view = view

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        try:
            found = complete(document.text_before_cursor, self._view())
        except Exception:
            return
        for c in found:
            yield Completion(c.text, start_position=-c.replace, display_meta=c.meta)


class EventReporter:
    """Picks the events worth a line in the shell and formats them."""

    def __init__(self) -> None:
        self.formatter = EventFormatter()
        self._states: dict[int, str] = {}
        self.last_seq = 0

    def lines(self, events: Iterable[Mapping[str, Any]]) -> list[Text]:
        out = []
        for event in events:
            seq = event.get("seq")
            if isinstance(seq, int):
                if seq <= self.last_seq:
                    continue
                self.last_seq = seq
            kind = event.get("kind")
            line = self.formatter.line(event)  # always: it tracks state transitions
            if kind not in SHOWN_KINDS or line is None:
                continue
            if kind == "state" and not self._worth_it(event):
                continue
            text = Text(f"[{event.get('t_ms', 0) / 1000:8.3f}s] ", "dim")
            text.append_text(line.body)
            out.append(text)
        return out

    def _worth_it(self, event: Mapping[str, Any]) -> bool:
        """A state event is shown when the state changes, a decision or a reason."""
        node, state = event.get("node"), str(event.get("state"))
        if not isinstance(node, int):
            return False
        before = self._states.get(node)
        self._states[node] = state
        return before != state or "took_ms" in event or bool(event.get("reason"))


class Shell:
    """One shell session on a backend."""

    def __init__(self, backend: Backend, out: IO[str], color: bool) -> None:
        self.backend = backend
        self.console = Console(
            file=out,
            force_terminal=color,
            no_color=not color,
            highlight=False,
            markup=False,
            soft_wrap=True,
            width=200 if not color else None,
        )
        self.reporter = EventReporter()
        self.failures = 0
        self._lock = threading.Lock()

    # --- output -----------------------------------------------------------------------------

    def say(self, text: str | Text, style: str = "") -> None:
        with self._lock:
            self.console.print(text, style=style or None)

    def view(self) -> ClusterView | None:
        try:
            return self.backend.view()
        except Exception:
            return None

    def report_events(self) -> None:
        """Print what happened since the last report."""
        try:
            events = self.backend.events_after(self.reporter.last_seq)
        except Exception as exc:
            self.say(f"backend: {describe_exception(exc)}", "red")
            return
        for line in self.reporter.lines(events):
            self.say(line)

    def banner(self) -> None:
        try:
            info = read_info(self.backend)
        except Exception as exc:
            self.say(f"backend: {describe_exception(exc)}", "red")
            return
        view = self.view()
        size = f"{len(view.nodes)} nodes" if view is not None else "a cluster"
        seed = f", seed {info.seed}" if info.seed is not None else ""
        where = f"recording to {info.trace_path}" if info.trace_path else "not recording"
        self.say(
            Text.assemble(
                ("zkfle shell", "bold"),
                f": {info.mode} {info.runtime} cluster of {size}{seed}, {where}.",
            )
        )
        self.say("help lists the commands, Tab completes, quit or end of input leaves.", "dim")

    def farewell(self) -> None:
        try:
            info = read_info(self.backend)
        except Exception:
            return
        if info.mode == "live" and info.trace_path:
            self.say(f"Trace: {info.trace_path}")
            self.say(f"Replay it: zkfle replay {info.trace_path}")

    # --- commands ---------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        try:
            command = parse(text)
        except CommandError as e:
            self.failures += 1
            self.say(f"error: {e}", "red")
            return True
        if isinstance(command, Quit):
            return False
        if isinstance(command, Help):
            self.say(help_text(command.topic or None))
            return True
        if isinstance(command, Replay):
            self.say(f"replay runs in the console: zkfle replay {command.file}", "yellow")
            return True
        result = self._execute(text)
        self.report_events()
        if result.ok:
            if result.text:
                self.say(result.text)
        else:
            self.failures += 1
            self.say(f"error: {result.text}", "red")
        return True

    def _execute(self, text: str) -> CommandResult:
        try:
            return safe_execute(self.backend, text)
        except KeyboardInterrupt:
            return CommandResult(False, "interrupted")

    # --- loops --------------------------------------------------------------------------------

    def run_piped(self, lines: Iterable[str]) -> None:
        self.report_events()
        for line in lines:
            text = line.rstrip("\n")
            if text.strip() and not text.strip().startswith("#"):
                self.say(Text.assemble((PROMPT, "bold"), text))
            if not self.handle(text):
                break
        self.report_events()

    def run_interactive(self) -> None:
        session: PromptSession[str] = PromptSession(
            history=file_history(history_path()),
            completer=CommandCompleter(self.view),
            complete_while_typing=False,
            auto_suggest=AutoSuggestFromHistory(),
            bottom_toolbar=self._toolbar,
            refresh_interval=0.5,
        )
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop,), name="zkfle-shell-events")
        with patch_stdout(raw=True):
            self.console.file = sys.stdout
            watcher.start()
            try:
                while True:
                    try:
                        line = session.prompt(PROMPT)
                    except KeyboardInterrupt:
                        continue
                    except EOFError:
                        break
                    if not self.handle(line):
                        break
            finally:
                stop.set()
                watcher.join(2.0)

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            self.report_events()

    def _toolbar(self) -> str:
        view = self.view()
        return node_summary(view) if view is not None else "backend unavailable"


def run_shell(
    backend: Backend,
    stdin_is_tty: bool,
    *,
    stdin: IO[str] | None = None,
    out: IO[str] | None = None,
) -> int:
    """Run the shell on `backend` until `quit` or the end of input, then close the backend
    and say where the trace is. Returns 0 if every command succeeded, else 1."""
    stdout = out or sys.stdout
    shell = Shell(backend, stdout, color=stdin_is_tty and stdout.isatty())
    try:
        shell.banner()
        if stdin_is_tty:
            shell.run_interactive()
        else:
            shell.run_piped(stdin or sys.stdin)
    finally:
        try:
            backend.close()
        except Exception as exc:
            shell.say(f"closing the cluster failed: {describe_exception(exc)}", "red")
        shell.farewell()
    return 1 if shell.failures else 0
