"""The console explains the election selected in the elections timeline (issue 16): Tab to
the timeline, ↑/↓, Enter - live on the simulator, on threads, in a replay of a recorded
trace and of real servers' logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from console.app import ZkfleApp
from console.screens.cluster import ClusterScreen
from console.screens.explain import ExplainScreen
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.player import Replayer
from engine.replay.zkimport.importer import import_logs
from tests.console.conftest import cluster_screen, enter_command, wait_for
from tests.zklogs import DATA


async def explain_row(pilot: Pilot[Any], screen: ClusterScreen, rows_up: int = 0) -> ExplainScreen:
    """Focus the timeline, select a row `rows_up` above the newest, press Enter."""
    screen.timeline.focus()
    for _ in range(rows_up):
        await pilot.press("up")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExplainScreen), "the explanation")
    assert isinstance(pilot.app.screen, ExplainScreen)
    return pilot.app.screen


async def test_live_on_the_simulator_the_crashed_leaders_outage() -> None:
    cluster = Cluster(ClusterOptions(nodes=3, runtime="sim", seed=7, record=False))
    try:
        cluster.start()
        assert cluster.wait_stable(10_000)
        async with ZkfleApp(cluster).run_test(size=(160, 45)) as pilot:
            screen = cluster_screen(pilot)
            await enter_command(pilot, "crash leader")
            await enter_command(pilot, "wait until stable")
            await wait_for(pilot, lambda: len(screen.timeline.elections) == 2, "two elections")
            shown = await explain_row(pilot, screen)
            text = " ".join(shown.plain.split())  # the table wraps long texts
            assert "No leader for" in text
            assert "n3 crashed" in text
            assert "leader-lost-connection" in text
            assert "critical path" in text
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ExplainScreen))
            shown = await explain_row(pilot, screen, rows_up=1)  # the first election
            assert "The ensemble started at" in shown.plain
    finally:
        cluster.close()


async def test_live_on_threads_an_outage_still_going_on() -> None:
    cluster = Cluster(ClusterOptions(nodes=3, runtime="threaded", seed=3, record=False))
    try:
        cluster.start()
        assert cluster.wait_stable(10_000)
        async with ZkfleApp(cluster).run_test(size=(160, 45)) as pilot:
            screen = cluster_screen(pilot)
            await enter_command(pilot, "crash 1,2")  # the leader n3 loses its quorum
            await wait_for(
                pilot,
                lambda: any(e.status == "ongoing" for e in screen.timeline.elections),
                "an election without a quorum",
            )
            shown = await explain_row(pilot, screen)
            assert "none when the input ends" in shown.plain
            assert "no-quorum" in shown.plain
    finally:
        cluster.close()


async def test_in_a_replay_of_a_recorded_trace(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=7, trace=path)) as c:
        for line in ("start", "wait until stable within 5s", "pause leader"):
            assert c.execute(line).ok
        assert c.execute("wait until stable within 20s").ok
    replay = Replayer(path)
    try:
        async with ZkfleApp(replay).run_test(size=(160, 45)) as pilot:
            screen = cluster_screen(pilot)
            await enter_command(pilot, f"seek {replay.total}")
            await wait_for(pilot, lambda: len(screen.timeline.elections) == 2, "two elections")
            shown = await explain_row(pilot, screen)
            text = " ".join(shown.plain.split())  # the table wraps long texts
            assert "leader-lost-sync-timeout" in text
            assert "syncLimit (5 x 200 ms)" in text
    finally:
        replay.close()


async def test_in_a_replay_of_real_servers_logs(tmp_path: Path) -> None:
    path = tmp_path / "failover.jsonl"
    import_logs([DATA / "3.8-failover"], path)
    replay = Replayer(path)
    try:
        async with ZkfleApp(replay).run_test(size=(160, 45)) as pilot:
            screen = cluster_screen(pilot)
            await enter_command(pilot, f"seek {replay.total}")
            await wait_for(pilot, lambda: len(screen.timeline.elections) >= 2, "the elections")
            screen.timeline.focus()
            rows = [e.leader for e in screen.timeline.elections]
            shown = await explain_row(pilot, screen, rows_up=len(rows) - 1 - rows.index(2))
            text = " ".join(shown.plain.split())  # the table wraps long texts
            assert "08:10:24.403" in text  # the servers' own clock
            assert "n2's connection to its leader closed (EOF)" in text
            assert "finalizeWait 200 ms" in text
    finally:
        replay.close()
