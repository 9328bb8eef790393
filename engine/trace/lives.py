"""Who is down and who is paused at a seq of a trace, from its events: one definition for
the replayed cluster (engine.replay.state) and the console's sequence diagram.

A node's life is told by `boot` (it runs) and `stop` (it is down: crashed or stopped), and
while it runs by `pause` and `resume` (trace 1.3). Before 1.3 a pause shows only in the
`snapshot` after the command, and a timed resume (`pause N for=...`) only at the node's next
`step`: a paused node consumes no input, so one that steps runs. A snapshot says nothing of
who is alive (on threads it is taken a little before it is numbered, so a boot or a crash
may sit between the two), except of a node whose life no event has told yet: a window that
begins mid-run, or a fork, which starts with a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.vote import Sid


@dataclass(frozen=True, slots=True)
class Life:
    alive: bool
    paused: bool = False

    @property
    def down(self) -> bool:
        """Not running: not started, crashed or paused."""
        return not self.alive or self.paused


DOWN = Life(False)
RUNNING = Life(True)

KINDS = frozenset({"boot", "stop", "step", "pause", "resume", "snapshot"})
"""The kinds of event that may change a node's life."""

LifeOf = Callable[[Sid], Life | None]
"""A node's life before an event; None when no event has told it yet."""


def life_changes(e: Mapping[str, Any], life_of: LifeOf) -> list[tuple[Sid, Life]]:
    """The nodes whose life event `e` changes, each with its life after it (a `boot` and
    a `stop` always: each begins a new life). An odd event (missing fields) changes none."""
    kind = e.get("kind")
    node = _sid(e.get("node"))
    if kind == "snapshot":
        return _snapshot(e, life_of)
    if node is None:
        return []
    if kind == "boot":
        return [(node, RUNNING)]
    if kind == "stop":
        return [(node, DOWN)]
    life = life_of(node)
    if kind == "step" and life is not None and life.paused:
        return [(node, RUNNING)]  # before trace 1.3, a timed resume shows only so
    if kind in ("pause", "resume") and life is not None and life.alive:
        paused = kind == "pause"
        return [(node, Life(True, paused))] if life.paused != paused else []
    return []


def lives_after(events: Iterable[Mapping[str, Any]], lives: dict[Sid, Life]) -> dict[Sid, Life]:
    """`lives` (updated in place) once `events` have happened."""
    for e in events:
        lives.update(life_changes(e, lives.get))
    return lives


def _paused_flags(e: Mapping[str, Any]) -> dict[Sid, bool]:
    """Whether each node a `snapshot` names running was paused."""
    nodes = e.get("nodes")
    flags: dict[Sid, bool] = {}
    for summary in nodes if isinstance(nodes, list) else ():
        if isinstance(summary, Mapping) and summary.get("alive") is True:
            sid = _sid(summary.get("sid"))
            if sid is not None:
                flags[sid] = summary.get("paused") is True
    return flags


def _snapshot(e: Mapping[str, Any], life_of: LifeOf) -> list[tuple[Sid, Life]]:
    changes = []
    for sid, paused in _paused_flags(e).items():
        life = life_of(sid)
        if life is None or (life.alive and life.paused != paused):
            changes.append((sid, Life(True, paused)))
    return changes


def _sid(value: Any) -> Sid | None:
    return value if type(value) is int else None
