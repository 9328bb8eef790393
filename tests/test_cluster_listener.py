"""The Cluster's recorder listener: the election tracker is fed on demand (when the timeline
is asked for, or when its backlog is long), and loses or reorders nothing by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.control import cluster as cluster_module
from engine.control.cluster import Cluster, ClusterOptions
from engine.trace.elections import ElectionTracker
from engine.trace.format import read_trace

SCENARIO = (
    "start",
    "wait until stable within 10s",
    "crash leader",
    "wait until stable within 10s",
    "partition 1,2 | 3,4,5",
    "wait 2s",
    "heal",
    "wait until stable within 20s",
)


def _run(path: Path, asks: bool) -> tuple[Cluster, list[object]]:
    cluster = Cluster(ClusterOptions(nodes=5, runtime="sim", seed=9, trace=path))
    seen = []
    for command in SCENARIO:
        assert cluster.execute(command).ok, command
        if asks:
            seen.append(cluster.timeline())
    return cluster, seen


def _fed(path: Path, cluster: Cluster) -> ElectionTracker:
    tracker = ElectionTracker(cluster.config.quorum_verifier)
    for event in read_trace(path):
        tracker.feed(event)
    return tracker


@pytest.mark.parametrize("backlog", [cluster_module.ELECTION_BACKLOG, 7])
def test_the_timeline_is_the_one_of_a_tracker_fed_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backlog: int
) -> None:
    monkeypatch.setattr(cluster_module, "ELECTION_BACKLOG", backlog)
    path = tmp_path / "run.jsonl"
    cluster, _ = _run(path, asks=False)
    assert len(cluster._election_backlog) < backlog
    timeline = cluster.timeline()
    assert not cluster._election_backlog
    cluster.close()
    expected = _fed(path, cluster).timeline()
    assert len(timeline.elections) >= 2
    assert timeline == expected


def test_asking_along_the_way_gives_the_same_timeline(tmp_path: Path) -> None:
    asked, seen = _run(tmp_path / "a.jsonl", asks=True)
    quiet, _ = _run(tmp_path / "b.jsonl", asks=False)
    try:
        assert len(seen[1].elections) < len(seen[-1].elections)
        assert asked.timeline() == quiet.timeline() == seen[-1]
    finally:
        asked.close()
        quiet.close()
