"""A recording fault proxy between real ZooKeeper servers (DESIGN §3.7).

Topology. For every ordered pair of servers (i, j) and each plane - `election` (the
QuorumCnxManager port) and `quorum` (the learner->leader Zab port) - the proxy listens on
one port of 127.0.0.1. Server i's config names its own real ports for itself and the
proxy's (i, j) ports for every peer j (`peer_ports`), so every connection i opens to j
lands here; the proxy dials j's real port and relays both directions. Bytes from the
dialler travel the directed link i->j, bytes back travel j->i: faults are per link.

What crosses is decoded and reported as `ProxyEvent`s in the trace's own forms (traces/
README.md): on the election plane the handshake, then every frame as a notification
(engine.core.wire) - `send` when the proxy has the whole frame, `deliver` when it wrote it to
the receiver, `drop` with a reason; on the quorum plane every jute QuorumPacket and the
snapshot dump after SNAP (engine.core.quorumpacket) as `zsend`/`zdeliver`/`drop`; and `conn`
for connections. Message ids are `m<n>` (frames) and `p<n>` (packets), the proxy's own.

Faults come from engine.runtime.faults (`LinkFault`, as the Cluster makes them):

* election plane, per frame: `block` drops (never buffers: a buffered link delivers stale
  votes later, DESIGN §3.7), `loss` drops, `dup` sends twice, `delay`+jitter and `reorder`
  hold a frame back (others may overtake it, as in the simulator), `hold` keeps frames
  until `release`, `drop`/`deliver` by id; frames are whole, so the stream stays valid.
* quorum plane, a TCP stream: bytes sent into a `block` are discarded, and the sockets
  stay open and silent, so ZooKeeper's own read timeouts (initLimit/syncLimit ticks) fire
  as in a real partition; a stream with bytes missing is corrupt, so when the block heals
  (or data comes after it) the connection is closed. A close (FIN, RST) is a message too:
  one from a blocked side reaches the other side only at the heal. `delay` and `loss`
  (one retransmission per lost segment) add latency in order, `hold` stalls the stream
  until `release` (the whole stream goes on); a stream has no duplicates or reordering.
* a new connection on a link blocked either way is refused: TCP's handshake needs both
  ways. Each port serves one server's dials to one peer, so while a link is cut the
  proxy stops listening on the ports of both its ends' dials (the ports stay bound): the
  dialler's connect is refused as by a down peer or a firewall's REJECT, and ZooKeeper
  logs it so (`Cannot open channel to 2 ... Connection refused`). One accepted just
  before the cut is closed at once.
* a server that is not running (not started yet, crashed, exited: its runtime says so,
  `set_down`) refuses the same way: the proxy stops listening on the ports of every dial
  to it, so its peers log a refused connect, as with a down server, and not a connection
  the proxy accepted and then closed.

ZooKeeper details the proxy has to respect (see docs/zkproxy.md for what was checked on
real 3.8 servers):

* A server that accepts an election connection from a smaller sid closes it and dials
  back the address in the handshake (ZK: QuorumCnxManager.handleConnection). That address
  is the dialler's real election port, so the proxy rewrites it to its own port for the
  way back; otherwise the surviving connection would bypass the proxy.
* A learner retries a refused connect to the leader (ZK: Learner.LeaderConnector, 5
  tries, leaderConnectDelayDuringRetryMs apart). The proxy accepts first and dials the
  leader after, so it makes those retries itself while the learner waits for LEADERINFO.

Threads: one asyncio loop on its own thread does all socket I/O and never waits on
anything else; a second thread hands events to `on_event` in order, so a slow listener
never stalls forwarding (a stalled forwarder shows up as client ConnectionLoss). The
control methods (faults, release, depths, stats, stop) may be called from any other thread
and return once the loop did the work.
"""

from __future__ import annotations

import asyncio
import queue
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from engine.core.quorumpacket import Packet, SnapshotDump, config_version
from engine.core.vote import Sid, zxid_hex
from engine.core.wire import (
    WireError,
    bytes_reader,
    decode_notification,
    encode_initial_message,
    read_initial_message,
)
from engine.runtime.faults import NO_FAULT, FaultTable, Link, LinkFault
from engine.runtime.zookeeper.events import (
    ELECTION,
    HOST,
    PAYLOAD_HEX,
    PLANES,
    QUORUM,
    LinkDepth,
    ProxyError,
    ProxyEvent,
    ProxyStats,
)
from engine.runtime.zookeeper.relay import Conn, Flow
from engine.trace.record import notification_json

LEARNER_CONNECT_TRIES = 5
"""ZK: Learner.LeaderConnector tries a connect to the leader 5 times ..."""
LEARNER_CONNECT_DELAY_MS = 100.0
"""... leaderConnectDelayDuringRetryMs (100 ms) apart."""
LISTEN_BACKLOG = 50
"""Java's ServerSocket default backlog."""
CONTROL_TIMEOUT_S = 10.0
"""A control call waits this long for the loop; the loop never blocks, so only a dead loop
takes that long."""


Port = tuple[Sid, Sid, str]
"""A listening port of the proxy: (dialler, peer, plane)."""


def _reusable_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


@dataclass(slots=True)
class _Held:
    msg_id: str
    frame: bytes
    flow: Flow


def _packet_json(item: Packet | SnapshotDump) -> dict[str, Any]:
    if isinstance(item, SnapshotDump):
        return {
            "type": "SNAPSHOT",
            "length": item.size,
            "sessions": item.sessions,
            "acls": item.acls,
            "nodes": item.nodes,
        }
    d: dict[str, Any] = {"type": item.name, "zxid": zxid_hex(item.zxid), "length": item.data_length}
    if item.authinfo > 0:
        d["authinfo"] = item.authinfo
    d.update(item.info)
    return d


# --- the proxy ----------------------------------------------------------------------------------


class ZkProxy:
    """The proxy for an ensemble: `upstream` maps each sid to its real (quorum, election)
    ports on 127.0.0.1. Listening ports are bound at once (so configs can be written before
    `start`); `on_event` gets every event, in order, on the proxy's event thread; random
    choices (loss, dup, reorder, jitter) come from `random.Random(seed)`."""

    def __init__(
        self,
        upstream: Mapping[Sid, tuple[int, int]],
        *,
        on_event: Callable[[ProxyEvent], None] | None = None,
        seed: int | str = 0,
        down: Collection[Sid] = (),
        learner_connect_tries: int = LEARNER_CONNECT_TRIES,
        learner_connect_delay_ms: float = LEARNER_CONNECT_DELAY_MS,
    ) -> None:
        self.upstream = dict(sorted(upstream.items()))
        self.on_event = on_event
        self.rng = random.Random(f"{seed}:zkproxy")
        self.learner_connect_tries = learner_connect_tries
        self.learner_connect_delay_ms = learner_connect_delay_ms
        self.faults = FaultTable()
        self.loop: asyncio.AbstractEventLoop
        self.conns: set[Conn] = set()
        self.held: dict[Link, deque[_Held]] = {}
        self.configs: dict[Link, str] = {}
        """The last config text each link carried: a notification's event repeats it only
        when it changed."""
        self.accepted = self.refused = self.dial_retries = self.frames = self.packets = 0
        self.forwarded_bytes = self.discarded_bytes = 0
        self.undecodable_counts: dict[str, int] = {}
        self.dropped_counts: dict[str, int] = {}
        self.listener_errors = 0
        self.first_listener_error: BaseException | None = None
        self._ids = {"m": 0, "p": 0}
        self._events: queue.SimpleQueue[ProxyEvent | None] = queue.SimpleQueue()
        self._servers: dict[Port, asyncio.Server] = {}
        """What accepts on each port (serving a duplicate of its socket; see `_gate`)."""
        self._shut: set[Port] = set()
        """Ports not listening: their link is cut, or their peer is down."""
        self._down: set[Sid] = set(down)
        """Servers not running: dials to them are refused."""
        self._loop_thread: threading.Thread | None = None
        self._event_thread: threading.Thread | None = None
        self._state = "new"
        self._startup_error: Exception | None = None
        self.ports: dict[Port, int] = {}
        self._sockets: dict[Port, socket.socket] = {}
        try:
            for a in self.upstream:
                for b in self.upstream:
                    for plane in PLANES:
                        if a != b:
                            self._listen(a, b, plane)
        except OSError as e:
            self._close_sockets()
            raise ProxyError(f"zkproxy: cannot listen on {HOST}: {e}") from None

    def _listen(self, a: Sid, b: Sid, plane: str) -> None:
        # Bound by number (a port the OS chose for a first socket): a socket bound to port 0
        # gives its port up when it stops listening (`_gate`), one bound by number keeps it.
        probe = _reusable_socket()
        try:
            probe.bind((HOST, 0))
            sock = _reusable_socket()
            self._sockets[(a, b, plane)] = sock
            sock.bind(probe.getsockname())
        finally:
            probe.close()
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
        self.ports[(a, b, plane)] = sock.getsockname()[1]

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()

    def peer_ports(self, viewer: Sid, peer: Sid) -> tuple[int, int]:
        """The (quorum, election) ports server `viewer`'s config gives server `peer`: the
        proxy's for another server, the real ones for itself."""
        if viewer == peer:
            return self.upstream[viewer]
        return self.ports[(viewer, peer, QUORUM)], self.ports[(viewer, peer, ELECTION)]

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._state != "new":
            raise ProxyError(f"zkproxy: cannot start a proxy that is {self._state}")
        self._state = "running"
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._event_thread = threading.Thread(
            target=self._hand_over, name="zkproxy-events", daemon=True
        )
        self._event_thread.start()
        self._loop_thread = threading.Thread(
            target=self._run, args=(started,), name="zkproxy-io", daemon=True
        )
        self._loop_thread.start()
        started.wait()
        if self._startup_error is not None:
            self.stop()
            raise ProxyError(f"zkproxy: cannot serve its ports: {self._startup_error}")

    def _run(self, started: threading.Event) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            for (a, b, plane), sock in sorted(self._sockets.items()):
                serving = loop.create_server(self._acceptor(plane, a, b), sock=sock.dup())
                self._servers[(a, b, plane)] = loop.run_until_complete(serving)
            self._gate()  # servers down from the start
        except Exception as e:  # reported by start(), which stops the loop
            self._startup_error = e
        started.set()
        try:
            loop.run_forever()
        finally:
            # Let the closes of stop() run, then leave nothing behind.
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for server in self._servers.values():
                loop.run_until_complete(server.wait_closed())
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _acceptor(self, plane: str, a: Sid, b: Sid) -> Callable[[], asyncio.Protocol]:
        def accept() -> asyncio.Protocol:
            return Conn(self, plane, a, b).initiator

        return accept

    def stop(self) -> None:
        """Close every socket (listeners and connections), stop both threads. Idempotent."""
        if self._state == "new":
            self._close_sockets()
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopping"
        self.loop.call_soon_threadsafe(self._shutdown)
        assert self._loop_thread is not None
        assert self._event_thread is not None
        self._loop_thread.join()
        self._close_sockets()
        self._events.put(None)
        self._event_thread.join()
        self._state = "stopped"

    def _shutdown(self) -> None:
        for server in self._servers.values():
            server.close()
        for conn in sorted(self.conns, key=lambda c: (c.a, c.b, c.plane)):
            conn.close("proxy stopped")
            for end in (conn.initiator, conn.acceptor):
                if end.transport is not None:
                    end.transport.abort()
        self.loop.call_soon(self.loop.stop)

    def __enter__(self) -> ZkProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` on the loop and return its result."""
        if self._state != "running":
            raise ProxyError(f"zkproxy: the proxy is {self._state}")
        if threading.current_thread() is self._loop_thread:
            return fn(*args)
        done: Future[Any] = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as e:
                done.set_exception(e)

        self.loop.call_soon_threadsafe(run)
        return done.result(CONTROL_TIMEOUT_S)

    # --- events -------------------------------------------------------------------------------

    def emit(self, kind: str, node: Sid | None, fields: dict[str, Any]) -> None:
        self._events.put(ProxyEvent(kind, node, fields, time.monotonic(), time.time()))

    def _hand_over(self) -> None:
        while (event := self._events.get()) is not None:
            if self.on_event is None:
                continue
            try:
                self.on_event(event)
            except Exception as e:  # a listener's bug must not end the recording
                self.listener_errors += 1
                self.first_listener_error = self.first_listener_error or e

    def next_id(self, prefix: str) -> str:
        n = self._ids[prefix] = self._ids[prefix] + 1
        return f"{prefix}{n}"

    def drop(
        self,
        msg_id: str,
        a: Sid,
        b: Sid,
        reason: str,
        fault_id: str | None,
        plane: str,
    ) -> None:
        self.dropped_counts[reason] = self.dropped_counts.get(reason, 0) + 1
        fields: dict[str, Any] = {"msg": msg_id, "from": a, "to": b, "reason": reason}
        if fault_id is not None:
            fields["fault"] = fault_id
        fields["plane"] = plane
        self.emit("drop", a, fields)

    def undecodable(
        self, kind: str, node: Sid, fields: dict[str, Any], reason: str, data: bytes
    ) -> None:
        """Count and report bytes the proxy could not decode."""
        self.undecodable_counts[reason] = self.undecodable_counts.get(reason, 0) + 1
        if kind == "drop":
            self.dropped_counts["malformed"] = self.dropped_counts.get("malformed", 0) + 1
        fields["payload"] = data[:PAYLOAD_HEX].hex()
        self.emit(kind, node, fields)

    # --- the election plane (called by the flows, on the loop) ---------------------------------

    def handshake(self, flow: Flow, raw: bytes) -> bool:
        """Forward the dialler's handshake, its address rewritten to the proxy's port for the
        way back (see the module docstring); False if it is malformed (Java closes)."""
        conn = flow.conn
        a, b = flow.link
        fault = self.faults.blocked(a, b) or self.faults.blocked(b, a)
        if fault is not None:  # the block began after the connect: refuse it now
            self.refused += 1
            conn.close(f"partition {fault.fault_id}: {fault.text}")
            return False
        try:
            msg = read_initial_message(bytes_reader(raw))
        except WireError as e:
            self.bad_frame(flow, str(e), raw, "handshake")
            return False
        info: dict[str, Any] = {
            "sid": msg.sid,
            "protocol_version": msg.protocol_version,
            "addresses": [f"{h}:{p}" for h, p in msg.addresses],
        }
        out = raw
        if msg.protocol_version is not None and msg.sid == a:
            back = self.ports[(b, a, ELECTION)]
            out = encode_initial_message(msg.sid, [(HOST, back)], msg.protocol_version)
            info["rewritten"] = f"{HOST}:{back}"
        elif msg.sid != a:
            info["unexpected_sid"] = True  # forwarded as it is; b judges it
        conn.handshake = info
        flow.schedule(out, (), 0.0)  # one write: Java reads the address with one read()
        conn.announce()
        return True

    def bad_frame(self, flow: Flow, problem: str, data: bytes, reason: str) -> None:
        """Bytes the receiver would refuse (it closes the connection): report, close both."""
        a, b = flow.link
        msg_id = self.next_id("m")
        self.undecodable(
            "drop",
            a,
            {
                "msg": msg_id,
                "from": a,
                "to": b,
                "reason": "malformed",
                "detail": problem,
                "plane": ELECTION,
            },
            reason,
            data,
        )
        flow.conn.close(f"malformed: {problem}")

    def truncated(self, flow: Flow, data: bytes, length: int) -> None:
        a, b = flow.link
        problem = f"stream ended inside a message, {length} byte(s) of it received"
        if flow.election:
            self.undecodable(
                "drop",
                a,
                {
                    "msg": self.next_id("m"),
                    "from": a,
                    "to": b,
                    "reason": "malformed",
                    "detail": problem,
                    "plane": ELECTION,
                },
                "truncated",
                data,
            )
        else:
            self.undecodable(
                "zsend", a, {"to": b, "plane": QUORUM, "error": problem}, "truncated", data
            )

    def frame(self, flow: Flow, frame: bytes) -> None:
        """One whole election frame from a to b: decode, record, then its fate."""
        a, b = flow.link
        self.frames += 1
        msg_id = self.next_id("m")
        payload = frame[4:]
        fields: dict[str, Any] = {"msg": msg_id, "to": b, "plane": ELECTION}
        try:
            n = decode_notification(payload, a)
        except WireError as e:  # forwarded anyway: the receiver drops it (ZOOKEEPER-3769)
            fields["error"] = str(e)
            self.undecodable("send", a, fields, "notification", payload)
        else:
            fields["n"] = notification_json(n, self.configs.get((a, b), ""))
            if n.config is not None:
                self.configs[(a, b)] = n.config
                fields["config_version"] = config_version(n.config)
            self.emit("send", a, fields)
        faults = self.faults
        fate = faults.fate(a, b, self.rng) if faults.faults else NO_FAULT
        if fate.dropped is not None:
            self.drop(msg_id, a, b, fate.dropped, fate.fault_id, ELECTION)
        elif fate.held:
            self.held.setdefault((a, b), deque()).append(_Held(msg_id, frame, flow))
        else:
            for extra_ms in fate.delays_ms:
                flow.schedule(frame, (msg_id,), extra_ms)

    # --- the quorum plane -----------------------------------------------------------------------

    def packet(self, flow: Flow, item: Packet | SnapshotDump) -> str:
        a, b = flow.link
        self.packets += 1
        msg_id = self.next_id("p")
        self.emit(
            "zsend", a, {"msg": msg_id, "to": b, "plane": QUORUM, "packet": _packet_json(item)}
        )
        return msg_id

    # --- faults and held messages (public: any thread) ----------------------------------------

    def add_fault(self, fault: LinkFault) -> None:
        """Start a fault (made as the Cluster makes them: engine.runtime.faults.LinkFault)."""
        self._call(self._add, fault)

    def _add(self, fault: LinkFault) -> None:
        self.faults.add(fault)
        self._gate()

    def remove_fault(self, fault_id: str) -> LinkFault | None:
        """Heal one fault; returns it, or None if no such fault is active."""
        return self._call(self._remove, fault_id)  # type: ignore[no-any-return]

    def clear_faults(self) -> list[LinkFault]:
        """Heal every fault; returns them."""
        return self._call(self._clear)  # type: ignore[no-any-return]

    def _remove(self, fault_id: str) -> LinkFault | None:
        fault = self.faults.remove(fault_id)
        if fault is not None:
            self._healed([fault])
            self._gate()
        return fault

    def _clear(self) -> list[LinkFault]:
        removed = self.faults.clear()
        self._healed(removed)
        self._gate()
        return removed

    def set_down(self, sid: Sid, down: bool) -> None:
        """Server `sid` stopped running (or runs again): dials to it are refused (or
        served again)."""
        self._call(self._set_down, sid, down)

    def _set_down(self, sid: Sid, down: bool) -> None:
        if down:
            self._down.add(sid)
        else:
            self._down.discard(sid)
        self._gate()

    def _gate(self) -> None:
        """Stop listening on the ports of links cut either way and of dials to a server
        that is down, listen again once healed or up. A socket that stops listening
        (shutdown of its receiving side: Linux) stays bound, so connects to its port are
        refused and a socket that does not ask to share the port (SO_REUSEADDR) cannot
        take it meanwhile."""
        for port, sock in sorted(self._sockets.items()):
            a, b, _ = port
            cut = b in self._down or self.faults.blocked(a, b) or self.faults.blocked(b, a)
            if cut and port not in self._shut:
                self._shut.add(port)
                sock.shutdown(socket.SHUT_RD)
                server = self._servers.pop(port, None)
                if server is not None:  # closes its duplicate; the socket stays
                    server.close()
            elif not cut and port in self._shut:
                self._shut.discard(port)
                sock.listen(LISTEN_BACKLOG)  # connects wait in the backlog until served
                self.loop.create_task(self._serve(port))

    async def _serve(self, port: Port) -> None:
        """Accept on `port` again (unless it was cut again meanwhile)."""
        if port in self._shut or port in self._servers or self._state != "running":
            return
        a, b, plane = port
        server = await self.loop.create_server(
            self._acceptor(plane, a, b), sock=self._sockets[port].dup(), start_serving=False
        )
        self._servers[port] = server
        await server.start_serving()

    def _healed(self, faults: list[LinkFault]) -> None:
        for fault in faults:
            if fault.kind == "hold":
                for a, b in sorted(fault.links):
                    if not self.faults.held(a, b):
                        self._release(a, b, None)
        for conn in self._sorted_conns():
            for flow in conn.flows():
                flow.healed()

    def _sorted_conns(self) -> list[Conn]:
        return sorted(self.conns, key=lambda c: (c.a, c.b, c.plane, id(c)))

    def _link_flows(self, a: Sid, b: Sid, plane: str) -> Iterator[Flow]:
        for conn in self._sorted_conns():
            if conn.plane == plane:
                yield from (f for f in conn.flows() if f.link == (a, b))

    def release(self, a: Sid, b: Sid, count: int | None = None) -> int:
        """Let held messages on a->b go: election frames (all, or the first `count`), and
        the link's stalled quorum streams (whole). Returns how many messages moved."""
        return self._call(self._release, a, b, count)  # type: ignore[no-any-return]

    def _release(self, a: Sid, b: Sid, count: int | None) -> int:
        frames = self._unhold(a, b, count)
        for held in frames:
            held.flow.schedule(held.frame, (held.msg_id,), 0.0)
        return len(frames) + sum(flow.resume() for flow in self._link_flows(a, b, QUORUM))

    def _unhold(self, a: Sid, b: Sid, count: int | None) -> list[_Held]:
        """The first `count` (or all) election frames held on a->b, taken off the hold."""
        queue_ = self.held.get((a, b), deque())
        n = len(queue_) if count is None else min(count, len(queue_))
        return [queue_.popleft() for _ in range(n)]

    def discard_held(self, a: Sid, b: Sid, count: int | None = None) -> int:
        """Drop held election frames on a->b (all, or the first `count`), as the user asked.
        Bytes cannot be taken out of a TCP stream: a stalled quorum stream on the link is
        broken instead (both ends closed)."""
        return self._call(self._discard_held, a, b, count)  # type: ignore[no-any-return]

    def _discard_held(self, a: Sid, b: Sid, count: int | None) -> int:
        frames = self._unhold(a, b, count)
        for held in frames:
            self.drop(held.msg_id, a, b, "user", None, ELECTION)
        n = len(frames)
        for flow in list(self._link_flows(a, b, QUORUM)):
            if flow.stalled:
                ids = [i for _, chunk_ids in flow.stalled for i in chunk_ids]
                for msg_id in ids:
                    flow.forget(msg_id)
                    self.drop(msg_id, a, b, "user", None, QUORUM)
                flow.conn.close(f"user dropped stalled packets n{a}->n{b}")
                n += len(ids)
        return n

    def deliver_message(self, msg_id: str) -> bool:
        """Deliver one held or delayed message now (a quorum packet: its stream up to it)."""
        return self._call(self._take, msg_id, True)  # type: ignore[no-any-return]

    def drop_message(self, msg_id: str) -> bool:
        """Drop one held or delayed message (a quorum packet: its connection breaks)."""
        return self._call(self._take, msg_id, False)  # type: ignore[no-any-return]

    def _take(self, msg_id: str, deliver: bool) -> bool:
        for queue_ in self.held.values():
            for held in queue_:
                if held.msg_id == msg_id:
                    queue_.remove(held)
                    self._deliver_or_drop(held.flow, msg_id, held.frame, deliver)
                    return True
        for conn in self._sorted_conns():
            for flow in conn.flows():
                if flow.election:
                    frame = flow.take(msg_id)
                    if frame is not None:
                        self._deliver_or_drop(flow, msg_id, frame, deliver)
                        return True
                elif flow.carries(msg_id):
                    self._take_packet(flow, msg_id, deliver)
                    return True
        return False

    def _take_packet(self, flow: Flow, msg_id: str, deliver: bool) -> None:
        """A stream goes on in order up to a packet delivered now; a dropped one breaks it."""
        if deliver:
            if not flow.hurry(msg_id):
                flow.resume(msg_id)
            return
        flow.forget(msg_id)
        a, b = flow.link
        self.drop(msg_id, a, b, "user", None, QUORUM)
        flow.conn.close(f"user dropped {msg_id}")

    def _deliver_or_drop(self, flow: Flow, msg_id: str, frame: bytes, deliver: bool) -> None:
        a, b = flow.link
        if not deliver:
            self.drop(msg_id, a, b, "user", None, ELECTION)
        elif flow.dst.ready:
            flow.write(frame, (msg_id,))
        else:
            self.drop(msg_id, a, b, "closed", None, ELECTION)

    def forget_held(self, conn: Conn) -> None:
        """A connection ended: its held frames cannot be delivered any more."""
        for (a, b), queue_ in sorted(self.held.items()):
            for held in [h for h in queue_ if h.flow.conn is conn]:
                queue_.remove(held)
                self.drop(held.msg_id, a, b, "closed", None, ELECTION)

    # --- what the console shows ---------------------------------------------------------------

    def depths(self) -> dict[Link, LinkDepth]:
        """Per directed link with anything on it: see LinkDepth."""
        return self._call(self._depths)  # type: ignore[no-any-return]

    def _depths(self) -> dict[Link, LinkDepth]:
        acc: dict[Link, list[int]] = {}
        for link, queue_ in self.held.items():
            if queue_:
                acc.setdefault(link, [0] * 5)[0] += len(queue_)
        for conn in self.conns:
            for flow in conn.flows():
                row = acc.setdefault(flow.link, [0] * 5)
                if flow.election:
                    row[1] += len(flow.outbox)
                row[2] += sum(len(data) for data, _ in flow.stalled)
                transport = flow.dst.transport
                if transport is not None and flow.dst.ready:
                    row[3] += transport.get_write_buffer_size()
                row[4] += 1
        return {link: LinkDepth(*row) for link, row in sorted(acc.items())}

    def stats(self) -> ProxyStats:
        return self._call(self._stats)  # type: ignore[no-any-return]

    def _stats(self) -> ProxyStats:
        return ProxyStats(
            accepted=self.accepted,
            refused=self.refused,
            dial_retries=self.dial_retries,
            open_connections=len(self.conns),
            frames=self.frames,
            packets=self.packets,
            forwarded_bytes=self.forwarded_bytes,
            discarded_bytes=self.discarded_bytes,
            undecodable=dict(self.undecodable_counts),
            dropped=dict(self.dropped_counts),
            listener_errors=self.listener_errors,
        )

    def open_sockets(self) -> int:
        """Sockets the proxy still has open (listeners and connections): 0 after stop."""
        listeners = sum(1 for s in self._sockets.values() if s.fileno() != -1)
        if self._state != "running":
            return listeners
        ends = self._call(
            lambda: sum(
                1
                for c in self.conns
                for e in (c.initiator, c.acceptor)
                if e.transport is not None and not e.closed
            )
        )
        return listeners + int(ends)


__all__ = ["ZkProxy"]
