"""`zkfle check`: real ZooKeeper runs against the election model (engine.replay.zkcheck).

The real 3.8 logs agree with the model in every decision and every vote sent; each kind
of disagreement is shown by changing one fact of a real trace the way a different
algorithm would have logged it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.backend import BackendInfo
from console.cli import main
from console.widgets.status import Header, Lamps
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.modelcheck import shadowed
from engine.core.view import ClusterView, NodeView
from engine.core.vote import Vote
from engine.replay.livecheck import LiveCheck
from engine.replay.zkcheck.checker import CheckError, check
from engine.replay.zkcheck.report import Disagreement
from engine.replay.zkimport.importer import import_logs
from engine.trace.format import read_trace
from tests.zklogs import DATA, FRAGMENTS, REAL

Event = dict[str, Any]


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every real capture and fragment, imported once."""
    out = {}
    for name in REAL + FRAGMENTS:
        path = tmp_path_factory.mktemp("traces") / f"{name}.jsonl"
        import_logs([DATA / name], path)
        out[name] = path
    return out


def changed(source: Path, target: Path, change: Callable[[list[Event]], None]) -> Path:
    """A copy of a trace with `change` applied to its events (seq and order kept)."""
    lines = source.read_bytes().splitlines()
    header, events = lines[0], [orjson.loads(line) for line in lines[1:]]
    change(events)
    for seq, e in enumerate(events, 1):
        e["seq"] = seq
    if events[-1]["kind"] == "footer":
        events[-1]["events"] = len(events) - 1
    target.write_bytes(b"\n".join([header, *(orjson.dumps(e) for e in events)]) + b"\n")
    return target


def first(events: list[Event], test: Callable[[Event], bool]) -> Event:
    return next(e for e in events if test(e))


def only(disagreements: list[Disagreement]) -> Disagreement:
    assert len(disagreements) == 1, [str(d) for d in disagreements]
    return disagreements[0]


# --- agreement ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_real_zookeeper_3_8_agrees_with_the_model(traces: dict[str, Path], name: str) -> None:
    report = check(traces[name])
    assert report.ok, report.text()
    for sid, node in report.nodes.items():
        assert node.elections >= 1, sid
        assert node.checked_decisions == node.decisions >= 1, (sid, node.unchecked)
        assert node.sends_checked >= 1, sid
        assert node.unchecked == [], sid


def test_the_back_off_of_a_quorum_loss_is_checked(traces: dict[str, Path]) -> None:
    report = check(traces["3.8-quorum-loss"])
    assert report.ok
    # n1 and n2 timed out 5 and 6 times; each logged value was compared with the model's
    assert report.nodes[1].steps > 40
    assert report.nodes[1].checked_decisions == 2


def test_debug_logs_check_every_vote_sent(traces: dict[str, Path]) -> None:
    report = check(traces["3.8-debug"])
    assert report.ok
    assert report.nodes[1].sends_checked == 21  # 16 `sent` lines and 5 loopback copies


@pytest.mark.parametrize("name", FRAGMENTS)
def test_the_fragments_agree_as_far_as_they_go(traces: dict[str, Path], name: str) -> None:
    assert check(traces[name]).ok


RUNS = Path(__file__).parent / "data" / "zkruns"
"""One server's evidence from real runs under `--runtime zookeeper` (tests/data/zkruns)."""


@pytest.mark.parametrize(
    ("name", "sid"),
    [
        # FastLeaderElection.lookForLeader polls what WorkerReceiver queued before it began
        # right after its first sendNotifications; WorkerReceiver then answers the round-1
        # loopback copy (a LOOKING vote of an older round) with the round-2 vote.
        ("poll-before-loopback", 2),
        # The finalize loop polls finalizeWait again after each vote that is not better: a
        # vote logged just before the wait's end restarted it, and so did the next one.
        ("finalize-restarted", 2),
        # The votes that made the quorum were logged around the end of the notification
        # wait; the decision came one finalize wait after the last of them.
        ("finalize-after-held", 3),
        # WorkerReceiver reads the state for its line and again for its branch: a line in
        # the millisecond the server left FOLLOWING still says FOLLOWING.
        ("state-read-twice", 1),
        # ... and the other way round: a LOOKING peer's vote logged `my state:FOLLOWING` in
        # the millisecond the server left FOLLOWING was queued all the same, as the vote
        # the server then sent shows.
        ("queued-while-leaving", 1),
    ],
)
def test_real_runs_under_load_agree_with_the_model(name: str, sid: int) -> None:
    report = check(RUNS / f"{name}.jsonl")
    assert report.ok, report.text()
    node = report.nodes[sid]
    assert node.checked_decisions == node.decisions >= 1, node.unchecked
    assert node.sends_checked >= 2


# --- disagreements ------------------------------------------------------------------------------


def test_a_different_decision(traces: dict[str, Path], tmp_path: Path) -> None:
    """n3 logs FOLLOWING where the model, with a quorum for itself, leads."""

    def follow(events: list[Event]) -> None:
        for e in events:
            if e.get("node") == 3 and e["kind"] == "peer_state" and e["state"] == "LEADING":
                e["state"] = "FOLLOWING"
                return

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", follow))
    d = only(report.disagreements)
    assert (d.node, d.what) == (3, "decision")
    assert d.model == "LEADING for n3 round 1"
    assert d.real == "FOLLOWING"
    assert d.src.endswith("node3/zookeeper.log.gz:99")
    assert d.at == "2026-12-06T08:10:22.599"


def test_a_decision_without_a_quorum(traces: dict[str, Path], tmp_path: Path) -> None:
    """n3 never logs n1's and n2's switch to its vote, yet leads: the model, with only its own
    vote for n3, is still LOOKING."""

    def drop(events: list[Event]) -> None:
        events[:] = [
            e
            for e in events
            if not (
                e.get("node") == 3
                and e["kind"] == "recv"
                and e["n"]["leader"] == 3
                and e["n"]["sid"] in (1, 2)
                and e["n"]["election_epoch"] == 1
            )
        ]

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", drop))
    d = only(report.disagreements)
    assert (d.node, d.what, d.real) == (3, "decision", "LEADING")
    assert d.model == "still LOOKING (proposal n3 round 1, 3 votes in recvset)"


def test_a_vote_the_model_did_not_send(traces: dict[str, Path], tmp_path: Path) -> None:
    """n1's loopback copy says it voted for n2 where the model had moved on to n3."""

    def vote(events: list[Event]) -> None:
        e = first(events, lambda e: e.get("node") == 1 and e["kind"] == "recv"
                  and e["n"]["sid"] == 1 and e["n"]["leader"] == 3)  # fmt: skip
        e["n"]["leader"] = 2

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", vote))
    d = only(report.disagreements)
    assert (d.node, d.what) == (1, "sent")
    assert d.model == "LOOKING leader 3 zxid 0x0 round 1 epoch 0"
    assert d.real == "LOOKING leader 2 zxid 0x0 round 1 epoch 0"


def test_a_state_the_model_is_not_in(traces: dict[str, Path], tmp_path: Path) -> None:
    def state(events: list[Event]) -> None:
        e = first(events, lambda e: e.get("node") == 2 and e["kind"] == "recv"
                  and e["n"]["sid"] == 3)  # fmt: skip
        e["my_state"] = "OBSERVING"

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", state))
    d = report.disagreements[0]
    assert (d.node, d.what, d.model, d.real) == (2, "my_state", "LOOKING", "OBSERVING")


def test_a_timeout_that_did_not_double(traces: dict[str, Path], tmp_path: Path) -> None:
    def timeout(events: list[Event]) -> None:
        e = first(events, lambda e: e.get("node") == 1 and e["kind"] == "fle_timeout"
                  and e["timeout_ms"] == 800)  # fmt: skip
        e["timeout_ms"] = 900

    report = check(changed(traces["3.8-quorum-loss"], tmp_path / "t.jsonl", timeout))
    d = only(report.disagreements)
    assert (d.node, d.what, d.model, d.real) == (1, "timeout", "next 800 ms", "next 900 ms")


def test_a_timeout_logged_before_the_first_loopback_copy_is_checked(
    traces: dict[str, Path], tmp_path: Path
) -> None:
    """3.8-sync-slow: n2's first poll timed out 206 ms after `New election`, re-broadcasting
    vote 2 (n1 and n3 each logged it twice), before the loopback copy of its first
    broadcast, which starts the model, came back. That timeout is applied and its logged
    back-off checked, not dropped."""
    report = check(traces["3.8-sync-slow"])
    assert report.ok, report.text()
    assert report.nodes[2].sends_checked == 5  # both copies of vote 2, then votes 3

    def timeout(events: list[Event]) -> None:
        e = first(events, lambda e: e.get("node") == 2 and e["kind"] == "fle_timeout")
        loopback = first(events, lambda e: e.get("node") == 2 and e["kind"] == "recv")
        assert loopback["n"]["sid"] == 2
        assert e["seq"] < loopback["seq"]
        e["timeout_ms"] = 800

    report = check(changed(traces["3.8-sync-slow"], tmp_path / "t.jsonl", timeout))
    d = only(report.disagreements)
    assert (d.node, d.what, d.model, d.real) == (2, "timeout", "next 400 ms", "next 800 ms")


def test_a_timeout_during_the_finalize_wait(traces: dict[str, Path], tmp_path: Path) -> None:
    """After a quorum agrees, lookForLeader waits finalizeWait for a better vote and never
    backs off: a `Notification time out` then is no ZooKeeper 3.8 behaviour."""

    def timeout(events: list[Event]) -> None:
        decided = first(events, lambda e: e.get("node") == 1 and e["kind"] == "peer_state"
                        and e["state"] == "FOLLOWING")  # fmt: skip
        at = events.index(decided)
        events.insert(at, {**decided, "kind": "fle_timeout", "timeout_ms": 400})
        del events[at]["state"]
        del events[at]["zab"]

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", timeout))
    d = report.disagreements[0]
    assert (d.node, d.what) == (1, "timeout")
    assert d.model.startswith("finalize wait of 200 ms (a quorum agrees with n3)")


def test_a_round_that_does_not_follow(traces: dict[str, Path], tmp_path: Path) -> None:
    """n3 restarted (a new election object, logicalclock 0): its first round must be 1."""

    def rounds(events: list[Event]) -> None:
        start = first(events, lambda e: e.get("node") == 3 and e["kind"] == "zk"
                      and e["what"] == "start" and e["t_ms"] > 1000)  # fmt: skip
        for e in events[events.index(start) :]:
            if e.get("node") == 3 and e["kind"] == "recv" and e["n"]["sid"] == 3:
                e["n"]["election_epoch"] += 4
                break

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", rounds))
    d = report.disagreements[0]
    assert (d.node, d.what, d.model, d.real) == (3, "round", "1", "5")


def test_a_decided_vote_for_another_leader(traces: dict[str, Path], tmp_path: Path) -> None:
    """n5 joins late and hears n1, FOLLOWING - n4 instead of n2 whom n1's model follows."""

    def vote(events: list[Event]) -> None:
        e = first(events, lambda e: e.get("node") == 5 and e["kind"] == "recv"
                  and e["n"]["sid"] == 1 and e["n"]["state"] == "FOLLOWING")  # fmt: skip
        e["n"]["leader"] = 4

    report = check(changed(traces["3.8-quorum-loss"], tmp_path / "t.jsonl", vote))
    d = report.disagreements[0]
    assert (d.node, d.what) == (1, "vote")
    assert d.model == "FOLLOWING for n2"
    assert d.real == "FOLLOWING for n4 (as n5 received it)"


def test_a_disagreement_is_reported_once_then_the_model_follows_the_server(
    traces: dict[str, Path], tmp_path: Path
) -> None:
    """After n3's odd decision its later election (after its restart) is checked again."""

    def follow(events: list[Event]) -> None:
        for e in events:
            if e.get("node") == 3 and e["kind"] == "peer_state" and e["state"] == "LEADING":
                e["state"] = "FOLLOWING"

    report = check(changed(traces["3.8-failover"], tmp_path / "t.jsonl", follow))
    assert [d.what for d in report.disagreements] == ["decision"]
    assert report.nodes[3].elections == 2
    assert report.nodes[3].checked_decisions == 2


# --- the command --------------------------------------------------------------------------------


def test_zkfle_check_exit_statuses(
    traces: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(traces["3.8-failover"])]) == 0
    out = capsys.readouterr().out
    assert "no disagreement with the model" in out
    assert "n3: 2 election(s), 2/2 decisions and 3 sent votes checked" in out

    def timeout(events: list[Event]) -> None:
        e = first(events, lambda e: e.get("node") == 2 and e["kind"] == "fle_timeout")
        e["timeout_ms"] = 1

    bad = changed(traces["3.8-quorum-loss"], tmp_path / "bad.jsonl", timeout)
    assert main(["check", str(bad), "--json"]) == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is False
    [d] = report["disagreements"]
    assert {k: d[k] for k in ("node", "what", "model", "real")} == {
        "node": 2,
        "what": "timeout",
        "model": "next 400 ms",
        "real": "next 1 ms",
    }
    assert d["src"].endswith("node2/zookeeper.log.gz:122")
    assert isinstance(d["step"], int)
    assert isinstance(d["seq"], int)


def test_zkfle_check_of_what_it_cannot_check_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated = Path(__file__).parent.parent / "traces" / "examples" / "leader_failover.jsonl"
    assert main(["check", str(simulated)]) == 2
    assert "nothing to check: the trace has no real-server events" in capsys.readouterr().err
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("this is not a trace\n")
    assert main(["check", str(garbage)]) == 2
    assert f"{garbage}:1:" in capsys.readouterr().err
    with pytest.raises(CheckError, match="cannot read"):
        check(tmp_path / "missing.jsonl")


# --- live: the console's `check` lamp -----------------------------------------------------------


def test_the_live_check_turns_at_the_event_that_disagrees(
    traces: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 10: fed one event at a time as a run records them, the check is the lamp in
    the header, `check` lists each disagreement with its event, and at the end it says what
    `zkfle check` says of the trace."""

    def follow(events: list[Event]) -> None:
        first(events, lambda e: e.get("node") == 3 and e.get("state") == "LEADING")["state"] = (
            "FOLLOWING"
        )

    path = changed(traces["3.8-failover"], tmp_path / "t.jsonl", follow)
    trace = read_trace(path)
    live = LiveCheck(trace.header, str(path))
    events = list(trace)
    wrong = first(events, lambda e: e.get("node") == 3 and e.get("state") == "FOLLOWING")
    for e in events:
        before = live.summary()
        live.feed(e)
        if e is wrong:
            assert before.lamp == f"ok ({e['seq'] - 1} events)"
            break
    turned = live.summary()
    assert turned.lamp == "1 disagreement(s)"
    header = Header()
    view = ClusterView(t_ms=0.0, seq=wrong["seq"], nodes=(), faults=())
    lamps = Lamps(True, "", "ok", "")
    header.set_state(BackendInfo("live", "zookeeper 3.8.0", check=turned.lamp), view, lamps, "")
    assert "check: 1 disagreement(s)" in header.line(200).plain
    (line,) = turned.disagreements
    assert line.startswith("n3 step")
    assert "decision: model LEADING for n3 round 1" in line
    assert f"event: seq {wrong['seq']} " in line
    assert "kind=peer_state" in line
    assert turned.text().splitlines()[1:] == line.splitlines()
    for e in events[events.index(wrong) + 1 :]:
        live.feed(e)
    live.finish()
    end, recorded = live.summary(), check(path)
    assert end.finished
    assert [d.split("\n")[0] for d in end.disagreements] == [str(d) for d in recorded.disagreements]
    assert end.events == recorded.events


def test_our_own_runtimes_have_no_live_check(traces: dict[str, Path]) -> None:
    header = dict(read_trace(traces["3.8-failover"]).header, runtime="sim")
    assert LiveCheck.of(header, "sim.jsonl") is None
    with Cluster(ClusterOptions(nodes=3, runtime="sim", record=False, check=LiveCheck.of)) as c:
        assert c.check_summary() is None
        result = c.execute("check")
        assert not result.ok
        assert "only runs of real ZooKeeper servers" in result.text
        assert "check" not in c.result_json(0.0)


def test_the_shadow_engine_gives_what_a_real_server_keeps_inside_lookforleader(
    traces: dict[str, Path],
) -> None:
    """Issue 10: recvset, outofelection, the proposal and the round of a real server come
    from the live check's model of it, while the model tracks it; the facade puts them in
    the server's view marked as derived, in place of unknowns only."""
    trace = read_trace(traces["3.8-failover"])
    live = LiveCheck(trace.header, "t.jsonl")
    assert live.derived(1) is None  # no model of n1 before its events
    events = list(trace)
    decided = first(events, lambda e: e.get("node") == 1 and e.get("state") == "FOLLOWING")
    for e in events[: events.index(decided) + 1]:
        live.feed(e)
    d = live.derived(1)
    assert d is not None
    assert (d.logicalclock, d.proposal.leader) == (1, 3)
    backers = [sid for sid, vote in d.recvset if vote.leader == 3]
    assert len(backers) >= 2  # a quorum of three backed n3 when n1 followed it
    assert live.derived(9) is None

    real = NodeView(
        1,
        "participant",
        alive=True,
        proposal=Vote(3, 0, -1, 0),
        logicalclock=1,
        unknown=frozenset({"recvset", "outofelection", "finalizing"}),
    )
    shown = shadowed(real, live)
    assert shown.recvset == d.recvset
    assert shown.derived == {"recvset", "outofelection"}  # the wire gave the proposal
    assert shown.unknown == {"finalizing"}
    looking = replace(real, unknown=real.unknown | {"proposal", "logicalclock"})
    assert shadowed(looking, live).derived == {
        "recvset",
        "outofelection",
        "proposal",
        "logicalclock",
    }
    assert shadowed(replace(real, sid=9), live).derived == frozenset()  # not tracked
