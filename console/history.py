"""Provides the command history the console and the shell share, kept across runs.

The file is prompt_toolkit's `FileHistory` format, so the shell (which uses FileHistory
directly) and the Textual command line read and extend the same file. Where it lives:
`$ZKFLE_HISTORY` if set (tests point it at a temp file; an empty value keeps history in
memory only), else `$XDG_STATE_HOME/zkfle/history`, else `~/.local/state/zkfle/history`.
A history that cannot be read or written is kept in memory: it is never worth an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit.history import FileHistory

HISTORY_ENV = "ZKFLE_HISTORY"
LIMIT = 1000
"""How many lines the command line remembers."""


def history_path() -> Path | None:
    """Where the history is kept (None: nowhere, memory only)."""
    if HISTORY_ENV in os.environ:
        value = os.environ[HISTORY_ENV]
        return Path(value).expanduser() if value else None
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "zkfle" / "history"


def file_history(path: Path | None) -> FileHistory | None:
    """A prompt_toolkit FileHistory on `path` (its folder created), or None if unusable."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return None
    return FileHistory(str(path))


class CommandHistory:
    """Lines typed before (oldest first), with up/down navigation that honours a prefix.

    `previous(text)` called with what is typed so far walks back through the lines that
    start with it (like a shell's history search); `next()` walks forward and finally
    returns the text the walk started from.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._file = file_history(path)
        self.entries: list[str] = []
        if self._file is not None:
            try:
                newest_first = list(self._file.load_history_strings())
            except (OSError, UnicodeDecodeError, ValueError):
                newest_first = []
            self.entries = [e for e in reversed(newest_first) if e.strip()][-LIMIT:]
        self._pos: int | None = None
        self._typed = ""

    def add(self, text: str) -> None:
        """Remember a submitted line (not twice in a row) and end any navigation."""
        self.reset()
        text = text.strip()
        if not text or (self.entries and self.entries[-1] == text):
            return
        self.entries.append(text)
        del self.entries[:-LIMIT]
        if self._file is not None:
            try:
                self._file.store_string(text)
            except OSError:
                self._file = None

    def reset(self) -> None:
        self._pos = None
        self._typed = ""

    def previous(self, typed: str) -> str | None:
        """An older line starting with what was typed when the walk began, or None."""
        if self._pos is None:
            self._pos, self._typed = len(self.entries), typed
        for i in range(self._pos - 1, -1, -1):
            if self.entries[i].startswith(self._typed) and self.entries[i] != typed:
                self._pos = i
                return self.entries[i]
        return None

    def next(self) -> str | None:
        """A newer line, the text the walk began from after the newest, or None (no walk)."""
        if self._pos is None:
            return None
        for i in range(self._pos + 1, len(self.entries)):
            if self.entries[i].startswith(self._typed):
                self._pos = i
                return self.entries[i]
        typed = self._typed
        self.reset()
        return typed
