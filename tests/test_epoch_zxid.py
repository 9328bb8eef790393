"""ZOOKEEPER-2845: a leader's new-epoch zxid survives its leadership, in memory only.

ZooKeeper 3.6+ sets a leader's database zxid to its epoch's (Leader.startZkServer) once a
quorum acked NEWLEADER; when the leadership ends ZooKeeperServer.shutdown(false) keeps the
database, so the node's next vote (getLastLoggedZxid), its ACKEPOCH and a next leadership
start from that zxid until a txn, a TRUNC or a SNAP moves it, or a restart reloads the
disk, which never held it. Checked against ZooKeeper 3.8 (5 servers, tickTime 200): the
scenario below elects n3 for epoch 3, where cores voting with their log's zxid elected n4.
Waits are conditions with deadlines; every run's trace must verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.vote import make_zxid
from engine.replay.verify import verify
from tests.successor import leader_by_vote
from tests.test_zab_cluster import ok

EPOCH = [make_zxid(e, 0) for e in range(4)]


@pytest.fixture(params=["sim", "threaded"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    options = ClusterOptions(
        nodes=5,
        runtime=request.param,
        seed=1,
        trace=tmp_path / "trace.jsonl",
        data_dir=tmp_path / "data",
    )
    with Cluster(options) as c:
        yield c
    assert verify(tmp_path / "trace.jsonl").ok, "the trace does not verify"


def zxids(cluster: Cluster) -> dict[int, tuple[str | None, int]]:
    """Each running node's state and last zxid as the view shows it (srvr's Zxid)."""
    return {
        n.sid: (n.state.name if n.state is not None else None, n.last_zxid)
        for n in cluster.view().nodes
        if n.alive
    }


def n3_leads_epoch_2(cluster: Cluster) -> dict[int, int]:
    """n1, n4 and n5 establish epoch 1 (n5 leads) before any txn: they hold 0x0. n3, then
    n2, join late and sync by SNAP at 0x100000000. n5 dies and n3, the larger sid of the
    two with the larger zxid, leads epoch 2 and shows 0x200000000. Its followers hold
    0x100000000, or 0x200000000 if one synced only after n3 had established the epoch (a
    race ZooKeeper has too): their last zxids, by sid."""
    established = "wait until n1.established and n4.established and n5.established within 20s"
    ok(cluster, "start 1,4,5", established, "start 3", "wait until n3.established within 20s")
    ok(cluster, "start 2", "wait until settled within 20s")
    assert zxids(cluster) == {
        1: ("FOLLOWING", EPOCH[0]),
        2: ("FOLLOWING", EPOCH[1]),
        3: ("FOLLOWING", EPOCH[1]),
        4: ("FOLLOWING", EPOCH[0]),
        5: ("LEADING", EPOCH[1]),
    }
    ok(cluster, "crash 5", "wait until settled within 20s")
    seen = zxids(cluster)
    assert seen[3] == ("LEADING", EPOCH[2])  # was 0x100000000: the log's, not srvr's
    for sid in (1, 2, 4):
        assert seen[sid][0] == "FOLLOWING"
        assert seen[sid][1] in (EPOCH[1], EPOCH[2])
    return {sid: zxid for sid, (_, zxid) in seen.items()}


def test_a_leader_that_lost_its_quorum_votes_with_its_epoch_zxid(cluster: Cluster) -> None:
    """ZooKeeper 3.8 elects n3 again (epoch 3): it lost its quorum before any txn of epoch
    2 and votes with 0x200000000, beating n1 and n4 of the same epoch at 0x100000000;
    n1 and n4 then sync by SNAP at that zxid."""
    epoch2 = n3_leads_epoch_2(cluster)
    ok(
        cluster,
        "crash 1",
        "crash 2",
        "wait until n3.state == LOOKING within 20s",
        "restart 1",
        "wait until settled within 20s",
    )
    leader = leader_by_vote({sid: epoch2[sid] for sid in (1, 3, 4)})
    if cluster.options.runtime == "sim":
        assert leader == 3  # seed 1: n4 synced before n3 established epoch 2
    assert zxids(cluster) == {
        sid: ("LEADING", EPOCH[3]) if sid == leader else ("FOLLOWING", EPOCH[2])
        for sid in (1, 3, 4)
    }


def test_a_restart_loses_the_epoch_zxid(cluster: Cluster) -> None:
    """The epoch zxid was never on disk: the restarted ex-leader votes with its logged
    0x100000000, and n3 no longer leads epoch 3. (n4 goes down too: a vote for n3 with
    0x200000000 it kept in its round would otherwise make n3 adopt it, as FLE does.)"""
    epoch2 = n3_leads_epoch_2(cluster)
    looking = "n3.state == LOOKING and n3.proposal.peer_epoch == 2 and n3.proposal.zxid =="
    ok(cluster, "crash 1", "crash 2", f"wait until {looking} 0x200000000 within 20s")
    assert zxids(cluster)[3] == ("LOOKING", EPOCH[2])
    ok(cluster, "crash 4", "crash 3", "restart 3", f"wait until {looking} 0x100000000 within 20s")
    assert zxids(cluster)[3] == ("LOOKING", EPOCH[1])
    ok(cluster, "restart 4", "restart 1", "wait until settled within 20s")
    leader = leader_by_vote({1: epoch2[1], 3: EPOCH[1], 4: epoch2[4]})
    assert leader != 3
    if cluster.options.runtime == "sim":
        assert leader == 4  # seed 1: n1 and n4 synced before n3 established epoch 2
    assert zxids(cluster)[leader] == ("LEADING", EPOCH[3])


def test_the_ex_leader_acks_the_new_epoch_with_its_epoch_zxid(cluster: Cluster) -> None:
    """Cut off from the others, n3 steps down; n1, n2 and n4 elect one of them (epoch 3).
    Healed, n3 follows it: its ACKEPOCH carries 0x200000000 (Learner.registerWithLeader's
    getLastLoggedZxid), a new epoch's zxid outside that leader's log, so it gets a SNAP."""
    epoch2 = n3_leads_epoch_2(cluster)
    seq = cluster.recorder.seq
    synced = " and ".join(f"n{sid}.established" for sid in (1, 2, 4))
    ok(
        cluster,
        "partition 3|1,2,4",
        f"wait until n3.state == LOOKING and {synced} within 20s",
        "heal",
        "wait until settled within 20s",
    )
    leader = leader_by_vote({sid: epoch2[sid] for sid in (1, 2, 4)})
    acks = [
        (e["input"]["packet"]["zxid"])
        for e in cluster.recorder.events_after(seq)
        if e["kind"] == "step"
        and e["node"] == leader
        and e["input"]["type"] == "packet"
        and e["input"]["from"] == 3
        and e["input"]["packet"]["type"] == "ACKEPOCH"
    ]
    assert acks == [hex(EPOCH[2])]
    assert zxids(cluster)[3] == ("FOLLOWING", EPOCH[3])
