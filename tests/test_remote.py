"""A cluster in a child process (engine.control.remote, issue 13 item 4): it answers as the
cluster in one process does, closes its trace however the parent ends, and its end is a
message, never a crash or a hang."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.control.remote import RemoteCluster, RemoteError
from engine.core.quorum.error import ConfigError
from engine.replay.state import rebuild
from tests.test_live_breakpoints import eventually

SCRIPT = (
    "start",
    "wait until settled within 10s",
    "break when looking > 0",
    "crash leader",
    "wait until stable within 10s",  # stopped by b1
    "status",
    "frobnicate 3",
    "unbreak",
    "wait until stable within 10s",
    "mark done",
)


def gone(pid: int) -> bool:
    """No such process, or only its zombie (an orphan's reaper may be slow to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def last_event(trace: Path) -> dict[str, object]:
    last = trace.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    event: dict[str, object] = orjson.loads(last)
    return event


@pytest.fixture
def remote_threads() -> Iterator[None]:
    """Every thread a RemoteCluster started has ended by the end of the test."""
    yield
    left = [t.name for t in threading.enumerate() if t.name == "RemoteReader"]
    assert not left, left


def caught_up(remote: RemoteCluster, local: Cluster) -> bool:
    events = remote.events_after(0)
    return bool(events) and events[-1]["seq"] == local.recorder.seq


def test_a_remote_cluster_answers_as_one_in_process_does(remote_threads: None) -> None:
    options = ClusterOptions(nodes=5, runtime="sim", seed=3, record=False, shadow=rebuild)
    remote = RemoteCluster(options)
    try:
        with Cluster(options) as local:
            for line in SCRIPT:
                mine, theirs = local.execute(line), remote.execute(line)
                assert (theirs.ok, theirs.text, theirs.seq) == (mine.ok, mine.text, mine.seq)
                if line == "wait until stable within 10s" and local.stop_reason:
                    assert theirs.text.startswith("stable: stopped: b1: when looking > 0 at seq")
                    eventually(lambda: caught_up(remote, local), "the batch after the break")
                    assert remote.info == local.info
                    assert remote.info["stop_reason"] == local.stop_reason
                    assert remote.info["running"] is False
            eventually(lambda: caught_up(remote, local), "the last batch")
            # what the console reads: the same, as a trace file would carry the events
            assert remote.events_after(0) == orjson.loads(orjson.dumps(local.events_after(0)))
            assert remote.events_after(100) == [e for e in remote.events_after(0) if e["seq"] > 100]
            assert remote.view() == local.view()
            assert remote.timeline() == local.timeline()
            assert remote.info == local.info
            crash = next(e for e in local.timeline().elections if e.outage and e.started_seq > 1)
            assert remote.explain(crash) == local.explain(crash)
            with pytest.raises((pickle.PicklingError, AttributeError)):
                remote.call(lambda cluster: cluster.seed)  # runs there: not picklable
            assert remote.execute("status").text == local.execute("status").text
    finally:
        remote.close()
    assert gone(remote.pid)


def test_closing_ends_the_child_with_its_trace_complete(
    tmp_path: Path, remote_threads: None
) -> None:
    trace = tmp_path / "remote.jsonl"
    options = ClusterOptions(nodes=3, runtime="threaded", trace=trace, label="remote")
    remote = RemoteCluster(options)
    assert remote.start().ok
    assert remote.execute("wait until stable within 30s").ok
    assert remote.trace_path == str(trace)
    remote.close()
    remote.close()  # idempotent
    assert gone(remote.pid)
    footer = last_event(trace)
    assert (footer["kind"], footer["end"]) == ("footer", "ok")
    assert not remote.execute("status").ok  # closed: a message, not a hang


PARENT = """
import sys
from pathlib import Path
from engine.control.cluster import ClusterOptions
from engine.control.remote import RemoteCluster
options = ClusterOptions(nodes=3, runtime="threaded", trace=Path(sys.argv[1]), label="orphan")
cluster = RemoteCluster(options)
assert cluster.start().ok
print(cluster.pid, flush=True)
sys.stdin.read()
"""


def test_killing_the_parent_leaves_no_child_and_a_trace_with_a_footer(tmp_path: Path) -> None:
    trace = tmp_path / "orphan.jsonl"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(trace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait()
        eventually(lambda: gone(child), "the child ends once its parent has")
        footer = last_event(trace)
        assert (footer["kind"], footer["end"]) == ("footer", "aborted")
    finally:
        parent.kill()
        parent.wait()
        for pipe in (parent.stdin, parent.stdout):
            if pipe is not None:
                pipe.close()


def test_a_child_that_dies_is_a_message_and_not_a_crash(
    tmp_path: Path, remote_threads: None
) -> None:
    trace = tmp_path / "killed.jsonl"
    remote = RemoteCluster(ClusterOptions(nodes=3, runtime="sim", seed=1, trace=trace, pace=True))
    try:
        assert remote.start().ok
        assert remote.execute("wait until stable within 10s").ok
        eventually(lambda: bool(remote.timeline().elections), "the first election's batch")
        before = remote.view()
        os.kill(remote.pid, signal.SIGKILL)
        eventually(lambda: remote.info["stop_reason"] is not None, "the reader notices")
        reason = remote.info["stop_reason"]
        assert reason == f"the cluster's process ended (exit status -9); its trace: {trace}"
        assert remote.info["running"] is False
        assert remote.info["trace"] == str(trace)  # still said, so the console prints it
        assert remote.view().sids == before.sids  # the last view, still there to read
        result = remote.execute("status")
        assert (result.ok, result.text) == (False, reason)
        with pytest.raises(RemoteError, match="process ended"):
            remote.explain(remote.timeline().elections[0])
    finally:
        remote.close()


def test_a_cluster_that_cannot_be_built_says_why_as_in_one_process(tmp_path: Path) -> None:
    options = ClusterOptions(config=tmp_path / "missing.cfg", record=False)
    with pytest.raises(ConfigError) as local:
        Cluster(options)
    with pytest.raises(RemoteError) as remote:
        RemoteCluster(options)
    assert str(remote.value) == str(local.value)
