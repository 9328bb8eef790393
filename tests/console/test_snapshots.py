"""Screen snapshots (pytest-textual-snapshot): the live console at 80x24 and 160x50 and the
replay screen, on the scripted backends (whose runs are deterministic); the simulator
halted after a failover, a replay with the sequence diagram, and help at 80x24, 120x40 and
200x60. Accept changes
with `pytest tests/console/test_snapshots.py --snapshot-update` after looking at the
report it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import ZkfleApp
from console.screens.help import HelpScreen
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.player import Replayer
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


# --- every size from 80x24 to 200x60: the simulator halted at a fixed point, a replay, help ---

SIZES = [(80, 24), (120, 40), (200, 60)]
FAILOVER = Path(__file__).resolve().parents[2] / "traces" / "examples" / "leader_failover.jsonl"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_live_simulator_after_a_failover(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """Seed 7, n5 crashed and n4 elected, halted: the virtual clock stands still."""
    cluster = Cluster(ClusterOptions(nodes=5, runtime="sim", seed=7, record=False))
    try:
        cluster.start()
        assert cluster.wait_stable(10_000)
        for line in ("crash 5", "wait until stable within 5s"):
            assert cluster.execute(line).ok

        async def settle(pilot: Pilot[Any]) -> None:
            screen = cluster_screen(pilot)
            await wait_for(pilot, lambda: screen.last_seq == cluster.view().seq, "every event")
            await pilot.press("4")

        assert snap_compare(ZkfleApp(cluster), terminal_size=size, run_before=settle)
    finally:
        cluster.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_replay_with_the_sequence_diagram(
    snap_compare: SnapCompare, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FAILOVER.parents[2])  # the command line names the trace as given
    replay = Replayer(FAILOVER.relative_to(FAILOVER.parents[2]))
    try:

        async def at_the_failover(pilot: Pilot[Any]) -> None:
            screen = cluster_screen(pilot)
            await enter_command(pilot, "seek 630")
            await wait_for(pilot, lambda: screen.diagram.ladder.last_seq == 630, "seq 630")
            await pilot.press("s")
            await wait_for(pilot, lambda: "seq 630/" in screen.position_bar.text)

        assert snap_compare(ZkfleApp(replay), terminal_size=size, run_before=at_the_failover)
    finally:
        replay.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")

    assert snap_compare(ZkfleApp(FakeBackend()), terminal_size=size, run_before=open_help)
