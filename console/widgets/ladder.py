"""Provides the sequence diagram: `console.ladder`'s lanes and rows drawn, one text row each.

A line-API `ScrollView` under a fixed line of lane names: only the visible rows are drawn,
so a long window costs nothing until it is scrolled to. An arrow runs from its sender's
lane to its receiver's: solid once delivered, dashed while in flight, red and ending in
`✕` with the reason when dropped. A state change is a `◆` on its lane in the state's
colour; a command or fault runs across every lane. A lane is blank while its node is
down: from its crash (`▼`) or pause (`‖`) to its restart (`▲`) or resume (`▷`). Lanes the
filter leaves out are not drawn; an arrow to one of them runs to the edge. The cursor
(↑/↓, a click) selects a row and says so with `Selected`; without a cursor the diagram
follows the newest row.

While another panel shows, the events wait for it (the last BACKLOG of them) and are taken
when it is shown: under a storm, laying every event out in rows nobody sees was a tenth of
the console's CPU.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from console.format import STATE_STYLES
from console.ladder import Arrow, Ladder, LadderFilter, Row
from console.widgets.commandbar import forward_late_key
from console.widgets.log import CURSOR_BINDINGS
from console.widgets.scrolling import SteadyScrollView, set_virtual_size
from console.widgets.strips import to_strip
from engine.core.vote import Sid
from engine.trace import lives

SEQ_WIDTH = 7
LABEL_MIN = 26
"""The label column's narrowest: lanes get narrower (down to LANE_MIN) to leave it."""
LANE_MIN, LANE_MAX = 4, 12

FATE_STYLES = {"delivered": "", "flight": "dim", "dropped": "red"}
LIFE_GLYPHS = {"": "◆", "boot": "▲", "stop": "▼", "pause": "‖", "resume": "▷"}

BACKLOG = 10_000
"""Events kept for the diagram while it is hidden. Longer away, it starts over from the
nodes' lives before the last BACKLOG (its rows are a window of the run anyway: about a
fifth of a storm's events are sends, so this is ROW_CAP rows' worth; kept small, as every
event held is more for the garbage collector to walk)."""


class SequenceDiagram(SteadyScrollView, can_focus=True):
    """The live (or replayed) sequence diagram of the messages between the nodes."""

    DEFAULT_CSS = """
    SequenceDiagram {
        background: $surface;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *CURSOR_BINDINGS,
        Binding("enter", "screen.seek_selected", "Seek here"),
    ]

    class Selected(Message):
        """The cursor moved to a row (None: following the newest)."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._ladder = Ladder()
        self.filter = LadderFilter()
        self._shown: list[Row] = []
        self._cursor: Row | None = None
        self._backlog: deque[Mapping[str, Any]] = deque()
        """Events fed while hidden, not yet taken."""
        self._lives_cut: dict[Sid, lives.Life] | None = None
        """While hidden, the nodes' lives after the events let go of (None: none were)."""
        self._since: int | None = None
        """The seq the rows start from after such a start over (the header says so)."""

    # --- content ----------------------------------------------------------------------------

    @property
    def ladder(self) -> Ladder:
        self.catch_up()
        return self._ladder

    @property
    def shown(self) -> list[Row]:
        """The rows in the window that pass the filter, oldest first."""
        self.catch_up()
        return self._shown

    @property
    def selected(self) -> Row | None:
        return self._cursor

    def feed(self, batch: Iterable[Mapping[str, Any]]) -> None:
        """Take new events (O(1) each); redraw once. Hidden, keep them for later."""
        if self.display:
            self._take(batch)
            return
        backlog = self._backlog
        backlog.extend(batch)
        while len(backlog) > BACKLOG:
            self._let_go(backlog.popleft())

    def _let_go(self, event: Mapping[str, Any]) -> None:
        """An event too old to be taken: only what it says of a node's life is kept."""
        if self._lives_cut is None:
            ladder = self._ladder
            now = {sid: ladder.life_of(sid) for sid in ladder.lanes}
            self._lives_cut = {sid: life for sid, life in now.items() if life is not None}
        cut = self._lives_cut
        if event.get("kind") in lives.KINDS:
            cut.update(lives.life_changes(event, cut.get))

    def catch_up(self) -> None:
        """Take the events fed while hidden (the screen calls it when the diagram shows)."""
        if not self._backlog:
            return
        events = list(self._backlog)
        self._backlog.clear()
        if self._lives_cut is not None:
            self._ladder.restart(self._lives_cut)
            self._lives_cut = None
            self._since = events[0].get("seq")
            self._shown.clear()
            self._cursor = None
        self._take(events)

    def on_show(self) -> None:
        self.catch_up()

    def _take(self, batch: Iterable[Mapping[str, Any]]) -> None:
        ladder = self._ladder
        newest = ladder.rows[-1] if ladder.rows else None
        for event in batch:
            ladder.feed(event)
        rows = ladder.rows
        if not rows or rows[-1] is newest:
            self.refresh()  # an arrow may have been delivered or dropped
            return
        fresh = []
        for row in reversed(rows):
            if row is newest:
                break
            fresh.append(row)
        self._shown += [r for r in reversed(fresh) if self.filter.passes(r)]
        self._trim()
        self._changed()

    def set_lanes(self, sids: list[Sid]) -> None:
        if any(s not in self._ladder.states for s in sids):
            self._ladder.set_lanes(sids)
            self.refresh()

    def set_filter(self, new: LadderFilter) -> None:
        self.filter = new
        self._shown = [r for r in self.ladder.rows if new.passes(r)]
        if self._cursor is not None and self._cursor not in self._shown:
            self._cursor = None
        self._changed()

    def truncate_after(self, seq: int) -> None:
        self.catch_up()
        self._ladder.truncate_after(seq)
        self._shown = [r for r in self._shown if r.seq <= seq]
        if self._cursor is not None and self._cursor.seq > seq:
            self._cursor = None
        self._changed()

    def refill(
        self,
        events: Sequence[Mapping[str, Any]],
        down_after: set[Sid],
        before: Sequence[Mapping[str, Any]],
    ) -> None:
        """Show only `events`, a window that may begin mid-run (Ladder.refill)."""
        self._backlog.clear()
        self._lives_cut = self._since = None
        self._ladder.refill(events, down_after, before)
        self._shown = [r for r in self._ladder.rows if self.filter.passes(r)]
        self._cursor = None
        self._changed()

    def _trim(self) -> None:
        rows = self._ladder.rows
        first = rows[0].seq if rows else 0
        gone = 0
        while gone < len(self._shown) and self._shown[gone].seq < first:
            gone += 1
        if gone:
            if self._cursor is not None and self._cursor.seq < first:
                self._cursor = None
            del self._shown[:gone]

    def _changed(self) -> None:
        set_virtual_size(self, Size(self.size.width, len(self._shown) + 1))
        if self._cursor is None:
            self.scroll_to(y=max(0, len(self._shown) + 1 - self.size.height), animate=False)
        self.refresh()

    # --- cursor ---------------------------------------------------------------------------------

    def _index(self) -> int | None:
        if self._cursor is None:
            return None
        try:
            return self._shown.index(self._cursor)
        except ValueError:
            return None

    def select_index(self, index: int | None) -> None:
        if index is None or not self._shown:
            self._cursor = None
        else:
            self._cursor = self._shown[max(0, min(index, len(self._shown) - 1))]
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Selected(self._cursor))

    def _scroll_to_cursor(self) -> None:
        index = self._index()
        rows = max(1, self.size.height - 1)
        if index is None:
            self.scroll_to(y=max(0, len(self._shown) + 1 - self.size.height), animate=False)
            return
        top = int(self.scroll_offset.y)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + rows:
            self.scroll_to(y=index - rows + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if not self._shown:
            return
        index = self._index()
        self.select_index((len(self._shown) if index is None else index) + delta)

    def action_first(self) -> None:
        self.select_index(0)

    def action_last(self) -> None:
        self.select_index(None)

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if 0 <= index < len(self._shown):
            self.select_index(index)

    def on_key(self, event: events.Key) -> None:
        forward_late_key(self, event)

    def on_resize(self) -> None:
        self._changed()

    # --- drawing --------------------------------------------------------------------------------

    def lanes(self, width: int) -> list[Sid]:
        """Every lane if they fit (a row's two ends both in sight); else the filter's."""
        every, nodes = self._ladder.lanes, self.filter.nodes
        if not nodes or len(every) * LANE_MIN <= width - SEQ_WIDTH - LABEL_MIN:
            return every
        return [s for s in every if s in nodes]

    def _geometry(self, width: int, lanes: list[Sid]) -> tuple[int, int]:
        """(lane width, how many lanes fit)."""
        room = max(0, width - SEQ_WIDTH - LABEL_MIN)
        if not lanes:
            return LANE_MIN, 0
        lane = max(LANE_MIN, min(LANE_MAX, room // len(lanes)))
        return lane, min(len(lanes), max(1, (width - SEQ_WIDTH - 1) // lane))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.line_style
        lanes = self.lanes(width)
        lane_w, fits = self._geometry(width, lanes)
        lanes = lanes[:fits]
        if y == 0:
            text = self._header(lanes, lane_w)
        else:
            index = int(self.scroll_offset.y) + y - 1
            if index >= len(self._shown) or width <= 0:
                return Strip.blank(width, base)
            row = self._shown[index]
            text = self._row(row, lanes, lane_w)
            if row is self._cursor:
                text.stylize("reverse" if self.has_focus else "underline")
        text.no_wrap, text.overflow, text.end = True, "ellipsis", ""
        text.truncate(width, overflow="ellipsis")
        return to_strip(text, base, self.app.console, width)

    def _header(self, lanes: list[Sid], lane_w: int) -> Text:
        text = Text(" " * SEQ_WIDTH, "bold")
        for sid in lanes:
            state = self._ladder.states.get(sid, "down")
            text.append(f"n{sid}".center(lane_w)[:lane_w], STATE_STYLES.get(state, "bold"))
        hidden = len(self._ladder.lanes) - len(lanes)
        if hidden and not self.filter.nodes:
            text.append(f" +{hidden} lanes: / n1-9", "dim")
        elif self._ladder.dropped_rows:
            text.append(f" {self._ladder.dropped_rows:,} older rows: the log/trace", "dim")
        elif self._since is not None:
            text.append(f" since seq {self._since}; older: the log/trace", "dim")
        return text

    def _row(self, row: Row, lanes: list[Sid], lane_w: int) -> Text:
        cells = [(" ", "")] * (len(lanes) * lane_w)
        mid = lane_w // 2
        for i, sid in enumerate(lanes):
            if sid not in row.down:
                cells[i * lane_w + mid] = ("│", "dim")
        label: Text
        if row.arrow is not None:
            label = self._arrow(row.arrow, row.kind, cells, lanes, lane_w)
        elif row.kind == "state" and row.node is not None:
            style = STATE_STYLES.get(row.state, "bold")
            if row.node in lanes:
                glyph = LIFE_GLYPHS[row.life]
                cells[lanes.index(row.node) * lane_w + mid] = (glyph, style)
            label = Text.assemble((f"n{row.node} ", "bold"), (row.text, style))
        else:
            for at in range(len(cells)):
                if cells[at][0] == " ":
                    cells[at] = ("┈", "magenta")
            label = Text(row.text, "bold magenta")
        text = Text(f"{row.seq:>{SEQ_WIDTH - 1}} ", "dim")
        for char, style in cells:
            text.append(char, style)
        text.append(" ")
        text.append_text(label)
        return text

    def _arrow(
        self,
        arrow: Arrow,
        kind: str,
        cells: list[tuple[str, str]],
        lanes: list[Sid],
        lane_w: int,
    ) -> Text:
        mid = lane_w // 2
        span = len(cells)

        def col(sid: Sid) -> int:
            if sid in lanes:
                return lanes.index(sid) * lane_w + mid
            return -1 if not lanes or sid < lanes[0] else span  # off the edge

        a, b = col(arrow.src), col(arrow.dst)
        style = FATE_STYLES[arrow.fate] or ("cyan" if kind == "packet" else "bold")
        line = "╌" if arrow.fate == "flight" else "─"
        right = b > a
        lo, hi = (a, b) if right else (b, a)
        for at in range(max(0, lo + 1), min(span, hi)):
            cells[at] = (line, style)
        if 0 <= a < span:
            cells[a] = ("├" if right else "┤", style)
        head = "✕" if arrow.fate == "dropped" else ("▶" if right else "◀")
        tip = b - 1 if right else b + 1
        if 0 <= tip < span and tip != a:
            cells[tip] = (head, style)
        label = Text(f"{arrow.msg} ", "dim")
        label.append(arrow_label(arrow), style)
        if arrow.fate == "dropped":
            label.append(f" ✕ {arrow.reason}", "bold red")
        return label


def arrow_label(arrow: Arrow) -> str:
    """What a message carries, short: `r1 e0 0x0 n5` (a vote: round first, then
    totalOrderPredicate's order), `L` etc. for a decided sender; a packet's type."""
    f = arrow.fields
    if not f:
        return f"n{arrow.src}→n{arrow.dst}"
    if "type" in f:
        epoch = f" e{f['epoch']}" if "epoch" in f else ""
        return f"{f['type']}{epoch}"
    state = str(f.get("state", ""))
    short = {"FOLLOWING": "F ", "LEADING": "L ", "OBSERVING": "O "}.get(state, "")
    return (
        f"{short}r{f.get('election_epoch', '?')} e{f.get('peer_epoch', '?')}"
        f" {f.get('zxid', '?')} n{f.get('leader', '?')}"
    )
