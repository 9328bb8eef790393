"""Deterministic replay, the product's promise (DESIGN §2.3, §3.5): the simulator gives the
same trace for the same seed and script (whatever PYTHONHASHSEED), every trace - threaded
ones included - re-executes exactly, and `zkfle verify` says precisely where and why when
it does not (exit 1), or why it cannot read a file (exit 2)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from console.tools import add_verify_parser, cmd_verify
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.cores import ReplayError
from engine.replay.verify import verify

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "traces" / "examples"
SUBPROCESS_TIMEOUT_S = 120
ZKFLE_RUN = (sys.executable, "-m", "console.cli", "run", "--sim", "--seed", "7")

SCRIPT = """\
# five nodes, a write, a crash, a partition, lossy links, a restart
start
wait until stable within 10s
write 3
crash leader
wait until stable within 10s
partition 1,2|3,4,5 for=1s
loss * 15%
wait 2s
heal
restart all
wait until settled within 30s
crash 1
restart 1
timeout 1
wait until settled within 10s
"""


def zkfle_verify(path: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser(prog="zkfle")
    add_verify_parser(parser.add_subparsers(dest="command"))
    return cmd_verify(parser.parse_args(["verify", str(path), *extra]))


def lines_without_created(path: Path) -> list[bytes]:
    """The trace's lines with the header's wall-clock `created` removed."""
    lines = path.read_bytes().splitlines()
    header = orjson.loads(lines[0])
    del header["created"]
    return [orjson.dumps(header), *lines[1:]]


def run_script(path: Path, seed: int = 7) -> None:
    with Cluster(ClusterOptions(runtime="sim", seed=seed, trace=path, label="det")) as cluster:
        for line in SCRIPT.splitlines():
            if line.strip() and not line.startswith("#"):
                cluster.execute(line)


def rewrite(path: Path, seq: int, change: object) -> None:
    """Apply `change(event)` to the event with this seq."""
    lines = path.read_bytes().splitlines(keepends=True)
    event = orjson.loads(lines[seq])
    assert event["seq"] == seq
    change(event)  # type: ignore[operator]
    lines[seq] = orjson.dumps(event) + b"\n"
    path.write_bytes(b"".join(lines))


def test_same_seed_and_script_give_identical_events(tmp_path: Path) -> None:
    a, b, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    run_script(a)
    run_script(b)
    run_script(other, seed=8)
    assert lines_without_created(a) == lines_without_created(b)
    assert len(lines_without_created(a)) > 500
    assert lines_without_created(a)[1:] != lines_without_created(other)[1:]
    assert verify(a).ok


def test_pythonhashseed_does_not_change_a_simulator_trace(tmp_path: Path) -> None:
    script = tmp_path / "s.fle"
    script.write_text(SCRIPT, encoding="utf-8")
    traces = []
    for hashseed in ("1", "2"):
        trace = tmp_path / f"hash{hashseed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "console.cli",
                "run",
                "--sim",
                "--seed",
                "7",
                "--script",
                str(script),
                "--trace",
                str(trace),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        traces.append(trace)
    a, b = (trace.read_bytes().splitlines() for trace in traces)
    assert len(a) > 500
    assert a[1:] == b[1:], "events differ byte for byte"
    assert lines_without_created(traces[0])[0] == lines_without_created(traces[1])[0]
    assert zkfle_verify(traces[0]) == 0


def test_threaded_run_with_faults_replays_exactly(tmp_path: Path) -> None:
    trace = tmp_path / "threaded.jsonl"
    options = ClusterOptions(runtime="threaded", seed=3, tick_ms=50, trace=trace)
    with Cluster(options) as cluster:
        for line in (
            "start",
            "wait until stable within 10s",
            "isolate leader",
            "wait until leaders == 1 and looking == 1 within 10s",
            "heal f1",
            "wait until settled within 20s",
            "pause 2",
            "partition 1,2|3,4,5 for=300ms",
            "resume 2",
            "wait until settled within 20s",
            "crash leader",
            "wait until stable within 10s",
            "restart all",
            "wait until settled within 20s",
        ):
            done = cluster.execute(line)
            assert done.ok, f"{line}: {done.text}"
    result = verify(trace)
    assert result.divergence is None, result.divergence.report() if result.divergence else ""
    assert result.violations == []
    assert result.steps > 100
    header = orjson.loads(trace.read_bytes().splitlines()[0])
    assert header["runtime"] == "threaded"
    assert zkfle_verify(trace) == 0


def test_an_altered_output_diverges_at_exactly_that_seq(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "altered.jsonl"
    trace.write_bytes((EXAMPLES / "leader_failover.jsonl").read_bytes())
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()[1:]]
    steps = [e for e in events if e["kind"] == "step" and "wait_ms" in e["output"]]
    target = steps[len(steps) // 2]

    def change(event: dict[str, object]) -> None:
        output = event["output"]
        assert isinstance(output, dict)
        output["wait_ms"] = float(output["wait_ms"]) + 1.0

    rewrite(trace, target["seq"], change)
    result = verify(trace)
    assert result.divergence is not None
    assert result.divergence.seq == target["seq"]
    assert result.divergence.node == target["node"]
    assert result.divergence.differences == [
        f"output.wait_ms: expected {target['output']['wait_ms'] + 1.0}, "
        f"actual {target['output']['wait_ms']}"
    ]
    assert zkfle_verify(trace) == 1
    out = capsys.readouterr().out
    assert f"DIVERGENCE at seq {target['seq']} on n{target['node']}" in out
    assert "expected:" in out
    assert "actual:" in out


def test_an_altered_send_diverges_and_names_the_field(tmp_path: Path) -> None:
    trace = tmp_path / "altered.jsonl"
    trace.write_bytes((EXAMPLES / "fresh_election.jsonl").read_bytes())
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()[1:]]
    target = next(e for e in events if e["kind"] == "step" and e["output"].get("sends"))

    def change(event: dict[str, object]) -> None:
        output = event["output"]
        assert isinstance(output, dict)
        output["sends"][0]["leader"] = 99

    rewrite(trace, target["seq"], change)
    result = verify(trace)
    assert result.divergence is not None
    assert result.divergence.seq == target["seq"]
    assert result.divergence.differences[0].startswith("output.sends[0].leader: expected 99")


def test_a_torn_line_is_reported_and_everything_before_it_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (EXAMPLES / "minority_partition.jsonl").read_bytes()
    lines = data.splitlines(keepends=True)
    cut = 300  # line 300 holds seq 299; keep half of it, as a killed writer would
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b"".join(lines[: cut - 1]) + lines[cut - 1][: len(lines[cut - 1]) // 2])
    result = verify(torn)
    assert result.torn_line == cut
    assert result.events == cut - 2
    assert result.ok
    assert not result.complete
    assert zkfle_verify(torn) == 0
    out = capsys.readouterr().out
    assert f"line {cut} is torn" in out
    assert f"{cut - 2} events re-executed" in out


def test_a_future_major_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (EXAMPLES / "late_joiner.jsonl").read_bytes().splitlines(keepends=True)
    header = orjson.loads(lines[0])
    header["version"] = "2.0"
    future = tmp_path / "future.jsonl"
    future.write_bytes(orjson.dumps(header) + b"\n" + b"".join(lines[1:]))
    with pytest.raises(ReplayError, match=r"version 2\.0 cannot be read"):
        verify(future)
    assert zkfle_verify(future) == 2
    assert f"{future}:1: trace format version 2.0" in capsys.readouterr().err


def test_unreadable_and_invalid_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert zkfle_verify(tmp_path / "missing.jsonl") == 2
    assert "cannot read" in capsys.readouterr().err
    lines = (EXAMPLES / "late_joiner.jsonl").read_bytes().splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"".join(lines[:10]) + b"{not json\n" + b"".join(lines[11:]))
    assert zkfle_verify(broken) == 2
    assert f"{broken}:11: bad JSON" in capsys.readouterr().err
    # A step for a node that never booted: the trace cannot be replayed.
    events = [orjson.loads(line) for line in lines[1:]]
    first_boot = next(e["seq"] for e in events if e["kind"] == "boot")
    orphan = tmp_path / "orphan.jsonl"
    orphan.write_bytes(b"".join(lines[:first_boot] + lines[first_boot + 1 :]))
    assert zkfle_verify(orphan) == 2
    assert "seq" in capsys.readouterr().err


def test_verify_json_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert zkfle_verify(EXAMPLES / "fresh_election.jsonl", "--json") == 0
    result = orjson.loads(capsys.readouterr().out)
    assert result["status"] == "ok"
    assert result["nodes"] == [1, 2, 3, 4, 5]
    assert result["events"] > 0
    assert result["steps"] > 0
    assert result["violations"] == []


def test_a_violated_invariant_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A hand-made trace in which two nodes establish epoch 1 (engine/invariants tests)."""
    path = ROOT / "tests" / "data" / "traces" / "at_most_one_leader.jsonl"
    assert zkfle_verify(path) == 1
    out = capsys.readouterr().out
    assert "AtMostOneLeaderPerEpoch violated at seq 8 on n2" in out


def test_the_timeout_command_replays(tmp_path: Path) -> None:
    """`timeout` fires a LOOKING node's notification timer early (outside the core's input
    boundary); replay recognises the early Timeout and re-executes it the same way."""
    trace = tmp_path / "timeout.jsonl"
    with Cluster(ClusterOptions(runtime="sim", seed=5, nodes=3, trace=trace)) as cluster:
        for line in ("start 1", "wait 50ms", "timeout 1", "wait 1s", "start 2,3"):
            assert cluster.execute(line).ok, line
        assert cluster.wait_stable(10_000)
    result = verify(trace)
    assert result.divergence is None, result.divergence.report() if result.divergence else ""
