"""What an import read and wrote, for people (stderr) or as JSON."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.vote import Sid
from engine.replay.clockskew import Skew
from engine.replay.zkimport.sources import LogFile


@dataclass(slots=True)
class ServerStats:
    lines: int = 0
    events: int = 0
    unknown: int = 0
    """Records kept verbatim as `log` events."""
    continuation: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    id_from: set[str] = field(default_factory=set)

    def json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "events": self.events,
            "unknown": self.unknown,
            "continuation_lines": self.continuation,
            "kinds": dict(sorted(self.kinds.items())),
            "formats": [v for v, _ in self.formats.most_common()],
            "files": self.files,
            "id_from": sorted(self.id_from),
        }


@dataclass(slots=True)
class ImportSummary:
    """What an import read and wrote (printed on stderr, or as JSON with --json)."""

    trace: Path
    files: list[LogFile]
    servers: dict[Sid, ServerStats]
    skew: dict[Sid, Skew]
    events: int
    unplaced_no_time: int
    unplaced_no_server: int
    examples: list[str]
    notes: list[str]
    """One line per file that is not a log or could not be read to its end."""
    warnings: list[str]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def json(self) -> dict[str, Any]:
        return {
            "trace": str(self.trace),
            "lines": self.lines,
            "events": self.events,
            "unknown": sum(s.unknown for s in self.servers.values()),
            "unplaced": {
                "no_timestamp": self.unplaced_no_time,
                "no_server": self.unplaced_no_server,
                "examples": self.examples,
            },
            "files": [
                {
                    "path": f.shown,
                    "lines": f.lines,
                    "servers": sorted({s.sid for s in f.streams.values() if s.sid is not None}),
                }
                for f in self.files
            ],
            "servers": {str(s): st.json() for s, st in sorted(self.servers.items())},
            "skew": {str(s): k.json() for s, k in sorted(self.skew.items())},
            "notes": self.notes,
            "warnings": self.warnings,
        }

    def text(self) -> str:
        """The summary for people (stderr)."""
        out = [
            f"zkfle import: {len(self.files)} file(s), {self.lines} lines -> {self.trace}"
            f" ({self.events} events)"
        ]
        out += [f"  {note}" for note in self.notes]
        for sid, st in sorted(self.servers.items()):
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(st.kinds.items()) if k != "log")
            out.append(
                f"  n{sid}: {', '.join(st.files)} (id from {'; '.join(sorted(st.id_from))}):"
                f" {st.lines} lines, {st.events} events ({kinds or 'none recognised'}),"
                f" {st.unknown} other lines kept as log events"
            )
            if st.formats:
                variants = " / ".join(v for v, _ in st.formats.most_common())
                out.append(f"      notifications as ZooKeeper {variants} prints them")
        out.append("  " + _skew_text(self.skew))
        if self.unplaced_no_time or self.unplaced_no_server:
            out.append(
                f"  unplaced: {self.unplaced_no_time} line(s) without a timestamp,"
                f" {self.unplaced_no_server} without a server id"
                + (f" (first: {'; '.join(self.examples)})" if self.examples else "")
            )
        out += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(out)


def _skew_text(skew: dict[Sid, Skew]) -> str:
    pairs = sum(k.pairs for k in skew.values())
    if not pairs:
        return "clock skew: unknown (no vote was logged both sent and received)"
    parts = []
    for sid, k in sorted(skew.items()):
        if k.status == "reference":
            parts.append(f"n{sid} reference")
        elif k.status == "unknown":
            parts.append(f"n{sid} unknown")
        else:
            lo = "-inf" if k.lo_ms is None else f"{k.lo_ms:+.1f}"
            hi = "+inf" if k.hi_ms is None else f"{k.hi_ms:+.1f}"
            bad = "" if k.consistent else " (inconsistent pairs)"
            parts.append(f"n{sid} {k.offset_ms:+.1f} ms [{lo}, {hi}]{bad}")
    return f"clock skew from {pairs} send/receive pairs: " + "; ".join(parts)
