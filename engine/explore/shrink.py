"""Delta debugging (Zeller's ddmin) over a finding's script: the fewest lines, and the
fewest options on them, with which the run still reaches the same goal.

Lines are the inputs that do not depend on the seed: the seed stays, so the simulator's
choices (message timing, `random` picks) stay the ones the finding was made with. A
candidate is judged by running it; what it ran (refused lines left out, a `find` run cut
where the predicate held) is what the next step shrinks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Lines = tuple[str, ...]
Test = Callable[[Lines], Lines | None]
"""Run a candidate: the lines that ran if it still reaches the goal, else None."""

OPTION = re.compile(r" (?:for|jitter)=\S+")
"""Options a fault line works without: how long it lasts, how much delay varies."""


@dataclass
class Shrunk:
    lines: Lines
    tests: int
    """Candidates run."""


def shrink(lines: Sequence[str], test: Test, max_tests: int = 400) -> Shrunk:
    """ddmin over `lines` (known to reach the goal), then each option left out in turn;
    at most `max_tests` candidates run."""
    budget = _Budget(test, max_tests)
    best = ddmin(tuple(lines), budget)
    for i in range(len(best)):
        for option in OPTION.findall(best[i] if i < len(best) else ""):
            candidate = (*best[:i], best[i].replace(option, "", 1), *best[i + 1 :])
            best = smaller(budget(candidate), best) or best
    return Shrunk(best, budget.used)


def ddmin(lines: Lines, test: Test) -> Lines:
    """A 1-minimal sub-list of `lines` that still passes `test`: removing any one of its
    lines loses the goal (Zeller & Hildebrandt, "Simplifying and Isolating
    Failure-Inducing Input", 2002). What a candidate ran replaces the lines only if it is
    smaller (a `find` run adds its `expect` line): every step shrinks, so it ends."""
    n = 2
    while len(lines) >= 2:
        size = -(-len(lines) // n)
        chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
        for i, chunk in enumerate(chunks):
            ran = smaller(test(chunk), lines)
            if ran is not None:
                lines, n = ran, 2
                break
            complement = tuple(x for j, c in enumerate(chunks) if j != i for x in c)
            ran = smaller(test(complement), lines)
            if ran is not None:
                lines, n = ran, max(n - 1, 2)
                break
        else:
            if n >= len(lines):
                break
            n = min(len(lines), 2 * n)
    return lines


def smaller(ran: Lines | None, than: Lines) -> Lines | None:
    """`ran` if it has fewer lines than `than`, or as many and fewer characters."""
    if ran is None:
        return None
    return ran if (len(ran), sum(map(len, ran))) < (len(than), sum(map(len, than))) else None


class _Budget:
    """`test`, answering None once `max_tests` candidates have run, and each candidate once."""

    def __init__(self, test: Test, max_tests: int) -> None:
        self.test = test
        self.left = max_tests
        self.used = 0
        self.seen: dict[Lines, Lines | None] = {}

    def __call__(self, lines: Lines) -> Lines | None:
        if lines not in self.seen:
            if self.left <= 0:
                return None
            self.left -= 1
            self.used += 1
            self.seen[lines] = self.test(lines)
        return self.seen[lines]
