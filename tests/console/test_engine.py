"""The console and the shell on the engine's real Cluster facade: the simulator runtime
(deterministic, virtual time) for most checks, one small threaded cluster for the live
path. These tests show that the backend boundary holds for the real thing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from console.app import ZkfleApp
from console.backend import Backend, ReplayBackend, is_replay, read_info, safe_execute
from console.cli import open_replay
from console.format import clock_text, ms_text
from console.shell import run_shell
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.commands import Seek, parse
from engine.control.values import Instant
from engine.core.vote import ServerState
from engine.replay.player import Replayer
from tests.console.conftest import cell, cluster_screen, enter_command, log_text, wait_for
from tests.successor import next_leader


def test_the_cluster_satisfies_the_backend_protocol(sim_cluster: Cluster) -> None:
    backend: Backend = sim_cluster
    assert isinstance(backend, Backend)
    info = read_info(backend)
    assert (info.mode, info.runtime, info.seed, info.trace_path) == ("live", "sim", 1, None)
    result = safe_execute(backend, "crash 9")
    assert not result.ok
    assert "no node 9" in result.text
    assert backend.events_after(0)[0]["seq"] == 1


async def test_the_console_drives_a_simulated_cluster(sim_cluster: Cluster) -> None:
    async with ZkfleApp(sim_cluster).run_test(size=(120, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        assert cell(screen, 5, "state") == "LEADING"
        assert "r1 n5" in screen.timeline.text
        await pilot.press("5", "c")
        await wait_for(pilot, lambda: cell(screen, 5, "state") == "down", "n5 down")
        await enter_command(pilot, "wait until stable")
        await wait_for(pilot, lambda: cell(screen, 4, "state") == "LEADING", "n4 leads")
        await wait_for(pilot, lambda: "r2 n4" in screen.timeline.text, "the second election")
        log = log_text(screen)
        assert "n5 ▼ crash" in log
        assert "› wait until stable  stable: holds" in log
        await enter_command(pilot, "expect leader == 5")
        await wait_for(pilot, lambda: "did not hold" in screen.bar.hint_text, "the failed expect")


async def test_the_console_on_a_threaded_cluster() -> None:
    cluster = Cluster(ClusterOptions(nodes=3, runtime="threaded", seed=3, record=False))
    try:
        cluster.start()
        async with ZkfleApp(cluster).run_test(size=(130, 30)) as pilot:
            screen = cluster_screen(pilot)
            await wait_for(pilot, lambda: "leader n3" in screen.header.text, "a leader", 30)
            assert cell(screen, 3, "state") == "LEADING"
            # The next best vote leads, n1 or n2 by who synced when: read once both synced.
            await wait_for(pilot, lambda: cluster.view().settled, "both followers synced", 30)
            best = next_leader(cluster.view(), 3)
            await pilot.press("3", "c")
            await wait_for(
                pilot, lambda: cell(screen, best, "state") == "LEADING", f"n{best} leads", 30
            )
            assert cell(screen, 3, "state") == "down"
    finally:
        cluster.close()


def test_the_shell_runs_piped_commands_on_a_simulated_cluster(sim_cluster: Cluster) -> None:
    out = io.StringIO()
    commands = "status\ncrash leader\nwait until stable\nstatus\nexpect leader == 4\n"
    status = run_shell(sim_cluster, False, stdin=io.StringIO(commands), out=out)
    text = out.getvalue()
    assert status == 0, text
    assert "zkfle> crash leader" in text
    assert "crashed n5" in text
    assert "n4 LOOKING → LEADING leader n4 r2" in text
    assert "stable: holds" in text
    assert "leader == 4: holds" in text


# --- the real replayer -------------------------------------------------------------------------

FAILOVER = Path(__file__).resolve().parents[2] / "traces" / "examples" / "leader_failover.jsonl"


@pytest.fixture
def replayer() -> Iterator[Replayer]:
    replay = Replayer(FAILOVER)
    try:
        yield replay
    finally:
        for fork in replay.forks:
            fork.close()
        replay.close()


def test_the_replayer_satisfies_the_replay_protocol(replayer: Replayer) -> None:
    assert isinstance(replayer, ReplayBackend)
    assert is_replay(replayer)
    info = read_info(replayer)
    assert (info.mode, info.runtime, info.seed) == ("replay", "sim", 7)
    assert [m.label for m in replayer.marks] == ["before crash", "after failover"]


async def test_the_console_replays_a_recorded_failover(replayer: Replayer) -> None:
    crash_mark = replayer.marks[0].seq
    async with ZkfleApp(replayer).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: "REPLAY" in screen.header.text, "the replay header")
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: replayer.position == crash_mark, "the first mark")
        await wait_for(pilot, lambda: cell(screen, 5, "state") == "LEADING")
        await wait_for(pilot, lambda: "recvset (5)" in screen.detail.plain, "n1's recvset")
        await enter_command(pilot, "break when n4.state == LEADING")
        await wait_for(pilot, lambda: replayer.breakpoints, "the breakpoint")
        await pilot.press("space")
        await wait_for(pilot, lambda: replayer.stop_reason is not None, "the breakpoint hit", 20)
        at = replayer.position
        assert replayer.view().node(4).state == ServerState.LEADING
        assert replayer.events(at, at)[0]["node"] == 4
        await wait_for(pilot, lambda: cell(screen, 4, "state") == "LEADING")
        assert f"at seq {at}" in screen.position_bar.text
        await pilot.press("b")
        await wait_for(pilot, lambda: replayer.position == at - 1, "one step back")
        await wait_for(pilot, lambda: cell(screen, 4, "state") == "LOOKING")
        await pilot.press("f")
        await wait_for(pilot, lambda: pilot.app.screen is not screen, "the forked cluster", 20)
        live = cluster_screen(pilot)
        await wait_for(pilot, lambda: "LIVE" in live.header.text, "the live header")
        assert not live.replay
        await enter_command(pilot, "wait until stable")
        await wait_for(pilot, lambda: cell(live, 4, "state") == "LEADING", "n4 leads", 20)


async def test_the_electing_timer_counts_from_the_outage_after_seeks_either_way(
    replayer: Replayer,
) -> None:
    # Issue 17, defect 3: after a seek, "electing …" counted from the seek target.
    events = replayer.events()
    crash = next(e for e in events if e["kind"] == "stop" and e["node"] == 5)
    stable_again = next(
        e["seq"]
        for e in events
        if e["seq"] > crash["seq"] and e["kind"] == "snapshot" and e["stable"]
    )
    async with ZkfleApp(replayer).run_test(size=(140, 40)) as pilot:
        screen = cluster_screen(pilot)
        for seq in (stable_again - 5, crash["seq"] + 20, stable_again - 40):
            await enter_command(pilot, f"seek {seq}")
            await wait_for(pilot, lambda: replayer.position == seq, f"seq {seq}")  # noqa: B023
            timer = f"electing {ms_text(replayer.t_at(seq) - crash['t_ms'])} │"
            await wait_for(pilot, lambda: timer in screen.header.text, timer)  # noqa: B023


@pytest.mark.parametrize("t_ms", [0.0, 1234.5, 59_999.0, 85_000.0, 184_512.3, 3_725_000.0])
def test_seek_takes_the_time_as_the_header_shows_it(t_ms: float) -> None:
    # Issue 17: the header shows `1m25.0s`; `seek @1m25.0s` must go there.
    shown = clock_text(t_ms)
    command = parse(f"seek @{shown}")
    assert isinstance(command, Seek)
    assert isinstance(command.target, Instant)
    assert command.target.t_ms == pytest.approx(t_ms, abs=50.0), shown


async def test_the_header_shows_a_divergence_ahead_soon_after_opening(tmp_path: Path) -> None:
    # Issue 17: a divergent trace said so only once the replay had passed the divergence.
    lines = FAILOVER.read_bytes().splitlines(keepends=True)
    events = [orjson.loads(line) for line in lines[1:]]
    step = next(e for e in events if e["kind"] == "step" and e["seq"] > 700)
    step["output"]["logicalclock"] = 99
    lines[step["seq"]] = orjson.dumps(step) + b"\n"
    trace = tmp_path / "diverges.jsonl"
    trace.write_bytes(b"".join(lines))
    replayer = open_replay(str(trace))
    try:
        async with ZkfleApp(replayer).run_test(size=(160, 40)) as pilot:
            screen = cluster_screen(pilot)
            said = f"✗ diverges at seq {step['seq']} on n{step['node']}"
            await wait_for(pilot, lambda: said in screen.header.text, "the divergence")
            assert replayer.position == 0
    finally:
        replayer.close()
