"""The example traces in traces/examples/: each one is schema-valid, replays exactly, keeps
its invariants, and exports to Mermaid, ShiViz and text (DESIGN §5: every example trace
in traces/ replays in the tests)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from console.tools import add_export_parser, add_verify_parser, cmd_export, cmd_verify
from engine.control import commands as c
from engine.replay.export import SHIVIZ_REGEX, export_lines
from engine.replay.verify import verify
from engine.trace.format import read_trace, validate

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "traces" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.jsonl"))
NAMES = [p.stem for p in EXAMPLES]
EXPECTED = {
    "fresh_election",
    "leader_failover",
    "minority_partition",
    "late_joiner",
    "lossy_links",
    "threaded_faults",
}

MERMAID_LINE = re.compile(
    r"^(sequenceDiagram"
    r"|    participant n\d+"
    r"|    n\d+(->>|-x)n\d+: \S.*"
    r"|    Note over n\d+(,n\d+)?: \S.*)$"
)
# ShiViz's default regex, in Python's spelling of named groups.
SHIVIZ_PAIR = re.compile(SHIVIZ_REGEX.replace("(?<", "(?P<"))
TEXT_LINE = re.compile(r"^(\d+) \d+\.\d{3} (n\d+|-) [a-z_]+( .*)?$")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zkfle")
    sub = p.add_subparsers(dest="command")
    add_verify_parser(sub)
    add_export_parser(sub)
    return p


def test_every_example_is_there() -> None:
    assert set(NAMES) >= EXPECTED
    for name in EXPECTED:
        script = EXAMPLES_DIR / f"{name}.fle"
        lines = c.parse_script(script.read_text(encoding="utf-8"), str(script))
        assert lines, f"{script} has no commands"


@pytest.mark.parametrize("path", EXAMPLES, ids=NAMES)
def test_example_is_valid_against_the_schema(path: Path) -> None:
    assert validate(path) == []
    assert path.stat().st_size < 1_000_000, "examples stay small"


@pytest.mark.parametrize("path", EXAMPLES, ids=NAMES)
def test_example_replays_exactly_and_keeps_its_invariants(path: Path) -> None:
    result = verify(path)
    assert result.divergence is None, result.divergence.report() if result.divergence else ""
    assert result.violations == []
    assert result.complete
    trace = read_trace(path)
    assert result.events == sum(1 for _ in trace)
    assert result.steps > 50
    assert result.nodes == (1, 2, 3, 4, 5)


@pytest.mark.parametrize("path", EXAMPLES, ids=NAMES)
def test_zkfle_verify_example_exits_0(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_verify(parser().parse_args(["verify", str(path)])) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    assert "none violated" in out


@pytest.mark.parametrize("path", EXAMPLES, ids=NAMES)
def test_example_exports_to_mermaid(path: Path) -> None:
    lines = list(export_lines(read_trace(path), "mermaid"))
    assert lines[0] == "sequenceDiagram"
    assert lines[1:6] == [f"    participant n{s}" for s in range(1, 6)]
    bad = [line for line in lines if not MERMAID_LINE.match(line)]
    assert bad == []
    arrows = [line for line in lines if "->>" in line]
    assert arrows, "every example has notifications between nodes"
    assert all(re.search(r"(LOOKING|FOLLOWING|LEADING) leader=\d+", a) for a in arrows)


@pytest.mark.parametrize("path", EXAMPLES, ids=NAMES)
def test_example_exports_to_shiviz(path: Path) -> None:
    lines = list(export_lines(read_trace(path), "shiviz"))
    assert lines[0] == SHIVIZ_REGEX
    assert lines[1] == ""
    body = lines[2:]
    assert len(body) % 2 == 0
    assert body
    hosts: set[str] = set()
    for i in range(0, len(body), 2):
        m = SHIVIZ_PAIR.fullmatch(body[i] + "\n" + body[i + 1])
        assert m is not None, body[i : i + 2]
        clock = json.loads(m["clock"])
        assert clock[m["host"]] >= 1
        hosts.add(m["host"])
    assert {f"n{s}" for s in range(1, 6)} <= hosts


@pytest.mark.parametrize("path", EXAMPLES, ids=NAMES)
def test_example_exports_to_text(path: Path) -> None:
    lines = list(export_lines(read_trace(path), "text"))
    seqs = []
    for line in lines:
        m = TEXT_LINE.match(line)
        assert m is not None, line
        seqs.append(int(m[1]))
    assert seqs == list(range(1, len(seqs) + 1))


def test_zkfle_export_writes_a_file_and_a_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = EXAMPLES_DIR / "leader_failover.jsonl"
    out = tmp_path / "failover.mmd"
    args = parser().parse_args(["export", str(path), "-f", "mermaid", "-o", str(out)])
    assert cmd_export(args) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("sequenceDiagram\n")
    assert "Note over n5: crash" in text
    args = parser().parse_args(["export", str(path), "--from", "10", "--to", "20"])
    assert cmd_export(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == list(range(10, 21))


def test_zkfle_export_refuses_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert cmd_export(parser().parse_args(["export", str(missing)])) == 2
    assert "nope.jsonl:0: cannot read" in capsys.readouterr().err
    args = parser().parse_args(["export", str(EXAMPLES_DIR / "late_joiner.jsonl"), "--from", "0"])
    assert cmd_export(args) == 2
