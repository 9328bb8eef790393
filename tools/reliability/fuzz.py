"""Fuzzing of every parser of outside input (`tests.fuzz.targets`), two ways:

* coverage-guided with atheris (libFuzzer), one process per target started from the
  target's seeds (`python -m tools.fuzz_atheris TARGET -runs=N`); libFuzzer's closing
  `Done N runs` line gives the count, and a finding is its `crash-*` file;
* a seeded mutation fuzzer of our own (`targets.mutate`: bit flips, edge bytes, splices of
  other valid inputs, long numbers), which also runs where atheris cannot be installed.

A finding is an input that made a target raise anything but its typed error; each is
saved (hex) with the exception it raised.
"""

from __future__ import annotations

import importlib.util
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.fuzz.targets import TARGETS, check, mutate, seeds
from tools.reliability import Outcome

REPO = Path(__file__).resolve().parents[2]
PROGRESS_INPUTS = 10_000
"""Inputs are counted in steps of this many, so that progress and a stopped run show them."""
_DONE = re.compile(rb"Done (\d+) runs in (\d+) second")


def atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def run_atheris(name: str, runs: int, work: Path, outcome: Outcome) -> None:
    corpus = work / f"corpus-{name}"
    corpus.mkdir(parents=True)
    for i, data in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(data)
    artifacts = work / f"findings-{name}"
    artifacts.mkdir()
    log = work / f"atheris-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "tools.fuzz_atheris", name, f"-runs={runs}"),
                *("-max_len=8192", f"-artifact_prefix={artifacts}/", str(corpus)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            check=False,
        )
    text = log.read_bytes()
    done = _DONE.findall(text)
    count = int(done[-1][0]) if done else 0
    outcome.add(f"atheris {name} inputs", count)
    if done:
        outcome.add(f"atheris {name} seconds", int(done[-1][1]))
    for crash in sorted(artifacts.iterdir()):
        tail = text.decode(errors="replace")[-1500:]
        outcome.fail(f"atheris {name}: {crash.read_bytes().hex()[:400]}\n{tail}")
    if proc.returncode != 0 and not any(artifacts.iterdir()):
        outcome.fail(
            f"atheris {name} exited {proc.returncode}: {text[-800:].decode(errors='replace')}"
        )


def run_mutations(name: str, count: int, seed: int, outcome: Outcome) -> None:
    target = TARGETS[name]
    pool = seeds(name)
    rng = random.Random(f"mutate:{name}:{seed}")
    start = time.monotonic()
    for i in range(count):
        data = mutate(rng.choice(pool), rng, pool) if i % 8 else rng.randbytes(rng.randint(0, 64))
        try:
            check(target, data)
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            outcome.fail(
                f"mutation {name} #{i}: {type(e).__name__}: {str(e)[:200]} at "
                f"{Path(where.filename).name}:{where.lineno}; input {data.hex()[:400]}"
            )
        if (i + 1) % PROGRESS_INPUTS == 0 or i + 1 == count:
            outcome.add(f"mutation {name} inputs", (i % PROGRESS_INPUTS) + 1)
    outcome.counts[f"mutation {name} seconds"] = round(time.monotonic() - start)


def run(atheris_runs: dict[str, int], mutation_runs: dict[str, int], seed: int = 1) -> Outcome:
    outcome = Outcome("fuzzing")
    if atheris_runs and not atheris_available():
        outcome.notes.append(
            "atheris is not installed (pip install '.[campaign]'): the seeded mutation "
            "fuzzer ran alone"
        )
        atheris_runs = {}
    # The mutation fuzzer first: it needs no instrumentation, so a campaign stopped early
    # has its counts.
    for name, count in mutation_runs.items():
        run_mutations(name, count, seed, outcome)
    with tempfile.TemporaryDirectory(prefix="zkfle-fuzz-") as tmp:
        for name, runs in atheris_runs.items():
            run_atheris(name, runs, Path(tmp), outcome)
    return outcome
