"""`zkfle verify` of whole processes, two builds side by side (issue 13, target 1):
`python -m tools.verify_side_by_side [--pairs 5] ZKFLE_A:TRACE_A ZKFLE_B:TRACE_B`.

Each pair runs A then B (B then A on odd pairs, so that drifting load hits both alike),
after one warm-up of each; it prints the load before every run, each run's wall and CPU
time (user + system of the child, start-up included) and events per second, then for each
build the median [min-max] and the ratio B/A of events per second, pair by pair. A run
that does not verify OK (exit status 0) stops the comparison with its output.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

_EVENTS = re.compile(r"OK - (\d+) events re-executed(?: \(after (\d+) events of its parent\))?")


def run_once(zkfle: str, trace: str, extra: list[str]) -> dict[str, float]:
    """One `zkfle verify TRACE`: wall and CPU seconds and events per second of each."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [zkfle, "verify", trace, *extra], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = _EVENTS.search(done.stdout)
    if done.returncode != 0 or m is None:
        sys.exit(f"{zkfle} verify {trace}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    events = int(m[1]) + int(m[2] or 0)
    return {"wall": wall, "cpu": cpu, "eps_wall": events / wall, "eps_cpu": events / cpu}


def span(values: list[float], fmt: str = ",.0f") -> str:
    return (
        f"{format(statistics.median(values), fmt)}"
        f" [{format(min(values), fmt)}-{format(max(values), fmt)}]"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("builds", nargs=2, metavar="ZKFLE:TRACE")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--extra", default="", help="more arguments for both, like '--jobs 1'")
    args = p.parse_args()
    builds = [(b.rsplit(":", 1)[0], b.rsplit(":", 1)[-1]) for b in args.builds]
    extra = args.extra.split()
    print(f"machine: {os.cpu_count()} CPUs, {os.uname().release}, Python {sys.version.split()[0]}")
    for zkfle, trace in builds:
        run_once(zkfle, trace, extra)  # warm-up: the page cache, the file system
    runs: list[list[dict[str, float]]] = [[], []]
    for pair in range(args.pairs):
        order = (0, 1) if pair % 2 == 0 else (1, 0)
        for i in order:
            load = os.getloadavg()[0]
            zkfle, trace = builds[i]
            r = run_once(zkfle, trace, extra)
            runs[i].append(r)
            print(
                f"pair {pair + 1} {'AB'[i]}: load {load:.2f} before; wall {r['wall']:.2f} s,"
                f" CPU {r['cpu']:.2f} s; {r['eps_wall']:,.0f} events/s,"
                f" {r['eps_cpu']:,.0f} per CPU s",
                flush=True,
            )
    for i, (zkfle, trace) in enumerate(builds):
        rs = runs[i]
        print(
            f"{'AB'[i]} {zkfle} verify {trace}: wall {span([r['wall'] for r in rs], '.2f')} s,"
            f" CPU {span([r['cpu'] for r in rs], '.2f')} s; events/s"
            f" {span([r['eps_wall'] for r in rs])}, per CPU s {span([r['eps_cpu'] for r in rs])}"
        )
    for key, what in (("eps_wall", "events/s (wall)"), ("eps_cpu", "events per CPU s")):
        ratios = [b[key] / a[key] for a, b in zip(runs[0], runs[1], strict=True)]
        print(f"B/A {what}: {span(ratios, '.2f')}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
