"""Elections and outages derived from trace events (engine.trace.elections): one row per election
whatever its leader and round, ongoing and abandoned ones too, the outage each one ended
and what began it, and the same answer at any replay position however it was reached."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.config import generate_config
from engine.core.quorum.parse import parse_dynamic_config
from engine.replay.fork import fork
from engine.replay.player import Replayer
from engine.trace.elections import (
    ABANDONED,
    ELECTED,
    ONGOING,
    REJOINED,
    Election,
    ElectionTracker,
    Timeline,
    deciding_field,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "traces" / "examples"


def sim(**options: Any) -> Cluster:
    return Cluster(ClusterOptions(runtime="sim", seed=7, record=False, **options))


def run(cluster: Cluster, *commands: str) -> None:
    for text in commands:
        result = cluster.execute(text)
        assert result.ok, f"{text}: {result.text}"


def derive(header: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Timeline:
    tracker = ElectionTracker(parse_dynamic_config(header["cluster"]["config"]))
    for event in events:
        tracker.feed(event)
    return tracker.timeline()


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = path.read_bytes().splitlines()
    return orjson.loads(lines[0]), [orjson.loads(line) for line in lines[1:]]


def summary(e: Election) -> tuple[str, int | None, int | None]:
    return e.status, e.leader, e.epoch


# --- one row per election ------------------------------------------------------------------


def test_crash_all_and_restart_all_is_a_second_election_of_the_same_leader_and_round() -> None:
    # Issue 17, defect 2: the console keyed elections by (leader, round), and n5 wins round
    # 1 both times, so the second election overwrote the first one's row.
    with sim() as c:
        run(c, "start", "wait until stable within 5s", "crash all", "restart all")
        run(c, "wait until stable within 5s")
        first, second = c.timeline().elections
    assert (first.leader, first.round, second.leader, second.round) == (5, 1, 5, 1)
    assert (summary(first), summary(second)) == ((ELECTED, 5, 1), (ELECTED, 5, 2))
    assert [sid for sid, _ in second.took] == [1, 2, 3, 4, 5]
    assert first.ended_ms is not None
    assert second.started_ms >= first.ended_ms
    assert first.outage is not None
    assert first.outage.trigger == "start"
    # `crash all` stops n1, n2, ... in turn; the leader lost its quorum at the third.
    assert second.outage is not None
    assert second.outage.trigger == "quorum lost: n3 crashed"
    assert second.outage.ended_ms == second.ended_ms


def test_an_election_without_a_quorum_goes_on_and_is_abandoned_when_its_nodes_stop() -> None:
    with sim() as c:
        run(c, "start 1,2", "wait 2s")
        (looking,) = c.timeline().elections
        assert looking.status == ONGOING
        assert looking.looking == (1, 2)
        assert looking.outage is not None
        assert looking.outage.ongoing
        run(c, "crash 1,2")
        timeline = c.timeline()
    (abandoned,) = timeline.elections
    assert (abandoned.status, abandoned.leader, abandoned.took) == (ABANDONED, None, ())
    assert timeline.serving is None
    assert timeline.outages[-1].ongoing  # still no leader


def test_a_restarted_follower_rejoins_the_serving_leader_without_an_outage() -> None:
    with sim() as c:
        run(c, "start", "wait until stable within 5s", "crash 2", "restart 2")
        run(c, "wait until stable within 5s")
        timeline = c.timeline()
    elected, rejoined = timeline.elections
    assert summary(elected) == (ELECTED, 5, 1)
    assert summary(rejoined) == (REJOINED, 5, 1)
    assert [sid for sid, _ in rejoined.took] == [2]
    assert rejoined.cause == "n2 started"
    assert len(timeline.outages) == 1  # only the start: the leader served throughout


def test_the_minority_of_a_partition_rejoins_after_the_heal() -> None:
    header, events = read(EXAMPLES / "minority_partition.jsonl")
    elections = derive(header, events).elections
    assert [summary(e) for e in elections] == [
        (ELECTED, 5, 1),
        (ELECTED, 3, 2),
        (REJOINED, 3, 2),
    ]
    partitioned = elections[1].outage
    assert partitioned is not None
    # The leader n5 was cut off from its quorum at the partition, not when n1-n3 noticed.
    fault = next(e for e in events if e["kind"] == "fault")
    assert partitioned.started_seq == fault["seq"]
    assert partitioned.trigger == "f1 partition 4,5|1,2,3"
    assert [sid for sid, _ in elections[2].took] == [4, 5]


def test_a_paused_leader_ends_the_service_when_it_is_paused() -> None:
    with sim() as c:
        run(c, "start", "wait until stable within 5s", "pause leader")
        paused_at = c.view().t_ms
        run(c, "wait until stable within 10s")
        timeline = c.timeline()
        events = list(c.recorder.recent)
    # a follower that timed out later joins n4 once it leads: a `rejoined` row after it
    elected = [e for e in timeline.elections if e.status == ELECTED][-1]
    assert summary(elected) == (ELECTED, 4, 2)
    assert elected.outage is not None
    assert (elected.outage.trigger, elected.outage.started_ms) == ("n5 paused", paused_at)
    (pause,) = [e for e in events if e["kind"] == "pause"]  # trace 1.3: at the pause itself
    assert (pause["node"], elected.outage.started_seq) == (5, pause["seq"])
    # followers notice the silence only after syncLimit ticks: the outage includes that
    assert elected.outage.duration_ms(0) > elected.started_ms - paused_at


def test_the_leader_losing_its_followers_is_a_quorum_loss() -> None:
    with sim() as c:
        run(c, "start", "wait until stable within 5s", "crash 1,2")
        assert c.timeline().serving == 5
        run(c, "crash 3")
        outage = c.timeline().outages[-1]
    assert outage.ongoing
    assert outage.trigger == "quorum lost: n3 crashed"


def test_why_the_leader_leads_compares_credentials_in_totalOrderPredicate_order() -> None:
    with sim() as c:
        run(c, "set 1 epoch=1 zxid=0x100000005", "set 3 epoch=1 zxid=0x100000006")
        run(c, "start", "wait until stable within 5s")
        (elected,) = c.timeline().elections
    assert elected.leader == 3
    assert elected.leader_credential == (1, 0x100000006, 3)
    assert elected.runner_up == (1, 0x100000005, 1)
    assert elected.won_on == "zxid"


def test_deciding_field_is_the_first_that_differs() -> None:
    assert deciding_field((2, 5, 1), (1, 9, 9)) == 0
    assert deciding_field((1, 9, 1), (1, 5, 9)) == 1
    assert deciding_field((1, 5, 9), (1, 5, 1)) == 2
    assert deciding_field((1, 5, 9), (1, 5, 9)) is None


# --- replay: the same answer at any position ----------------------------------------------


@pytest.mark.parametrize("name", ["leader_failover", "minority_partition", "threaded_faults"])
def test_the_replayer_gives_the_timeline_of_the_events_up_to_its_position(name: str) -> None:
    # Issue 17, defect 2: seeking and playing gave different tables.
    path = EXAMPLES / f"{name}.jsonl"
    header, events = read(path)
    positions = [len(events), 1, len(events) // 2, len(events) // 3, 0, len(events) - 1]
    with Replayer(path, checkpoint_every=100) as r:
        for position in positions:
            r.seek(position)
            assert r.timeline() == derive(header, events[:position]), f"seek {position}"
        r.seek(0)
        while r.position < len(events):
            r.step(37)
        assert r.timeline() == derive(header, events)


def test_a_fork_continues_the_timeline_of_its_parent() -> None:
    path = EXAMPLES / "leader_failover.jsonl"
    with Replayer(path) as r:
        r.seek(r.total)
        before = r.timeline().elections
        live = fork(r, trace_path=None)
        try:
            assert live.timeline().elections == before
            run(live, "crash leader", "wait until stable within 5s")
            after = live.timeline().elections
        finally:
            live.close()
    assert after[: len(before)] == before
    assert summary(after[-1]) == (ELECTED, 5, 3)  # n4 crashed; n5, restarted, has the top sid


def test_a_fork_made_during_an_outage_goes_on_counting_it() -> None:
    """The header's `electing 201ms` (ClusterView.unstable_since_ms) of a fork is its
    parent's, not the time since the run began."""
    with Replayer(EXAMPLES / "leader_failover.jsonl") as r:
        r.seek(630)  # n5 crashed, n4 elected, not yet established
        parent = r.view()
        assert parent.unstable_since_ms is not None
        assert parent.unstable_since_ms > 0
        live = fork(r, trace_path=None)
        try:
            assert live.view().unstable_since_ms == parent.unstable_since_ms
        finally:
            live.close()


# --- odd input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"kind": ["state"]},
        {"kind": "state", "node": "x", "state": 3},
        {"kind": "state", "node": 1, "state": "LEADING", "zab": "BROADCAST", "vote": "?"},
        {"kind": "state", "node": 1, "state": "FOLLOWING", "vote": {"leader": 2}, "took_ms": "1"},
        {"kind": "state", "node": 1, "state": "LOOKING", "last_zxid": "zz", "current_epoch": []},
        {"kind": "snapshot", "nodes": 7},
        {"kind": "snapshot", "nodes": [None, {"sid": "1"}, {"sid": 1, "paused": True}]},
        {"kind": "fault", "id": 3, "op": "block", "links": [[1], "x", [1, "2"], 5]},
        {"kind": "fault", "op": "pause", "nodes": {"1": 2}},
        {"kind": "heal", "ids": "f1"},
        {"kind": "stop", "node": None},
        {"kind": "boot"},
    ],
)
def test_odd_events_are_read_as_well_as_they_can_be_and_never_raise(
    event: dict[str, Any],
) -> None:
    tracker = ElectionTracker(generate_config(3).quorum_verifier)
    tracker.feed({"seq": 1, "t_ms": 0.0, "kind": "boot", "node": 1})
    tracker.feed({"seq": 2, "t_ms": 1.0, **event})
    assert isinstance(tracker.timeline(), Timeline)
