"""Who is down and who is paused, from a trace's events (engine.trace.lives)."""

from __future__ import annotations

from typing import Any

from engine.trace.lives import DOWN, RUNNING, Life, life_changes, lives_after


def snapshot(*nodes: tuple[int, bool, bool]) -> dict[str, Any]:
    summaries = [{"sid": s, "alive": alive, "paused": paused} for s, alive, paused in nodes]
    return {"kind": "snapshot", "nodes": summaries}


def test_boot_and_stop_begin_a_life_whatever_came_before() -> None:
    assert life_changes({"kind": "boot", "node": 2}, {2: RUNNING}.get) == [(2, RUNNING)]
    assert life_changes({"kind": "stop", "node": 2}, {2: Life(True, True)}.get) == [(2, DOWN)]


def test_only_a_running_node_pauses_and_resumes() -> None:
    paused = Life(True, True)
    assert life_changes({"kind": "pause", "node": 1}, {1: RUNNING}.get) == [(1, paused)]
    assert life_changes({"kind": "pause", "node": 1}, {1: paused}.get) == []
    assert life_changes({"kind": "pause", "node": 1}, {1: DOWN}.get) == []
    assert life_changes({"kind": "pause", "node": 1}, {2: RUNNING}.get) == []
    assert life_changes({"kind": "resume", "node": 1}, {1: paused}.get) == [(1, RUNNING)]


def test_a_paused_node_that_steps_runs_again() -> None:
    """Before trace 1.3 a timed resume (`pause 2 for=500ms`) shows only so."""
    assert life_changes({"kind": "step", "node": 2}, {2: Life(True, True)}.get) == [(2, RUNNING)]
    assert life_changes({"kind": "step", "node": 2}, {2: RUNNING}.get) == []


def test_a_snapshot_tells_pauses_of_running_nodes_and_life_only_where_none_was_told() -> None:
    lives = {1: RUNNING, 2: RUNNING, 3: DOWN}
    e = snapshot(
        (1, True, False), (2, True, True), (3, True, True), (4, True, False), (5, False, False)
    )
    # n3's boot may be numbered before a snapshot taken earlier: the events say who is alive
    assert life_changes(e, lives.get) == [(2, Life(True, True)), (4, RUNNING)]


def test_odd_events_change_nobody() -> None:
    for e in ({"kind": "boot"}, {"kind": "pause", "node": "2"}, {"kind": "snapshot", "nodes": 3}):
        assert life_changes(e, {2: RUNNING}.get) == []


def test_lives_after_folds_the_events() -> None:
    events = [
        {"kind": "boot", "node": 1},
        {"kind": "boot", "node": 2},
        {"kind": "pause", "node": 2},
        {"kind": "stop", "node": 1},
        snapshot((2, True, True), (3, True, False)),
    ]
    assert lives_after(events, {}) == {1: DOWN, 2: Life(True, True), 3: RUNNING}
