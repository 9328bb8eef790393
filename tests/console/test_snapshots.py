"""Screen snapshots (pytest-textual-snapshot): the live console at 80x24 and 160x50 and the
replay screen, on the scripted backends (whose runs are deterministic). Accept changes
with `pytest tests/console/test_snapshots.py --snapshot-update` after looking at the
report it writes."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import ZkfleApp
from tests.console.conftest import cluster_screen, enter_command, wait_for
from tests.console.fakes import FakeBackend, FakeReplay, recorded_failover

pytest.importorskip("pytest_textual_snapshot")

SnapCompare = Any


def test_live_console_at_80x24(snap_compare: SnapCompare) -> None:
    async def settle(pilot: Pilot[Any]) -> None:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")

    assert snap_compare(ZkfleApp(FakeBackend()), terminal_size=(80, 24), run_before=settle)


def test_live_console_after_a_failover_at_160x50(snap_compare: SnapCompare) -> None:
    fake = FakeBackend()

    async def crash_the_leader(pilot: Pilot[Any]) -> None:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "crash 5")
        await wait_for(pilot, lambda: "✓ crashed n5" in screen.bar.hint_text, "the result")
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "every event")
        await pilot.press("4")

    assert snap_compare(ZkfleApp(fake), terminal_size=(160, 50), run_before=crash_the_leader)


def test_replay_at_a_mark_with_a_breakpoint(snap_compare: SnapCompare) -> None:
    replay = FakeReplay(recorded_failover())

    async def go_to_the_crash(pilot: Pilot[Any]) -> None:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "break when leaders > 1")
        await wait_for(pilot, lambda: replay.breakpoints, "the breakpoint")
        await pilot.press("right_square_bracket", "n", "n")
        await wait_for(pilot, lambda: replay.position == replay.marks[0].seq + 2, "the steps")
        await wait_for(pilot, lambda: f"seq {replay.position}/" in screen.position_bar.text)

    assert snap_compare(ZkfleApp(replay), terminal_size=(100, 30), run_before=go_to_the_crash)
