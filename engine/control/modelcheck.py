"""What the facade asks of a model check that follows a live run: the header's `check`
lamp, the `check` command, the count `status` and `zkfle run --json` report, and what a
real server's view does not show, filled from its model (`shadowed`).

A real ZooKeeper run (`--runtime zookeeper`) is checked against the election model as it
goes (engine.replay.livecheck, `zkfle check` fed one event at a time); the facade sits a
floor below it, so it holds the check through this protocol, made by the front end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from engine.core.view import NodeView
from engine.core.vote import Sid, Vote


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """The check so far: events read, and each disagreement in `zkfle check`'s words with
    the event it was found at."""

    events: int
    disagreements: tuple[str, ...] = ()
    finished: bool = False
    """The run ended and waits the check held open were settled (`zkfle check` agrees)."""

    @property
    def ok(self) -> bool:
        return not self.disagreements

    @property
    def lamp(self) -> str:
        """What the header says: `ok (N events)` or `K disagreement(s)`."""
        if self.ok:
            return f"ok ({self.events} events)"
        return f"{len(self.disagreements)} disagreement(s)"

    def text(self) -> str:
        """The `check` command's answer."""
        if self.ok:
            return f"check: no disagreement with the model ({self.events} events)"
        lines = [f"check: {self.lamp} with the model ({self.events} events)"]
        return "\n".join(lines + list(self.disagreements))

    def json(self) -> dict[str, Any]:
        return {"events": self.events, "disagreements": list(self.disagreements)}


@dataclass(frozen=True, slots=True)
class Derived:
    """A real server's election state as the model that tracks it has it (the shadow
    engine): what ZooKeeper keeps inside lookForLeader and never shows."""

    logicalclock: int
    proposal: Vote
    recvset: tuple[tuple[Sid, Vote], ...]
    outofelection: tuple[tuple[Sid, Vote], ...]


class ModelCheck(Protocol):
    """Fed every event of the run, in seq order (a recorder listener)."""

    def feed(self, event: dict[str, Any]) -> None: ...

    def finish(self) -> None:
        """The run ended: settle what was held open."""
        ...

    def summary(self) -> CheckSummary:
        """Cheap: read by the console every frame."""
        ...

    def derived(self, sid: Sid) -> Derived | None:
        """Server `sid`'s election state from its model, while the model tracks it."""
        ...


MakeCheck = Callable[[Mapping[str, Any], str], ModelCheck | None]
"""Builds the check of a run from its trace header and name (None: nothing to check)."""


SHADOWED = frozenset({"recvset", "outofelection", "proposal", "logicalclock"})
"""What the shadow engine can give of a real server's election (NodeView.derived)."""


def shadowed(n: NodeView, check: ModelCheck) -> NodeView:
    """A real server's view with what its model derives in place of what it does not show
    (marked in `derived`); unchanged while the model does not track the server."""
    missing = n.unknown & SHADOWED
    if not n.alive or not missing:
        return n
    d = check.derived(n.sid)
    if d is None:
        return n
    values: dict[str, Any] = {
        "recvset": d.recvset,
        "outofelection": d.outofelection,
        "proposal": d.proposal,
        "logicalclock": d.logicalclock,
    }
    filled = {name: values[name] for name in missing}
    return replace(n, unknown=n.unknown - missing, derived=missing, **filled)
