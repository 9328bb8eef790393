"""Long live sessions: `--trace-max-size` goes on in parts that replay and verify (issue 17:
31 nodes wrote about 1.2 GB an hour into one file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.player import Replayer
from engine.replay.state import replay_to
from engine.replay.verify import verify
from engine.trace.format import RotatingTraceWriter, read_trace
from tests.test_trace import header


def test_every_part_of_a_long_run_replays_and_verifies(tmp_path: Path) -> None:
    trace = tmp_path / "long.jsonl"
    options = ClusterOptions(nodes=5, runtime="sim", seed=3, trace=trace, trace_max_bytes=64 * 1024)
    with Cluster(options) as cluster:
        for line in ("start", "wait until settled within 10s", "write 3", "crash leader"):
            assert cluster.execute(line).ok, line
        assert cluster.execute("wait until settled within 10s").ok
        assert cluster.execute("wait 180s").ok
        live = cluster.view()
        last = cluster.trace_path
    assert last is not None
    parts = sorted(tmp_path.glob("long*.jsonl"))
    assert len(parts) > 33  # more than the 32 generations forks were once limited to
    assert all(p.stat().st_size < 80 * 1024 for p in parts)
    result = verify(last)
    assert result.ok, result.divergence.report() if result.divergence else result.violations
    assert result.parent_events > 0
    replayed = replay_to(last).view()
    assert [(n.sid, n.alive, n.state, n.logicalclock, n.last_zxid) for n in replayed.nodes] == [
        (n.sid, n.alive, n.state, n.logicalclock, n.last_zxid) for n in live.nodes
    ]
    assert replayed.messages == live.messages
    with Replayer(parts[len(parts) // 2]) as middle:
        assert middle.view().seq == 0  # a part opens where the one before it ended
        middle.seek(middle.total)
        assert middle.view().stable


def test_trace_max_size_on_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "s.fle"
    script.write_text("start\nwait until settled within 10s\nwait 20s\n")
    trace = tmp_path / "cli.jsonl"
    argv = ["run", "--sim", "--seed", "2", "--trace", str(trace), "--script", str(script)]
    assert main([*argv, "--trace-max-size", "100KB"]) == 0
    out = capsys.readouterr().out
    parts = sorted(tmp_path.glob("cli*.jsonl"))
    assert len(parts) > 2
    last = tmp_path / f"cli.part{len(parts)}.jsonl"
    assert f"trace: {last}" in out
    assert main(["verify", str(last)]) == 0
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--trace-max-size", "12"])
    assert exited.value.code == 2
    assert "--trace-max-size: at least 64KiB, got '12'" in capsys.readouterr().err


def _event(seq: int, kind: str = "mark", **fields: object) -> dict[str, object]:
    return {"seq": seq, "t_ms": float(seq), "kind": kind, **fields}


def test_a_break_stays_in_its_hit_s_part_and_counts_at_there(tmp_path: Path) -> None:
    trace = tmp_path / "b.jsonl"
    writer = RotatingTraceWriter(trace, header(), max_bytes=1)  # each part holds one event
    writer.write(_event(1, label="a"))
    writer.write(_event(2, label="b"))
    writer.write(_event(3, "break", id="b1", text="break on mark", at=2))
    writer.write(_event(4, "invariant", name="Safety", ok=False, detail="d", at=4))
    writer.write(_event(5, label="c"))
    writer.close()
    events = list(read_trace(tmp_path / "b.part3.jsonl").events())
    assert [(e["seq"], e["kind"], e.get("at")) for e in events] == [
        (1, "mark", None),
        (2, "break", 1),
        (3, "invariant", 3),
        (4, "footer", None),
    ]


def test_a_live_break_in_a_later_part_marks_its_hit_in_that_part(tmp_path: Path) -> None:
    trace = tmp_path / "hit.jsonl"
    options = ClusterOptions(nodes=5, runtime="sim", seed=3, trace=trace, trace_max_bytes=64 * 1024)
    with Cluster(options) as cluster:
        for line in ("start", "wait until settled within 10s", "wait 20s"):
            assert cluster.execute(line).ok, line
        assert cluster.execute("break on state state=LOOKING").ok
        assert cluster.execute("crash leader").ok
        assert "stopped: b1" in cluster.execute("wait 10s").text
    (part,) = [p for p in tmp_path.glob("hit*.jsonl") if '"kind":"break"' in p.read_text()]
    assert part != trace
    events = list(read_trace(part).events())
    (brk,) = [e for e in events if e["kind"] == "break"]
    hit = events[brk["at"] - 1]
    assert (hit["seq"], hit["kind"], hit["state"]) == (brk["at"], "state", "LOOKING")
    with Replayer(part) as replay:
        assert [m.seq for m in replay.index.marks] == [brk["at"]]
