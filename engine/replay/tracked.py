"""What the reconstruction follows besides the cores: each node's queues, connections and
main-thread inbox (NodeState), the messages on their way (Msg), the active faults (FaultInfo).
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from typing import Any

from engine.control import commands as c
from engine.control.predicates import CommandError
from engine.core.peer.io import Durable, Input, SendPacket, ZabItem
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.vote import ServerState, Sid, ToSend, Vote
from engine.runtime.faults import LinkFault


@dataclass(frozen=True, slots=True)
class Msg:
    """A message the replay follows: an election notification (`body` a ToSend) or a quorum
    packet (`body` a ZabItem: a jute QuorumPacket or SNAP's dump); None when its body is
    unknown. `src_life`/`dst_life` are the node lives it was transmitted in (a message
    outliving one is dropped)."""

    msg_id: str
    src: Sid
    dst: Sid
    body: ToSend | ZabItem | None
    src_life: int = 0
    dst_life: int = 0

    @property
    def plane(self) -> str:
        return "quorum" if isinstance(self.body, ZabItem) else "election"


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """An active link fault as the trace recorded it, with what `LinkFault` needs."""

    fault_id: str
    text: str
    op: str
    links: tuple[tuple[Sid, Sid], ...]
    t_ms: float
    nodes: tuple[Sid, ...] = ()

    def link_fault(self) -> LinkFault:
        """The fault as the runtime models it (parameters from its command text)."""
        params: dict[str, float] = {}
        for_ms: float | None = None
        try:
            cmd = c.parse(self.text)
        except CommandError:
            cmd = None
        match cmd:
            case c.Delay(_, ms, jitter_ms, for_ms=f):
                params = {"delay_ms": ms, "jitter_ms": jitter_ms}
                for_ms = f
            case (
                c.Loss(_, percent, for_ms=f)
                | c.Dup(_, percent, for_ms=f)
                | c.Reorder(_, percent, for_ms=f)
            ):
                params = {"probability": percent / 100}
                for_ms = f
            case c.Partition(for_ms=f) | c.Isolate(for_ms=f) | c.Block(for_ms=f) | c.Hold(for_ms=f):
                for_ms = f
            case _:
                pass
        expires = None if for_ms is None else self.t_ms + for_ms
        return LinkFault(
            self.fault_id,
            self.op,
            frozenset(self.links),
            self.text,
            expires_ms=expires,
            nodes=frozenset(self.nodes),
            **params,
        )


class NodeState:
    """One node as the replay reconstructs it (mirrors engine.runtime.hosted.Node)."""

    __slots__ = (
        "alive",
        "closing",
        "conns",
        "core",
        "durable",
        "inbox",
        "last_event",
        "last_sent",
        "learner_type",
        "life",
        "look_at",
        "paused",
        "pending_connect",
        "recv_queue",
        "send_queues",
        "sendqueue",
        "sid",
        "weight",
        "zab_out",
        "zab_peers",
    )

    def __init__(self, sid: Sid, learner_type: str, weight: int, durable: Durable) -> None:
        self.sid = sid
        self.learner_type = learner_type
        self.weight = weight
        self.core: QuorumPeer | None = None
        self.alive = False
        self.paused = False
        self.life = 0
        self.durable = durable
        self.sendqueue: deque[ToSend] = deque()
        """FLE.sendqueue, drained by WorkerSender (one `send` event per entry)."""
        self.send_queues: dict[Sid, Msg | None] = {}
        """QuorumCnxManager.queueSendMap: capacity 1 per peer; a key is a queue that exists."""
        self.last_sent: dict[Sid, Msg] = {}
        self.recv_queue: deque[Msg] = deque()
        self.conns: set[Sid] = set()
        """QuorumCnxManager.senderWorkerMap: peers with a live election connection."""
        self.zab_peers: set[Sid] = set()
        self.inbox: deque[Input] = deque()
        self.zab_out: deque[SendPacket] = deque()
        """Packets of the node's last step output, until their `zsend` events."""
        self.closing: set[Sid] = set()
        """Quorum connections this node closed whose `conn` down event is still to come."""
        self.pending_connect: Sid | None = None
        self.look_at: float | None = None
        self.last_event = ""

    @property
    def running(self) -> bool:
        return self.alive and not self.paused

    # What stability is judged on (engine.core.view.Decided).

    @property
    def state(self) -> ServerState | None:
        return self.core.peer_state if self.core is not None else None

    @property
    def established(self) -> bool:
        return self.core is not None and self.core.established

    @property
    def current_vote(self) -> Vote | None:
        return self.core.current_vote if self.core is not None else None

    @property
    def decided(self) -> tuple[ServerState | None, bool, Vote | None]:
        return self.state, self.established, self.current_vote

    def clone(self, memo: dict[int, Any]) -> NodeState:
        other = NodeState.__new__(NodeState)
        for name in NodeState.__slots__:
            setattr(other, name, getattr(self, name))
        other.core = copy.deepcopy(self.core, memo) if self.core is not None else None
        other.sendqueue = deque(self.sendqueue)
        other.send_queues = dict(self.send_queues)
        other.last_sent = dict(self.last_sent)
        other.recv_queue = deque(self.recv_queue)
        other.conns = set(self.conns)
        other.zab_peers = set(self.zab_peers)
        other.inbox = deque(self.inbox)
        other.closing = set(self.closing)
        other.zab_out = deque(self.zab_out)
        return other

    def reset_qcm(self) -> None:
        self.send_queues = {}
        self.last_sent = {}
        self.recv_queue = deque()
        self.conns = set()

    def new_life(self) -> None:
        """A boot or a stop: what the node had queued, connected or scheduled is gone."""
        self.life += 1
        self.reset_qcm()
        self.sendqueue.clear()
        self.inbox.clear()
        self.zab_peers.clear()
        self.closing.clear()
        self.pending_connect = None
        self.look_at = None


__all__ = ["FaultInfo", "Msg"]
