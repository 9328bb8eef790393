"""The learner-leader connection between zkfle nodes over TCP (our framing, not Zab), and
the hand-over of a connection whose leader speaks Zab.

After an election a learner dials its leader's quorum port (ZK: Learner.connectToLeader)
and the two exchange the post-election packets of `engine.core.peer` (FOLLOWERINFO,
LEADERINFO, ACKEPOCH, NEWLEADER, UPTODATE, PING, PROPOSAL, ...). ZooKeeper speaks Zab
there, in jute records; between zkfle nodes these packets travel in a small framing of
our own (until zkfle's leader speaks Zab):

* the leader greets every accepted connection first: `b"ZKFL"` + int64 sid;
* a learner that got a greeting answers the same way with its own sid, then both sides
  send frames: int32 length + the packet as JSON (`engine.trace.record.packet_json`).

With ZooKeeper:

* our learner connected to a Java leader gets no greeting: a Java leader sends nothing
  before the learner's FOLLOWERINFO, and waits initLimit ticks for it. When the plane is
  given a `zab_probe_ms` and a `zab` hook, a leader silent for that long is taken to speak
  Zab and the socket is handed to the hook (`zkfle node` runs ZooKeeper's learner on it,
  engine.runtime.zab.follow); without them the learner waits for the greeting until the
  core's read timeout or the Java leader closes the connection;
* a Java follower connected to our leader sends FOLLOWERINFO, whose first four bytes are
  not `ZKFL`: the leader logs it and closes the connection, the follower sees EOF and
  goes back to LOOKING (zkfle does not lead Java learners yet).

`QuorumPlane` is that connection manager: an accept thread while leading, one thread
per connection, hooks for everything that becomes a core input or a trace event.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from engine.core.peer.io import ZabItem
from engine.core.vote import Sid
from engine.core.wire import EndOfStreamError, format_inet_addr
from engine.runtime.transport.sockets import (
    Address,
    TransportError,
    connect_with_timeout,
    join_threads,
    open_listener,
    shutdown_socket,
)
from engine.trace.record import RecordError, packet_from, packet_json

__all__ = ["GREETING_MAGIC", "MAX_PACKET", "QuorumHooks", "QuorumPlane"]

log = logging.getLogger("zkfle.transport.quorum")

GREETING_MAGIC = b"ZKFL"
"""First bytes of a zkfle greeting. As a jute int (what a Java peer would read first) it is
1 514 883 660, far beyond any Zab packet type or length."""
_GREETING = struct.Struct(">4sq")
_LENGTH = struct.Struct(">i")
MAX_PACKET = 1 << 16
"""Largest JSON packet accepted (ours are under 100 bytes)."""


@dataclass(frozen=True, slots=True)
class QuorumHooks:
    """What the plane reports; callbacks run on its threads, never under its lock.

    * `connected(leader)` - our learner's TCP connection to `leader` is up
      (ZK: connectToLeader returned);
    * `connect_failed(leader, reason)` - that attempt failed (refused, timed out);
    * `joined(sid)` - a zkfle learner greeted our leader;
    * `packet(peer, packet)` - a packet arrived;
    * `closed(peer, reason)` - a connection ended by the peer or an error (not by `close`);
    * `zab(leader, sock)` - our learner's leader sent no greeting within `zab_probe_ms`: it
      speaks Zab; the connected socket is the hook's now (the plane forgets it).
    """

    connected: Callable[[Sid], None] | None = None
    connect_failed: Callable[[Sid, str], None] | None = None
    joined: Callable[[Sid], None] | None = None
    packet: Callable[[Sid, ZabItem], None] | None = None
    closed: Callable[[Sid, str], None] | None = None
    zab: Callable[[Sid, socket.socket], None] | None = None


class _Conn:
    __slots__ = ("closed_by_us", "greeted", "peer", "pending", "running", "send_lock", "sock")

    def __init__(self, peer: Sid, sock: socket.socket, greeted: bool) -> None:
        self.peer = peer
        self.sock = sock
        self.greeted = greeted
        self.pending: list[bytes] = []
        """Frames a learner queues until the leader's greeting proves it is a zkfle node."""
        self.running = True
        self.closed_by_us = False
        self.send_lock = threading.Lock()


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    got = 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise EndOfStreamError(f"end of stream after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def encode_packet(packet: ZabItem) -> bytes:
    body = orjson.dumps(packet_json(packet))
    return _LENGTH.pack(len(body)) + body


def greeting(sid: Sid) -> bytes:
    return _GREETING.pack(GREETING_MAGIC, sid)


class QuorumPlane:
    """One node's learner-leader connections (see the module docstring)."""

    def __init__(
        self,
        my_sid: Sid,
        hooks: QuorumHooks,
        *,
        name: str | None = None,
        greeting_timeout_ms: float = 10_000,
        zab_probe_ms: float | None = None,
    ) -> None:
        self.my_sid = my_sid
        self.hooks = hooks
        self.greeting_timeout_s = greeting_timeout_ms / 1000.0
        """How long our leader waits for a learner's first bytes (ZK: initLimit ticks)."""
        self.zab_probe_s = zab_probe_ms / 1000.0 if zab_probe_ms is not None else None
        """How long our learner waits for a zkfle greeting before taking the leader to speak
        Zab (with the `zab` hook; None: wait for it)."""
        self.name = name or f"myid={my_sid}"
        self._lock = threading.Lock()
        self._conns: dict[Sid, _Conn] = {}
        self._server: socket.socket | None = None
        self._busy: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self.shutdown = False

    # --- threads ----------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> bool:
        """Start a thread unless halted (False); under the lock, so halt() joins it."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            if self.shutdown:
                return False
            if len(self._threads) >= 32:
                self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()
        return True

    def threads(self) -> list[str]:
        with self._lock:
            return [t.name for t in self._threads if t.is_alive()]

    def halt(self) -> None:
        """Close everything and wait for every thread (TransportError if one is stuck)."""
        with self._lock:
            self.shutdown = True
            conns = list(self._conns.values())
            self._conns.clear()
            server, self._server = self._server, None
            busy = list(self._busy)
        if server is not None:
            shutdown_socket(server)
        for conn in conns:
            conn.closed_by_us = True
            conn.running = False
            shutdown_socket(conn.sock)
        for sock in busy:
            shutdown_socket(sock)
        stuck = join_threads(list(self._threads))
        if stuck:
            raise TransportError(f"threads did not stop: {', '.join(stuck)}")

    # --- leader side (ZK: Leader's LearnerCnxAcceptor) --------------------------------------------

    def listen(self, address: Address) -> Address:
        """Start accepting learners on `address` (ZK: Leader binds its quorum port while
        it leads); returns the bound address. Raises TransportError."""
        host, port = address
        try:
            server = open_listener(address, 1.0)
        except OSError as e:
            raise TransportError(
                f"cannot bind quorum address {format_inet_addr(host, port)}: {e}"
            ) from None
        with self._lock:
            if self.shutdown:
                server.close()
                raise TransportError("halted")
            old, self._server = self._server, server
        if old is not None:
            shutdown_socket(old)
        bound = (host, int(server.getsockname()[1]))
        if not self._spawn(f"LearnerCnxAcceptor[{self.name}]", self._accept_loop, server):
            server.close()
            raise TransportError("halted")
        return bound

    def stop_listening(self) -> None:
        """Stop accepting learners (the leader stepped down); connections stay until closed."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            shutdown_socket(server)

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._server is not None

    def _accept_loop(self, server: socket.socket) -> None:
        try:
            while True:
                with self._lock:
                    if self.shutdown or self._server is not server:
                        return
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return  # shut down by stop_listening() or halt()
                try:
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    client.settimeout(None)
                    client.sendall(greeting(self.my_sid))
                except OSError:
                    client.close()
                    continue
                if not self._spawn(
                    f"LearnerHandler-{next(self._ids)}[{self.name}]", self._leader_reader, client
                ):
                    client.close()
        finally:
            server.close()

    def _leader_reader(self, sock: socket.socket) -> None:
        """One learner's connection on the leader's side: its greeting, then packets."""
        remote = "?"
        with contextlib.suppress(OSError):
            host, port = sock.getpeername()[:2]
            remote = format_inet_addr(str(host), int(port))
        with self._lock:
            if self.shutdown:
                sock.close()
                return
            self._busy.add(sock)
        try:
            sock.settimeout(self.greeting_timeout_s)
            head = _read_exactly(sock, _GREETING.size)
            sock.settimeout(None)
        except (OSError, EndOfStreamError) as e:
            with self._lock:
                self._busy.discard(sock)
            sock.close()
            if not self.shutdown:
                log.info(
                    "%s: quorum connection from %s closed before greeting: %s", self.name, remote, e
                )
            return
        with self._lock:
            self._busy.discard(sock)
        magic, sid = _GREETING.unpack(head)
        if magic != GREETING_MAGIC:
            sock.close()
            log.warning(
                "%s: quorum connection from %s is not a zkfle learner (first bytes %s: "
                "ZooKeeper's Zab: zkfle does not lead Java learners yet); closed",
                self.name,
                remote,
                head[:8].hex(" "),
            )
            return
        conn = _Conn(sid, sock, greeted=True)
        if not self._register(conn):
            return
        if self.hooks.joined is not None:
            self.hooks.joined(sid)
        self._read_packets(conn)

    # --- learner side (ZK: Learner.connectToLeader) -----------------------------------------------

    def connect(self, leader: Sid, addresses: Sequence[Address], timeout_ms: float) -> None:
        """Dial `leader` in the background; `connected` or `connect_failed` follows."""
        self._spawn(
            f"LearnerConnect-{leader}[{self.name}]",
            self._learner_connect,
            leader,
            tuple(addresses),
            timeout_ms / 1000.0,
        )

    def _learner_connect(
        self, leader: Sid, addresses: tuple[Address, ...], timeout_s: float
    ) -> None:
        sock, reason = self._dial(addresses, timeout_s)
        if sock is None:
            if not self.shutdown and self.hooks.connect_failed is not None:
                self.hooks.connect_failed(leader, reason)
            return
        conn = _Conn(leader, sock, greeted=False)
        if not self._register(conn):
            return
        if self.hooks.connected is not None:
            self.hooks.connected(leader)
        try:
            head = self._read_greeting(sock)
        except TimeoutError:
            self._hand_over(conn)
            return
        except (OSError, EndOfStreamError) as e:
            self._ended(conn, f"no greeting from the leader: {e}")
            return
        magic, sid = _GREETING.unpack(head)
        if magic != GREETING_MAGIC or sid != leader:
            log.warning(
                "%s: leader %s did not greet as a zkfle node (first bytes %s); closing",
                self.name,
                leader,
                head[:8].hex(" "),
            )
            self._ended(conn, "the leader is not a zkfle node")
            return
        try:
            with conn.send_lock:
                sock.sendall(greeting(self.my_sid) + b"".join(conn.pending))
                conn.pending.clear()
                conn.greeted = True
        except OSError as e:
            self._ended(conn, f"send failed: {e}")
            return
        self._read_packets(conn)

    def _read_greeting(self, sock: socket.socket) -> bytes:
        """The leader's greeting; TimeoutError if it sent nothing within the Zab probe."""
        if self.zab_probe_s is None or self.hooks.zab is None:
            return _read_exactly(sock, _GREETING.size)
        if self.zab_probe_s == 0:
            raise TimeoutError("no wait: the leader speaks Zab")
        sock.settimeout(self.zab_probe_s)
        first = sock.recv(_GREETING.size)
        sock.settimeout(None)
        if not first:
            raise EndOfStreamError(f"end of stream after 0 of {_GREETING.size} bytes")
        return first + _read_exactly(sock, _GREETING.size - len(first))

    def _hand_over(self, conn: _Conn) -> None:
        """The leader stayed silent: it speaks Zab. The socket goes to the `zab` hook, the
        frames queued for a zkfle leader are dropped."""
        with self._lock:
            if self._conns.get(conn.peer) is conn:
                del self._conns[conn.peer]
            mine = conn.running and not self.shutdown
            conn.running = False
        if not mine or self.hooks.zab is None:
            conn.sock.close()  # closed meanwhile by `close` or `halt`
            return
        conn.pending.clear()
        conn.sock.settimeout(None)
        self.hooks.zab(conn.peer, conn.sock)

    def _dial(
        self, addresses: tuple[Address, ...], timeout_s: float
    ) -> tuple[socket.socket | None, str]:
        reason = "no address"
        for host, port in addresses:
            where = format_inet_addr(host, port)
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as e:
                reason = f"{where}: {e}"
                continue
            family, kind, proto, _, sockaddr = infos[0]
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self.shutdown:
                    sock.close()
                    return None, "halted"
                self._busy.add(sock)
            try:
                error = connect_with_timeout(sock, sockaddr, timeout_s, lambda: self.shutdown)
            finally:
                with self._lock:
                    self._busy.discard(sock)
            if error is None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(None)
                return sock, ""
            sock.close()
            reason = f"{where}: {error}"
        return None, reason

    # --- both sides -------------------------------------------------------------------------------

    def _register(self, conn: _Conn) -> bool:
        with self._lock:
            if self.shutdown:
                conn.sock.close()
                return False
            old = self._conns.get(conn.peer)
            self._conns[conn.peer] = conn
        if old is not None:
            old.closed_by_us = True
            old.running = False
            shutdown_socket(old.sock)
        return True

    def send(self, peer: Sid, packet: ZabItem) -> bool:
        """Send a packet to `peer`; False if there is no connection with it."""
        with self._lock:
            conn = self._conns.get(peer)
        if conn is None or not conn.running:
            return False
        frame = encode_packet(packet)
        try:
            with conn.send_lock:
                if conn.greeted:
                    conn.sock.sendall(frame)
                else:
                    conn.pending.append(frame)
        except OSError:
            shutdown_socket(conn.sock)  # the reader notices and reports the end
        return True

    def close(self, peer: Sid) -> bool:
        """Close the connection with `peer` (it sees EOF); no `closed` hook follows."""
        with self._lock:
            conn = self._conns.pop(peer, None)
        if conn is None:
            return False
        conn.closed_by_us = True
        conn.running = False
        shutdown_socket(conn.sock)
        return True

    def connected(self) -> list[Sid]:
        with self._lock:
            return sorted(self._conns)

    def _read_packets(self, conn: _Conn) -> None:
        try:
            while conn.running:
                (n,) = _LENGTH.unpack(_read_exactly(conn.sock, 4))
                if not 0 < n <= MAX_PACKET:
                    raise ValueError(f"bad packet length {n}")
                body = _read_exactly(conn.sock, n)
                try:
                    packet = packet_from(orjson.loads(body))
                except (orjson.JSONDecodeError, RecordError, KeyError, TypeError, ValueError) as e:
                    raise ValueError(f"bad packet {body[:60]!r}: {e}") from None
                if self.hooks.packet is not None and conn.running:
                    self.hooks.packet(conn.peer, packet)
        except EndOfStreamError:
            self._ended(conn, "end of stream")
        except (OSError, ValueError) as e:
            self._ended(conn, str(e))
        else:
            self._ended(conn, "closed")

    def _ended(self, conn: _Conn, reason: str) -> None:
        with self._lock:
            if self._conns.get(conn.peer) is conn:
                del self._conns[conn.peer]
            by_us = conn.closed_by_us or self.shutdown
            conn.running = False
        shutdown_socket(conn.sock)
        conn.sock.close()
        if not by_us and self.hooks.closed is not None:
            self.hooks.closed(conn.peer, reason)
