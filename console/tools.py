"""Provides `zkfle verify` and `zkfle export`: the trace tools of the command line.

`verify FILE` re-executes a trace on fresh cores (engine.replay.verify.verify) and checks its
invariants; the exit status is 0 when every recorded output matched and no invariant was
violated, 1 on a divergence or a violation, 2 when the file cannot be read or is invalid.
`export FILE --format mermaid|shiviz|text` writes a trace as a Mermaid sequence diagram,
a ShiViz log or one line per event (engine.replay.export).

console/cli.py adds them to its parser with `add_verify_parser` / `add_export_parser` and
calls `cmd_verify` / `cmd_export` with the parsed arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.replay.cores import ReplayError
from engine.replay.export import FORMATS, export_lines
from engine.replay.verify import VerifyResult, verify
from engine.trace.format import TraceError, read_trace
from engine.trace.invariants import INVARIANTS

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2

__all__ = ["add_export_parser", "add_verify_parser", "cmd_export", "cmd_verify"]


# --- verify ------------------------------------------------------------------------------------


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`zkfle verify FILE [--no-invariants] [--json]`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="re-execute a trace and check every recorded output and invariant",
        description=(
            "Re-execute a trace on fresh cores and compare every output with the recorded one."
            " Exit status: 0 identical (and no invariant violated), 1 divergence or violated"
            " invariant, 2 unreadable or invalid file."
        ),
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a trace (.jsonl)")
    p.add_argument(
        "--no-invariants", action="store_true", help="only re-execute; skip the invariant checks"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return p


def cmd_verify(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    path: Path = args.file
    try:
        result = verify(path, invariants=not args.no_invariants)
    except ReplayError as e:
        if getattr(args, "json", False):
            out.write(_json({"file": str(path), "status": "invalid", "error": str(e)}) + "\n")
        print(f"zkfle verify: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    status = EXIT_OK if result.ok else EXIT_FAILED
    if getattr(args, "json", False):
        out.write(_json(_result_json(result)) + "\n")
    else:
        out.write(_result_text(result) + "\n")
    return status


def _result_text(r: VerifyResult) -> str:
    lines: list[str] = []
    nodes = ",".join(f"n{s}" for s in r.nodes) or "no nodes"
    parent = f" (after {r.parent_events} events of its parent)" if r.parent_events else ""
    speed = f"{r.events_per_s:,.0f} events/s"
    if r.divergence is not None:
        lines.append(r.divergence.report())
        lines.append(
            f"re-executed {r.events} events ({r.steps} step(s)) up to the divergence{parent}"
        )
    else:
        lines.append(
            f"{r.path}: OK - {r.events} events re-executed{parent}, {r.steps} steps on"
            f" {len(r.nodes)} node(s) ({nodes}), every output identical;"
            f" {r.seconds:.2f} s, {speed}"
        )
    if r.divergence is None:
        if not r.invariants_checked:
            lines.append("invariants: not checked (--no-invariants)")
        elif not r.violations:
            lines.append(
                f"invariants: {len(INVARIANTS)} checked, none violated ({', '.join(INVARIANTS)})"
            )
        else:
            lines.append(f"invariants: {len(r.violations)} violation(s)")
            for v in r.violations:
                lines.append(f"  {r.path}:{v.seq + 1}: {v}")
    lines += [f"note: {n}" for n in r.notes]
    if r.torn_line is not None:
        lines.append(f"verified every event before the torn line {r.torn_line}")
    return "\n".join(lines)


def _result_json(r: VerifyResult) -> dict[str, Any]:
    d: dict[str, Any] = {
        "file": r.path,
        "status": "ok" if r.ok else "divergence" if r.divergence is not None else "violation",
        "events": r.events,
        "parent_events": r.parent_events,
        "steps": r.steps,
        "nodes": list(r.nodes),
        "seconds": round(r.seconds, 4),
        "events_per_s": round(r.events_per_s),
        "invariants_checked": r.invariants_checked,
        "violations": [
            {"invariant": v.invariant, "seq": v.seq, "node": v.node, "detail": v.detail}
            for v in r.violations
        ],
        "torn_line": r.torn_line,
        "complete": r.complete,
        "notes": r.notes,
    }
    if r.divergence is not None:
        dv = r.divergence
        d["divergence"] = {
            "seq": dv.seq,
            "line": dv.line,
            "node": dv.node,
            "t_ms": dv.t_ms,
            "input": dv.input,
            "expected": dv.expected,
            "actual": dv.actual,
            "differences": dv.differences,
        }
    return d


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


# --- export ------------------------------------------------------------------------------------


def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`zkfle export FILE --format mermaid|shiviz|text [--from SEQ] [--to SEQ] [-o OUT]`."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="write a trace as a Mermaid diagram, a ShiViz log or plain text",
        description=(
            "mermaid: a sequenceDiagram (use --from/--to for long runs); shiviz: a log for"
            " https://bestchai.bitbucket.io/shiviz/; text: one line per event."
        ),
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a trace (.jsonl)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text", help="default: text")
    p.add_argument("--from", dest="from_seq", type=int, default=1, metavar="SEQ")
    p.add_argument("--to", dest="to_seq", type=int, default=None, metavar="SEQ")
    p.add_argument("--output", "-o", type=Path, metavar="OUT", help="write here instead of stdout")
    return p


def cmd_export(args: argparse.Namespace) -> int:
    if args.from_seq < 1 or (args.to_seq is not None and args.to_seq < args.from_seq):
        print("zkfle export: --from must be at least 1 and --to at least --from", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        trace = read_trace(args.file)
    except TraceError as e:
        print(f"zkfle export: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    lines = export_lines(trace, args.format, from_seq=args.from_seq, to_seq=args.to_seq)
    output: Path | None = args.output
    try:
        if output is None:
            return _write(lines, sys.stdout)
        tmp = output.with_name(output.name + ".part")
        with open(tmp, "w", encoding="utf-8") as f:
            status = _write(lines, f)
        if status == EXIT_OK:
            os.replace(tmp, output)
        else:
            tmp.unlink(missing_ok=True)
        return status
    except OSError as e:
        print(f"zkfle export: cannot write {output}: {e.strerror or e}", file=sys.stderr)
        return EXIT_UNREADABLE


def _write(lines: Any, out: TextIO) -> int:
    try:
        for line in lines:
            out.write(line + "\n")
        out.flush()
    except TraceError as e:
        print(f"zkfle export: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    except BrokenPipeError:
        # The reader went away (`| head`): not an error; keep Python from complaining.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    return EXIT_OK
