"""The detail pane's Zab part (console.widgets.learners): ping ages coloured against the
leader's read timeout, what a real server's log does not give shown as unknown, and a
learner's leader and sync."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console, RenderableType

from console.widgets.learners import GONE, LATE, learner_row, learners_table, ping_text
from engine.core.view import LearnerView, NodeView
from engine.core.vote import ServerState, Vote


def plain(renderable: RenderableType) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(
    ("age", "style"),
    [(0.0, ""), (200.0, ""), (201.0, LATE), (400.0, LATE), (401.0, GONE)],
)
def test_a_ping_age_warns_past_half_the_timeout_and_alarms_past_it(age: float, style: str) -> None:
    text = ping_text(LearnerView(1, "follower", "BROADCAST", ping_age_ms=age, timeout_ms=400))
    assert text.plain == f"{age:.0f}ms"
    assert str(text.style) == style


def test_a_real_leaders_learners_show_what_the_logs_do_not_give_as_unknown() -> None:
    real = LearnerView(
        2,
        "observer",
        "SYNCHRONIZATION",
        "DIFF",
        unknown=frozenset({"ping_age_ms", "timeout_ms", "synced"}),
    )
    leader = NodeView(3, "participant", alive=True, state=ServerState.LEADING, learners=(real,))
    lines = plain(learners_table(leader)).splitlines()
    assert lines[0].strip() == "learners (1)"
    assert lines[1].split() == ["sid", "type", "phase", "sync", "ping", "synced"]
    assert lines[2].split() == ["n2", "observer", "SYNCHRONIZATION", "DIFF", "?", "?"]
    alone = NodeView(3, "participant", alive=True, state=ServerState.LEADING)
    assert "none connected" in plain(learners_table(alone))


def test_a_learner_names_its_leader_and_how_it_synced() -> None:
    def follower(**kw: Any) -> NodeView:
        vote = Vote(5, 0, 1, 1, ServerState.FOLLOWING)
        return NodeView(
            1, "participant", alive=True, state=ServerState.FOLLOWING, current_vote=vote, **kw
        )

    assert str(learner_row(follower(sync_mode="TRUNC"))) == "n5  synced by TRUNC"
    assert str(learner_row(follower())) == "n5  synced by not yet"
    unknown = learner_row(follower(unknown=frozenset({"sync_mode"})))
    assert str(unknown) == "n5  synced by unknown"
    assert learner_row(NodeView(1, "participant", alive=True, state=ServerState.LOOKING)) is None


def test_a_narrow_pane_abbreviates_the_learners_table() -> None:
    learners = (
        LearnerView(
            1, "follower", "BROADCAST", "DIFF", ping_age_ms=77, timeout_ms=1000, synced=True
        ),
        LearnerView(4, "observer", "SYNCHRONIZATION", "SNAP", ping_age_ms=5, timeout_ms=4000),
    )
    leader = NodeView(5, "participant", alive=True, state=ServerState.LEADING, learners=learners)
    lines = plain(learners_table(leader, compact=True)).splitlines()
    assert [line.split() for line in lines[1:]] == [
        ["sid", "t", "zab", "sync", "ping", "✓"],
        ["n1", "F", "bcast", "DIFF", "77ms", "✓"],
        ["n4", "O", "sync", "SNAP", "5ms", "-"],
    ]
    assert max(len(line.rstrip()) for line in lines) < 40
