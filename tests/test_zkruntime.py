"""`--runtime zookeeper`: the Cluster facade on three real ZooKeeper 3.8 servers.

Needs java and Debian's `zookeeper` package; skipped otherwise (with the reason). Few tests,
each one ensemble (tickTime 200 ms), every wait bounded; each checks that no JVM of its
directory is left afterwards, whatever way the run ended (close, Ctrl+C, SIGTERM, an
exception).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.widgets.ensemble import cells
from engine.control.cluster import Cluster, ClusterOptions
from engine.core.view import ClusterView
from engine.core.vote import ServerState
from engine.replay.explainfile import explain_trace
from engine.replay.fork import ForkError, fork
from engine.replay.livecheck import LiveCheck
from engine.replay.player import Replayer
from engine.runtime.zookeeper.runtime import ZooKeeperRuntime
from engine.trace.explain.outage import explanation_text
from engine.trace.format import read_trace
from tests.zkproxied import java_processes_in, skip_without_java

pytestmark = pytest.mark.zk

skip_without_java()

WITHIN_MS = 90_000.0
"""JVMs start slowly on a loaded machine: every wait on them is bounded by this."""
ZKFLE = [sys.executable, "-m", "console.cli"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    data = tmp_path / "servers"
    c = Cluster(
        ClusterOptions(
            nodes=3,
            runtime="zookeeper",
            tick_ms=200,
            data_dir=data,
            trace=tmp_path / "run.jsonl",
            seed=7,
            check=LiveCheck.of,
        )
    )
    try:
        assert c.start().ok
        assert c.wait_stable(WITHIN_MS), c.status_text()
        yield c
    finally:
        c.close()
    assert java_processes_in(data) == []


def ok(c: Cluster, command: str) -> str:
    result = c.execute(command)
    assert result.ok, f"{command}: {result.text}\n{c.status_text()}"
    return result.text


def test_crash_leader_write_pause_and_restart(cluster: Cluster) -> None:
    c = cluster
    first = c.view().leader
    assert first is not None
    # What a real server keeps inside lookForLeader, from the live check's model of it
    # (the shadow engine), marked as derived: a quorum backed the leader in some recvset.
    shadowed = [n for n in c.view().nodes if "recvset" in n.derived]
    assert shadowed, c.status_text()
    assert max(sum(v.leader == first for _, v in n.recvset) for n in shadowed) >= 2

    text = ok(c, "write 3")
    assert f"n{first} committed 3 transaction(s)" in text
    epoch = c.view().node(first).current_epoch
    assert epoch >= 1
    # The zxids are ZooKeeper's own: this epoch's, and every server reaches the last.
    last = int(text.rsplit("..", 1)[1], 16)
    assert last >> 32 == epoch
    assert c.wait_until(lambda v: all(n.last_zxid >= last for n in v.nodes), WITHIN_MS)

    ok(c, f"crash {first}")
    assert c.view().node(first).state is None
    assert c.wait_until(lambda v: v.stable and v.leader != first, WITHIN_MS), c.status_text()

    # The crashed server's ports at the proxy refuse, as a down server's do: its peers log
    # `Cannot open channel to N ... Connection refused` (not a connection that was accepted
    # and closed, nor a smaller sid dropping one to a dead peer).
    def refused() -> list[dict[str, Any]]:
        return [
            e
            for e in c.recorder.events_after(0)
            if e["kind"] == "zk"
            and e.get("what") == "conn_failed"
            and e.get("peer") == first
            and e.get("reason") == "refused"
        ]

    assert c.wait_until(lambda v: bool(refused()), WITHIN_MS), c.status_text()
    assert {e["node"] for e in refused()} <= set(c.sids) - {first}
    second = c.view().leader
    assert second is not None
    assert c.view().node(second).current_epoch > epoch  # a new epoch, from the data dir

    follower = next(s for s in c.sids if s not in (first, second))
    ok(c, f"pause {follower}")
    assert c.view().node(follower).paused
    assert c.execute(f"pause {follower}").ok is False  # only running nodes
    ok(c, f"resume {follower}")
    # SIGSTOP and SIGCONT are trace events of their own (trace 1.3)
    recorded = c.recorder.events_after(0)  # under its lock: the proxy's threads record on
    lives = [(e["kind"], e["node"]) for e in recorded if e["kind"] in ("pause", "resume")]
    assert lives == [("pause", follower), ("resume", follower)]

    ok(c, f"restart {first}")
    assert c.wait_until(
        lambda v: v.stable and all(n.alive for n in v.nodes) and v.leader == second, WITHIN_MS
    ), c.status_text()
    assert c.view().node(first).state == ServerState.FOLLOWING


def test_partition_a_minority_heal_and_refusals(cluster: Cluster) -> None:
    c = cluster
    leader = c.view().leader
    assert leader is not None
    minority = next(s for s in c.sids if s != leader)
    text = ok(c, f"isolate {minority}")
    assert text.startswith("f1: isolate")
    # The majority keeps serving; the isolated server loses its leader and looks.
    assert c.wait_until(
        lambda v: v.serving_leader == leader and v.node(minority).state == ServerState.LOOKING,
        WITHIN_MS,
    ), c.status_text()
    assert c.execute("faults").text.startswith("f1")
    ok(c, "heal")
    assert c.wait_until(lambda v: v.stable and v.leader == leader, WITHIN_MS), c.status_text()
    assert c.view().node(minority).state == ServerState.FOLLOWING
    dropped = [
        e for e in c.recorder.recent if e["kind"] == "drop" and e.get("reason") == "partition"
    ]
    assert dropped, "the proxy dropped what crossed the partition"

    # What a real server cannot do is refused in one line.
    result = c.execute("timeout all")
    assert not result.ok
    assert "cannot be fired from outside" in result.text
    assert "\n" not in result.text
    ok(c, f"crash {minority}")
    result = c.execute(f"set {minority} zxid=0x500000001")
    assert not result.ok
    assert "transaction log" in result.text
    # Epochs are files of the data dir: a stopped server's can be written.
    before = c.view().node(minority).current_epoch
    ok(c, f"set {minority} epoch={before + 5}")
    assert c.wait_until(lambda v: v.node(minority).accepted_epoch == before + 5, WITHIN_MS)


def test_queue_panels_show_what_the_proxy_holds_per_link(cluster: Cluster) -> None:
    """Issue 10: a real server's send queues are not visible; where the threads runtime
    shows them, a real run shows the notifications the proxy holds on each link, marked
    as the proxy's."""
    c = cluster
    view = c.view()
    assert all(n.send_queues == tuple((p, 0) for p in c.sids if p != n.sid) for n in view.nodes)
    assert all("send_queues" in n.proxied and "send_queues" not in n.unknown for n in view.nodes)
    late = max(s for s in c.sids if s != view.leader)
    ok(c, f"hold *->{late}")
    ok(c, f"crash {late}")
    ok(c, f"restart {late}")  # it looks; the others' answers to its votes are held

    def held(v: ClusterView) -> list[int]:
        return [dict(n.send_queues)[late] for n in v.nodes if n.sid != late]

    assert c.wait_until(lambda v: sum(held(v)) >= 2, WITHIN_MS), c.status_text()
    sender = next(n for n in c.view().nodes if n.sid != late and dict(n.send_queues)[late])
    assert cells(sender, [])["sendq"].plain == f"{late}:{dict(sender.send_queues)[late]}p"
    released = c.execute(f"release *->{late}")
    assert released.ok, released.text
    assert int(released.text.split()[1]) >= 2, released.text
    # The hold stays until healed: answers to the late node's next votes (and the
    # leader's Zab stream to it) would be held again, so only `heal` lets it join.
    ok(c, "heal")
    assert c.wait_until(lambda v: v.stable and sum(held(v)) == 0, WITHIN_MS), c.status_text()


def test_run_json_on_real_servers_and_check_of_its_trace(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    data = tmp_path / "servers"
    script = tmp_path / "failover.fle"
    script.write_text(
        "start\nwait until stable within 90s\nwrite 2\ncrash leader\nwait until stable within 90s\n"
    )
    command = [*ZKFLE, "run", "--runtime", "zookeeper", "--nodes", "3", "--tick", "200"]
    command += ["--data-dir", str(data), "--trace", str(trace), "--script", str(script)]
    done = subprocess.run(
        [*command, "--json"],
        capture_output=True,
        text=True,
        timeout=WITHIN_MS / 1000 * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result["stable"] is True
    assert result["leader"] in (1, 2, 3)
    assert result["quorum"] == {"up": 2, "needed": 2}
    assert sorted(n["alive"] for n in result["nodes"]) == [False, True, True]
    leader = result["nodes"][result["leader"] - 1]
    assert leader["state"] == "LEADING"
    assert leader["current_epoch"] >= 2  # the second leader's epoch, from its data dir
    m = result["messages"]
    assert m["sent"] == m["delivered"] + m["dropped"] + m["in_flight"]
    assert m["sent"] > 0
    assert java_processes_in(data) == []

    opened = read_trace(trace)
    header, events = opened.header, list(opened)
    assert header["runtime"] == "zookeeper"
    assert header["zookeeper"]["version"].startswith("3.")
    kinds = {e["kind"] for e in events}
    # The proxy's record, the servers' logs and zkfle's own commands, in one trace.
    assert {"send", "deliver", "zsend", "conn", "peer_state", "took", "cmd", "snapshot"} <= kinds
    took = [e for e in events if e["kind"] == "took"]
    assert took
    assert all(e["at"] and e["src"].startswith(f"n{e['node']}/zookeeper.log:") for e in took)

    # The replay shows it; a fork would need cores of ours, which never ran.
    replayer = Replayer(trace)
    try:
        # As the last command (the failover's `wait until stable`) answered.
        replayer.seek(max(e["seq"] for e in events if e["kind"] == "cmd"))
        view = replayer.state.view()
        assert view.leader == result["leader"]
        assert sorted(n.alive for n in view.nodes) == [False, True, True]
        with pytest.raises(ForkError, match="a real ZooKeeper trace has no cores"):
            fork(replayer)
    finally:
        replayer.close()

    # Both elections, as the servers logged them, agree with the model: as the run went
    # (the live check `run --json` reports) and on the recorded trace, event for event.
    report = zkfle_json("check", trace)
    assert report["disagreements"] == result["check"]["disagreements"] == []
    assert result["check"]["events"] == report["events"] - 1  # all but the footer

    # Explained with each log line at its own time: the first election and the failover,
    # each ended by its leader; the run's end (every JVM killed) is no outage.
    outages = zkfle_json("explain", trace)["outages"]
    assert len(outages) == 2, [o["verdict"] for o in outages]
    assert outages[-1]["leader"] == result["leader"]


def zkfle_json(command: str, trace: Path) -> dict[str, Any]:
    """`zkfle COMMAND --json TRACE`, which must exit 0; its JSON."""
    done = subprocess.run(
        [*ZKFLE, command, "--json", str(trace)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def wait_for_jvms(data: Path, count: int) -> None:
    """Until `count` JVMs of ours show in /proc (a loaded machine can lag behind the
    runtime's own view of its processes)."""
    deadline = time.monotonic() + WITHIN_MS / 1000
    while len(found := java_processes_in(data)) != count:
        assert time.monotonic() < deadline, f"JVMs of {data}: {found}, not {count}"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_no_java_is_left_after_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    data = tmp_path / "servers"
    script = tmp_path / "long.fle"
    script.write_text("start\nwait until stable within 90s\nmark up\nwait 5m\n")
    # A child inherits an ignored SIGINT (pytest started as a background job of a shell),
    # and Python then never turns it into KeyboardInterrupt: give it Python's own handler,
    # which exec turns into the default disposition.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [
                *ZKFLE,
                "run",
                "--runtime",
                "zookeeper",
                "--nodes",
                "3",
                "--data-dir",
                str(data),
                "--script",
                str(script),
                "--no-trace",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + WITHIN_MS / 1000
        for line in proc.stdout:  # the run prints each command once it is done
            if "mark up" in line or time.monotonic() > deadline:
                break
        wait_for_jvms(data, 3)
        proc.send_signal(sig)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left = java_processes_in(data)
        for pid in left:  # a failed run's JVMs must not outlive the test
            os.kill(pid, signal.SIGKILL)
    assert left == []


def test_no_java_is_left_after_an_exception(tmp_path: Path) -> None:
    data = tmp_path / "servers"
    options = ClusterOptions(nodes=3, runtime="zookeeper", data_dir=data, record=False)

    def fail_while_running() -> None:
        with Cluster(options) as c:
            assert c.start().ok
            assert c.wait_until(lambda v: all(n.alive for n in v.nodes), WITHIN_MS)
            wait_for_jvms(data, 3)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_while_running()
    assert java_processes_in(data) == []


def test_a_server_that_cannot_start_is_reported_while_the_others_elect(tmp_path: Path) -> None:
    data = tmp_path / "servers"
    options = ClusterOptions(nodes=3, runtime="zookeeper", tick_ms=200, data_dir=data)
    c = Cluster(replace(options, trace=tmp_path / "t.jsonl"))
    try:
        runtime = c.runtime
        assert isinstance(runtime, ZooKeeperRuntime)
        with socket.socket() as taken:  # n1's client port is in use
            taken.bind(("127.0.0.1", runtime.server(1).client_port))
            taken.listen()
            assert c.start().ok
            assert c.wait_until(lambda v: v.stable and not v.node(1).alive, WITHIN_MS), (
                c.status_text()
            )

            def exited() -> list[dict[str, object]]:
                return [
                    e
                    for e in list(c.recorder.recent)
                    if e["kind"] == "zk" and e.get("what") == "exited" and e.get("node") == 1
                ]

            assert c.wait_for(lambda: bool(exited()), WITHIN_MS)
            assert "Address already in use" in str(exited()[0]["tail"])
            assert c.view().node(1).last_event.startswith("exited with status")
            # A frame torn at a connection's end is ZooKeeper's own doing, not the proxy's:
            # SendWorker.send writes the length and the body as two unbuffered writes, and a
            # replaced connection's socket can close between them. Nothing else may appear.
            assert re.search(
                r"log line\(s\) kept verbatim; undecodable on the wire: (none|\d+ truncated)$",
                c.status_text(),
                re.M,
            ), c.status_text()
    finally:
        c.close()
    assert java_processes_in(data) == []


def test_explain_charges_a_wait_to_the_cut_that_dropped_it(tmp_path: Path) -> None:
    """Issue 16: the leader dies while every link is cut at the proxy; the survivors look
    and hear nothing until the heal. No log says why: the trace's fault does, and explain
    charges their wait up to the heal to it (peer-unreachable), the rest to the timeout."""
    data, trace = tmp_path / "servers", tmp_path / "cut.jsonl"
    options = ClusterOptions(nodes=3, runtime="zookeeper", tick_ms=200, data_dir=data)
    c = Cluster(replace(options, trace=trace))
    try:
        assert c.start().ok
        assert c.wait_stable(WITHIN_MS), c.status_text()
        old = c.view().leader
        ok(c, "partition 1 | 2 | 3")
        ok(c, f"crash {old}")
        assert c.wait_until(lambda v: len(v.looking) == 2, WITHIN_MS), c.status_text()
        c.advance(1500.0)  # the survivors' notification timeouts back off meanwhile
        ok(c, "heal")
        healed = c.recorder.seq
        assert c.wait_until(lambda v: v.stable and v.leader != old, WITHIN_MS), c.status_text()
        new = c.view().leader

        def logged_broadcast() -> bool:  # srvr may tell before the log lines are read
            done = {
                e.get("node")
                for e in list(c.recorder.recent)
                if e["kind"] == "peer_state" and e.get("zab") == "BROADCAST" and e["seq"] > healed
            }
            return done >= {n.sid for n in c.view().nodes if n.alive}

        assert c.wait_for(logged_broadcast, WITHIN_MS)
    finally:
        c.close()
    assert java_processes_in(data) == []
    x = explain_trace(trace).explanations[-1]
    assert (x.ended, x.leader) == (True, new), x.verdict
    assert "peer-unreachable" in x.causes, explanation_text(x, 1)
    cuts = [p for p in x.phases if p.phase == "fault"]
    assert cuts, explanation_text(x, 1)
    assert all(p.node != old and p.text.startswith("f1 partition") for p in cuts)
    (fault,) = [e for e in read_trace(trace) if e["kind"] == "fault"]
    (heal,) = [e for e in read_trace(trace) if e["kind"] == "heal"]
    assert all(fault["t_ms"] <= p.start < p.start + p.ms <= heal["t_ms"] + 1e-6 for p in cuts)
    assert sum(p.ms for p in x.phases) == pytest.approx(x.wall_ms, abs=1e-6)


TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def test_closing_right_after_srvr_shows_a_new_leader_keeps_the_last_log_lines(
    tmp_path: Path,
) -> None:
    """Issue 16: the watcher reads the logs every poll, and `srvr` can show a new leader
    before its last lines were read; a close right then stopped the watcher with them
    unread, so the trace could end without the leadership the console showed. The close
    reads every log one last time: the trace holds each log's last record, and explain
    ends the failover with the leader srvr named."""
    data, trace = tmp_path / "servers", tmp_path / "close.jsonl"
    options = ClusterOptions(nodes=3, runtime="zookeeper", tick_ms=200, data_dir=data)
    c = Cluster(replace(options, trace=trace))
    try:
        assert c.start().ok
        assert c.wait_stable(WITHIN_MS), c.status_text()
        old = c.view().leader
        ok(c, f"crash {old}")
        assert c.wait_until(lambda v: v.stable and v.leader != old, WITHIN_MS), c.status_text()
        new = c.view().leader
        runtime = c.runtime
        assert isinstance(runtime, ZooKeeperRuntime)
        logs = {sid: runtime.server(sid).log_path for sid in c.sids}
    finally:
        c.close()
    assert java_processes_in(data) == []
    sources = {e.get("src") for e in read_trace(trace)}
    for sid, log in logs.items():
        lines = log.read_text(errors="replace").splitlines()
        last = max(i for i, line in enumerate(lines, 1) if TIMESTAMPED.match(line))
        assert f"n{sid}/{log.name}:{last}" in sources, (sid, lines[last - 1])
    x = explain_trace(trace).explanations[-1]
    assert (x.ended, x.leader) == (True, new), explanation_text(x, 1)
