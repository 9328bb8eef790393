"""`zkfle bench explore`: exploration throughput in runs/s per core, and its scaling from
one local process to several, measured in one run on the same runs (same seeds), next to
the machine's own ceiling: how far a loop that shares nothing scales on the same cores.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from engine.bench.harness import JSON, cpu_busy, machine, print_machine
from engine.explore import backends
from engine.explore.run import Spec, prepare


def _cpu_s() -> float:
    """CPU time of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


CEILING_S = 1.5
"""How long the reference loop runs alone, and then on every process at once."""


def _loop(n: int) -> float:
    """A pure-Python loop that shares nothing (integer arithmetic, stores in a small dict);
    its wall time in seconds."""
    t0 = time.perf_counter()
    table: dict[int, int] = {}
    total = 0
    for i in range(n):
        total += i * i % 7
        table[i & 1023] = total
    return time.perf_counter() - t0


def _loop_after(n: int, ready: Barrier, walls: Queue[float]) -> None:
    ready.wait()  # every process starts together
    walls.put(_loop(n))


def ceiling(jobs: int, seconds: float = CEILING_S) -> float:
    """How many times one process's throughput `jobs` processes of `_loop` reach together:
    the most any CPU-bound work can scale to on these cores now (cores shared by the host,
    clock boost with one core busy, other load all show in it)."""
    n = max(1, round(100_000 * seconds / _loop(100_000)))
    alone = _loop(n)
    context: Any = multiprocessing.get_context(backends.start_method())  # stubs lack Process
    ready, walls = context.Barrier(jobs + 1), context.Queue()
    workers = [context.Process(target=_loop_after, args=(n, ready, walls)) for _ in range(jobs)]
    for w in workers:
        w.start()
    ready.wait()
    longest: float = max(walls.get() for _ in workers)
    for w in workers:
        w.join()
    return round(jobs * alone / longest, 2)


def bench_explore(runs: int, nodes: int, jobs: Sequence[int], seed: int = 0) -> JSON:
    """The same `runs` explored runs with each number of local processes in `jobs`."""
    spec = Spec(nodes=nodes, seed=seed)
    sids = prepare(spec)
    rows: list[JSON] = []
    baseline = None
    identical = True
    for j in jobs:
        most = ceiling(j) if j > 1 else 1.0
        busy = cpu_busy()
        load = os.getloadavg()[0]
        cpu0, t0 = _cpu_s(), time.perf_counter()
        outcomes = sorted(backends.local(spec, range(runs), sids, j), key=lambda o: o.index)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        if baseline is None:
            baseline = outcomes
        identical = identical and outcomes == baseline
        rate = runs / wall
        rows.append(
            {
                "jobs": j,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "runs_per_s": round(rate, 2),
                "runs_per_s_per_core": round(rate / j, 2),
                "runs_per_cpu_s": round(runs / cpu, 2) if cpu else None,
                "ceiling": most,
                "load_avg_1m_before": round(load, 2),
                "cpu_busy_before": None if busy is None else round(busy, 2),
            }
        )
    for row in rows:
        row["scaling"] = round(row["runs_per_s"] / rows[0]["runs_per_s"], 2)
    return {
        "bench": "explore",
        "machine": machine(),
        "nodes": nodes,
        "runs": runs,
        "seed": seed,
        "steps": spec.steps,
        "start_method": backends.start_method(),
        "identical_outcomes": identical,
        "rows": rows,
    }


def print_explore(r: JSON) -> None:
    print_machine(r["machine"])
    print(
        f"explore: {r['runs']} runs of {r['nodes']} nodes, {r['steps']} steps, seed {r['seed']},"
        f" workers {r['start_method']}ed; outcomes identical for every job count:"
        f" {r['identical_outcomes']}"
    )
    print("  jobs  wall s  runs/s  per core  runs/CPU s  scaling  ceiling  load before")
    for row in r["rows"]:
        print(
            f"  {row['jobs']:>4}  {row['wall_s']:>6}  {row['runs_per_s']:>6}"
            f"  {row['runs_per_s_per_core']:>8}  {row['runs_per_cpu_s']!s:>10}"
            f"  {row['scaling']:>6}x  {row['ceiling']:>6}x  {row['load_avg_1m_before']}"
        )
    print(
        "  (ceiling: how far a pure-Python loop that shares nothing scales on these cores,"
        " measured just before)"
    )


__all__ = ["bench_explore"]
