"""Breakpoints on a live cluster (issue 14, item 2): `break on` / `break when` halt the
simulator and the threaded runtime at the next event boundary - on threads every node
thread stops and the clock stops with them, so no timeout runs out during the halt - and
`step`, `continue`, `clear` and `breaks` work there as in a replay."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from engine.control.breakpoints import describe_event, event_matches
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.values import EventFilter
from engine.core.view import ClusterView
from engine.replay.player import Replayer
from engine.replay.state import rebuild
from engine.replay.verify import verify
from engine.runtime.threads import ThreadedRuntime
from engine.trace.format import read_trace, validate
from engine.trace.recorder import RECENT_EVENTS

DEADLINE_S = 30.0
"""Generous: a loaded machine may be slow to elect."""


def eventually(condition: Callable[[], bool], what: str, within_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + within_s
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        pause.wait(0.01)


def holds_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether `condition` keeps holding for `seconds` (looking every 10 ms)."""
    deadline = time.monotonic() + seconds
    pause = threading.Event()
    while time.monotonic() < deadline:
        if not condition():
            return False
        pause.wait(0.01)
    return condition()


def event(cluster: Cluster, seq: int) -> dict[str, Any]:
    (found,) = [e for e in cluster.recorder.recent if e["seq"] == seq]
    return found


def hit_seq(cluster: Cluster) -> int:
    assert cluster.stop_reason is not None
    return int(cluster.stop_reason.split(" at seq ")[1].split()[0])


def test_break_on_stops_a_simulated_wait_at_the_matching_event() -> None:
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=7, record=False)) as cluster:
        assert cluster.execute("break on state state=LEADING").text == (
            "b1: break on state state=LEADING"
        )
        assert cluster.execute("start").ok
        result = cluster.execute("wait 10s")
        assert result.ok
        assert "; stopped: b1: on state state=LEADING at seq " in result.text
        hit = event(cluster, hit_seq(cluster))
        assert (hit["kind"], hit["state"]) == ("state", "LEADING")
        assert f"(n{hit['node']} LEADING round 1)" in result.text
        # halted at that event: the clock stayed there
        assert cluster.host.now() == hit["t_ms"] < 10_000
        assert cluster.execute("breaks").text == "b1  break on state state=LEADING"
        assert cluster.execute("clear b1").text == "removed 1 breakpoint(s)"
        assert cluster.execute("breaks").text == "no breakpoints"
        assert cluster.execute("wait until settled within 10s").ok


def test_a_break_stops_wait_until_and_says_so() -> None:
    options = ClusterOptions(nodes=5, runtime="sim", seed=3, record=False, shadow=rebuild)
    with Cluster(options) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 10s").ok
        assert cluster.execute("break when looking > 0").ok
        assert cluster.execute("crash leader").ok
        result = cluster.execute("wait until stable within 10s")
        assert not result.ok
        assert result.text.startswith("stable: stopped: b1: when looking > 0 at seq ")
        assert cluster.view().looking  # halted where it became true
        assert not cluster.view().stable
        assert cluster.execute("unbreak").ok
        assert cluster.execute("wait until stable within 10s").ok


def test_the_paced_simulator_halts_at_a_break_and_continue_runs_it_on() -> None:
    options = ClusterOptions(nodes=3, runtime="sim", seed=5, record=False, pace=True, halted=True)
    with Cluster(options) as cluster:
        assert cluster.execute("break on decide").ok
        assert cluster.execute("start").ok
        assert cluster.execute("speed 10").ok
        assert cluster.execute("continue").text == "running at 10x"
        eventually(lambda: cluster.stop_reason is not None, "the break hits")
        assert cluster.info["running"] is False
        assert cluster.info["stop_reason"] == cluster.stop_reason
        hit = event(cluster, hit_seq(cluster))
        assert hit["kind"] == "step"
        assert "decided" in hit["output"]
        seq, now = cluster.recorder.seq, cluster.host.now()
        assert holds_for(lambda: (cluster.recorder.seq, cluster.host.now()) == (seq, now), 0.3)
        assert cluster.execute("clear").ok
        assert cluster.execute("continue").ok
        assert cluster.info["stop_reason"] is None
        eventually(lambda: cluster.view().settled, "settled after continue")


def started_alone(runtime: str) -> Cluster:
    """n1 of three, alone: LOOKING, its notification timeout doubling (200, 400, 800 ms)."""
    cluster = Cluster(ClusterOptions(nodes=3, runtime=runtime, seed=11, record=False))
    assert cluster.execute("start 1").ok
    return cluster


def test_threads_halt_every_thread_and_the_clock_at_a_break() -> None:
    with started_alone("threaded") as cluster:
        host = cluster.host
        assert isinstance(host, ThreadedRuntime)
        assert cluster.execute("break on timeout node=1").ok
        eventually(lambda: cluster.stop_reason is not None, "n1's timeout")
        hit = event(cluster, hit_seq(cluster))
        assert hit["kind"] == "step"
        assert hit["input"]["type"] == "timeout"
        assert host.wait_halted(DEADLINE_S)  # every thread out of its operation
        assert cluster.info["running"] is False
        node = host.nodes[1]
        seq, now, deadline = cluster.recorder.seq, host.now(), node.deadline
        assert deadline is not None
        assert deadline > now  # the next timeout is armed
        # Halted: nothing is recorded, the clock stands, the timer keeps what it had left,
        # however long the halt (a timeout would have fired within 800 ms).
        assert holds_for(lambda: cluster.recorder.seq == seq and host.now() == now, 1.0)
        assert node.deadline == deadline
        before_go = time.monotonic()
        assert cluster.execute("continue").text == "running"
        assert host.now() - now <= (time.monotonic() - before_go) * 1000.0
        # the breakpoint is still set: n1's next timeout halts it again, and that timeout
        # ran out at the deadline it had, on the cluster's clock
        eventually(lambda: cluster.stop_reason is not None, "the next timeout")
        fired = event(cluster, hit_seq(cluster))
        assert fired["input"]["type"] == "timeout"
        assert fired["t_ms"] >= deadline
        assert cluster.execute("clear").ok
        assert cluster.execute("continue").ok


def test_threads_step_and_halt() -> None:
    with started_alone("threaded") as cluster:
        host = cluster.host
        assert isinstance(host, ThreadedRuntime)
        halted = cluster.execute("halt")
        assert halted.ok
        assert halted.text.startswith("halted at t=")
        seq = cluster.recorder.seq
        assert holds_for(lambda: cluster.recorder.seq == seq, 0.3)
        assert cluster.execute("start 2,3").ok  # a command acts on a halted cluster
        seq = cluster.recorder.seq
        assert holds_for(lambda: cluster.recorder.seq == seq, 0.3)  # ... its threads wait
        stepped = cluster.execute("step 5")
        assert stepped.ok, stepped.text
        assert stepped.text.startswith("ran 5 event(s); halted at")
        assert len(run_events(cluster, seq)) == 5
        assert host.halted
        assert cluster.execute("continue").ok
        assert cluster.execute("wait until settled within 30s").ok
        assert cluster.execute("speed 2").text.startswith("speed: only the simulator")


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_break_when_halts_both_runtimes_once_the_predicate_becomes_true(runtime: str) -> None:
    options = ClusterOptions(nodes=3, runtime=runtime, seed=2, record=False, shadow=rebuild)
    with Cluster(options) as cluster:
        assert cluster.execute("break when stable").ok
        assert cluster.execute("start").ok
        if runtime == "sim":
            assert not cluster.execute("wait 10s").text.endswith("waited 10s")
        eventually(lambda: cluster.stop_reason is not None, "stable")
        assert cluster.stop_reason is not None
        assert cluster.stop_reason.startswith("b1: when stable at seq ")
        assert cluster.view().stable
        assert cluster.info["running"] is False


def test_break_on_violation_matches_a_failed_invariant_only() -> None:
    broken = {"seq": 9, "kind": "invariant", "node": 2, "name": "OneLeaderPerEpoch", "ok": False}
    assert event_matches(EventFilter("violation"), broken)
    assert event_matches(EventFilter("violation", node=2), broken)
    assert not event_matches(EventFilter("violation", node=3), broken)
    assert not event_matches(EventFilter("violation"), {**broken, "ok": True})
    assert not event_matches(EventFilter("violation"), {**broken, "kind": "state"})


MARKS = frozenset(("break", "cmd", "mark", "snapshot", "invariant"))
"""What the cluster records about a run, beside the run's own events (while it is halted,
the user's commands and why it halted; snapshots once it goes on)."""


def run_events(cluster: Cluster, after: int = 0) -> list[dict[str, Any]]:
    return [e for e in cluster.recorder.events_after(after) if e["kind"] not in MARKS]


def last_run_event(cluster: Cluster) -> dict[str, Any]:
    return run_events(cluster)[-1]


@pytest.mark.parametrize(
    ("rule", "kind"),
    [("deliver from=1", "deliver"), ("send to=3", "send"), ("state", "state"), ("decide", "step")],
)
def test_threads_halt_exactly_at_the_event_that_hit(rule: str, kind: str) -> None:
    """The event a `break on` matched is the last one recorded while halted, however many
    operations were under way on other threads; each `step` records exactly one more."""
    for seed in range(4):
        options = ClusterOptions(nodes=5, runtime="threaded", seed=seed, record=False)
        with Cluster(options) as cluster:
            host = cluster.host
            assert isinstance(host, ThreadedRuntime)
            assert cluster.execute(f"break on {rule}").ok
            assert cluster.execute("start").ok
            eventually(lambda: cluster.stop_reason is not None, f"a {rule} hits")
            assert host.wait_halted(DEADLINE_S)
            hit = hit_seq(cluster)
            assert event(cluster, hit)["kind"] == kind
            assert last_run_event(cluster)["seq"] == hit
            (mark,) = [e for e in cluster.recorder.recent if e["kind"] == "break"]
            assert (mark["seq"], mark["at"], mark["id"]) == (hit + 1, hit, "b1")
            assert holds_for(lambda: last_run_event(cluster)["seq"] == hit, 0.2)  # noqa: B023
            assert cluster.execute("clear").ok
            for _ in range(3):
                before = cluster.recorder.seq
                stepped = cluster.execute("step")
                assert stepped.text.startswith("ran 1 event(s); halted at"), stepped.text
                assert len(run_events(cluster, before)) == 1
            before = cluster.recorder.seq
            stepped = cluster.execute("step 7")
            assert stepped.text.startswith("ran 7 event(s)"), stepped.text
            assert len(run_events(cluster, before)) == 7
            assert holds_for(lambda: len(run_events(cluster, before)) == 7, 0.2)  # noqa: B023
            assert cluster.execute("continue").text == "running"


def test_a_halt_holds_what_a_command_does_until_the_run_goes_on() -> None:
    """Halted, a command still acts (n2 and n3 start) but the run's events wait for
    `continue`, so the trace shows the halt where it was: after the hit, only commands."""
    with started_alone("threaded") as cluster:
        host = cluster.host
        assert isinstance(host, ThreadedRuntime)
        assert cluster.execute("halt").ok
        seq = cluster.recorder.seq
        assert cluster.execute("start 2,3").ok
        assert host.nodes[2].alive
        assert [e["kind"] for e in cluster.recorder.events_after(seq)] == ["cmd"]
        assert cluster.recorder.holding
        assert cluster.execute("step").ok
        (boot,) = run_events(cluster, seq)
        assert (boot["kind"], boot["node"]) == ("boot", 2)
        assert cluster.execute("continue").ok
        assert cluster.execute("wait until settled within 30s").ok
        assert not cluster.recorder.holding


def test_the_simulator_halts_exactly_too_and_steps_one_event() -> None:
    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=7, record=False)) as cluster:
        assert cluster.execute("break on send from=1 to=1").ok
        assert cluster.execute("start").ok
        assert "stopped: b1" in cluster.execute("wait 10s").text
        hit = hit_seq(cluster)
        # n1's loopback send: its deliver happens in the same operation, yet waits
        assert last_run_event(cluster)["seq"] == hit
        assert cluster.execute("step").text.startswith("ran 1 event(s)")
        delivered = last_run_event(cluster)
        assert (delivered["kind"], delivered["seq"]) == ("deliver", hit + 3)
        assert cluster.execute("clear").ok
        assert cluster.execute("wait until settled within 10s").ok


def test_a_hit_is_recorded_in_the_trace(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    options = ClusterOptions(nodes=3, runtime="sim", seed=7, trace=trace, shadow=rebuild)
    with Cluster(options) as cluster:
        assert cluster.execute("break on state state=LEADING").ok
        assert cluster.execute("start").ok
        assert cluster.execute("wait 10s").ok
        assert cluster.execute("break when looking > 0").ok
        assert cluster.execute("crash leader").ok
        assert cluster.execute("wait 10s").ok
    events = list(read_trace(trace).events())
    hits = [e for e in events if e["kind"] == "break"]
    assert [(h["id"], h["text"]) for h in hits] == [
        ("b1", "break on state state=LEADING"),
        ("b2", "break when looking > 0"),
    ]
    on_state = events[hits[0]["seq"] - 2]
    assert (on_state["seq"], on_state["kind"], on_state["state"]) == (
        hits[0]["at"],
        "state",
        "LEADING",
    )
    assert hits[0]["why"].endswith("LEADING round 1")
    assert hits[1]["why"] == describe_event(events[hits[1]["at"] - 1])  # what made it true
    assert validate(trace) == []
    assert verify(trace).ok
    with Replayer(trace) as replay:  # a replay can go where the session halted
        assert [(m.label, m.seq) for m in replay.marks] == [
            ("b1", hits[0]["at"]),
            ("b2", hits[1]["at"]),
        ]
        assert replay.seek_mark("b2") == hits[1]["at"]
        assert replay.view().looking


EXACT = [
    ((), "stable", ("start",)),
    ((), "leader == 5", ("start",)),
    ((), "n2.state == FOLLOWING", ("start",)),
    (("start", "wait until stable within 30s"), "n3.logicalclock >= 2", ("crash leader",)),
]
"""(what runs before the breakpoint is set, the predicate, what runs after)."""


@pytest.mark.parametrize("runtime", ["threaded", "sim"])
@pytest.mark.parametrize(("before", "predicate", "after"), EXACT, ids=[p for _, p, _ in EXACT])
def test_break_when_halts_at_the_event_a_replay_stops_at(
    tmp_path: Path, runtime: str, before: tuple[str, ...], predicate: str, after: tuple[str, ...]
) -> None:
    """Exact as `break on`: the predicate is judged after each event on the cluster its
    events rebuild, so the run halts at the event after which a replay of the trace sees
    it true first, and records nothing more until it goes on."""
    for seed in range(3):
        trace = tmp_path / f"{seed}.jsonl"
        options = ClusterOptions(nodes=5, runtime=runtime, seed=seed, trace=trace, shadow=rebuild)
        with Cluster(options) as cluster:
            for line in before:
                assert cluster.execute(line).ok, line
            set_at = cluster.execute(f"break when {predicate}").seq
            for line in after:
                assert cluster.execute(line).ok, line
            if runtime == "sim":
                assert "; stopped: b1" in cluster.execute("wait 10s").text
            eventually(lambda: cluster.stop_reason is not None, predicate)
            if isinstance(cluster.host, ThreadedRuntime):
                assert cluster.host.wait_halted(DEADLINE_S)
            hit = hit_seq(cluster)
            assert last_run_event(cluster)["seq"] == hit
            assert holds_for(lambda: last_run_event(cluster)["seq"] == hit, 0.2)  # noqa: B023
        events = list(read_trace(trace).events())
        (mark,) = [e for e in events if e["kind"] == "break"]
        assert (mark["seq"], mark["at"]) == (hit + 1, hit)
        with Replayer(trace) as replay:
            assert set_at is not None
            replay.seek(set_at)
            assert not replay.view().stable if predicate == "stable" else True
            replay.break_when(predicate)
            assert replay.run_until_break() is not None
            assert replay.position == hit, (seed, replay.stop_reason, cluster.stop_reason)


def test_break_when_needs_the_run_s_events_from_its_start() -> None:
    """Judged on the cluster its events rebuild: without a trace, only while the recorder
    still keeps the first event; a cluster built without the shadow says it cannot."""
    options = ClusterOptions(nodes=5, runtime="sim", seed=3, record=False, shadow=rebuild)
    with Cluster(options) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("break when leaders > 1").ok  # the run's start is kept
        assert cluster.execute("clear").ok
        assert cluster.execute("wait 60s").ok  # a ping or two per tick: enough events
        assert cluster.recorder.seq > RECENT_EVENTS
        refused = cluster.execute("break when looking > 0")
        assert not refused.ok
        assert "records no trace (--no-trace)" in refused.text
        assert cluster.execute("breaks").text == "no breakpoints"
        assert not cluster.recorder.holding  # the events held while it tried go on
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=3, record=False)) as cluster:
        refused = cluster.execute("break when stable")
        assert not refused.ok
        assert refused.text.startswith("break when: this cluster cannot judge predicates")


def test_break_when_set_while_the_threads_run_halts_where_it_became_true(tmp_path: Path) -> None:
    """Set in the middle of an election, while every node thread records: the shadow is
    rebuilt from the trace while their events wait, and judges those first."""
    for seed in range(3):
        trace = tmp_path / f"{seed}.jsonl"
        options = ClusterOptions(
            nodes=5, runtime="threaded", seed=seed, trace=trace, shadow=rebuild
        )
        with Cluster(options) as cluster:
            assert cluster.execute("start").ok
            assert cluster.execute("break when stable").ok
            assert cluster.execute("break when leaders > 1").ok  # a second one, running
            assert cluster.execute("continue").text == "running"  # arms again, running
            eventually(lambda: cluster.stop_reason is not None, "stable")
            assert isinstance(cluster.host, ThreadedRuntime)
            assert cluster.host.wait_halted(DEADLINE_S)
            hit = hit_seq(cluster)
            assert last_run_event(cluster)["seq"] == hit
        with Replayer(trace) as replay:
            replay.seek(hit - 1)
            assert not replay.view().stable
            replay.seek(hit)
            assert replay.view().stable


def test_a_hit_says_what_its_event_did() -> None:
    def step(inp: dict[str, Any], **output: Any) -> dict[str, Any]:
        return {"seq": 5, "kind": "step", "node": 2, "input": inp, "output": output}

    packet = {"type": "packet", "from": 3, "packet": {"type": "LEADERINFO", "epoch": 1}}
    assert describe_event(step(packet)) == "n2 takes LEADERINFO from n3"
    lost = step({"type": "disconnected", "peer": 5}, reason="Connection to the leader closed")
    assert describe_event(lost) == "n2 loses its connection to n5: Connection to the leader closed"
    vote = {"type": "receive", "n": {"sid": 4, "leader": 4}}
    assert describe_event(step(vote)) == "n2 takes a notification from n4"
    decided = step({"type": "timeout"}, decided={"leader": 4})
    assert describe_event(decided) == "n2 decides on leader n4"
    assert describe_event({"kind": "pause", "node": 2}) == "n2 pauses"
    assert describe_event({"kind": "stop", "node": 2, "reason": "crash"}) == "n2 stops: crash"


class FailingShadow:
    """A shadow whose reconstruction breaks at the first `state` event (as a bug would)."""

    def __init__(self, header: Mapping[str, Any], name: str, events: Iterable[Any]) -> None:
        self.state = rebuild(header, name, events)

    def apply(self, event: dict[str, Any]) -> object:
        if event["kind"] == "state":
            raise ValueError("no such state")
        return self.state.apply(event)

    def view(self) -> ClusterView:
        return self.state.view()


def test_a_shadow_that_fails_halts_the_run_and_removes_what_it_cannot_judge() -> None:
    options = ClusterOptions(nodes=3, runtime="sim", seed=3, record=False, shadow=FailingShadow)
    with Cluster(options) as cluster:
        assert cluster.execute("break when stable").ok
        assert cluster.execute("start").ok  # its boots record the first state events
        assert cluster.stop_reason is not None
        assert cluster.stop_reason.startswith("b1: when stable at seq")
        assert cluster.stop_reason.endswith("(cannot judge it any more, removed: no such state)")
        assert cluster.execute("breaks").text == "no breakpoints"
        assert cluster.execute("wait until stable within 10s").ok
