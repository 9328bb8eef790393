"""Zab in the in-memory runtimes: the simulator's and the threaded runtime's nodes run the
pure `ZabLeader` / `ZabLearner` (engine.core.zab) through their QuorumPeer cores, so a
learner syncs as ZooKeeper's does - DIFF, SNAP or TRUNC, chosen by the leader from its log
(ZK: LearnerHandler.syncFollower) - its data survives a crash, and the trace verifies.

Ports of the sync decisions of ZooKeeper's LearnerHandlerTest (testNewEpochZxid,
testTxnLogProposalIteratorDiff..., testTruncate) and Zab1_0Test's leader-behind runs, as
whole clusters: tick 50 ms (200 ms threaded), waits on conditions with deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.jute.txn import CreateTxn
from engine.core.vote import make_zxid
from engine.core.zab.leader import WRITE_PATH
from engine.replay.verify import verify


@pytest.fixture(params=["sim", "threaded"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    options = ClusterOptions(
        nodes=3,
        runtime=request.param,
        seed=11,
        # A threaded learner that misses syncLimit ticks is dropped, as in ZooKeeper: on a
        # loaded 2-core machine (a JVM starting beside us) 5 x 50 ms is too short a leash.
        tick_ms=50 if request.param == "sim" else 200,
        trace=tmp_path / "trace.jsonl",
        data_dir=tmp_path / "data",
    )
    with Cluster(options) as c:
        yield c
    assert verify(tmp_path / "trace.jsonl").ok, "the trace does not verify"


def ok(cluster: Cluster, *lines: str) -> None:
    for line in lines:
        result = cluster.execute(line)
        assert result.ok, f"{line!r} failed:\n{result.text}"


def synced_by(cluster: Cluster, sid: int, after_seq: int) -> list[str]:
    """How `sid` synced with its leader after `after_seq`: the first packet of each sync
    (DIFF, TRUNC or SNAP), read from the trace's step inputs."""
    modes = []
    for e in cluster.recorder.events_after(after_seq):
        if e["kind"] == "step" and e["node"] == sid and e["input"]["type"] == "packet":
            kind = e["input"]["packet"]["type"]
            if kind in ("DIFF", "TRUNC", "SNAP"):
                modes.append(kind)
    return modes


def start(cluster: Cluster) -> None:
    ok(cluster, "start", "wait until settled within 10s", "expect leader == 3")
    ok(cluster, "wait until n1.established and n2.established within 10s")


def test_a_restarted_follower_a_few_txns_behind_syncs_by_DIFF(cluster: Cluster) -> None:
    """LearnerHandlerTest.testTxnLogProposalIteratorDiff: the follower's last zxid is in
    the leader's log, so the leader sends the txns after it, each PROPOSAL then COMMIT."""
    start(cluster)
    ok(cluster, "write 1", "wait until n1.last_zxid == 0x100000001 within 5s")
    ok(cluster, "crash 1", "write 3")
    mark = cluster.recorder.seq
    ok(cluster, "restart 1", "wait until n1.established within 10s")
    ok(cluster, "wait until n1.last_zxid == n3.last_zxid within 5s")
    assert synced_by(cluster, 1, mark) == ["DIFF"]
    node = cluster.host.nodes[1]
    assert node.core is not None
    assert node.core.sync_mode == "DIFF"
    assert [e.zxid for e in node.data.log][-4:] == [make_zxid(1, c) for c in range(1, 5)]
    # The DIFF's proposals are the leader's txns: the `write` command's znodes.
    assert all(isinstance(e.txn, CreateTxn) for e in node.data.log)
    last = node.data.log[-1].txn
    assert isinstance(last, CreateTxn)
    assert last.path == f"{WRITE_PATH}{3:010d}"


def test_a_follower_behind_the_leaders_log_syncs_by_SNAP(cluster: Cluster) -> None:
    """LearnerHandlerTest.testNewEpochZxid, snapshot case: a follower older than every txn
    the leader logged gets the whole tree, then snapshots it before acknowledging
    NEWLEADER (ZK: Learner.syncWithLeader, snapshotNeeded)."""
    start(cluster)
    ok(cluster, "crash 1", "write 3")
    mark = cluster.recorder.seq
    ok(cluster, "restart 1", "wait until n1.established within 10s")
    assert synced_by(cluster, 1, mark) == ["SNAP"]
    node = cluster.host.nodes[1]
    assert node.data.snapshot is not None
    assert node.data.log == ()
    dump, zxid = node.data.snapshot
    assert zxid == make_zxid(1, 3)
    paths = {n.path for n in dump.nodes}
    assert {f"{WRITE_PATH}{i:010d}" for i in range(3)} <= paths


def test_an_empty_follower_syncs_by_SNAP_and_keeps_its_data_across_a_crash(
    cluster: Cluster,
) -> None:
    """`set` empties a stopped node's disk; it gets the tree by SNAP; crashed again, it
    comes back with that snapshot (a disk survives a crash) and votes with its zxid."""
    start(cluster)
    ok(cluster, "write 2", "wait until n2.last_zxid == 0x100000002 within 5s")
    ok(cluster, "crash 2", "set n2 zxid=0x0", "restart 2")
    ok(cluster, "wait until n2.established and n2.last_zxid == n3.last_zxid within 10s")
    ok(cluster, "crash 2", "restart 2", "wait until n2.established within 10s")
    node = cluster.host.nodes[2]
    assert node.data.snapshot is not None
    assert node.data.snapshot[1] == make_zxid(1, 2)
    boot = [e for e in cluster.recorder.events_after(0) if e["kind"] == "boot" and e["node"] == 2]
    assert boot[-1]["durable"]["last_zxid"] == "0x100000002"


def test_the_old_leader_truncates_the_proposal_only_it_logged_by_TRUNC(cluster: Cluster) -> None:
    """LearnerHandlerTest.testTruncate / ZOOKEEPER-1549's case: the leader logs a proposal
    that no follower ever receives and loses its quorum; the others elect a leader of a new
    epoch that never committed it. When the old leader comes back it must drop it: the
    new leader's log ends before it, in the same epoch, so it sends TRUNC."""
    start(cluster)
    ok(cluster, "write 1", "wait until n1.last_zxid == n2.last_zxid within 5s")
    ok(cluster, "partition 3|1,2")
    lost = cluster.execute("write 1")  # logged by n3 alone: never committed
    assert not lost.ok, lost.text
    held = cluster.host.nodes[3].data.log
    assert held
    assert held[-1].zxid == make_zxid(1, 2)
    ok(cluster, "crash 3", "heal", "wait until n2.state == LEADING and n2.established within 10s")
    mark = cluster.recorder.seq
    ok(cluster, "restart 3", "wait until n3.established within 10s")
    assert synced_by(cluster, 3, mark) == ["TRUNC"]
    assert [e.zxid for e in cluster.host.nodes[3].data.log] == []  # snapshot taken at sync
    # n2 shows its epoch's zxid, as srvr does (Leader.startZkServer); n3 the TRUNC's
    ok(cluster, "expect n3.last_zxid == 0x100000001 and n2.last_zxid == 0x200000000")
    ok(cluster, "write 2", "wait until n3.last_zxid == 0x200000002 within 5s")


def test_observers_sync_and_learn_commits_by_INFORM(tmp_path: Path) -> None:
    """Zab1_0Test.testNormalObserverRun: an observer gets INFORM (the txn with it) for each
    commit and never acknowledges a proposal."""
    trace = tmp_path / "obs.jsonl"
    options = ClusterOptions(nodes=3, observers=1, runtime="sim", seed=3, tick_ms=50, trace=trace)
    with Cluster(options) as cluster:
        ok(cluster, "start", "wait until settled within 10s")
        ok(cluster, "wait until n4.established within 10s", "write 2")
        ok(cluster, "wait until n4.last_zxid == 0x100000002 within 5s")
        kinds = [
            e["input"]["packet"]["type"]
            for e in cluster.recorder.events_after(0)
            if e["kind"] == "step" and e["node"] == 4 and e["input"]["type"] == "packet"
        ]
        sent = [
            a["packet"]["type"]
            for e in cluster.recorder.events_after(0)
            if e["kind"] == "step" and e["node"] == 4
            for a in e["output"].get("zab", ())
            if "send" in a
        ]
    assert kinds.count("INFORM") == 2
    assert "PROPOSAL" not in kinds
    assert sent[0] == "OBSERVERINFO"
    assert "ACK" in sent
    assert verify(trace).ok


def test_the_same_seed_gives_the_same_trace(tmp_path: Path) -> None:
    """A seeded simulator run with writes, a crash and a DIFF is event for event the same."""

    def run(name: str) -> list[dict[str, Any]]:
        path = tmp_path / f"{name}.jsonl"
        options = ClusterOptions(nodes=3, runtime="sim", seed=5, tick_ms=50, trace=path)
        with Cluster(options) as cluster:
            ok(cluster, "start", "wait until settled within 10s", "write 2", "crash 1")
            ok(cluster, "write 2", "restart 1", "wait until n1.established within 10s")
        lines = path.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines[1:]]  # the header has the clock time

    assert run("a") == run("b")


def test_a_leader_closing_a_connection_across_a_cut_link_is_not_heard(cluster: Cluster) -> None:
    """TCP's FIN is lost on a cut link as any segment: with every link cut, the leader
    drops each learner when its read times out (syncLimit after its last PING's answer),
    but the learners do not see the close - each gives the leader up when its own read
    times out (ZK: Learner.readPacket's SocketTimeoutException)."""
    start(cluster)
    mark = cluster.recorder.seq
    ok(cluster, "isolate all", "wait until n1.state == LOOKING and n2.state == LOOKING within 10s")
    reasons = {
        e["node"]: e["output"]["reason"]
        for e in cluster.recorder.events_after(mark)
        if e["kind"] == "step" and e["node"] in (1, 2) and e["output"].get("reason")
    }
    assert reasons == {
        1: "Read timed out: no packet from the leader",
        2: "Read timed out: no packet from the leader",
    }
