"""One explored run: a schedule on a fresh simulated cluster, judged against the goals.

A run executes its lines as `zkfle run --sim --seed S --script F` does, so what it finds
is reproduced by that command on the lines it reports (`Outcome.lines`): a line the
cluster refused (`restart 2` while n2 runs) changed nothing and is left out, and with a
`find` goal the line during which the predicate came to hold becomes a
`wait until ... within` that stops where the run stopped, followed by `expect PRED`.

Everything here is a picklable value or a function of values, so runs go to other
processes and machines (engine.explore.backends) and come back the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.control import commands as c
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.predicates import Predicate, parse_predicate
from engine.control.values import show_ms
from engine.explore.goals import (
    DIVERGENCE,
    ERROR,
    FIND,
    VIOLATION,
    Goals,
    Hit,
    Metrics,
    ZxidWatch,
    judge,
    measure,
)
from engine.explore.schedule import MIXES, Nemesis
from engine.replay.cores import ReplayError
from engine.replay.verify import verify

ENGINE_FAILURES = re.compile(r": internal error: |: the simulation stopped: ")
"""How Cluster.run reports an exception of the engine, or a simulation that cannot go on."""
TAIL = ("reset", "wait until stable within 2m")
"""Every schedule ends healed and waits for a leader: ElectedWithin judges how long it
took (its bound is at most 2 × 8 s + k × 60 s of back-off, 2 minutes for k = 1 ... and
beyond that the wait ends and the invariant still says so)."""


@dataclass(frozen=True)
class Spec:
    """What every run of one exploration shares."""

    nodes: int = 5
    observers: int = 0
    config_text: str | None = None
    """A zoo.cfg's text (sent to workers, which may not see the user's files)."""
    tick_ms: int | None = None
    init_limit: int | None = None
    sync_limit: int | None = None
    seed: int = 0
    steps: int = 12
    goals: Goals = field(default_factory=Goals)
    verify: bool = False
    """Record every run's trace and re-execute it as `zkfle verify` does."""


@dataclass(frozen=True)
class Outcome:
    """What one run did and found."""

    index: int
    seed: int
    lines: tuple[str, ...]
    """The lines that ran (see the module docstring): the reproducing script."""
    hits: tuple[Hit, ...]
    metrics: Metrics
    events: int = 0


def run_seed(base: int, index: int) -> int:
    """Run `index`'s seed: a stable 31-bit number from the exploration's seed (never `hash()`)."""
    digest = hashlib.sha256(f"explore:{base}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def prepare(spec: Spec) -> list[int]:
    """The cluster's sids, once its options and the `find` predicate are known good: the
    errors (ConfigError, CommandError, ...) name what is wrong."""
    with _cluster(spec, 0, None) as cluster:
        if spec.goals.find is not None:
            parse_predicate(spec.goals.find).check(cluster.view())
        return cluster.sids


def schedule(spec: Spec, seed: int, sids: list[int]) -> list[str]:
    """The run's script: random lines from the seed, then `TAIL`."""
    nemesis = Nemesis(sids, random.Random(f"explore:{seed}"), MIXES["explore"])
    return [*nemesis.script(spec.steps), *TAIL]


def explore_one(spec: Spec, index: int, sids: list[int]) -> Outcome:
    """Run number `index` of the exploration."""
    seed = run_seed(spec.seed, index)
    lines = schedule(spec, seed, sids)
    try:
        return execute(spec, seed, lines, index)
    except Exception as e:  # an engine bug outside a command is a finding too
        return Outcome(
            index, seed, tuple(lines), (Hit(ERROR, f"{type(e).__name__}: {e}"),), Metrics()
        )


def execute(
    spec: Spec, seed: int, lines: list[str], index: int = 0, trace: Path | None = None
) -> Outcome:
    """Run `lines` on a fresh cluster seeded `seed` and judge it; with `trace`, record
    there (and keep the file). With `spec.verify` the run is recorded (in a temporary
    file unless `trace`) and re-executed."""
    if spec.verify and trace is None:
        with tempfile.TemporaryDirectory(prefix="zkfle-explore-") as tmp:
            return _execute(spec, seed, lines, index, Path(tmp) / "run.jsonl")
    return _execute(spec, seed, lines, index, trace)


def _execute(spec: Spec, seed: int, lines: list[str], index: int, trace: Path | None) -> Outcome:
    find = parse_predicate(spec.goals.find) if spec.goals.find is not None else None
    ran: list[str] = []
    hits: list[Hit] = []
    with _cluster(spec, seed, trace) as cluster:
        voters = (n.sid for n in cluster.view().nodes if n.learner_type == "participant")
        watch = ZxidWatch(frozenset(voters))
        cluster.recorder.listeners.append(watch)
        for text in lines:
            command = _watched(c.parse(text), find)
            result = cluster.run(command, command.text)
            if ENGINE_FAILURES.search(result.text):
                ran.append(text)
                hits.append(Hit(ERROR, result.text.splitlines()[0]))
                break
            kept = result.ok or result.failed_check
            if kept:
                ran.append(text)
            if find is not None and find.evaluate(cluster.view()):
                if kept:
                    ran[-1] = command.text
                ran.append(f"expect {find.describe()}")
                hits.append(Hit(FIND, f"{find.describe()} held at {cluster.host.now():.0f} ms"))
                break
        view = cluster.view()
        metrics = measure(cluster.timeline(), view.messages.sent, cluster.host.now())
        hits += [Hit(VIOLATION, str(v)) for v in cluster.violations]
        hits += judge(spec.goals, cluster.timeline(), metrics, watch.found)
        events = cluster.recorder.seq
    if spec.verify and trace is not None and not any(h.goal == ERROR for h in hits):
        problem = verify_problem(trace)
        if problem is not None:
            hits.append(Hit(DIVERGENCE, problem))
    return Outcome(index, seed, tuple(ran), tuple(hits), metrics, events)


def _watched(command: c.Command, find: Predicate | None) -> c.Command:
    """With a `find` predicate, a line that lets time pass stops as soon as it holds: the
    same run up to that instant (the simulator does not look at what is waited for)."""
    if find is None:
        return command
    if isinstance(command, c.Wait):
        return c.parse(f"wait until {find.describe()} within {show_ms(command.ms)}")
    if isinstance(command, c.WaitUntil):
        waited, wanted = command.predicate.describe(), find.describe()
        if waited == wanted or waited.endswith(f" or {wanted}"):
            return command  # stops when it holds already (a finding's own last wait)
        either = f"({waited}) or ({wanted})"
        return c.parse(f"wait until {either} within {show_ms(command.within_ms)}")
    return command


def verify_problem(trace: Path) -> str | None:
    """What `zkfle verify` finds wrong with `trace`, or None when it re-executes exactly."""
    try:
        outcome = verify(trace)
    except ReplayError as e:
        return f"unreadable trace: {e}"
    if outcome.divergence is not None:
        d = outcome.divergence
        return f"diverges at seq {d.seq} on n{d.node}:\n{d.report()}"
    if not outcome.complete:
        return "the trace has no footer"
    return None


@contextlib.contextmanager
def _cluster(spec: Spec, seed: int, trace: Path | None) -> Iterator[Cluster]:
    """The cluster `zkfle run --sim --seed SEED` builds from the same options."""
    with contextlib.ExitStack() as stack:
        config = None
        if spec.config_text is not None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="zkfle-explore-"))
            config = Path(tmp) / "zoo.cfg"
            config.write_text(spec.config_text)
        cluster = Cluster(
            ClusterOptions(
                nodes=spec.nodes,
                observers=spec.observers,
                config=config,
                runtime="sim",
                seed=seed,
                tick_ms=spec.tick_ms,
                init_limit=spec.init_limit,
                sync_limit=spec.sync_limit,
                trace=trace,
                record=trace is not None,
                label="explore",
            )
        )
        stack.callback(cluster.close)
        yield cluster
