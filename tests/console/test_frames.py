"""A frame costs what changed, not the whole screen (issue 13, item 4): the message log and
the sequence diagram growing under a storm never lay the screen out again, and the node
detail, drawn at most LIVE_HZ times a second on a live cluster, still ends on the last
change of a burst."""

from __future__ import annotations

from typing import Any

import pytest

from console.app import ZkfleApp
from console.widgets.detail import LIVE_HZ
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
