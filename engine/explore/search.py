"""An exploration from its runs' outcomes to its findings: the first run that reached each
goal, shrunk, saved as a script and a trace, with the commands that reproduce it.

Findings are chosen by run index, never by arrival, so the same seed finds the same
things whatever the backend and however many jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.explore.goals import VIOLATION, Hit, Metrics
from engine.explore.run import Outcome, Spec, execute
from engine.explore.shrink import shrink


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
    """Shrink `finding` (unless not `shrinking`), save its script and a recorded trace of
    it in `out`, and check that the saved script still reaches the goal."""

    def test(lines: tuple[str, ...]) -> tuple[str, ...] | None:
        if on_test is not None:
            on_test()
        outcome = execute(spec, finding.first.seed, list(lines))
        return outcome.lines if any(hit_key(h) == finding.key for h in outcome.hits) else None

    finding.lines = finding.first.lines
    if shrinking:
        shrunk = shrink(finding.first.lines, test)
        finding.lines, finding.shrink_tests = shrunk.lines, shrunk.tests
    out.mkdir(parents=True, exist_ok=True)
    name = finding.key.replace(":", "-")
    finding.script = out / f"{name}.fle"
    finding.trace = out / f"{name}.jsonl"
    finding.script.write_text(_script_text(finding))
    again = execute(spec, finding.first.seed, list(finding.lines), trace=finding.trace)
    finding.reproduced = any(hit_key(h) == finding.key for h in again.hits)


def _script_text(finding: Finding) -> str:
    head = [
        f"# zkfle explore: {finding.key}",
        f"# {finding.hit.detail}",
        f"# run {finding.first.index}, seed {finding.first.seed}; shrunk from"
        f" {len(finding.first.lines)} to {len(finding.lines)} lines",
    ]
    return "\n".join([*head, *finding.lines]) + "\n"
