"""What a log line says must be what happened (issue 11, item 6: Zab packets by name in
the message log): a follower's state line after a commit says which zxid it reached, and
the delivery of a Zab packet names the packet, as its sending does."""

from __future__ import annotations

from pathlib import Path

from console.format import EventFormatter
from engine.control.cluster import Cluster, ClusterOptions
from engine.trace.format import read_trace


def test_commits_and_zab_deliveries_say_what_they_carry(tmp_path: Path) -> None:
    trace = tmp_path / "w.jsonl"
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=3, trace=trace)) as cluster:
        for line in ("start", "wait until settled within 10s", "write 2", "wait 1s"):
            assert cluster.execute(line).ok, line
        leader = cluster.view().leader
    assert leader is not None
    formatter = EventFormatter()
    events = list(read_trace(trace))
    lines = {e["seq"]: formatter.format(e) for e in events}
    follower = next(sid for sid in (1, 2, 3) if sid != leader)
    committed = [
        lines[e["seq"]].plain  # type: ignore[union-attr]
        for e in events
        if e["kind"] == "state"
        and e["node"] == follower
        and int(e["last_zxid"], 16) & 0xFFFFFFFF  # a txn's (not a sync's epoch zxid)
    ]
    assert committed == [
        f"n{follower} FOLLOWING leader n{leader} r1 last zxid 0x100000001",
        f"n{follower} FOLLOWING leader n{leader} r1 last zxid 0x100000002",
    ]
    sent = {e["msg"]: e["packet"]["type"] for e in events if e["kind"] == "zsend"}
    delivered = [e for e in events if e["kind"] == "zdeliver"]
    assert {sent[e["msg"]] for e in delivered} >= {"PROPOSAL", "ACK", "COMMIT", "PING"}
    for e in delivered:
        text = lines[e["seq"]].plain  # type: ignore[union-attr]
        assert text == f"n{e['node']} ⇐ n{e['from']} {e['msg']} {sent[e['msg']]}"
