"""`zkfle bench`: the performance targets of DESIGN §6, measured, and compared in one run.

Modes (each prints a table, or one JSON object with `--json`):

* `election` - fresh threaded in-memory clusters of N nodes, no trace: ZooKeeper's "took"
  (lookForLeader start -> decision, the maximum over the nodes, `NodeView.election_took_ms`)
  and the time from the first boot until the cluster is `stable` (one leader that has
  established its epoch with a quorum, everybody following it), with the messages sent,
  delivered and dropped until then;
* `failover` - the same clusters, settled; the leader is crashed: crash -> stable again,
  and the survivors' "took";
* `sim` - five-node elections in the simulator, pinned to one core, for `--seconds`;
* `verify` - re-execution speed of `engine.replay.verify.verify` on a generated trace, and its
  peak memory (tracemalloc) at two trace sizes, to show whether memory stays flat;
* `recording` - the election with and without a trace file (threaded), and the simulator's
  CPU time with and without one: what recording costs;
* `explore` - `zkfle explore` runs/s per core with 1 local process and with more, on the
  same runs, and whether their outcomes are identical; beside each, the cores' ceiling (a
  loop that shares nothing), the same runs in independent processes side by side, and the
  CPU time the hypervisor and other processes took;
* `console` - the console (console.app) attached to a 9-node threaded cluster under a
  message storm: frames (polls of the cluster screen) per second, and election latency
  with the console attached vs headless;
* `zk` - `election` and `failover` with real Apache ZooKeeper measured in the same run;
* `zab` - Zab's writes/s and SNAP sync with a zkfle node leading two Java followers, and
  with three Java servers, in the same run (engine.bench.zab);
* `proxy` - what engine.runtime.zookeeper.proxy adds per frame, and to real ZooKeeper's elections
  (engine.bench.proxy).

Every figure is given as a ratio measured in the same run (DESIGN §6): to the floor - one
finalizeWait, 200 ms - and, with `--zk` (or mode `zk`), to real ZooKeeper 3.8 measured in
the same run by zkfle's own `--runtime zookeeper` (engine.bench.zk). Without java or
ZooKeeper the benchmark says so and reports ours alone.

Wall-clock figures depend on what else the machine runs: before each repetition the bench
waits (at most `--idle-wait` seconds) until the CPU is mostly idle, and
reports how busy the machine was. The simulator figures are CPU time, which load affects
much less.

This module sits on top of the engine; the console bench lives in console/bench.py (the
engine never imports the console).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from engine.bench.elections import bench_elections, print_elections, print_elections_plot
from engine.bench.explore import bench_explore, print_explore
from engine.bench.harness import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    JSON,
    BenchError,
    Options,
    progress_log,
)
from engine.bench.logs import bench_import, print_import
from engine.bench.probe import Sample
from engine.bench.proxy import bench_proxy, print_proxy
from engine.bench.recording import bench_recording, print_recording
from engine.bench.sim import bench_sim, print_sim
from engine.bench.verify import bench_verify, print_verify
from engine.bench.zab import HANDLERS, ZabBench, bench_zab, print_zab


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be like 3,5,7: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`zkfle bench MODE ...` (call with the result of `parser.add_subparsers()`)."""
    bench: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure the performance targets (DESIGN §6)",
        description=(__doc__ or "").split("\n\n")[0],
    )
    modes = bench.add_subparsers(dest="bench_mode", metavar="MODE", required=True)

    def plot(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--plot",
            action="store_true",
            help="also draw the election times as bars, against the floor and ZooKeeper",
        )

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    def clusters(p: argparse.ArgumentParser, sizes: str, reps: int) -> None:
        p.add_argument("--sizes", type=_sizes, default=_sizes(sizes), metavar="N,N,...")
        p.add_argument("--reps", type=int, default=reps, metavar="R")
        p.add_argument(
            "--within",
            type=float,
            default=60_000.0,
            metavar="MS",
            help="give up on an election after this long",
        )
        p.add_argument(
            "--idle-threshold",
            type=float,
            default=0.25,
            metavar="F",
            help="wait until at most this fraction of the CPUs is busy",
        )
        p.add_argument(
            "--idle-wait",
            type=float,
            default=20.0,
            metavar="S",
            help="... but at most this long before each repetition (0: never)",
        )

    def zk(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--zk", action="store_true", help="also measure real ZooKeeper 3.8 in the same run"
        )
        transport(p)
        plot(p)

    def transport(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--transport",
            choices=("memory", "tcp"),
            default="memory",
            help="our nodes' transport: in-memory queues, or ZooKeeper's wire over loopback",
        )

    p = modes.add_parser("election", help="threaded in-memory election time per cluster size")
    clusters(p, "3,5,7,9,51", 5)
    zk(p)
    common(p)
    p = modes.add_parser("failover", help="crash the leader: time until a new one is stable")
    clusters(p, "3,5,7,9", 5)
    zk(p)
    common(p)
    p = modes.add_parser("zk", help="election and failover, side by side with real ZooKeeper")
    clusters(p, "3,5,7,9", 5)
    transport(p)
    plot(p)
    common(p)
    p = modes.add_parser("sim", help="five-node simulator elections per second on one core")
    p.add_argument("--seconds", type=float, default=10.0, help="per repetition")
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--reps", type=int, default=3, metavar="R")
    common(p)
    p = modes.add_parser("verify", help="re-execution speed and memory of `zkfle verify`")
    p.add_argument("--events", type=int, default=1_000_000, help="size of the generated trace")
    p.add_argument("--trace", type=Path, help="verify this trace instead of generating one")
    p.add_argument("--reps", type=int, default=3, metavar="R", help="timed verifications")
    p.add_argument(
        "--formats",
        default="jsonl,jsonl.gz,jsonl.zst",
        metavar="F,F,...",
        help="trace files to verify: plain, gzip, Zstandard (bytes per event of each)",
    )
    common(p)
    p = modes.add_parser("recording", help="election time with and without a trace file")
    clusters(p, "9", 5)
    p.add_argument("--sim-elections", type=int, default=100, metavar="K")
    common(p)
    p = modes.add_parser("proxy", help="what the zkproxy between real ZooKeeper servers adds")
    p.add_argument("--frames", type=int, default=4000, help="frames timed per plane")
    p.add_argument("--reps", type=int, default=5, metavar="R", help="ensembles per variant")
    p.add_argument("--nodes", type=int, default=3, help="servers per ensemble")
    p.add_argument("--tick", type=int, default=2000, metavar="MS", help="tickTime")
    common(p)
    p = modes.add_parser("import", help="zkfle import of 1 GiB of server logs, zkfle check")
    p.add_argument("--gib", type=float, default=1.0, help="how much log to generate")
    p.add_argument("--logs", type=Path, help="import these logs instead of generating them")
    common(p)
    p = modes.add_parser("explore", help="zkfle explore runs/s per core, 1 job against N")
    p.add_argument("--runs", type=int, default=200, metavar="R", help="runs per job count")
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--jobs", type=_sizes, default=_sizes("1,2"), metavar="J,J,...")
    common(p)
    p = modes.add_parser(
        "zab", help="Zab writes/s and SNAP sync: a zkfle leader of Java followers, and all-Java"
    )
    p.add_argument("--writes", type=int, default=5000, help="async creates timed per ensemble")
    p.add_argument("--window", type=int, default=100, help="outstanding requests at most")
    p.add_argument("--snap-znodes", type=int, default=10_000, metavar="N", help="tree to SNAP")
    p.add_argument("--znode-bytes", type=int, default=1024, metavar="B")
    p.add_argument("--reps", type=int, default=3, metavar="R", help="ensembles of each kind")
    p.add_argument("--node-trace", action="store_true", help="the zkfle node records its trace too")
    p.add_argument(
        "--handler",
        choices=HANDLERS,
        default="select",
        help="the kazoo client's: kazoo's threading handler, or the same waiting with select(2)",
    )
    common(p)
    p = modes.add_parser(
        "console", help="console frames/s under a storm; an election with and without it"
    )
    p.add_argument("--seconds", type=float, default=5.0, help="of the storm")
    p.add_argument("--nodes", type=int, default=9)
    p.add_argument("--reps", type=int, default=5, metavar="R", help="pairs of elections")
    p.add_argument(
        "--profile", type=Path, metavar="FILE", help="cProfile the UI thread in the storm"
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="the cluster in the console's process (zkfle --in-process), not in its own",
    )
    common(p)
    return bench


def _options(args: argparse.Namespace, zk: bool) -> Options:
    return Options(
        sizes=args.sizes,
        reps=max(args.reps, 1),
        within_ms=args.within,
        idle_threshold=args.idle_threshold,
        idle_wait_s=args.idle_wait,
        zk=zk,
        transport=getattr(args, "transport", "memory"),
        quiet=args.quiet or False,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one bench mode; 0 when it ran (targets missed are reported, not failures),
    1 when a measurement failed (a cluster never became stable, a trace diverged)."""
    try:
        return _bench(args)
    except BenchError as e:
        print(f"zkfle bench {args.bench_mode}: {e}", file=sys.stderr)
        return EXIT_FAILED


def _bench(args: argparse.Namespace) -> int:
    mode = args.bench_mode
    result: JSON
    printer: Callable[[JSON], None]
    if mode in ("election", "failover", "zk"):
        opts = _options(args, zk=mode == "zk" or getattr(args, "zk", False))
        result = bench_elections(opts, failover=mode != "election")
        printer = print_elections_plot if args.plot else print_elections
        rows = result["election"] + result.get("failover", [])
        failed = any(r["ok"] < r["reps"] for r in rows)
    elif mode == "sim":
        result = bench_sim(args.seconds, nodes=args.nodes, reps=args.reps)
        printer = print_sim
        failed = result["failed"] > 0
    elif mode == "verify":
        log = progress_log(Options(quiet=args.quiet or args.json))
        result = bench_verify(args.events, args.trace, log, args.reps, args.formats.split(","))
        printer = print_verify
        failed = not result["ok"]
    elif mode == "recording":
        result = bench_recording(_options(args, zk=False), args.sim_elections)
        printer = print_recording
        failed = False
    elif mode == "proxy":
        log = progress_log(Options(quiet=args.quiet or args.json))
        result = bench_proxy(args.frames, args.reps, args.nodes, args.tick, log)
        printer = print_proxy
        failed = result["failed"]
    elif mode == "import":
        result = bench_import(
            args.gib, args.logs, progress_log(Options(quiet=args.quiet or args.json))
        )
        printer = print_import
        failed = False
    elif mode == "explore":
        result = bench_explore(max(args.runs, 1), max(args.nodes, 2), args.jobs)
        printer = print_explore
        failed = not result["identical_outcomes"]
    elif mode == "zab":
        bench = ZabBench(
            max(args.writes, 1),
            max(args.window, 1),
            max(args.snap_znodes, 1),
            max(args.znode_bytes, 0),
            max(args.reps, 1),
            args.node_trace,
            args.handler,
        )
        result = bench_zab(bench, progress_log(Options(quiet=args.quiet or args.json)))
        printer = print_zab
        failed = False
    else:  # argparse refuses other modes; `console` is console.bench's
        print(f"zkfle bench: unknown mode {mode!r}", file=sys.stderr)
        return EXIT_USAGE
    return report(args, result, printer, failed)


def report(
    args: argparse.Namespace, result: JSON, printer: Callable[[JSON], None], failed: bool
) -> int:
    """Print a bench result (JSON with --json) and give the exit status."""
    if args.json:
        sys.stdout.write(orjson.dumps(result, default=_default).decode() + "\n")
    else:
        printer(result)
    return EXIT_FAILED if failed else EXIT_OK


def _default(value: object) -> object:
    if isinstance(value, Sample):
        return value.__dict__
    raise TypeError(type(value).__name__)


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.bench MODE ...` until console/cli.py wires `zkfle bench`."""
    parser = argparse.ArgumentParser(prog="zkfle")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    return cmd_bench(parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)]))


__all__ = ["add_bench_parser", "cmd_bench"]
