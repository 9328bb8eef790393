"""The plots' model (console.plots) and the plots pane on a simulated failover."""

from __future__ import annotations

from typing import Any

from console.app import ZkfleApp
from console.plots import RATE_BUCKET_MS, RateSeries, StateHistory, sparkline
from engine.control.cluster import Cluster
from tests.console.conftest import cluster_screen, enter_command, wait_for
from tests.console.test_ladder import events


def test_each_nodes_state_over_a_recorded_failover() -> None:
    trace = events("leader_failover.jsonl")
    history = StateHistory()
    for event in trace:
        history.feed(event)
    crash = next(e for e in trace if e["kind"] == "stop")
    assert crash["node"] == 5
    assert history.state_at(5, crash["t_ms"] - 0.001) == "LEADING"
    assert history.state_at(5, crash["t_ms"]) == "down"
    end = trace[-1]["t_ms"]
    assert history.state_at(4, end) == "LEADING"
    assert history.state_at(5, end) == "FOLLOWING"
    strip = history.columns(4, 0.0, end, 2000)
    assert strip[-1] == "LEADING"
    assert "FOLLOWING" in strip
    assert "LOOKING" in strip
    history.truncate_after(crash["t_ms"] - 0.001)
    assert history.state_at(5, end) == "LEADING"
    assert history.state_at(4, end) == "FOLLOWING"


def test_the_rate_counts_sends_between_nodes_per_second() -> None:
    trace = events("leader_failover.jsonl")
    rate = RateSeries()
    for event in trace:
        rate.feed(event)
    end = trace[-1]["t_ms"]
    width = int(end // RATE_BUCKET_MS) + 1
    series = rate.per_second(end, width)
    sent = sum(1 for e in trace if e["kind"] == "send" and e["node"] != e["to"])
    assert sum(series) * RATE_BUCKET_MS / 1000 == sent
    crash = next(e for e in trace if e["kind"] == "stop")["t_ms"]
    rate.truncate_after(crash)
    assert 0 < sum(rate.per_second(end, width)) < sum(series)


def test_a_sparkline_scales_to_its_peak() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▁▂▄█"
    assert sparkline([0, 0]) == "  "
    assert sparkline([]) == ""
    assert sparkline([0.01, 100]) == "▁█"


async def test_the_plots_pane_shows_the_failover(sim_cluster: Cluster) -> None:
    async with ZkfleApp(sim_cluster).run_test(size=(120, 36)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await enter_command(pilot, "crash leader")
        await enter_command(pilot, "wait until stable")
        await wait_for(pilot, lambda: screen.plots.states.state_at(4, 1e12) == "LEADING")
        await pilot.press("s", "s")
        assert screen.views.current == "plots"
        await pilot.pause(0.2)
        text: Any = screen.plots.body.render()
        plain = str(text)
        assert "n5" in plain
        assert "sends/s" in plain
        assert "queues" in plain
        assert screen.plots.states.state_at(5, 1e12) == "down"
