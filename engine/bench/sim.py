"""`zkfle bench sim`: five-node elections in the simulator, pinned to one core."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from engine.bench.harness import JSON, TARGETS, fmt_span, machine, print_machine, summary
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


def bench_sim(seconds: float, nodes: int = 5, seed0: int = 0) -> JSON:
    """Five-node elections (fresh cluster, start -> stable) in the simulator on one core."""
    count = 0
    events = 0
    build_cpu = run_cpu = close_cpu = 0.0
    virtual: list[float] = []
    failed = 0
    with one_core() as cpu:
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
        wall = time.perf_counter() - wall0
        cpu_total = time.process_time() - cpu0
    return {
        "bench": "sim",
        "machine": machine(),
        "pinned_cpu": cpu,
        "nodes": nodes,
        "elections": count,
        "failed": failed,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu_total, 3),
        "elections_per_s": round(count / wall, 1),
        "elections_per_cpu_s": round(count / cpu_total, 1) if cpu_total else None,
        "election_only_per_cpu_s": round(count / run_cpu, 1) if run_cpu else None,
        "cpu_ms_per_election": {
            "build": round(build_cpu / count * 1e3, 3),
            "start_to_stable": round(run_cpu / count * 1e3, 3),
            "close": round(close_cpu / count * 1e3, 3),
        },
        "events_per_election": round(events / count, 1),
        "events_per_cpu_s": round(events / run_cpu) if run_cpu else None,
        "virtual_ms": summary(virtual),
        "target_per_s": TARGETS["sim_elections_per_s"],
    }


def print_sim(r: JSON) -> None:
    print_machine(r["machine"])
    per = r["cpu_ms_per_election"]
    print(
        f"sim: {r['elections']} {r['nodes']}-node elections in {r['wall_s']} s on CPU"
        f" {r['pinned_cpu']} ({r['failed']} failed)"
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
