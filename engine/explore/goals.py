"""What `zkfle explore` searches for, and how one run is judged against it.

Every run is judged for invariant violations (the online checker's, ElectedWithin
included: in the simulator its bound is exact) and for engine errors; the other goals are
asked for: an election slower than a bound, a round above K, more notifications than N, a
leader that lacks the highest zxid, or any predicate of the command language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.vote import Sid, parse_zxid, zxid_hex
from engine.trace.elections import Timeline

VIOLATION = "violation"
ERROR = "error"
SLOWER_THAN = "slower-than"
ROUNDS_ABOVE = "rounds-above"
NOTIFICATIONS_ABOVE = "notifications-above"
STALE_LEADER = "leader-without-highest-zxid"
FIND = "find"
DIVERGENCE = "divergence"


@dataclass(frozen=True)
class Goals:
    """The goals asked for besides violations and errors (None / False: not asked)."""

    slower_than_ms: float | None = None
    rounds_above: int | None = None
    notifications_above: int | None = None
    stale_leader: bool = False
    find: str | None = None
    """A predicate of the command language, as typed."""

    def names(self) -> list[str]:
        asked = [
            (SLOWER_THAN, self.slower_than_ms is not None),
            (ROUNDS_ABOVE, self.rounds_above is not None),
            (NOTIFICATIONS_ABOVE, self.notifications_above is not None),
            (STALE_LEADER, self.stale_leader),
            (FIND, self.find is not None),
        ]
        return [VIOLATION, ERROR, *(name for name, on in asked if on)]


@dataclass(frozen=True)
class Hit:
    """One goal reached by a run: which, and what showed it."""

    goal: str
    detail: str


@dataclass(frozen=True)
class Metrics:
    """What a run measured, for the best-so-far of the progress line and the summary."""

    slowest_ms: float = 0.0
    """The longest "LEADER ELECTION TOOK" of any node in any election."""
    max_round: int = 0
    notifications: int = 0
    virtual_ms: float = 0.0

    def best(self, other: Metrics) -> Metrics:
        return Metrics(
            max(self.slowest_ms, other.slowest_ms),
            max(self.max_round, other.max_round),
            max(self.notifications, other.notifications),
            max(self.virtual_ms, other.virtual_ms),
        )


def measure(timeline: Timeline, notifications: int, virtual_ms: float) -> Metrics:
    elections = timeline.elections
    return Metrics(
        slowest_ms=max((e.slowest_ms or 0.0 for e in elections), default=0.0),
        max_round=max((e.round or 0 for e in elections), default=0),
        notifications=notifications,
        virtual_ms=virtual_ms,
    )


def judge(goals: Goals, timeline: Timeline, metrics: Metrics, stale: list[str]) -> list[Hit]:
    """The asked-for goals (but `find`, judged while the run goes) that a finished run
    reached; `stale` is what a `ZxidWatch` saw."""
    hits = []
    if goals.slower_than_ms is not None:
        for e in timeline.elections:
            if e.slowest_ms is not None and e.slowest_ms > goals.slower_than_ms:
                sid, took = max(e.took, key=lambda t: (t[1], t[0]))
                hits.append(
                    Hit(
                        SLOWER_THAN,
                        f"n{sid}'s election took {took:.0f} ms"
                        f" (> {goals.slower_than_ms:.0f} ms; leader n{e.leader})",
                    )
                )
                break
    if goals.rounds_above is not None and metrics.max_round > goals.rounds_above:
        e = next(e for e in timeline.elections if (e.round or 0) == metrics.max_round)
        hits.append(
            Hit(ROUNDS_ABOVE, f"n{e.leader} led after round {e.round} (> {goals.rounds_above})")
        )
    if goals.notifications_above is not None and metrics.notifications > goals.notifications_above:
        hits.append(
            Hit(
                NOTIFICATIONS_ABOVE,
                f"{metrics.notifications} notifications sent (> {goals.notifications_above})",
            )
        )
    if goals.stale_leader and stale:
        hits.append(Hit(STALE_LEADER, stale[0]))
    return hits


@dataclass
class ZxidWatch:
    """Recorder listener: each decision to lead taken by a participant whose last zxid is
    below another participant's (running or down: a crashed server keeps its log). Zab
    allows it - only committed transactions must survive, and a quorum has those - but it
    is where logged, uncommitted transactions are truncated away."""

    participants: frozenset[Sid]
    last_zxid: dict[Sid, int] = field(default_factory=dict)
    state: dict[Sid, str] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "boot":
            self.last_zxid[event["node"]] = parse_zxid(event["durable"]["last_zxid"])
            self.state.pop(event["node"], None)
        elif kind == "state":
            sid = event["node"]
            self.last_zxid[sid] = parse_zxid(event["last_zxid"])
            was, now = self.state.get(sid), event["state"]
            self.state[sid] = now
            if now == "LEADING" and was != "LEADING" and sid in self.participants:
                self._decided(sid, int(event["seq"]))

    def _decided(self, leader: Sid, seq: int) -> None:
        mine = self.last_zxid[leader]
        others = [(z, s) for s, z in self.last_zxid.items() if s in self.participants]
        best, sid = max(others)
        if best > mine:
            self.found.append(
                f"n{leader} decided to lead with last zxid {zxid_hex(mine)} while n{sid}"
                f" had {zxid_hex(best)} (seq {seq})"
            )
