"""What the scan gathers: per file its streams (a file, or one wrapper prefix in it) with
the evidence of which server wrote them, the causes of each server's sends, and the
counts per source of events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.vote import Sid

VoteKey = tuple[int, str, int, int]
"""(leader, zxid, round, peer epoch) of a LOOKING notification."""


@dataclass(slots=True)
class Causes:
    """What a server logged, in its current election, that makes it broadcast: the
    election's start, and the first notification carrying each vote and each round."""

    election_ms: float | None = None
    by_vote: dict[VoteKey, float] = field(default_factory=dict)
    by_round: dict[int, float] = field(default_factory=dict)

    def election(self, ms: float) -> None:
        self.election_ms = ms
        self.by_vote.clear()
        self.by_round.clear()

    def heard(self, key: VoteKey, ms: float) -> None:
        self.by_vote.setdefault(key, ms)
        self.by_round.setdefault(key[2], ms)

    def of(self, sid: Sid, key: VoteKey, loopback_ms: float) -> float:
        """When `sid` decided to send `key` (at the latest at its loopback copy): our own
        vote at the election's start, or in a later round when a notification of that
        round arrived; another's vote when we first heard it (others echoing our own vote
        are no cause)."""
        if key[0] == sid:
            found = [self.election_ms, self.by_round.get(key[2])]
        else:
            found = [self.by_vote.get(key)]
        return max((t for t in found if t is not None and t <= loopback_ms), default=loopback_ms)


@dataclass(slots=True)
class Stream:
    """One file, or one wrapper prefix within a file: evidence gathered by the scan."""

    prefix: str
    explicit: Counter[int] = field(default_factory=Counter)
    """Ids the lines carry themselves ([myid:N], myid=N in the thread name)."""
    stated: Counter[int] = field(default_factory=Counter)
    """Ids the messages state (My id = N, (sid, myid) pairs, ...)."""
    threads: dict[str, Counter[int]] = field(default_factory=dict)
    first_recv: dict[tuple[Sid, Sid, VoteKey], float] = field(default_factory=dict)
    """(receiver, sender, vote) -> when the vote was first logged received (LOOKING only)."""
    first_sent: dict[tuple[Sid, VoteKey], float] = field(default_factory=dict)
    """(sender, vote) -> when the sender first sent it."""
    causes: dict[Sid, Causes] = field(default_factory=dict)
    settings: dict[str, set[int]] = field(default_factory=dict)
    observing: set[int | None] = field(default_factory=set)
    """Line ids of lines saying OBSERVING."""
    # what the scan decided
    sid: Sid | None = None
    id_from: str = ""
    by_thread: dict[str, Sid] = field(default_factory=dict)

    def server(self, line_id: int | None) -> Sid | None:
        return line_id if line_id is not None else self.sid

    @property
    def provisional(self) -> Sid | None:
        """The server the stream's lines seem to be from so far (during the scan)."""
        for ids in (self.explicit, self.stated):
            if len(ids) == 1:
                return next(iter(ids))
        return None


@dataclass(slots=True)
class LogFile:
    path: Path
    shown: str
    """The name the summary and `src` use: the path as given (directories joined)."""
    directory: str | None = None
    """The directory named on the command line that this file was found in."""
    lines: int = 0
    untimed: int = 0
    note: str = ""
    streams: dict[str, Stream] = field(default_factory=dict)


Source = tuple[Any, ...]
"""Where events wait to be placed: ("sid", N) for lines naming server N, ("stream", file,
prefix, thread or None) for the others."""


@dataclass(slots=True)
class Tally:
    """Counts of one source (a thread of a stream, or a server named by its lines)."""

    events: int = 0
    """Records, one line each."""
    unknown: int = 0
    continuation: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    """Recognised facts by kind."""
    formats: Counter[str] = field(default_factory=Counter)
    files: dict[str, None] = field(default_factory=dict)
    first_ms: float = float("inf")
    example: str = ""

    def add(self, other: Tally) -> None:
        """Count `other` too (the same source in another file)."""
        self.events += other.events
        self.unknown += other.unknown
        self.continuation += other.continuation
        self.kinds.update(other.kinds)
        self.formats.update(other.formats)
        self.files.update(other.files)
        self.first_ms = min(self.first_ms, other.first_ms)
        self.example = min(self.example, other.example) if self.example else other.example


def keep_first(table: dict[Any, float], key: Any, ms: float) -> None:
    old = table.get(key)
    if old is None or ms < old:
        table[key] = ms
