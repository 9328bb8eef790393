"""Pilot tests of the replay screen: stepping, seeking, breakpoints, marks, read-only
keys and forking into a live cluster, on a replay of a scripted failover."""

from __future__ import annotations

import re

from console.app import ZkfleApp
from engine.core.vote import ServerState
from tests.console.conftest import cell, cluster_screen, enter_command, log_text, wait_for
from tests.console.fakes import FakeBackend, FakeReplay, recorded_failover


def first_seq(source: FakeBackend, test: object) -> int:
    """The first seq after which `test(view)` holds."""
    assert callable(test)
    return next(i + 1 for i, view in enumerate(source.views) if test(view))


async def test_replay_steps_forward_and_back_and_shows_the_recvset_there() -> None:
    source = recorded_failover()
    replay = FakeReplay(source)
    async with ZkfleApp(replay).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: "REPLAY" in screen.header.text, "the replay header")
        assert screen.replay
        assert "seq 0/" in screen.position_bar.text
        assert cell(screen, 1, "state") == "down"
        await pilot.press("n")
        await wait_for(pilot, lambda: replay.position == 1, "one step")
        assert replay.executed == ["step"]
        # n1 decides for n5 in the first election: its recvset has five votes
        decided = first_seq(source, lambda v: v.node(1).state == ServerState.FOLLOWING)
        await enter_command(pilot, f"seek {decided}")
        await wait_for(pilot, lambda: f"seq {decided}/" in screen.position_bar.text, "the seek")
        await wait_for(pilot, lambda: cell(screen, 1, "state") == "FOLLOWING")
        assert screen.ensemble.selected_sid == 1
        detail = screen.detail.plain
        assert "recvset (5)" in detail
        for sid in range(1, 6):  # sid, round, epoch, zxid, leader: a vote for n5
            assert re.search(rf"n{sid}\s+1\s+0\s+0x0\s+5\s", detail), detail
        assert log_text(screen).splitlines()[-1].startswith("n1 LOOKING → FOLLOWING")
        # one step back: n1 is LOOKING again, its recvset empty, the log ends before it
        await pilot.press("b")
        await wait_for(pilot, lambda: replay.position == decided - 1, "one step back")
        await wait_for(pilot, lambda: cell(screen, 1, "state") == "LOOKING")
        assert "recvset (0)" in screen.detail.plain
        assert replay.executed[-1] == f"seek {decided - 1}"
        assert all(line.seq <= decided - 1 for line in screen.log_view.lines)
        assert "r1 n5" not in screen.timeline.text or screen.timeline.text.count("n5") == 1


async def test_a_breakpoint_stops_playback_at_the_right_seq() -> None:
    source = recorded_failover()
    replay = FakeReplay(source)
    expected = first_seq(source, lambda v: v.node(4).state == ServerState.LEADING)
    async with ZkfleApp(replay).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "break when n4.state == LEADING")
        await wait_for(pilot, lambda: replay.breakpoints, "the breakpoint")
        await wait_for(pilot, lambda: "b1 when n4.state == LEADING" in screen.position_bar.text)
        await pilot.press("plus", "plus")  # faster: 2x, then 5x
        await wait_for(pilot, lambda: replay.speed == 5.0, "5x")
        await pilot.press("space")
        await wait_for(pilot, lambda: "run" in replay.executed, "playing")
        await wait_for(pilot, lambda: not replay.running, "stopped at the breakpoint", 20)
        assert replay.position == expected
        await wait_for(pilot, lambda: f"seq {expected}/" in screen.position_bar.text)
        assert f"b1: when n4.state == LEADING at seq {expected}" in screen.position_bar.text
        # the status line says it too, not "playing" any more (issue 17)
        stopped = f"‖ stopped: b1: when n4.state == LEADING at seq {expected}"
        await wait_for(pilot, lambda: stopped in screen.bar.hint_text, "the stop said")
        await wait_for(pilot, lambda: cell(screen, 4, "state") == "LEADING")
        assert replay.executed == ["break when n4.state == LEADING", "speed 2x", "speed 5x", "run"]


async def test_marks_are_shown_and_brackets_seek_to_them() -> None:
    source = recorded_failover()
    replay = FakeReplay(source)
    marks = [e["seq"] for e in source.events if e["kind"] == "mark"]
    async with ZkfleApp(replay).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: "marks before crash@" in screen.position_bar.text)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: replay.position == marks[0], "the first mark")
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: replay.position == marks[1], "the second mark")
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: replay.position == marks[0], "back to the first")
        await enter_command(pilot, 'seek "after failover"')
        await wait_for(pilot, lambda: replay.position == marks[1], "seek by label")


async def test_enter_on_a_log_line_seeks_there() -> None:
    replay = FakeReplay(recorded_failover())
    async with ZkfleApp(replay).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "seek 40")
        await wait_for(pilot, lambda: screen.last_seq == 40, "the log up to 40")
        await pilot.press("l", "up", "up", "up")
        target = screen.log_view.selected
        assert target is not None
        await pilot.press("enter")
        await wait_for(pilot, lambda: replay.position == target.seq, "the seek")
        assert replay.executed[-1] == f"seek {target.seq}"


async def test_a_replay_is_read_only() -> None:
    replay = FakeReplay(recorded_failover())
    async with ZkfleApp(replay).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("c", "p", "i", "m")
        await pilot.pause()
        assert replay.executed == []
        assert screen.check_action("crash", ()) is False
        await enter_command(pilot, "crash 1")
        await wait_for(pilot, lambda: "read-only" in screen.bar.hint_text, "the refusal")


async def test_fork_switches_to_a_live_cluster_at_the_current_step() -> None:
    source = recorded_failover()
    replay = FakeReplay(source)
    after_failover = first_seq(source, lambda v: v.node(4).state == ServerState.LEADING)
    async with ZkfleApp(replay).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await enter_command(pilot, f"seek {after_failover}")
        await wait_for(pilot, lambda: replay.position == after_failover)
        await pilot.press("f")
        await wait_for(pilot, lambda: pilot.app.screen is not screen, "the live screen")
        live = cluster_screen(pilot)
        assert not live.replay
        assert replay.forks
        assert live.backend is replay.forks[0]
        await wait_for(pilot, lambda: "LIVE" in live.header.text)
        assert "fork.jsonl" in live.header.line(200).plain
        assert cell(live, 4, "state") == "LEADING"
        assert cell(live, 5, "state") == "down"
        await enter_command(pilot, "restart 5")
        await wait_for(pilot, lambda: cell(live, 5, "state") == "FOLLOWING", "n5 rejoins")
        assert replay.position == after_failover  # the replay itself is unchanged
        # q on a fork goes back to the replay it was forked from, and ends the fork
        await pilot.press("q")
        await wait_for(pilot, lambda: pilot.app.screen is screen, "back on the replay")
        await wait_for(pilot, lambda: replay.forks[0].closed, "the fork closed")
        assert pilot.app.is_running
        await wait_for(pilot, lambda: "closed the fork; its trace: " in screen.bar.hint_text)
        await pilot.press("q")
        await wait_for(pilot, lambda: not pilot.app.is_running, "quit")
