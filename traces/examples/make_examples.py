"""Regenerate the example traces in this folder (run from the repository root):

    .venv/bin/python traces/examples/make_examples.py [NAME ...]

Each example is a command script run on a fresh cluster with `engine.control.cluster.Cluster`;
its trace is written to `traces/examples/<name>.jsonl` and the script to `<name>.fle`,
so that `zkfle run --sim --seed <seed> --script traces/examples/<name>.fle` repeats a
simulator example event for event. The simulator examples are deterministic (same seed,
same script, same events); `threaded_faults` records the free-running threaded runtime,
so it differs on every run - it is here to show that such a trace replays exactly.

tests/test_examples.py replays every trace here (`zkfle verify`), validates it against
traces/schema.json and exports it.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.control import commands as c  # noqa: E402
from engine.control.cluster import Cluster, ClusterOptions  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Example:
    name: str
    about: str
    script: str
    runtime: str = "sim"
    nodes: int = 5
    seed: int = 7
    tick_ms: int | None = None


EXAMPLES = (
    Example(
        "fresh_election",
        "A fresh 5-node election: everyone votes for itself, then for n5 (highest sid).",
        """
        start
        wait until stable within 10s
        mark elected
        wait until settled within 5s
        expect leader == 5
        """,
    ),
    Example(
        "leader_failover",
        "The leader crashes after two writes; the others elect the most up-to-date one;"
        " the old leader restarts and follows.",
        """
        start
        wait until stable within 10s
        write 2
        mark before crash
        crash leader
        wait until stable within 10s
        mark after failover
        expect leader == 4
        restart 5
        wait until settled within 10s
        expect leader == 4
        """,
    ),
    Example(
        "minority_partition",
        "The leader ends up in a minority: the majority elects n3; the minority loses its"
        " quorum and keeps LOOKING until the partition heals, then joins n3.",
        """
        start
        wait until stable within 10s
        mark partition
        partition 4,5|1,2,3
        wait until n3.state == LEADING and n3.established within 10s
        expect n5.state == LOOKING and n4.state == LOOKING
        wait 2s
        mark heal
        heal
        wait until settled within 30s
        expect leader == 3
        """,
    ),
    Example(
        "late_joiner",
        "ZOOKEEPER-975: n1..n3 elect n3; n4 and n5 start later. They would win a fresh"
        " election but join the established leader through its FOLLOWING/LEADING replies.",
        """
        start 1,2,3
        wait until stable within 10s
        mark late joiners
        start 4,5
        wait until settled within 10s
        expect leader == 3
        """,
    ),
    Example(
        "lossy_links",
        "20% loss, 10% duplication and jittered delays on every link: elections take"
        " retries and notification back-off, and still converge.",
        """
        loss * 20%
        dup * 10%
        delay * 5ms jitter=3ms
        start
        wait until stable within 30s
        mark elected
        crash leader
        wait until stable within 30s
        heal
        wait 1s
        """,
    ),
    Example(
        "threaded_faults",
        "Real threads on the wall clock (tick 50 ms): an election, an isolated leader, a"
        " paused follower, a timed partition, a crash and restart. Not deterministic, yet it replays"
        " exactly.",
        """
        start
        wait until stable within 10s
        mark isolate
        isolate leader
        wait until leaders == 1 and looking == 1 within 10s
        heal
        wait until settled within 20s
        pause 2
        wait 100ms
        resume 2
        partition 1,2|3,4,5 for=500ms
        crash 1
        restart 1
        wait until settled within 20s
        """,
        runtime="threaded",
        tick_ms=50,
    ),
)


def script_lines(example: Example) -> list[str]:
    return [line.strip() for line in example.script.strip().splitlines() if line.strip()]


def make(example: Example, directory: Path = HERE) -> Path:
    """Run one example and write its trace (and script); raises if a check fails."""
    lines = script_lines(example)
    script = directory / f"{example.name}.fle"
    run = ["zkfle run", "--sim" if example.runtime == "sim" else "", f"--seed {example.seed}"]
    run += [f"--tick {example.tick_ms}" if example.tick_ms else ""]
    run += [f"--script {script.relative_to(ROOT) if script.is_relative_to(ROOT) else script}"]
    about = textwrap.wrap(example.about, 88)
    header = [f"# {line}" for line in about] + ["# " + " ".join(w for w in run if w)]
    script.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    parsed = c.parse_script(script.read_text(encoding="utf-8"), str(script))
    path = directory / f"{example.name}.jsonl"
    options = ClusterOptions(
        nodes=example.nodes,
        runtime=example.runtime,
        seed=example.seed,
        tick_ms=example.tick_ms,
        trace=path,
        label=example.name,
    )
    with Cluster(options) as cluster:
        for line in parsed:
            result = cluster.run(line.command)
            if not result.ok:
                raise RuntimeError(f"{script}:{line.line}: {line.command.text}: {result.text}")
    return path


def main(argv: list[str]) -> int:
    wanted = set(argv) if argv else {e.name for e in EXAMPLES}
    for example in EXAMPLES:
        if example.name in wanted:
            path = make(example)
            print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
