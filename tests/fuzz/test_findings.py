"""Every input the fuzzers found that broke a parser, kept with what it must do now.

* A trace header whose version has more digits than int() converts (4300) raised
  ValueError out of read_trace, so `zkfle verify`/`replay` crashed instead of saying what
  is wrong with the file. The version's numbers are now at most nine digits.
* ZooKeeper log lines with numbers no Java long holds: beyond 4300 digits int() raised
  ValueError out of the tolerant reader; beyond 64 bits the number reached the trace, and
  `zkfle import` crashed in orjson ("Integer exceeds 64-bit range"). Such numbers are
  not ZooKeeper's: the line is not recognised as its statement (and is kept as a `log`
  event), a `[myid:N]` tag that no server can have names no server.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.replay.zkimport.importer import import_logs
from engine.trace.format import TraceError, read_trace
from engine.trace.zklog import layout, statements

HEADER = b'{"format":"zkfle-trace","version":"1.' + b"6" * 4302 + b'"}\n'
LONG = "1" * 4302
HUGE = "9" * 26
LINE = "2026-12-06 08:10:22,220 [myid:{myid}] - INFO  [QuorumPeer[myid=1]:Foo@1] - {message}"


def test_a_trace_version_with_4302_digits_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(HEADER)
    with pytest.raises(TraceError, match=r'version must be "MAJOR.MINOR", got .{40}\.\.\.$'):
        read_trace(path)


@pytest.mark.parametrize(
    "message",
    [
        f"New election. My id = {LONG}, proposed zxid=0x0",
        f"New election. My id = 1, proposed zxid={LONG}",
        f"FOLLOWING - LEADER ELECTION TOOK - {HUGE} MS",
        f"Notification time out: {HUGE}",
    ],
    ids=["4302-digit-id", "4302-digit-zxid", "26-digit-took", "26-digit-timeout"],
)
def test_a_log_number_no_java_long_holds_is_not_zookeeper_s(message: str) -> None:
    record = layout.parse_line(LINE.format(myid=1, message=message))
    assert record is not None
    assert statements.recognise(record) is None


@pytest.mark.parametrize("myid", [LONG, HUGE], ids=["4302-digits", "26-digits"])
def test_a_myid_tag_no_server_can_have_names_no_server(myid: str) -> None:
    record = layout.parse_line(LINE.format(myid=myid, message="Starting quorum peer"))
    assert record is not None
    assert record.myid is None


def test_zkfle_import_keeps_a_line_with_a_26_digit_number_as_a_log_event(tmp_path: Path) -> None:
    logs = tmp_path / "zookeeper-1.log"
    lines = [
        LINE.format(myid=1, message="New election. My id = 1, proposed zxid=0x0"),
        LINE.format(myid=1, message=f"FOLLOWING - LEADER ELECTION TOOK - {HUGE} MS"),
    ]
    logs.write_text("\n".join(lines) + "\n")
    trace = tmp_path / "t.jsonl"
    import_logs([logs], trace)
    events = [orjson.loads(line) for line in trace.read_bytes().splitlines()[1:]]
    assert any(e["kind"] == "log" and HUGE in e["text"] for e in events)
    assert not any(e["kind"] == "took" for e in events)
