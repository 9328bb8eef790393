"""`zkfle bench verify`: re-execution speed of `zkfle verify` on a generated trace, and its
peak memory at two trace sizes.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

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
from engine.replay.verify import verify
from engine.trace.compressed import EncodedFile, encoder_for, open_trace_file
from engine.trace.format import read_trace

FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst")
"""Trace files the bench writes and verifies: plain, gzip, Zstandard."""
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
    with open_trace_file(src) as f, open(dst, "wb") as out:
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
    events: int,
    trace: Path | None = None,
    log: Callable[[str], None] = print,
    reps: int = 3,
    formats: Sequence[str] = FORMATS,
) -> JSON:
    """Re-execution speed of `verify` (`reps` times, the load noted before each), its
    peak memory on a quarter and on all of the trace, and the same trace written plain,
    gzip and Zstandard: bytes per event and verify speed of each."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise BenchError(f"unknown trace format {unknown[0]!r}: use {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-verify-") as tmp:
        t0 = time.perf_counter()
        if trace is None:
            trace = Path(tmp) / "bench.jsonl"
            log(f"verify: generating a simulator trace of >= {events} events ...")
            made = make_trace(trace, events)
            log(f"verify: {made} events written in {time.perf_counter() - t0:.1f} s")
        total = sum(1 for _ in read_trace(trace))
        if total == 0:
            raise BenchError(f"{trace} has no events: nothing to verify")
        quarter = Path(tmp) / "quarter.jsonl"
        _prefix(trace, quarter, max(total // 4, 1))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        runs = []
        for _ in range(max(reps, 1)):
            load = {"loadavg": round(os.getloadavg()[0], 2), "busy": cpu_busy()}
            runs.append({**load, **_verify_once(trace, trace_memory=False)})
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        mem_quarter = _verify_once(quarter, trace_memory=True)
        mem_full = _verify_once(trace, trace_memory=True)
        size = trace.stat().st_size
        files = [_format_row(trace, fmt, Path(tmp), total, log) for fmt in formats]
    rates = [r["events_per_s"] for r in runs]
    timed = sorted(runs, key=lambda r: r["events_per_s"] or 0)[len(runs) // 2]  # the median
    growth = None
    if mem_quarter["peak_traced_bytes"] and mem_full["peak_traced_bytes"]:
        growth = round(mem_full["peak_traced_bytes"] / mem_quarter["peak_traced_bytes"], 2)
    return {
        "bench": "verify",
        "machine": machine(),
        "events": total,
        "trace_bytes": size,
        "timed": timed,
        "reps": runs,
        "ok": all(r["ok"] for r in runs) and all(f["ok"] for f in files),
        "events_per_s": timed["events_per_s"],
        "events_per_s_span": summary(rates),
        "target_events_per_s": TARGETS["verify_events_per_s"],
        "peak_traced_bytes_quarter": mem_quarter["peak_traced_bytes"],
        "peak_traced_bytes_full": mem_full["peak_traced_bytes"],
        "memory_growth_4x_events": growth,
        "maxrss_kib_before": rss0,
        "maxrss_kib_after": rss1,
        "formats": files,
    }


def _format_row(trace: Path, fmt: str, tmp: Path, total: int, log: Callable[[str], None]) -> JSON:
    """The trace written as `fmt` (plain, gzip, Zstandard): its size, and verify on it."""
    path = trace
    if fmt != "jsonl":
        path = tmp / f"bench.{fmt}"
        t0 = time.process_time()
        _recode(trace, path)
        log(f"verify: {path.name} written in {time.process_time() - t0:.1f} CPU s")
    size = path.stat().st_size
    once = _verify_once(path, trace_memory=False)
    return {
        "format": fmt,
        "bytes": size,
        "bytes_per_event": round(size / total, 1),
        "events_per_s": once["events_per_s"],
        "ok": once["ok"] and once["events"] == total,
    }


def _recode(src: Path, dst: Path) -> None:
    """`src`'s bytes written to `dst` as a trace writer of that name would encode them."""
    with open_trace_file(src) as f, open(dst, "wb") as out:
        encoded = EncodedFile(out, encoder_for(dst))
        while chunk := f.read(1 << 20):
            encoded.write(chunk)
        encoded.finish()


def print_verify(r: JSON) -> None:
    print_machine(r["machine"])
    for i, rep in enumerate(r["reps"], 1):
        print(
            f"  rep {i}: load {rep['loadavg']}, CPUs busy {rep['busy']} before;"
            f" {rep['events_per_s']} events/s ({rep['events_per_cpu_s']} per CPU s)"
        )
    t = r["timed"]
    print(
        f"verify: {r['events']} events ({r['trace_bytes'] / 1e6:.1f} MB) re-executed in"
        f" {t['wall_s']} s (the median rep): {t['events_per_s']} events/s, median [min-max]"
        f" {fmt_span(r['events_per_s_span'])} (target {r['target_events_per_s']:.0f}/s),"
        f" {'OK' if r['ok'] else 'DIVERGED'}"
    )
    q, f = r["peak_traced_bytes_quarter"], r["peak_traced_bytes_full"]
    print(
        f"  peak Python memory (tracemalloc): {q / 1e6:.2f} MB for a quarter of the trace,"
        f" {f / 1e6:.2f} MB for all of it (x{r['memory_growth_4x_events']} for 4x the"
        f" events); max RSS {r['maxrss_kib_after'] / 1024:.0f} MiB"
    )
    for row in r["formats"]:
        print(
            f"  .{row['format']:<10} {row['bytes'] / 1e6:8.2f} MB, {row['bytes_per_event']:6.1f}"
            f" bytes/event, verify {row['events_per_s']} events/s"
            f"{'' if row['ok'] else ' DIVERGED'}"
        )


__all__ = ["bench_verify", "make_trace"]
