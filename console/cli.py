"""Provides the `zkfle` command line: the console, `run`, `shell`, `replay`, `verify`, ..."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.core.quorum.error import ConfigError

if TYPE_CHECKING:
    from engine.control.cluster import Cluster, ClusterOptions, CommandResult
    from engine.control.remote import RemoteCluster
    from engine.replay.player import Replayer

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2
Failure = dict[str, Any]
"""One entry of `run --json`'s `failures`: file, line, predicate, seq."""
Handler = Callable[[argparse.Namespace], int]


def _cluster_options(parser: argparse.ArgumentParser, under_command: bool = False) -> None:
    """The cluster's options. Under a command an option left out keeps what was given before
    the command (`zkfle --nodes 3 run` is `zkfle run --nodes 3`), else the default."""
    group = parser.add_argument_group("cluster")

    def add(*names: str, **kw: Any) -> None:
        group.add_argument(*names, **(kw | {"default": argparse.SUPPRESS} if under_command else kw))

    add("--nodes", type=int, default=5, metavar="N", help="participants (default 5)")
    add("--observers", type=int, default=0, metavar="M", help="observers (default 0)")
    add("--config", type=Path, metavar="ZOO_CFG", help="a zoo.cfg instead of --nodes/--observers")
    add("--transport", choices=("memory", "tcp"), default="memory")
    add("--sim", action="store_true", help="the deterministic simulator (virtual time)")
    add(
        "--runtime",
        choices=("threaded", "sim", "zookeeper"),
        help="what runs the cluster: our threads (the default), the simulator (= --sim), or"
        " real Apache ZooKeeper servers behind zkfle's recording proxy",
    )
    add("--seed", type=int, help="seed of the simulator and of random choices")
    add("--tick", type=int, metavar="MS", help="tickTime in ms (default 200)")
    add("--init-limit", type=int, metavar="N", help="initLimit in ticks (default 10)")
    add("--sync-limit", type=int, metavar="N", help="syncLimit in ticks (default 5)")
    add(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="durable state of the nodes (default: a temp dir)",
    )
    add(
        "--trace",
        type=Path,
        metavar="FILE",
        help="trace file (default traces/<time>-<label>.jsonl)",
    )
    add("--no-trace", action="store_true", help="record nothing")
    add(
        "--trace-max-size",
        type=_size,
        metavar="SIZE",
        help="go on in FILE.part2.jsonl, part3, ... once a trace file holds SIZE (like 200MB);"
        " each part replays with the parts before it",
    )


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3}
_SIZE_UNITS |= {"k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3}
MIN_TRACE_BYTES = 64 * 1024


def _size(text: str) -> int:
    """A size like 200MB, 1.5GB, 512KiB or 100000 (bytes), for --trace-max-size."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m[2].lower() if m else ""
    if m is None or unit not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"expected a size like 200MB or 1GB, got {text!r}")
    size = int(float(m[1]) * _SIZE_UNITS[unit])
    if size < MIN_TRACE_BYTES:
        raise argparse.ArgumentTypeError(f"at least 64KiB, got {text!r}")
    return size


def build_parser(
    wanted: frozenset[str] | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The parser and the handlers of the lazily loaded subcommands; with `wanted` (the
    words of the command line), those not among them are left bare (see `_SUBCOMMANDS`)."""
    parser = argparse.ArgumentParser(
        prog="zkfle",
        description="A terminal console for ZooKeeper's Fast Leader Election.",
        epilog="Without a command: the console on a fresh local cluster (5 nodes, threads).",
    )
    _cluster_options(parser)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="the console only: run the cluster in the console's own process (for debugging;"
        " its drawing then shares the interpreter with the nodes and slows them)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run a scenario headless and print the final state")
    _cluster_options(run, under_command=True)
    run.add_argument(
        "--script", type=Path, metavar="FILE", help="a .fle script (one command per line)"
    )
    run.add_argument("--json", action="store_true", help="print the result as one JSON object")
    run.add_argument(
        "--within",
        type=float,
        default=30_000,
        metavar="MS",
        help="without a script: how long to wait for a leader (default 30000)",
    )
    shell = sub.add_parser("shell", help="a command-line REPL on a live cluster")
    _cluster_options(shell, under_command=True)
    replay = sub.add_parser("replay", help="the console on a recorded trace: step, seek, fork")
    replay.add_argument("file", type=Path, metavar="FILE", help="a trace (.jsonl)")
    handlers: dict[str, Handler] = {}
    for names, load in _SUBCOMMANDS:
        if wanted is None or not wanted.isdisjoint(names):
            handlers |= load(sub)
        else:  # another command was given: this one needs only its name
            for name in sorted(names):
                sub.add_parser(name)
    return parser, handlers


def _trace_tools(sub: Any) -> dict[str, Handler]:
    from console import tools

    tools.add_verify_parser(sub)
    tools.add_export_parser(sub)
    return {"verify": tools.cmd_verify, "export": tools.cmd_export}


def _zk_tools(sub: Any) -> dict[str, Handler]:
    from console import zktools

    zktools.add_zk_parsers(sub)
    return {"import": zktools.cmd_import, "check": zktools.cmd_check}


def _explain(sub: Any) -> dict[str, Handler]:
    from console.explaintool import add_explain_parser, cmd_explain

    add_explain_parser(sub)
    return {"explain": cmd_explain}


def _node(sub: Any) -> dict[str, Handler]:
    from engine.runtime.node import add_node_parser, cmd_node

    add_node_parser(sub)
    return {"node": cmd_node}


def _bench(sub: Any) -> dict[str, Handler]:
    from engine.bench.cli import add_bench_parser

    add_bench_parser(sub)
    return {"bench": cmd_bench}


def _explore(sub: Any) -> dict[str, Handler]:
    from engine.explore.cli import add_explore_parser, cmd_explore

    add_explore_parser(sub)
    return {"explore": cmd_explore}


_SUBCOMMANDS: tuple[tuple[frozenset[str], Callable[[Any], dict[str, Handler]]], ...] = (
    (frozenset({"verify", "export"}), _trace_tools),
    (frozenset({"import", "check"}), _zk_tools),
    (frozenset({"explain"}), _explain),
    (frozenset({"node"}), _node),
    (frozenset({"bench"}), _bench),
    (frozenset({"explore"}), _explore),
)
"""The subcommands whose modules load only when they are given: `zkfle verify` imports the
verifier, not the console, the runtimes or the benches (their imports cost more CPU than
verifying a small trace). Each loader adds its parsers and returns its handlers."""


def _options(args: argparse.Namespace, label: str) -> ClusterOptions:
    from engine.control.cluster import ClusterOptions
    from engine.replay.livecheck import LiveCheck
    from engine.replay.state import rebuild

    if args.nodes < 1 or args.observers < 0:
        raise ConfigError(
            "--nodes must be at least 1 and --observers at least 0"
            f" (got {args.nodes}, {args.observers})"
        )
    runtime = args.runtime or ("sim" if args.sim else "threaded")
    if args.sim and runtime != "sim":
        raise ConfigError(f"--sim and --runtime {runtime} contradict each other")
    return ClusterOptions(
        nodes=args.nodes,
        observers=args.observers,
        config=args.config,
        runtime=runtime,
        transport=args.transport,
        seed=args.seed,
        tick_ms=args.tick,
        init_limit=args.init_limit,
        sync_limit=args.sync_limit,
        data_dir=args.data_dir,
        trace=args.trace,
        record=not args.no_trace,
        trace_max_bytes=args.trace_max_size,
        label=label,
        check=LiveCheck.of,  # the `check` lamp of real ZooKeeper runs
        shadow=rebuild,  # what `break when` is judged on at each event
    )


def cmd_run(args: argparse.Namespace) -> int:
    """`zkfle run`: a script, or start everything and wait for a leader."""
    from engine.control import commands as c
    from engine.control.cluster import Cluster
    from engine.control.predicates import CommandError, parse_predicate
    from engine.runtime.durable import DurableError
    from engine.runtime.protocol import UnavailableError

    script: tuple[c.ScriptLine, ...] = ()
    if args.script is not None:
        try:
            text = args.script.read_text(encoding="utf-8")
        except OSError as e:
            return _usage_error(f"cannot read script {args.script}: {e.strerror}")
        try:
            script = c.parse_script(text, str(args.script))
        except CommandError as e:
            return _usage_error(str(e))
    label = args.script.stem if args.script is not None else "run"
    try:
        cluster = Cluster(_options(args, label))
    except (ConfigError, DurableError, OSError, ValueError, UnavailableError) as e:
        return _usage_error(str(e))
    status = EXIT_OK
    elapsed = 0.0
    failures: list[dict[str, Any]] = []
    try:
        t0 = cluster.runtime.now()
        if script:
            for line in script:
                result = cluster.run(line.command)
                if not args.json:
                    print(f"{args.script}:{line.line}: {line.command.text}")
                    print("  " + result.text.replace("\n", "\n  "))
                if result.ok:
                    continue
                status = EXIT_CHECK_FAILED if result.failed_check else EXIT_USAGE
                if not result.failed_check:
                    print(f"{args.script}:{line.line}: {result.text}", file=sys.stderr)
                    break
                failures.append(_report_failure(result, str(args.script), line.line))
        else:
            result = cluster.start()
            if not result.ok:
                print(result.text, file=sys.stderr)
                status = EXIT_USAGE
            else:
                result = cluster.run(c.WaitUntil(parse_predicate("stable"), args.within))
                if not result.ok:
                    status = EXIT_CHECK_FAILED
                    failures.append(_report_failure(result))
            elapsed = _stable_elapsed(cluster, t0)
            cluster.wait_until(lambda v: v.settled, args.within)
        elapsed = elapsed or _stable_elapsed(cluster, t0)
    finally:
        cluster.close()
    if args.json:
        sys.stdout.write(orjson.dumps(cluster.result_json(elapsed, failures)).decode() + "\n")
    else:
        print(cluster.status_text())
        if cluster.trace_path is not None:
            print(f"trace: {cluster.trace_path}  (replay: zkfle replay {cluster.trace_path})")
    return status


def _report_failure(
    result: CommandResult, file: str | None = None, line: int | None = None
) -> Failure:
    """A failed `expect` or `wait until`: said on stderr now, listed in `--json`."""
    from engine.control.commands import Expect, WaitUntil

    assert isinstance(result.command, Expect | WaitUntil)
    where = f"{file}:{line}" if file is not None else "zkfle run"
    what = result.text.splitlines()[0]
    print(f"{where}: {result.command.verb}: {what} (seq {result.seq})", file=sys.stderr)
    return {
        "file": file,
        "line": line,
        "predicate": result.command.predicate.describe(),
        "seq": result.seq,
    }


def _stable_elapsed(cluster: Cluster, t0: float) -> float:
    """Time from the start of the run until the cluster was last seen becoming stable (or
    the end of the run if it never was)."""
    last = None
    for event in cluster.recorder.events_after(0):  # a copy: node threads still record
        if event["kind"] == "snapshot" and event.get("stable"):
            if last is None or not last[1]:
                last = (event["t_ms"], True)
        elif event["kind"] == "snapshot":
            last = (event["t_ms"], False)
    if last is not None and last[1]:
        return float(last[0]) - t0
    return cluster.runtime.now() - t0


def _usage_error(message: str) -> int:
    for line in message.splitlines():  # a script names every bad line
        print(f"zkfle: {line}", file=sys.stderr)
    return EXIT_USAGE


def _live_cluster(
    args: argparse.Namespace, label: str, pace: bool, remote: bool = False
) -> Cluster | RemoteCluster | int:
    """A started cluster for the console or the shell, or an exit status if it cannot be.
    With `pace`, a simulated cluster's clock follows the wall clock (`run`/`halt`/`speed`);
    with `remote`, the cluster runs in a child process (engine.control.remote)."""
    from engine.control.cluster import Cluster
    from engine.control.remote import RemoteCluster, RemoteError
    from engine.runtime.durable import DurableError
    from engine.runtime.protocol import UnavailableError

    cluster: Cluster | RemoteCluster
    try:
        options = replace(_options(args, label), pace=pace)
        cluster = RemoteCluster(options) if remote else Cluster(options)
    except (ConfigError, DurableError, OSError, ValueError, UnavailableError, RemoteError) as e:
        return _usage_error(str(e))
    result = cluster.start()
    if not result.ok:
        cluster.close("aborted")
        return _usage_error(result.text)
    return cluster


def open_replay(path: str) -> Replayer:
    """A trace for the console, verified in the background so that a divergence shows at
    once in the header, wherever it is."""
    from engine.replay.player import Replayer

    return Replayer(path, verify_ahead=True)


def cmd_console(args: argparse.Namespace) -> int:
    from console.app import run_app  # Textual loads only when the console is wanted

    # The cluster in its own process: the console's drawing never holds the nodes'
    # interpreter lock (README, "What runs where").
    cluster = _live_cluster(args, "console", pace=True, remote=not args.in_process)
    if isinstance(cluster, int):
        return cluster
    return run_app(cluster, open_replay=open_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    """`zkfle replay FILE`: the console on a recorded trace."""
    from console.app import run_app
    from engine.replay.cores import ReplayError
    from engine.trace.format import TraceError

    try:
        replayer = open_replay(args.file)
    except (ReplayError, TraceError, OSError) as e:
        return _usage_error(f"cannot replay {args.file}: {e}")
    return run_app(replayer, open_replay=open_replay)


def cmd_shell(args: argparse.Namespace) -> int:
    from console.shell import run_shell

    interactive = sys.stdin.isatty()
    # Piped input is a script: the simulator's clock then moves only with `wait`.
    cluster = _live_cluster(args, "shell", pace=interactive)
    if isinstance(cluster, int):
        return cluster
    return run_shell(cluster, interactive)


def cmd_bench(args: argparse.Namespace) -> int:
    from console.bench import cmd_bench as bench  # the console bench loads Textual

    return bench(args)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser, handlers = build_parser(_wanted(words))
    args = parser.parse_args(words)
    commands: dict[str, Handler] = {
        "run": cmd_run,
        "shell": cmd_shell,
        "replay": cmd_replay,
        **handlers,
    }
    if getattr(args, "runtime", None) == "zookeeper":
        # Its JVMs run in their own sessions: a SIGTERM must unwind through the cluster's
        # close (which kills them by pid) as Ctrl+C does, not end us and leave them.
        for sig in (signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal went away
            signal.signal(sig, _terminate)
    return commands[args.command](args) if args.command is not None else cmd_console(args)


def _wanted(words: list[str]) -> frozenset[str] | None:
    """The words that may name the subcommand; None (load every subcommand) when a help
    option comes before them, so that `zkfle -h verify` lists every command."""
    for word in words:
        if word in ("-h", "--help"):
            return None
        if any(word in names for names, _ in _SUBCOMMANDS):
            return frozenset(words)
    return None


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
