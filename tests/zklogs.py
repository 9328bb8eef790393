"""Helpers for the tests of imported ZooKeeper logs: the data, and importing it."""

from __future__ import annotations

import gzip
import re
from datetime import datetime, timedelta
from pathlib import Path

from engine.replay.zkimport.importer import import_logs
from engine.replay.zkimport.summary import ImportSummary
from engine.trace.format import Event, Trace, read_trace

DATA = Path(__file__).parent / "data" / "zklogs"
REAL = (
    "3.8-failover",
    "3.8-quorum-loss",
    "3.8-debug",
    "3.8-kill-late-follower",
    "3.8-partitioned-start",
    "3.8-sync-slow",
)
"""Real ZooKeeper 3.8 logs (see tests/data/zklogs/README.md)."""
FRAGMENTS = (
    "3.3.0-server1.log",
    "3.3.6",
    "3.4.1-all-servers.log",
    "3.4.5-server3.log",
    "3.4.14",
    "3.5.10",
    "3.6.4",
    "3.7.2",
    "3.9.3",
    "docker-compose.log",
    "kubernetes",
    "confluent-zookeeper.log",
    "pasted-issue.md",
)


def imported(
    tmp_path: Path, *paths: str | Path, **options: object
) -> tuple[ImportSummary, Trace, list[Event]]:
    """Import `paths` (relative ones under DATA) into a trace in tmp_path."""
    out = tmp_path / "imported.jsonl"
    summary = import_logs(
        [p if isinstance(p, Path) else DATA / p for p in paths],
        out,
        **options,  # type: ignore[arg-type]
    )
    trace = read_trace(out)
    return summary, trace, list(trace)


def of(events: list[Event], node: int, kind: str) -> list[Event]:
    return [e for e in events if e.get("node") == node and e["kind"] == kind]


def real_log(name: str, node: int) -> str:
    """A real capture's server log, decompressed."""
    with gzip.open(DATA / name / f"node{node}" / "zookeeper.log.gz", "rt") as f:
        return f.read()


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")


def shift_clock(text: str, ms: int) -> str:
    """A log whose server's clock was `ms` ahead."""

    def moved(m: re.Match[str]) -> str:
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S") + timedelta(
            milliseconds=int(m.group(2)) + ms
        )
        return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"

    return "\n".join(_STAMP.sub(moved, line) for line in text.splitlines()) + "\n"
