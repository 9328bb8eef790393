"""Provides the ensemble strip: one row per node, zktop style, coloured by state.

A line-API widget rather than a DataTable: a DataTable re-renders every cell whenever one
changes, which costs most of a frame under a message storm. Here each row is rendered
once per change of its values (and of the selection), and only visible rows are drawn.
Columns depend on the width: narrow below 120 columns, every column from 120.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.format import (
    ms_text,
    proposal_text,
    queues_text,
    send_total,
    state_text,
    vote_text,
)
from console.widgets.commandbar import forward_late_key
from engine.view import ClusterView, NodeView
from engine.vote import Sid, zxid_hex

WIDE_AT = 120
"""From this width the strip shows every column."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    wide_only: bool = False


COLUMNS = (
    Column("sid", "sid", 3),
    Column("state", "state", 10),
    Column("zab", "zab", 5, wide_only=True),
    Column("lc", "lc", 3),
    Column("proposal", "proposal", 16),
    Column("vote", "vote", 9),
    Column("timeout", "timeout", 7, wide_only=True),
    Column("recvset", "rset", 4, wide_only=True),
    Column("rq", "rq", 3),
    Column("fq", "fq", 3, wide_only=True),
    Column("sq", "sq", 3),
    Column("sendq", "send queues", 14, wide_only=True),
    Column("epoch", "epoch", 5, wide_only=True),
    Column("zxid", "last zxid", 11, wide_only=True),
    Column("flags", "flags", 7),
    Column("last", "last event", 12),
)
"""Every column; `last` takes what is left of the width (and is left out if too little)."""

ZAB_SHORT = {
    "ELECTION": "elect",
    "DISCOVERY": "disc",
    "SYNCHRONIZATION": "sync",
    "BROADCAST": "bcast",
}


def flags_text(node: NodeView, faults: list[str]) -> Text:
    text = Text()
    if node.alive and node.paused:
        text.append("paused ", "bold magenta")
    if node.finalizing:
        text.append("fin ", "yellow")
    if faults:
        text.append(",".join(faults), "bold red")
    return text


def _depth(value: int, down: bool) -> Text:
    if down:
        return Text()
    return Text(str(value), "bold yellow" if value else "dim")


UNKNOWN_FIELDS = {
    "state": "state",
    "zab": "zab_phase",
    "lc": "logicalclock",
    "proposal": "proposal",
    "vote": "current_vote",
    "timeout": "not_timeout_ms",
    "recvset": "recvset",
    "rq": "recv_queue",
    "fq": "fle_recvqueue",
    "sq": "send_queues",
    "sendq": "send_queues",
    "zxid": "last_zxid",
}
"""The NodeView field behind each column, for nodes whose evidence lacks some (imported)."""


def cells(node: NodeView, faults: list[str]) -> dict[str, Text]:
    """Every column's value for one node (`?` where its evidence does not say)."""
    out = _cells(node, faults)
    if node.unknown:
        unknown = node.unknown
        for key, name in UNKNOWN_FIELDS.items():
            if name in unknown:
                out[key] = Text("?", "dim")
        vote = node.current_vote
        if vote is not None and "current_vote.election_epoch" in unknown:
            out["vote"] = Text(f"{vote.leader} r? e?")
        ce = "?" if "current_epoch" in unknown else str(node.current_epoch)
        ae = "?" if "accepted_epoch" in unknown else str(node.accepted_epoch)
        out["epoch"] = Text(f"{ce}/{ae}")
    return out


def _cells(node: NodeView, faults: list[str]) -> dict[str, Text]:
    if not node.alive:
        blank = Text()
        return {
            "sid": Text(f"n{node.sid}", "bold"),
            "state": state_text(node),
            **dict.fromkeys(("zab", "lc", "proposal", "vote", "timeout", "recvset"), blank),
            **dict.fromkeys(("rq", "fq", "sq", "sendq"), blank),
            "epoch": Text(f"{node.current_epoch}/{node.accepted_epoch}", "dim"),
            "zxid": Text(zxid_hex(node.last_zxid), "dim"),
            "flags": flags_text(node, faults),
            "last": Text(node.last_event, "dim"),
        }
    return {
        "sid": Text(f"n{node.sid}", "bold"),
        "state": state_text(node),
        "zab": Text(ZAB_SHORT.get(node.zab_phase, node.zab_phase.lower())),
        "lc": Text(str(node.logicalclock)),
        "proposal": Text(proposal_text(node.proposal)),
        "vote": Text(vote_text(node.current_vote)),
        "timeout": Text(ms_text(node.not_timeout_ms) if node.not_timeout_ms else ""),
        "recvset": Text(str(len(node.recvset))),
        "rq": _depth(node.recv_queue, False),
        "fq": _depth(node.fle_recvqueue, False),
        "sq": _depth(send_total(node), False),
        "sendq": Text(queues_text(node)),
        "epoch": Text(f"{node.current_epoch}/{node.accepted_epoch}"),
        "zxid": Text(zxid_hex(node.last_zxid)),
        "flags": flags_text(node, faults),
        "last": Text(node.last_event, "dim"),
    }


def columns_for(width: int) -> list[Column]:
    """The columns that fit `width`."""
    wide = width >= WIDE_AT
    cols = [c for c in COLUMNS if wide or not c.wide_only]
    used = sum(c.width + 2 for c in cols if c.key != "last")
    last = width - used - 2
    if last < 8:
        return [c for c in cols if c.key != "last"]
    return [Column(c.key, c.label, last) if c.key == "last" else c for c in cols]


class EnsembleTable(ScrollView, can_focus=True):
    """The ensemble strip (select a node with ↑/↓, j/k, 1-9 or a click)."""

    DEFAULT_CSS = """
    EnsembleTable {
        height: auto;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    EnsembleTable > .ensemble--header { text-style: bold; color: $text-muted; }
    EnsembleTable > .ensemble--cursor { background: $boost; text-style: bold; }
    EnsembleTable:focus > .ensemble--cursor { background: $accent 35%; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"ensemble--header", "ensemble--cursor"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("home", "move(-1000)", show=False),
        Binding("end", "move(1000)", show=False),
    ]

    class Selected(Message):
        """Another node was selected."""

        def __init__(self, sid: Sid | None) -> None:
            super().__init__()
            self.sid = sid

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._sids: tuple[Sid, ...] = ()
        self._cells: dict[Sid, dict[str, Text]] = {}
        self._cursor = 0
        self._cache: dict[tuple[int, bool, bool], Strip] = {}
        self._width = 0
        self._last: tuple[ClusterView, dict[Sid, list[str]]] | None = None

    # --- data ----------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return [c.key for c in columns_for(self._width or self.size.width or 80)]

    @property
    def selected_sid(self) -> Sid | None:
        return self._sids[self._cursor] if self._sids else None

    def get_cell(self, sid: Sid, key: str) -> Text:
        return self._cells[sid][key]

    def select_sid(self, sid: Sid) -> None:
        if sid in self._sids:
            self._move_to(self._sids.index(sid))

    def show(self, view: ClusterView, faults: dict[Sid, list[str]]) -> None:
        """Bring the strip to `view`; only rows whose values changed are re-rendered."""
        self._last = (view, faults)
        if view.sids != self._sids:
            selected = self.selected_sid
            self._sids = view.sids
            self._cache.clear()
            self._cursor = self._sids.index(selected) if selected in self._sids else 0
            self.virtual_size = Size(self.size.width, len(self._sids) + 1)
            self.refresh(layout=True)
            if selected not in self._sids:
                self.post_message(self.Selected(self.selected_sid))
        for y, node in enumerate(view.nodes):
            values = cells(node, faults.get(node.sid, []))
            if self._cells.get(node.sid) != values:
                self._cells[node.sid] = values
                for key in [k for k in self._cache if k[0] == y]:
                    del self._cache[key]
                self.refresh_line(y + 1)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._sids) + 1

    # --- selection -----------------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        if not self._sids:
            return
        index = max(0, min(index, len(self._sids) - 1))
        if index == self._cursor:
            return
        self._cache = {k: v for k, v in self._cache.items() if k[0] not in (index, self._cursor)}
        self.refresh_line(self._cursor + 1)
        self.refresh_line(index + 1)
        self._cursor = index
        top, height = int(self.scroll_offset.y), max(1, self.size.height - 1)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)
        self.post_message(self.Selected(self.selected_sid))

    def action_move(self, delta: int) -> None:
        self._move_to(self._cursor + delta)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._move_to(int(self.scroll_offset.y) + event.y - 1)

    def on_key(self, event: events.Key) -> None:
        forward_late_key(self, event)

    def on_resize(self) -> None:
        self._cache.clear()
        self._width = self.size.width
        self.virtual_size = Size(self.size.width, len(self._sids) + 1)
        self.refresh()

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()

    # --- rendering -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if width != self._width:
            self._width = width
            self._cache.clear()
        cols = columns_for(width)
        if y == 0:
            header = Text("").join(Text(f" {c.label[: c.width]:<{c.width}} ") for c in cols)
            return self._strip(header, base + self.get_component_rich_style("ensemble--header"))
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self._sids):
            return Strip.blank(width, base)
        selected = index == self._cursor
        key = (index, selected, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            values = self._cells.get(self._sids[index], {})
            row = Text("").join(self._cell(values.get(c.key), c.width) for c in cols)
            style = base
            if selected:
                style = base + self.get_component_rich_style("ensemble--cursor")
            strip = self._strip(row, style)
            self._cache[key] = strip
        return strip

    @staticmethod
    def _cell(value: Text | None, width: int) -> Text:
        text = value.copy() if value is not None else Text()
        text.truncate(width, overflow="ellipsis", pad=True)
        return Text.assemble(" ", text, " ")

    def _strip(self, text: Text, style: Style) -> Strip:
        text.no_wrap = True
        text.end = ""
        segments = [
            Segment(s.text, style + s.style if s.style else style)
            for s in text.render(self.app.console)
            if s.text != "\n"
        ]
        return Strip(segments).crop_extend(0, self.size.width, style)
