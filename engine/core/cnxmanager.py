"""QuorumCnxManager's queues as plain data structures, shared by every runtime and transport.

ZooKeeper's connection manager keeps, per server: one send queue per peer holding at most
one message (a newer message evicts an unsent older one, "to prevent sending stale
notifications"), one receive queue of 100 shared by every connection and by loopback
(the oldest message is evicted when it is full), and the last message written to each
peer, which a new connection re-sends when its queue is empty. This module is that
bookkeeping and nothing else: no threads, sockets or clocks. The threaded runtime wraps it
in a lock and condition; the simulator and the test harness call it directly; transports
move payloads between `poll_send_queue` and `add_to_recv_queue`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine.core.vote import Sid

SEND_CAPACITY = 1
"""ZK: QuorumCnxManager.SEND_CAPACITY."""
RECV_CAPACITY = 100
"""ZK: QuorumCnxManager.RECV_CAPACITY."""

T = TypeVar("T")


class CircularBlockingQueue(Generic[T]):
    """A bounded FIFO whose `offer` never fails: when full it evicts the oldest element
    (ZK: util.CircularBlockingQueue; blocking is the runtime's business)."""

    __slots__ = ("_items", "dropped_count")

    def __init__(self, capacity: int) -> None:
        self._items: deque[T] = deque(maxlen=capacity)
        self.dropped_count = 0

    def offer(self, item: T) -> T | None:
        """Append `item`; return the element evicted to make room, if any."""
        items = self._items
        evicted = items[0] if len(items) == items.maxlen else None
        if evicted is not None:
            self.dropped_count += 1
        items.append(item)
        return evicted

    def poll(self) -> T | None:
        return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def is_empty(self) -> bool:
        return not self._items

    def clear(self) -> list[T]:
        """Remove and return everything (ZooKeeper only does this on halt)."""
        items = list(self._items)
        self._items.clear()
        return items


@dataclass(slots=True)
class Message:
    """A payload from `sid` (ZK: QuorumCnxManager.Message); `msg_id` names it in traces.

    A value, never changed once made; not declared frozen because that makes each of the
    thousands of messages of an election ~1 µs slower to create."""

    payload: bytes
    sid: Sid
    msg_id: str = ""


class QuorumCnxManager:
    """One server's election queues (ZK: QuorumCnxManager minus sockets and threads)."""

    def __init__(self, my_sid: Sid) -> None:
        self.my_sid = my_sid
        self.queue_send_map: dict[Sid, CircularBlockingQueue[Message]] = {}
        self.last_message_sent: dict[Sid, Message] = {}
        self.recv_queue: CircularBlockingQueue[Message] = CircularBlockingQueue(RECV_CAPACITY)
        self.sender_worker_map: set[Sid] = set()
        """Peers with a live connection (a SendWorker/RecvWorker pair)."""

    def to_send(self, sid: Sid, payload: bytes, msg_id: str = "") -> Message | None:
        """ZK: toSend. Our own messages loop back into the receive queue; others wait in
        the peer's send queue (the caller then calls connectOne). Returns what a full
        queue evicted: an unsent message, or on loopback the oldest received one."""
        message = Message(payload, self.my_sid, msg_id)
        if sid == self.my_sid:
            return self.add_to_recv_queue(message)
        return self.send_queue(sid).offer(message)

    def send_queue(self, sid: Sid) -> CircularBlockingQueue[Message]:
        """The queue for `sid`, created on first use and never removed (as in ZooKeeper)."""
        queue = self.queue_send_map.get(sid)
        if queue is None:
            queue = self.queue_send_map[sid] = CircularBlockingQueue(SEND_CAPACITY)
        return queue

    def add_to_recv_queue(self, message: Message) -> Message | None:
        """ZK: addToRecvQueue; returns the evicted oldest message when the queue is full."""
        return self.recv_queue.offer(message)

    def poll_recv_queue(self) -> Message | None:
        return self.recv_queue.poll()

    def have_delivered(self) -> bool:
        """ZK: haveDelivered. Its Javadoc says "all queues are empty" but the code answers
        True as soon as ANY per-peer queue is empty, and False with no queues at all; FLE's
        timeout branch (re-broadcast or connectAll) depends on exactly this."""
        return any(q.is_empty() for q in self.queue_send_map.values())

    def connect_all_sids(self) -> list[Sid]:
        """ZK: connectAll - connectOne for every peer with a send queue (sorted here)."""
        return sorted(self.queue_send_map)

    def sender_worker_started(self, sid: Sid) -> Message | None:
        """A SendWorker for `sid` starts: it re-sends the last message when its queue is
        empty (ZK: SendWorker.run; duplicate delivery on reconnect is intended)."""
        self.sender_worker_map.add(sid)
        if self.send_queue(sid).is_empty():
            return self.last_message_sent.get(sid)
        return None

    def poll_send_queue(self, sid: Sid) -> Message | None:
        """The SendWorker takes the next message for `sid` and remembers it as sent."""
        message = self.send_queue(sid).poll()
        if message is not None:
            self.last_message_sent[sid] = message
        return message

    def sender_worker_finished(self, sid: Sid) -> None:
        self.sender_worker_map.discard(sid)

    def halt(self) -> tuple[list[Sid], list[Message]]:
        """ZK: halt/softHalt - every connection goes; returns the peers that were connected
        and the undelivered received messages (the object is discarded afterwards)."""
        connected = sorted(self.sender_worker_map)
        self.sender_worker_map.clear()
        return connected, self.recv_queue.clear()
