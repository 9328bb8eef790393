"""Provides the elections timeline: one row per election, newest last, from the backend's
`engine.trace.elections` timeline (so a replay shows the same rows however it got there).

Beside FLE's own "took" (ZooKeeper's LEADER ELECTION TOOK) each row has the outage it
ended: the whole time without a serving leader. Focused (Tab), ↑/↓ select a row and Enter
asks for its explanation (`Explain`: the screen shows engine.explain's answer); the
timeline follows the newest row unless one above it is selected. One line high, it is a
summary of the newest elections.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from console.format import clock_text, ms_text
from console.widgets.columns import Column, fit, header, row
from console.widgets.commandbar import forward_late_key
from console.widgets.scrolling import SteadyScrollView, set_virtual_size
from console.widgets.strips import to_strip
from engine.trace.elections import ABANDONED, ELECTED, ONGOING, REJOINED, Election, Timeline

COLUMNS = (
    Column("started", "started", 7, help="when its first node began to look (lookForLeader)"),
    Column(
        "result",
        "result",
        8,
        help="elected: its leader established the epoch; rejoined: its nodes joined a leader"
        " already serving; looking / syncing: going on (syncing: the leader has decided and"
        " gathers its quorum); abandoned: every node in it stopped",
    ),
    Column("leader", "leader", 6, help="who leads (rejoined: whom they joined)"),
    Column("epoch", "epoch", 5, drop=6, help="the epoch it established (rejoined: joined)"),
    Column("round", "round", 5, drop=4, help="the leader's election round (logicalclock)"),
    Column(
        "took",
        "took",
        7,
        help="FLE's time on the leader: ZooKeeper's LEADER ELECTION TOOK (rejoined: the"
        " slowest node's)",
    ),
    Column("slowest", "slowest", 7, drop=3, help="the slowest node's took"),
    Column(
        "outage",
        "outage",
        7,
        drop=1,
        help="the whole time without a serving leader: from what ended the last one (a"
        " crash, pause, partition, lost quorum, or the start) until this leader was"
        " established; … while it goes on",
    ),
    Column("nodes", "nodes", 5, drop=2, help="how many nodes decided in it"),
    Column(
        "won",
        "won on",
        8,
        drop=5,
        help="the field of (epoch, zxid, sid) by which the leader beat the best other voter"
        " in it (totalOrderPredicate): sid>n4 = same epoch and zxid as n4, higher sid;"
        " n5 better = n5 had the better credential but was not among those who decided",
    ),
    Column("cause", "cause", 10, flex=True, help="what began it (and who is still looking)"),
)
"""Every column; `cause` takes what is left of the width."""

RIGHT = frozenset({"started", "epoch", "round", "took", "slowest", "outage", "nodes"})
RESULT_STYLES = {ELECTED: "green", REJOINED: "dim", ONGOING: "bold yellow", ABANDONED: "red"}


def result_word(e: Election) -> str:
    if e.status == ONGOING:
        return "syncing" if e.leader is not None else "looking"
    return e.status


def won_text(e: Election) -> str:
    """`sid>n4`: the field by which the leader beat the runner-up; `n5 better`: the
    runner-up had the better credential (it was not among those who decided)."""
    runner, leader = e.runner_up, e.leader_credential
    if runner is None or leader is None:
        return ""
    if e.won_on is not None:
        return f"{e.won_on}>n{runner[2]}"
    return f"n{runner[2]} better" if runner > leader else ""


def row_cells(e: Election, now_ms: float) -> dict[str, Text]:
    """One election's values (`now_ms`: the clock, for what is still going on)."""
    ongoing = e.status == ONGOING
    took = e.slowest_ms if e.status == REJOINED else e.leader_took_ms
    outage = e.outage.duration_ms(now_ms) if e.outage is not None else None
    cause = e.cause
    if ongoing and e.looking:
        cause = " ".join(f"n{s}" for s in e.looking) + " looking" + (f" · {cause}" if cause else "")
    return {
        "started": Text(clock_text(e.started_ms)),
        "result": Text(result_word(e), RESULT_STYLES.get(e.status, "")),
        "leader": Text(
            f"n{e.leader}" if e.leader is not None else "-",
            "bold green" if e.status == ELECTED else "",
        ),
        "epoch": Text(str(e.epoch) if e.epoch is not None else "-"),
        "round": Text(f"r{e.round}" if e.round is not None else "-"),
        "took": Text(ms_text(took) if took is not None else ("…" if ongoing else "-"), "bold"),
        "slowest": Text(ms_text(e.slowest_ms)),
        "outage": Text(
            ms_text(outage) + ("…" if e.outage is not None and e.outage.ongoing else "")
            if outage is not None
            else "-",
            "bold red" if e.outage is not None and e.outage.ongoing else "",
        ),
        "nodes": Text(str(len(e.took))),
        "won": Text(won_text(e)),
        "cause": Text(cause, "dim"),
    }


class ElectionsTimeline(SteadyScrollView, can_focus=True):
    """Who led which epoch, how long FLE took and how long the cluster had no leader."""

    DEFAULT_CSS = """
    ElectionsTimeline {
        height: 1;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    ElectionsTimeline > .timeline--header { text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--header"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_rows(-1)", "Up", show=False),
        Binding("down,j", "scroll_rows(1)", "Down", show=False),
        Binding("pageup", "scroll_rows(-5)", show=False),
        Binding("pagedown", "scroll_rows(5)", show=False),
        Binding("home", "scroll_rows(-100000)", show=False),
        Binding("end", "scroll_rows(100000)", "Follow", show=False),
        Binding("enter", "explain", "Explain"),
    ]

    class Explain(Message):
        """Enter on a row: explain this election (its outage)."""

        def __init__(self, election: Election) -> None:
            super().__init__()
            self.election = election

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._timeline = Timeline()
        self._rows: list[dict[str, Text]] = []
        self._now = 0.0
        self._follow = True
        """Keep the newest row in sight and selected (until a row above it is selected)."""
        self._selected = 0
        """The selected row (shown while the timeline has the focus)."""
        self._layout: tuple[int, list[Column]] | None = None
        self._strips: dict[int, tuple[dict[str, Text], tuple[object, ...], Strip]] = {}
        """Each drawn row's strip by id(values), with its values and what else it was drawn
        from: the rows of ended elections are the same values from one frame to the next
        and are drawn once."""

    # --- data ------------------------------------------------------------------------------

    @property
    def elections(self) -> tuple[Election, ...]:
        return self._timeline.elections

    def set_timeline(self, timeline: Timeline, now_ms: float) -> None:
        """Show `timeline` at the clock `now_ms` (rows still going on count up to it)."""
        ongoing = any(e.status == ONGOING and e.outage is not None for e in timeline.elections)
        if timeline == self._timeline and (now_ms == self._now or not ongoing):
            return
        # Ended elections are the same records from one timeline to the next: keep their rows.
        kept = {
            id(e): values
            for e, values in zip(self._timeline.elections, self._rows, strict=True)
            if e.status != ONGOING
        }
        before = (len(self._rows), int(self.scroll_offset.y), self._layout)
        self._timeline, self._now = timeline, now_ms
        self._rows = [kept.get(id(e)) or row_cells(e, now_ms) for e in timeline.elections]
        rows = {id(values) for values in self._rows}
        self._strips = {k: v for k, v in self._strips.items() if k in rows}
        self._layout = None
        set_virtual_size(self, Size(self.size.width, len(self._rows) + 1))
        if self._follow:
            self._selected = max(0, len(self._rows) - 1)
            self.scroll_to(y=self._bottom, animate=False)
        kept_rows = {id(values) for values in kept.values()}
        self._refresh_rows(before, [i for i, v in enumerate(self._rows) if id(v) not in kept_rows])

    def _refresh_rows(self, before: tuple[int, int, object], changed: list[int]) -> None:
        """Repaint the lines of the `changed` rows only, if nothing else moved (the rows,
        the scroll, the columns): under a storm only the running election's row counts up."""
        width = self.scrollable_content_region.width
        count, top, layout = before
        if (
            self.size.height <= 1
            or not isinstance(layout, tuple)
            or (count, top) != (len(self._rows), int(self.scroll_offset.y))
            or self._columns(width) != layout[1]
        ):
            self.refresh()
            return
        for index in changed:
            if top <= index < top + self._height:
                self.refresh(Region(0, index - top + 1, width, 1))

    @property
    def selected(self) -> Election | None:
        """The election of the selected row."""
        elections = self._timeline.elections
        return elections[self._selected] if 0 <= self._selected < len(elections) else None

    def action_explain(self) -> None:
        election = self.selected
        if election is not None:
            self.post_message(self.Explain(election))

    @property
    def _bottom(self) -> int:
        return max(0, len(self._rows) - self._height)

    @property
    def _height(self) -> int:
        """Lines for rows (the header takes one)."""
        return max(1, self.size.height - 1)

    def action_scroll_rows(self, delta: int) -> None:
        """Move the selection (and scroll to keep it in sight)."""
        last = len(self._rows) - 1
        self._selected = max(0, min(last, self._selected + delta))
        self._follow = self._selected >= last
        top = int(self.scroll_offset.y)
        if self._selected < top:
            top = self._selected
        elif self._selected >= top + self._height:
            top = self._selected - self._height + 1
        self.scroll_to(y=max(0, min(self._bottom, top)), animate=False)
        self.refresh()

    def on_key(self, event: events.Key) -> None:
        forward_late_key(self, event)

    def on_focus(self) -> None:
        self.refresh()  # the selected row shows while focused

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        if self._follow:
            self.scroll_to(y=self._bottom, animate=False)
        self.refresh()

    # --- text -------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """What it shows now, as plain text."""
        height = self.size.height or 1
        return "\n".join(self.line(y, self.size.width or 200, height).plain for y in range(height))

    def row_texts(self, width: int = 200) -> list[str]:
        """Every row (not just the visible ones), as plain text."""
        return [row(values, self._columns(width), RIGHT).plain for values in self._rows]

    def _columns(self, width: int) -> list[Column]:
        """The columns that fit `width` (worked out again only when the rows change)."""
        if self._layout is None or self._layout[0] != width:
            widths: dict[str, int] = {}
            for values in self._rows:
                for key, text in values.items():
                    widths[key] = max(widths.get(key, 0), text.cell_len)
            self._layout = (width, fit(COLUMNS, width, widths))
        return self._layout[1]

    def line(self, y: int, width: int, height: int) -> Text:
        if height <= 1:
            return self._summary(width)
        if not self._rows:
            if y == 0:
                return Text.assemble(("elections ", "bold"), ("none yet", "dim"))
            return Text()
        cols = self._columns(width)
        if y == 0:
            return header(cols, RIGHT)
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self._rows):
            return Text()
        line = row(self._rows[index], cols, RIGHT)
        if index == self._selected and self.has_focus:
            line.stylize("reverse")
        return line

    def _summary(self, width: int) -> Text:
        """One line: the newest elections that fit, newest last."""
        line = Text("elections", "bold")
        elections = self._timeline.elections
        if not elections:
            line.append(" none yet", "dim")
            return line
        room = width - line.cell_len - 8
        shown: list[Text] = []
        used = 0
        for e, values in zip(reversed(elections), reversed(self._rows), strict=True):
            item = _item(e, values)
            used += item.cell_len + 3
            if used > room + 3:
                break
            shown.insert(0, item)
        if len(shown) < len(elections):
            line.append(f" (+{len(elections) - len(shown)})", "dim")
        line.append(" ")
        line.append_text(Text(" · ", "dim").join(shown))
        return line

    # --- rendering --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width, height = self.scrollable_content_region.width, self.size.height
        style = self.line_style
        if y == 0 and height > 1:
            style = style + self.get_component_rich_style("timeline--header")
        index = int(self.scroll_offset.y) + y - 1
        if y == 0 or height <= 1 or not 0 <= index < len(self._rows):
            return self._strip(self.line(y, width, height), style)
        values = self._rows[index]
        drawn = (index == self._selected and self.has_focus, self._columns(width), style)
        cached = self._strips.get(id(values))
        if cached is not None and cached[0] is values and cached[1] == drawn:
            return cached[2]
        strip = self._strip(self.line(y, width, height), style)
        self._strips[id(values)] = (values, drawn, strip)
        return strip

    def _strip(self, text: Text, style: Style) -> Strip:
        return to_strip(text, style, self.app.console, self.scrollable_content_region.width)


def _item(e: Election, values: dict[str, Text]) -> Text:
    """One election in the one-line summary: `r1 n5 e1 201ms`, `looking n1 n2 outage 1.2s…`."""
    if e.status == ONGOING:
        text = Text(result_word(e), "bold yellow")
        text.append(" " + " ".join(f"n{s}" for s in e.looking) if e.looking else "")
        if e.outage is not None:
            text.append(" outage ")
            text.append_text(values["outage"])
        return text
    text = Text(f"r{e.round} " if e.round is not None else "")
    text.append_text(values["leader"])
    text.append(f" e{e.epoch}" if e.epoch is not None else f" {result_word(e)}", "dim")
    text.append(" ")
    text.append_text(values["took"])
    return text
