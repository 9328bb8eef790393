"""`zkfle check` live: a real ZooKeeper run checked against the model as it goes.

The facade feeds `LiveCheck.feed` each event its recorder hands the listeners, in seq
order - the order `zkfle check` reads the trace file in - so the incremental
zkcheck.Checker sees what it would see on the recorded trace, and `finish` at the end
makes the two agree. Each event costs one `Checker.feed` (most kinds are skipped at once);
the trace is never read again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from engine.control.modelcheck import CheckSummary, Derived
from engine.core.vote import Sid
from engine.replay.zkcheck.checker import Checker, CheckError

SHOWN_FIELDS = 6
"""Fields of the event a disagreement was found at that its line quotes."""


class LiveCheck:
    """engine.control.modelcheck.ModelCheck over zkcheck.Checker (see the module doc)."""

    def __init__(self, header: Mapping[str, Any], path: str) -> None:
        self._checker = Checker(header, path)
        self._lock = threading.Lock()
        self._summary = CheckSummary(0)

    @classmethod
    def of(cls, header: Mapping[str, Any], path: str) -> LiveCheck | None:
        """The check of a run of real servers; None for our own runtimes (nothing to check)."""
        if header.get("runtime") != "zookeeper":
            return None
        try:
            return cls(header, path)
        except CheckError:
            return None

    def feed(self, event: dict[str, Any]) -> None:
        with self._lock:
            checker = self._checker
            found = len(checker.disagreements)
            checker.feed(event)
            self._publish(found, event)

    def finish(self) -> None:
        with self._lock:
            found = len(self._checker.disagreements)
            self._checker.finish()
            self._publish(found, None, finished=True)

    def summary(self) -> CheckSummary:
        return self._summary

    def derived(self, sid: Sid) -> Derived | None:
        with self._lock:
            model = self._checker.models.get(sid)
            if model is None or not model.in_sync:
                return None  # not tracking the server (yet, or since a desync)
            fle = model.fle
            return Derived(
                fle.logicalclock,
                fle.get_vote(),
                tuple(sorted(fle.recvset.items())),
                tuple(sorted(fle.outofelection.items())),
            )

    def _publish(self, found: int, event: Mapping[str, Any] | None, finished: bool = False) -> None:
        """A new immutable summary (read without the lock by the console)."""
        checker = self._checker
        new = checker.disagreements[found:]
        lines = self._summary.disagreements
        lines += tuple(
            str(d) + (f"\n    event: {_event_text(event)}" if event else "") for d in new
        )
        self._summary = CheckSummary(checker.events, lines, finished)


def _event_text(event: Mapping[str, Any]) -> str:
    """The event a disagreement was found at, shortly (the config text left out)."""
    shown = {k: v for k, v in event.items() if k not in ("config", "seq")}
    n = shown.get("n")
    if isinstance(n, Mapping):
        shown["n"] = {k: v for k, v in n.items() if k != "config"}
    items = list(shown.items())[:SHOWN_FIELDS]
    return f"seq {event.get('seq')} " + " ".join(f"{k}={v}" for k, v in items)
