"""A frame costs what changed, not the whole screen (issue 13, item 4): the message log and
the sequence diagram growing under a storm never lay the screen out again, and the node
detail, drawn at most LIVE_HZ times a second on a live cluster, still ends on the last
change of a burst."""

from __future__ import annotations

import gc
from dataclasses import replace
from typing import Any

import pytest
from rich.segment import Segment
from rich.table import Table
from textual.geometry import Region
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from console import collector
from console.app import ZkfleApp
from console.widgets.detail import LIVE_HZ, DetailBody, NodeDetail
from console.widgets.ensemble import EnsembleTable
from console.widgets.log import MessageLog
from engine.runtime import interpreter
from tests.console.conftest import cluster_screen, wait_for
from tests.console.fakes import FakeBackend


async def test_a_storm_in_the_log_and_the_diagram_does_not_lay_out_the_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        fake.storm(60)  # what a first burst lays out once (the footer's keys)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the first burst")
        await pilot.pause(0.2)
        reflows: list[int] = []
        compositor = screen._compositor
        reflow = compositor.reflow

        def counted(*args: Any, **kwargs: Any) -> Any:
            reflows.append(screen.last_seq)
            return reflow(*args, **kwargs)

        monkeypatch.setattr(compositor, "reflow", counted)
        for _ in range(6):  # a burst a frame, each more lines than the log shows
            fake.storm(60)
            await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the burst shown")
        assert len(screen.log_view.shown) > 600
        assert screen.diagram.shown[-1].seq == len(fake.events) - 1  # the last send's row
        assert reflows == []


async def test_the_node_detail_ends_on_the_last_change_of_a_burst() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: "n1 FOLLOWING" in screen.detail.plain, "n1 drawn")
        # n1 goes down and up a frame apart, faster than the detail is drawn again, and
        # ends down: the last change is drawn once its turn comes.
        for i in range(2 * LIVE_HZ + 1):
            fake.execute("crash 1" if i % 2 == 0 else "restart 1")
            await pilot.pause(0.05)
        assert not fake.view().node(1).alive
        await wait_for(pilot, lambda: "n1 down" in screen.detail.plain, "n1 drawn down")


def _thumb(view: MessageLog) -> list[int]:
    """The lines of the log's scrollbar that its thumb takes, as drawn."""
    bar = view.vertical_scrollbar
    strips = bar.render_lines(Region(0, 0, bar.size.width, bar.size.height))
    return [
        y
        for y, strip in enumerate(strips)
        if any(s.style is not None and s.style.meta.get("@mouse.down") == "grab" for s in strip)
    ]


async def test_the_log_scrollbar_is_drawn_again_only_when_its_thumb_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log of 2 000 lines growing by a few a frame moves its thumb by less than a cell:
    the scrollbar is not drawn again (it was, every frame, as tall as the log); scrolled
    to the top and back to the end, it is, with the thumb where the view is."""
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        log = screen.log_view
        fake.storm(1000)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the storm")
        await pilot.pause(0.2)
        drawn: list[int] = []
        render_lines = ScrollBar.render_lines

        def counted(bar: ScrollBar, crop: Region) -> list[Strip]:
            if bar.parent is log:
                drawn.append(screen.last_seq)
            return render_lines(bar, crop)

        monkeypatch.setattr(ScrollBar, "render_lines", counted)
        for _ in range(8):  # a line or two a frame
            fake.storm(1)
            await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the lines")
            await pilot.pause(0.05)
        assert len(log.shown) >= 2000
        assert len(drawn) <= 2, drawn
        bottom = _thumb(log)
        assert bottom
        assert bottom[-1] == log.vertical_scrollbar.size.height - 1
        log.focus()
        await pilot.press("home")
        await pilot.pause(0.1)
        assert _thumb(log)[0] == 0
        await pilot.press("end")
        await pilot.pause(0.1)
        assert _thumb(log) == bottom


async def test_the_node_pane_is_not_repainted_for_its_unchanged_title(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Setting a border title repaints the whole pane: the node's is set when it changes,
    not at every frame of a storm."""
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.detail.border_title == "node n1", "n1's pane")
        await pilot.pause(0.2)
        repainted: list[int] = []
        refresh = NodeDetail.refresh

        def counted(pane: NodeDetail, *regions: Region, **kwargs: Any) -> NodeDetail:
            repainted.append(screen.last_seq)
            return refresh(pane, *regions, **kwargs)

        monkeypatch.setattr(NodeDetail, "refresh", counted)
        for i in range(6):
            fake.storm(20)
            fake.execute("pause 3" if i % 2 else "resume 3")  # a new view every frame
            await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the burst")
        assert repainted == []
        assert screen.detail.border_title == "node n1"


async def test_a_node_that_changed_repaints_only_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a storm each frame brings a few nodes' changes: only their rows of the
    ensemble are painted again (each line painted costs Textual's styling as well as ours)."""
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        ensemble = screen.ensemble
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.pause(0.2)
        painted: list[int] = []
        render_line = EnsembleTable.render_line

        def counted(table: EnsembleTable, y: int) -> Strip:
            painted.append(y)
            return render_line(table, y)

        monkeypatch.setattr(EnsembleTable, "render_line", counted)
        fake.nodes[3].last_event = "ping"  # no wider than the column already is
        await wait_for(pilot, lambda: ensemble.get_cell(3, "last").plain == "ping", "n3's")
        await pilot.pause(0.2)
        assert set(painted) == {3}  # the header is line 0, n1 line 1
        assert "ping" in "".join(s.text for s in render_line(ensemble, 3))


async def test_what_the_console_holds_at_start_is_left_out_of_full_collections() -> None:
    """The collector's full collections walked every object Textual made at start-up, ~30
    ms of the UI thread each, every ~25 frames of a storm: once the first screen is up it
    is frozen and full collections are made rare; at exit, all is as before."""
    before = gc.get_threshold()
    async with ZkfleApp(FakeBackend()).run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: gc.get_freeze_count() > 0, "the start-up frozen")
        assert gc.get_threshold()[2] >= collector.FULL_COLLECTION_EVERY
        assert gc.get_threshold()[:2] == before[:2]
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_a_large_cluster_stopping_leaves_the_consoles_collector_settings_alone() -> None:
    """Regression: the console, a large threaded cluster (engine.runtime.interpreter) and
    exploration each saved the collector's settings, changed them and put back what they
    had found, so a large cluster stopping under a running console unfroze what the
    console held and undid its thresholds (and the console's exit could put back the
    cluster's). One keeper now counts its holders: the highest thresholds asked for hold
    until the last one lets go."""
    before = gc.get_threshold()
    collector.settle()
    try:
        interpreter.enter()
        with interpreter.collecting_less(young=before[0] + 1):
            assert gc.get_threshold()[0] == before[0] + 1
            assert gc.get_threshold()[2] >= interpreter.FULL_COLLECTION_EVERY
        interpreter.leave()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (*before[:2], max(before[2], collector.FULL_COLLECTION_EVERY))
    finally:
        collector.restore()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_the_node_pane_draws_again_only_the_parts_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rich's tables are most of the node pane's cost: when only a node's queues change
    (under a storm, every time), its vote tables keep their lines; the pane still shows
    what Rich draws of the whole."""
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        detail, body = screen.detail, screen.detail.query_one(DetailBody)
        detail.replay_clock = 1  # drawn at every call, as a replay's steps are
        view = screen.cluster_view
        assert view is not None
        node = next(n for n in view.nodes if n.recvset)
        detail.select()
        detail.show(node)
        await pilot.pause(0.1)
        drawn: list[Table] = []
        draw = Table.__rich_console__

        def counted(table: Table, console: Any, options: Any) -> Any:
            drawn.append(table)
            return draw(table, console, options)

        monkeypatch.setattr(Table, "__rich_console__", counted)
        for depth in (3, 4):
            detail.replay_clock += 1
            detail.show(replace(node, send_queues=((node.sid % 3 + 1, depth),)))
            await pilot.pause(0.1)
            assert len(drawn) == 1  # the grid alone, not the vote tables
            console = pilot.app.console
            width = body.size.width
            options = pilot.app.console_options.update_width(width).update(highlight=False)
            whole = Segment.split_and_crop_lines(
                console.render(detail._renderable, options),
                width,
                include_new_lines=False,
                pad=False,
            )
            assert body._lines == list(whole)
            drawn.clear()
