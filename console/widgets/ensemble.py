"""Provides the ensemble strip: one row per node, zktop style, coloured by state.

Only the cells whose value changed are updated on each frame (DataTable refreshes are
costly when done wholesale); columns are rebuilt only when the width class changes
(narrow below 120 columns, wide from 120).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from console.format import (
    ms_text,
    proposal_text,
    queues_text,
    send_total,
    state_text,
    vote_text,
)
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
"""Every column; `last` takes what is left of the width."""

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
        text.append("⚡" + ",".join(faults), "bold red")
    return text


def cells(node: NodeView, faults: list[str]) -> dict[str, Text | str]:
    """Every column's value for one node."""
    down = not node.alive
    dim = "dim" if down else ""
    return {
        "sid": Text(f"n{node.sid}", "bold"),
        "state": state_text(node),
        "zab": ZAB_SHORT.get(node.zab_phase, node.zab_phase.lower()) if not down else "",
        "lc": Text(str(node.logicalclock), dim) if not down else "",
        "proposal": proposal_text(node.proposal) if not down else "",
        "vote": vote_text(node.current_vote) if not down else "",
        "timeout": ms_text(node.not_timeout_ms) if not down and node.not_timeout_ms else "",
        "recvset": str(len(node.recvset)) if not down else "",
        "rq": _depth(node.recv_queue, down),
        "fq": _depth(node.fle_recvqueue, down),
        "sq": _depth(send_total(node), down),
        "sendq": queues_text(node) if not down else "",
        "epoch": f"{node.current_epoch}/{node.accepted_epoch}",
        "zxid": zxid_hex(node.last_zxid),
        "flags": flags_text(node, faults),
        "last": Text(node.last_event, "dim"),
    }


def _depth(value: int, down: bool) -> Text | str:
    if down:
        return ""
    return Text(str(value), "bold yellow" if value else "dim")


class EnsembleTable(DataTable[Text | str]):
    """The ensemble strip (select a node with up/down, j/k or a click)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=True)
        self._wide: bool | None = None
        self._width = 0
        self._shown: dict[tuple[str, str], Text | str] = {}
        self._sids: tuple[Sid, ...] = ()
        self._last: tuple[ClusterView, dict[Sid, list[str]]] | None = None

    @property
    def selected_sid(self) -> Sid | None:
        if not self._sids or self.row_count == 0:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        key = self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return int(key) if key is not None else None

    def select_sid(self, sid: Sid) -> None:
        if sid in self._sids:
            self.move_cursor(row=self._sids.index(sid))

    def columns_for(self, width: int) -> list[Column]:
        wide = width >= WIDE_AT
        cols = [c for c in COLUMNS if wide or not c.wide_only]
        used = sum(c.width + 2 for c in cols if c.key != "last")
        last = width - used - 3  # its padding, and room for a vertical scrollbar
        if last < 8:
            return [c for c in cols if c.key != "last"]
        return [Column(c.key, c.label, last) if c.key == "last" else c for c in cols]

    def on_resize(self) -> None:
        if self._last is not None and self.size.width != self._width:
            self.show(*self._last)

    def show(self, view: ClusterView, faults: dict[Sid, list[str]]) -> None:
        """Bring the table to `view`, updating only what changed."""
        self._last = (view, faults)
        width = self.size.width or 80
        if width != self._width or view.sids != self._sids:
            self._rebuild(width, view.sids)
        for node in view.nodes:
            for key, value in cells(node, faults.get(node.sid, [])).items():
                if key not in self.columns:
                    continue
                cell = (str(node.sid), key)
                if self._shown.get(cell) != value:
                    self._shown[cell] = value
                    self.update_cell(str(node.sid), key, value)

    def _rebuild(self, width: int, sids: tuple[Sid, ...]) -> None:
        selected = self.selected_sid
        self._width = width
        self._sids = sids
        self.clear(columns=True)
        self._shown.clear()
        for col in self.columns_for(width):
            self.add_column(col.label, width=col.width, key=col.key)
        for sid in sids:
            self.add_row(*("" for _ in self.columns), key=str(sid), height=1)
        if selected is not None:
            self.select_sid(selected)
