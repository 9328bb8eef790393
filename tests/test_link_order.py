"""Order of election notifications on a link: FIFO as on ZooKeeper's TCP connections, unless
a per-notification fault (reorder, delay with jitter) lets a later one overtake.

Regression: `reorder` never reordered. Host._arrival_due let the reordered notification skip
the link's FIFO floor but then raised the floor to its own (later) arrival, so the next one
waited behind it; the threaded runtime kept strict FIFO on its RecvWorker plane whatever the
fault.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime.network import LINK_LATENCY_MS

Event = Mapping[str, Any]


def overtaken(events: list[Event]) -> int:
    """How many notifications were overtaken: delivered more than a link's whole latency
    span (so not by the latency's randomness) after one sent later on the same link."""
    sent: dict[str, tuple[int, int, int]] = {}
    by_link: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for e in events:
        msg = str(e.get("msg", ""))
        if not msg.startswith("m"):
            continue
        if e["kind"] == "send":
            sent[msg] = (e["node"], e["to"], e["seq"])
        elif e["kind"] == "deliver" and msg in sent:
            src, dst, seq = sent[msg]
            by_link.setdefault((src, dst), []).append((seq, e["t_ms"]))
    span = LINK_LATENCY_MS[1] - LINK_LATENCY_MS[0]
    return sum(
        later[0] < earlier[0] and later[1] - earlier[1] > span
        for order in by_link.values()
        for earlier, later in itertools.pairwise(order)
    )


def failovers(runtime: str, fault: str | None, rounds: int) -> int:
    """Elections after leader crashes with `fault` on every link; returns `overtaken`,
    stopping early once a notification was overtaken."""
    events: list[Event] = []
    options = ClusterOptions(nodes=5, runtime=runtime, seed=3, record=False, tick_ms=50)
    with Cluster(options) as cluster:
        cluster.recorder.listeners.append(events.append)
        assert cluster.execute("start").ok
        assert cluster.execute("wait until stable within 10s").ok
        if fault is not None:
            assert cluster.execute(fault).ok
        for _ in range(rounds):
            assert cluster.execute("crash leader").ok
            assert cluster.execute("wait until stable within 20s").ok
            assert cluster.execute("restart all").ok
            if fault is not None and overtaken(list(events)):
                break
    return overtaken(events)


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_reorder_lets_later_notifications_overtake(runtime: str) -> None:
    assert failovers(runtime, "reorder * 50%", rounds=8) > 0


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_without_faults_a_link_delivers_in_order(runtime: str) -> None:
    assert failovers(runtime, None, rounds=3) == 0
