"""The parts of the reliability campaign (`python -m tools.campaign`), one module per item:
fuzzing, kill -9 crash consistency, TCP abuse, leaks, chaos. Each part's `run` returns an
`Outcome`: what was done, the counts, and every failure with what it needs to be reproduced.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

PROGRESS_EVERY_S = 60.0
"""How often a part prints its counts while it runs (stderr): a campaign stopped early
still says how far it got, and every failure is printed when it happens."""


STARTED: list[Outcome] = []
"""Every Outcome of this process, in order: what a campaign stopped early reports."""


@dataclass
class Outcome:
    """One part of the campaign, as RELIABILITY.md reports it."""

    item: str
    counts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_progress = time.monotonic()
        self.lock = threading.Lock()
        """Parts may count from several threads."""
        self.failed = 0
        """Failures reported, all of them (`failures` keeps the first 50)."""
        STARTED.append(self)

    @property
    def ok(self) -> bool:
        return not self.failures

    def add(self, what: str, n: int = 1) -> None:
        """Count `n` more of `what`."""
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n
            now = time.monotonic()
            if now - self.last_progress >= PROGRESS_EVERY_S:
                self.last_progress = now
                print(f"progress: {self.item}: {self.counts}", file=sys.stderr, flush=True)

    def fail(self, text: str) -> None:
        print(f"failure: {self.item}: {text}", file=sys.stderr, flush=True)
        with self.lock:
            self.failed += 1
            if len(self.failures) < 50:
                self.failures.append(text)
