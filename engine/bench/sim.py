"""`zkfle bench sim`: five-node elections in the simulator, pinned to one core."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from engine.bench.harness import (
    JSON,
    TARGETS,
    BenchError,
    cpu_busy,
    fmt_span,
    machine,
    print_machine,
    summary,
)
from engine.control.cluster import Cluster, ClusterOptions


@contextlib.contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this process to one CPU for the duration (where the OS allows it)."""
    try:
        before = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        yield None
        return
    cpu = max(before)
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield None
        return
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def bench_sim(seconds: float, nodes: int = 5, seed0: int = 0, reps: int = 3) -> JSON:
    """Five-node elections (fresh cluster, start -> stable) in the simulator on one core:
    `reps` runs of `seconds` each, the same seeds in each, the load noted before each."""
    runs = []
    with one_core() as cpu:
        for _ in range(max(reps, 1)):
            load = {"loadavg": round(os.getloadavg()[0], 2), "busy": cpu_busy()}
            runs.append({**load, **_sim_run(seconds, nodes, seed0)})
    count = sum(r["elections"] for r in runs)
    build, run, close = (sum(r[k] for r in runs) for k in ("build_s", "run_s", "close_s"))
    cpu_total = sum(r["cpu_s"] for r in runs)
    if cpu_total <= 0 or run <= 0:
        raise BenchError("sim: the process's CPU time did not move: cannot measure here")
    events = sum(r["events"] for r in runs)
    return {
        "bench": "sim",
        "machine": machine(),
        "pinned_cpu": cpu,
        "nodes": nodes,
        "reps": [
            {
                "loadavg": r["loadavg"],
                "busy": r["busy"],
                "elections": r["elections"],
                "elections_per_cpu_s": round(r["elections"] / r["cpu_s"], 1),
            }
            for r in runs
        ],
        "per_cpu_s": summary([r["elections"] / r["cpu_s"] for r in runs]),
        "elections": count,
        "failed": sum(r["failed"] for r in runs),
        "wall_s": round(sum(r["wall_s"] for r in runs), 3),
        "cpu_s": round(cpu_total, 3),
        "elections_per_s": round(count / sum(r["wall_s"] for r in runs), 1),
        "elections_per_cpu_s": round(count / cpu_total, 1),
        "election_only_per_cpu_s": round(count / run, 1),
        "cpu_ms_per_election": {
            "build": round(build / count * 1e3, 3),
            "start_to_stable": round(run / count * 1e3, 3),
            "close": round(close / count * 1e3, 3),
        },
        "events_per_election": round(events / count, 1),
        "events_per_cpu_s": round(events / run),
        "virtual_ms": summary([v for r in runs for v in r["virtual"]]),
        "target_per_s": TARGETS["sim_elections_per_s"],
    }


def _sim_run(seconds: float, nodes: int, seed0: int) -> JSON:
    """Elections with seeds seed0, seed0 + 1, ... for `seconds` of wall time (at least one)."""
    count = events = failed = 0
    build_cpu = run_cpu = close_cpu = 0.0
    virtual: list[float] = []
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() - wall0 < seconds or count == 0:
        c0 = time.process_time()
        cluster = Cluster(
            ClusterOptions(nodes=nodes, runtime="sim", seed=seed0 + count, record=False)
        )
        c1 = time.process_time()
        try:
            t0 = cluster.host.now()
            cluster.start()
            ok = cluster.wait_stable(60_000.0)
            virtual.append(cluster.host.now() - t0)
            failed += not ok
            events += cluster.recorder.seq
        finally:
            c2 = time.process_time()
            cluster.close()
        c3 = time.process_time()
        build_cpu += c1 - c0
        run_cpu += c2 - c1
        close_cpu += c3 - c2
        count += 1
    return {
        "elections": count,
        "failed": failed,
        "events": events,
        "virtual": virtual,
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time() - cpu0,
        "build_s": build_cpu,
        "run_s": run_cpu,
        "close_s": close_cpu,
    }


def print_sim(r: JSON) -> None:
    print_machine(r["machine"])
    per = r["cpu_ms_per_election"]
    print(
        f"sim: {r['elections']} {r['nodes']}-node elections in {r['wall_s']} s on CPU"
        f" {r['pinned_cpu']} ({r['failed']} failed)"
    )
    for i, rep in enumerate(r["reps"], 1):
        print(
            f"  rep {i}: load {rep['loadavg']}, CPUs busy {rep['busy']} before;"
            f" {rep['elections']} elections, {rep['elections_per_cpu_s']}/CPU s"
        )
    print(
        f"  per CPU second: median [min-max] {fmt_span(r['per_cpu_s'])} over {len(r['reps'])} reps"
    )
    print(
        f"  {r['elections_per_s']}/s wall, {r['elections_per_cpu_s']}/s per CPU second"
        f" (target {r['target_per_s']:.0f}/s); start->stable alone"
        f" {r['election_only_per_cpu_s']}/CPU s"
    )
    print(
        f"  CPU per election: build {per['build']} ms, start->stable {per['start_to_stable']}"
        f" ms, close {per['close']} ms; {r['events_per_election']} events each,"
        f" {r['events_per_cpu_s']} events/CPU s; virtual time {fmt_span(r['virtual_ms'])} ms"
    )


__all__ = ["bench_sim"]
