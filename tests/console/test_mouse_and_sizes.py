"""The mouse (a click selects a node, a log line, a diagram row; the wheel scrolls) and the
console at every size from 80x24 to 250x70 (a cut line ends in an ellipsis)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual import events

from console.app import ZkfleApp
from console.backend import BackendInfo
from console.widgets.ladder import SequenceDiagram
from console.widgets.log import MessageLog
from tests.console.conftest import cluster_screen, enter_command, wait_for
from tests.console.fakes import FakeBackend


def visible(widget: MessageLog | SequenceDiagram, y: int) -> str:
    """Row `y` as the terminal shows it: the scrollbar's column is not the widget's text."""
    text = "".join(s.text for s in widget.render_line(y))
    return text[: widget.scrollable_content_region.width]


async def test_a_click_selects_a_node_and_a_log_line() -> None:
    async with ZkfleApp(FakeBackend()).run_test(size=(120, 36)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        assert await pilot.click(screen.ensemble, offset=(2, 2))  # the heading, n1, n2
        await wait_for(pilot, lambda: screen.ensemble.selected_sid == 2, "n2 selected")
        assert screen.detail.border_title == "node n2"
        await enter_command(pilot, "crash 5")
        await wait_for(pilot, lambda: "✓ crashed n5" in screen.bar.hint_text, "the result")
        log = screen.log_view
        await wait_for(pilot, lambda: len(log.shown) > 3, "log lines")
        top = int(log.scroll_offset.y)
        assert await pilot.click(log, offset=(5, 0))
        assert log.selected is log.shown[top]
        line = log.selected
        if line is not None and line.msg:
            assert f"deliver {line.msg}" in screen.bar.hint_text


async def test_the_wheel_scrolls_the_log() -> None:
    async with ZkfleApp(FakeBackend()).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        for sid in (5, 4, 3):
            await enter_command(pilot, f"crash {sid}")
            await enter_command(pilot, f"restart {sid}")
        log = screen.log_view
        await wait_for(pilot, lambda: len(log.shown) > log.size.height + 5, "a full log")
        await pilot.pause()
        bottom = log.scroll_offset.y
        assert bottom > 0
        # Pilot has no wheel of its own: post the wheel's event where it would land
        await pilot._post_mouse_events([events.MouseScrollUp], log, offset=(5, 2))
        await wait_for(pilot, lambda: log.scroll_offset.y < bottom, "scrolled up")


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (250, 70)])
async def test_a_line_too_long_for_its_pane_ends_in_an_ellipsis(size: tuple[int, int]) -> None:
    async with ZkfleApp(FakeBackend()).run_test(size=size) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        long = "x" * 300
        await enter_command(pilot, f"mark {long}")
        log = screen.log_view
        await wait_for(pilot, lambda: any(long in line.plain for line in log.shown), "the mark")
        await pilot.pause()
        rows = [visible(log, y) for y in range(log.size.height)]
        cut = [row for row in rows if "xxxxxxxx" in row]
        assert cut
        assert all(row.rstrip().endswith("…") for row in cut), cut


class _Checked(FakeBackend):
    """A real ZooKeeper run's backend as the header sees it: with a model check's lamp."""

    @property
    def info(self) -> BackendInfo:
        return replace(super().info, runtime="zookeeper 3.8.0", check="1 disagreement(s)")


async def test_a_click_on_the_check_lamp_lists_the_disagreements() -> None:
    """Issue 10: the lamp is pressed to see what it found (the `check` command)."""
    backend = _Checked()
    async with ZkfleApp(backend).run_test(size=(160, 36)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: "check: 1 disagreement(s)" in screen.header.text, "lamp")
        at = screen.header.text.index("check: ")
        assert await pilot.click(screen.header, offset=(at + 9, 0))
        await wait_for(pilot, lambda: backend.executed == ["check"], "the check command")
        assert await pilot.click(screen.header, offset=(at - 3, 0))  # beside it: nothing
        await enter_command(pilot, "status")  # commands run in order: any check comes first
        await wait_for(pilot, lambda: "status" in backend.executed, "status")
        assert backend.executed == ["check", "status"]
