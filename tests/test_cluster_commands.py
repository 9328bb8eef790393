"""Every command's bad forms on a live cluster: a clear message, and nothing changes."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.control import commands as c
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.help import help_text
from engine.core.view import QuorumCount

BAD = [
    ("crash", "expected"),
    ("crash 9", "no node 9"),
    ("crash x", "expected"),
    ("restart n0", "no node 0"),
    ("restart 1", "restart: n1 is running (restart brings back crashed nodes"),
    ("start 1", "start: n1 is running"),
    ("crash 2", "crash: n2 is down"),
    ("pause 2", "pause: n2 is down"),
    ("resume 1,2", "resume: n1 is running; n2 is down"),
    ("partition", "expected"),
    ("loss 1->2 150%", "100"),
    ("delay 1->2", "expected"),
    ("delay 1->2 -5ms", "expected"),
    ("block 1->1", "two different nodes"),
    ("heal f99", "no active fault f99"),
    ("write", "no established leader"),
    ("write 0", "between 1 and"),
    ("set 1 zxid=0x1", "running"),
    ("set 9 epoch=1", "no node 9"),
    ("wait until n9.state == LEADING within 1s", "n9"),
    ("expect n1.nonsense == 3", "nonsense"),
    ("timeout 2", "is waiting in lookForLeader"),
    ("release 1->2", "released 0"),
    ("deliver 1->2", "no held message"),
    ("seek 10", "not available"),
    ("run", "no wall clock"),  # a script's simulator: `run` would move nothing (issue 17)
    ("speed 2x", "no wall clock"),
    ("frobnicate", "unknown"),
    ("", "expected"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(ClusterOptions(nodes=3, runtime="sim", seed=5, trace=tmp_path / "t.jsonl"))
    assert c.execute("start 1").ok  # n2 and n3 stay down: no leader, no quorum
    yield c
    c.close()


@pytest.mark.parametrize(("line", "says"), BAD, ids=[b[0] or "<empty>" for b in BAD])
def test_bad_commands_say_what_is_wrong_and_change_nothing(
    cluster: Cluster, line: str, says: str
) -> None:
    before = cluster.view()
    result = cluster.execute(line)
    if line.startswith("release"):
        assert result.ok  # nothing held: releasing nothing is fine and harmless
    else:
        assert not result.ok, f"{line!r} was accepted: {result.text}"
    assert says.lower() in result.text.lower(), result.text
    after = cluster.view()
    assert [(n.sid, n.alive, n.paused, n.state) for n in after.nodes] == [
        (n.sid, n.alive, n.paused, n.state) for n in before.nodes
    ]
    assert after.faults == before.faults


def test_every_command_is_recorded_with_its_result(cluster: Cluster) -> None:
    cluster.execute("crash 9")
    cluster.execute("status")
    cmds = [e for e in cluster.recorder.recent if e["kind"] == "cmd"]
    assert cmds[-2]["text"] == "crash 9"
    assert cmds[-2]["ok"] is False
    assert "no node 9" in cmds[-2]["error"]
    assert cmds[-1]["ok"] is True


def test_a_message_on_the_wire_can_be_dropped_or_delivered_by_id(tmp_path: Path) -> None:
    c = Cluster(ClusterOptions(nodes=3, runtime="sim", seed=2, trace=tmp_path / "m.jsonl"))
    try:
        assert c.execute("delay * 500ms").ok
        assert c.execute("start").ok
        assert c.execute("wait 5ms").ok
        on_wire = [
            e["msg"] for e in c.recorder.recent if e["kind"] == "send" and e["node"] != e["to"]
        ]
        assert len(on_wire) >= 2
        first, second = on_wire[0], on_wire[1]
        assert c.execute(f"deliver {first}").ok
        assert c.execute(f"drop {second}").ok
        assert c.execute("wait 1s").ok
        delivered = [e for e in c.recorder.recent if e["kind"] == "deliver" and e["msg"] == first]
        assert len(delivered) == 1  # now, and not again when the delay ran out
        assert delivered[0]["t_ms"] < 10
        assert not [e for e in c.recorder.recent if e["kind"] == "deliver" and e["msg"] == second]
        dropped = [e for e in c.recorder.recent if e["kind"] == "drop" and e["msg"] == second]
        assert dropped[0]["reason"] == "user"
        again = c.execute(f"drop {second}")
        assert not again.ok
        assert "not on the wire" in again.text
    finally:
        c.close()


def test_the_view_counts_the_quorum_and_names_a_serving_leader_beside_looking_nodes() -> None:
    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=3, record=False)) as cluster:
        cluster.execute("partition 1,2,3|4,5")
        cluster.execute("start")
        assert cluster.execute("wait until n3.established within 10s").ok
        view = cluster.view()
        assert view.looking == (4, 5)
        assert not view.stable
        assert view.leader is None
        assert view.serving_leader == 3
        assert view.quorum == QuorumCount(up=5, needed=3, voters=5, met=True)
        cluster.execute("crash 1,2,3")
        view = cluster.view()
        assert view.serving_leader is None
        assert view.quorum == QuorumCount(up=2, needed=3, voters=5, met=False)


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_restart_brings_back_crashed_nodes_and_leaves_running_ones_alone(runtime: str) -> None:
    """Issue 17, defect 9: `restart` (and `restart all`, `reset`, the `r` key) crashed and
    rebooted running nodes too, knocking a healthy leader out of quorum."""
    # tick 200 ms (the default): a threaded learner starved for 5 x 50 ms on a loaded
    # machine would be dropped, and the leader it leaves may lose its quorum
    options = ClusterOptions(nodes=5, runtime=runtime, seed=4, record=False)
    with Cluster(options) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 10s").ok
        leader = cluster.view().leader
        assert leader is not None
        first = cluster.recorder.seq

        one = cluster.execute(f"restart {leader}")
        assert not one.ok
        assert one.text.splitlines() == [
            f"restart: n{leader} is running (restart brings back crashed nodes;"
            " crash a node first to restart it)"
        ]
        assert not cluster.execute("restart all").ok
        assert cluster.execute("reset").text.startswith("nothing to reset")
        follower = min(s for s in cluster.sids if s != leader)
        assert cluster.execute(f"crash {follower}").ok
        again = cluster.execute("restart all")
        assert again.ok, again.text
        running = tuple(s for s in cluster.sids if s != follower)
        assert again.text == (
            f"restarted n{follower}; {', '.join(f'n{s}' for s in running)} are running"
        )
        assert cluster.execute("wait until settled within 10s").ok
        assert cluster.view().leader == leader
        lives = [
            (e["kind"], e["node"])
            for e in cluster.recorder.events_after(first)
            if e["kind"] in ("boot", "stop")
        ]
        assert lives == [("stop", follower), ("boot", follower)]


def test_partial_failures_say_what_succeeded_and_what_failed() -> None:
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=5, record=False)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until stable within 5s").ok
        assert cluster.execute("crash 1,2").ok
        assert cluster.execute("set 2 current_epoch=3 accepted_epoch=2").ok
        assert cluster.execute("isolate 3").ok
        assert cluster.execute("pause 3").ok
        restart = cluster.execute("restart all")
        assert not restart.ok
        assert restart.text.splitlines() == [
            "restarted n1; n3 is paused",
            "n2 refuses to start: the accepted epoch, 2, is less than the current epoch, 3",
        ]
        assert cluster.execute("crash 1").ok
        reset = cluster.execute("reset")
        assert not reset.ok
        assert reset.text.splitlines() == [
            "healed f1; resumed n3; restarted n1",
            "n2 refuses to start: the accepted epoch, 2, is less than the current epoch, 3",
        ]
        assert [n.sid for n in cluster.view().nodes if n.alive and not n.paused] == [1, 3]


def test_a_command_that_resolved_a_word_echoes_the_sids_it_chose() -> None:
    """Issue 17: `partition majority|minority` said `f1: partition majority|minority`, and
    `faults` too: which nodes were cut was nowhere to be seen."""
    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=6, record=False)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 10s").ok
        leader = cluster.view().leader
        assert leader is not None
        split = cluster.execute("partition majority|minority")
        assert split.ok, split.text
        fid, text = split.text.split(": ", 1)
        groups = [tuple(map(int, g.split(","))) for g in text.removeprefix("partition ").split("|")]
        assert [len(g) for g in groups] == [3, 2]
        assert sorted(groups[0] + groups[1]) == [1, 2, 3, 4, 5]
        assert cluster.view().faults[0].text == text
        assert f"{fid}  {text}" in cluster.execute("faults").text
        block = cluster.execute("block leader->*")
        assert block.text == f"f2: block {leader}->*"
        assert cluster.execute("heal").ok
        follower = min(s for s in cluster.sids if s != leader)
        crash = cluster.execute(f"crash leader,{follower}")
        assert crash.text == f"crashed {', '.join(f'n{s}' for s in sorted((leader, follower)))}"


FRONT_END_VERBS = {"replay", "fork", "quit"}
"""Verbs the console and the shell carry out themselves, never a cluster."""


CLUSTER_VERBS = [v for v in c.VERBS if v.name not in FRONT_END_VERBS]


@pytest.mark.parametrize("verb", CLUSTER_VERBS, ids=[v.name for v in CLUSTER_VERBS])
def test_help_says_where_a_verb_works_and_a_live_cluster_agrees(verb: c.Verb) -> None:
    """Issue 17: `timeout` was documented as simulator-only but works on threads. A verb
    whose help says "(replay)" is refused by a live cluster; every other one is not."""
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=5, record=False)) as cluster:
        cluster.execute("start 1")  # n1 LOOKING: `timeout 1` has a node to fire
        result = cluster.execute(verb.example.replace("timeout 3", "timeout 1"))
        refused = "not available here" in result.text
        assert refused == ("(replay)" in verb.summary), result.text


def test_timeout_works_on_threads_too() -> None:
    options = ClusterOptions(nodes=3, runtime="threaded", tick_ms=50, record=False)
    with Cluster(options) as cluster:
        assert cluster.execute("start 1").ok  # alone: LOOKING, backing off
        assert cluster.execute("wait until n1.not_timeout_ms >= 800 within 5s").ok
        fired = cluster.execute("timeout 1")
        assert fired.ok, fired.text
        assert fired.text == "fired the notification timeout of n1"
    assert "simulator" not in help_text("timeout")


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_wait_until_synced_waits_for_every_learner_to_finish_syncing(runtime: str) -> None:
    """Issue 14: `synced` holds once each running learner is in BROADCAST with the leader;
    `stable` may hold earlier (a follower that dialled before the leader listened retries)."""
    options = ClusterOptions(nodes=5, runtime=runtime, seed=3, record=False)
    with Cluster(options) as cluster:
        assert cluster.execute("start").ok
        result = cluster.execute("wait until synced within 10s")
        assert result.ok, result.text
        view = cluster.view()
        leader = view.serving_leader
        assert leader is not None
        learners = [n for n in view.nodes if n.sid != leader]
        assert learners
        assert all(n.zab_phase == "BROADCAST" for n in learners)
        assert all(n.current_vote is not None and n.current_vote.leader == leader for n in learners)
        assert cluster.execute("crash 1 2 3").ok  # a list with spaces: no quorum is left
        # the leader serves until its next tick finds no quorum (Leader.lead's check)
        assert cluster.execute("wait until not synced within 10s").ok
        assert cluster.execute("restart 1-3").ok
        assert cluster.execute("wait until synced within 10s").ok


@pytest.mark.parametrize(
    ("tick_ms", "why"),
    [
        (50, "write: n3 committed 0 of 1 transactions: it stopped leading (LOOKING) before a"),
        (2000, "write: n3 committed 0 of 1 transactions: no quorum acked the rest within 5 s"),
    ],
)
def test_a_write_no_quorum_acks_says_whether_its_leader_gave_up(tick_ms: int, why: str) -> None:
    """Both followers cut off: with a 50 ms tick the leader's syncLimit check gives up
    leading before the write's 5 s are out; with ZooKeeper's 2 s tick it still leads."""
    options = ClusterOptions(nodes=3, runtime="sim", seed=1, tick_ms=tick_ms, record=False)
    with Cluster(options) as cluster:
        for line in ("start", "wait until settled within 10s", "isolate 1", "isolate 2"):
            assert cluster.execute(line).ok, line
        result = cluster.execute("write 1")
    assert not result.ok
    assert result.text.startswith(why), result.text
