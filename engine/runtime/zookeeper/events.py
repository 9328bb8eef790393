"""What the proxy reports and counts: its events, link depths and statistics, its planes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.vote import Sid

HOST = "127.0.0.1"
ELECTION = "election"
QUORUM = "quorum"
PLANES = (ELECTION, QUORUM)
PAYLOAD_HEX = 64
"""How many bytes of an undecodable thing an event shows (as hex)."""


class ProxyError(Exception):
    """The proxy cannot do what was asked (ports, a stopped proxy); the message says why."""


@dataclass(frozen=True, slots=True)
class ProxyEvent:
    """One thing the proxy saw, in the trace's event form (`kind`, `node`, the event's own
    `fields`), stamped with the real time it happened: `t_mono` (time.monotonic(), s) and
    `wall` (time.time(), s since the epoch)."""

    kind: str
    node: Sid | None
    fields: dict[str, Any]
    t_mono: float
    wall: float


@dataclass(frozen=True, slots=True)
class LinkDepth:
    """What the proxy keeps on one directed link: election frames held by a `hold` and
    waiting out a `delay`/`reorder`, quorum bytes stalled by a `hold`, bytes written but not
    yet taken by the receiver's socket, and the open connections carrying the link."""

    held: int = 0
    delayed: int = 0
    held_bytes: int = 0
    buffered: int = 0
    connections: int = 0


@dataclass(frozen=True, slots=True)
class ProxyStats:
    """Counters since the start. `undecodable` counts, by reason, handshakes, frames,
    notifications and quorum streams the proxy could not decode."""

    accepted: int
    refused: int
    dial_retries: int
    open_connections: int
    frames: int
    packets: int
    forwarded_bytes: int
    discarded_bytes: int
    undecodable: dict[str, int]
    dropped: dict[str, int]
    listener_errors: int


__all__ = [
    "ELECTION",
    "HOST",
    "PLANES",
    "QUORUM",
    "LinkDepth",
    "ProxyError",
    "ProxyEvent",
    "ProxyStats",
]
