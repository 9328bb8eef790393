"""`zkfle explain INPUT... [--config] [--myid] [--json]`: traces and logs, the JSON object,
the exit status (0 every outage ended with a leader, 1 the input ends without one, 2 it
cannot be read), and bad input: one line naming the file (and line), partial answers that
say what they lack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from console.cli import main
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.explainfile import LOG_LAG_MS, in_time_order

ZKLOGS = Path(__file__).resolve().parent / "data" / "zklogs"


def record(path: Path, *script: str) -> Path:
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=7, trace=path)) as c:
        for line in script:
            assert c.execute(line).ok, line
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["explain", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def failover(tmp_path: Path) -> Path:
    """A trace of a start and a leader crash, both ended by an established leader."""
    script = ("start", "wait until stable within 5s", "crash leader", "wait until stable within 5s")
    return record(tmp_path / "t.jsonl", *script)


def test_a_trace_whose_outages_all_ended(
    failover: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, str(failover))
    assert status == 0, err
    assert out.startswith("outage 1: ")
    assert "critical path:" in out
    assert "leader-lost-connection" in out


def test_json_is_one_object_with_every_outage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = record(tmp_path / "t.jsonl", "start", "wait until stable within 5s", "pause leader")
    status, out, _ = run(capsys, str(trace), "--json")
    assert status == 1  # the trace ends while the followers still wait for the paused leader
    data: dict[str, Any] = orjson.loads(out)
    assert out.count("\n") == 1
    assert data["runtime"] == "sim"
    assert data["ended_with_leader"] is False
    first, last = data["outages"]
    assert first["end"] is not None
    assert last["end"] is None
    for outage in data["outages"]:
        assert {
            "start",
            "end",
            "wall_ms",
            "trigger",
            "leader",
            "causes",
            "phases",
            "verdict",
        } <= set(outage)
        assert sum(p["ms"] for p in outage["phases"]) == pytest.approx(outage["wall_ms"], abs=0.01)
        for p in outage["phases"]:
            assert {"node", "phase", "start", "ms", "cause"} <= set(p)
    assert last["trigger"] == "n3 paused"


def test_logs_are_imported_on_the_fly(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, str(ZKLOGS / "3.8-failover"), "--json")
    assert status == 0, err
    data = orjson.loads(out)
    assert data["runtime"] == "imported"
    assert [o["leader"] for o in data["outages"]] == [3, 2]
    assert data["outages"][-1]["start_at"].startswith("2026-12-06T08:10:24.4")
    assert any("skipped 1 file(s) that are not ZooKeeper logs" in n for n in data["notes"])


def test_logs_with_a_config_and_a_myid(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ZKLOGS / "3.8-failover" / "zoo.cfg"
    status, out, err = run(capsys, str(ZKLOGS / "3.3.6"), "--config", str(cfg), "--myid", "2")
    assert status == 1, err  # the fragment ends before the leader established its epoch
    assert "n2 decided to follow n3" in out
    assert "inferred from the logs" not in out


def test_a_file_that_is_neither_log_nor_trace_gets_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, str(ZKLOGS / "not-a-log.txt"))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "not-a-log.txt: not a ZooKeeper log or zkfle trace" in err


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, str(tmp_path / "nope.log"))
    assert status == 2
    assert "nope.log: no such file or directory" in err


def test_a_damaged_trace_gives_a_partial_answer_and_names_the_line(
    failover: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = failover
    lines = trace.read_bytes().splitlines(keepends=True)
    broken = len(lines) - 5
    lines[broken] = b"{not json\n"
    trace.write_bytes(b"".join(lines))
    status, out, err = run(capsys, str(trace))
    assert status == 2
    assert out.startswith("outage 1: ")  # what came before the bad line is explained
    assert f"t.jsonl:{broken + 1}: bad JSON" in err
    assert f"error: {trace}:{broken + 1}: bad JSON" in out


def test_a_torn_trace_says_the_run_did_not_finish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = record(tmp_path / "t.jsonl", "start", "wait until stable within 5s")
    data = trace.read_bytes()
    trace.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 20])  # footer torn
    status, out, _ = run(capsys, str(trace))
    assert status == 0
    assert "note: line" in out
    assert "torn" in out


def test_one_trace_at_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = record(tmp_path / "t.jsonl", "start", "wait until stable within 5s")
    status, _, err = run(capsys, str(trace), str(ZKLOGS / "3.8-failover"))
    assert status == 2
    assert "explain one trace at a time, or server logs" in err


def test_help_causes_lists_the_catalogue() -> None:
    from engine.control.help import help_text

    text = help_text("causes")
    assert text.startswith("Causes zkfle explain names")
    assert "notification-backoff" in text
    assert "ZOOKEEPER-3756" in text
    assert "causes" in help_text()


def test_the_readme_session_runs_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, "Why did my election take 40 s?": both commands, and the output shown."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Why did my election take 40 s?", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.strip().partition("  #")[0].split()
        for line in section.splitlines()
        if line.startswith("    zkfle explain ") and "INPUT" not in line
    ]
    assert [c[:2] for c in commands] == [["zkfle", "explain"]] * 2
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    status, out, _ = run(capsys, *commands[0][2:])
    assert status == 0
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    assert shown.strip() in out
    status, out, _ = run(capsys, *commands[1][2:])
    assert status == 0
    assert orjson.loads(out)["ended_with_leader"] is True
    for line in section.splitlines():
        if line.startswith("| `"):
            cause = line.split("`")[1]
            assert f"  {cause}  " in main_help_causes()


def main_help_causes() -> str:
    from engine.control.help import help_text

    return help_text("causes")


def test_a_real_runs_events_are_explained_in_time_order_within_the_log_lag() -> None:
    """A real server's log line reaches a `--runtime zookeeper` trace after the frames and
    commands recorded meanwhile: explain takes the events by time within LOG_LAG_MS."""
    late = [
        {"seq": 1, "t_ms": 100.0, "kind": "cmd"},
        {"seq": 2, "t_ms": 150.0, "kind": "stop"},  # a crash, recorded at once
        {"seq": 3, "t_ms": 140.0, "kind": "peer_state"},  # the leader's line, read later
        {"seq": 4, "t_ms": 5000.0, "kind": "cmd"},
        {"seq": 5, "t_ms": 120.0, "kind": "peer_state"},  # later than the lag: as it came
        {"seq": 6, "t_ms": 5100.0, "kind": "cmd"},
    ]
    ordered = [e["seq"] for e in in_time_order(late, LOG_LAG_MS)]
    assert ordered == [1, 3, 2, 5, 4, 6]
