"""`zkfle bench import`: `zkfle import` of 1 GiB of ZooKeeper logs, `zkfle check` of the
trace it makes, and `zkfle explain` of the same logs (DESIGN §6: import and explain < 60 s
with flat memory, check >= 50,000 events/s; issue 16: one live election explained in
< 100 ms).

The logs are generated from the real ZooKeeper 3.8 capture in tests/data/zklogs (five
servers: an election, a quorum loss with back-off, a recovery): its lines again and again,
each copy a day later, so every line is a line ZooKeeper wrote. Import and check run in
child processes, so their peak resident memory is their own (the largest of the processes,
import's workers included); memory is flat when importing a quarter of the logs peaks
about as high as importing all of them.
"""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "zklogs" / "3.8-quorum-loss"
"""The real logs the generated ones repeat."""
TARGET_IMPORT_S = 60.0
TARGET_CHECK_EVENTS_PER_S = 50_000
TARGET_EXPLAIN_S = 60.0
TARGET_LIVE_EXPLAIN_MS = 100.0
LIVE_REPS = 21
"""Explanations of one live election timed (the median and the slowest are reported)."""


def generate(directory: Path, size: int, sample: Path = SAMPLE) -> tuple[int, int]:
    """Write about `size` bytes of logs, one file per server of `sample`; (bytes, lines)."""
    logs = sorted(sample.glob("node*/zookeeper.log.gz"))
    texts = []
    for path in logs:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts.append(f.read().splitlines(keepends=True))
    one = sum(len(line) for text in texts for line in text)
    copies = max(1, size // one)
    first = date.fromisoformat(texts[0][0][:10])
    written = lines = 0
    directory.mkdir(parents=True, exist_ok=True)
    for log, text in zip(logs, texts, strict=True):
        stamped = [(line[:10] == first.isoformat(), line[10:], line) for line in text]
        with open(directory / f"{log.parent.name}.log", "w", encoding="utf-8") as out:
            for k in range(copies):
                day = (first + timedelta(days=k)).isoformat()
                chunk = "".join(day + rest if dated else line for dated, rest, line in stamped)
                out.write(chunk)
                written += len(chunk)
                lines += len(stamped)
    return written, lines


_TRAMPOLINE = """
import resource, sys
from console.cli import main
status = main(sys.argv[1:])
peak = max(resource.getrusage(who).ru_maxrss for who in
           (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
sys.stderr.write(f"\\npeak-rss-kib {peak}\\n")
sys.exit(status)
"""
"""Runs zkfle and reports the peak RSS of it and of its workers (the largest of them)."""


def _child(argv: list[str]) -> tuple[float, float, int, str]:
    """Run `zkfle ARGV` in a child process: (wall s, CPU s of it and its workers, the peak
    RSS in KiB of the largest of them, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _TRAMPOLINE, *argv], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise RuntimeError(f"zkfle {' '.join(argv)} failed: {done.stderr.strip()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak = int(done.stderr.rsplit("peak-rss-kib ", 1)[1])
    return wall, cpu, peak, done.stdout


def bench_import(gib: float, logs: Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Import (a quarter, then all of) the logs; check the trace."""
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-import-") as tmp:
        root = Path(tmp)
        runs = []
        explains: list[dict[str, Any]] = []
        for part in (0.25, 1.0):
            if logs is not None and part < 1.0:
                continue
            source = logs
            if source is None:
                source = root / f"logs-{part}"
                t0 = time.perf_counter()
                size, lines = generate(source, int(gib * part * (1 << 30)))
                took = time.perf_counter() - t0
                log(f"import: generated {size / 1e6:.0f} MB, {lines} lines in {took:.1f} s")
            else:
                size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
            trace = root / f"trace-{part}.jsonl"
            wall, cpu, peak, out = _child(["import", str(source), "--trace", str(trace), "--json"])
            summary = orjson.loads(out)
            log(f"import: {size / 1e6:.0f} MB in {wall:.1f} s, peak RSS {peak / 1024:.0f} MiB")
            runs.append({"part": part, "bytes": size, "lines": summary["lines"],
                         "events": summary["events"], "wall_s": round(wall, 2),
                         "cpu_s": round(cpu, 2),
                         "mb_per_s": round(size / 1e6 / wall, 1),
                         "peak_rss_mib": round(peak / 1024)})  # fmt: skip
            wall, cpu, peak, out = _child(["explain", str(source), "--json"])
            outages = len(orjson.loads(out)["outages"])
            log(f"explain: {size / 1e6:.0f} MB, {outages} outages in {wall:.1f} s")
            explains.append({"part": part, "bytes": size, "outages": outages,
                             "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                             "peak_rss_mib": round(peak / 1024)})  # fmt: skip
            if source != logs:
                for p in source.iterdir():
                    p.unlink()
        wall, cpu, peak, out = _child(["check", str(trace), "--json"])
        report = orjson.loads(out)
        log(f"check: {report['events']} events in {wall:.1f} s")
        trace_bytes = trace.stat().st_size
    full, whole = runs[-1], explains[-1]
    live = bench_live_explain(log)
    return {
        "bench": "import",
        "cpus": os.cpu_count(),
        "import": runs,
        "import_target_s_per_gib": TARGET_IMPORT_S,
        "import_s_per_gib": round(full["wall_s"] / (full["bytes"] / (1 << 30)), 1),
        "memory_growth_4x_logs": (
            round(full["peak_rss_mib"] / runs[0]["peak_rss_mib"], 2) if len(runs) > 1 else None
        ),
        "trace_bytes": trace_bytes,
        "check": {
            "events": report["events"],
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "events_per_s": round(report["events"] / wall),
            "events_per_s_in_process": report["events_per_s"],
            "disagreements": len(report["disagreements"]),
            "peak_rss_mib": round(peak / 1024),
        },
        "check_target_events_per_s": TARGET_CHECK_EVENTS_PER_S,
        "explain": explains,
        "explain_target_s_per_gib": TARGET_EXPLAIN_S,
        "explain_s_per_gib": round(whole["wall_s"] / (whole["bytes"] / (1 << 30)), 1),
        "explain_memory_growth_4x_logs": (
            round(whole["peak_rss_mib"] / explains[0]["peak_rss_mib"], 2)
            if len(explains) > 1
            else None
        ),
        "live_explain": live,
        "live_explain_target_ms": TARGET_LIVE_EXPLAIN_MS,
    }


def bench_live_explain(log: Callable[[str], None]) -> dict[str, Any]:
    """Explain one live election as the console does (Enter on the timeline): a simulated
    five-node cluster whose leader crashes, its failover's outage explained LIVE_REPS
    times from the events the cluster keeps."""
    from engine.control.cluster import Cluster, ClusterOptions  # only needed here

    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=7, record=False)) as cluster:
        for line in ("start", "wait until stable within 5s", "crash leader"):
            cluster.execute(line)
        cluster.execute("wait until stable within 5s")
        election = cluster.timeline().elections[-1]
        times = []
        for _ in range(LIVE_REPS):
            t0 = time.perf_counter()
            x = cluster.explain(election)
            times.append((time.perf_counter() - t0) * 1000)
        assert x is not None
    times.sort()
    median = times[len(times) // 2]
    log(f"explain: one live election in {median:.1f} ms (median of {LIVE_REPS})")
    return {"median_ms": round(median, 2), "max_ms": round(times[-1], 2),
            "phases": len(x.phases), "wall_ms": round(x.wall_ms, 1)}  # fmt: skip


def print_import(r: dict[str, Any]) -> None:
    for run in r["import"]:
        print(
            f"import: {run['bytes'] / 1e6:.0f} MB ({run['lines']} lines, {run['events']} events)"
            f" in {run['wall_s']} s ({run['cpu_s']} CPU s) = {run['mb_per_s']} MB/s;"
            f" peak RSS {run['peak_rss_mib']} MiB"
        )
    print(
        f"  {r['import_s_per_gib']} s per GiB (target {r['import_target_s_per_gib']:.0f});"
        f" peak memory x{r['memory_growth_4x_logs']} for 4x the logs; {r['cpus']} CPUs"
    )
    for run in r["explain"]:
        print(
            f"explain: {run['bytes'] / 1e6:.0f} MB of logs, {run['outages']} outages in"
            f" {run['wall_s']} s ({run['cpu_s']} CPU s); peak RSS {run['peak_rss_mib']} MiB"
        )
    print(
        f"  {r['explain_s_per_gib']} s per GiB (target {r['explain_target_s_per_gib']:.0f});"
        f" peak memory x{r['explain_memory_growth_4x_logs']} for 4x the logs"
    )
    live = r["live_explain"]
    print(
        f"explain of one live election (simulator, 5 nodes, failover): {live['median_ms']} ms"
        f" median, {live['max_ms']} ms slowest of {LIVE_REPS} (target"
        f" {r['live_explain_target_ms']:.0f} ms)"
    )
    c = r["check"]
    print(
        f"check: {c['events']} events in {c['wall_s']} s ({c['cpu_s']} CPU s) ="
        f" {c['events_per_s']} events/s with"
        f" start-up ({c['events_per_s_in_process']} in the check itself; target"
        f" {r['check_target_events_per_s']}), {c['disagreements']} disagreements,"
        f" peak RSS {c['peak_rss_mib']} MiB"
    )
