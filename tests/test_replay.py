"""The replayer's API for the console's replay mode: stepping, seeking (checkpoints),
marks, breakpoints, playing, the reconstructed queues, and forking a live simulation from
any step (engine.replay, engine.replay.fork)."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.control import commands as c
from engine.control.breakpoints import event_matches
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.values import EventFilter
from engine.core.view import ClusterView, quorum_count
from engine.core.vote import ServerState, zxid_hex
from engine.replay.cores import ReplayError, json_diff
from engine.replay.player import Replayer
from engine.replay.state import ClusterState, iter_views, replay_to
from engine.replay.verify import verify
from engine.trace.format import validate
from engine.trace.record import vote_json

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "traces" / "examples"
FAILOVER = EXAMPLES / "leader_failover.jsonl"
PARTITION = EXAMPLES / "minority_partition.jsonl"
THREADED = EXAMPLES / "threaded_faults.jsonl"


def events_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()[1:]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- stepping and seeking -------------------------------------------------------------------


def test_step_and_back_give_the_views_of_a_fresh_replay() -> None:
    fresh = dict(iter_views(FAILOVER, range(0, 400)))
    with Replayer(FAILOVER, checkpoint_every=50) as r:
        assert r.position == 0
        assert r.view() == fresh[0]
        for seq in range(1, 400):
            assert r.step() == seq
            assert r.view() == fresh[seq], f"forward at seq {seq}"
        for seq in range(398, 0, -7):
            r.seek(seq + 7)
            assert r.back(7) == seq
            assert r.view() == fresh[seq], f"back at seq {seq}"
        assert r.back(1000) == 0
        assert r.view() == fresh[0]


def test_random_seeks_match_a_fresh_replay() -> None:
    events = events_of(PARTITION)
    seqs = [1, len(events), 17, 900, 899, len(events) - 1, 3, len(events) - 40, len(events) // 2, 0]
    fresh = dict(iter_views(PARTITION, seqs))
    with Replayer(PARTITION, checkpoint_every=100) as r:
        for seq in seqs:
            assert r.seek(seq) == seq
            assert r.view() == fresh[seq], f"seek {seq}"
        assert max(r._checkpoints) <= len(events)


def test_recvset_and_state_match_the_recorded_state_events() -> None:
    """Every `state` event records what the node's core held after the step; the replayed
    view at that seq must show the same (and at decisions, the same recvset)."""
    events = events_of(FAILOVER)
    states = [e for e in events if e["kind"] == "state"]
    decisions = [e for e in states if "recvset" in e]
    assert decisions
    views = dict(iter_views(FAILOVER, [e["seq"] for e in states]))
    for e in states:
        node = views[e["seq"]].node(e["node"])
        assert node.state is not None
        assert node.state.name == e["state"]
        assert node.zab_phase == e["zab"]
        assert node.logicalclock == e["logicalclock"]
        assert node.proposal is not None
        assert node.proposal.leader == e["proposal"]["leader"]
        assert zxid_hex(node.proposal.zxid) == e["proposal"]["zxid"]
        assert node.current_vote is not None
        assert vote_json(node.current_vote) == e["vote"]
        assert node.current_epoch == e["current_epoch"]
        assert node.accepted_epoch == e["accepted_epoch"]
        assert zxid_hex(node.last_zxid) == e["last_zxid"]
        if "recvset" in e:
            assert {str(s): vote_json(v) for s, v in node.recvset} == e["recvset"]
            assert {str(s): vote_json(v) for s, v in node.outofelection} == e["outofelection"]


def test_views_agree_with_the_recorded_snapshots() -> None:
    for path in (FAILOVER, PARTITION, THREADED):
        events = events_of(path)
        snapshots = [e for e in events if e["kind"] == "snapshot"]
        views = dict(iter_views(path, [e["seq"] for e in snapshots]))
        for e in snapshots:
            view = views[e["seq"]]
            assert view.stable == e["stable"], f"{path.name} seq {e['seq']}"
            assert view.leader == e["leader"]
            for summary in e["nodes"]:
                node = view.node(summary["sid"])
                assert node.alive == summary["alive"]
                assert node.paused == summary["paused"]
                if "state" in summary:
                    assert node.state is not None
                    assert node.state.name == summary["state"]
                    assert node.logicalclock == summary["logicalclock"]


def test_queues_follow_the_messages() -> None:
    """QuorumCnxManager's receive queue holds a delivered notification until the step that
    takes it; the FLE recvqueue is the core's; message counters count the events (a
    loopback send has its `deliver` too, since version 1.1)."""
    events = events_of(FAILOVER)
    deliver = next(e for e in events if e["kind"] == "deliver")
    taken = next(e for e in events if e["kind"] == "step" and e.get("msg") == deliver["msg"])
    node = deliver["node"]
    views = dict(iter_views(FAILOVER, [deliver["seq"] - 1, deliver["seq"], taken["seq"]]))
    before, at, after = (views[s].node(node) for s in sorted(views))
    assert at.recv_queue == before.recv_queue + 1
    assert after.recv_queue < at.recv_queue or taken["seq"] - deliver["seq"] > 1
    last = replay_to(FAILOVER)
    view = last.view()
    assert view.messages.sent == sum(1 for e in events if e["kind"] == "send")
    evicted = sum(1 for e in events if e["kind"] == "drop" and e["reason"] == "recv_capacity")
    delivers = sum(1 for e in events if e["kind"] == "deliver")
    assert view.messages.delivered == delivers - evicted
    assert view.messages.dropped == sum(
        1 for e in events if e["kind"] == "drop" and e["msg"].startswith("m")
    )
    for n in view.nodes:
        if n.alive:
            assert all(depth in (0, 1) for _, depth in n.send_queues)
            assert 0 <= n.recv_queue <= 100
            assert n.connections, f"n{n.sid} has election connections"


def test_faults_and_held_messages_are_reconstructed(tmp_path: Path) -> None:
    trace = tmp_path / "hold.jsonl"
    with Cluster(ClusterOptions(runtime="sim", seed=2, nodes=3, trace=trace)) as cluster:
        for line in ("start", "wait until stable within 10s", "hold 3->1", "crash 1", "restart 1"):
            assert cluster.execute(line).ok, line
        cluster.execute("wait 300ms")
        held_live = len(cluster.host.held.get((3, 1), ()))
        seq_held = cluster.recorder.seq
        for line in ("release 3->1", "heal f1", "wait until stable within 10s", "delay * 5ms"):
            assert cluster.execute(line).ok, line
    state = replay_to(trace, seq_held)
    assert held_live > 0
    assert len(state.held_on(3, 1)) == held_live
    assert [f.text for f in state.faults.values()] == ["hold 3->1"]
    end = replay_to(trace)
    assert end.held == {}
    assert [f.text for f in end.view().faults] == ["delay * 5ms"]
    assert verify(trace).ok


# --- marks, time, events --------------------------------------------------------------------


def test_seek_to_a_mark_and_to_a_time() -> None:
    events = events_of(FAILOVER)
    marks = {e["label"]: e["seq"] for e in events if e["kind"] == "mark"}
    with Replayer(FAILOVER) as r:
        assert r.mark_seqs == marks
        assert [m.label for m in r.marks] == ["before crash", "after failover"]
        assert r.seek_mark("before crash") == marks["before crash"]
        assert r.view().leader == 5
        assert r.seek_mark("after failover") == marks["after failover"]
        view = r.view()
        assert view.leader == 4
        assert not view.node(5).alive
        with pytest.raises(KeyError, match=r'no mark "nope".*a seq, a time @1\.5s, start or end'):
            r.seek_mark("nope")
        assert r.execute("seek end").ok
        assert r.position == r.total == len(events)
        assert r.execute("seek start").ok
        assert r.position == 0
        t = events[99]["t_ms"]
        seq = r.seek_time(t)
        assert events[seq - 1]["t_ms"] <= t
        assert seq == len(events) or events[seq]["t_ms"] > t
        assert r.view().t_ms == events[seq - 1]["t_ms"]


def test_events_and_events_after() -> None:
    events = events_of(FAILOVER)
    with Replayer(FAILOVER) as r:
        assert r.total == len(events)
        assert r.events(5, 9) == events[4:9]
        assert r.event(r.total) == events[-1]
        r.seek(40)
        assert r.events_after(30) == events[30:40]
        assert r.events_after(40) == []
        r.seek(20)
        assert r.events_after(30) == []


# --- breakpoints and playing ------------------------------------------------------------------


def test_break_when_stops_after_the_event_that_makes_it_true() -> None:
    events = events_of(FAILOVER)
    crash = next(e["seq"] for e in events if e["kind"] == "stop" and e["node"] == 5)
    with Replayer(FAILOVER) as r:
        bp = r.break_when("not n5.alive")
        assert bp.id == "b1"
        assert bp.text == "break when not n5.alive"
        assert r.run_until_break() == bp
        assert r.position == crash
        assert r.stop_reason == f"b1: when not n5.alive at seq {crash} (n5 stops: crash)"
        # Edge-triggered: it does not fire again while it stays true.
        assert r.run_until_break() is None
        assert r.position == r.total
        assert r.stop_reason == "end of trace"


def test_break_on_an_event_kind() -> None:
    events = events_of(FAILOVER)
    decide4 = next(
        e["seq"]
        for e in events
        if e["kind"] == "step"
        and e["node"] == 4
        and "decided" in e["output"]
        and e["output"]["decided"]["leader"] == 4
    )
    with Replayer(FAILOVER) as r:
        result = r.execute("break on decide node=4 leader=4")
        assert result.ok
        assert result.text == "b1: break on decide node=4 leader=4"
        assert r.run_until_break() is not None
        assert r.position == decide4
        r.remove_breakpoint()
        r.seek(0)
        r.break_on("state node=4 state=LEADING")
        r.run_until_break()
        event = r.event(r.position)
        assert event["kind"] == "state"
        assert event["node"] == 4
        assert event["state"] == "LEADING"


def test_event_filters_match_trace_events() -> None:
    send = {"kind": "send", "node": 1, "msg": "m1", "to": 2}
    deliver = {"kind": "deliver", "node": 2, "msg": "m1", "from": 1}
    timeout = {"kind": "step", "node": 3, "input": {"type": "timeout"}, "output": {}}

    def f(text: str) -> EventFilter:
        cmd = c.parse(f"break on {text}")
        assert isinstance(cmd, c.BreakOn)
        return cmd.event

    assert event_matches(f("send from=1 to=2"), send)
    assert not event_matches(f("send from=2"), send)
    assert event_matches(f("deliver from=1 to=2"), deliver)
    assert not event_matches(f("deliver to=1"), deliver)
    assert event_matches(f("timeout node=3"), timeout)
    assert not event_matches(f("timeout node=3"), send)


def test_play_advances_with_the_clock_and_stops_at_a_breakpoint() -> None:
    clock = FakeClock()
    events = events_of(FAILOVER)
    with Replayer(FAILOVER, clock=clock) as r:
        assert r.execute("speed 0.5x").ok
        assert r.execute("run").ok
        assert r.info["running"] is True
        assert r.info["mode"] == "replay"
        clock.now += 0.2  # 200 ms of wall time at 0.5x: 100 ms of the trace
        view = r.view()
        expected = sum(1 for e in events if e["t_ms"] <= 100.0)
        assert r.position == expected
        assert view.seq == expected
        r.execute("break when leaders == 1")
        clock.now += 60.0
        r.view()
        assert not r.running
        assert r.stop_reason is not None
        assert r.stop_reason.startswith("b1: when leaders == 1")
        assert r.view().leaders == (5,)
        r.remove_breakpoint("b1")
        assert r.execute("run").ok
        clock.now += 1000.0
        r.view()
        assert r.position == r.total
        assert r.stop_reason == "end of trace"


def outages(path: Path) -> dict[int, float | None]:
    """seq -> when the cluster last stopped being stable (None while stable), judged on a
    fresh view after every event."""
    since: float | None = 0.0
    out: dict[int, float | None] = {}
    for seq, view in iter_views(path, range(0, len(events_of(path)) + 1)):
        if view.stable:
            since = None
        elif since is None:
            since = view.t_ms
        out[seq] = since
    return out


@pytest.mark.parametrize("trace", [FAILOVER, PARTITION, THREADED], ids=lambda p: p.stem)
def test_the_outage_start_is_right_after_any_seek_and_while_playing(trace: Path) -> None:
    # Issue 17, defect 3: the header's "electing" timer counted from the seek target.
    truth = outages(trace)
    clock = FakeClock()
    with Replayer(trace, checkpoint_every=100, clock=clock) as r:
        last = r.total
        for seq in [last // 2, 5, last, last // 3, last - 7, 1, 2 * last // 3]:
            r.seek(seq)
            assert r.view().unstable_since_ms == truth[seq], f"after seek {seq}"
        r.seek(0)
        r.play(speed=1.0)
        while r.position < last:
            clock.now += 0.013
            view = r.view()
            assert view.unstable_since_ms == truth[view.seq], f"playing, at seq {view.seq}"
    assert any(v is None for v in truth.values())  # the trace has stable stretches
    assert len({v for v in truth.values() if v is not None}) >= 2  # and outages


def test_a_live_simulation_says_when_its_outage_began() -> None:
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=2, record=False)) as cluster:
        assert cluster.view().unstable_since_ms == 0.0  # nothing runs yet
        cluster.execute("start")
        assert cluster.execute("wait until stable within 10s").ok
        assert cluster.view().unstable_since_ms is None
        cluster.execute("wait 1s")
        crashed_at = cluster.view().t_ms
        cluster.execute("crash leader")
        assert cluster.view().unstable_since_ms == crashed_at
        cluster.execute("wait 50ms")
        assert cluster.view().unstable_since_ms == crashed_at
        assert cluster.execute("wait until stable within 10s").ok
        assert cluster.view().unstable_since_ms is None


def test_why_playback_stopped_is_forgotten_once_the_user_moves() -> None:
    # The position bar shows `stop_reason`: after a seek it would name a stop elsewhere.
    with Replayer(FAILOVER) as r:
        r.break_when("leaders == 1")
        assert r.run_until_break() is not None
        assert r.stop_reason is not None
        assert r.execute("seek 5").ok
        assert r.stop_reason is None
        r.remove_breakpoint()
        assert r.run_until_break() is None
        assert r.stop_reason == "end of trace"
        assert r.execute("step").ok
        assert r.stop_reason is None


def test_execute_refuses_commands_that_change_the_cluster() -> None:
    with Replayer(FAILOVER) as r:
        assert r.execute("step 10").ok
        assert r.position == 10
        assert r.execute("seek 5").text.startswith("at seq 5/")
        assert r.execute('seek "before crash"').ok
        assert r.execute("seek @1s").ok
        result = r.execute("crash 3")
        assert not result.ok
        assert "read-only" in result.text
        assert not r.execute("frobnicate").ok
        assert "replay" in r.execute("status").text
        assert r.execute("mark here").ok
        assert "here" in r.mark_seqs


# --- traces that cannot be replayed --------------------------------------------------------------


def diverging_copy(trace: Path, after_seq: int) -> tuple[Path, dict[str, Any]]:
    """A copy of FAILOVER whose first step after `after_seq` records a wrong output; that
    step."""
    lines = FAILOVER.read_bytes().splitlines(keepends=True)
    events = [orjson.loads(line) for line in lines[1:]]
    target = next(e for e in events if e["kind"] == "step" and e["seq"] > after_seq)
    target["output"]["state"] = "LEADING"
    lines[target["seq"]] = orjson.dumps(target) + b"\n"
    trace.write_bytes(b"".join(lines))
    return trace, target


def test_a_divergence_is_reported_while_stepping(tmp_path: Path) -> None:
    trace, target = diverging_copy(tmp_path / "bad.jsonl", 50)
    with Replayer(trace) as r:
        r.run_until_break()
        assert r.position == target["seq"]
        assert r.stop_reason == f"divergence at seq {target['seq']} on n{target['node']}"
        assert r.divergence is not None
        assert r.divergence.seq == target["seq"]
        assert "diverged" in r.execute("step").text


def test_a_divergence_far_ahead_is_known_soon_after_opening(tmp_path: Path) -> None:
    # Issue 17: the header showed a divergence only once the replay had passed it.
    trace, target = diverging_copy(tmp_path / "bad.jsonl", 700)
    with Replayer(trace) as r:
        assert r.info["divergence"] is None  # nothing verified ahead: known when reached
    with Replayer(trace, verify_ahead=True) as r:
        expected = f"diverges at seq {target['seq']} on n{target['node']}"
        eventually(lambda: r.info["divergence"] == expected, "the divergence found ahead")
        assert r.position == 0
        assert r.divergence is None  # the replay itself has not met it
        assert f"diverges: {trace}:{target['seq'] + 1}" in r.execute("status").text
    assert not any(t.name == "zkfle-verify-ahead" for t in threading.enumerate())


def test_closing_stops_verifying_ahead(tmp_path: Path) -> None:
    with Replayer(FAILOVER, verify_ahead=True) as r:
        pass  # closed at once, verified or not
    assert not any(t.name == "zkfle-verify-ahead" for t in threading.enumerate())
    assert r.info["divergence"] is None


def test_json_diff_names_paths() -> None:
    assert json_diff({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}], "c": True}) == [
        "a[1].b: expected 2, actual 3",
        "c: expected (absent), actual true",
    ]


def test_a_file_that_cannot_be_indexed_raises_replay_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = FAILOVER.read_bytes().splitlines(keepends=True)
    bad.write_bytes(b"".join(lines[:5]) + b"[]\n" + b"".join(lines[6:]))
    with pytest.raises(ReplayError, match=r"bad.jsonl:6: an event must be a JSON object"):
        Replayer(bad)


# --- fork -------------------------------------------------------------------------------------


def test_fork_after_the_crash_elects_and_its_trace_verifies(tmp_path: Path) -> None:
    events = events_of(FAILOVER)
    crash = next(e["seq"] for e in events if e["kind"] == "stop" and e["node"] == 5)
    out = tmp_path / "fork.jsonl"
    with Replayer(FAILOVER) as r:
        r.seek(crash + 1)
        before = r.view()
        cluster = r.fork(seed=3, trace_path=out)
        try:
            assert cluster.view().node(5).alive is False
            assert [n.state for n in cluster.view().nodes] == [n.state for n in before.nodes]
            assert cluster.execute("wait until stable within 10s").ok
            assert cluster.view().leader == 4
            assert cluster.execute("restart 5").ok
            assert cluster.execute("wait until settled within 10s").ok
            assert cluster.execute("write 1").ok
        finally:
            cluster.close()
    header = orjson.loads(out.read_bytes().splitlines()[0])
    assert header["parent"] == {"trace": str(FAILOVER), "seq": crash + 1}
    assert header["runtime"] == "sim"
    assert header["seed"] == 3
    result = verify(out)
    assert result.divergence is None, result.divergence.report() if result.divergence else ""
    assert result.violations == []
    assert result.parent_events == crash + 1
    fork_events = events_of(out)
    assert fork_events[0]["kind"] == "mark"
    assert fork_events[1]["text"] == f"mark fork of {FAILOVER} at seq {crash + 1}"
    # The fork's clock, message ids and fault ids continue the parent's.
    assert fork_events[0]["t_ms"] == events[crash]["t_ms"]
    sent = [int(e["msg"][1:]) for e in fork_events if e["kind"] == "send"]
    parent_sent = [int(e["msg"][1:]) for e in events[: crash + 1] if e["kind"] == "send"]
    assert min(sent) > max(parent_sent)
    # And it replays in the replayer too (the parent's state first).
    with Replayer(out) as rf:
        rf.seek(rf.total)
        assert rf.view().leader == 4
        assert rf.divergence is None


PAUSES = (
    "start",
    "wait until stable within 30s",
    "pause 2",
    "resume 2",
    "pause 3 for=300ms",
    "wait until not n3.paused within 30s",
    "pause 1",
    "pause 1",  # refused: n1 is paused already
    "reset",
    "wait until stable within 30s",
)


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_pause_and_resume_are_events_that_replay_follows_exactly(
    tmp_path: Path, runtime: str
) -> None:
    """Trace 1.3: a pause and its end are events of their own on every runtime, the timed
    resume of `pause for=` and `reset`'s too, so a replay knows a node paused at that
    event (before, only from the next snapshot, or from the node's next step)."""
    out = tmp_path / "t.jsonl"
    with Cluster(ClusterOptions(nodes=3, runtime=runtime, seed=5, trace=out)) as cluster:
        for line in PAUSES:
            cluster.execute(line)
    assert validate(out) == []
    events = events_of(out)
    lives = [(e["kind"], e["node"]) for e in events if e["kind"] in ("pause", "resume")]
    assert lives == [
        ("pause", 2),
        ("resume", 2),
        ("pause", 3),
        ("resume", 3),
        ("pause", 1),
        ("resume", 1),
    ]
    result = verify(out)
    assert result.ok, result
    with Replayer(out) as r:
        for e in events:
            if e["kind"] in ("pause", "resume"):
                r.seek(e["seq"] - 1)
                assert r.view().node(e["node"]).paused is (e["kind"] == "resume")
                r.seek(e["seq"])
                assert r.view().node(e["node"]).paused is (e["kind"] == "pause")


def test_a_fork_records_one_snapshot_after_its_mark(tmp_path: Path) -> None:
    """The first command of a run (a fork's `mark`) was followed by two identical
    snapshots: one because stability was not known yet, one because a command was run."""
    out = tmp_path / "fork.jsonl"
    with Replayer(FAILOVER) as r:
        r.seek(41)  # no loopback send in flight (the fork would deliver it at once)
        r.fork(seed=3, trace_path=out).close()
    kinds = [e["kind"] for e in events_of(out)]
    assert kinds[:4] == ["mark", "cmd", "snapshot", kinds[3]]
    assert kinds[3] != "snapshot"


def test_no_run_records_two_snapshots_in_a_row(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=7, trace=out)) as cluster:
        for line in ("start", "wait until stable within 5s", "crash leader", "wait 2s"):
            assert cluster.execute(line).ok
    kinds = [e["kind"] for e in events_of(out)]
    assert kinds.count("snapshot") >= 4
    assert ("snapshot", "snapshot") not in itertools.pairwise(kinds)


@pytest.mark.parametrize("when", [0.25, 0.5, 0.75])
def test_fork_during_a_partition_keeps_the_fault(tmp_path: Path, when: float) -> None:
    events = events_of(PARTITION)
    start = next(e["seq"] for e in events if e["kind"] == "fault")
    end = next(e["seq"] for e in events if e["kind"] == "heal")
    at = start + int((end - start) * when)
    out = tmp_path / "fork.jsonl"
    with Replayer(PARTITION) as r:
        r.seek(at)
        cluster = r.fork(seed=9, trace_path=out)
        try:
            assert [f.fault_id for f in cluster.view().faults] == ["f1"]
            assert cluster.execute("wait 1s").ok
            assert cluster.view().node(5).state == ServerState.LOOKING
            assert cluster.execute("block 1->2").text.startswith("f2:")
            assert cluster.execute("heal").ok
            assert cluster.execute("wait until settled within 30s").ok
            assert cluster.view().leader == 3
        finally:
            cluster.close()
    result = verify(out)
    assert result.ok, result.divergence.report() if result.divergence else result.violations


def test_fork_of_a_threaded_trace(tmp_path: Path) -> None:
    out = tmp_path / "fork.jsonl"
    with Replayer(THREADED) as r:
        r.seek_mark("isolate")
        r.step(30)
        cluster = r.fork(seed=1, trace_path=out)
        try:
            assert cluster.info["runtime"] == "sim"
            assert cluster.execute("crash leader").ok
            assert cluster.execute("wait until stable within 20s").ok
        finally:
            cluster.close()
    assert verify(out).ok


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Wait (on the wall clock) until `condition()` holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        threading.Event().wait(0.01)


@pytest.mark.parametrize("trace", [FAILOVER, THREADED], ids=lambda p: p.stem)
def test_a_fork_runs_on_the_wall_clock_once_told_to_run(tmp_path: Path, trace: Path) -> None:
    # Issue 17, defect 1: `run` in a fork answered "running at 1x" while its clock and seq
    # stood still (it had no pacer); only `wait` and `step` moved it.
    out = tmp_path / "fork.jsonl"
    with Replayer(trace) as r:
        r.seek(300)
        r.play()
        cluster = r.fork(seed=4, trace_path=out)
        assert not r.running  # the replay waits where the fork was taken
        try:
            at_fork = cluster.view()
            assert cluster.info["running"] is False  # halted at the fork point
            assert cluster.execute("speed 10x").ok
            assert cluster.execute("run").text == "running at 10x"
            assert cluster.info["running"] is True
            eventually(lambda: cluster.view().t_ms > at_fork.t_ms + 50, "the clock to move")
            eventually(lambda: cluster.view().seq > at_fork.seq, "new events")
            assert cluster.execute("halt").ok
            assert cluster.info["running"] is False
        finally:
            cluster.close()
    assert verify(out).ok


def test_a_fork_without_its_parent_cannot_be_verified(tmp_path: Path) -> None:
    parent = tmp_path / "parent.jsonl"
    shutil.copyfile(FAILOVER, parent)
    out = tmp_path / "sub" / "fork.jsonl"
    with Replayer(parent) as r:
        r.seek(200)
        cluster = r.fork(trace_path=out)
        cluster.execute("wait 100ms")
        cluster.close()
    assert verify(out).ok
    parent.unlink()
    with pytest.raises(
        ReplayError, match=r"forked from .*parent\.jsonl at seq 200, which is not found"
    ):
        verify(out)


def test_cluster_state_clone_is_independent() -> None:
    state = replay_to(FAILOVER, 300)
    copy = state.clone()
    before = state.view()
    rest = events_of(FAILOVER)[300:]
    for event in rest:
        copy.apply(event)
    assert state.view() == before
    assert copy.view() != before
    assert isinstance(copy, ClusterState)
    assert isinstance(before, ClusterView)


def test_a_fork_of_a_fork_replays_through_both_parents(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    with Replayer(FAILOVER) as r:
        r.seek(400)
        cluster = r.fork(seed=1, trace_path=first)
        assert cluster.execute("crash leader").ok
        cluster.execute("wait 300ms")
        cluster.close()
    with Replayer(first) as r:
        r.seek(r.total // 2)
        cluster = r.fork(seed=2, trace_path=second)
        try:
            assert cluster.execute("wait until stable within 20s").ok
        finally:
            cluster.close()
    result = verify(second)
    assert result.ok
    assert result.parent_events == 400 + sum(1 for _ in events_of(first)) // 2
    with Replayer(second) as r:
        r.seek(r.total)
        assert r.view().stable
        assert r.divergence is None


def test_the_replayer_is_a_console_replay_backend(tmp_path: Path) -> None:
    from console.backend import Backend, ReplayBackend, is_replay, read_info

    with Replayer(FAILOVER) as r:
        assert isinstance(r, ReplayBackend)
        assert is_replay(r)
        info = read_info(r)
        assert info.mode == "replay"
        assert info.trace_path == str(FAILOVER)
        assert info.seed == 7
        r.seek(100)
        cluster = r.fork(trace_path=tmp_path / "fork.jsonl")
        try:
            assert isinstance(cluster, Backend)
            assert not is_replay(cluster)
            assert cluster.view().seq > 0
        finally:
            cluster.close()


def test_breakpoints_are_listed_and_removed_by_id() -> None:
    r = Replayer(EXAMPLES / "leader_failover.jsonl")
    try:
        assert r.execute("breaks").text == "no breakpoints"
        assert r.execute("break when leaders > 1").ok
        assert r.execute("break on drop").ok
        listing = r.execute("breaks").text.splitlines()
        assert [line.split()[0] for line in listing] == ["b1", "b2"]
        assert r.execute("unbreak b1").ok
        assert [b.id for b in r.breakpoints] == ["b2"]
        missing = r.execute("unbreak b7")
        assert not missing.ok
        assert "no breakpoint b7" in missing.text
        assert r.execute("unbreak").ok
        assert r.breakpoints == []
    finally:
        r.close()


HOLDS_AND_PAUSES = (
    "start",
    "wait until stable within 30s",
    "hold 3->1",
    "crash 1",
    "restart 1",
    "wait 300ms",
    "pause 2",
    "release 3->1",
    "resume 2",
    "heal f1",
    "partition 1,2 | 3",
    "wait 500ms",
    "heal all",
    "wait until stable within 30s",
)


def fresh_view_parts(state: ClusterState) -> tuple[object, ...]:
    """The nodes and quorum of `state`'s view built from nothing kept between events."""
    nodes = tuple(state.node_view(state.nodes[sid]) for sid in sorted(state.nodes))
    return nodes, quorum_count(state.replay.qv, nodes)


@pytest.mark.parametrize(
    "name", [*sorted(p.name for p in EXAMPLES.glob("*.jsonl")), "holds_and_pauses"]
)
def test_the_views_kept_between_events_are_the_views_built_afresh(
    tmp_path: Path, name: str
) -> None:
    """`view` keeps each node's view until an event that can change it (a `break when`
    judges a view after every event): after every event of each example trace, and of a
    run that holds, releases, pauses, crashes and partitions, it is the view built anew."""
    trace = EXAMPLES / name
    if name == "holds_and_pauses":
        trace = tmp_path / "t.jsonl"
        with Cluster(ClusterOptions(runtime="sim", seed=3, nodes=3, trace=trace)) as cluster:
            for line in HOLDS_AND_PAUSES:
                assert cluster.execute(line).ok, line
    header = orjson.loads(trace.read_bytes().splitlines()[0])
    state = ClusterState(header, str(trace))
    events = events_of(trace)
    assert len(events) > 100
    for event in events:
        state.apply(event)
        view = state.view()
        assert (view.nodes, view.quorum) == fresh_view_parts(state), f"seq {event['seq']}"
