"""The trace file format (traces/README.md): writer, streaming reader, error reporting,
versioning rules and the JSON Schema.

`python -m tests.test_trace [N]` measures the write cost per event and the read speed on a
generated N-event file (default 1,000,000) and prints them; it asserts nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.trace.format import (
    FORMAT_NAME,
    TRACE_DIR_ENV,
    VERSION,
    RotatingTraceWriter,
    TraceError,
    TraceWriter,
    default_trace_path,
    iter_events,
    load_schema,
    make_header,
    read_trace,
    validate,
)

DATA = Path(__file__).parent / "data" / "traces"
README = Path(__file__).parent.parent / "traces" / "README.md"
CREATED = datetime(2026, 11, 26, 14, 0, 0, tzinfo=UTC)


def header(**changes: Any) -> dict[str, Any]:
    h = make_header(
        config="server.1=127.0.0.1:2888:3888:participant\nversion=0",
        servers=[{"sid": 1, "type": "participant", "weight": 1}],
        timing={
            "tick_time_ms": 200,
            "init_limit": 10,
            "sync_limit": 5,
            "finalize_wait_ms": 200,
            "min_notification_interval_ms": 200,
            "max_notification_interval_ms": 60000,
        },
        initial={"1": {"current_epoch": 0, "accepted_epoch": 0, "last_zxid": "0x0"}},
        runtime="sim",
        transport="memory",
        seed=7,
        label="test",
        created=CREATED,
    )
    h.update(changes)
    return h


def mark(seq: int, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "t_ms": float(seq), "kind": "mark", "label": f"m{seq}", **extra}


def write_lines(path: Path, lines: list[Any]) -> Path:
    """A file with these objects (or raw strings) as lines."""
    path.write_bytes(
        b"".join((x.encode() if isinstance(x, str) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def trace_error(path: Path) -> TraceError:
    with pytest.raises(TraceError) as info:
        list(read_trace(path))
    return info.value


# --- writer and reader ------------------------------------------------------------------------


def test_round_trip_keeps_header_and_events(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "run.jsonl"
    events = [
        mark(1),
        {"seq": 2, "t_ms": 2.5, "kind": "boot", "node": 1, "durable": {"current_epoch": 0}},
        {"seq": 3, "t_ms": 3.0, "kind": "cmd", "text": "crash 1", "ok": True, "result": "ok"},
    ]
    with TraceWriter(path, header()) as w:
        for e in events:
            w.write(e)
        w.close(w.footer_event(4.0))
    trace = read_trace(path)
    assert trace.header == header()
    assert trace.version == (1, 6)
    got = list(trace)
    assert got[:3] == events
    assert got[3] == {"seq": 4, "t_ms": 4.0, "kind": "footer", "events": 3, "end": "ok"}
    assert trace.complete
    assert trace.torn_line is None
    assert trace.notes == []
    assert list(iter_events(path)) == got
    assert path.read_bytes().count(b"\n") == 5  # one complete line per event


def test_writer_refuses_a_seq_gap_and_writes_after_close(tmp_path: Path) -> None:
    w = TraceWriter(tmp_path / "t.jsonl", header())
    w.write(mark(1))
    with pytest.raises(ValueError, match="expected 2"):
        w.write(mark(3))
    with pytest.raises(ValueError, match="footer"):
        w.close(mark(2))
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError, match="after close"):
        w.write(mark(2))
    with pytest.raises(ValueError, match="format"):
        TraceWriter(tmp_path / "u.jsonl", {"version": "1.0"})


def test_size_counts_the_lines_still_in_the_buffer(tmp_path: Path) -> None:
    """`size`, by which a rotating writer cuts parts, counts the header and every written
    line, whether it still waits in the buffer or reached the file."""
    path = tmp_path / "t.jsonl"
    w = TraceWriter(path, header(), max_delay_ms=60_000)
    head = path.stat().st_size
    assert w.size == head
    event = {"seq": 1, "t_ms": 1.0, "kind": "state", "node": 1, "state": "LOOKING"}
    w.write(event)
    assert path.stat().st_size == head  # not urgent: still buffered
    assert w.size == head + len(orjson.dumps(event)) + 1
    w.flush()
    assert w.size == path.stat().st_size
    w.close(w.footer_event(2.0))
    assert w.size == path.stat().st_size


def test_flush_makes_written_events_readable_before_close(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    w = TraceWriter(path, header(), max_delay_ms=60_000)
    for seq in range(1, 11):
        w.write(mark(seq))
    w.flush()
    trace = read_trace(path)
    assert [e["seq"] for e in trace] == list(range(1, 11))
    assert not trace.complete
    assert any("no footer" in note for note in trace.notes)
    w.close()


def test_write_through_mode_needs_no_flush(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    w = TraceWriter(path, header(), max_delay_ms=0)
    w.write(mark(1))
    assert [e["seq"] for e in read_trace(path)] == [1]
    w.close()


def test_a_simulated_run_s_trace_is_not_fsynced_a_live_one_s_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() fsyncs a durable writer only: a simulated run's trace is made again from
    its seed and commands, and an fsync waits on the disk for a fifth of a short simulated
    election."""
    from engine.control.cluster import Cluster, ClusterOptions

    synced: list[str] = []  # the files fsynced
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    TraceWriter(tmp_path / "durable.jsonl", header()).close()
    TraceWriter(tmp_path / "not.jsonl", header(), durable=False).close()
    for runtime in ("sim", "threaded"):
        options = ClusterOptions(nodes=3, runtime=runtime, trace=tmp_path / f"{runtime}.jsonl")
        with Cluster(options) as cluster:
            cluster.start()
    traces = [name for name in synced if name.endswith(".jsonl")]  # not the epoch files
    assert traces == ["durable.jsonl", "threaded.jsonl"]
    for runtime in ("sim", "threaded"):
        trace = read_trace(tmp_path / f"{runtime}.jsonl")
        assert list(trace), runtime
        assert trace.complete, runtime


KILLED_WRITER = """
import sys, time
from engine.trace.format import TraceWriter
from tests.test_trace import header, mark
w = TraceWriter(sys.argv[1], header(), max_delay_ms=60_000)
for seq in range(1, 51):
    w.write(mark(seq))
w.write({"seq": 51, "t_ms": 51.0, "kind": "cmd", "text": "crash 1", "ok": True})
print("ready", flush=True)
time.sleep(60)
"""


def test_a_simulated_run_s_trace_replaces_a_file_a_live_one_s_truncates_it(
    tmp_path: Path,
) -> None:
    """A writer that is not durable makes a new file where one was (closing a truncated and
    rewritten file makes ext4 write it back at once: CPU each short simulated run paid),
    so a reader of the old file still reads it whole. A durable writer truncates the file
    in place; both write through a symbolic link."""

    def rewrite(path: Path, label: str, durable: bool) -> None:
        w = TraceWriter(path, header(label=label), durable=durable)
        w.write(mark(1))
        w.close(w.footer_event(2.0))

    for durable in (False, True):
        path = tmp_path / f"durable-{durable}.jsonl"
        with TraceWriter(path, header(label="old")) as w:
            for seq in (1, 2, 3):
                w.write(mark(seq))
        with path.open("rb") as reader:
            rewrite(path, "new", durable)
            kept = reader.read()
        assert read_trace(path).header["label"] == "new"
        assert [e["seq"] for e in read_trace(path)] == [1, 2]
        if durable:
            assert kept == path.read_bytes()  # the same file, rewritten
        else:
            assert [orjson.loads(x)["seq"] for x in kept.splitlines()[1:]] == [1, 2, 3]
        link = tmp_path / f"link-{durable}.jsonl"
        link.symlink_to(path.name)
        rewrite(link, "linked", durable)
        assert link.is_symlink()
        assert read_trace(path).header["label"] == "linked"


def test_a_killed_writer_leaves_a_readable_file(tmp_path: Path) -> None:
    """SIGKILL after a command: the command and everything before it are in the file (a
    command is flushed at once even with a long max_delay_ms)."""
    path = tmp_path / "killed.jsonl"
    root = Path(__file__).parent.parent
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    trace = read_trace(path)
    events = list(trace)
    assert [e["seq"] for e in events] == list(range(1, 52))
    assert events[-1]["kind"] == "cmd"
    assert trace.torn_line is None
    assert not trace.complete


def test_default_trace_path_is_dated_and_unique(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 11, 26, 14, 0, 5)
    first = default_trace_path("run", now, tmp_path)
    assert first == tmp_path / "20261126-140005-run.jsonl"
    first.touch()
    assert default_trace_path("run", now, tmp_path).name == "20261126-140005-run-2.jsonl"
    assert default_trace_path("my run/../x", now, tmp_path).name == "20261126-140005-my-run-x.jsonl"
    monkeypatch.delenv(TRACE_DIR_ENV)
    assert default_trace_path("run", now).parent == Path("traces")
    monkeypatch.setenv(TRACE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert default_trace_path("run", now).parent == tmp_path / "elsewhere"


def test_header_records_utc_time_and_format() -> None:
    h = header()
    assert h["format"] == FORMAT_NAME
    assert h["version"] == VERSION
    assert h["created"] == "2026-11-26T14:00:00Z"
    assert h["parent"] is None


# --- damaged and foreign files ------------------------------------------------------------------


def test_torn_last_line_is_reported_and_lines_before_it_kept() -> None:
    trace = read_trace(DATA / "torn_last_line.jsonl")
    events = list(trace)
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert trace.torn_line is not None
    assert trace.torn_line.line == 6
    assert trace.torn_line.text.startswith('{"seq":5,')
    assert any("line 6 is torn" in note for note in trace.notes)


def test_torn_last_line_with_a_newline_is_still_torn(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", [header(), mark(1), '{"seq":2,"t_ms":2.0,"ki'])
    trace = read_trace(path)
    assert [e["seq"] for e in trace] == [1]
    assert trace.torn_line is not None
    assert trace.torn_line.line == 3


def test_bad_middle_line_is_named_by_line_number() -> None:
    err = trace_error(DATA / "bad_middle_line.jsonl")
    assert err.line == 4
    assert err.path.endswith("bad_middle_line.jsonl")
    assert "bad JSON" in err.message
    assert str(err).startswith(f"{err.path}:4: bad JSON")


def test_empty_middle_line_is_an_error(tmp_path: Path) -> None:
    err = trace_error(write_lines(tmp_path / "t.jsonl", [header(), mark(1), "", mark(2)]))
    assert (err.line, err.message) == (3, "empty line")


def test_a_different_major_version_is_refused(tmp_path: Path) -> None:
    err = trace_error(write_lines(tmp_path / "t.jsonl", [header(version="2.0"), mark(1)]))
    assert err.line == 1
    assert "2.0" in err.message
    assert "1.x" in err.message


def test_a_newer_minor_version_is_read_with_a_note(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "t.jsonl",
        [
            header(version="1.7", hologram={"new": True}),
            mark(1, colour="blue"),
            {"seq": 2, "t_ms": 2.0, "kind": "telepathy", "node": 1, "vibes": [1, 2]},
            mark(3),
        ],
    )
    trace = read_trace(path)
    assert trace.version == (1, 7)
    assert any("newer" in note for note in trace.notes)
    events = list(trace)
    assert [e["kind"] for e in events] == ["mark", "telepathy", "mark"]
    assert events[0]["colour"] == "blue"


def test_version_1_1_reads_a_1_0_file_without_a_note(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", [header(version="1.0"), mark(1), mark(2)])
    trace = read_trace(path)
    assert trace.version == (1, 0)
    assert [e["seq"] for e in trace] == [1, 2]
    assert not [n for n in trace.notes if "newer" in n]


def test_a_real_server_event_lacking_its_fields_is_named(tmp_path: Path) -> None:
    """1.1's kinds are checked like 1.0's: a `recv` needs the notification and my state."""
    bad = {"seq": 1, "t_ms": 0.0, "kind": "recv", "node": 1, "n": {"sid": 2}}
    err = trace_error(write_lines(tmp_path / "t.jsonl", [header(), bad]))
    assert (err.line, err.message) == (2, "seq 1: recv event lacks my_state")


def test_a_break_event_lacking_its_fields_is_named_and_a_whole_one_is_valid(
    tmp_path: Path,
) -> None:
    """1.2's `break` (where a breakpoint halted a live run) is checked like the others."""
    hit = {"seq": 1, "t_ms": 0.0, "kind": "break", "id": "b1", "text": "break on drop", "at": 0}
    good = write_lines(tmp_path / "good.jsonl", [header(), hit])
    assert [e["kind"] for e in read_trace(good)] == ["break"]
    assert validate(good) == []
    bad = {k: v for k, v in hit.items() if k != "at"}
    err = trace_error(write_lines(tmp_path / "bad.jsonl", [header(), bad]))
    assert (err.line, err.message) == (2, "seq 1: break event lacks at")


def test_a_seq_gap_is_reported(tmp_path: Path) -> None:
    err = trace_error(write_lines(tmp_path / "t.jsonl", [header(), mark(1), mark(3)]))
    assert err.line == 3
    assert "seq 3 where 2 was expected" in err.message


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"t_ms": 1.0, "kind": "mark", "label": "x"}, "without 'seq'"),
        ({"seq": "1", "t_ms": 1.0, "kind": "mark", "label": "x"}, "'seq' must be an integer"),
        ({"seq": True, "t_ms": 1.0, "kind": "mark", "label": "x"}, "'seq' must be an integer"),
        ({"seq": 1, "kind": "mark", "label": "x"}, "'t_ms' must be a number"),
        ({"seq": 1, "t_ms": 1.0, "label": "x"}, "'kind' must be a string"),
        (
            {"seq": 1, "t_ms": 1.0, "kind": "step", "node": 1, "input": {}},
            "step event lacks output",
        ),
        ({"seq": 1, "t_ms": 1.0, "kind": "fault", "id": "f1"}, "fault event lacks op, text"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_a_malformed_event_names_line_and_problem(
    tmp_path: Path, line: object, problem: str
) -> None:
    err = trace_error(write_lines(tmp_path / "t.jsonl", [header(), line, mark(2)]))
    assert err.line == 2
    assert problem in err.message


@pytest.mark.parametrize(
    ("first", "problem"),
    [
        (mark(1), "header is missing"),
        ({"format": "otel-trace", "version": "1.0"}, "not a zkfle trace"),
        (header(version="one"), 'version must be "MAJOR.MINOR"'),
        ({"format": FORMAT_NAME, "version": "1.0"}, "the header lacks runtime"),
        (header(cluster={"servers": []}), "cluster must have config and servers"),
        ('{"format": "zkfle-trace", "vers', "bad JSON in the header"),
    ],
)
def test_a_bad_header_is_refused_on_line_1(tmp_path: Path, first: object, problem: str) -> None:
    path = write_lines(tmp_path / "t.jsonl", [first, mark(1)])
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert info.value.line == 1
    assert problem in info.value.message


def test_an_empty_or_missing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(TraceError, match="empty file"):
        read_trace(tmp_path / "empty.jsonl")
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "absent.jsonl")


def test_footer_must_count_the_events_and_be_last(tmp_path: Path) -> None:
    footer = {"seq": 2, "t_ms": 2.0, "kind": "footer", "events": 7, "end": "ok"}
    err = trace_error(write_lines(tmp_path / "a.jsonl", [header(), mark(1), footer]))
    assert (err.line, err.message) == (3, "footer says 7 events, the file has 1")
    footer["events"] = 1
    err = trace_error(write_lines(tmp_path / "b.jsonl", [header(), mark(1), footer, mark(3)]))
    assert err.line == 4
    assert "after the footer" in err.message


# --- streaming ----------------------------------------------------------------------------------


def test_events_stream_lazily_and_stop_at_to_seq(tmp_path: Path) -> None:
    """A range stops reading at `to_seq`: a broken line after it is never even parsed."""
    lines: list[Any] = [header(), *[mark(s) for s in range(1, 10)], "not json", mark(11)]
    trace = read_trace(write_lines(tmp_path / "t.jsonl", lines))
    events = trace.events(3, 5)
    assert isinstance(events, types.GeneratorType)
    assert [e["seq"] for e in events] == [3, 4, 5]
    assert isinstance(iter(trace), types.GeneratorType)
    with pytest.raises(TraceError, match=":11: bad JSON"):
        list(trace)


def test_iterating_a_large_trace_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    step = {
        "kind": "step",
        "node": 3,
        "msg": "m1",
        "input": {"type": "poll"},
        "output": {"state": "LOOKING", "wait_ms": 200.0},
    }
    with TraceWriter(path, header()) as w:
        for seq in range(1, 20_001):
            w.write({"seq": seq, "t_ms": seq * 0.1, **step})
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_trace(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert size > 2_000_000
    assert peak < size / 10  # a few lines at a time, never the file


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    "name",
    [
        "failover3.jsonl",
        "at_most_one_leader.jsonl",
        "leader_quorum.jsonl",
        "logicalclock.jsonl",
        "proposal.jsonl",
        "leader_epoch.jsonl",
        "elected_within.jsonl",
    ],
)
def test_schema_accepts_the_fixture_traces(name: str) -> None:
    pytest.importorskip("jsonschema")
    assert validate(DATA / name) == []


def test_schema_accepts_every_example_line_in_the_readme() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(load_schema())
    examples = re.findall(r"^\{.*\}$", README.read_text(), flags=re.MULTILINE)
    assert len(examples) > 20
    for line in examples:
        errors = [e.message for e in validator.iter_errors(orjson.loads(line))]
        assert errors == [], line


def test_schema_accepts_unknown_fields_and_kinds() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(load_schema())
    assert validator.is_valid({"seq": 1, "t_ms": 0.0, "kind": "telepathy", "extra": [1]})
    assert validator.is_valid(mark(1, colour="blue"))
    assert validator.is_valid(header(hologram=True))


VOTE = {"leader": 3, "zxid": "0x0", "election_epoch": 1, "peer_epoch": 0}


@pytest.mark.parametrize(
    "line",
    [
        header(version="2.0"),
        header(runtime="quantum"),
        {**header(), "cluster": {"config": "x"}},
        {"seq": 0, "t_ms": 0.0, "kind": "mark", "label": "x"},
        {"seq": 1, "kind": "mark", "label": "x"},
        {"seq": 1, "t_ms": 0.0, "kind": "mark"},
        {"seq": 1, "t_ms": 0.0, "kind": "boot", "node": 1},
        {"seq": 1, "t_ms": 0.0, "kind": "stop", "node": 1, "reason": "boredom"},
        {
            "seq": 1,
            "t_ms": 0.0,
            "kind": "step",
            "node": 1,
            "input": {"type": "guess"},
            "output": {"state": "LOOKING"},
        },
        {
            "seq": 1,
            "t_ms": 0.0,
            "kind": "step",
            "node": 1,
            "input": {"type": "timeout"},
            "output": {"state": "LOOKING"},
        },
        {
            "seq": 1,
            "t_ms": 0.0,
            "kind": "step",
            "node": 1,
            "input": {"type": "poll"},
            "output": {"state": "LOOKING", "wait_ms": 0},
        },
        {"seq": 1, "t_ms": 0.0, "kind": "send", "node": 1, "msg": "x1", "to": 2},
        {"seq": 1, "t_ms": 0.0, "kind": "drop", "node": 1, "msg": "m1", "reason": "gremlins"},
        {
            "seq": 1,
            "t_ms": 0.0,
            "kind": "state",
            "node": 1,
            "state": "DANCING",
            "zab": "ELECTION",
            "logicalclock": 1,
            "proposal": {"leader": 3, "zxid": "0x0", "peer_epoch": 0},
            "vote": VOTE,
            "current_epoch": 0,
            "accepted_epoch": 0,
            "last_zxid": "0x0",
        },
        {
            "seq": 1,
            "t_ms": 0.0,
            "kind": "state",
            "node": 1,
            "state": "LOOKING",
            "zab": "ELECTION",
            "logicalclock": 1,
            "proposal": {"leader": 3, "zxid": "0", "peer_epoch": 0},
            "vote": VOTE,
            "current_epoch": 0,
            "accepted_epoch": 0,
            "last_zxid": "0x0",
        },
        {"seq": 1, "t_ms": 0.0, "kind": "fault", "id": "f1", "text": "isolate 1"},
        {"seq": 1, "t_ms": 0.0, "kind": "heal", "ids": "all"},
        {"seq": 1, "t_ms": 0.0, "kind": "conn", "node": 1, "peer": 2, "up": 1, "plane": "x"},
        {"seq": 1, "t_ms": 0.0, "kind": "snapshot", "nodes": [{"sid": 1}], "stable": True},
        {"seq": 1, "t_ms": 0.0, "kind": "footer", "events": 0, "end": "fine"},
    ],
)
def test_schema_rejects_bad_lines(line: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert not jsonschema.Draft202012Validator(load_schema()).is_valid(line)


def test_validate_reports_line_numbers(tmp_path: Path) -> None:
    pytest.importorskip("jsonschema")
    bad = {"seq": 2, "t_ms": 2.0, "kind": "stop", "node": 1, "reason": "boredom"}
    path = write_lines(tmp_path / "t.jsonl", [header(), mark(1), bad])
    problems = validate(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: reason: ")
    assert validate(tmp_path / "absent.jsonl")[0].endswith("cannot read: No such file or directory")


# --- measurement (not a test) -------------------------------------------------------------------


def measure(n: int, path: Path) -> None:
    """Write n realistic events (steps, sends, delivers) and read them back."""
    import resource

    step = {
        "kind": "step",
        "node": 3,
        "msg": "m12",
        "input": {
            "type": "receive",
            "n": {
                "sid": 2,
                "state": "LOOKING",
                "leader": 5,
                "zxid": "0x0",
                "election_epoch": 1,
                "peer_epoch": 0,
                "version": 2,
            },
        },
        "output": {
            "state": "LOOKING",
            "sends": [
                {
                    "to": [1, 2, 3, 4, 5],
                    "state": "LOOKING",
                    "leader": 5,
                    "zxid": "0x0",
                    "election_epoch": 1,
                    "peer_epoch": 0,
                }
            ],
            "wait_ms": 200.0,
        },
    }
    batch = 100_000
    written = 0.0
    w = TraceWriter(path, header())
    for start in range(1, n + 1, batch):
        events = []
        for seq in range(start, min(start + batch, n + 1)):
            if seq % 3 == 0:
                events.append({"seq": seq, "t_ms": seq * 0.01, **step})
            elif seq % 3 == 1:
                events.append(
                    {
                        "seq": seq,
                        "t_ms": seq * 0.01,
                        "kind": "send",
                        "node": 1,
                        "msg": "m1",
                        "to": 2,
                    }
                )
            else:
                events.append(
                    {
                        "seq": seq,
                        "t_ms": seq * 0.01,
                        "kind": "deliver",
                        "node": 2,
                        "msg": "m1",
                        "from": 1,
                    }
                )
        t0 = time.perf_counter()
        for e in events:
            w.write(e)
        written += time.perf_counter() - t0
    t0 = time.perf_counter()
    w.close(w.footer_event(n * 0.01))
    written += time.perf_counter() - t0
    size = os.path.getsize(path)
    print(f"write: {written / n * 1e6:.2f} µs/event ({n} events, {size / 1e6:.0f} MB)")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    count = sum(1 for _ in read_trace(path))
    took = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"read: {count / took / 1e3:.0f}k events/s ({count} events in {took:.2f} s); "
        f"max RSS {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after"
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, Path(tmp) / "m.jsonl")


@pytest.mark.parametrize(
    "first",
    [b"hello world\n", b"[1, 2]\n", b'{"a": 1}\n', bytes(range(256)), b"\x89PNG\r\n\x1a\n"],
    ids=["text", "json-array", "json-object", "binary", "png"],
)
def test_a_file_that_is_not_a_trace_is_called_so_not_torn(tmp_path: Path, first: bytes) -> None:
    """Issue 17: any non-JSON first line used to be reported as a torn header."""
    path = tmp_path / "other.jsonl"
    path.write_bytes(first)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(info.value) == f"{path}:1: not a zkfle trace: line 1 is not a trace header"


def test_a_rotating_writer_goes_on_in_parts_that_chain_like_forks(tmp_path: Path) -> None:
    line = len(orjson.dumps(mark(10))) + 1
    limit = len(orjson.dumps(header())) + 1 + 3 * line  # three events a part
    writer = RotatingTraceWriter(tmp_path / "run.jsonl", header(), max_bytes=limit)
    for seq in range(1, 11):
        writer.write(mark(seq))
    writer.close(writer.footer_event(11.0))
    names = ["run.jsonl", *(f"run.part{n}.jsonl" for n in range(2, writer.parts + 1))]
    assert writer.parts >= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert writer.path == tmp_path / names[-1]
    traces = [read_trace(tmp_path / name) for name in names]
    labels = []
    for i, trace in enumerate(traces):
        events = list(trace)
        labels += [e["label"] for e in events[:-1]]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert trace.footer is not None
        if i + 1 < len(traces):
            assert trace.footer["end"] == "rotated"
            assert trace.footer["next"] == names[i + 1]
            last = trace.footer["events"]
            assert traces[i + 1].header["parent"] == {"trace": names[i], "seq": last}
            assert (tmp_path / names[i]).stat().st_size < limit + line + 128  # and a footer
    assert traces[-1].footer is not None
    assert traces[-1].footer["end"] == "ok"
    assert traces[0].header["parent"] is None
    assert labels == [f"m{seq}" for seq in range(1, 11)]  # nothing lost, in order
