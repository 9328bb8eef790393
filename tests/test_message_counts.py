"""Every notification sent ends delivered, dropped (with its reason) or in flight, and the
counts say which (issue 17, defect 4: a node's sends to itself, QuorumCnxManager's
loopback, had no `deliver` or `drop`, so sent != delivered + dropped).

The counts are checked against where the messages really are: the ids sitting in send
queues, on the wire or held - in the simulator between any two events, in a threaded
cluster once it has stopped, and in the replayer's reconstruction after every event of
both traces. The events themselves must tell each message's fate the same way."""

from __future__ import annotations

import time
from pathlib import Path

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.view import DELIVERED_DROP_REASONS, MessageCounts
from engine.replay.player import Replayer
from engine.replay.state import ClusterState
from engine.runtime.host import Host
from engine.runtime.sim import Simulation
from engine.trace.format import read_trace
from engine.trace.recorder import Event

SCRIPT = [
    "start",
    "wait until stable within 5s",
    "write 2",
    "dup * 40%",
    "reorder * 30%",
    "delay 3<->4 20ms jitter=5ms",
    "crash leader",
    "hold 1->*",
    "wait 300ms",
    "partition 1,2|3,4,5",
    "pause 2",
    "wait 500ms",
    "resume 2",
    "loss * 30%",
    "restart all",
    "wait 700ms",
    "heal",
    "wait until settled within 20s",
    "write 3",
    "crash 1,3",
    "restart 1,3",
    "wait until settled within 20s",
]


class Ledger:
    """Each message's fate as the events tell it: the last `deliver` or `drop`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fate: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        kind, msg = event["kind"], event.get("msg", "")
        if kind == "send":
            self.sent.append(msg)
        elif kind == "deliver":
            self.fate[msg] = "delivered"
        elif kind == "drop" and msg.startswith("m"):
            assert event["reason"], event
            if event["reason"] in DELIVERED_DROP_REASONS:
                assert self.fate.get(msg) == "delivered", event
            self.fate[msg] = "dropped"

    @property
    def in_flight(self) -> set[str]:
        return {m for m in self.sent if m not in self.fate}

    def counts(self) -> MessageCounts:
        fates = list(self.fate.values())
        return MessageCounts(len(self.sent), fates.count("delivered"), fates.count("dropped"))


def live_in_flight(host: Host) -> set[str]:
    """Notifications in a send queue, on the wire or held, right now."""
    queued = {
        m.msg_id for n in host.nodes.values() for q in n.qcm.queue_send_map.values() for m in q
    }
    wire = {msg for msg, copies in host.in_flight.items() if copies}
    held = {e.msg_id for q in host.held.values() for e in q}
    return {m for m in queued | wire | held if m.startswith("m")}


def replayed_in_flight(state: ClusterState) -> set[str]:
    queued = {m.msg_id for n in state.nodes.values() for m in n.send_queues.values() if m}
    return {m for m in queued | set(state.in_flight) if m.startswith("m")}


def check(counts: MessageCounts, where: set[str], ledger: Ledger, at: str) -> None:
    assert counts == ledger.counts(), at
    assert counts.sent == counts.delivered + counts.dropped + counts.in_flight, at
    assert where == ledger.in_flight, f"{at}: {sorted(where ^ ledger.in_flight)}"
    assert counts.in_flight == len(where), at


def run_script(cluster: Cluster, ledger: Ledger, between: bool) -> None:
    """Run SCRIPT; with `between` (simulator), check before every event of every wait."""
    host = cluster.host
    for line in SCRIPT:
        if between and line.startswith("wait ") and not line.startswith("wait until"):
            assert isinstance(host, Simulation)
            until = host.now() + float(line.removeprefix("wait ").removesuffix("ms"))
            while (due := host.next_due()) is not None and due <= until:
                host.run_one()
                check(host.recorder.counts, live_in_flight(host), ledger, f"t={host.now()}")
            continue
        result = cluster.execute(line)
        assert result.ok, f"{line}: {result.text}"
        if between:
            check(cluster.view().messages, live_in_flight(host), ledger, line)


def replay_checks(trace: Path) -> MessageCounts:
    """Replay the trace one event at a time, checking the reconstruction after each."""
    read = read_trace(trace)
    state = ClusterState(read.header, str(trace))
    ledger = Ledger()
    for event in read:
        ledger(event)
        state.apply(event)
        check(state.view().messages, replayed_in_flight(state), ledger, f"seq {event['seq']}")
    return state.view().messages


def test_every_message_is_accounted_for_in_the_simulator_and_its_replay(tmp_path: Path) -> None:
    trace = tmp_path / "sim.jsonl"
    ledger = Ledger()
    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=11, trace=trace)) as cluster:
        cluster.recorder.listeners.append(ledger)
        run_script(cluster, ledger, between=True)
        final = cluster.view().messages
        assert final.dropped > 0
        delivered = [e for e in cluster.recorder.recent if e["kind"] == "deliver"]
        assert any(e["from"] == e["node"] for e in delivered)  # loopback
        sent = [e for e in cluster.recorder.recent if e["kind"] == "send"]
        assert any("dup" in e for e in sent)  # a copy made by `dup` is a message too
    assert replay_checks(trace) == final


def test_every_message_is_accounted_for_on_threads_and_in_replay(tmp_path: Path) -> None:
    trace = tmp_path / "threads.jsonl"
    ledger = Ledger()
    # tick 200 ms (the default): its writes need a leader with a quorum, and a learner
    # starved for 5 x 50 ms on a loaded machine is dropped
    options = ClusterOptions(
        nodes=5, runtime="threaded", seed=11, trace=trace, data_dir=tmp_path / "d"
    )
    cluster = Cluster(options)
    cluster.recorder.listeners.append(ledger)
    try:
        run_script(cluster, ledger, between=False)
    finally:
        cluster.close()
    final = cluster.recorder.counts  # nothing moves any more: every thread has stopped
    check(final, live_in_flight(cluster.host), ledger, "after close")
    assert replay_checks(trace) == final


def test_a_fork_between_a_loopback_send_and_its_deliver_delivers_it(tmp_path: Path) -> None:
    """A loopback message has no wire: a fork made right after its `send` puts it in the
    receive queue (and records the `deliver`) instead of sending it over a link."""
    trace = tmp_path / "parent.jsonl"
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=4, trace=trace)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until stable within 5s").ok
    events = list(read_trace(trace))
    send = next(e for e in events if e["kind"] == "send" and e["to"] == e["node"])
    with Replayer(trace) as replayer:
        replayer.seek(send["seq"])
        assert send["msg"] in replayer.state.in_flight
        fork = replayer.fork(trace_path=tmp_path / "fork.jsonl")
        try:
            host = fork.host
            assert send["msg"] not in live_in_flight(host)
            assert fork.view().messages.in_flight == len(live_in_flight(host))
            delivered = [e for e in fork.events_after(0) if e["kind"] == "deliver"]
            assert delivered[0]["msg"] == send["msg"]
            assert fork.execute("wait until stable within 5s").ok
        finally:
            fork.close()


def test_a_message_sent_to_a_crashed_node_is_dropped_not_in_flight_for_good(
    tmp_path: Path,
) -> None:
    """Issue 12's leak check (RSS up ~2 KiB per crash/restart cycle of a threaded node):
    a peer's SendWorker goes on sending to a crashed node until it notices; each such
    message was put in the heap of the node's RecvWorker that had already ended, so it
    was neither delivered nor dropped and stayed in flight (and in memory) for good.
    Every message in flight at some instant must have a fate soon after."""
    ledger = Ledger()
    options = ClusterOptions(
        nodes=3, runtime="threaded", tick_ms=50, record=False, data_dir=tmp_path / "d"
    )
    with Cluster(options) as cluster:
        cluster.recorder.listeners.append(ledger)
        for line in ["start", "wait until settled within 20s"] + 8 * [
            "crash 1",
            "restart 1",
            "wait until settled within 20s",
        ]:
            result = cluster.execute(line)
            assert result.ok, f"{line}: {result.text}"
        pending = ledger.in_flight
        deadline = time.monotonic() + 20
        while pending & ledger.in_flight and time.monotonic() < deadline:
            cluster.execute("wait 50ms")
        assert not pending & ledger.in_flight, sorted(pending & ledger.in_flight)
