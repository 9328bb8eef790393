"""`zkfle bench recording`: what recording a trace costs - the threaded election with and
without a trace file, and the simulator's CPU time with and without one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from engine.bench.harness import (
    JSON,
    TARGETS,
    Options,
    fmt_num,
    fmt_span,
    machine,
    print_machine,
    progress_log,
    ratio,
    summary,
    wait_idle,
)
from engine.bench.probe import Sample, election_rep
from engine.bench.sim import one_core
from engine.control.cluster import Cluster, ClusterOptions


def bench_recording(opts: Options, sim_elections: int = 100) -> JSON:
    """The election with and without a trace file; the simulator's CPU with and without."""
    log = progress_log(opts)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-rec-") as tmp:
        for n in opts.sizes:
            plain: list[Sample] = []
            traced: list[Sample] = []
            for rep in range(opts.reps):
                # Alternate the order so that drifting load hits both alike.
                for record in (rep % 2 == 0, rep % 2 == 1):
                    busy = wait_idle(opts.idle_threshold, opts.idle_wait_s)
                    trace = Path(tmp) / f"n{n}-{rep}.jsonl" if record else None
                    sample, _ = election_rep(n, trace=trace, within_ms=opts.within_ms, busy=busy)
                    (traced if record else plain).append(sample)
                    log(
                        f"N={n} rep={rep} {'trace' if record else 'no trace'}:"
                        f" took={sample.took_ms} stable={sample.stable_ms}"
                    )
                    if trace is not None:
                        trace.unlink(missing_ok=True)
            took_plain = summary([s.took_ms for s in plain if s.ok])
            took_traced = summary([s.took_ms for s in traced if s.ok])
            stable_plain = summary([s.stable_ms for s in plain if s.ok])
            stable_traced = summary([s.stable_ms for s in traced if s.ok])
            rows.append(
                {
                    "n": n,
                    "reps": opts.reps,
                    "took_ms": {"no_trace": took_plain, "trace": took_traced},
                    "stable_ms": {"no_trace": stable_plain, "trace": stable_traced},
                    "took_cost": cost(took_traced, took_plain),
                    "stable_cost": cost(stable_traced, stable_plain),
                }
            )
        sim = _sim_recording(Path(tmp), sim_elections)
    return {
        "bench": "recording",
        "machine": machine(),
        "threaded": rows,
        "sim": sim,
        "target_cost": TARGETS["recording_cost"],
    }


def cost(with_: JSON | None, without: JSON | None) -> float | None:
    r = ratio(with_, without)
    return None if r is None else round(r - 1.0, 3)


SIM_REPS = 5
"""Runs of the simulator's elections with and without a trace; the fastest of each counts."""


def _sim_recording(tmp: Path, elections: int) -> JSON:
    """CPU time of the same simulator elections with and without a trace file."""

    def run(record: bool) -> float:
        c0 = time.process_time()
        for i in range(elections):
            options = ClusterOptions(
                nodes=5,
                runtime="sim",
                seed=i,
                record=record,
                trace=tmp / "sim.jsonl" if record else None,
            )
            with Cluster(options) as cluster:
                cluster.start()
                cluster.wait_stable(60_000.0)
        return time.process_time() - c0

    with one_core():
        run(False)  # warm up
        times: dict[bool, list[float]] = {False: [], True: []}
        for rep in range(SIM_REPS):
            # In turn, as the threaded rows do: drifting load hits both alike (all runs
            # without a trace and then all with one put the drift into the cost).
            for record in (rep % 2 == 1, rep % 2 == 0):
                times[record].append(run(record))
        plain, traced = min(times[False]), min(times[True])
    return {
        "elections": elections,
        "cpu_s_no_trace": round(plain, 3),
        "cpu_s_trace": round(traced, 3),
        "cost": round(traced / plain - 1.0, 3) if plain else None,
    }


def print_recording(r: JSON) -> None:
    print_machine(r["machine"])
    print(f"recording: election with vs without a trace file (target < {r['target_cost']:.0%})")
    print(
        f"  {'N':>3}  {'took no trace':<24}{'took trace':<24}{'cost':>7}    "
        f"{'stable no trace':<24}{'stable trace':<24}{'cost':>7}"
    )
    for row in r["threaded"]:
        took, stable = row["took_ms"], row["stable_ms"]
        print(
            f"  {row['n']:>3}  {fmt_span(took['no_trace']):<24}{fmt_span(took['trace']):<24}"
            f"{fmt_num(row['took_cost'], '{:+.1%}'):>7}    {fmt_span(stable['no_trace']):<24}"
            f"{fmt_span(stable['trace']):<24}{fmt_num(row['stable_cost'], '{:+.1%}'):>7}"
        )
    s = r["sim"]
    print(
        f"  simulator, {s['elections']} five-node elections: {s['cpu_s_no_trace']} CPU s"
        f" without, {s['cpu_s_trace']} with a trace: {fmt_num(s['cost'], '{:+.1%}')}"
    )


__all__ = ["bench_recording"]
