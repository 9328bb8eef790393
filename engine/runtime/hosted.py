"""What a Host keeps of each server (`Node`: its core, QuorumCnxManager, durable state and
the bookkeeping of its threads) and of each message on its in-memory network (`Envelope`).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.core.cnxmanager import QuorumCnxManager
from engine.core.peer.io import Durable, Input, ZabData, ZabItem
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.vote import LearnerType, Sid, ToSend
from engine.runtime.durable import Store


@dataclass
class Node:
    """One server as a runtime hosts it."""

    sid: Sid
    learner_type: LearnerType
    store: Store
    lock: threading.RLock = field(default_factory=threading.RLock)
    core: QuorumPeer | None = None
    qcm: QuorumCnxManager = field(init=False)
    durable: Durable = field(default_factory=Durable)
    data: ZabData = field(default_factory=ZabData)
    """The Zab data on the node's disk (snapshot, txn log): kept across crashes, changed
    by the durable actions of its core's outputs."""
    alive: bool = False
    paused: bool = False
    forced_timeout: bool = False
    """The `timeout` command asked the main thread to time out now."""
    life: int = 0
    """Incremented at every boot and crash, so stale scheduled work can tell."""
    sendqueue: deque[ToSend] = field(default_factory=deque)
    """FLE.sendqueue, drained by WorkerSender."""
    inbox: deque[Input] = field(default_factory=deque)
    """Main-thread inputs other than lookForLeader's poll (packets, connects, writes)."""
    deadline: float | None = None
    look_at: float | None = None
    """When the main loop enters lookForLeader next (after an observer's delay)."""
    zab_peers: set[Sid] = field(default_factory=set)
    zab_conn: dict[Sid, int] = field(default_factory=dict)
    """Which learner<->leader connection with each peer is the current one."""
    connecting: set[Sid] = field(default_factory=set)
    last_signature: tuple[Any, ...] = ()
    last_event: str = ""

    def __post_init__(self) -> None:
        self.qcm = QuorumCnxManager(self.sid)

    def have_delivered(self) -> bool:
        return self.qcm.have_delivered()

    @property
    def running(self) -> bool:
        return self.alive and not self.paused


@dataclass(slots=True)
class Envelope:
    """A message on the in-memory network (a value: never changed once made; not declared
    frozen because that makes every message ~1.5 µs slower to create)."""

    msg_id: str
    src: Sid
    dst: Sid
    payload: bytes | ZabItem
    src_life: int
    dst_life: int
    conn: int = 0
    """The learner<->leader connection a packet was written to (Node.zab_conn)."""
