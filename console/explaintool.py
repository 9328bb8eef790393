"""Provides `zkfle explain INPUT... [--config zoo.cfg] [--myid N] [--json]`: why each outage
(a time without a serving leader) lasted as long as it did (engine.trace.explain).

INPUT is a trace of any runtime, or ZooKeeper server logs (files or directories, read as
`zkfle import` reads them). Human output: per outage the verdict, the critical path (phases
with node, start, duration and cause) and the causes; `--json`: one object whose `outages`
list holds them. Exit status: 0 every outage ended with a leader, 1 the input ends without
one, 2 the input cannot be read (a partial answer is still printed when part of it could).

console/cli.py adds it with `add_explain_parser` and calls `cmd_explain`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from console.zktools import add_log_options
from engine.core.quorum.error import ConfigError
from engine.replay.explainfile import ExplainError, ExplainReport, explain_inputs
from engine.trace.explain.outage import Explanation, explanation_text

EXIT_OK, EXIT_NO_LEADER, EXIT_UNREADABLE = 0, 1, 2


def add_explain_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explain",
        help="why was there no leader for so long: each outage's critical path and causes",
        description=(
            "Explain every outage (a time without a serving leader) of a trace or of ZooKeeper"
            " server logs: its critical path, phase by phase, adding up to its wall time, and"
            " the named causes (help causes lists them). Exit status: 0 every outage ended"
            " with a leader, 1 the input ends without one, 2 the input cannot be read."
        ),
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="a trace (.jsonl), or log files/directories"
    )
    add_log_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_explain(args: argparse.Namespace) -> int:
    out = _Printer(args.json)
    try:
        report = explain_inputs(args.inputs, config=args.config, myid=args.myid, sink=out)
    except (ExplainError, ConfigError) as e:
        if args.json:
            data = {"inputs": [str(p) for p in args.inputs], "error": str(e), "outages": []}
            out.write(orjson.dumps(data).decode() + "\n")
        print(f"zkfle explain: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    out.finish(report)
    if report.error is not None:
        print(f"zkfle explain: {report.error}", file=sys.stderr)
        return EXIT_UNREADABLE
    return EXIT_OK if report.ended_with_leader else EXIT_NO_LEADER


class _Printer:
    """Prints each outage as soon as it is explained (a long input's answer starts at once
    and is never held in memory whole); with --json, as one object written piece by piece."""

    def __init__(self, json: bool) -> None:
        self.json = json
        self.count = 0
        self.closed = False

    def write(self, text: str) -> None:
        if self.closed:
            return
        try:
            sys.stdout.write(text)
        except BrokenPipeError:  # `zkfle explain ... | head`: the reader has what it wanted
            self.closed = True
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python's documented idiom

    def __call__(self, report: ExplainReport, x: Explanation) -> None:
        self.count += 1
        if self.json:
            if self.count == 1:
                head = {"inputs": report.inputs, "runtime": report.runtime}
                self.write(orjson.dumps(head).decode()[:-1] + ',"outages":[')
            else:
                self.write(",")
            self.write(orjson.dumps(x.json()).decode())
        else:
            self.write(("\n" if self.count > 1 else "") + explanation_text(x, self.count) + "\n")

    def finish(self, report: ExplainReport) -> None:
        if self.json:
            if self.count == 0:
                head = {"inputs": report.inputs, "runtime": report.runtime}
                self.write(orjson.dumps(head).decode()[:-1] + ',"outages":[')
            self.write("]," + orjson.dumps(report.json_tail()).decode()[1:] + "\n")
        else:
            tail = report.text_tail()
            self.write(("\n" if self.count and tail else "") + (tail + "\n" if tail else ""))
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            self.closed = True
