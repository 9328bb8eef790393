"""Who reads an in-memory election connection: the SendWorker that wrote to it, unless a
fault delays the message; then, and when the connection closes, its RecvWorker.

Issue 13 (N = 51 threaded): every notification was written by a SendWorker and then read by
the RecvWorker at the other end, woken for it - one more thread hand-off per notification
(~3 400 in an N = 51 election), and a thread for every RecvWorker started with its
connection although a fault-free run never gave it anything to wait for. Now a RecvWorker's
thread starts at its first wake-up. The traces of such runs replay exactly, and a delayed
message still arrives after its delay, read by the RecvWorker.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.verify import verify
from engine.runtime.threads import LATENCY_SLACK_MS, ThreadedRuntime
from engine.trace.recorder import Event

DEADLINE_S = 30.0
"""Generous: the suite shares two CPUs with other jobs."""


def threads(cluster: Cluster) -> list[str]:
    host = cluster.host
    assert isinstance(host, ThreadedRuntime)
    return host.threads()


def recv_workers(cluster: Cluster) -> list[str]:
    return [name for name in threads(cluster) if name.startswith("RecvWorker")]


def test_without_faults_no_recv_worker_thread_starts_and_the_trace_verifies(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "reads.jsonl"
    with Cluster(ClusterOptions(nodes=5, trace=trace)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 30s").ok
        assert cluster.execute("crash leader").ok  # a second election, on the survivors
        assert cluster.execute("wait until settled within 30s").ok
        assert cluster.view().messages.delivered > 0
        assert "SendWorker[myid=1->*]" in threads(cluster)
        assert recv_workers(cluster) == []
    result = verify(trace)
    assert result.ok, result


def test_a_delayed_notification_is_read_by_the_recv_worker_after_its_delay(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "delayed.jsonl"
    delay_ms = 150.0
    events: list[Event] = []
    with Cluster(ClusterOptions(nodes=3, trace=trace)) as cluster:
        cluster.recorder.listeners.append(events.append)
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 30s").ok
        assert recv_workers(cluster) == []
        assert cluster.execute(f"delay 1->3 {delay_ms:.0f}ms").ok
        events.clear()
        assert cluster.execute("crash 3").ok
        assert cluster.execute("restart 3").ok  # n1 answers n3's LOOKING notifications
        assert cluster.execute("wait until settled within 30s").ok
        sent = {
            e["msg"]: e["t_ms"]
            for e in events
            if e["kind"] == "send" and e["node"] == 1 and e["to"] == 3
        }
        delivered = [
            e["t_ms"] - sent[e["msg"]]
            for e in events
            if e["kind"] == "deliver" and e.get("msg") in sent
        ]
        assert delivered, "n1's notifications reached n3"
        # a RecvWorker reads up to the link's base latency early (LATENCY_SLACK_MS)
        assert min(delivered) >= delay_ms - LATENCY_SLACK_MS
        assert "RecvWorker[myid=3<-1]" in recv_workers(cluster)
    assert verify(trace).ok


def test_the_message_resent_on_a_new_connection_travels_that_connection() -> None:
    """The last message re-sent when a connection opens (ZK: SendWorker.run) went through
    the network thread on main - the connection's queue was made only after the nodes'
    locks were let go - and could be read after a later message on the same connection.
    Here the network thread is kept busy: the re-sent message must arrive anyway."""
    events: list[Event] = []
    busy = threading.Event()
    release = threading.Event()

    def occupy() -> None:
        busy.set()
        release.wait(2 * DEADLINE_S)  # past the test's deadline; let go when it ends

    with Cluster(ClusterOptions(nodes=3, record=False)) as cluster:
        cluster.recorder.listeners.append(events.append)
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 30s").ok
        host = cluster.host
        try:
            host.call_at(host.now(), occupy)
            assert busy.wait(DEADLINE_S)
            assert cluster.execute("crash 2").ok
            assert cluster.execute("restart 2").ok
            deadline = time.monotonic() + DEADLINE_S
            while not resent_and_delivered(events):
                assert time.monotonic() < deadline, "no re-sent message delivered"
                time.sleep(0.01)
        finally:
            release.set()


def resent_and_delivered(events: list[Event]) -> bool:
    resent = {e["msg"] for e in list(events) if e["kind"] == "send" and "resend" in e}
    return any(e["kind"] == "deliver" and e["msg"] in resent for e in list(events))
