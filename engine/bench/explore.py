"""`zkfle bench explore`: exploration throughput in runs/s per core, and its scaling from
one local process to several, measured in one run on the same runs (same seeds), next to
the machine's own ceilings: how far a loop that shares nothing scales on the same cores,
and how far the same runs do in independent processes side by side.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Iterable, Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from engine.bench.harness import JSON, cpu_busy, machine, print_machine
from engine.explore import backends
from engine.explore.run import Outcome, Spec, prepare


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


def _apart(
    spec: Spec, indices: Sequence[int], sids: list[int], ready: Barrier, out: Queue[Any]
) -> None:
    """One of `apart`'s processes: its share of the runs as `zkfle explore --jobs 1` runs
    them, and when each ended."""
    ready.wait()
    t0, cpu0 = time.monotonic(), time.process_time()
    outcomes, ends = [], []
    for outcome in backends.local(spec, indices, sids, 1):
        outcomes.append(outcome)
        ends.append(time.monotonic())
    out.put((t0, ends, time.process_time() - cpu0, outcomes))


def apart(spec: Spec, runs: int, sids: list[int], jobs: int) -> tuple[float, float, list[Outcome]]:
    """The share-nothing ceiling of this workload: `jobs` independent interpreters
    (spawned, so not even pages are shared), each exploring every `jobs`-th run in its
    own process, started together. Returns their runs/s while all of them ran (each
    one's runs ended before the first of them finished, over its time), their runs per
    CPU second, and the outcomes."""
    context: Any = multiprocessing.get_context("spawn")  # stubs lack Process
    ready, out = context.Barrier(jobs + 1), context.Queue()
    workers = [
        context.Process(target=_apart, args=(spec, range(k, runs, jobs), sids, ready, out))
        for k in range(jobs)
    ]
    for w in workers:
        w.start()
    ready.wait()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    first_done = min(ends[-1] for _, ends, _, _ in results if ends)
    rate = sum(
        sum(end <= first_done for end in ends) / (first_done - t0)
        for t0, ends, _, _ in results
        if first_done > t0
    )
    cpu = sum(cpu for _, _, cpu, _ in results)
    outcomes = [o for *_, done in results for o in done]
    return rate, runs / cpu if cpu else 0.0, outcomes


def _stolen_and_busy() -> tuple[int, int, int] | None:
    """All CPUs' time so far in ticks: stolen by the hypervisor, busy, in all (/proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = ticks[7] if len(ticks) > 7 else 0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return steal, sum(ticks) - idle - steal, sum(ticks)


def _ordered(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: o.index)


def bench_explore(runs: int, nodes: int, jobs: Sequence[int], seed: int = 0) -> JSON:
    """The same `runs` explored runs with each number of local processes in `jobs`."""
    spec = Spec(nodes=nodes, seed=seed)
    sids = prepare(spec)
    rows: list[JSON] = []
    baseline = None
    identical = True
    hz = os.sysconf("SC_CLK_TCK")
    for j in jobs:
        most = ceiling(j) if j > 1 else 1.0
        busy = cpu_busy()
        load = os.getloadavg()[0]
        ticks0 = _stolen_and_busy()
        cpu0, t0 = _cpu_s(), time.perf_counter()
        outcomes = _ordered(backends.local(spec, range(runs), sids, j))
        wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        ticks1 = _stolen_and_busy()
        if baseline is None:
            baseline = outcomes
        identical = identical and outcomes == baseline
        rate = runs / wall
        if j > 1:
            apart_rate, apart_per_cpu, done = apart(spec, runs, sids, j)
            identical = identical and _ordered(done) == baseline
        else:
            apart_rate, apart_per_cpu = rate, runs / cpu if cpu else 0.0
        stolen = others = None
        if ticks0 is not None and ticks1 is not None and ticks1[2] > ticks0[2]:
            steal, used, total = (b - a for a, b in zip(ticks0, ticks1, strict=True))
            stolen = round(100 * steal / total, 1)
            others = round(max(0.0, used / hz - cpu), 2)
        rows.append(
            {
                "jobs": j,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "runs_per_s": round(rate, 2),
                "runs_per_s_per_core": round(rate / j, 2),
                "runs_per_cpu_s": round(runs / cpu, 2) if cpu else None,
                "ceiling": most,
                "apart_runs_per_s": round(apart_rate, 2),
                "apart_runs_per_cpu_s": round(apart_per_cpu, 2),
                "steal_pct": stolen,
                "others_cpu_s": others,
                "load_avg_1m_before": round(load, 2),
                "cpu_busy_before": None if busy is None else round(busy, 2),
            }
        )
    for row in rows:
        row["scaling"] = round(row["runs_per_s"] / rows[0]["runs_per_s"], 2)
        row["apart"] = round(row["apart_runs_per_s"] / rows[0]["runs_per_s"], 2)
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
    print(
        "  jobs  wall s  runs/s  per core  runs/CPU s  scaling  ceiling    apart  (runs/CPU s)"
        "  steal  others CPU s  load before"
    )
    for row in r["rows"]:
        print(
            f"  {row['jobs']:>4}  {row['wall_s']:>6}  {row['runs_per_s']:>6}"
            f"  {row['runs_per_s_per_core']:>8}  {row['runs_per_cpu_s']!s:>10}"
            f"  {row['scaling']:>6}x  {row['ceiling']:>6}x  {row['apart']:>6}x"
            f"  ({row['apart_runs_per_cpu_s']:>10})  {_pct(row['steal_pct']):>5}"
            f"  {row['others_cpu_s']!s:>12}  {row['load_avg_1m_before']}"
        )
    print(
        "  (ceiling: how far a pure-Python loop that shares nothing scales on these cores,"
        " measured just before;\n   apart: the same runs in as many independent processes"
        " side by side, measured just after, with their runs per CPU second;\n   steal: the"
        " share of the CPUs' time the hypervisor took during the row; others CPU s: CPU time"
        " that was not the bench's)"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value}%"


__all__ = ["bench_explore"]
