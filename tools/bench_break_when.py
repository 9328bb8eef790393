"""Events per CPU second of simulated runs with and without a `break when` set (issue 14):
`python -m tools.bench_break_when [PREDICATE] [RUNS]`, PREDICATE "" for none. Each run is a
five-node simulator cluster (seeds 0..RUNS-1, not recorded) that elects, loses its leader
twice and restarts; the predicate must stay false, so the whole run is judged."""

from __future__ import annotations

import sys
import time

from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.state import rebuild

SCRIPT = (
    "wait 20s",
    "crash leader",
    "wait 20s",
    "restart all",
    "wait 20s",
    "crash leader",
    "wait 20s",
)


def run(predicate: str, seed: int) -> tuple[int, float]:
    """Events recorded after `start` and the CPU seconds they took."""
    options = ClusterOptions(nodes=5, runtime="sim", seed=seed, record=False, shadow=rebuild)
    with Cluster(options) as cluster:
        if predicate:
            answer = cluster.execute(f"break when {predicate}")
            if not answer.ok:
                raise SystemExit(answer.text)
        cluster.execute("start")
        first = cluster.recorder.seq
        t0 = time.process_time()
        for line in SCRIPT:
            answer = cluster.execute(line)
            if not answer.ok or "stopped" in answer.text:
                raise SystemExit(f"seed {seed}: {line}: {answer.text}")
        return cluster.recorder.seq - first, time.process_time() - t0


def main(argv: list[str]) -> None:
    predicate = argv[0] if argv else ""
    runs = int(argv[1]) if len(argv) > 1 else 5
    events, cpu = 0, 0.0
    for seed in range(runs):
        e, t = run(predicate, seed)
        events, cpu = events + e, cpu + t
    label = f"break when {predicate}" if predicate else "no break"
    print(
        f"{label}: {runs} runs, {events} events, {cpu:.2f} CPU s, {events / cpu:,.0f} events/CPU s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
