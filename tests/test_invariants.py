"""The invariant checker (engine/trace/invariants.py): each invariant broken by a hand-made trace
and reported at the right seq, ZooKeeper's own legitimate exceptions left alone, and a run
of real cores (election, failover, re-join) reported clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.trace.format import load_schema, read_trace
from engine.trace.invariants import (
    INVARIANTS,
    InvariantChecker,
    Violation,
    check_events,
    check_trace,
    liveness_bound_ms,
)

DATA = Path(__file__).parent / "data" / "traces"


def found(name: str) -> list[tuple[str, int, int | None]]:
    return [(v.invariant, v.seq, v.node) for v in check_trace(str(DATA / name))]


def test_a_real_election_failover_and_rejoin_breaks_nothing() -> None:
    assert check_trace(str(DATA / "failover3.jsonl")) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("at_most_one_leader.jsonl", [("AtMostOneLeaderPerEpoch", 8, 2)]),
        ("leader_quorum.jsonl", [("LeaderHasQuorum", 4, 3)]),
        ("logicalclock.jsonl", [("LogicalClockMonotonic", 11, 1)]),
        ("proposal.jsonl", [("ProposalMonotonic", 6, 1)]),
        ("leader_epoch.jsonl", [("LeaderEpochIncreases", 10, 1)]),
        ("elected_within.jsonl", [("ElectedWithin", 12, None)]),
    ],
)
def test_each_invariant_is_reported_at_the_event_that_breaks_it(
    name: str, expected: list[tuple[str, int, int | None]]
) -> None:
    assert found(name) == expected


def test_every_invariant_has_a_violating_trace() -> None:
    names = [
        "at_most_one_leader.jsonl",
        "leader_quorum.jsonl",
        "logicalclock.jsonl",
        "proposal.jsonl",
        "leader_epoch.jsonl",
        "elected_within.jsonl",
    ]
    assert sorted(v for name in names for v, _, _ in found(name)) == sorted(INVARIANTS)


def test_online_feed_reports_each_violation_at_its_event() -> None:
    """The runtime's use: one event at a time, violations returned by that very event."""
    trace = read_trace(DATA / "at_most_one_leader.jsonl")
    checker = InvariantChecker(trace.header)
    returned = {e["seq"]: checker.feed(e) for e in trace}
    assert [seq for seq, vs in returned.items() if vs] == [8]
    assert checker.violations == returned[8]
    assert checker.finish() == []


def test_violation_texts_name_invariant_seq_node_and_cause() -> None:
    (v,) = check_trace(str(DATA / "at_most_one_leader.jsonl"))
    assert str(v) == (
        "AtMostOneLeaderPerEpoch violated at seq 8 on n2: n2 established epoch 1, "
        "which n3 already led"
    )
    (q,) = check_trace(str(DATA / "leader_quorum.jsonl"))
    assert "recvset has votes for n3 from n3" in q.detail
    (live,) = check_trace(str(DATA / "elected_within.jsonl"))
    assert str(live).startswith("ElectedWithin violated at seq 12: no stable leader 6300 ms")
    assert "(bound 6200 ms: 3 LOOKING × 400 ms back-off)" in live.detail
    assert "LOOKING: n1,n2,n3" in live.detail


def test_violation_event_fields_match_the_trace_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    (v,) = check_trace(str(DATA / "leader_epoch.jsonl"))
    event = {"seq": 99, "t_ms": 1.0, **v.event_fields()}
    assert event["kind"] == "invariant"
    assert (event["at"], event["node"], event["ok"]) == (10, 1, False)
    assert jsonschema.Draft202012Validator(load_schema()).is_valid(event)


# --- ZooKeeper's legitimate behaviour is not a violation ------------------------------------


def test_adopting_an_ensembles_round_from_outofelection_is_allowed() -> None:
    """ZK receivedFollowingNotification: logicalclock.set(n.electionEpoch) may go back when a
    node that ran ahead joins an established ensemble (n2 in logicalclock.jsonl, round 4
    to 1); a restarted election object starts again at 0 (n3)."""
    trace = read_trace(DATA / "logicalclock.jsonl")
    events = list(trace)
    assert [(e["node"], e["logicalclock"]) for e in events if e["kind"] == "state"][2:6] == [
        (2, 4),
        (2, 1),
        (3, 3),
        (3, 0),
    ]
    assert [v.node for v in check_events(trace.header, events)] == [1]


def test_a_round_of_its_own_does_not_count_as_adopted() -> None:
    """Going back to a round without a quorum of LEADING/FOLLOWING votes for that round in
    outofelection is a violation, decision or not."""
    trace = read_trace(DATA / "logicalclock.jsonl")
    events = [dict(e) for e in trace]
    for e in events:
        if e["kind"] == "state" and e["node"] == 2 and e.get("outofelection"):
            e["outofelection"] = {"1": e["outofelection"]["1"]}  # 1 of 3 is no quorum
    assert [(v.seq, v.node) for v in check_events(trace.header, events)] == [(7, 2), (11, 1)]


def test_a_new_round_may_start_with_a_worse_proposal() -> None:
    trace = read_trace(DATA / "proposal.jsonl")
    later = [e for e in trace if e["seq"] > 6]
    assert [e["logicalclock"] for e in later if e["kind"] == "state"] == [2, 2]
    assert [v.seq for v in check_events(trace.header, trace)] == [6]


def test_observer_votes_do_not_make_a_quorum() -> None:
    """SyncedLearnerTracker counts voters only: n3 with its own vote and observer n4's."""
    header = read_trace(DATA / "leader_quorum.jsonl").header
    header = {**header, "cluster": dict(header["cluster"])}
    header["cluster"]["config"] = header["cluster"]["config"].replace(
        "version=0", "server.4=127.0.0.1:20004:21004:observer\nversion=0"
    )
    header["cluster"]["servers"] = [*header["cluster"]["servers"], {"sid": 4, "type": "observer"}]
    vote = {"leader": 3, "zxid": "0x0", "election_epoch": 1, "peer_epoch": 0}
    events: list[dict[str, Any]] = [
        {"seq": s, "t_ms": 0.0, "kind": "boot", "node": s, "durable": {}} for s in (1, 2, 3, 4)
    ]
    decide = {
        "seq": 5,
        "t_ms": 1.0,
        "kind": "state",
        "node": 3,
        "state": "LEADING",
        "zab": "DISCOVERY",
        "logicalclock": 1,
        "vote": vote,
        "recvset": {"3": vote, "4": vote},
        "outofelection": {},
    }
    assert [(v.invariant, v.seq) for v in check_events(header, [*events, decide])] == [
        ("LeaderHasQuorum", 5)
    ]
    decide["recvset"] = {"2": vote, "3": vote}
    assert check_events(header, [*events, decide]) == []


# --- liveness -----------------------------------------------------------------------------------


def test_liveness_bound_follows_the_timing_and_the_back_off() -> None:
    assert liveness_bound_ms({}) == 8000.0  # tick 200, initLimit 10, finalize 200
    timing = {"tick_time_ms": 100, "init_limit": 5, "finalize_wait_ms": 200}
    assert liveness_bound_ms(timing) == 5000.0
    # Two nodes backed off to 25.6 s (a 30 s partition): each may wait that long again.
    assert liveness_bound_ms({}, backoff_ms=25_600, looking=2) == 8000.0 + 51_200


def test_a_run_that_ends_before_the_bound_is_not_a_violation() -> None:
    trace = read_trace(DATA / "elected_within.jsonl")
    assert check_events(trace.header, trace.events(1, 11)) == []


def test_no_liveness_is_owed_while_a_fault_is_active() -> None:
    trace = read_trace(DATA / "elected_within.jsonl")
    events = [e for e in trace if e["kind"] != "heal"]
    assert check_events(trace.header, events) == []


def test_no_liveness_is_owed_while_a_node_is_down() -> None:
    trace = read_trace(DATA / "elected_within.jsonl")
    events = list(trace)
    stop = {"seq": 6, "t_ms": 200.0, "kind": "stop", "node": 2, "reason": "crash"}
    events.insert(6, stop)  # right after the heal
    assert check_events(trace.header, events) == []


def test_no_liveness_is_owed_while_a_snapshot_shows_a_paused_node() -> None:
    """pause/resume are commands; the snapshot after them says who is paused."""
    trace = read_trace(DATA / "elected_within.jsonl")
    events = list(trace)
    nodes = [{"sid": s, "alive": True, "paused": s == 1, "state": "LOOKING"} for s in (1, 2, 3)]
    paused = {"seq": 0, "t_ms": 200.0, "kind": "snapshot", "nodes": nodes, "stable": False}
    assert check_events(trace.header, [*events[:6], paused, *events[6:]]) == []
    resumed = {**paused, "t_ms": 250.0, "nodes": [{**n, "paused": False} for n in nodes]}
    found = check_events(trace.header, [*events[:6], paused, resumed, *events[6:]])
    assert [v.invariant for v in found] == ["ElectedWithin"]
    assert "calm at t=250 ms" in found[0].detail


def test_a_stable_snapshot_within_the_bound_satisfies_liveness() -> None:
    trace = read_trace(DATA / "elected_within.jsonl")
    events = list(trace)
    snapshot = {"seq": 0, "t_ms": 5500.0, "kind": "snapshot", "nodes": [], "stable": True}
    events.insert(11, snapshot)  # seq numbers are the reader's business, not the checker's
    assert check_events(trace.header, events) == []


def test_the_back_off_reached_before_the_heal_extends_the_bound() -> None:
    """Without n2's timeout (back-off 400 ms) every node is at 200 ms: 5000 + 3 × 200."""
    trace = read_trace(DATA / "elected_within.jsonl")
    events = [e for e in trace if not (e["kind"] == "step" and e["node"] == 2)]
    violations = check_events(trace.header, events)
    assert [v.seq for v in violations] == [12]
    assert "(bound 5600 ms: 3 LOOKING × 200 ms back-off)" in violations[0].detail
    early = {"seq": 0, "t_ms": 5900.0, "kind": "mark", "label": "past 5800"}
    last = next(i for i, e in enumerate(events) if e["t_ms"] > 5800)
    violations = check_events(trace.header, [*events[:last], early, *events[last:]])
    assert [v.detail.split(" ms")[0] for v in violations] == ["no stable leader 5700"]


def partitioned_minority(rejoin_ms: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Issue 17, defect 7: 5 nodes, n5 leads; `partition 1,2|3,4,5` at 1 s backs n1 and n2
    off to 25.6 s; heal at 31 s; n2 rejoins at its timer, its broadcast re-arms n1's 25.6 s
    wait (a LOOKING notification), n1's timer fires, and then - were the engine wrong - a
    stray notification re-arms it again; n1 is back `rejoin_ms` after the heal."""
    header = read_trace(DATA / "elected_within.jsonl").header
    lines = [f"server.{s}=127.0.0.1:{20000 + s}:{21000 + s}:participant" for s in range(1, 6)]
    header = {
        **header,
        "timing": {**header["timing"], "tick_time_ms": 200, "init_limit": 10},  # B = 8 s
        "cluster": {
            "config": "\n".join([*lines, "version=0"]),
            "servers": [{"sid": s, "type": "participant", "weight": 1} for s in range(1, 6)],
        },
    }
    events: list[dict[str, Any]] = []

    def emit(t: float, kind: str, **fields: Any) -> None:
        events.append({"seq": len(events) + 1, "t_ms": t, "kind": kind, **fields})

    def state(t: float, sid: int, state: str, leader: int) -> None:
        zab = "ELECTION" if state == "LOOKING" else "BROADCAST"
        vote = {"leader": leader, "zxid": "0x0", "election_epoch": 1, "peer_epoch": 1}
        votes = {str(s): vote for s in range(1, 6)}  # the quorum LeaderHasQuorum wants
        emit(t, "state", node=sid, state=state, zab=zab, logicalclock=1, vote=vote, recvset=votes)

    def step(t: float, sid: int, kind: str, wait_ms: float) -> None:
        emit(
            t,
            "step",
            node=sid,
            input={"type": kind},
            output={"state": "LOOKING", "wait_ms": wait_ms},
        )

    for sid in range(1, 6):
        emit(
            0.0,
            "boot",
            node=sid,
            durable={"current_epoch": 0, "accepted_epoch": 0, "last_zxid": "0x0"},
        )
    for sid in range(1, 6):
        state(100.0, sid, "LEADING" if sid == 5 else "FOLLOWING", 5)
    emit(1000.0, "fault", id="f1", text="partition 1,2|3,4,5", op="block", links=[])
    for sid in (1, 2):
        state(2000.0, sid, "LOOKING", sid)
        step(2000.0, sid, "look_for_leader", 200.0)
        t, wait = 2000.0, 200.0
        while wait < 25_600:
            t += wait
            wait *= 2
            step(t, sid, "timeout", wait)  # the last one at 27.4 s: due at 53 s
    heal = 31_000.0
    emit(heal, "heal", ids=["f1"])  # calm: bound 8000 + 2 × 25600 = 59.2 s
    step(53_000.0, 2, "timeout", 51_200.0)
    step(53_001.0, 1, "poll", 25_600.0)  # n2's LOOKING broadcast re-arms n1
    state(53_002.0, 2, "FOLLOWING", 5)
    step(78_601.0, 1, "timeout", 51_200.0)
    step(78_602.0, 1, "poll", 51_200.0)  # re-armed once more: no ZooKeeper does that
    state(heal + rejoin_ms, 1, "FOLLOWING", 5)
    return header, events


def test_a_minority_that_rejoins_within_the_back_off_bound_is_live() -> None:
    header, events = partitioned_minority(rejoin_ms=59_000)
    assert check_events(header, events) == []


def test_a_minority_that_rejoins_after_the_back_off_bound_violates_elected_within() -> None:
    """The README's bound is B + k × W = 8 s + 2 × 25.6 s after the heal: a later rejoin is
    reported, however the waits were re-armed on the way."""
    header, events = partitioned_minority(rejoin_ms=59_300)
    (v,) = check_events(header, events)
    assert v.invariant == "ElectedWithin"
    assert v.detail.startswith("no stable leader 59300 ms after the cluster became calm")
    assert "(bound 59200 ms: 2 LOOKING × 25600 ms back-off); LOOKING: n1," in v.detail


def test_a_cluster_that_elects_in_time_is_live() -> None:
    """failover3: calm again when n3 restarts at 1500 ms, stable at 1508 ms."""
    trace = read_trace(DATA / "failover3.jsonl")
    checker = InvariantChecker(trace.header)
    for event in trace:
        assert checker.feed(event) == [], event["seq"]
    assert checker.finish() == []


def test_unknown_kinds_are_ignored() -> None:
    trace = read_trace(DATA / "failover3.jsonl")
    events = list(trace)
    events.insert(100, {"seq": 0, "t_ms": 300.0, "kind": "telepathy", "node": 9})
    assert check_events(trace.header, events) == []


def test_violation_is_a_value() -> None:
    v = Violation("ElectedWithin", 3, None, "late")
    assert str(v) == "ElectedWithin violated at seq 3: late"
    assert "node" not in v.event_fields()
