"""`zkfle bench verify`: re-execution speed of `zkfle verify` on a generated trace, and its
peak memory at two trace sizes.
"""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from engine.bench.harness import JSON, TARGETS, machine, print_machine
from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.verify import verify
from engine.trace.format import read_trace

_WORKLOAD = (
    "crash leader",
    "wait until stable within 10s",
    "write 3",
    "restart all",
    "wait until settled within 10s",
)


def make_trace(path: Path, events: int, nodes: int = 5, seed: int = 1) -> int:
    """A simulator trace of at least `events` events: elections, crashes, writes, restarts."""
    options = ClusterOptions(nodes=nodes, runtime="sim", seed=seed, trace=path, label="bench")
    with Cluster(options) as cluster:
        cluster.execute("start")
        cluster.execute("wait until settled within 10s")
        i = 0
        while cluster.recorder.seq < events:
            cluster.execute(_WORKLOAD[i % len(_WORKLOAD)])
            i += 1
        return cluster.recorder.seq + 1  # and the footer


def _prefix(src: Path, dst: Path, events: int) -> None:
    """The header and the first `events` events of a trace (no footer: a cut-off run)."""
    with open(src, "rb") as f, open(dst, "wb") as out:
        for i, line in enumerate(f):
            if i > events:
                break
            out.write(line)


def _verify_once(path: Path, trace_memory: bool) -> JSON:
    if trace_memory:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    result = verify(path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = None
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "events": result.events,
        "ok": result.ok,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(result.events / wall) if wall else None,
        "events_per_cpu_s": round(result.events / cpu) if cpu else None,
        "peak_traced_bytes": peak,
    }


def bench_verify(
    events: int, trace: Path | None = None, log: Callable[[str], None] = print
) -> JSON:
    """Re-execution speed of `verify`, and its peak memory on a quarter and on all of it."""
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-verify-") as tmp:
        t0 = time.perf_counter()
        if trace is None:
            trace = Path(tmp) / "bench.jsonl"
            log(f"verify: generating a simulator trace of >= {events} events ...")
            made = make_trace(trace, events)
            log(f"verify: {made} events written in {time.perf_counter() - t0:.1f} s")
        total = sum(1 for _ in read_trace(trace))
        quarter = Path(tmp) / "quarter.jsonl"
        _prefix(trace, quarter, max(total // 4, 1))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timed = _verify_once(trace, trace_memory=False)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        mem_quarter = _verify_once(quarter, trace_memory=True)
        mem_full = _verify_once(trace, trace_memory=True)
        size = trace.stat().st_size
    growth = None
    if mem_quarter["peak_traced_bytes"] and mem_full["peak_traced_bytes"]:
        growth = round(mem_full["peak_traced_bytes"] / mem_quarter["peak_traced_bytes"], 2)
    return {
        "bench": "verify",
        "machine": machine(),
        "events": total,
        "trace_bytes": size,
        "timed": timed,
        "events_per_s": timed["events_per_s"],
        "target_events_per_s": TARGETS["verify_events_per_s"],
        "peak_traced_bytes_quarter": mem_quarter["peak_traced_bytes"],
        "peak_traced_bytes_full": mem_full["peak_traced_bytes"],
        "memory_growth_4x_events": growth,
        "maxrss_kib_before": rss0,
        "maxrss_kib_after": rss1,
    }


def print_verify(r: JSON) -> None:
    print_machine(r["machine"])
    t = r["timed"]
    print(
        f"verify: {r['events']} events ({r['trace_bytes'] / 1e6:.1f} MB) re-executed in"
        f" {t['wall_s']} s: {t['events_per_s']} events/s"
        f" ({t['events_per_cpu_s']} per CPU s; target {r['target_events_per_s']:.0f}/s),"
        f" {'OK' if t['ok'] else 'DIVERGED'}"
    )
    q, f = r["peak_traced_bytes_quarter"], r["peak_traced_bytes_full"]
    print(
        f"  peak Python memory (tracemalloc): {q / 1e6:.2f} MB for a quarter of the trace,"
        f" {f / 1e6:.2f} MB for all of it (x{r['memory_growth_4x_events']} for 4x the"
        f" events); max RSS {r['maxrss_kib_after'] / 1024:.0f} MiB"
    )


__all__ = ["bench_verify", "make_trace"]
