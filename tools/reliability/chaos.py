"""Chaos on the threaded runtime: tests/chaos.py's runs (nemesis, cross-node checks,
liveness after the heal), every trace re-executed on one thread as `zkfle verify` does.

The runs cycle through topologies and nemesis mixes; run i of a (topology, mix) pair has
the seed `derive_seed(mix, topology, "threaded", steps, i)`, so a failure prints the
command that repeats it (`python -m tests.chaos ... --threaded`). A run spends most of its
time waiting on the wall clock, so `workers` processes run them side by side.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from tests.chaos import TOPOLOGIES, chaos_run
from tools.reliability import Outcome

PLAN = [
    ("three", "default"),
    ("five", "default"),
    ("five", "network"),
    ("seven", "node"),
    ("five", "history"),
    ("three+2obs", "default"),
    ("four", "network"),
    ("five+1obs", "node"),
]
"""(topology, mix) pairs taken in turn."""


def one_run(i: int, steps: int, keep: Path | None) -> tuple[str, str, bool, str | None]:
    """Run i of the plan: (topology, mix, whether its trace verified, failure report). The
    trace of a failed run is copied into `keep`."""
    topology, mix = PLAN[i % len(PLAN)]
    with tempfile.TemporaryDirectory(prefix="zkfle-chaos-") as tmp:
        result = chaos_run(
            TOPOLOGIES[topology], i // len(PLAN), mix, steps, "threaded", Path(tmp), True
        )
        if not result.ok and keep is not None and result.trace is not None:
            keep.mkdir(parents=True, exist_ok=True)
            result.trace = str(shutil.copy(result.trace, keep))
    verified = result.replay is None and result.trace is not None
    return topology, mix, verified, None if result.ok else result.report()


def run(count: int, steps: int = 12, workers: int = 1, keep: Path | None = None) -> Outcome:
    outcome = Outcome("threaded chaos")
    # Worker processes start from a fresh server, not a fork of this (maybe threaded) one.
    pool = ProcessPoolExecutor(workers, get_context("forkserver")) if workers > 1 else None
    each = pool.map if pool is not None else map
    try:
        for topology, mix, verified, failure in each(
            one_run, range(count), [steps] * count, [keep] * count
        ):
            outcome.add("threaded chaos runs")
            outcome.add(f"runs {topology}/{mix}")
            if verified:
                outcome.add("threaded traces verified")
            if failure is not None:
                outcome.fail(failure)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)  # stopped early: runs not started never start
    return outcome
