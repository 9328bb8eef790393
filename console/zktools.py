"""Provides `zkfle import` and `zkfle check`: real ZooKeeper servers' logs as a trace, and
that trace checked against the model.

`import LOGS... [--config zoo.cfg] [--myid N] [--trace FILE] [--json]` reads server logs
(files, rotated and compressed ones, directories) into one trace (engine.replay.zkimport) and
prints a summary on stderr, or as one JSON object on stdout with --json; exit 0 when a
trace was written, 2 when nothing could be read or the arguments are wrong.

`check TRACE [--json]` feeds every real server's logged notifications to the election
model (engine.replay.zkcheck); exit 0 when the model agrees with every decision and vote, 1 when
it does not (each disagreement is printed), 2 when the trace cannot be read or has nothing
to check.

console/cli.py adds them with `add_zk_parsers` and calls `cmd_import` / `cmd_check`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from engine.core.quorum.error import ConfigError
from engine.replay.zkcheck.checker import CheckError, check
from engine.replay.zkimport.importer import LogImportError, import_logs
from engine.trace.format import default_trace_path

EXIT_OK, EXIT_DISAGREE, EXIT_UNREADABLE = 0, 1, 2


def add_zk_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import",
        help="turn ZooKeeper server logs into a trace (replay it, check it)",
        description=(
            "Read ZooKeeper 3.3-3.9 server logs (files, rotated or .gz files, directories;"
            " several servers per file are told apart) into one trace. The summary goes to"
            " stderr. Exit status: 0 written, 2 nothing could be read."
        ),
    )
    p.add_argument("logs", nargs="+", metavar="LOGS", help="log files or directories")
    add_log_options(p)
    p.add_argument(
        "--trace", type=Path, metavar="FILE", help="where to write (default traces/<time>-import)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p = subparsers.add_parser(
        "check",
        help="model-check a real run: feed each server's notifications to the election model",
        description=(
            "Feed every real server's logged notifications, in its order, to the FLE model and"
            " compare each decision and vote. Exit status: 0 no disagreement, 1 disagreements,"
            " 2 unreadable or nothing to check."
        ),
    )
    p.add_argument("trace", type=Path, metavar="TRACE", help="a trace with real-server events")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def add_log_options(p: argparse.ArgumentParser) -> None:
    """How logs are read: the ensemble's zoo.cfg, the id of logs that never name theirs."""
    p.add_argument("--config", type=Path, metavar="ZOO_CFG", help="the ensemble's zoo.cfg")
    p.add_argument(
        "--myid", type=int, metavar="N", help="the server id of logs that do not name it"
    )


def cmd_import(args: argparse.Namespace) -> int:
    out = args.trace or default_trace_path("import", datetime.now())
    try:
        summary = import_logs(args.logs, out, config=args.config, myid=args.myid)
    except (LogImportError, ConfigError) as e:
        print(f"zkfle import: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        sys.stdout.write(orjson.dumps(summary.json()).decode() + "\n")
    else:
        print(summary.text(), file=sys.stderr)
        print(
            f"  next: zkfle replay {summary.trace}   zkfle check {summary.trace}", file=sys.stderr
        )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    try:
        report = check(args.trace)
    except CheckError as e:
        if args.json:
            sys.stdout.write(orjson.dumps({"trace": str(args.trace), "error": str(e)}).decode())
            sys.stdout.write("\n")
        print(f"zkfle check: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        sys.stdout.write(orjson.dumps(report.json()).decode() + "\n")
    else:
        print(report.text())
    return EXIT_OK if report.ok else EXIT_DISAGREE
