"""Provides the message log: one line per event, capped, filterable, with a cursor.

It is a line-API `ScrollView` (only the visible lines are rendered, each once), so a storm
of events costs an append per line and one refresh per frame. The cursor selects a line
(a message for the deliver/drop/hold keys); while the cursor is on the last line (or
unset) the log follows new lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.format import LogLine
from console.widgets.commandbar import forward_late_key

LOG_CAP = 2000
"""Lines kept; the full history is in the trace file."""


@dataclass(frozen=True, slots=True)
class _Entry:
    id: int
    line: LogLine


def matches(line: LogLine, pattern: str) -> bool:
    """The `/` filter: every word must appear in the line (case-insensitive; the line's
    seq and kind count too), and no word written `!word` may appear."""
    hay = f"{line.seq} {line.kind} {line.plain}".lower()
    for word in pattern.lower().split():
        if word.startswith("!"):
            if word[1:] and word[1:] in hay:
                return False
        elif word not in hay:
            return False
    return True


class MessageLog(ScrollView, can_focus=True):
    """The message log (sends, deliveries, drops, state changes, commands, faults)."""

    DEFAULT_CSS = """
    MessageLog {
        background: $surface;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-10)", show=False),
        Binding("pagedown", "cursor(10)", show=False),
        Binding("home", "first", show=False),
        Binding("end", "last", "Follow", show=False),
        Binding("d", "screen.deliver", "Deliver msg"),
        Binding("x", "screen.drop", "Drop msg"),
        Binding("h", "screen.hold", "Hold link"),
        Binding("enter", "screen.seek_selected", "Seek here"),
    ]

    show_verbose: var[bool] = var(False)
    """Show every event (core steps, quorum packets, connections), not just the main ones."""
    pattern: var[str] = var("")
    """The `/` filter."""

    class Selected(Message):
        """The cursor moved to a line (None: following the tail)."""

        def __init__(self, line: LogLine | None) -> None:
            super().__init__()
            self.line = line

    def __init__(
        self, cap: int = LOG_CAP, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.cap = cap
        self._entries: list[_Entry] = []
        self._shown: list[_Entry] = []
        self._next_id = 0
        self._cursor: int | None = None
        """Index into `_shown`; None follows the tail."""
        self._cache: dict[tuple[int, bool, bool, bool], Strip] = {}
        self._width = 0
        self.skipped = 0
        """Events that arrived too fast to show (the cap, or the backend's window)."""

    # --- content ----------------------------------------------------------------------------------

    @property
    def lines(self) -> list[LogLine]:
        """Every kept line (filtered or not), oldest first."""
        return [e.line for e in self._entries]

    @property
    def shown(self) -> list[LogLine]:
        """The lines that pass the filter, oldest first."""
        return [e.line for e in self._shown]

    def add(self, lines: Iterable[LogLine]) -> None:
        """Append lines (only the last `cap` are kept)."""
        new = []
        for line in lines:
            new.append(_Entry(self._next_id, line))
            self._next_id += 1
        if not new:
            return
        if len(new) > self.cap:
            self.skipped += len(new) - self.cap
            new = new[-self.cap :]
        self._entries.extend(new)
        self._shown.extend(e for e in new if self._passes(e.line))
        if len(self._entries) > self.cap + self.cap // 4:
            self._trim()
        self._changed()

    def truncate_after(self, seq: int) -> None:
        """Drop the lines of events after `seq` (a replay moved back)."""
        if self._entries and self._entries[-1].line.seq > seq:
            self._entries = [e for e in self._entries if e.line.seq <= seq]
            self._refilter()

    def clear(self) -> None:
        self._entries.clear()
        self._shown.clear()
        self._cursor = None
        self._cache.clear()
        self._changed()

    def _trim(self) -> None:
        first = self._entries[-self.cap].id
        del self._entries[: -self.cap]
        drop = 0
        while drop < len(self._shown) and self._shown[drop].id < first:
            drop += 1
        del self._shown[:drop]
        if self._cursor is not None:
            self._cursor = max(0, self._cursor - drop)
        self._cache = {k: v for k, v in self._cache.items() if k[0] >= first}

    def _passes(self, line: LogLine) -> bool:
        return (self.show_verbose or not line.verbose) and matches(line, self.pattern)

    def _refilter(self) -> None:
        keep = self.selected
        self._shown = [e for e in self._entries if self._passes(e.line)]
        self._cursor = None
        if keep is not None:
            for i, e in enumerate(self._shown):
                if e.line is keep:
                    self._cursor = i
        self._cache.clear()
        self._changed()

    def watch_show_verbose(self) -> None:
        self._refilter()

    def watch_pattern(self) -> None:
        self._refilter()

    def _changed(self) -> None:
        if self._cursor is not None and self._cursor >= len(self._shown):
            self._cursor = len(self._shown) - 1 if self._shown else None
        self.virtual_size = Size(self.size.width, len(self._shown))
        if self._cursor is None:
            self.scroll_to(y=max(0, len(self._shown) - self.size.height), animate=False)
        self.refresh()

    # --- cursor ---------------------------------------------------------------------------------

    @property
    def selected(self) -> LogLine | None:
        if self._cursor is None or not self._shown:
            return None
        return self._shown[self._cursor].line

    def select_index(self, index: int | None) -> None:
        if index is None or not self._shown:
            self._cursor = None
        else:
            self._cursor = max(0, min(index, len(self._shown) - 1))
            if self._cursor == len(self._shown) - 1 and not self.has_focus:
                self._cursor = None
        self._cache.clear()
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Selected(self.selected))

    def _scroll_to_cursor(self) -> None:
        if self._cursor is None:
            self.scroll_to(y=max(0, len(self._shown) - self.size.height), animate=False)
            return
        top, height = int(self.scroll_offset.y), max(1, self.size.height)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if not self._shown:
            return
        start = len(self._shown) if self._cursor is None else self._cursor
        self.select_index(start + delta)

    def action_first(self) -> None:
        self.select_index(0)

    def action_last(self) -> None:
        self.select_index(None)

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y
        if 0 <= index < len(self._shown):
            self.select_index(index)

    def on_key(self, event: events.Key) -> None:
        forward_late_key(self, event)

    def on_resize(self) -> None:
        self._cache.clear()
        self._changed()

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()

    # --- rendering ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self._shown) or width <= 0:
            return Strip.blank(width, base)
        entry = self._shown[index]
        wide = width >= 70
        cursor = index == self._cursor
        key = (entry.id, wide, cursor, cursor and self.has_focus)
        strip = self._cache.get(key)
        if strip is None or self._width != width:
            strip = self._render_entry(entry.line, wide, cursor, base, width)
            self._cache[key] = strip
            self._width = width
            if len(self._cache) > 4 * max(50, self.size.height):
                self._cache.clear()
        return strip

    def _render_entry(
        self, line: LogLine, wide: bool, cursor: bool, base: Style, width: int
    ) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"{line.seq:>6} ", "dim")
        if wide:
            text.append(f"{line.t_ms / 1000:>9.3f} ", "dim")
        text.append_text(line.body)
        if cursor:
            text.stylize("reverse" if self.has_focus else "underline")
        segments = [
            Segment(s.text, base + s.style if s.style else base)
            for s in text.render(self.app.console)
            if s.text != "\n"
        ]
        return Strip(segments).crop_extend(0, width, base)
