"""The ancestors a trace replays first: the parent a forked trace or a later part of a
rotated one names, up to the seq it continues from, oldest first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.replay.cores import ReplayError
from engine.trace.format import Event, Trace, TraceError, read_trace


def resolve_parent(child: str | os.PathLike[str], parent: object) -> tuple[Path, int]:
    """The parent file and seq a forked trace's header names (relative paths are tried
    as written, then next to the child)."""
    if not isinstance(parent, Mapping) or not isinstance(parent.get("seq"), int):
        raise ReplayError(child, 1, f"the header's parent is not {{trace, seq}}: {parent!r}")
    name = parent.get("trace")
    if not isinstance(name, str) or not name:
        raise ReplayError(child, 1, "the header's parent names no trace file")
    candidate = Path(name)
    if not candidate.exists() and not candidate.is_absolute():
        beside = Path(child).parent / candidate.name
        if beside.exists():
            candidate = beside
    if not candidate.exists():
        raise ReplayError(
            child,
            1,
            f"this trace was forked from {name} at seq {parent['seq']}, which is not found:"
            " replaying a fork needs its parent",
        )
    return candidate, int(parent["seq"])


def open_trace(path: str | os.PathLike[str]) -> Trace:
    try:
        return read_trace(path)
    except TraceError as e:
        raise ReplayError.of(e) from None


def parent_prefix(path: str | os.PathLike[str], header: Mapping[str, Any]) -> Iterator[Event]:
    """The events that precede a forked trace, or a part of a rotated one: its ancestors'
    up to the fork points, oldest first (a long session's parts may be many)."""
    chain: list[tuple[Path, Trace, int]] = []
    seen = {Path(path).resolve()}
    child, head = Path(path), header
    while (parent := head.get("parent")) is not None:
        ppath, pseq = resolve_parent(child, parent)
        if ppath.resolve() in seen:
            raise ReplayError(child, 1, f"the parents of {path} form a cycle at {ppath}")
        seen.add(ppath.resolve())
        ptrace = open_trace(ppath)
        if ptrace.header["cluster"]["config"] != head["cluster"]["config"]:
            raise ReplayError(child, 1, f"the parent {ppath} has another cluster config")
        chain.append((ppath, ptrace, pseq))
        child, head = ppath, ptrace.header
    for ppath, ptrace, pseq in reversed(chain):
        last = 0
        try:
            for event in ptrace.events(1, pseq):
                last = event["seq"]
                yield event
        except TraceError as e:
            raise ReplayError.of(e) from None
        if last < pseq:
            raise ReplayError(path, 1, f"the parent {ppath} ends at seq {last}, before seq {pseq}")


__all__ = ["resolve_parent"]
