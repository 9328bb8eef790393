"""Trace exports (engine/replay/export.py): Mermaid sequence diagrams, ShiViz logs and plain text,
on a trace of real QuorumPeer cores electing, failing over and re-joining."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.replay.export import SHIVIZ_REGEX, describe, export, export_lines
from engine.trace.format import read_trace

DATA = Path(__file__).parent / "data" / "traces"
FAILOVER = DATA / "failover3.jsonl"

# ShiViz's default parser in Python's spelling of named groups.
SHIVIZ = re.compile(SHIVIZ_REGEX.replace("(?<", "(?P<"))
ARROW = re.compile(r"^\s*n(\d+)->>n(\d+): ")


def lines(fmt: str, **kw: Any) -> list[str]:
    return list(export_lines(read_trace(FAILOVER), fmt, **kw))


def receive_steps(from_seq: int = 1, to_seq: int | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in read_trace(FAILOVER).events(from_seq, to_seq)
        if e["kind"] == "step"
        and e["input"]["type"] == "receive"
        and e["input"]["n"]["sid"] != e["node"]
    ]


# --- text ---------------------------------------------------------------------------------------


def test_text_is_one_greppable_line_per_event() -> None:
    out = lines("text")
    events = list(read_trace(FAILOVER))
    assert len(out) == len(events)
    for line, event in zip(out, events, strict=True):
        assert re.match(r"^\d+ \d+\.\d{3} (n\d+|-) [a-z]+ \S", line), line
        assert line.startswith(f"{event['seq']} ")
        assert "\n" not in line
    assert "281 700.000 n3 stop crash" in out


def test_text_describes_steps_with_input_and_output() -> None:
    out = lines("text", from_seq=77, to_seq=77)
    assert out == [
        "77 204.000 n2 step timeout have_delivered=true -> FOLLOWING "
        "decided leader=3 zxid=0x0 round=1 epoch=0 connect n3"
    ]


def test_text_falls_back_to_raw_fields_for_unknown_kinds() -> None:
    event = {"seq": 1, "t_ms": 0.0, "kind": "telepathy", "node": 1, "vibes": [1, 2]}
    assert describe(event) == '{"vibes":[1,2]}'
    odd = {"seq": 1, "t_ms": 0.0, "kind": "send", "node": 1}  # no msg: still one line
    assert describe(odd) == "{}"


# --- mermaid ------------------------------------------------------------------------------------


def test_mermaid_is_a_sequence_diagram_with_one_arrow_per_received_notification() -> None:
    out = lines("mermaid")
    assert out[0] == "sequenceDiagram"
    assert out[1:4] == ["    participant n1", "    participant n2", "    participant n3"]
    arrows = [line for line in out if "->>" in line]
    for line in arrows:
        assert ARROW.match(line), line
    expected = [
        f"    n{e['input']['n']['sid']}->>n{e['node']}: "
        f"{e['input']['n']['state']} leader={e['input']['n']['leader']} "
        f"zxid={e['input']['n']['zxid']} round={e['input']['n']['election_epoch']} "
        f"epoch={e['input']['n']['peer_epoch']}"
        for e in receive_steps()
    ]
    assert arrows == expected
    assert "    n1->>n3: LOOKING leader=1 zxid=0x0 round=1 epoch=0" in arrows


def test_mermaid_notes_decisions_failures_and_commands() -> None:
    out = lines("mermaid")
    assert "    Note over n3: LEADING (round 1)" in out
    assert "    Note over n3: leader, epoch 1 established" in out
    assert "    Note over n2: LEADING (round 2)" in out
    assert "    Note over n3: crash" in out
    assert "    Note over n1,n3: cmd 'crash 3' ok" in out
    assert "    Note over n1,n3: mark 'n3 is back'" in out
    drops = [line for line in out if "-x" in line]
    assert drops
    assert all(re.match(r"^    n\d+-xn\d+: m\d+ n\d+-#62;n\d+ crash$", d) for d in drops), drops


def test_mermaid_range_keeps_lanes_and_knows_the_state_before_it() -> None:
    out = lines("mermaid", from_seq=280, to_seq=400)
    assert out[:4] == ["sequenceDiagram", *[f"    participant n{s}" for s in (1, 2, 3)]]
    arrows = [line for line in out if "->>" in line]
    assert len(arrows) == len(receive_steps(280, 400))
    # n1 was FOLLOWING before seq 280, so going LOOKING inside the range is a change.
    assert "    Note over n1: LOOKING (round 1)" in out
    assert "    Note over n3: LEADING (round 1)" not in out


def test_mermaid_text_cannot_break_the_diagram(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    head = FAILOVER.read_text().splitlines()[0]
    cmd = {"seq": 1, "t_ms": 0.0, "kind": "cmd", "text": "mark a;b #1 <x>", "ok": True}
    path.write_text(head + "\n" + orjson.dumps(cmd).decode() + "\n")
    out = list(export_lines(read_trace(path), "mermaid"))
    assert out[-1] == "    Note over n1,n3: cmd 'mark a#59;b #35;1 #60;x#62;' ok"


# --- shiviz -------------------------------------------------------------------------------------


def shiviz_blocks(out: list[str]) -> list[tuple[str, str, dict[str, int]]]:
    """Parse as ShiViz does: the default regex over the log, then each clock as JSON."""
    assert out[0] == SHIVIZ_REGEX
    assert out[1] == ""
    text = "\n".join(out[2:])
    blocks = []
    for m in SHIVIZ.finditer(text):
        clock = orjson.loads(m["clock"])
        blocks.append((m["event"], m["host"], clock))
    assert len(blocks) * 2 == len(out) - 2  # every pair of lines is one event
    return blocks


def check_shiviz_clocks(blocks: list[tuple[str, str, dict[str, int]]]) -> None:
    """ShiViz's ModelGraph rules: a host's own clock counts 1, 2, 3, ...; every entry names
    a host of the log and an event it has; components never go back on one host."""
    counts: dict[str, int] = {}
    for _, host, _ in blocks:
        counts[host] = counts.get(host, 0) + 1
    own: dict[str, int] = {}
    last: dict[str, dict[str, int]] = {}
    for event, host, clock in blocks:
        assert host in clock, event
        own[host] = own.get(host, 0) + 1
        assert clock[host] == own[host], event
        for other, tick in clock.items():
            assert other in counts, event
            assert 1 <= tick <= counts[other], event
            assert tick >= last.get(host, {}).get(other, 0), event
        last[host] = clock


def test_shiviz_log_matches_the_default_parser_with_valid_clocks() -> None:
    blocks = shiviz_blocks(lines("shiviz"))
    check_shiviz_clocks(blocks)
    hosts = {host for _, host, _ in blocks}
    assert hosts == {"n1", "n2", "n3", "console"}
    kinds = [event.split()[2] for event, _, _ in blocks]
    assert "snapshot" not in kinds
    assert "footer" not in kinds


def test_shiviz_clocks_carry_each_message_from_send_to_deliver() -> None:
    blocks = shiviz_blocks(lines("shiviz"))
    sent: dict[str, dict[str, int]] = {}
    checked = 0
    for event, _, clock in blocks:
        words = event.split()
        if words[2] in ("send", "zsend"):
            sent[words[3]] = clock
        elif words[2] in ("deliver", "zdeliver") and words[3] in sent:
            before = sent[words[3]]
            assert all(clock.get(h, 0) >= t for h, t in before.items()), event
            checked += 1
    assert checked > 100


def test_shiviz_range_restarts_clocks_inside_it() -> None:
    blocks = shiviz_blocks(lines("shiviz", from_seq=280, to_seq=400))
    check_shiviz_clocks(blocks)
    assert blocks[0][0].startswith("280 700.000 cmd ")
    assert blocks[0][2] == {"console": 1}


# --- api ------------------------------------------------------------------------------------------


def test_export_writes_to_a_stream_and_counts_lines() -> None:
    out = io.StringIO()
    n = export(FAILOVER, "text", out, to_seq=10)
    assert n == 10
    assert out.getvalue().count("\n") == 10


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="mermaid, shiviz, text"):
        export_lines(read_trace(FAILOVER), "svg")
