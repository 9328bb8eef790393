"""Provides the ensemble strip: one row per node, zktop style, coloured by state.

A line-API widget rather than a DataTable: a DataTable re-renders every cell whenever one
changes, which costs most of a frame under a message storm. Here each row is rendered
once per change of its values (and of the selection), and only visible rows are drawn.
Each column is as wide as its widest value (a zxid is never cut); when the width is short
the least needed columns are left out (console.widgets.columns). When the leader's row is
scrolled out of view it is pinned under the header, so the leader is always in sight.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.format import (
    deciding,
    marked_vote,
    ms_text,
    queues_text,
    send_total,
    state_text,
    vote_text,
)
from console.widgets.columns import Column, RowCells, fit, row
from console.widgets.commandbar import forward_late_key
from console.widgets.scrolling import PassStyled
from console.widgets.strips import to_strip
from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState, Sid, zxid_hex
from engine.trace.elections import Credential

COLUMNS = (
    Column("sid", "sid", 3, help="the server id (myid)"),
    Column(
        "state",
        "state",
        10,
        help="LOOKING (yellow), FOLLOWING (blue), LEADING (green), OBSERVING (cyan) or down;"
        " ‖ = paused",
    ),
    Column(
        "zab",
        "zab",
        5,
        drop=8,
        help="the ZAB phase: elect(ion), disc(overy), sync(hronization), bcast (broadcast:"
        " established)",
    ),
    Column(
        "lc",
        "lc",
        3,
        drop=2,
        help="logicalclock: the FLE round the node is in (≈: a real server's, as its model"
        " derives it)",
    ),
    Column(
        "proposal",
        "proposal",
        12,
        help="FLE's proposal in totalOrderPredicate's order: e<peer epoch> <zxid> n<leader>;"
        " underlined: the field by which the best proposal beats the best one for another"
        " leader",
    ),
    Column(
        "vote",
        "vote",
        8,
        drop=3,
        help="the current vote (what a decided node reports): r<round> e<peer epoch>"
        " n<leader>; r-1 is the vote a node has before its first election",
    ),
    Column(
        "timeout",
        "timeout",
        7,
        drop=10,
        help="the notification timeout lookForLeader waits (200 ms, doubling to 60 s)",
    ),
    Column(
        "recvset",
        "rset",
        4,
        drop=9,
        help="recvset: votes received in this round (≈: a real server's, derived by the shadow"
        " engine - the live check's model fed the notifications it logged)",
    ),
    Column("rq", "rq", 3, drop=4, help="QuorumCnxManager's receive queue (capacity 100)"),
    Column("fq", "fq", 3, drop=11, help="FLE's recvqueue: notifications for lookForLeader"),
    Column(
        "sq",
        "sq",
        3,
        drop=5,
        help="messages in the send queues, all peers (1 each); p: real servers' notifications"
        " held or delayed at the proxy",
    ),
    Column(
        "sendq",
        "send queues",
        11,
        drop=12,
        help="send queue depth per peer: peer:depth (p: at the proxy, for real servers)",
    ),
    Column(
        "epoch",
        "epoch",
        5,
        drop=7,
        help="durable epochs: currentEpoch/acceptedEpoch (1/1)",
    ),
    Column("zxid", "last zxid", 9, drop=6, help="the last logged zxid"),
    Column(
        "flags",
        "flags",
        5,
        drop=1,
        help="paused; fin: in the finalize wait; f<id>: the faults that touch the node",
    ),
    Column("last", "last event", 12, flex=True, help="the node's last state change or event"),
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
    text.rstrip()
    return text


def _depth(value: int) -> Text:
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


def cells(
    node: NodeView, faults: list[str], mark: tuple[Credential, int] | None = None
) -> dict[str, Text]:
    """Every column's value for one node (`mark`: see console.format.deciding; `?` where
    its evidence does not say)."""
    out = _cells(node, faults, mark)
    if "send_queues" in node.proxied and node.alive:
        for key in ("sq", "sendq"):  # not the server's queues: the proxy's, per link
            out[key] = Text.assemble(out[key], ("p", "dim"))
    if node.derived and node.alive:
        for key, name in UNKNOWN_FIELDS.items():
            if name in node.derived:  # the shadow engine's, not the server's own
                out[key] = Text.assemble(out[key], ("≈", "dim"))
    if node.unknown:
        unknown = node.unknown
        for key, name in UNKNOWN_FIELDS.items():
            if name in unknown:
                out[key] = Text("?", "dim")
        vote = node.current_vote
        if vote is not None and "current_vote.election_epoch" in unknown:
            out["vote"] = Text(f"r? e? n{vote.leader}")
        ce = "?" if "current_epoch" in unknown else str(node.current_epoch)
        ae = "?" if "accepted_epoch" in unknown else str(node.accepted_epoch)
        out["epoch"] = Text(f"{ce}/{ae}")
    return out


def _cells(
    node: NodeView, faults: list[str], mark: tuple[Credential, int] | None = None
) -> dict[str, Text]:
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
        "proposal": marked_vote(node.proposal, mark) if node.proposal else Text("-"),
        "vote": Text(vote_text(node.current_vote)),
        "timeout": Text(ms_text(node.not_timeout_ms) if node.not_timeout_ms else ""),
        "recvset": Text(str(len(node.recvset))),
        "rq": _depth(node.recv_queue),
        "fq": _depth(node.fle_recvqueue),
        "sq": _depth(send_total(node)),
        "sendq": Text(queues_text(node)),
        "epoch": Text(f"{node.current_epoch}/{node.accepted_epoch}"),
        "zxid": Text(zxid_hex(node.last_zxid)),
        "flags": flags_text(node, faults),
        "last": Text(node.last_event, "dim"),
    }


def proposal_mark(view: ClusterView) -> tuple[Credential, int] | None:
    """The deciding field among the running voters' proposals (console.format.deciding)."""
    return deciding(
        n.proposal
        for n in view.nodes
        if n.alive and n.proposal is not None and n.learner_type == "participant"
    )


def view_leader(view: ClusterView) -> Sid | None:
    """The leader to keep in sight: the serving one, else any running LEADING node."""
    if view.serving_leader is not None:
        return view.serving_leader
    leading = [n.sid for n in view.nodes if n.alive and n.state == ServerState.LEADING]
    return leading[0] if leading else None


SID_TYPING_S = 1.0
"""Digits typed within this long of each other make one sid (1 then 2: n12)."""


class EnsembleTable(PassStyled, ScrollView, can_focus=True):
    """The ensemble strip (select a node with ↑/↓, j/k, its sid's digits or a click)."""

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
    EnsembleTable > .ensemble--pinned { text-style: italic; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ensemble--header",
        "ensemble--cursor",
        "ensemble--pinned",
    }

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
        self._shown: dict[Sid, tuple[NodeView, list[str], tuple[Credential, int] | None]] = {}
        """What each row's cells were made from: a node that did not change since the
        last frame is not made into cells again."""
        self._widths_of: dict[Sid, dict[str, int]] = {}
        self._widths: dict[str, int] = {}
        self._cursor = 0
        self._leader: int | None = None
        """The index of the row to keep in sight (the leader's)."""
        self._cache: dict[tuple[int, bool, bool, str], Strip] = {}
        self._row_cells = RowCells()
        self._layout: tuple[int, list[Column]] | None = None
        self._typed = ("", float("-inf"))
        """Digits typed so far for a sid, and when the last one was."""

    # --- data ----------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return [c.key for c in self._columns(self.size.width or 80)]

    @property
    def selected_sid(self) -> Sid | None:
        return self._sids[self._cursor] if self._sids else None

    def get_cell(self, sid: Sid, key: str) -> Text:
        return self._cells[sid][key]

    def select_sid(self, sid: Sid) -> None:
        if sid in self._sids:
            self._move_to(self._sids.index(sid))

    def type_digit(self, digit: str, now: float) -> Sid | None:
        """A digit typed to select a node by sid: it continues the sid typed just before
        (within SID_TYPING_S) if that makes a sid, else starts a new one. The sid selected,
        or None if no node has it."""
        typed, when = self._typed
        longer = typed + digit if now - when <= SID_TYPING_S else ""
        for candidate in (longer, digit):
            if candidate and int(candidate) in self._sids:
                self._typed = (candidate, now)
                self.select_sid(int(candidate))
                return int(candidate)
        self._typed = (digit, now)
        return None

    def show(self, view: ClusterView, faults: dict[Sid, list[str]]) -> None:
        """Bring the strip to `view`; only rows whose values changed are re-rendered."""
        if view.sids != self._sids:
            selected = self.selected_sid
            self._sids = view.sids
            self._cache.clear()
            self._shown.clear()
            self._cursor = self._sids.index(selected) if selected in self._sids else 0
            self.refresh(layout=True)
            if selected not in self._sids:
                self.post_message(self.Selected(self.selected_sid))
        mark = proposal_mark(view)
        widths: dict[str, int] = {}
        changed: list[int] = []
        for y, node in enumerate(view.nodes):
            shown = (node, faults.get(node.sid, []), mark)
            if self._shown.get(node.sid) != shown:  # else its cells are those drawn
                self._shown[node.sid] = shown
                values = cells(*shown)
                self._widths_of[node.sid] = {k: text.cell_len for k, text in values.items()}
                if self._cells.get(node.sid) != values:
                    self._cells[node.sid] = values
                    self._cache = {k: v for k, v in self._cache.items() if k[0] != y}
                    changed.append(y)
            for key, width in self._widths_of[node.sid].items():
                widths[key] = max(widths.get(key, 0), width)
        if widths != self._widths:
            self._widths = widths
            self._layout = None
            self._cache.clear()
            self.refresh()
        elif changed:  # only the lines of the rows that changed are painted again
            width = max(self.virtual_size.width, self.size.width)
            for line, (row_index, _) in enumerate(self.rows(), start=1):
                if row_index in changed:
                    self.refresh(Region(0, line, width, 1))
        leader = view_leader(view)
        index = self._sids.index(leader) if leader in self._sids else None
        if index != self._leader:
            self._leader = index
            self._cache.clear()
            self.refresh()
        self._size_rows()

    def _size_rows(self) -> None:
        """The header and the rows, and a line more to scroll to when they do not fit (the
        pinned leader's row takes one)."""
        lines = len(self._sids) + 1
        self.virtual_size = Size(self.size.width, lines + 1 if lines > self.size.height else lines)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._sids) + 1

    def _columns(self, width: int) -> list[Column]:
        if self._layout is None or self._layout[0] != width:
            self._layout = (width, fit(COLUMNS, width, self._widths))
        return self._layout[1]

    # --- which row is on which line -------------------------------------------------------

    @property
    def _height(self) -> int:
        """Lines for rows (the header takes one)."""
        return max(1, self.size.height - 1)

    def rows(self) -> list[tuple[int, str]]:
        """The row on each line under the header: (index, pin), where pin is `↑` or `↓` for
        the leader's row pinned first because it is scrolled out of sight above or below."""
        top, height, count = int(self.scroll_offset.y), self._height, len(self._sids)
        shown = [(i, "") for i in range(top, min(count, top + height))]
        lead = self._leader
        if lead is not None and shown and not top <= lead < top + height:
            return [(lead, "↑" if lead < top else "↓"), *shown[: height - 1]]
        return shown

    # --- selection -----------------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        if not self._sids:
            return
        index = max(0, min(index, len(self._sids) - 1))
        if index == self._cursor:
            return
        self._cursor = index
        self._cache.clear()
        top, height = int(self.scroll_offset.y), self._height
        if index < top:
            top = index
        elif index >= top + height:
            top = index - height + 1
        lead = self._leader
        pinned = lead is not None and not top <= lead < top + height
        if pinned and index != lead and index >= top + height - 1:
            top += 1  # the pinned row takes a line
        self.scroll_to(y=top, animate=False)
        self.refresh()
        self.post_message(self.Selected(self.selected_sid))

    def action_move(self, delta: int) -> None:
        self._move_to(self._cursor + delta)

    def on_click(self, event: events.Click) -> None:
        rows = self.rows()
        if 1 <= event.y <= len(rows):
            self._move_to(rows[event.y - 1][0])

    def on_key(self, event: events.Key) -> None:
        forward_late_key(self, event)

    def on_resize(self) -> None:
        self._cache.clear()
        self._layout = None
        self._size_rows()
        self.refresh()

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()

    # --- rendering -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.line_style
        cols = self._columns(width)
        console = self.app.console
        if y == 0:
            style = base + self.get_component_rich_style("ensemble--header")
            labels = {c.key: Text(c.label) for c in cols}
            return self._row_cells.strip(labels, cols, style, console, width)
        rows = self.rows()
        if y > len(rows):
            return Strip.blank(width, base)
        index, pin = rows[y - 1]
        selected = index == self._cursor
        key = (index, selected, self.has_focus, pin)
        strip = self._cache.get(key)
        if strip is None:
            values = self._cells.get(self._sids[index], {})
            style = base
            if pin:
                style = style + self.get_component_rich_style("ensemble--pinned")
            if selected:
                style = style + self.get_component_rich_style("ensemble--cursor")
            if pin:
                line = Text(pin, "bold") + row(values, cols)[1:]
                strip = to_strip(line, style, console, width)
            else:
                strip = self._row_cells.strip(values, cols, style, console, width)
            self._cache[key] = strip
        return strip
