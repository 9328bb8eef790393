"""Provides the detail pane's Zab part: a leader's learners as a table (sid, type, phase,
sync mode, ping age, synced), a learner's leader and how it synced."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from console.format import ms_text
from console.widgets.ensemble import ZAB_SHORT
from engine.core.view import LearnerView, NodeView
from engine.core.vote import ServerState

LEARNER_COLUMNS = ("sid", "type", "phase", "sync", "ping", "synced")
LATE = "yellow"
"""A learner not heard from for over half the leader's read timeout (syncLimit once
synced): one more silent half and the leader closes it."""
GONE = "bold red"
"""A learner not heard from for longer than the read timeout: the leader closes it at its
next check."""


def pane_table(title: str) -> Table:
    """A small table of the detail pane: a bold title, dim headings, no borders."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        show_edge=False,
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="dim",
    )


def ping_text(lv: LearnerView) -> Text:
    """How long ago the leader last heard from `lv`, coloured against its read timeout."""
    if "ping_age_ms" in lv.unknown or lv.ping_age_ms is None:
        return Text("?", "dim")
    age, limit = lv.ping_age_ms, lv.timeout_ms
    style = ""
    if limit is not None and "timeout_ms" not in lv.unknown:
        style = GONE if age > limit else LATE if age > limit / 2 else ""
    return Text(ms_text(age), style)


def learners_table(node: NodeView, compact: bool = False) -> RenderableType:
    """A leader's learners, one row each (`compact`: a narrow pane's abbreviations, F/O
    for follower/observer and the strip's short Zab phases)."""
    if not node.learners:
        return Group(Text("learners (0)", "bold"), Text("  none connected", "dim"))
    table = pane_table(f"learners ({len(node.learners)})")
    columns = ("sid", "t", "zab", "sync", "ping", "✓") if compact else LEARNER_COLUMNS
    for col in columns:
        table.add_column(col, no_wrap=True, overflow="ellipsis")
    for lv in node.learners:

        def known(field: str, text: str, style: str = "", lv: LearnerView = lv) -> Text:
            return Text("?", "dim") if field in lv.unknown else Text(text, style)

        kind = lv.learner_type[0].upper() if compact else lv.learner_type
        phase = ZAB_SHORT.get(lv.zab_phase, lv.zab_phase) if compact else lv.zab_phase
        table.add_row(
            Text(f"n{lv.sid}", "bold"),
            Text(kind, "cyan" if lv.learner_type == "observer" else ""),
            known("zab_phase", phase, "green" if lv.zab_phase == "BROADCAST" else ""),
            known("sync_mode", lv.sync_mode or "-"),
            ping_text(lv),
            known("synced", "✓" if lv.synced else "-", "green" if lv.synced else "dim"),
        )
    return table


def learner_row(node: NodeView) -> Text | None:
    """A learner's leader and how it synced with it (None unless following/observing)."""
    vote = node.current_vote
    if node.state not in (ServerState.FOLLOWING, ServerState.OBSERVING) or vote is None:
        return None
    if "sync_mode" in node.unknown:
        sync = Text("unknown", "dim italic")
    else:
        sync = Text(node.sync_mode or "not yet", "" if node.sync_mode else "dim")
    return Text.assemble((f"n{vote.leader}", "bold"), "  synced by ", sync)
