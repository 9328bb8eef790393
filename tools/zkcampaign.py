"""Model-check many real ZooKeeper runs: `python -m tools.zkcampaign --runs 200`.

Each run starts three real servers with `--runtime zookeeper` (small tickTime), plays one
schedule - a scenario of the catalogue below or a seeded random fault schedule - records
the trace, and runs `zkfle check` on it. The summary (JSON on stdout, one line per run on
stderr) counts runs, checked decisions and votes, and every disagreement with its node,
seq and text, so that each can be explained (docs/zkcampaign.md) or fixed.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.zkcheck.checker import CheckError, check
from engine.runtime.zookeeper.server import java_missing

STABLE = "wait until stable within 60s"
CATALOGUE = {
    "fresh": ["start", STABLE],
    "failover": ["start", STABLE, "write 2", "crash leader", STABLE],
    "restart": ["start", STABLE, "crash leader", STABLE, "restart all", STABLE],
    "minority": ["start", STABLE, "isolate followers", "wait 3s", "heal", STABLE],
    "majority": ["start", STABLE, "isolate leader", "wait 3s", "heal", STABLE],
    "pause": ["start", STABLE, "pause leader", "wait 3s", "resume all", STABLE],
    "late": ["start 1,2", STABLE, "start 3", STABLE],
}
"""The scenarios of the README and tests/scenarios, as commands on real servers."""
FAULTS = [
    "crash leader",
    "crash followers",
    "isolate leader",
    "isolate followers",
    "pause leader",
    "loss * 30%",
    "delay * 50ms jitter=50ms",
    "dup * 30%",
    "reorder * 30%",
]


def random_schedule(seed: int) -> list[str]:
    """A seeded schedule: a few faults, each followed by a pause, then repair all."""
    rng = random.Random(f"{seed}:zkcampaign")
    lines = ["start", STABLE]
    for _ in range(rng.randint(1, 3)):
        lines += [rng.choice(FAULTS), f"wait {rng.randint(2, 30) * 100}ms"]
    return [*lines, "reset", STABLE]


def one_run(name: str, lines: list[str], seed: int, directory: Path) -> dict[str, Any]:
    trace = directory / f"{name}-{seed}.jsonl"
    options = ClusterOptions(
        nodes=3,
        runtime="zookeeper",
        tick_ms=100,
        init_limit=10,
        sync_limit=5,
        seed=seed,
        trace=trace,
        data_dir=directory / f"{name}-{seed}",
    )
    failed = []
    with Cluster(options) as cluster:
        for line in lines:
            result = cluster.execute(line)
            if not result.ok and not line.startswith(("crash", "pause", "isolate", "resume")):
                failed.append(f"{line}: {result.text.splitlines()[0]}")
    out: dict[str, Any] = {"run": name, "seed": seed, "trace": str(trace), "failed": failed}
    try:
        report = check(trace)
    except CheckError as e:
        return out | {"error": str(e)}
    summary = report.json()
    return out | {
        "disagreements": summary["disagreements"],
        "nodes": summary.get("nodes"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.zkcampaign", description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep traces here (default: a temp dir)")
    args = parser.parse_args(argv)
    missing = java_missing()
    if missing is not None:
        print(f"zkcampaign: {missing}", file=sys.stderr)
        return 2
    directory = args.keep or Path(tempfile.mkdtemp(prefix="zkcampaign-"))
    directory.mkdir(parents=True, exist_ok=True)
    names = list(CATALOGUE)
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    # The JVMs run in their own sessions: SIGTERM/SIGHUP unwind through the cluster's close
    # (which kills them) as Ctrl+C does, and the runs done so far are still summed up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        _campaign(args, names, directory, results)
    except KeyboardInterrupt:
        print(f"zkcampaign: stopped after {len(results)} run(s)", file=sys.stderr)
    total = sum(len(r.get("disagreements", ())) for r in results)
    summary = {
        "runs": len(results),
        "partial": len(results) < args.runs,
        "seconds": round(time.monotonic() - t0, 1),
        "runs_with_disagreements": sum(1 for r in results if r.get("disagreements")),
        "disagreements": total,
        "unreadable": sum(1 for r in results if "error" in r),
        "results": results,
    }
    sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if total == 0 else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _campaign(
    args: argparse.Namespace, names: list[str], directory: Path, results: list[dict[str, Any]]
) -> None:
    for i in range(args.runs):
        seed = args.seed + i
        if i < 2 * len(names):  # the catalogue twice, then random schedules
            name, lines = names[i % len(names)], CATALOGUE[names[i % len(names)]]
        else:
            name, lines = "random", random_schedule(seed)
        result = one_run(name, lines, seed, directory)
        results.append(result)
        found = len(result.get("disagreements", ()))
        print(
            f"{i + 1}/{args.runs} {name} seed={seed}: {found} disagreement(s)"
            f"{' ' + result['error'] if 'error' in result else ''}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main())
