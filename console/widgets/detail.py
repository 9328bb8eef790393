"""Provides the detail pane: the selected node's election internals.

Proposal, current vote, finalizing flag, notification timeout, recvset and outofelection
as small tables, queues, durable epochs and the zab phase; a leader's learners, a
learner's leader and sync (console.widgets.learners). Cells that changed recently
(live: within `HOLD_S` seconds; replay: at the last step) are highlighted, as the TLA+
trace explorer does.
"""

from __future__ import annotations

import io
import time
from collections.abc import Hashable

from rich.console import Console, Group, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.table import Column, Row, Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from console.format import DECIDING, STATE_SHORT, STATE_STYLES, deciding, ms_text, state_text
from console.widgets.learners import learner_row, learners_table, pane_table
from console.widgets.strips import text_key
from engine.core.view import NodeView
from engine.core.vote import ServerState, Sid, Vote, zxid_hex

HOLD_S = 1.5
LIVE_HZ = 5
"""A live node is drawn again at most this often: under a storm its queues change with
every message, drawing its tables costs more than the rest of a frame (Rich's Table),
and the ensemble strip shows the same queues at the full frame rate."""
COMPACT_BELOW = 50
"""Below this width the pane abbreviates (r2 for round 2, K/F/L/O for states)."""
VOTE_COLUMNS = ("sid", "round", "epoch", "zxid", "leader", "state")
"""A vote's fields in the order FLE compares them: round, then (epoch, zxid, leader)."""
_NEW = object()
CHANGED = "bold black on yellow"


class ChangeTracker:
    """Remembers values by key and when each last changed."""

    def __init__(self) -> None:
        self._seen: dict[Hashable, tuple[object, float]] = {}
        self.lit = False
        """Some value said changed since `lit` was last cleared (it is shown highlighted
        until its hold is over)."""

    def changed(self, key: Hashable, value: object, now: float, hold: float) -> bool:
        """Record `value`; True if it changed within `hold` of `now` (never at first sight)."""
        old = self._seen.get(key)
        if old is None:
            self._seen[key] = (value, float("-inf"))
            return False
        if old[0] != value:
            self._seen[key] = (value, now)
            self.lit = True
            return True
        lit = now - old[1] < hold
        self.lit |= lit
        return lit

    def value(self, key: Hashable) -> object | None:
        """The value last recorded for `key` (None if never seen)."""
        old = self._seen.get(key)
        return None if old is None else old[0]

    def seed(self, key: Hashable) -> None:
        """Make the next value recorded for `key` count as a change (a new row)."""
        self._seen[key] = (_NEW, float("-inf"))

    def forget(self) -> None:
        self._seen.clear()


class DetailBody(Widget):
    """The detail pane's text: a Rich renderable drawn into lines once per change, which
    asks for a layout of the screen only when its height changes. (A Static draws a
    renderable twice per update, once to measure its height, and asks for a layout every
    time: under a storm the node changes every frame.) The parts of a `Group` (the title,
    the grid, each table) are drawn one by one, and a part that is as it was last time
    keeps its lines: under a storm the queues change every time, the vote tables seldom,
    and Rich's tables are most of the pane's cost."""

    DEFAULT_CSS = """
    DetailBody { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._renderable: RenderableType = ""
        self._lines: list[list[Segment]] = []
        self._width = -1
        """The width the lines were drawn for (-1: not drawn)."""
        self._parts: dict[Hashable, list[list[Segment]]] = {}
        """The last drawing's lines of each part, by what the part is (`frozen`) and width."""

    def update(self, renderable: RenderableType) -> None:
        height = len(self._lines)
        self._renderable, self._width = renderable, -1
        width = self.size.width
        self.refresh(layout=width <= 0 or len(self._lines_for(width)) != height)

    def _lines_for(self, width: int) -> list[list[Segment]]:
        if width != self._width:
            self._width = width
            renderable = self._renderable
            parts = renderable.renderables if isinstance(renderable, Group) else [renderable]
            drawn: dict[Hashable, list[list[Segment]]] = {}
            lines: list[list[Segment]] = []
            for part in parts:
                key = (frozen(part), width)
                part_lines = self._parts.get(key) if key[0] is not None else None
                if part_lines is None:
                    part_lines = self._draw(part, width)
                drawn[key] = part_lines
                lines += part_lines
            self._parts, self._lines = drawn, lines
        return self._lines

    def _draw(self, part: RenderableType, width: int) -> list[list[Segment]]:
        if width <= 0:
            return []
        options = self.app.console_options.update_width(width).update(highlight=False)
        rendered = self.app.console.render(part, options)
        return list(
            Segment.split_and_crop_lines(rendered, width, include_new_lines=False, pad=False)
        )

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines_for(width))

    def render_line(self, y: int) -> Strip:
        lines = self._lines_for(self.size.width)
        base = self.visual_style.rich_style
        if y >= len(lines):
            return Strip.blank(self.size.width, base)
        return Strip(Segment.apply_style(lines[y], base))  # unpadded, as a Static's


class _UnknownPartError(Exception):
    """A renderable `frozen` does not know."""


def frozen(renderable: object) -> Hashable | None:
    """What a renderable of the pane is, as a value: equal for two that draw the same
    (the same texts with the same spans, the same tables of them); None for a kind this
    does not know, which is then always drawn."""
    try:
        return _freeze(renderable)
    except _UnknownPartError:
        return None


def _freeze(value: object) -> Hashable:
    if isinstance(value, Text):
        return (Text, text_key(value))
    if value is None or isinstance(value, str | int | float | Style):
        return value
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, Group | Table | Column | Row):  # Rich's own, made of values
        return (type(value), tuple((k, _freeze(v)) for k, v in vars(value).items()))
    raise _UnknownPartError(type(value).__name__)


class NodeDetail(VerticalScroll):
    """The selected node in detail (scrolls when the pane is small)."""

    DEFAULT_CSS = """
    NodeDetail > DetailBody { width: 100%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = DetailBody(id="detail-body")
        self._tracker = ChangeTracker()
        self._last: tuple[NodeView | None, float | None, float] | None = None
        self._renderable: RenderableType = ""
        self._drawn_at = float("-inf")
        self._lit = False
        """The last drawing highlights a change."""
        self.behind = False
        """A live node changed since it was last drawn (LIVE_HZ): show it again."""
        self.replay_clock: float | None = None
        """Replay: a counter bumped at every step (highlights last one step)."""

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, node: NodeView | None) -> None:
        """Render `node` (None: nothing selected)."""
        if self.replay_clock is not None:
            now, hold = self.replay_clock, 1.0
        else:
            now, hold = time.monotonic(), HOLD_S
        # Live, a highlight ends with time: drawn again while one shows (4 times a second).
        clock = now if self.replay_clock is not None else round(now * 4) if self._lit else None
        key = (node, clock, hold)
        if key == self._last:
            self.behind = False
            return
        last = self._last[0] if self._last is not None else None
        same = node is not None and last is not None and last.sid == node.sid
        if self.replay_clock is None and same and now - self._drawn_at < 1 / LIVE_HZ:
            self.behind = True
            return
        self.behind = False
        self._drawn_at = now
        self._last = key
        self._tracker.lit = False
        self._renderable = self.render_node(node, now, hold)
        self._lit = self._tracker.lit
        self._body.update(self._renderable)

    @property
    def plain(self) -> str:
        """What the pane shows, as plain text."""
        console = Console(width=max(20, self.size.width or 60), record=True, file=io.StringIO())
        console.print(self._renderable)
        return console.export_text()

    def select(self) -> None:
        """A new node is selected: its first rendering highlights nothing."""
        self._tracker.forget()
        self._last = None

    def render_node(self, node: NodeView | None, now: float, hold: float) -> RenderableType:
        if node is None:
            return Text("no node selected", "dim")
        sid = node.sid
        compact = 0 < self.size.width < COMPACT_BELOW
        track = self._tracker

        def val(name: Hashable, value: object, text: str | Text, style: str = "") -> Text:
            out = text if isinstance(text, Text) else Text(text, style)
            if track.changed((sid, name), value, now, hold):
                out = out.copy()
                out.stylize(CHANGED)
            return out

        unknown = node.unknown

        def known(field: str, text: Text) -> Text:
            """`unknown` for a field the node's evidence (an imported log) does not give;
            a field the shadow engine derived is marked as such."""
            if field in unknown:
                return Text("unknown", "dim italic")
            if field in node.derived:
                return Text.assemble(text, (" ≈ derived", "dim italic"))
            return text

        state = Text("unknown", "dim italic") if "state" in unknown else state_text(node)
        title = Text.assemble((f"n{sid} ", "bold"), state)
        if node.learner_type != "participant":
            title.append(f" {node.learner_type}", "cyan")
        if node.weight != 1:
            title.append(f" weight {node.weight}", "dim")
        if not node.alive:
            body = Table.grid(padding=(0, 1))
            body.add_column(style="dim")
            body.add_column()
            body.add_row("epochs", f"current {node.current_epoch}  accepted {node.accepted_epoch}")
            body.add_row("last zxid", zxid_hex(node.last_zxid))
            body.add_row("last event", node.last_event or "-")
            return Group(title, body)
        if unknown:
            title.append("  from its log", "cyan")
        if node.zab_phase:
            title.append(f"  zab {node.zab_phase}", "dim")
        if node.established:
            title.append(" ✓", "green")
        if node.digest_mismatches:
            title.append(f"  {node.digest_mismatches} digest mismatches", "bold red")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        p = node.proposal
        grid.add_row(
            "round",
            known("logicalclock", val("lc", node.logicalclock, str(node.logicalclock))),
        )
        if "proposal" in unknown:
            grid.add_row("proposal", known("proposal", Text()))
        elif p is not None:
            grid.add_row(
                "proposal",
                known(
                    "proposal",
                    Text.assemble(
                        val("p.epoch", p.peer_epoch, f"e{p.peer_epoch}"),
                        " ",
                        val("p.zxid", p.zxid, zxid_hex(p.zxid)),
                        " ",
                        val("p.leader", p.leader, f"n{p.leader}", "bold"),
                    ),
                ),
            )
        v = node.current_vote
        if "current_vote" in unknown:
            grid.add_row("vote", known("current_vote", Text()))
        elif v is not None and "current_vote.election_epoch" in unknown:
            grid.add_row(
                "vote", Text.assemble((f"n{v.leader}", "bold"), (" (the rest unknown)", "dim"))
            )
        elif v is not None:
            grid.add_row(
                "vote",
                Text.assemble(
                    val("v.round", v.election_epoch, f"r{v.election_epoch}"),
                    " ",
                    val("v.epoch", v.peer_epoch, f"e{v.peer_epoch}"),
                    " ",
                    val("v.zxid", v.zxid, zxid_hex(v.zxid)),
                    " ",
                    val("v.leader", v.leader, f"n{v.leader}", "bold"),
                ),
            )
        grid.add_row(
            "finalizing",
            Text.assemble(
                known(
                    "finalizing",
                    val(
                        "fin",
                        node.finalizing,
                        "yes" if node.finalizing else "no",
                        "bold yellow" if node.finalizing else "",
                    ),
                ),
                "   timeout ",
                known(
                    "not_timeout_ms",
                    val(
                        "timeout",
                        node.not_timeout_ms,
                        ms_text(node.not_timeout_ms) if node.not_timeout_ms else "-",
                    ),
                ),
            ),
        )
        sends = Text()
        queues = node.send_queues
        if len(queues) > 9:  # a big cluster: the busy queues only
            idle = sum(1 for _, depth in queues if not depth)
            queues = tuple((p, d) for p, d in queues if d)
            sends.append(f"({idle} empty) ", "dim")
        for peer, depth in queues:
            sends.append(f"{peer}:")
            sends.append_text(val(("sq", peer), depth, str(depth), "bold yellow" if depth else ""))
            sends.append(" ")
        grid.add_row(
            "queues",
            Text.assemble(
                "recv ",
                known("recv_queue", val("rq", node.recv_queue, f"{node.recv_queue}/100")),
                "  fle ",
                known("fle_recvqueue", val("fq", node.fle_recvqueue, str(node.fle_recvqueue))),
            ),
        )
        sends = sends if sends.plain else Text("-", "dim")
        if "send_queues" in node.proxied:
            sends.append(" at the proxy: held or delayed", "dim italic")
        grid.add_row("send", known("send_queues", sends))
        grid.add_row(
            "epochs",
            Text.assemble(
                "current ",
                known("current_epoch", val("ce", node.current_epoch, str(node.current_epoch))),
                " accepted ",
                known("accepted_epoch", val("ae", node.accepted_epoch, str(node.accepted_epoch))),
            ),
        )
        last_zxid = val("lz", node.last_zxid, zxid_hex(node.last_zxid))
        grid.add_row("last zxid", known("last_zxid", last_zxid))
        following = learner_row(node)
        if following is not None:
            leader = node.current_vote.leader if node.current_vote else None
            grid.add_row("leader", val("leader", (leader, node.sync_mode), following))
        conns = " ".join(f"n{s}" for s in node.connections) or "none"
        grid.add_row("connected", known("connections", val("conns", node.connections, conns)))
        if node.election_took_ms is not None:
            grid.add_row("last took", ms_text(node.election_took_ms))
        tables = [
            Group(Text(name, "bold"), Text("  unknown (the log does not show it)", "dim italic"))
            if name in unknown
            else self._votes(name, sid, votes, now, hold, compact, name in node.derived)
            for name, votes in (("recvset", node.recvset), ("outofelection", node.outofelection))
        ]
        if node.state == ServerState.LEADING and "state" not in unknown:
            tables.insert(0, learners_table(node, compact))
        return Group(title, grid, *tables)

    def _votes(
        self,
        name: str,
        sid: Sid,
        votes: tuple[tuple[Sid, Vote], ...],
        now: float,
        hold: float,
        compact: bool,
        derived: bool = False,
    ) -> RenderableType:
        table = pane_table(
            f"{name} ({len(votes)})" + (" ≈ derived by the model" if derived else "")
        )
        columns = ("sid", "rnd", "ep", "zxid", "ldr", "st") if compact else VOTE_COLUMNS
        for col in columns:
            table.add_column(col, no_wrap=True)
        track = self._tracker
        mark = deciding(vote for _, vote in votes)
        members = frozenset(peer for peer, _ in votes)
        before = track.value((sid, name, "members"))
        track.changed((sid, name, "members"), members, now, hold)
        for peer, vote in votes:
            if isinstance(before, frozenset) and peer not in before:
                for field in ("leader", "zxid", "round", "epoch", "state"):
                    track.seed((sid, name, peer, field))
            fields = (
                ("round", vote.election_epoch, str(vote.election_epoch)),
                ("epoch", vote.peer_epoch, str(vote.peer_epoch)),
                ("zxid", vote.zxid, zxid_hex(vote.zxid)),
                ("leader", vote.leader, str(vote.leader)),
                ("state", vote.state, STATE_SHORT[vote.state.name] if compact else vote.state.name),
            )
            best = mark is not None and mark[0] == (vote.peer_epoch, vote.zxid, vote.leader)
            row: list[Text] = [Text(f"n{peer}", "bold")]
            for i, (field, value, text) in enumerate(fields):
                style = STATE_STYLES.get(vote.state.name, "") if field == "state" else ""
                if best and mark is not None and i == mark[1] + 1:
                    style = DECIDING
                cell = Text(text, style)
                if track.changed((sid, name, peer, field), value, now, hold):
                    cell.stylize(CHANGED)
                row.append(cell)
            table.add_row(*row)
        if not votes:
            return Group(Text(f"{name} (0)", "bold"), Text("  empty", "dim"))
        return table
