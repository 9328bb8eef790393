"""A frame costs what changed, not the whole screen (issue 13, item 4): the message log and
the sequence diagram growing under a storm never lay the screen out again, and the node
detail, drawn at most LIVE_HZ times a second on a live cluster, still ends on the last
change of a burst."""

from __future__ import annotations

from typing import Any

import pytest
from textual.geometry import Region
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from console.app import ZkfleApp
from console.widgets.detail import LIVE_HZ, NodeDetail
from console.widgets.ensemble import EnsembleTable
from console.widgets.log import MessageLog
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
