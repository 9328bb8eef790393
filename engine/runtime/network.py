"""The in-memory network between a Host's nodes: the runtime's hooks it runs on, message
ids and drop records, each link's latency and faults, and arrival in TCP's order.

`Network` is the base of `Host`: the election plane (`electionplane.ElectionPlane`) and
the learner<->leader plane (`zabplane.ZabPlane`) put their messages on the wire with
`_transmit`, and each says what happens when one of its messages lands (`arrive`,
`zab_arrive`); held messages and the user's drop/deliver are `held.HeldMessages`'.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from engine.core.peer.io import ZabItem
from engine.core.vote import Sid
from engine.runtime.faults import NO_FAULT, FaultTable, LinkFault
from engine.runtime.hosted import Envelope, Node
from engine.trace.recorder import Recorder

LINK_LATENCY_MS = (0.05, 0.5)
"""Base one-way latency of an in-memory link, drawn uniformly (before any delay fault)."""
_LATENCY_LO, _LATENCY_SPAN = LINK_LATENCY_MS[0], LINK_LATENCY_MS[1] - LINK_LATENCY_MS[0]
"""LINK_LATENCY_MS as the draw uses it: the low end and the span."""


class Network:
    """A host's nodes, the links between them and the messages on their way."""

    def __init__(self, nodes: dict[Sid, Node], recorder: Recorder, seed: int) -> None:
        self.nodes = nodes
        self.recorder = recorder
        self.faults = FaultTable()
        self.net_lock = threading.RLock()
        self.seed = seed
        # One seeded stream per purpose (never the global random): a change in how often
        # one purpose draws does not shift the others.
        self.rng_net = random.Random(f"{seed}:net")
        self.rng_latency = random.Random(f"{seed}:latency")
        self._ids = {"m": 0, "p": 0}
        self._ids_lock = threading.Lock()
        self.link_fifo: dict[tuple[Sid, Sid, str], float] = {}
        """Last arrival time per directed link and plane: TCP keeps order."""
        self._zab_conns = itertools.count(1)
        """Numbers learner<->leader connections as they are accepted (Node.zab_conn)."""
        self.held: dict[tuple[Sid, Sid], deque[Envelope]] = {}
        """Messages a `hold` fault keeps in flight, per directed link."""
        self.in_flight: dict[str, list[Envelope]] = {}
        """Messages on their way (every copy, by id), for `drop`/`deliver m<id>`."""
        self.cancelled: dict[str, int] = {}
        """Copies of messages taken off the wire whose scheduled arrival must be ignored."""

    # --- the runtime's hooks --------------------------------------------------------------

    def now(self) -> float:
        raise NotImplementedError

    def now_rounded(self) -> float:
        """`now()` to the microsecond, as events record it."""
        return round(self.now(), 3)

    def wake(self, node: Node, what: str, peer: Sid | None = None) -> None:
        """Operation `what` ("sender", "receiver", "main", "send_worker") has work."""
        raise NotImplementedError

    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` at time `t_ms` on the runtime's clock (at once if it passed);
        calls due at the same time run in the order they were made."""
        raise NotImplementedError

    def call_later(self, delay_ms: float, fn: Callable[..., None], *args: Any) -> None:
        self.call_at(self.now() + max(delay_ms, 0.0), fn, *args)

    def connect_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None:
        """`call_at` for opening an election connection (the threaded runtime opens them
        on a thread of their own, as ZooKeeper's connection executor does)."""
        self.call_at(t_ms, fn, *args)

    def arrive(self, env: Envelope) -> None:
        """An election message reached `env.dst` (the election plane's RecvWorker)."""
        raise NotImplementedError

    def zab_arrive(self, env: Envelope) -> None:
        """A learner<->leader packet reached `env.dst` (the Zab plane's)."""
        raise NotImplementedError

    # --- link faults ----------------------------------------------------------------------

    def add_fault(self, fault: LinkFault) -> None:
        with self.net_lock:
            self.faults.add(fault)

    def remove_fault(self, fault_id: str) -> LinkFault | None:
        with self.net_lock:
            return self.faults.remove(fault_id)

    def clear_faults(self) -> list[LinkFault]:
        with self.net_lock:
            return self.faults.clear()

    # --- recording ------------------------------------------------------------------------

    def emit(self, kind: str, node: Sid | None = None, **fields: Any) -> None:
        self.recorder.emit_rounded(kind, self.now_rounded(), node, fields)

    def _next_id(self, prefix: str) -> str:
        with self._ids_lock:
            n = self._ids[prefix] = self._ids[prefix] + 1
        return f"{prefix}{n}"

    def _drop(self, at: Sid, msg_id: str, reason: str, src: Sid, dst: Sid, **extra: Any) -> None:
        fields = {"msg": msg_id, "reason": reason, "from": src, "to": dst}
        if extra:
            fields.update(extra)
        self.recorder.emit_rounded("drop", self.now_rounded(), at, fields)

    def continue_ids(self, messages: int, packets: int) -> None:
        """Number new messages after the parent run's (`m<n>`, `p<n>` stay unique)."""
        with self._ids_lock:
            self._ids["m"] = max(self._ids["m"], messages)
            self._ids["p"] = max(self._ids["p"], packets)

    # --- the wire -------------------------------------------------------------------------

    def _latency(self, a: Sid, b: Sid) -> float:
        with self.net_lock:
            # random.uniform(lo, hi) is lo + (hi - lo) * random(): the same draw, inlined.
            return round(_LATENCY_LO + _LATENCY_SPAN * self.rng_latency.random(), 3)

    def _transmit(self, node: Node, peer: Sid, payload: bytes | ZabItem, msg_id: str) -> None:
        """Put a message on the wire: the link's faults decide its fate."""
        plane = "election" if isinstance(payload, bytes) else "quorum"
        dst = self.nodes[peer]
        conn = node.zab_conn.get(peer, 0) if plane == "quorum" else 0
        env = Envelope(msg_id, node.sid, peer, payload, node.life, dst.life, conn)
        with self.net_lock:
            faults = self.faults
            if not faults.faults:
                fate = NO_FAULT
            elif plane == "quorum":
                fate = faults.stream_fate(node.sid, peer, self.rng_net)
            else:
                fate = faults.fate(node.sid, peer, self.rng_net)
            # A stream's packet waits behind its stalled ones still held after a heal (the
            # threaded runtime sends while resume_streams drains them): TCP keeps order.
            if fate.dropped is None and (fate.held or self._stalled(env)):
                self.held.setdefault((node.sid, peer), deque()).append(env)
                return
        if fate.dropped is not None:
            self._drop(node.sid, msg_id, fate.dropped, node.sid, peer, fault=fate.fault_id)
            return
        for copy, extra in enumerate(fate.delays_ms):
            if copy:  # a duplicate is a message of its own: it is delivered or dropped too
                dup_id = self._next_id(msg_id[0])
                self.emit("send", node.sid, msg=dup_id, to=peer, dup=msg_id)
                env = Envelope(dup_id, node.sid, peer, payload, node.life, dst.life, conn)
            self._schedule_arrival(env, plane, extra)

    def _schedule_arrival(self, env: Envelope, plane: str, extra_ms: float) -> None:
        with self.net_lock:
            self.in_flight.setdefault(env.msg_id, []).append(env)
        self._deliver_later(env, plane, extra_ms)

    def _deliver_later(self, env: Envelope, plane: str, extra_ms: float) -> None:
        self.call_at(self._arrival_due(env, plane, extra_ms), self._arrival_fn(plane), env)

    def _landed(self, env: Envelope) -> bool:
        """`env` reached its receiver: False if the user dropped or delivered it meanwhile."""
        with self.net_lock:
            left = self.cancelled.get(env.msg_id)
            if left:
                if left == 1:
                    del self.cancelled[env.msg_id]
                else:
                    self.cancelled[env.msg_id] = left - 1
                return False
            copies = self.in_flight.get(env.msg_id)
            if copies:
                copies.pop()
                if not copies:
                    del self.in_flight[env.msg_id]
            return True

    def _connected(self, node: Node, env: Envelope, peers: set[Sid]) -> bool:
        """Whether the connection `env` travelled on still exists at its destination."""
        if node.alive and node.life == env.dst_life and self.nodes[env.src].life == env.src_life:
            if env.src in peers:
                return True
            reason = "closed"
        else:
            reason = "crash"
        self._drop(env.dst, env.msg_id, reason, env.src, env.dst)
        return False

    def _arrival_due(self, env: Envelope, plane: str, extra_ms: float) -> float:
        """When `env` reaches the other end: now + the link's latency + `extra_ms`, and
        not before what was sent on the link before it (TCP keeps order) unless a
        delay or reorder fault holds it back."""
        with self.net_lock:
            base = round(_LATENCY_LO + _LATENCY_SPAN * self.rng_latency.random(), 3)
            due = round(self.now() + base + extra_ms, 3)
            key = (env.src, env.dst, plane)
            if extra_ms < 1.0 or plane != "election":
                # TCP keeps order: not before what went on the link before it.
                due = max(due, self.link_fifo.get(key, 0.0))
                self.link_fifo[key] = due
            # A notification held back by a per-message fault (reorder, delay with jitter)
            # sets no floor: later ones may overtake it, which is what the fault is for.
        return due

    def _arrival_fn(self, plane: str) -> Callable[[Envelope], None]:
        return self.arrive if plane == "election" else self.zab_arrive

    def _stalled(self, env: Envelope) -> bool:
        """Whether packets of `env`'s learner<->leader stream wait in the held queue (the
        caller holds net_lock)."""
        queue = self.held.get((env.src, env.dst))
        return (
            not isinstance(env.payload, bytes)
            and queue is not None
            and any(not isinstance(e.payload, bytes) for e in queue)
        )
