"""The sequence diagram in the console: live on the simulator and on threads, following a
replay's position, filtered with `/`, and inspected by key and by mouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console import ladder as model
from console.app import ZkfleApp
from console.ladder import Ladder
from console.screens.cluster import ClusterScreen
from console.widgets import ladder as widget
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.player import Replayer
from tests.console.conftest import cluster_screen, enter_command, wait_for
from tests.console.fakes import FakeBackend

FAILOVER = Path(__file__).resolve().parents[2] / "traces" / "examples" / "leader_failover.jsonl"


def diagram_text(screen: ClusterScreen) -> str:
    diagram = screen.diagram
    return "\n".join(
        "".join(s.text for s in diagram.render_line(y)) for y in range(diagram.size.height)
    )


async def test_s_shows_the_live_diagram_of_a_simulated_failover(sim_cluster: Cluster) -> None:
    async with ZkfleApp(sim_cluster).run_test(size=(120, 36)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.press("s")
        assert screen.views.current == "diagram"
        assert screen.diagram.has_focus
        await enter_command(pilot, "crash leader")
        await enter_command(pilot, "wait until stable")
        await wait_for(
            pilot,
            lambda: any(r.text == "LOOKING → LEADING r2" for r in screen.diagram.shown),
            "n4 leading on its lane",
        )
        text = diagram_text(screen)
        assert "n4 LOOKING → LEADING r2" in text
        assert "› wait until stable" in text
        header = text.splitlines()[0]
        assert all(f"n{sid}" in header for sid in range(1, 6))
        await pilot.press("s")
        assert screen.views.current == "plots"
        await pilot.press("s")
        assert screen.views.current == "log"
        assert screen.log_view.has_focus


async def test_selecting_an_arrow_shows_its_fields_and_wire_bytes(sim_cluster: Cluster) -> None:
    async with ZkfleApp(sim_cluster).run_test(size=(120, 36)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.press("s")
        await enter_command(pilot, "crash leader")
        await wait_for(
            pilot,
            lambda: any(r.arrow and r.arrow.exact for r in screen.diagram.shown),
            "a delivered notification",
        )
        await pilot.press("slash")
        screen.bar.input.insert_text_at_cursor("n1 send")
        await pilot.press("enter")
        rows = screen.diagram.shown
        assert rows
        assert all(r.arrow and 1 in (r.arrow.src, r.arrow.dst) for r in rows)
        assert screen.diagram.border_title == "sequence /n1 send"
        screen.diagram.focus()
        await pilot.press("up")
        row = screen.diagram.selected
        assert row is not None
        assert row.arrow is not None
        hint = screen.bar.hint_text
        assert f"{row.arrow.msg} n{row.arrow.src} → n{row.arrow.dst}" in hint
        if row.arrow.fields:
            assert "0000  00 00 00" in hint


async def test_a_wrong_diagram_filter_says_which_word(sim_cluster: Cluster) -> None:
    async with ZkfleApp(sim_cluster).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.press("s", "slash")
        screen.bar.input.insert_text_at_cursor("n2 leeder")
        await wait_for(pilot, lambda: "'leeder' is not a node" in screen.bar.hint_text)


async def test_a_click_on_an_arrow_inspects_it(sim_cluster: Cluster) -> None:
    async with ZkfleApp(sim_cluster).run_test(size=(120, 36)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.press("s")
        await enter_command(pilot, "crash leader")
        await wait_for(pilot, lambda: len(screen.diagram.shown) > 40, "rows")
        await pilot.pause()
        diagram = screen.diagram
        top = int(diagram.scroll_offset.y)
        for y in range(1, diagram.size.height):
            row = diagram.shown[top + y - 1]
            if row.arrow is not None:
                break
        assert await pilot.click(diagram, offset=(10, y))
        assert diagram.selected is row
        assert row.arrow is not None
        assert f"{row.arrow.msg} n{row.arrow.src} → n{row.arrow.dst}" in screen.bar.hint_text


async def test_the_diagram_on_a_threaded_cluster() -> None:
    cluster = Cluster(ClusterOptions(nodes=3, runtime="threaded", seed=3, record=False))
    try:
        cluster.start()
        async with ZkfleApp(cluster).run_test(size=(120, 30)) as pilot:
            screen = cluster_screen(pilot)
            await pilot.press("s")
            await wait_for(
                pilot,
                lambda: any(r.text == "LOOKING → LEADING r1" for r in screen.diagram.shown),
                "n3 leading",
                30,
            )
            assert any(r.arrow and r.arrow.fate == "delivered" for r in screen.diagram.shown)
    finally:
        cluster.close()


async def test_the_diagram_follows_a_replay_back_and_forth() -> None:
    replayer = Replayer(FAILOVER)
    try:
        crash_mark = replayer.marks[0].seq
        async with ZkfleApp(replayer).run_test(size=(120, 40)) as pilot:
            screen = cluster_screen(pilot)
            await wait_for(pilot, lambda: "REPLAY" in screen.header.text, "the replay header")
            await pilot.press("s", "right_square_bracket")
            await wait_for(pilot, lambda: replayer.position == crash_mark, "the first mark")
            await wait_for(pilot, lambda: screen.diagram.ladder.last_seq == crash_mark)
            assert max(r.seq for r in screen.diagram.shown) <= crash_mark
            assert screen.diagram.ladder.states[5] == "LEADING"
            await enter_command(pilot, "seek 700")
            await wait_for(pilot, lambda: screen.diagram.ladder.states[5] == "down", "n5 down")
            assert screen.diagram.ladder.states[4] == "LEADING"
            await enter_command(pilot, "seek 300")
            await wait_for(pilot, lambda: screen.diagram.ladder.states[4] == "FOLLOWING")
            assert max(r.seq for r in screen.diagram.shown) <= 300
    finally:
        replayer.close()


def _arrows(rows: list[model.Row]) -> list[tuple[int, str | None, str]]:
    return [
        (r.seq, r.arrow.msg if r.arrow else None, r.arrow.fate if r.arrow else r.text) for r in rows
    ]


async def test_the_hidden_diagram_lays_out_what_it_missed_when_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind the log the diagram lays nothing out; shown (`s`), it has every row, with
    each arrow's fate, as if it had been drawing all along."""
    fed: list[int] = []
    feed = Ladder.feed

    def counted(self: Ladder, e: Any) -> None:
        fed.append(e.get("seq", 0))
        feed(self, e)

    monkeypatch.setattr(Ladder, "feed", counted)
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        fake.execute("crash 2")
        fake.storm(300)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the storm taken")
        await pilot.pause(0.1)
        assert not fed  # nothing laid out behind the log
        await pilot.press("s")
        assert screen.views.current == "diagram"
        full = Ladder()
        for e in fake.events:
            feed(full, e)
        assert _arrows(screen.diagram.shown) == _arrows(list(full.rows))
        assert screen.diagram.ladder.down == full.down == {2}
        await pilot.pause()
        last = full.rows[-1].arrow
        assert last is not None
        assert last.msg in diagram_text(screen)


async def test_a_diagram_hidden_for_long_starts_over_from_the_lives_it_missed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hidden past BACKLOG events, the diagram keeps only the newest; the crash and the
    pause among those let go still show as lanes down."""
    monkeypatch.setattr(widget, "BACKLOG", 100)
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(160, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        fake.execute("crash 2")
        fake.emit("pause", 3)
        fake.storm(200)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the storm taken")
        await pilot.press("s")
        full = Ladder()
        for e in fake.events:
            full.feed(e)
        diagram = screen.diagram
        assert diagram.ladder.down == full.down == {2, 3}
        first = len(fake.events) - 100
        window = [r for r in full.rows if r.seq > first]
        assert _arrows(diagram.shown) == _arrows(window)
        assert all(r.down == {2, 3} for r in diagram.shown)
        await pilot.pause()
        header = diagram_text(screen).splitlines()[0]
        assert f"since seq {first + 1}; older" in header  # cut to the width, as any header
