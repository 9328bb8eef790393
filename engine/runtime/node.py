"""`zkfle node`'s command line (also `python -m engine.runtime.node`): read the zoo.cfg,
run one TcpNode until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from engine.core.config import load_zoo_cfg
from engine.core.quorum.error import ConfigError
from engine.runtime.tcpnode import NodeError, TcpNode
from engine.runtime.transport.sockets import TransportError

__all__ = ["add_node_parser", "cmd_node", "main"]


def add_node_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `node` to an argparse subparsers object (console/cli.py calls this)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "node",
        help="run one server over TCP (ZooKeeper's election protocol)",
        description=(
            "Run one server as its own process: ZooKeeper's Fast Leader Election over TCP "
            "in ZooKeeper's wire format, so it can vote with real ZooKeeper 3.8/3.9 servers "
            "and other zkfle nodes. Prints one line per state change; Ctrl-C stops it."
        ),
    )
    _node_arguments(parser)
    return parser


def _node_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, metavar="ZOO_CFG", help="zoo.cfg")
    parser.add_argument(
        "--myid", type=int, metavar="N", help="this server's id (default: <dataDir>/myid)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="durable state: currentEpoch, acceptedEpoch and, after following a Java leader, "
        "its txn log and snapshots (default: dataDir of the zoo.cfg)",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="trace file (default traces/<time>-node<N>.jsonl)",
    )
    parser.add_argument("--no-trace", action="store_true", help="record nothing")
    parser.add_argument("--seed", type=int, help="seed of the node's random choices")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level of the transport and node logs on stderr (default WARNING)",
    )


def cmd_node(args: argparse.Namespace) -> int:
    """Run `zkfle node` until SIGINT/SIGTERM: 0 after a clean stop, 2 if it cannot start."""
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s [%(threadName)s] %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Before the node starts: a signal while it starts (a slow machine, a supervisor
    # giving up) then stops it cleanly once started, its trace ending with a footer.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cfg = load_zoo_cfg(str(args.config), myid=args.myid)
            node = TcpNode(
                cfg,
                data_dir=args.data_dir,
                trace=args.trace,
                record=not args.no_trace,
                seed=args.seed,
            )
            node.start()
        except (ConfigError, NodeError) as e:
            print(f"zkfle node: {e}", file=sys.stderr)
            return 2
        if node.trace_path is not None:
            print(f"n{node.myid}: trace {node.trace_path}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            try:
                node.stop()
            except TransportError as e:
                print(f"zkfle node: {e}", file=sys.stderr)
                return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.runtime.node --config zoo.cfg --myid N` (the same as `zkfle node`)."""
    parser = argparse.ArgumentParser(prog="zkfle node")
    _node_arguments(parser)
    return cmd_node(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
