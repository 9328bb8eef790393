"""The reliability campaign (issue 12, RELIABILITY.md): one command for every part.

    python -m tools.campaign --full                # the campaign RELIABILITY.md reports
    python -m tools.campaign --small               # a minute's taste of every part
    python -m tools.campaign --full --only wire,crash --json results.json

Parts: `wire` and `parsers` (atheris and the seeded mutation fuzzer on the wire decoders -
notifications, handshakes, frames - and on every other parser of outside input), `crash`
(kill -9 while recording and while writing epoch files), `tcp` (TCP abuse during
elections of `zkfle node` clusters), `leaks` (node crash/restart and console open/close
cycles), `chaos` and `tcpchaos` (threaded and TCP chaos runs whose traces must verify).
Parts are independent: separate `--only` processes may run side by side. It prints each
part's counts and failures and the machine it ran on; the exit status is 1 if anything
failed. Atheris comes with `pip install -e '.[campaign]'`; without it the mutation fuzzer
runs alone (and says so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.reliability import STARTED, Outcome, chaos, crash, fuzz, leaks, tcp_abuse, tcp_chaos

WIRE = ("notification", "handshake", "frames")
TEXT = ("quorumpacket", "command", "script", "zoocfg", "trace", "zklog")


@dataclass(frozen=True)
class Size:
    atheris: dict[str, int]
    mutations: dict[str, int]
    trace_kills: int
    epoch_kills: int
    kill_workers: int
    abuse_rounds: int
    abuse: tcp_abuse.AttackPlan
    node_cycles: int
    console_cycles: int
    threaded_chaos: int
    chaos_workers: int
    tcp_chaos: int


FULL = Size(
    atheris=dict.fromkeys(WIRE, 100_000) | dict.fromkeys(TEXT, 10_000),
    mutations={"notification": 1_000_000, "handshake": 1_000_000, "frames": 200_000}
    | dict.fromkeys(TEXT, 20_000),
    trace_kills=200,
    epoch_kills=300,
    kill_workers=3,
    abuse_rounds=10,
    abuse=tcp_abuse.AttackPlan(),
    node_cycles=1000,
    console_cycles=100,
    threaded_chaos=200,
    chaos_workers=4,
    tcp_chaos=50,
)
SMALL = Size(
    atheris={},
    mutations=dict.fromkeys(WIRE, 2000) | dict.fromkeys(TEXT, 200),
    trace_kills=2,
    epoch_kills=5,
    kill_workers=1,
    abuse_rounds=1,
    abuse=tcp_abuse.AttackPlan(garbage=100, slow_loris=2, storm=20, half_open=5),
    node_cycles=10,
    console_cycles=3,
    threaded_chaos=2,
    chaos_workers=1,
    tcp_chaos=1,
)


def parts(size: Size, keep: Path | None = None) -> dict[str, Callable[[], Outcome]]:
    def fuzzing(names: tuple[str, ...]) -> Callable[[], Outcome]:
        def only(runs: dict[str, int]) -> dict[str, int]:
            return {name: n for name, n in runs.items() if name in names}

        return lambda: fuzz.run(only(size.atheris), only(size.mutations))

    return {
        "wire": fuzzing(WIRE),
        "parsers": fuzzing(TEXT),
        "crash": lambda: crash.run(size.trace_kills, size.epoch_kills, workers=size.kill_workers),
        "tcp": lambda: tcp_abuse.run(size.abuse_rounds, size.abuse),
        "leaks": lambda: leaks.run(size.node_cycles, size.console_cycles),
        "chaos": lambda: chaos.run(size.threaded_chaos, workers=size.chaos_workers, keep=keep),
        "tcpchaos": lambda: tcp_chaos.run(size.tcp_chaos, keep=keep),
    }


def machine() -> dict[str, object]:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load average at start": os.getloadavg(),
    }


def report(outcome: Outcome, seconds: float) -> str:
    lines = [f"## {outcome.item}: {'ok' if outcome.ok else 'FAILED'} ({seconds:.0f} s)"]
    lines += [f"  {key}: {value}" for key, value in outcome.counts.items()]
    lines += [f"  note: {note}" for note in outcome.notes[:20]]
    lines += [f"  FAILURE: {failure}" for failure in outcome.failures]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.campaign", description=__doc__)
    sizes = parser.add_mutually_exclusive_group(required=True)
    sizes.add_argument("--full", action="store_true", help="the campaign of RELIABILITY.md")
    sizes.add_argument("--small", action="store_true", help="every part, briefly")
    parser.add_argument("--only", help="comma-separated parts: " + ",".join(parts(SMALL)))
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep failed runs' traces here")
    args = parser.parse_args(argv)
    table = parts(FULL if args.full else SMALL, args.keep)
    chosen = args.only.split(",") if args.only else list(table)
    unknown = [p for p in chosen if p not in table]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; the parts are {', '.join(table)}")
    host = machine()
    print("\n".join(f"{k}: {v}" for k, v in host.items()), flush=True)
    results: dict[str, object] = {"machine": host, "size": "full" if args.full else "small"}
    ok = True
    # SIGTERM stops the campaign as Ctrl+C does: the part running reports how far it got.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    for name in chosen:
        start = time.monotonic()
        stopped = False
        try:
            outcome = table[name]()
        except KeyboardInterrupt:
            stopped = True
            outcome = STARTED[-1] if STARTED else Outcome(name)
            outcome.fail("stopped before the end (SIGTERM or Ctrl+C): the counts are partial")
        seconds = time.monotonic() - start
        print(report(outcome, seconds), flush=True)
        results[name] = asdict(outcome) | {"seconds": round(seconds)}
        ok = ok and outcome.ok
        if stopped:
            break
    results["load average at end"] = os.getloadavg()
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
