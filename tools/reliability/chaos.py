"""Chaos on the threaded runtime: tests/chaos.py's runs (nemesis, cross-node checks,
liveness after the heal), every trace re-executed on one thread as `zkfle verify` does.

The runs cycle through topologies and nemesis mixes; run i of a (topology, mix) pair has
the seed `derive_seed(mix, topology, "threaded", steps, i)`, so a failure prints the
command that repeats it (`python -m tests.chaos ... --threaded`).
"""

from __future__ import annotations

import tempfile
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


def run(count: int, steps: int = 12) -> Outcome:
    outcome = Outcome("threaded chaos")
    with tempfile.TemporaryDirectory(prefix="zkfle-chaos-") as tmp:
        for i in range(count):
            topology, mix = PLAN[i % len(PLAN)]
            work = Path(tmp) / f"run-{i}"
            work.mkdir()
            result = chaos_run(
                TOPOLOGIES[topology], i // len(PLAN), mix, steps, "threaded", work, True
            )
            outcome.add("threaded chaos runs")
            outcome.add(f"runs {topology}/{mix}")
            if result.replay is None and result.trace is not None:
                outcome.add("threaded traces verified")
            if not result.ok:
                outcome.fail(result.report())
            for trace in work.glob("*.jsonl"):
                trace.unlink()
    return outcome
