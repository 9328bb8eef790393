"""`zkfle explain`'s inputs: a trace of any runtime, or server logs imported on the fly.

`explain_inputs(paths)` decides which the inputs are (a file whose first line is a trace
header is a trace; anything else is logs, read by engine.replay.zkimport exactly as
`zkfle import` reads them, into a temporary trace), streams the trace through
engine.trace.explain.outage.Explainer and returns a report: the explanations, and notes on
what the input lacked. The analysis itself is engine.trace.explain's (pure); this module
only reads files.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.quorum.error import ConfigError
from engine.core.vote import Sid
from engine.replay.zkimport.importer import LogImportError, import_logs
from engine.trace.explain.outage import Explainer, Explanation, explanation_text
from engine.trace.format import TraceError, read_trace


class ExplainError(Exception):
    """Nothing could be explained: says why, naming the file (and line)."""


Sink = Callable[["ExplainReport", Explanation], None]
"""Takes each explanation as soon as its outage is explained (with the report so far)."""


@dataclass(slots=True)
class ExplainReport:
    inputs: list[str]
    runtime: str
    explanations: list[Explanation] = field(default_factory=list)
    """Every explanation (empty when they went to a sink instead)."""
    outages: int = 0
    ended_with_leader: bool = True
    """The last outage ended with a leader (the earlier ones always did)."""
    notes: list[str] = field(default_factory=list)
    """What the input lacked or how it was read (files skipped, lines unplaced, a torn
    or unfinished trace)."""
    error: str | None = None
    """A problem that stopped the reading part way (file and line): the answer is partial."""

    def take(self, x: Explanation, sink: Sink | None) -> None:
        self.outages += 1
        self.ended_with_leader = x.ended
        if sink is None:
            self.explanations.append(x)
        else:
            sink(self, x)

    def json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "runtime": self.runtime,
            "outages": [x.json() for x in self.explanations],
            **self.json_tail(),
        }

    def json_tail(self) -> dict[str, Any]:
        """The fields after `outages` (known once the input is read)."""
        return {
            "ended_with_leader": self.ended_with_leader,
            "notes": self.notes,
            "error": self.error,
        }

    def text(self) -> str:
        blocks = [explanation_text(x, i) for i, x in enumerate(self.explanations, 1)]
        return "\n\n".join([*blocks, self.text_tail()]).strip("\n")

    def text_tail(self) -> str:
        """What follows the explanations: no outage at all, the notes, the error."""
        lines = (
            [] if self.outages else ["no outage: the input shows no time without a serving leader"]
        )
        lines += [f"note: {n}" for n in self.notes]
        if self.error:
            lines.append(f"error: {self.error} (the answer stops there)")
        return "\n".join(lines)


def is_trace(path: Path) -> bool:
    """Whether a file begins with a trace header (else it is taken for a log)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"format"' in head


def explain_inputs(
    paths: Sequence[str | os.PathLike[str]],
    *,
    config: Path | None = None,
    myid: Sid | None = None,
    sink: Sink | None = None,
) -> ExplainReport:
    """Explain a trace, or logs (files or directories); with a `sink`, each explanation goes
    to it at once instead of into the report. Raises ExplainError when nothing can be read;
    a bad zoo.cfg raises engine.core.quorum.error.ConfigError."""
    given = [str(p) for p in paths]
    traces = [Path(p) for p in given if Path(p).is_file() and is_trace(Path(p))]
    if traces:
        if len(given) > 1:
            raise ExplainError(
                f"explain one trace at a time, or server logs (got {len(traces)} trace(s) among"
                f" {len(given)} inputs: {', '.join(str(t) for t in traces[:3])})"
            )
        return explain_trace(traces[0], sink=sink)
    with tempfile.TemporaryDirectory(prefix="zkfle-explain-") as tmp:
        trace = Path(tmp) / "imported.jsonl"
        try:
            summary = import_logs(
                given, trace, config=config, myid=myid, label="explain", log_lines=False
            )
        except LogImportError as e:
            raise ExplainError(_not_a_log(str(e))) from None
        report = explain_trace(trace, shown=given, notes=_import_notes(summary.json()), sink=sink)
    return report


def _not_a_log(text: str) -> str:
    """The importer's words for a file that is not a log, for explain (it takes traces too)."""
    return text.replace("not a ZooKeeper log", "not a ZooKeeper log or zkfle trace")


def _import_notes(summary: dict[str, Any]) -> list[str]:
    """What an import could not place, and files that were not logs, as notes."""
    notes = [_not_a_log(n) for n in summary["notes"]]
    unplaced = summary["unplaced"]
    if unplaced["no_timestamp"] or unplaced["no_server"]:
        notes.append(
            f"{unplaced['no_timestamp']} line(s) without a timestamp and {unplaced['no_server']}"
            " without a server id were left out"
            + (f" (first: {'; '.join(unplaced['examples'][:3])})" if unplaced["examples"] else "")
        )
    notes += [f"warning: {w}" for w in summary["warnings"]]
    return notes


def explain_trace(
    path: Path,
    shown: Sequence[str] | None = None,
    notes: Sequence[str] = (),
    sink: Sink | None = None,
) -> ExplainReport:
    """Every outage of one trace file (`shown`: the inputs it was imported from, whose
    `notes` come first)."""
    try:
        trace = read_trace(path)
    except TraceError as e:
        raise ExplainError(str(e)) from None
    header = trace.header
    report = ExplainReport(list(shown or [str(path)]), str(header.get("runtime", "?")))
    report.notes += notes
    try:
        explainer = Explainer(header, lambda x: report.take(x, sink))
    except ConfigError as e:
        raise ExplainError(f"{path}:1: the header's cluster config: {e}") from None
    events: Iterable[dict[str, Any]] = trace
    if header.get("runtime") == "zookeeper":
        events = in_time_order(trace, LOG_LAG_MS)
    try:
        for event in events:
            explainer.feed(event)
    except TraceError as e:
        report.error = str(e)
    explainer.finish()
    if shown is None:
        report.notes += trace.notes
    if header.get("runtime") == "imported":
        report.notes += _inferred(header)
    return report


LOG_LAG_MS = 2000.0
"""How late a real server's log line may be recorded in a `--runtime zookeeper` trace after
the proxy's frames and the commands, which are recorded as they happen (the runtime reads
the logs every 50 ms, and a busy JVM writes them later): within this window the events are
explained in time order, each log line at its own time (the server's clock)."""


def in_time_order(events: Iterable[dict[str, Any]], lag_ms: float) -> Iterator[dict[str, Any]]:
    """The events by `t_ms` (then seq), for events at most `lag_ms` out of order; memory
    holds one window of them."""
    window: list[tuple[float, int, dict[str, Any]]] = []
    for i, event in enumerate(events):
        t = float(event.get("t_ms", 0.0))
        heapq.heappush(window, (t, i, event))
        while window[0][0] < t - lag_ms:
            yield heapq.heappop(window)[2]
    while window:
        yield heapq.heappop(window)[2]


def _inferred(header: dict[str, Any]) -> list[str]:
    source = header.get("source") or {}
    notes = []
    if source.get("inferred_cluster"):
        notes.append(
            "the ensemble was inferred from the logs (no --config): servers that never logged"
            " and were never heard from are not counted"
        )
    assumed = source.get("assumed") or []
    if assumed:
        notes.append(f"assumed (no log line or --config gave them): {', '.join(assumed)}")
    return notes
