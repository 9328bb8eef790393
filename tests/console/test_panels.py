"""What the panels show must be true (issue 17): the elections timeline, the message log
under heartbeat traffic and after a seek, the header's serving leader and quorum, votes in
the order that decides, zxids never cut, `?` explaining the columns, and large clusters
(the leader kept in sight, nodes past 9 selected by their sid)."""

from __future__ import annotations

import re
from pathlib import Path

from console.app import ZkfleApp
from console.format import node_summary
from console.screens.cluster import ClusterScreen
from console.screens.help import HelpScreen
from console.widgets.log import LOG_CAP
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.player import Replayer
from tests.console.conftest import cell, cluster_screen, enter_command, log_text, wait_for
from tests.console.fakes import FakeBackend


def strip_text(screen: ClusterScreen, y: int) -> str:
    """Line `y` of the ensemble strip as drawn (columns cut to the width included)."""
    return "".join(segment.text for segment in screen.ensemble.render_line(y))


# --- the elections timeline ------------------------------------------------------------------


async def test_the_timeline_has_a_row_per_election_and_scrolls_past_five_rows() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        for _ in range(4):  # n5 wins round 1 again after each restart of everything
            await enter_command(pilot, "crash all")
            await enter_command(pilot, "restart all")
        await wait_for(pilot, lambda: len(screen.timeline.elections) == 5, "five elections")
        for sid in (5, 4):
            await enter_command(pilot, f"crash {sid}")
        await wait_for(pilot, lambda: len(screen.timeline.elections) == 7, "seven elections")
        rows = screen.timeline.row_texts()
        assert [bool(re.search(r"elected\s+n5\s", row)) for row in rows[:5]] == [True] * 5
        assert re.search(r"elected\s+n4\s.*n5 crashed", rows[5])
        assert re.search(r"elected\s+n3\s.*n4 crashed", rows[6])
        shown = screen.timeline.text.splitlines()
        assert "started" in shown[0]
        assert "outage" in shown[0]
        assert shown[-1] == rows[-1].rstrip() or rows[-1].startswith(shown[-1].rstrip())
        assert rows[0] not in screen.timeline.text  # scrolled: the newest is in sight
        screen.timeline.focus()
        await pilot.press("home")
        assert rows[0].rstrip() in screen.timeline.text
        await pilot.press("end")
        assert rows[0].rstrip() not in screen.timeline.text


# --- the message log ----------------------------------------------------------------------------


async def test_heartbeats_never_push_the_election_out_of_the_log() -> None:
    # Issue 17, defect 10: PINGs and the core steps they cause filled the log's cap.
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the election")
        for _ in range(5):  # 12k quiet events, seen over a few frames
            fake.heartbeats(200)
            await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "heartbeats")
        shown = "\n".join(line.plain for line in screen.log_view.shown)
        assert "n5 LOOKING → LEADING leader n5 r1" in shown
        assert "⋯ 12,000 quiet events (PINGs and other quorum packets" in shown
        assert len(screen.log_view.quiet) <= LOG_CAP + LOG_CAP // 4
        await pilot.press("v")
        await wait_for(pilot, lambda: "(all events)" in str(screen.log_view.border_title))
        assert any("PING" in line.plain for line in screen.log_view.shown)
        assert not any(line.kind == "fold" for line in screen.log_view.shown)


async def test_after_a_seek_the_log_shows_the_events_that_led_there(tmp_path: Path) -> None:
    # Issue 17, defect 10: after a seek the log showed only the last 2000 events, which on a
    # healthy cluster are all heartbeats.
    path = tmp_path / "healthy.jsonl"
    with Cluster(ClusterOptions(runtime="sim", seed=7, trace=path)) as cluster:
        for text in ("start", "wait until stable within 5s", "wait 30s"):
            assert cluster.execute(text).ok
    with Replayer(path) as replayer:
        async with ZkfleApp(replayer).run_test(size=(120, 40)) as pilot:
            screen = cluster_screen(pilot)
            await enter_command(pilot, f"seek {replayer.total}")
            await wait_for(pilot, lambda: screen.last_seq == replayer.total, "the seek")
            await wait_for(pilot, lambda: "LOOKING → LEADING" in log_text(screen), "the election")
            assert "n5 LOOKING → LEADING leader n5 r1" in log_text(screen)
            assert "› wait 30s" in log_text(screen)


# --- the header -----------------------------------------------------------------------------


async def test_the_header_shows_the_serving_leader_and_the_quorum_while_a_node_looks() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 30)) as pilot:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "isolate 1")
        await wait_for(pilot, lambda: cell(screen, 1, "state") == "LOOKING", "n1 looking")
        assert "leader n5 · quorum 5/5 · 1 LOOKING" in screen.header.text
        await enter_command(pilot, "crash 3,4,5")
        await wait_for(pilot, lambda: "no quorum" in screen.header.text, "the quorum lost")
        assert "no quorum: 2 of 5 up, 3 needed" in screen.header.text
        # narrow: the trace's name goes first, the leader and quorum stay
        assert "fake.jsonl" in screen.header.line(160).plain
        narrow = screen.header.line(70).plain
        assert "fake.jsonl" not in narrow
        assert "no quorum: 2 of 5 up, 3 needed" in narrow


def test_the_shell_toolbar_shows_the_serving_leader_while_a_node_looks_too() -> None:
    fake = FakeBackend()
    fake.execute("isolate 1")
    assert node_summary(fake.view()).startswith("leader n5 · quorum 5/5 · 1 LOOKING │ n1 K ")


# --- votes, zxids, help ---------------------------------------------------------------------


async def test_votes_read_in_the_order_that_decides_with_the_deciding_field_marked() -> None:
    fake = FakeBackend(auto_elect=False, start=False)
    fake.execute("start")  # every node proposes itself; n5 is the best
    async with ZkfleApp(fake).run_test(size=(120, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: cell(screen, 5, "proposal") != "", "the proposals")
        best = screen.ensemble.get_cell(5, "proposal")
        assert best.plain == "e0 0x0 n5"  # (peer epoch, zxid, sid): totalOrderPredicate's order
        marked = [best.plain[s.start : s.end] for s in best.spans if "underline" in str(s.style)]
        assert marked == ["n5"]  # same epoch and zxid as n4: the sid decides
        other = screen.ensemble.get_cell(4, "proposal")
        assert not [s for s in other.spans if "underline" in str(s.style)]


async def test_a_zxid_is_never_cut_at_120_columns() -> None:
    fake = FakeBackend(start=False)
    for node in fake.nodes.values():
        node.current_epoch, node.last_zxid = 22, 0x1600000003
    fake.execute("start")
    async with ZkfleApp(fake).run_test(size=(120, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: cell(screen, 5, "state") == "LEADING", "the leader")
        await pilot.pause()
        row = strip_text(screen, 1)
        assert "e22 0x1600000003 n5" in row  # the proposal
        assert "0x1600000003" in row.split("n5")[-1]  # and the last zxid column


async def test_help_explains_every_column_and_abbreviation() -> None:
    text = HelpScreen("", [("q", "Quit")]).plain
    for explained in (
        r"lc\s+logicalclock",
        r"rset\s+recvset",
        r"rq\s+QuorumCnxManager's receive queue",
        r"fq\s+FLE's recvqueue",
        r"sq\s+messages in the send queues",
        r"r, e, r-1\s+r2: election round 2",
        r"1/1\s+currentEpoch/acceptedEpoch",
        r"took\s+FLE's time on the leader",
        r"outage\s+the whole time without a serving leader",
        r"won on\s+the field of \(epoch, zxid, sid\)",
    ):
        assert re.search(explained, text), explained


# --- large clusters -------------------------------------------------------------------------


async def test_the_leader_stays_in_sight_and_nodes_past_9_are_selected_by_sid() -> None:
    fake = FakeBackend(31)
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: cell(screen, 31, "state") == "LEADING", "n31 leads")
        await pilot.pause()
        assert screen.ensemble.selected_sid == 1
        pinned = strip_text(screen, 1)
        assert pinned.startswith("↓n31")  # below the rows in sight: pinned under the header
        assert "LEADING" in pinned
        assert strip_text(screen, 2).startswith(" n1 ")
        screen.clock = lambda: 100.0  # the digits come within the typing window
        await pilot.press("1", "2")
        assert screen.ensemble.selected_sid == 12
        assert any(strip_text(screen, y).startswith(" n12 ") for y in range(2, 11))
        screen.clock = lambda: 200.0  # a pause: a new sid begins
        await pilot.press("7")
        assert screen.ensemble.selected_sid == 7
        await pilot.press("3")  # 73 is no sid: 3 is
        assert screen.ensemble.selected_sid == 3
