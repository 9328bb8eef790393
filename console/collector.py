"""Provides the console process's settings of Python's cyclic garbage collector: what the
console holds once started is left out of it, and full collections are made rare.

Under a storm the console keeps thousands of log lines, events and plot points, and the
collector's full collections walked all of them and everything Textual made at start-up:
about 30 ms of the UI thread each, every ~25 frames, the slowest frames of a storm after
an election's burst. Objects still die by their reference counts; the young generations
are collected as before, so cycles made and dropped within a few frames still go.
"""

from __future__ import annotations

from engine.runtime import interpreter

FULL_COLLECTION_EVERY = 100
"""A full collection after this many collections of the middle generation (gc's third
threshold, 10 by default): every ~700 000 net allocations instead of ~70 000."""

_settled = False


def settle() -> None:
    """The console has started: freeze what it holds, and make full collections rare."""
    global _settled
    if not _settled:
        interpreter.collect_less(full=FULL_COLLECTION_EVERY)
        _settled = True


def restore() -> None:
    """The console is going: the collector as it was, unless something else still holds
    it (interpreter.collect_less)."""
    global _settled
    if _settled:
        interpreter.collect_as_before(full=FULL_COLLECTION_EVERY)
        _settled = False
