"""`zkfle explore`: search random fault schedules on the simulator for invariant violations,
slow elections and other goals; shrink each finding to a script that reproduces it.

Exit status: 1 something was found, 0 nothing, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.control import commands as c
from engine.control.predicates import CommandError
from engine.core.quorum.error import ConfigError
from engine.explore import backends
from engine.explore.goals import Goals, Metrics
from engine.explore.run import Outcome, Spec, prepare
from engine.explore.search import Finding, Tally, settle
from engine.runtime.durable import DurableError
from engine.trace.format import default_trace_path

EXIT_NOTHING, EXIT_FOUND, EXIT_USAGE = 0, 1, 2


def add_explore_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`zkfle explore ...` (call with the result of `parser.add_subparsers()`)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "explore",
        help="search fault schedules for violations and slow elections, shrink findings",
        description=(__doc__ or "").split("\n\n")[0],
    )
    g = p.add_argument_group("cluster (always the simulator)")
    g.add_argument("--nodes", type=int, default=5, metavar="N", help="participants (default 5)")
    g.add_argument("--observers", type=int, default=0, metavar="M", help="observers (default 0)")
    g.add_argument("--config", type=Path, metavar="ZOO_CFG", help="servers, weights, groups")
    g.add_argument("--tick", type=int, metavar="MS", help="tickTime in ms (default 200)")
    g.add_argument("--init-limit", type=int, metavar="N", help="initLimit (default 10)")
    g.add_argument("--sync-limit", type=int, metavar="N", help="syncLimit (default 5)")
    s = p.add_argument_group("search")
    s.add_argument("--runs", type=int, default=1000, metavar="R", help="runs (default 1000)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="exploration seed (0)")
    s.add_argument("--steps", type=int, default=12, metavar="K", help="faults per run (12)")
    s.add_argument("--verify", action="store_true", help="record and re-execute every run")
    s.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, metavar="J", help="local processes"
    )
    s.add_argument(
        "--scheduler",
        metavar="ADDR",
        help=f"run on a Dask distributed cluster (tcp://HOST:PORT; {backends.EXTRA})",
    )
    o = p.add_argument_group("goals (invariant violations and engine errors always count)")
    o.add_argument("--slower-than", metavar="DUR", help="an election that took longer (5s)")
    o.add_argument("--rounds-above", type=int, metavar="K", help="a leader elected in round > K")
    o.add_argument(
        "--notifications-above", type=int, metavar="N", help="more notifications sent in a run"
    )
    o.add_argument(
        "--leader-without-highest-zxid",
        action="store_true",
        help="a leader decided while another server had logged more",
    )
    o.add_argument("--find", metavar="PRED", help="a predicate, like 'leaders == 2'")
    r = p.add_argument_group("output")
    r.add_argument("--out", type=Path, metavar="DIR", help="findings (traces/<time>-explore)")
    r.add_argument("--no-shrink", action="store_true", help="save findings as found")
    r.add_argument("--json", action="store_true", help="print one JSON summary")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def cmd_explore(args: argparse.Namespace) -> int:
    try:
        spec = _spec(args)
        sids = prepare(spec)
    except (ConfigError, DurableError, CommandError, OSError, ValueError) as e:
        return _usage(str(e))
    if len(sids) < 2:
        return _usage(f"explore needs at least 2 servers, the cluster has {len(sids)}")
    out = args.out or default_trace_path("explore", datetime.now()).with_suffix("")
    indices = range(args.runs)
    if args.scheduler is not None:
        where = f"Dask at {args.scheduler}"
        outcomes: Iterator[Outcome] = backends.dask(spec, indices, sids, args.scheduler)
    else:
        where = f"{args.jobs} local job{'s' * (args.jobs != 1)}"
        outcomes = backends.local(spec, indices, sids, args.jobs)
    progress = Progress(args.runs, sys.stderr, quiet=args.quiet)
    progress.say(
        f"explore: {args.runs} runs of {len(sids)} servers, {spec.steps} steps, seed"
        f" {spec.seed}, on {where}"
    )
    t0 = time.perf_counter()
    tally = Tally()
    try:
        for outcome in outcomes:
            tally.add(outcome)
            progress.update(tally)
    except backends.BackendError as e:
        return _usage(str(e))
    except KeyboardInterrupt:  # keep what the finished runs found
        progress.done(tally)
        progress.say(f"explore: interrupted after {tally.runs} of {args.runs} runs")
    elapsed = time.perf_counter() - t0
    progress.done(tally)
    findings = tally.ordered()
    for finding in findings:
        progress.say(f"explore: shrinking {finding.key} (run {finding.first.index}) ...")
        settle(finding, spec, out, shrinking=not args.no_shrink)
    if args.json:
        summary = _summary(args, len(sids), tally, findings, elapsed, where)
        sys.stdout.write(orjson.dumps(summary).decode())
        sys.stdout.write("\n")
    else:
        _print(args, tally, findings, elapsed)
    return EXIT_FOUND if findings else EXIT_NOTHING


def _spec(args: argparse.Namespace) -> Spec:
    if args.runs < 1 or args.steps < 0 or args.jobs < 1:
        raise ValueError(
            "--runs and --jobs must be at least 1 and --steps at least 0"
            f" (got {args.runs}, {args.jobs}, {args.steps})"
        )
    if args.nodes < 1 or args.observers < 0:
        raise ValueError(
            f"--nodes must be at least 1 and --observers at least 0"
            f" (got {args.nodes}, {args.observers})"
        )
    config_text = None
    if args.config is not None:
        try:
            config_text = args.config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read {args.config}: {e}") from None
    goals = Goals(
        slower_than_ms=None if args.slower_than is None else _duration(args.slower_than),
        rounds_above=args.rounds_above,
        notifications_above=args.notifications_above,
        stale_leader=args.leader_without_highest_zxid,
        find=args.find,
    )
    return Spec(
        nodes=args.nodes,
        observers=args.observers,
        config_text=config_text,
        tick_ms=args.tick,
        init_limit=args.init_limit,
        sync_limit=args.sync_limit,
        seed=args.seed,
        steps=args.steps,
        goals=goals,
        verify=args.verify,
    )


def _duration(text: str) -> float:
    """A duration of the command language (5s, 800ms, 1.5m) in ms."""
    try:
        command = c.parse(f"wait {text}")
    except CommandError:
        command = None
    if not isinstance(command, c.Wait):
        raise ValueError(f"--slower-than: expected a duration like 5s or 800ms, got {text!r}")
    return command.ms


def _usage(message: str) -> int:
    for line in message.splitlines():
        print(f"zkfle explore: {line}", file=sys.stderr)
    return EXIT_USAGE


def _reproduce(args: argparse.Namespace, finding: Finding) -> list[str]:
    cluster = (
        f"--config {args.config}"
        if args.config is not None
        else f"--nodes {finding.nodes}"
        + (f" --observers {args.observers}" if args.observers else "")
    )
    timing = "".join(
        f" {flag} {value}"
        for flag, value in (
            ("--tick", args.tick),
            ("--init-limit", args.init_limit),
            ("--sync-limit", args.sync_limit),
        )
        if value is not None
    )
    return [
        f"zkfle replay {finding.trace}",
        f"zkfle run --sim --seed {finding.first.seed} {cluster}{timing} --script {finding.script}",
    ]


def _summary(
    args: argparse.Namespace,
    servers: int,
    tally: Tally,
    findings: list[Finding],
    elapsed: float,
    where: str,
) -> dict[str, Any]:
    return {
        "runs": tally.runs,
        "seed": args.seed,
        "steps": args.steps,
        "servers": servers,
        "backend": where,
        "elapsed_s": round(elapsed, 3),
        "runs_per_s": round(tally.runs / elapsed, 2) if elapsed else None,
        "events": tally.events,
        "best": _best_json(tally.best),
        "findings": [
            {**f.to_json(), "reproduce": _reproduce(args, f)} if f.script else f.to_json()
            for f in findings
        ],
    }


def _best_json(best: Metrics) -> dict[str, Any]:
    return {
        "slowest_election_ms": round(best.slowest_ms, 1),
        "max_round": best.max_round,
        "max_notifications": best.notifications,
    }


def _print(args: argparse.Namespace, tally: Tally, findings: list[Finding], elapsed: float) -> None:
    rate = tally.runs / elapsed if elapsed else 0.0
    print(
        f"{tally.runs} runs in {elapsed:.1f} s ({rate:.1f} runs/s); best: " + _best_text(tally.best)
    )
    if not findings:
        print("nothing found")
    for f in findings:
        print(f"found {f.key} in {f.runs} run{'s' * (f.runs != 1)}; first: run {f.first.index}")
        print(f"  {f.hit.detail}")
        shrunk = f"shrunk from {len(f.first.lines)} to {len(f.lines)} lines"
        if f.nodes is not None and f.nodes < args.nodes:
            shrunk += f" and from {args.nodes} to {f.nodes} nodes"
        print(f"  {shrunk} ({f.shrink_tests} runs): {f.script}")
        if not f.reproduced:
            print("  the saved script did not reach the goal again (a bug in zkfle: report it)")
        for line in f.lines:
            print(f"    {line}")
        for command in _reproduce(args, f):
            print(f"  {command}")


def _best_text(best: Metrics) -> str:
    return (
        f"slowest election {best.slowest_ms / 1000:.1f}s, round {best.max_round},"
        f" {best.notifications} notifications"
    )


class Progress:
    """A progress bar on a terminal, a plain line every tenth of the runs otherwise."""

    def __init__(self, total: int, stream: TextIO, quiet: bool = False) -> None:
        self.total = total
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.shown = 0.0
        self.step = max(1, total // 10)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def line(self, tally: Tally) -> str:
        elapsed = time.perf_counter() - self.t0
        rate = tally.runs / elapsed if elapsed else 0.0
        return (
            f"{tally.runs}/{self.total} runs, {rate:.1f} runs/s, {len(tally.findings)} found;"
            f" best: {_best_text(tally.best)}"
        )

    def update(self, tally: Tally) -> None:
        if self.quiet:
            return
        if self.tty:
            now = time.perf_counter()
            if now - self.shown < 0.1 and tally.runs < self.total:
                return
            self.shown = now
            width = 24
            full = width * tally.runs // self.total
            bar = "█" * full + "·" * (width - full)
            self.stream.write(f"\r\x1b[K{bar} {self.line(tally)}")
            self.stream.flush()
        elif tally.runs % self.step == 0 or tally.runs == self.total:
            self.say(self.line(tally))

    def done(self, tally: Tally) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
