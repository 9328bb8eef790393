"""One relayed connection of the proxy: its two sockets and, per direction, the decoding,
the faults and the outbox.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import deque
from typing import Any, Protocol

from engine.core.quorumpacket import JuteError, Packet, QuorumStreamDecoder, SnapshotDump
from engine.core.vote import Sid
from engine.core.wire import WireError, check_frame_length, handshake_size
from engine.runtime.faults import NO_FAULT, FaultTable, Link
from engine.runtime.zookeeper.events import ELECTION, HOST, PAYLOAD_HEX, QUORUM


class Switchboard(Protocol):
    """What a relayed connection asks of its proxy (engine.runtime.zookeeper.proxy.ZkProxy):
    the loop, the faults and counters, and the decoding and recording of what crossed."""

    loop: asyncio.AbstractEventLoop
    faults: FaultTable
    rng: random.Random
    upstream: dict[Sid, tuple[int, int]]
    learner_connect_tries: int
    learner_connect_delay_ms: float
    conns: set[Conn]
    accepted: int
    refused: int
    dial_retries: int
    forwarded_bytes: int
    discarded_bytes: int

    def emit(self, kind: str, node: Sid | None, fields: dict[str, Any]) -> None: ...

    def handshake(self, flow: Flow, raw: bytes) -> bool: ...

    def frame(self, flow: Flow, frame: bytes) -> None: ...

    def packet(self, flow: Flow, item: Packet | SnapshotDump) -> str: ...

    def bad_frame(self, flow: Flow, problem: str, data: bytes, reason: str) -> None: ...

    def truncated(self, flow: Flow, data: bytes, length: int) -> None: ...

    def undecodable(
        self, kind: str, node: Sid, fields: dict[str, Any], reason: str, data: bytes
    ) -> None: ...

    def drop(
        self, msg_id: str, a: Sid, b: Sid, reason: str, fault_id: str | None, plane: str
    ) -> None: ...

    def forget_held(self, conn: Conn) -> None: ...


class End(asyncio.Protocol):
    """One socket of a relayed connection."""

    def __init__(self, conn: Conn, sid: Sid) -> None:
        self.conn = conn
        self.sid = sid
        """The server on the other side of this socket."""
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport  # asyncio sets TCP_NODELAY, as ZooKeeper does
        self.conn.made(self)

    def data_received(self, data: bytes) -> None:
        self.conn.received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.conn.lost(self, exc)

    def pause_writing(self) -> None:
        self.conn.throttle(self, True)

    def resume_writing(self) -> None:
        self.conn.throttle(self, False)

    @property
    def ready(self) -> bool:
        return self.transport is not None and not self.closed and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


class Conn:
    """A connection server `a` opened to the proxy's (a, b) port, and the proxy's own
    connection to b's real port: `out` carries a->b, `back` carries b->a."""

    def __init__(self, proxy: Switchboard, plane: str, a: Sid, b: Sid) -> None:
        self.proxy = proxy
        self.plane = plane
        self.a, self.b = a, b
        self.initiator = End(self, a)
        self.acceptor = End(self, b)
        self.out = Flow(self, self.initiator, self.acceptor, (a, b))
        self.back = Flow(self, self.acceptor, self.initiator, (b, a))
        self.handshake: dict[str, Any] | None = None if plane == ELECTION else {}
        """The election handshake as decoded (None until it came); {} on the quorum plane."""
        self.announced = False
        self.reason: str | None = None
        """Why the connection ended, once it is ending."""
        self.closing = False
        """The proxy ends the connection (refused, malformed, broken, stopped)."""
        self.dial: asyncio.Task[None] | None = None
        self.finished = False

    def flows(self) -> tuple[Flow, Flow]:
        return self.out, self.back

    def made(self, end: End) -> None:
        proxy = self.proxy
        if end is self.initiator:
            proxy.conns.add(self)
            proxy.accepted += 1
            fault = proxy.faults.blocked(self.a, self.b) or proxy.faults.blocked(self.b, self.a)
            if fault is not None:
                proxy.refused += 1
                self.close(f"partition {fault.fault_id}: {fault.text}")
                return
            self.dial = proxy.loop.create_task(self._dial())
        elif self.closing:
            end.close()
        else:
            self.announce()
            self.out.flush()

    async def _dial(self) -> None:
        proxy = self.proxy
        port = proxy.upstream[self.b][0 if self.plane == QUORUM else 1]
        tries = proxy.learner_connect_tries if self.plane == QUORUM else 1
        problem = ""
        for attempt in range(tries):
            try:
                await proxy.loop.create_connection(lambda: self.acceptor, HOST, port)
                return
            except OSError as e:
                problem = e.strerror or str(e)
            if attempt + 1 < tries:
                proxy.dial_retries += 1
                await asyncio.sleep(proxy.learner_connect_delay_ms / 1000.0)
        proxy.refused += 1
        self.dial = None
        self.close(f"n{self.b} {HOST}:{port}: {problem}")

    def announce(self) -> None:
        """`conn` up, once both sockets are open and (election plane) the handshake came."""
        if self.announced or self.handshake is None or not self.acceptor.ready:
            return
        self.announced = True
        fields: dict[str, Any] = {"peer": self.b, "up": True, "plane": self.plane}
        if self.handshake:
            fields["handshake"] = self.handshake
        self.proxy.emit("conn", self.a, fields)

    def received(self, end: End, data: bytes) -> None:
        if not self.closing:
            (self.out if end is self.initiator else self.back).received(data)

    def throttle(self, end: End, full: bool) -> None:
        """TCP's back-pressure: while a receiver's socket is full, stop reading its sender."""
        src = self.acceptor if end is self.initiator else self.initiator
        if src.ready and src.transport is not None:
            if full:
                src.transport.pause_reading()
            else:
                src.transport.resume_reading()

    def lost(self, end: End, exc: Exception | None) -> None:
        """`end`'s socket is gone (EOF, reset, or closed by us)."""
        if self.reason is None:
            self.reason = f"closed by n{end.sid}" + (f": {exc}" if exc else "")
        # A dialler that closes right after its handshake still wants it delivered: a
        # smaller sid's "please call me back" (ZK: QuorumCnxManager.startConnection).
        (self.out if end is self.initiator else self.back).src_closed()
        if self.gone():
            self.finish()

    def gone(self) -> bool:
        dialling = self.dial is not None and not self.dial.done()
        acceptor = self.acceptor.closed or (self.acceptor.transport is None and not dialling)
        return self.initiator.closed and acceptor

    def close(self, reason: str) -> None:
        """End the connection now, both sockets."""
        if self.reason is None:
            self.reason = reason
        self.closing = True
        if self.dial is not None:
            self.dial.cancel()  # asyncio closes a socket it was connecting
            self.dial = None
        self.initiator.close()
        self.acceptor.close()
        if self.gone():
            self.finish()

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        proxy = self.proxy
        proxy.conns.discard(self)
        for flow in self.flows():
            flow.abandon()
        proxy.forget_held(self)
        fields: dict[str, Any] = {"peer": self.b, "up": False, "plane": self.plane}
        if self.reason:
            fields["reason"] = self.reason
        proxy.emit("conn", self.a, fields)


class Flow:
    """One direction of a relayed connection: decoding, faults and the outbox."""

    def __init__(self, conn: Conn, src: End, dst: End, link: Link) -> None:
        self.conn = conn
        self.src = src
        self.dst = dst
        self.link = link
        self.proxy = conn.proxy
        self.election = conn.plane == ELECTION
        self.buf = bytearray()
        self.handshake = self.election and src is conn.initiator
        """The dialler's first bytes are the election handshake."""
        self.decoder: QuorumStreamDecoder | None = None if self.election else QuorumStreamDecoder()
        self.outbox: list[tuple[float, int, bytes, tuple[str, ...]]] = []
        """(due, order, bytes, message ids) waiting to be written, earliest first."""
        self.order = 0
        self.timer: asyncio.TimerHandle | None = None
        self.last_due = 0.0
        self.src_done = False
        self.eof_pending = False
        """The sender closed while the link was blocked: the receiver learns at the heal."""
        self.corrupt: str | None = None
        """Why bytes of this stream were discarded (quorum plane): it cannot go on."""
        self.discarded = 0
        self.stalled: deque[tuple[bytes, tuple[str, ...]]] = deque()
        """Quorum bytes stalled by a `hold`."""

    # --- input ------------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        if self.election:
            self.frames(data)
        else:
            self.stream(data)

    def frames(self, data: bytes) -> None:
        """Cut the election stream into the handshake and frames (ZK: RecvWorker reads an
        int32 length, refuses one outside 1..PACKETMAXSIZE, then reads the payload)."""
        buf = self.buf
        buf += data
        pos = 0
        if self.handshake:
            size = handshake_size(buf)
            if size is None or size > len(buf):
                return
            pos = size
            self.handshake = False
            if not self.proxy.handshake(self, bytes(buf[:size])):
                buf.clear()
                return
        end = len(buf)
        while end - pos >= 4:
            n = int.from_bytes(buf[pos : pos + 4], "big", signed=True)
            try:
                check_frame_length(n)
            except WireError as e:
                data = bytes(buf[pos : pos + PAYLOAD_HEX])
                self.proxy.bad_frame(self, str(e), data, "frame_length")
                buf.clear()
                return
            if end - pos < 4 + n:
                break
            self.proxy.frame(self, bytes(buf[pos : pos + 4 + n]))
            pos += 4 + n
        del buf[:pos]

    def stream(self, data: bytes) -> None:
        """The quorum stream: decoded for the record, forwarded as it came (or discarded)."""
        proxy = self.proxy
        a, b = self.link
        ids: list[str] = []
        if self.decoder is not None:
            try:
                items = self.decoder.feed(data)
            except JuteError as e:
                items = []
                self.decoder = None
                proxy.undecodable(
                    "zsend", a, {"to": b, "plane": QUORUM, "error": str(e)}, "jute", data
                )
            for item in items:
                ids.append(proxy.packet(self, item))
        faults = proxy.faults
        fault = faults.blocked(a, b) if faults.faults else None
        if fault is not None or self.corrupt is not None:
            self.discarded += len(data)
            proxy.discarded_bytes += len(data)
            for msg_id in ids:
                reason, fid = ("partition", fault.fault_id) if fault else ("closed", None)
                proxy.drop(msg_id, a, b, reason, fid, QUORUM)
            if fault is not None:
                self.corrupt = self.corrupt or fault.fault_id
            else:  # the block healed: a stream with a hole cannot go on
                self.conn.close(self.broken())
            return
        fate = faults.stream_fate(a, b, proxy.rng) if faults.faults else NO_FAULT
        if fate.held or self.stalled:
            self.stalled.append((data, tuple(ids)))
        else:
            self.schedule(data, tuple(ids), fate.delays_ms[0])

    def broken(self) -> str:
        a, b = self.link
        return f"stream broken: {self.discarded} byte(s) n{a}->n{b} dropped by {self.corrupt}"

    # --- output -----------------------------------------------------------------------------

    def schedule(self, data: bytes, ids: tuple[str, ...], extra_ms: float) -> None:
        """Write `data` after `extra_ms`. What is not held back keeps TCP's order among
        itself; an election frame held back by a delay or reorder fault lets later frames
        overtake it (a quorum stream keeps its order whatever happens)."""
        loop = self.proxy.loop
        now = loop.time()
        due = now + extra_ms / 1000.0
        if extra_ms < 1.0 or not self.election:
            due = self.last_due = max(due, self.last_due)
        if due <= now and not self.outbox and self.dst.ready:
            self.write(data, ids)
            return
        self.order += 1
        heapq.heappush(self.outbox, (due, self.order, data, ids))
        self.arm()

    def arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.outbox and self.dst.ready:
            self.timer = self.proxy.loop.call_at(self.outbox[0][0], self.flush)

    def flush(self) -> None:
        self.timer = None
        now = self.proxy.loop.time()
        while self.outbox and self.outbox[0][0] <= now and self.dst.ready:
            _, _, data, ids = heapq.heappop(self.outbox)
            self.write(data, ids)
        self.arm()
        self.close_if_done()

    def write(self, data: bytes, ids: tuple[str, ...]) -> None:
        proxy = self.proxy
        transport = self.dst.transport
        assert transport is not None
        transport.write(data)
        proxy.forwarded_bytes += len(data)
        a, b = self.link
        kind = "deliver" if self.election else "zdeliver"
        for msg_id in ids:
            proxy.emit(kind, b, {"msg": msg_id, "from": a, "plane": self.conn.plane})

    def carries(self, msg_id: str) -> bool:
        """Whether a quorum packet waits here (delayed or stalled)."""
        return any(msg_id in e[3] for e in self.outbox) or any(
            msg_id in ids for _, ids in self.stalled
        )

    def hurry(self, msg_id: str) -> bool:
        """Write the delayed stream now up to the packet `msg_id`; False if it is not here."""
        if not any(msg_id in e[3] for e in self.outbox) or not self.dst.ready:
            return False
        while self.outbox:
            _, _, data, ids = heapq.heappop(self.outbox)
            self.write(data, ids)
            if msg_id in ids:
                break
        self.arm()
        return True

    def forget(self, msg_id: str) -> None:
        """`msg_id` no longer names anything waiting here (it was dropped on its own)."""

        def without(ids: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(i for i in ids if i != msg_id)

        self.outbox = [(due, n, data, without(ids)) for due, n, data, ids in self.outbox]
        self.stalled = deque((data, without(ids)) for data, ids in self.stalled)

    def take(self, msg_id: str) -> bytes | None:
        """Take a waiting election frame off the outbox (the user drops or delivers it)."""
        for i, entry in enumerate(self.outbox):
            if msg_id in entry[3]:
                self.outbox.pop(i)
                heapq.heapify(self.outbox)
                self.arm()
                return entry[2]
        return None

    # --- closing ----------------------------------------------------------------------------

    def src_closed(self) -> None:
        """The sender's socket is gone: pass the close on, after what is still waiting, unless
        the link is blocked (then at the heal)."""
        self.src_done = True
        self.handshake = False
        if self.buf:
            self.proxy.truncated(self, bytes(self.buf[:PAYLOAD_HEX]), len(self.buf))
            self.buf.clear()
        if self.decoder is not None and self.decoder.pending:
            self.proxy.truncated(self, b"", self.decoder.pending)
        a, b = self.link
        if self.proxy.faults.blocked(a, b) is not None:
            self.eof_pending = True
        else:
            self.close_if_done()

    def close_if_done(self) -> None:
        if self.src_done and not self.eof_pending and not self.outbox and not self.stalled:
            self.dst.close()

    def healed(self) -> None:
        """Faults on the link changed: a pending close goes on, a corrupt stream ends, a
        stall that no hold keeps any more resumes."""
        a, b = self.link
        faults = self.proxy.faults
        if faults.blocked(a, b) is not None:
            return
        if self.corrupt is not None:
            self.conn.close(self.broken())
            return
        if self.stalled and not faults.held(a, b):
            self.resume()
        if self.eof_pending:
            self.eof_pending = False
            self.close_if_done()

    def resume(self, upto: str | None = None) -> int:
        """Let stalled quorum bytes go on, in order (all, or up to the chunk with `upto`)."""
        moved = 0
        while self.stalled:
            data, ids = self.stalled.popleft()
            self.schedule(data, ids, 0.0)
            moved += len(ids)
            if upto is not None and upto in ids:
                break
        self.close_if_done()
        return moved

    def abandon(self) -> None:
        """The connection is over: whatever still waits here is lost."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        a, b = self.link
        lost = [i for entry in self.outbox for i in entry[3]]
        lost += [i for _, ids in self.stalled for i in ids]
        self.outbox.clear()
        self.stalled.clear()
        for msg_id in lost:
            self.proxy.drop(msg_id, a, b, "closed", None, self.conn.plane)
