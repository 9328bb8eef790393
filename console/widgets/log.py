"""Provides the message log: one line per event, capped, filterable, with a cursor.

It is a line-API `ScrollView` (only the visible lines are rendered, each once), so a storm
of events costs an append per line and one refresh per frame. The cursor selects a line
(a message for the deliver/drop/hold keys); while the cursor is on the last line (or
unset) the log follows new lines.

Quiet events (core steps, quorum packets such as the leader's PINGs, connection changes)
are most of a healthy cluster's traffic. They are kept apart, with a cap of their own, so
they never push the election out of the log; `v` shows them. A long run of them between
two shown lines gets one line that counts them in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.strip import Strip

from console.format import LogLine
from console.widgets.commandbar import forward_late_key
from console.widgets.scrolling import SteadyScrollView, set_virtual_size
from console.widgets.strips import to_strip

LOG_CAP = 2000
"""Lines kept of each sort, shown and quiet; the full history is in the trace file."""

FOLD_SHOWN = 50
"""A run of quiet events gets its line once it is this long (shorter ones are only
hidden, as the few packets between two state changes of an election)."""


CURSOR_BINDINGS: list[BindingType] = [
    Binding("up,k", "cursor(-1)", "Up", show=False),
    Binding("down,j", "cursor(1)", "Down", show=False),
    Binding("pageup", "cursor(-10)", show=False),
    Binding("pagedown", "cursor(10)", show=False),
    Binding("home", "first", show=False),
    Binding("end", "last", "Follow", show=False),
]
"""The keys that move a cursor over rows (the log's and the sequence diagram's)."""


class FoldLine(LogLine):
    """A run of quiet events (seq `first`..`seq`), counted in place."""

    __slots__ = ("count", "first")

    def __init__(self, line: LogLine) -> None:
        super().__init__(line.seq, line.t_ms, "fold")
        self.first = line.seq
        self.count = 1

    def add(self, line: LogLine) -> None:
        self.count += 1
        self.seq, self.t_ms = line.seq, line.t_ms
        self._body = None

    def truncate_after(self, seq: int) -> None:
        """Forget the events after `seq` (they were a contiguous run)."""
        if self.seq > seq:
            self.count = max(0, self.count - (self.seq - seq))
            self.seq = seq
            self._body = None

    @property
    def body(self) -> Text:
        if self._body is None:
            self._body = Text.assemble(
                ("⋯ ", "dim"),
                (f"{self.count:,}", "dim bold"),
                (
                    " quiet events (PINGs and other quorum packets, core steps, other log lines)"
                    " · v shows them",
                    "dim",
                ),
            )
        return self._body


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


class MessageLog(SteadyScrollView, can_focus=True):
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
        *CURSOR_BINDINGS,
        Binding("d", "screen.deliver", "Deliver msg"),
        Binding("x", "screen.drop", "Drop msg"),
        Binding("h", "screen.hold", "Hold link"),
        Binding("enter", "screen.seek_selected", "Seek here"),
    ]

    show_verbose: var[bool] = var(False)
    """Show every quiet event (core steps, quorum packets, connections) instead of folds."""
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
        """The lines shown unless `v` (quiet runs as folds), oldest first."""
        self._quiet: list[_Entry] = []
        """The quiet events' own lines, oldest first."""
        self._shown: list[_Entry] = []
        self._next_id = 0
        self._cursor: int | None = None
        """Index into `_shown`; None follows the tail."""
        self._cache: dict[int, dict[tuple[bool, bool, bool], Strip]] = {}
        """Drawn lines by entry id, then by how they were drawn (wide, cursor, focus)."""
        self._width = 0
        self._verbose = False
        self._pattern = ""
        """`show_verbose` and `pattern` as plain attributes: a reactive costs a few
        microseconds a read, and the lines of a storm read them once each."""

    # --- content ----------------------------------------------------------------------------------

    @property
    def lines(self) -> list[LogLine]:
        """Every kept line but the quiet ones (filtered or not; folds included), oldest
        first."""
        return [e.line for e in self._entries]

    @property
    def quiet(self) -> list[LogLine]:
        """The kept lines of quiet events, oldest first."""
        return [e.line for e in self._quiet]

    @property
    def shown(self) -> list[LogLine]:
        """The lines that pass the filter, oldest first."""
        return [e.line for e in self._shown]

    def add(self, lines: Iterable[LogLine]) -> None:
        """Append lines (only the last `cap` of each sort are kept)."""
        changed = False
        shown = len(self._shown)
        for line in lines:
            changed = True
            if line.verbose:
                self._add_quiet(line)
            else:
                self._append(self._entries, line)
        if not changed:
            return
        for entries in (self._entries, self._quiet):
            if len(entries) > self.cap + self.cap // 4:
                self._trim(entries)
        if len(self._shown) != shown:
            self._changed()
        elif self._shown and isinstance(self._shown[-1].line, FoldLine):
            # Only quiet events (a healthy cluster's PINGs): the last line counts them.
            self.refresh_line(len(self._shown) - 1)

    def _append(self, entries: list[_Entry], line: LogLine) -> _Entry:
        entry = _Entry(self._next_id, line)
        self._next_id += 1
        entries.append(entry)
        if (entries is self._quiet) == self._verbose and self._passes(line):
            self._shown.append(entry)
        return entry

    def _add_quiet(self, line: LogLine) -> None:
        self._append(self._quiet, line)
        last = self._entries[-1] if self._entries else None
        if last is not None and isinstance(last.line, FoldLine):
            last.line.add(line)
            self._cache.pop(last.id, None)  # a storm folds here at every quiet event
            if last.line.count == FOLD_SHOWN and not self._verbose and self._passes(last.line):
                self._shown.append(last)
        else:
            self._append(self._entries, FoldLine(line))

    def truncate_after(self, seq: int) -> None:
        """Drop the lines of events after `seq` (a replay moved back)."""
        self._entries = [e for e in self._entries if e.line.seq <= seq or _fold_from(e, seq)]
        self._quiet = [e for e in self._quiet if e.line.seq <= seq]
        for e in self._entries[-1:]:
            if isinstance(e.line, FoldLine):
                e.line.truncate_after(seq)
        self._cache.clear()
        self._refilter()

    def clear(self) -> None:
        self._entries.clear()
        self._quiet.clear()
        self._shown.clear()
        self._cursor = None
        self._cache.clear()
        self._changed()

    def _trim(self, entries: list[_Entry]) -> None:
        gone = {e.id for e in entries[: -self.cap]}
        del entries[: -self.cap]
        before = len(self._shown)
        self._shown = [e for e in self._shown if e.id not in gone]
        if self._cursor is not None:
            self._cursor = max(0, self._cursor - (before - len(self._shown)))
        for gone_id in gone:
            self._cache.pop(gone_id, None)

    def _passes(self, line: LogLine) -> bool:
        if isinstance(line, FoldLine) and line.count < FOLD_SHOWN:
            return False
        return not self._pattern or matches(line, self._pattern)  # no text made if no filter

    def _refilter(self) -> None:
        keep = self.selected
        if self._verbose:
            every = [e for e in self._entries if not isinstance(e.line, FoldLine)]
            every = sorted(every + self._quiet, key=lambda e: e.id)
        else:
            every = self._entries
        self._shown = [e for e in every if self._passes(e.line)]
        self._cursor = None
        if keep is not None:
            for i, e in enumerate(self._shown):
                if e.line is keep:
                    self._cursor = i
        self._cache.clear()
        self._changed()

    def watch_show_verbose(self, verbose: bool) -> None:
        self._verbose = verbose
        self._refilter()

    def watch_pattern(self, pattern: str) -> None:
        self._pattern = pattern
        self._refilter()

    def _changed(self) -> None:
        if self._cursor is not None and self._cursor >= len(self._shown):
            self._cursor = len(self._shown) - 1 if self._shown else None
        set_virtual_size(self, Size(self.size.width, len(self._shown)))
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
        width = self.scrollable_content_region.width
        base = self.line_style
        if index >= len(self._shown) or width <= 0:
            return Strip.blank(width, base)
        entry = self._shown[index]
        wide = width >= 70
        cursor = index == self._cursor
        key = (wide, cursor, cursor and self.has_focus)
        drawn = self._cache.get(entry.id)
        strip = drawn.get(key) if drawn is not None else None
        if strip is None or self._width != width:
            strip = self._render_entry(entry.line, wide, cursor, base, width)
            if len(self._cache) > 4 * max(50, self.size.height):
                self._cache.clear()
            self._cache.setdefault(entry.id, {})[key] = strip
            self._width = width
        return strip

    def _render_entry(
        self, line: LogLine, wide: bool, cursor: bool, base: Style, width: int
    ) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"{line.seq:>6} ", "dim")
        if wide:
            text.append(f"{line.t_ms / 1000:>9.3f} ", "dim")
        text.append_text(line.body)
        text.truncate(width, overflow="ellipsis")
        if cursor:
            text.stylize("reverse" if self.has_focus else "underline")
        return to_strip(text, base, self.app.console, width)


def _fold_from(entry: _Entry, seq: int) -> bool:
    """A fold that began by `seq` keeps its part up to it."""
    return isinstance(entry.line, FoldLine) and entry.line.first <= seq
