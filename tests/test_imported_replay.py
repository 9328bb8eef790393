"""An imported trace in the existing consumers: the replayer's views (what the logs show,
the rest unknown), fork (refused), verify, export, and the console's formatting."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.format import EventFormatter, LogLine
from engine.core.vote import LONG_MIN, ServerState, Vote, zxid_hex
from engine.replay.export import export_lines
from engine.replay.fork import ForkError
from engine.replay.player import Replayer
from engine.replay.verify import verify
from engine.replay.zkimport.importer import import_logs
from engine.trace.elections import ElectionTracker
from engine.trace.evidence import Evidence
from engine.trace.format import TraceWriter, read_trace
from tests.zklogs import DATA


@pytest.fixture(scope="module")
def failover(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imported") / "failover.jsonl"
    import_logs([DATA / "3.8-failover"], path)
    return path


def seq_of(path: Path, test: str) -> int:
    """The seq of the first event whose line contains `test`."""
    for event in read_trace(path):
        if test in str(event):
            return int(event["seq"])
    raise AssertionError(test)


def test_the_replayer_shows_what_the_logs_say(failover: Path) -> None:
    with Replayer(failover) as replay:
        assert replay.view().nodes[0].alive is False  # before n1's first line
        replay.seek(seq_of(failover, "'what': 'quorum_formed'"))  # n3 established epoch 1
        view = replay.view()
        assert view.stable
        assert view.leader == 3
        n1 = view.node(1)
        assert n1.state == ServerState.FOLLOWING
        assert n1.logicalclock == 1
        assert n1.proposal == Vote(3, 0, -1, 0)  # its last own vote, from its loopback copy
        assert n1.election_took_ms == 373.0
        assert {"recvset", "outofelection", "finalizing", "send_queues"} <= n1.unknown
        assert "logicalclock" not in n1.unknown
        n3 = view.node(3)
        assert n3.state == ServerState.LEADING
        assert n3.established
        replay.seek(replay.total)
        view = replay.view()
        assert view.stable
        assert view.leader == 2
        # n3 restarted and follows n2: the leader's log names it, no other part of its vote
        n3 = view.node(3)
        assert n3.state == ServerState.FOLLOWING
        assert n3.current_vote is not None
        assert n3.current_vote.leader == 2
        assert {"current_vote.zxid", "current_vote.election_epoch"} <= n3.unknown
        # n1's vote reached n3 whole while n3 was looking: nothing of it is unknown
        n1 = view.node(1)
        assert n1.current_vote == Vote(2, 0, 2, 2, ServerState.FOLLOWING)
        assert "current_vote" not in n1.unknown
        assert n1.current_epoch == 1  # its initial vote of round 2 carried it


def test_an_imported_trace_cannot_be_forked(failover: Path) -> None:
    with Replayer(failover) as replay:
        replay.seek(100)
        with pytest.raises(ForkError, match="an imported trace has no cores to continue from"):
            replay.fork()


def test_verify_re_executes_nothing_and_finds_no_violation(failover: Path) -> None:
    result = verify(failover)
    assert result.ok
    assert result.steps == 0
    assert result.violations == []


def test_every_export_reads_an_imported_trace(failover: Path) -> None:
    trace = read_trace(failover)
    mermaid = list(export_lines(trace, "mermaid"))
    assert "    n2->>n1: LOOKING leader=2 zxid=0x0 round=1 epoch=0" in mermaid
    assert "    Note over n3: LEADING" in mermaid
    text = list(export_lines(trace, "text"))
    assert any(" n1 recv <- n2 LOOKING leader=2 zxid=0x0 round=1 epoch=0 " in t for t in text)
    assert len(list(export_lines(trace, "shiviz"))) > 1000


def test_the_console_formats_every_real_kind(failover: Path) -> None:
    formatter = EventFormatter()
    lines: dict[str, LogLine] = {}
    for event in read_trace(failover):
        line = formatter.format(event)
        if line is not None:
            lines.setdefault(event["kind"], line)
    assert lines["recv"].plain == "n2 ⇠ n2 LOOKING r1 e0 0x0 n2  (my state LOOKING)"
    assert lines["election"].plain == "n2 new election, proposes 0x0 n2"
    assert lines["peer_state"].plain == "n2 LOOKING"
    assert lines["took"].plain == "n2 FOLLOWING election took 492ms"
    assert lines["zk"].plain == "n1 start"
    assert lines["log"].plain.startswith("n3 INFO Reading configuration from: /tmp/zkens")
    assert lines["log"].verbose  # hidden unless every event is asked for
    assert not lines["recv"].verbose


def test_the_elections_timeline_from_real_servers(failover: Path) -> None:
    with Replayer(failover) as replay:
        tracker = ElectionTracker(replay.state.replay.qv)
    for event in read_trace(failover):
        tracker.feed(event)
    timeline = tracker.timeline()
    got = [
        (e.status, e.leader, e.round, e.epoch, [s for s, _ in e.took]) for e in timeline.elections
    ]
    assert got == [
        ("elected", 3, 1, 1, [1, 2, 3]),
        ("elected", 2, 2, 2, [1, 2]),
        ("rejoined", 2, None, 2, [3]),  # n3 restarted and joined n2, named by n2's log
    ]
    first, second = timeline.outages
    assert first.trigger == "start"
    assert second.trigger == "quorum lost: n1 lost its leader n3 (eof)"
    assert timeline.elections[0].leader_took_ms == 474.0


def test_an_observers_new_election_does_not_give_it_a_zxid() -> None:
    # A non-voter proposes Long.MIN_VALUE as its zxid ("New election. My id = 4, proposed
    # zxid=0x8000000000000000"): that is no last zxid, so it stays unknown, not -0x8000….
    evidence = Evidence(200)
    proposal = {"leader": str(LONG_MIN), "zxid": zxid_hex(LONG_MIN)}
    evidence.apply({"kind": "election", "node": 4, "proposal": proposal}, 10.0)
    observer = evidence.view(4, "observer", 0)
    assert "last_zxid" in observer.unknown
    assert observer.last_zxid == 0
    evidence.apply({"kind": "election", "node": 1, "proposal": {"leader": 1, "zxid": "0x5"}}, 20.0)
    assert evidence.view(1, "participant", 1).last_zxid == 5


def test_status_says_what_the_logs_do_not_give_as_a_question_mark(failover: Path) -> None:
    """A real server's round or zab phase the logs have not shown is `?` in `status`, not
    a made-up 0 or blank (NodeView.shown, as the live real runtime's status does)."""
    with Replayer(failover) as replay:
        for seq in range(1, replay.total + 1):
            replay.seek(seq)
            view = replay.view()
            lacking = [n for n in view.nodes if n.alive and "logicalclock" in n.unknown]
            if lacking:
                break
        else:
            raise AssertionError("no live server without a known round")
        n = lacking[0]
        (line,) = [x for x in replay.status_text().splitlines() if x.startswith(f"n{n.sid} ")]
        assert "round=? " in line
        known = [m for m in view.nodes if m.alive and "logicalclock" not in m.unknown]
        for m in known:
            assert f"round={m.logicalclock} " in replay.status_text()


def test_a_real_server_paused_by_sigstop_shows_paused_in_a_replay(
    failover: Path, tmp_path: Path
) -> None:
    """`--runtime zookeeper` records SIGSTOP/SIGCONT as pause/resume (format 1.3); a real
    server's view comes from its logs' evidence, and must still say it is paused (issue 14:
    the replay showed no paused node)."""
    trace = read_trace(failover)
    events = [e for e in trace if e["kind"] != "footer"]
    at = seq_of(failover, "'what': 'quorum_formed'")
    t_ms = float(events[at - 1]["t_ms"])
    events[at:at] = [
        {"kind": "pause", "node": 3, "t_ms": t_ms},
        {"kind": "resume", "node": 3, "t_ms": t_ms},
    ]
    path = tmp_path / "paused.jsonl"
    writer = TraceWriter(path, trace.header)
    for seq, event in enumerate(events, 1):
        writer.write({**event, "seq": seq})
    writer.close(writer.footer_event(float(events[-1]["t_ms"])))
    with Replayer(path) as replay:
        replay.seek(at + 1)
        assert replay.view().node(3).paused
        assert replay.view().node(3).state == ServerState.LEADING
        replay.seek(at + 2)
        assert not replay.view().node(3).paused


def test_a_real_leader_shows_its_learners_and_how_each_synced_from_their_logs(
    failover: Path,
) -> None:
    """Each learner logged its sync (`Peer state changed: following - synchronization -
    diff`); no INFO line says when the leader last heard from one: that stays unknown."""
    with Replayer(failover) as replay:
        replay.seek(replay.total)
        view = replay.view()
    assert (view.node(1).sync_mode, view.node(3).sync_mode) == ("DIFF", "SNAP")
    learners = view.node(2).learners
    rows = [(lv.sid, lv.learner_type, lv.zab_phase, lv.sync_mode, lv.synced) for lv in learners]
    assert rows == [
        (1, "follower", "BROADCAST", "DIFF", True),
        (3, "follower", "BROADCAST", "SNAP", True),
    ]
    assert all(lv.unknown == {"ping_age_ms", "timeout_ms"} for lv in learners)
    assert view.node(2).sync_mode is None
