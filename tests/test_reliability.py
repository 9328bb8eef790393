"""The reliability campaign at its small size, in the suite (RELIABILITY.md has the full
one: `python -m tools.campaign --full`). Each part checks what it checks at full size - no
timings: the TCP abuse part must see its elections complete, not complete fast."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from tools import campaign
from tools.reliability import Outcome, chaos, crash, fuzz, leaks, tcp_abuse, tcp_chaos
from tools.reliability.nodes import NodeCluster

REPO = Path(__file__).resolve().parent.parent
SMALL = campaign.SMALL


def test_kill_9_keeps_every_complete_line_and_every_epoch_file(tmp_path: Path) -> None:
    outcome = crash.run(SMALL.trace_kills, SMALL.epoch_kills, seed=3, work=tmp_path)
    assert outcome.ok, outcome.failures
    assert outcome.counts["epoch kills"] == SMALL.epoch_kills
    assert (
        outcome.counts.get("trace kills", 0) + outcome.counts.get("ended before the kill", 0)
        == SMALL.trace_kills
    )
    assert outcome.counts["traces verified"] >= 1


def test_elections_complete_under_tcp_abuse() -> None:
    outcome = tcp_abuse.run(SMALL.abuse_rounds, SMALL.abuse)
    assert outcome.ok, outcome.failures
    assert outcome.counts["garbage"] == SMALL.abuse.garbage
    assert outcome.counts["half-open"] > 0
    assert outcome.counts["slow-loris"] > 0
    assert "failover ratio" in outcome.counts  # both elections completed, attacked or not


def test_threaded_and_tcp_chaos_traces_verify() -> None:
    threaded = chaos.run(SMALL.threaded_chaos)
    assert threaded.ok, threaded.failures
    assert threaded.counts["threaded traces verified"] == SMALL.threaded_chaos
    tcp = tcp_chaos.run(SMALL.tcp_chaos)
    assert tcp.ok, tcp.failures
    assert tcp.counts["traces verified"] >= 3


def test_a_failed_tcp_chaos_run_keeps_its_traces_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Open item B of RELIABILITY.md (tcp5 198441886, no leader within 30 s under load)
    could not be looked into: a run's traces lived in a temporary directory. A failed
    run's are now copied into the campaign's --keep directory. Here the run fails on a
    liveness bound of 0 s, which no cluster meets."""
    monkeypatch.setattr(tcp_chaos, "LIVENESS_S", 0.0)
    outcome = tcp_chaos.run(1, steps=2, nodes=(3,), keep=tmp_path / "kept")
    assert any("liveness after the heal" in f for f in outcome.failures), outcome.failures
    (kept,) = (tmp_path / "kept").iterdir()
    assert kept.name.startswith("tcp3-")
    assert {p.name.split(".")[0] for p in kept.glob("n*.jsonl")} == {"n1", "n2", "n3"}
    assert [n for n in outcome.notes if str(kept) in n], outcome.notes


def test_a_node_slow_to_start_after_the_heal_is_not_an_election_missing_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Open item B of RELIABILITY.md (tcp5 198441886, no leader within 30 s of the heal):
    rerun at load 13 under `nice -n 19`, three of its five nodes printed nothing in 53 s -
    still importing zkfle, starved - and the bound, counted from the heal, blamed the
    election. It now counts from when every node has started. Here n3's first process is
    held stopped, as a starved one, for longer than the bound and the heal take."""
    stall_s = 20.0
    monkeypatch.setattr(tcp_chaos, "LIVENESS_S", 10.0)
    start = NodeCluster.start
    timers: list[threading.Timer] = []

    def starved(cluster: NodeCluster, sid: int) -> None:
        start(cluster, sid)
        if sid == 3 and cluster.lives[sid] == 1:
            popen = cluster.procs[sid].popen
            popen.send_signal(signal.SIGSTOP)
            timers.append(threading.Timer(stall_s, popen.send_signal, (signal.SIGCONT,)))
            timers[-1].start()

    monkeypatch.setattr(NodeCluster, "start", starved)
    try:
        outcome = tcp_chaos.run(1, steps=0, nodes=(3,))
    finally:
        for timer in timers:
            timer.join()
    assert timers, "n3 was never started"
    assert outcome.ok, outcome.failures
    assert outcome.counts["longest start-up after the heal (ms)"] >= 1000 * (stall_s - 10)
    assert outcome.counts["traces verified"] == 3


def test_the_mutation_fuzzer_runs_every_target() -> None:
    outcome = fuzz.run({}, SMALL.mutations)
    assert outcome.ok, outcome.failures
    assert {k for k in outcome.counts if k.endswith(" inputs")} == {
        f"mutation {name} inputs" for name in SMALL.mutations
    }


def test_the_leak_check_waits_for_threads_on_their_way_out_and_finds_those_that_stay() -> None:
    """A thread that ends soon after its cycle is no leak (a crashed node's last worker
    can still be ending when the cluster has settled); one per cycle that stays is."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def cycle(lasting_s: float | None) -> None:
        thread = threading.Thread(target=stop.wait, args=(lasting_s,))
        thread.start()
        threads.append(thread)

    try:
        ending, leaking = Outcome("ending"), Outcome("leaking")
        leaks.measure("ending", 3, 0, lambda _: cycle(0.3), ending, settle_s=5.0)
        assert ending.failed == 0, ending
        leaks.measure("leaking", 3, 0, lambda _: cycle(None), leaking, settle_s=0.5)
        assert leaking.failed == 1, leaking
        found = re.fullmatch(r"leaking: (\d+) threads before, (\d+) after", leaking.failures[0])
        assert found is not None, leaking.failures
        assert int(found[2]) - int(found[1]) == 3  # one a cycle
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def test_no_thread_or_file_leaks_across_node_and_console_cycles() -> None:
    """In a process of its own: the suite's other threads would blur the counts."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.campaign", "--small", "--only", "leaks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## no leak: ok" in proc.stdout


def test_the_campaign_names_an_unknown_part() -> None:
    with pytest.raises(SystemExit) as exit_info:
        campaign.main(["--small", "--only", "wire,nope"])
    assert exit_info.value.code == 2


def test_a_trace_cut_just_before_its_last_newline_keeps_its_last_event(tmp_path: Path) -> None:
    """The campaign's kill 13 cut copy: every byte of the last event there but its newline.
    That event is whole and read as one, not a torn line; a cut one byte earlier is torn."""
    trace = tmp_path / "run.jsonl"
    options = ClusterOptions(nodes=3, runtime="sim", seed=4, trace=trace)
    with Cluster(options) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until stable within 5s").ok
    raw = trace.read_bytes()
    assert raw.endswith(b"\n")
    whole, torn = tmp_path / "whole.jsonl", tmp_path / "torn.jsonl"
    whole.write_bytes(raw[:-1])
    torn.write_bytes(raw[:-2])
    outcome = Outcome("cut copies")
    crash.check_trace(whole, "without its last newline", outcome)
    crash.check_trace(torn, "cut inside its last event", outcome)
    assert outcome.ok, outcome.failures
    assert outcome.counts["traces verified"] == 2
    assert outcome.counts["torn tails reported"] == 1
