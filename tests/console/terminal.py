"""The real `zkfle` console in a pseudo-terminal, read as a person sees it.

`ConsoleTerminal` starts the installed `zkfle` command in a pty (pexpect), feeds what it
writes to a VT100 screen emulator (pyte), and lets a test press keys, type commands and
wait, with a deadline, until some text is on the screen. Nothing here knows the app's
widgets: what a test can assert is what a person would read.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import pexpect
import pyte

ZKFLE = Path(sys.executable).with_name("zkfle")
QUIT_DEADLINE_S = 20.0
"""How long a console may take to unwind (kill every JVM it started) after its terminal
closed, on a loaded machine."""


class ConsoleTerminal:
    """`zkfle ARGS` in a `columns` x `lines` pty; use it as a context manager."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        columns: int = 120,
        lines: int = 40,
        env: dict[str, str] | None = None,
    ) -> None:
        self.screen = pyte.Screen(columns, lines)
        self._stream = pyte.ByteStream(self.screen)
        command = str(ZKFLE) if ZKFLE.exists() else shutil.which("zkfle")
        if command is None:
            raise RuntimeError("the zkfle command is not installed in this environment")
        # Both sizes: a LINES or COLUMNS inherited from the test runner would win over the pty's.
        full_env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        full_env.update(env or {})
        self.child = pexpect.spawn(
            command, list(args), cwd=str(cwd), env=full_env, dimensions=(lines, columns)
        )

    # --- reading ------------------------------------------------------------------------------

    def pump(self, seconds: float = 0.05) -> None:
        """Read whatever the console wrote within `seconds` into the screen."""
        end = time.monotonic() + seconds
        while True:
            try:
                self._stream.feed(self.child.read_nonblocking(1 << 16, timeout=0.02))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                return
            if time.monotonic() >= end:
                return

    @property
    def text(self) -> str:
        """The screen as lines of text (trailing blanks removed)."""
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_until(
        self, condition: Callable[[str], object], what: str, timeout: float = 30.0
    ) -> str:
        """Pump until `condition(screen text)` holds; fail with the screen after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            text = self.text
            if condition(text):
                return text
            if time.monotonic() > deadline or not self.child.isalive():
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the regular expression `pattern` matches the screen; the match."""
        found: list[re.Match[str]] = []

        def matches(text: str) -> bool:
            m = re.search(pattern, text, re.MULTILINE)
            if m:
                found.append(m)
            return m is not None

        self.wait_until(matches, repr(pattern), timeout)
        return found[-1]

    # --- typing -------------------------------------------------------------------------------

    def press(self, *keys: str) -> None:
        """Send keys as typed: plain characters, or `enter`, `escape`, `up`, `down`."""
        special = {"enter": "\r", "escape": "\x1b", "up": "\x1b[A", "down": "\x1b[B"}
        for key in keys:
            self.child.send(special.get(key, key))
            self.pump(0.05)

    def command(self, text: str) -> None:
        """`:` + text + Enter, as a person types it, reading the screen between the steps:
        the command line open (keys typed before it opens are key bindings), then the text
        echoed on it (an Enter that overtakes it would run half a command)."""
        self.press(":")
        self.wait_for(r"esc Leave")
        self.child.send(text)
        self.wait_until(lambda screen: f": {text}" in screen, f"{text!r} typed")
        self.press("enter")

    # --- ending -------------------------------------------------------------------------------

    def quit(self, timeout: float = QUIT_DEADLINE_S) -> int:
        """Press `q` and wait for the process to end; its exit status."""
        self.press("q")
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            self.pump(0.1)
        if self.child.isalive():
            raise AssertionError(f"the console did not quit; the screen:\n{self.text}")
        self.child.close()
        return int(self.child.exitstatus or 0)

    def __enter__(self) -> ConsoleTerminal:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.child.isalive():
            # A closed terminal first, as a user's would be: the console unwinds and kills
            # what it started (real servers' JVMs run in their own process groups, so a
            # SIGKILL here would leave them behind); force only if it does not end.
            self.child.kill(signal.SIGHUP)
            deadline = time.monotonic() + QUIT_DEADLINE_S
            while self.child.isalive() and time.monotonic() < deadline:
                self.pump(0.1)
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close(force=True)
