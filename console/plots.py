"""Provides the plots' model: each node's state over time, the message rate and the queue
depth, as series a terminal can draw (one value per column).

`StateHistory` keeps each node's state changes (from `state`, `boot` and `stop` events);
`RateSeries` counts notifications sent per time bucket; `DepthSeries` keeps the queue
depth the console sampled from each frame's view. Each is bounded (the oldest go first)
and costs O(1) per event; drawing costs O(nodes × width), never O(trace). Pure: no
Textual, no clock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.view import ClusterView
from engine.core.vote import Sid

HISTORY_CAP = 5000
"""State changes kept per node; older ones go (the trace has them)."""
RATE_BUCKET_MS = 100.0
"""The message rate's bucket: it plots sends per 100 ms of the run's clock, as per second."""
RATE_BUCKETS = 6000
DEPTH_CAP = 2000
BARS = " ▁▂▃▄▅▆▇█"


@dataclass(slots=True)
class StateHistory:
    """Each node's state (LOOKING, FOLLOWING, LEADING, OBSERVING, `down`) over the run."""

    changes: dict[Sid, deque[tuple[float, str]]] = field(default_factory=dict)
    first_ms: float | None = None

    def feed(self, e: Mapping[str, Any]) -> None:
        kind, node, t = e.get("kind"), e.get("node"), e.get("t_ms")
        if not isinstance(node, int) or not isinstance(t, int | float):
            return
        if kind in ("state", "peer_state"):
            state = str(e.get("state", "?"))
        elif kind == "stop":
            state = "down"
        elif kind == "boot":
            state = "LOOKING"
        else:
            return
        t_ms = float(t)
        if self.first_ms is None or t_ms < self.first_ms:
            self.first_ms = t_ms
        history = self.changes.setdefault(node, deque(maxlen=HISTORY_CAP))
        if not history or history[-1][1] != state:
            history.append((max(t_ms, history[-1][0]) if history else t_ms, state))

    def truncate_after(self, t_ms: float) -> None:
        """Forget what happened after `t_ms` (a replay moved back)."""
        for history in self.changes.values():
            while history and history[-1][0] > t_ms:
                history.pop()

    def clear(self) -> None:
        self.changes.clear()
        self.first_ms = None

    def state_at(self, sid: Sid, t_ms: float) -> str | None:
        history = self.changes.get(sid)
        if not history:
            return None
        at = bisect_right(history, t_ms, key=lambda c: c[0])
        return history[at - 1][1] if at else None

    def columns(self, sid: Sid, start_ms: float, end_ms: float, width: int) -> list[str | None]:
        """The node's state at the end of each of `width` equal slices of the span."""
        step = (end_ms - start_ms) / max(1, width)
        return [self.state_at(sid, start_ms + step * (i + 1)) for i in range(width)]


@dataclass(slots=True)
class RateSeries:
    """Election notifications sent, per RATE_BUCKET_MS of the run's clock."""

    buckets: dict[int, int] = field(default_factory=dict)

    def feed(self, e: Mapping[str, Any]) -> None:
        t = e.get("t_ms")
        if (
            e.get("kind") != "send"
            or not isinstance(t, int | float)
            or e.get("node") == e.get("to")
        ):
            return
        bucket = int(t // RATE_BUCKET_MS)
        self.buckets[bucket] = self.buckets.get(bucket, 0) + 1
        if len(self.buckets) > RATE_BUCKETS:
            del self.buckets[min(self.buckets)]

    def truncate_after(self, t_ms: float) -> None:
        last = int(t_ms // RATE_BUCKET_MS)
        for bucket in [b for b in self.buckets if b > last]:
            del self.buckets[bucket]

    def clear(self) -> None:
        self.buckets.clear()

    def per_second(self, end_ms: float, width: int) -> list[float]:
        """The last `width` buckets up to `end_ms`, as messages per second."""
        last = int(end_ms // RATE_BUCKET_MS)
        scale = 1000.0 / RATE_BUCKET_MS
        return [self.buckets.get(b, 0) * scale for b in range(last - width + 1, last + 1)]


@dataclass(slots=True)
class DepthSeries:
    """The queue depth summed over the nodes (QuorumCnxManager's receive queues, FLE's
    recvqueues and every send queue), one sample a frame."""

    samples: deque[int] = field(default_factory=lambda: deque(maxlen=DEPTH_CAP))

    def sample(self, view: ClusterView) -> None:
        self.samples.append(queue_depth(view))

    def clear(self) -> None:
        self.samples.clear()

    def last(self, width: int) -> list[float]:
        values = [float(v) for v in list(self.samples)[-width:]] if width > 0 else []
        return [0.0] * (width - len(values)) + values


def queue_depth(view: ClusterView) -> int:
    return sum(
        n.recv_queue + n.fle_recvqueue + sum(d for _, d in n.send_queues)
        for n in view.nodes
        if n.alive
    )


def sparkline(values: Sequence[float], top: float | None = None) -> str:
    """One bar per value, scaled to `top` (the largest value by default); 0 is a space."""
    peak = top if top is not None else max(values, default=0.0)
    if peak <= 0:
        return " " * len(values)
    last = len(BARS) - 1
    return "".join(
        BARS[0] if v <= 0 else BARS[max(1, min(last, round(v / peak * last)))] for v in values
    )
