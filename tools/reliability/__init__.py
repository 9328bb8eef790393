"""The parts of the reliability campaign (`python -m tools.campaign`), one module per item:
fuzzing, kill -9 crash consistency, TCP abuse, leaks, chaos. Each part's `run` returns an
`Outcome`: what was done, the counts, and every failure with what it needs to be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """One part of the campaign, as RELIABILITY.md reports it."""

    item: str
    counts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def add(self, what: str, n: int = 1) -> None:
        """Count `n` more of `what`."""
        self.counts[what] = self.counts.get(what, 0) + n

    def fail(self, text: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(text)
