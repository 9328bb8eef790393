"""What a leader's NodeView says of its learners (sid, type, Zab phase as the leader sees
it, sync mode, ping age, synced) and a learner's of its sync, on the simulator, on
threads and in the replay of a trace (engine.core.view.LearnerView)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from engine.control.cluster import Cluster
from engine.control.report import status_text
from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState
from engine.replay.state import iter_views, rebuild
from tests.test_cluster_scenarios import make, ok
from tests.test_live_breakpoints import eventually


@pytest.fixture(params=["sim", "threaded"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    c = make(str(request.param), tmp_path, nodes=3, observers=1)
    yield c
    c.close()
    assert not getattr(c.host, "threads", list)(), "threads left behind"


def leader_of(view: ClusterView) -> NodeView:
    sid = view.serving_leader
    assert sid is not None, "no serving leader"
    return view.node(sid)


def test_a_synced_leader_shows_every_learner_in_broadcast_with_its_sync(
    cluster: Cluster,
) -> None:
    # settled, not only synced: `synced` speaks of learners, and an observer still LOOKING
    # (it waits before it elects) is none yet
    ok(cluster, "start all", "wait until settled within 30s")
    view = cluster.view()
    lead = leader_of(view)
    others = [n for n in view.nodes if n.sid != lead.sid]
    assert [lv.sid for lv in lead.learners] == [n.sid for n in others]
    timeout = cluster.timing.tick_time_ms * 5  # syncLimit's default, in ticks
    for lv, n in zip(lead.learners, others, strict=True):
        assert lv.learner_type == ("observer" if n.learner_type == "observer" else "follower")
        assert (lv.zab_phase, lv.synced) == ("BROADCAST", True)
        assert lv.sync_mode in ("DIFF", "SNAP")
        assert lv.timeout_ms == timeout
        assert lv.ping_age_ms is not None
        assert lv.ping_age_ms >= 0
        assert not lv.unknown
        # the learner's own side: how it synced, and no learners of its own
        assert (n.zab_phase, n.sync_mode, n.learners) == ("BROADCAST", lv.sync_mode, ())
    assert lead.sync_mode is None
    # The followers that established the epoch synced before the leader's zxid moved to
    # it: a DIFF of the same (empty) history (ZK: LearnerHandler.syncFollower).
    assert any(lv.sync_mode == "DIFF" for lv in lead.learners if lv.learner_type == "follower")


def test_a_learner_that_is_down_leaves_the_table_and_one_that_comes_back_syncs_again(
    cluster: Cluster,
) -> None:
    ok(cluster, "start all", "wait until synced within 30s")
    lead = leader_of(cluster.view())
    gone = lead.learners[0].sid
    ok(cluster, f"crash {gone}", f"wait until not n{gone}.alive within 10s")
    # the leader notices the closed connection (a deadline, not a fixed wait: on a loaded
    # machine its thread may run late)
    assert cluster.wait_for(
        lambda: gone not in [lv.sid for lv in leader_of(cluster.view()).learners], 10_000
    ), f"the leader still has n{gone}"
    ok(cluster, f"restart {gone}", "wait until stable and synced within 30s")
    back = {lv.sid: lv for lv in leader_of(cluster.view()).learners}[gone]
    assert (back.zab_phase, back.synced) == ("BROADCAST", True)


def test_a_paused_learner_ages_past_syncLimit_and_is_closed(tmp_path: Path) -> None:
    c = make("sim", tmp_path, nodes=3)
    try:
        ok(c, "start all", "wait until synced within 30s")
        lead = leader_of(c.view())
        paused = lead.learners[0].sid
        ok(c, f"pause {paused}", "wait 200ms")
        ages = {lv.sid: lv.ping_age_ms or 0.0 for lv in leader_of(c.view()).learners}
        assert ages[paused] >= 190  # what it sent just before the pause arrived after it
        # the others answer every ping: heard within the tick the leader pings at
        assert all(a <= 60 for s, a in ages.items() if s != paused)
        # past syncLimit (250 ms), counted in whole ticks as ZabLeader does: it is closed
        ok(c, "wait 150ms")
        assert paused not in [lv.sid for lv in leader_of(c.view()).learners]
    finally:
        c.close()


def test_replay_shows_the_learners_with_ages_counted_from_the_packets_of_the_trace(
    tmp_path: Path,
) -> None:
    c = make("sim", tmp_path, nodes=3)
    try:
        ok(c, "start all", "wait until synced within 30s", "wait 300ms")
        live = c.view()
    finally:
        c.close()
    trace = tmp_path / "sim.jsonl"
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()[1:]]
    heard: dict[tuple[int, int], float] = {}
    """(leader, learner) -> time the leader took the learner's last packet (its step)."""
    checked = 0
    views = dict(iter_views(trace, [e["seq"] for e in events]))
    for e in events:
        inp = e.get("input") if e["kind"] == "step" else None
        if inp is not None and inp.get("type") == "packet":
            heard[(e["node"], inp["from"])] = e["t_ms"]
        view = views[e["seq"]]
        for n in view.nodes:
            for lv in n.learners:
                assert lv.ping_age_ms == pytest.approx(e["t_ms"] - heard[(n.sid, lv.sid)])
                checked += 1
    assert checked > 100
    last = views[events[-1]["seq"]]
    lead = leader_of(last)
    assert [(lv.sid, lv.zab_phase, lv.sync_mode, lv.synced) for lv in lead.learners] == [
        (lv.sid, lv.zab_phase, lv.sync_mode, lv.synced) for lv in leader_of(live).learners
    ]
    modes = {n.sid: n.sync_mode for n in live.nodes if n.state == ServerState.FOLLOWING}
    assert {n.sid: n.sync_mode for n in last.nodes if n.sid in modes} == modes
    assert set(modes.values()) <= {"DIFF", "SNAP"}


def learners_in_broadcast(view: ClusterView) -> bool:
    """What `synced` says, from the learners' side: a leader serves, and every running
    FOLLOWING or OBSERVING node follows it in BROADCAST."""
    leader = view.serving_leader
    learners = [
        n
        for n in view.nodes
        if n.alive and not n.paused and n.state in (ServerState.FOLLOWING, ServerState.OBSERVING)
    ]
    return leader is not None and all(
        n.zab_phase == "BROADCAST"
        and n.current_vote is not None
        and n.current_vote.leader == leader
        for n in learners
    )


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_break_when_synced_halts_at_the_event_the_last_learner_reaches_broadcast(
    runtime: str, tmp_path: Path
) -> None:
    """`synced` becomes true exactly at the step that takes the last running learner to
    BROADCAST (its UPTODATE), not before; the leader then has every one of them synced."""
    c = make(runtime, tmp_path, nodes=3, observers=1, shadow=rebuild)
    try:
        ok(c, "break when synced", "start all")
        if runtime == "sim":
            ok(c, "wait 10s")
        eventually(lambda: c.stop_reason is not None, "the break")
        assert str(c.stop_reason).startswith("b1: when synced at seq ")
        view = c.view()
        assert view.synced
        assert learners_in_broadcast(view)
        lead = leader_of(view)
        running = {n.sid for n in view.nodes if n.alive and n.state != ServerState.LOOKING}
        table = {lv.sid: lv for lv in lead.learners}
        assert set(table) >= running - {lead.sid}
        assert all(table[s].synced for s in running - {lead.sid})
    finally:
        c.close()
    trace = tmp_path / f"{runtime}.jsonl"
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()[1:]]
    (hit,) = [e for e in events if e["kind"] == "break"]
    before, at = hit["at"] - 1, hit["at"]
    views = dict(iter_views(trace, [before, at]))
    assert not views[before].synced
    assert views[at].synced
    assert learners_in_broadcast(views[at])
    assert not learners_in_broadcast(views[before])


def test_status_and_the_json_result_give_each_learners_sync(tmp_path: Path) -> None:
    c = make("sim", tmp_path, nodes=3, observers=1)
    try:
        ok(c, "start all", "wait until settled within 30s")
        lead = leader_of(c.view())
        status = c.execute("status").text
        result = c.result_json(0.0)
    finally:
        c.close()
    learners = [n for n in range(1, 5) if n != lead.sid]
    mode = {lv.sid: lv.sync_mode for lv in lead.learners}  # what the view says, reported
    assert set(mode) == set(learners)
    assert set(mode.values()) <= {"DIFF", "SNAP"}
    for sid in learners:
        kind = "observer" if sid == 4 else "follower"
        sync = mode[sid]
        assert re.search(rf"^n{sid} .* zab=broadcast .* sync={sync}$", status, re.M), status
        line = rf"^     learner n{sid} {kind} zab=broadcast sync={sync} ping=\d+ms synced=yes$"
        assert re.search(line, status, re.M), status
    nodes = {n["sid"]: n for n in result["nodes"]}
    assert all(nodes[s]["sync_mode"] == mode[s] for s in learners)
    assert all(nodes[s]["zab"] == "BROADCAST" for s in nodes)
    shown = nodes[lead.sid]["learners"]
    assert [(d["sid"], d["type"], d["zab"], d["sync_mode"], d["synced"]) for d in shown] == [
        (s, "observer" if s == 4 else "follower", "BROADCAST", mode[s], True) for s in learners
    ]
    assert all(isinstance(d["ping_age_ms"], float) for d in shown)
    assert "learners" not in nodes[learners[0]]


def test_status_names_a_nodes_digest_mismatches_only_when_it_has_some(tmp_path: Path) -> None:
    """Txns whose tree digest was not the one they carried (ZOOKEEPER-3114; mntr's
    zk_digest_mismatches_count) end the node's `status` line - none, nothing said."""
    c = make("sim", tmp_path, nodes=3)
    try:
        ok(c, "start all", "wait until settled within 30s")
        view = c.view()
    finally:
        c.close()
    assert "digest" not in status_text(view, None, [])
    nodes = tuple(replace(n, digest_mismatches=2) if n.sid == 2 else n for n in view.nodes)
    text = status_text(replace(view, nodes=nodes), None, [])
    assert re.search(r"^n2 .* digest-mismatches=2$", text, re.M), text
    assert text.count("digest-mismatches") == 1
