"""Provides `zkfle explain INPUT... [--config zoo.cfg] [--myid N] [--json]`: why each outage
(a time without a serving leader) lasted as long as it did (engine.explain).

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
from engine.explainfile import ExplainError, explain_inputs
from engine.quorum import ConfigError

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
    try:
        report = explain_inputs(args.inputs, config=args.config, myid=args.myid)
    except (ExplainError, ConfigError) as e:
        if args.json:
            out = {"inputs": [str(p) for p in args.inputs], "error": str(e), "outages": []}
            sys.stdout.write(orjson.dumps(out).decode() + "\n")
        print(f"zkfle explain: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        if args.json:
            sys.stdout.write(orjson.dumps(report.json()).decode() + "\n")
        else:
            print(report.text())
        sys.stdout.flush()
    except BrokenPipeError:  # `zkfle explain ... | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python's documented idiom

    if report.error is not None:
        print(f"zkfle explain: {report.error}", file=sys.stderr)
        return EXIT_UNREADABLE
    return EXIT_OK if report.ended_with_leader else EXIT_NO_LEADER
