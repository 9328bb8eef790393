"""A learner<->leader connection is a TCP stream of its own: what was written to it never
reaches a later connection between the same two servers.

Regression (found by the chaos seed below, `--mix history --steps 20`): loss on n7->n2 made
the stream retransmit, so PINGs and an UPTODATE n7 wrote to n2 were still on their way when
n2's read timed out and it went LOOKING. n2 followed n7 again on a new connection, and the
old packets arrived on it: the stale UPTODATE came before LEADERINFO, so n2 synced with
`new_epoch` -1 and reported currentVote.peerEpoch -1 (what ZOOKEEPER-1732's
updateElectionVote exists to prevent). Host matched packets to connections by the two
nodes' lives only; each accepted connection now has a number, and packets carry it.
"""

from __future__ import annotations

from pathlib import Path

from engine.control.cluster import Cluster, ClusterOptions
from engine.explore.schedule import MIXES
from engine.trace.format import read_trace
from tests.chaos import TOPOLOGIES, chaos_script, run_script

SEED = 50794138


def test_packets_of_a_closed_connection_never_reach_the_next_one(tmp_path: Path) -> None:
    topology = TOPOLOGIES["seven"]
    script = chaos_script(topology, SEED, MIXES["history"], 20)
    result = run_script(topology, SEED, script, workdir=tmp_path, verify_replay=True)
    assert result.ok, result.report()


def test_a_packet_written_while_a_healed_stream_drains_waits_behind_it(tmp_path: Path) -> None:
    """Regression (threaded chaos `four 305633477 --mix network --steps 12 --threaded`): a
    partition stalled two PINGs on the leader's stream to n1; at the heal, the leader's
    thread wrote a third PING after the faults were gone but before resume_streams let the
    stalled ones go, and it reached n1 first - impossible on TCP. Here the simulator opens
    the same window: the link is unblocked without resume_streams, the leader pings on."""
    trace = tmp_path / "run.jsonl"
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=5, trace=trace)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 5s").ok
        leader = cluster.view().leader
        assert leader is not None
        follower = min(sid for sid in (1, 2, 3) if sid != leader)
        assert cluster.execute(f"block {leader}->{follower}").ok
        assert cluster.execute("wait 250ms").ok  # PINGs every half tick: stalled
        with cluster.host.net_lock:
            cluster.host.faults.clear()  # the window: faults gone, the stream not resumed
        assert cluster.execute("wait 250ms").ok
        assert cluster.host.resume_streams() > 0
        assert cluster.execute("wait 250ms").ok
    events = list(read_trace(trace))
    sent = [
        e["msg"]
        for e in events
        if e["kind"] == "zsend" and e["node"] == leader and e["to"] == follower
    ]
    delivered = [
        e["msg"]
        for e in events
        if e["kind"] == "zdeliver" and e["node"] == follower and e["from"] == leader
    ]
    assert len(delivered) >= 5
    assert delivered == sorted(delivered, key=sent.index)
