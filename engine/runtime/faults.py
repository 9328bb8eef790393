"""Network faults between nodes and what they do to one message (pure; rng passed in).

Each active fault has an id (`f1`, `f2`, ...), the command text that made it, the directed
links it covers and, optionally, when it expires. Faults on the same link compose: any
block drops the message; delays add up; loss and duplication probabilities combine; a
hold keeps messages in flight until released. Node faults (crash, pause) are not here:
they are states of the nodes, not of links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.core.vote import Sid

Link = tuple[Sid, Sid]
"""A directed link (from, to)."""


class Rng(Protocol):
    """The part of random.Random the fault model draws from."""

    def random(self) -> float: ...

    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class LinkFault:
    """One active fault on a set of directed links."""

    fault_id: str
    kind: str
    """block | delay | loss | dup | reorder | hold"""
    links: frozenset[Link]
    text: str
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    probability: float = 0.0
    """loss/dup/reorder probability in [0, 1]."""
    expires_ms: float | None = None
    nodes: frozenset[Sid] = frozenset()
    """The nodes the command named (an isolated node, a partition's members); the links'
    ends when empty."""

    @property
    def sids(self) -> tuple[Sid, ...]:
        """The nodes to flag as faulted."""
        return tuple(sorted(self.nodes or {s for link in self.links for s in link}))


@dataclass(frozen=True, slots=True)
class Fate:
    """What the network does with one message: drop it (with the reason and the fault
    responsible), hold it, or deliver copies after these delays."""

    delays_ms: tuple[float, ...] = (0.0,)
    dropped: str | None = None
    fault_id: str | None = None
    held: bool = False


NO_FAULT = Fate()
"""What a link without faults does with a message: deliver it once, at once."""


REORDER_DELAY_MS = 20.0
"""Extra delay given to a reordered message so that later ones overtake it."""
RETRANSMIT_MS = 200.0
"""What a lost segment costs a TCP stream: one retransmission timeout (Linux's minimum)."""


class FaultTable:
    """The active link faults of a cluster, indexed by directed link."""

    def __init__(self) -> None:
        self.faults: dict[str, LinkFault] = {}
        self._by_link: dict[Link, list[LinkFault]] = {}

    def add(self, fault: LinkFault) -> None:
        self.faults[fault.fault_id] = fault
        self._reindex()

    def remove(self, fault_id: str) -> LinkFault | None:
        fault = self.faults.pop(fault_id, None)
        self._reindex()
        return fault

    def clear(self) -> list[LinkFault]:
        removed = list(self.faults.values())
        self.faults.clear()
        self._by_link.clear()
        return removed

    def expired(self, now_ms: float) -> list[LinkFault]:
        """Faults whose `for=` duration has run out (the caller removes them)."""
        return [
            f for f in self.faults.values() if f.expires_ms is not None and f.expires_ms <= now_ms
        ]

    def _reindex(self) -> None:
        self._by_link = {}
        for fault in self.faults.values():
            for link in fault.links:
                self._by_link.setdefault(link, []).append(fault)

    def on(self, a: Sid, b: Sid) -> list[LinkFault]:
        return self._by_link.get((a, b), [])

    def blocked(self, a: Sid, b: Sid) -> LinkFault | None:
        """A fault that cuts a->b, if any (connections cannot be opened across it)."""
        for fault in self.on(a, b):
            if fault.kind == "block":
                return fault
        return None

    def held(self, a: Sid, b: Sid) -> bool:
        return any(f.kind == "hold" for f in self.on(a, b))

    def fate(self, a: Sid, b: Sid, rng: Rng) -> Fate:
        """Decide what happens to one message sent on a->b now."""
        faults = self.on(a, b)
        if not faults:
            return Fate()
        delay = 0.0
        copies = 1
        for fault in faults:
            if fault.kind == "block":
                return Fate(dropped="partition", fault_id=fault.fault_id)
            if fault.kind == "loss" and rng.random() < fault.probability:
                return Fate(dropped="loss", fault_id=fault.fault_id)
        for fault in faults:
            if fault.kind == "delay":
                delay += fault.delay_ms + (
                    rng.uniform(-fault.jitter_ms, fault.jitter_ms) if fault.jitter_ms else 0.0
                )
            elif fault.kind == "dup" and rng.random() < fault.probability:
                copies += 1
            elif fault.kind == "reorder" and rng.random() < fault.probability:
                delay += REORDER_DELAY_MS
        held = any(f.kind == "hold" for f in faults)
        delay = max(delay, 0.0)
        return Fate(delays_ms=tuple(delay + i * 0.001 for i in range(copies)), held=held)

    def stream_fate(self, a: Sid, b: Sid, rng: Rng) -> Fate:
        """The fate of one packet on a TCP stream a->b (the learner<->leader connection).

        A stream delivers every byte once and in order, or breaks: a partition stalls it
        (the packet waits, `held`, until the link heals - or the connection times out),
        a lost segment is retransmitted (RETRANSMIT_MS later, again while lost), and there
        are no duplicates and no reordering. Election notifications keep per-message
        faults (`fate`): their loss is what FLE has to survive."""
        faults = self.on(a, b)
        if not faults:
            return Fate()
        if any(f.kind in ("block", "hold") for f in faults):
            return Fate(held=True)
        delay = 0.0
        for fault in faults:
            if fault.kind == "delay":
                delay += fault.delay_ms + (
                    rng.uniform(-fault.jitter_ms, fault.jitter_ms) if fault.jitter_ms else 0.0
                )
            elif fault.kind == "loss":
                retries = 0
                while retries < 10 and rng.random() < fault.probability:
                    retries += 1
                delay += retries * RETRANSMIT_MS
        return Fate(delays_ms=(max(delay, 0.0),))
