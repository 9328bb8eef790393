"""An exploration from its runs' outcomes to its findings: the first run that reached each
goal, shrunk, saved as a script and a trace, with the commands that reproduce it.

Findings are chosen by run index, never by arrival, so the same seed finds the same
things whatever the backend and however many jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.control.predicates import CommandError
from engine.explore.goals import VIOLATION, Hit, Metrics
from engine.explore.run import Outcome, Spec, execute, prepare
from engine.explore.shrink import Lines, Test, shrink

FEWEST_NODES = 2
"""The smallest ensemble shrinking tries (a single server runs no election)."""


def hit_key(hit: Hit) -> str:
    """What a shrunk schedule must still show: the goal, and for a violation which invariant."""
    if hit.goal == VIOLATION:
        return f"{VIOLATION}:{hit.detail.split(' ', 1)[0]}"
    return hit.goal


@dataclass
class Finding:
    """A goal reached: by how many runs, the first of them, and its shrunk reproduction."""

    key: str
    first: Outcome
    hit: Hit
    runs: int = 1
    lines: tuple[str, ...] = ()
    """The shrunk script."""
    shrink_tests: int = 0
    nodes: int | None = None
    """The participants the shrunk script runs on: the exploration's, or fewer when the
    finding survives it (None with a zoo.cfg, whose servers stay)."""
    script: Path | None = None
    trace: Path | None = None
    reproduced: bool = False
    """The saved script, run and recorded once more, still reached the goal."""

    def to_json(self) -> dict[str, Any]:
        return {
            "goal": self.key,
            "detail": self.hit.detail,
            "runs": self.runs,
            "first_run": self.first.index,
            "seed": self.first.seed,
            "lines": len(self.first.lines),
            "shrunk_lines": len(self.lines),
            "nodes": self.nodes,
            "script": str(self.script) if self.script else None,
            "trace": str(self.trace) if self.trace else None,
            "reproduced": self.reproduced,
            "shrunk": list(self.lines),
        }


@dataclass
class Tally:
    """Outcomes folded as they arrive (in any order)."""

    runs: int = 0
    events: int = 0
    best: Metrics = field(default_factory=Metrics)
    findings: dict[str, Finding] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.runs += 1
        self.events += outcome.events
        self.best = self.best.best(outcome.metrics)
        for key, hit in {hit_key(h): h for h in reversed(outcome.hits)}.items():
            found = self.findings.get(key)
            if found is None:
                self.findings[key] = Finding(key, outcome, hit)
                continue
            found.runs += 1
            if outcome.index < found.first.index:
                found.first, found.hit = outcome, hit

    def ordered(self) -> list[Finding]:
        return sorted(self.findings.values(), key=lambda f: (f.first.index, f.key))


def settle(
    finding: Finding,
    spec: Spec,
    out: Path,
    shrinking: bool = True,
    on_test: Callable[[], None] | None = None,
) -> None:
    """Shrink `finding` (unless not `shrinking`): to the fewest nodes it survives, then
    its lines and options; save its script and a recorded trace of it in `out`, and check
    that the saved script still reaches the goal."""

    def test_on(on: Spec) -> Test:
        def test(lines: Lines) -> Lines | None:
            if on_test is not None:
                on_test()
            outcome = execute(on, finding.first.seed, list(lines))
            hit = any(hit_key(h) == finding.key for h in outcome.hits)
            return outcome.lines if hit else None

        return test

    finding.lines = finding.first.lines
    if shrinking:
        spec, finding.lines, tried = fewer_nodes(spec, finding.lines, test_on)
        shrunk = shrink(finding.lines, test_on(spec))
        finding.lines, finding.shrink_tests = shrunk.lines, tried + shrunk.tests
    finding.nodes = spec.nodes if spec.config_text is None else None
    out.mkdir(parents=True, exist_ok=True)
    name = finding.key.replace(":", "-")
    finding.script = out / f"{name}.fle"
    finding.trace = out / f"{name}.jsonl"
    finding.script.write_text(_script_text(finding))
    again = execute(spec, finding.first.seed, list(finding.lines), trace=finding.trace)
    finding.reproduced = any(hit_key(h) == finding.key for h in again.hits)


def fewer_nodes(
    spec: Spec, lines: Lines, test_on: Callable[[Spec], Test]
) -> tuple[Spec, Lines, int]:
    """The smallest ensemble (participants, from `FEWEST_NODES` up; the observers stay)
    on which `lines` with the same seed still reach the goal, the lines that ran there (a
    line naming a server it lacks is refused and left out) and the candidates run. A
    zoo.cfg's servers, weights and groups are kept as they are."""
    tried = 0
    if spec.config_text is None:
        for nodes in range(FEWEST_NODES, spec.nodes):
            smaller = replace(spec, nodes=nodes)
            try:
                prepare(smaller)  # a `find` predicate may name a server it lacks
            except CommandError:
                continue
            tried += 1
            ran = test_on(smaller)(lines)
            if ran is not None:
                return smaller, ran, tried
    return spec, lines, tried


def _script_text(finding: Finding) -> str:
    head = [
        f"# zkfle explore: {finding.key}",
        f"# {finding.hit.detail}",
        f"# run {finding.first.index}, seed {finding.first.seed}; shrunk from"
        f" {len(finding.first.lines)} to {len(finding.lines)} lines"
        + (f" on {finding.nodes} nodes" if finding.nodes is not None else ""),
    ]
    return "\n".join([*head, *finding.lines]) + "\n"
