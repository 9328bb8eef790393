"""QuorumCnxManager over real TCP: ZooKeeper's election connections, byte for byte.

Theory of operation
-------------------
One `TcpCnxManager` is one server's election connection manager (ZK: QuorumCnxManager,
reference `zk-fle.md` §1, §3, §5, §12). Its bookkeeping - a send queue of capacity 1 per
peer that drops the oldest, the receive queue of 100 shared with loopback, the last
message written to each peer - is `engine.core.cnxmanager.QuorumCnxManager`, guarded here by
one lock; this module adds the sockets and ZooKeeper's threads around it:

* one Listener thread per election address (ZK: ListenerHandler) accepts; one
  HandshakeReader thread reads the handshakes of every accepted connection at once, each
  within `socket_timeout_ms` (tickTime × syncLimit) in all (engine.runtime.transport.handshake);
* outgoing connects, each on its own short-lived thread (ZK: QuorumConnectionReqThread,
  ZOOKEEPER-3756): `to_send`/`connect_one` never block the caller;
* per live connection a SendWorker and a RecvWorker thread.

The sid rule (ZK: handleConnection, startConnection): only the connection opened by the
larger sid survives. A smaller sid's connection is closed and answered by dialling back
(to the address it advertised, unless that is a wildcard, else to the configured one); a
connection from our own sid is left idle with a warning; a larger sid's connection gets
workers and replaces any previous one. When we dial a larger sid we send the handshake
and close: it dials back.

Payloads are bytes the manager does not interpret (FLE decodes them). Observation hooks
(`CnxHooks`) report queued / evicted / sent / delivered messages and connections going
up or down, with a reason, so a runtime can record them.

Shutdown: every blocking call wakes on `halt()` - accept and reads by `shutdown()` of
their socket, connects and queue waits by short slices or condition notifications - and
`halt()` joins every thread it started (`threads()` lists the live ones). A socket is
closed only by the last thread that uses it, so a file descriptor is never reused under
a thread still blocked on it.

Differences from ZooKeeper, on purpose
--------------------------------------
* `to_send` refuses a payload no receiver accepts (empty or over 512 KiB) with WireError;
  Java would write it and the peer would tear the connection down.
* Binding the listener happens in `start()`, which raises TransportError after
  `bind_retry` attempts (1 s apart) instead of exiting the process (exit code 14).
* The idle socket of a connection from our own sid (Java never closes it) is closed on
  `halt()`, so that no file descriptor outlives the manager.
* Handshakes are not read on the Listener thread one after the other with socketTimeout
  per read, as ZooKeeper reads them without quorum SASL, but all at once with socketTimeout
  for the whole handshake: silent or slow clients cannot keep peers out of an election.
* No TLS, no quorum SASL, no multi-address reachability checks.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.core.cnxmanager import CircularBlockingQueue, Message, QuorumCnxManager
from engine.core.vote import Sid
from engine.core.wire import (
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    EndOfStreamError,
    InitialMessage,
    WireError,
    check_frame_length,
    drop_wildcard_addresses,
    encode_frame,
    encode_initial_message,
    format_inet_addr,
    read_frame,
)
from engine.runtime.transport.handshake import HandshakeReader
from engine.runtime.transport.sockets import (
    Address,
    TransportError,
    connect_with_timeout,
    join_threads,
    open_listener,
    shutdown_socket,
)

__all__ = ["DEFAULT_CNX_TIMEOUT_MS", "CnxHooks", "TcpCnxManager", "system_resolver"]

log = logging.getLogger("zkfle.transport.tcp")

DEFAULT_CNX_TIMEOUT_MS = 5000
"""ZK: QuorumCnxManager.cnxTO (zookeeper.cnxTimeout)."""
_ACCEPT_POLL_S = 1.0
"""Safety net: accept() also wakes this often (halt() normally wakes it at once)."""


def system_resolver(host: str) -> list[str]:
    """The addresses of `host` as text, first one first (ZK: InetAddress.getByName)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class CnxHooks:
    """Observation callbacks. They run on the manager's threads, sometimes under its lock,
    so they must be quick and must not call back into the manager.

    * `queued(to, message)` - `to_send` put a message in the send queue of `to`;
    * `evicted(to, message, reason)` - a full queue dropped its oldest message: reason
      `capacity` (the send queue of `to`) or `recv_capacity` (our receive queue, `to` is
      our sid);
    * `sent(to, message, resend)` - a SendWorker wrote the message to the socket
      (`resend`: the last message again, on a new connection whose queue was empty);
    * `delivered(sender, message)` - the message entered our receive queue (from a
      RecvWorker, or loopback when `sender` is our sid);
    * `connection(sid, up, reason)` - a connection with workers went up or down;
    * `rejected(remote, reason)` - an incoming connection was closed before it had a sid
      (bad or missing handshake).
    """

    queued: Callable[[Sid, Message], None] | None = None
    evicted: Callable[[Sid, Message, str], None] | None = None
    sent: Callable[[Sid, Message, bool], None] | None = None
    delivered: Callable[[Sid, Message], None] | None = None
    connection: Callable[[Sid, bool, str], None] | None = None
    rejected: Callable[[str, str], None] | None = None


class _Connection:
    """One live election connection and its SendWorker/RecvWorker pair."""

    __slots__ = ("how", "reason", "running", "sid", "sock", "users")

    def __init__(self, sid: Sid, sock: socket.socket, how: str) -> None:
        self.sid = sid
        self.sock = sock
        self.how = how
        self.running = True
        self.reason = ""
        self.users = 2
        """Worker threads still using the socket; the last one closes it."""


def _remote(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "?"
    return format_inet_addr(str(host), int(port))


class TcpCnxManager:
    """One server's QuorumCnxManager with real sockets (see the module docstring).

    `view` maps every known sid to its election addresses (ZK: the committed view);
    `listen` are the addresses to bind (default: our own from the view). A port 0 binds
    an ephemeral port, which `start()` returns and the handshake then advertises.
    """

    def __init__(
        self,
        my_sid: Sid,
        view: Mapping[Sid, Sequence[Address]],
        *,
        listen: Sequence[Address] | None = None,
        socket_timeout_ms: float,
        cnx_timeout_ms: float = DEFAULT_CNX_TIMEOUT_MS,
        multi_address: bool = False,
        tcp_keepalive: bool = False,
        resolver: Callable[[str], Sequence[str]] | None = system_resolver,
        hooks: CnxHooks | None = None,
        message_id: Callable[[], str] | None = None,
        bind_retry: int = 3,
        name: str | None = None,
    ) -> None:
        if socket_timeout_ms <= 0 or cnx_timeout_ms <= 0:
            raise ValueError("socket and connect timeouts must be positive")
        self.my_sid = my_sid
        self.view: dict[Sid, tuple[Address, ...]] = {s: tuple(a) for s, a in view.items()}
        own = listen if listen is not None else self.view.get(my_sid, ())
        if not own:
            raise TransportError(f"sid {my_sid} has no election address to listen on")
        self._listen = tuple(own)
        self.advertised: tuple[Address, ...] = tuple(self.view.get(my_sid, ())) or self._listen
        """What our handshake sends (ZK: getElectionAddress; V1 sends the first)."""
        self.socket_timeout_s = socket_timeout_ms / 1000.0
        self.cnx_timeout_s = cnx_timeout_ms / 1000.0
        self.protocol_version = PROTOCOL_VERSION_V2 if multi_address else PROTOCOL_VERSION_V1
        self.tcp_keepalive = tcp_keepalive
        self.resolver = resolver
        self.hooks = hooks or CnxHooks()
        self._message_id = message_id or (lambda: "")
        self.bind_retry = max(bind_retry, 1)
        self.name = name or f"myid={my_sid}"

        self.qcm = QuorumCnxManager(my_sid)
        self._lock = threading.RLock()
        self._recv_cond = threading.Condition(self._lock)
        self._send_conds: dict[Sid, threading.Condition] = {}
        self._senders: dict[Sid, _Connection] = {}
        """ZK: senderWorkerMap."""
        self._in_progress: set[Sid] = set()
        """ZK: inprogressConnections - sids with an outgoing connect in flight."""
        self._servers: list[socket.socket] = []
        self._busy: set[socket.socket] = set()
        """Sockets in a connect, shut down by halt() to wake their thread."""
        self._orphans: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._thread_ids = itertools.count(1)
        self._observer_counter = -1
        self._handshakes = HandshakeReader(
            self.socket_timeout_s, self._receive_connection, self._reject
        )
        """Reads the handshakes of accepted connections, all at once (see its module)."""
        self._started = False
        self.shutdown = False
        self._halted = threading.Event()

    # --- life cycle -------------------------------------------------------------------------------

    def start(self) -> tuple[Address, ...]:
        """Bind every listen address and start the Listener threads; returns the bound
        addresses (with real port numbers). Raises TransportError if a bind fails."""
        with self._lock:
            if self._started or self.shutdown:
                raise TransportError("already started" if self._started else "halted")
            self._started = True
        bound: list[Address] = []
        try:
            for address in self._listen:
                server = self._bind(address)
                self._servers.append(server)
                port = server.getsockname()[1]
                bound.append((address[0], int(port)))
        except TransportError:
            for server in self._servers:
                server.close()
            self._servers.clear()
            raise
        if any(port == 0 for _, port in self._listen):
            # An ephemeral port: advertise the one we got.
            self.advertised = tuple(bound)
            self.view[self.my_sid] = tuple(bound)
        self._spawn(f"HandshakeReader[{self.name}]", self._handshakes.run)
        for server, address in zip(self._servers, bound, strict=True):
            self._spawn(
                f"ListenerHandler-{format_inet_addr(*address)}[{self.name}]",
                self._listener,
                server,
                address,
            )
        return tuple(bound)

    def _bind(self, address: Address) -> socket.socket:
        host, port = address
        last: OSError | None = None
        for attempt in range(self.bind_retry):
            if attempt and self._halted.wait(1.0):
                break
            try:
                return open_listener(address, _ACCEPT_POLL_S)
            except OSError as e:
                last = e
                log.error("%s: cannot bind election address %s: %s", self.name, address, e)
        raise TransportError(
            f"cannot bind election address {format_inet_addr(host, port)}: {last} "
            f"(after {self.bind_retry} attempt(s))"
        )

    def halt(self) -> None:
        """ZK: halt - stop the listeners, finish every connection, stop connecting; then
        wait for every thread. Raises TransportError naming threads that did not stop."""
        with self._lock:
            if self.shutdown:
                already = True
            else:
                already = False
                self.shutdown = True
                self._halted.set()
                conns = list(self._senders.values())
                busy = list(self._busy)
                orphans, self._orphans = self._orphans, []
                self._recv_cond.notify_all()
                for cond in self._send_conds.values():
                    cond.notify_all()
        if not already:
            self._handshakes.close()
            for server in self._servers:
                shutdown_socket(server)  # wakes accept() at once on Linux
            for conn in conns:
                self._finish(conn, "halt")
            for sock in busy:
                shutdown_socket(sock)
            for sock in orphans:
                sock.close()
        stuck = join_threads(list(self._threads))
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._in_progress.clear()
        if stuck:
            raise TransportError(f"threads did not stop: {', '.join(stuck)}")

    def threads(self) -> list[str]:
        """Names of the threads this manager started that are still running."""
        with self._lock:
            return [t.name for t in self._threads if t.is_alive()]

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> bool:
        """Start a thread unless halted (False). Registered and started under the lock, so
        halt() - which sets `shutdown` under it - joins every thread ever started."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            if self.shutdown:
                return False
            if len(self._threads) >= 32:  # forget finished threads now and then
                self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()
        return True

    # --- the queues (ZK: toSend, haveDelivered, connectAll, recvQueue) ----------------------------

    def to_send(self, sid: Sid, payload: bytes, msg_id: str = "") -> Message | None:
        """ZK: toSend. Our own sid loops back into the receive queue; any other waits in
        the peer's send queue (capacity 1: an unsent older message is evicted and
        returned) and a connection is started if there is none. Never blocks."""
        check_frame_length(len(payload))
        message = Message(payload, self.my_sid, msg_id)
        hooks = self.hooks
        with self._lock:
            if sid == self.my_sid:
                evicted = self.qcm.add_to_recv_queue(message)
                self._recv_cond.notify()
                if hooks.delivered is not None:
                    hooks.delivered(sid, message)
                if evicted is not None and hooks.evicted is not None:
                    hooks.evicted(sid, evicted, "recv_capacity")
                return evicted
            evicted = self._send_queue(sid).offer(message)
            if hooks.queued is not None:
                hooks.queued(sid, message)
            if evicted is not None and hooks.evicted is not None:
                hooks.evicted(sid, evicted, "capacity")
            self._send_conds[sid].notify()
        self.connect_one(sid)
        return evicted

    def _send_queue(self, sid: Sid) -> CircularBlockingQueue[Message]:
        """The queue for `sid` (created on first use, never removed); caller holds the lock."""
        if sid not in self._send_conds:
            self._send_conds[sid] = threading.Condition(self._lock)
        return self.qcm.send_queue(sid)

    def poll_recv_queue(self, timeout_s: float | None) -> Message | None:
        """ZK: pollRecvQueue - the oldest received message, waiting up to `timeout_s`
        (None: until one arrives); None on timeout or once halted."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            while not self.shutdown:
                message = self.qcm.poll_recv_queue()
                if message is not None:
                    return message
                if deadline is None:
                    self._recv_cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._recv_cond.wait(left)
            return None

    def have_delivered(self) -> bool:
        """ZK: haveDelivered - True as soon as ANY send queue is empty (see
        engine.core.cnxmanager)."""
        with self._lock:
            return self.qcm.have_delivered()

    def connect_all(self) -> None:
        """ZK: connectAll - connectOne for every peer we have a send queue for."""
        with self._lock:
            sids = self.qcm.connect_all_sids()
        for sid in sids:
            self.connect_one(sid)

    def recv_queue_size(self) -> int:
        with self._lock:
            return len(self.qcm.recv_queue)

    def send_queue_sizes(self) -> dict[Sid, int]:
        with self._lock:
            return {s: len(q) for s, q in sorted(self.qcm.queue_send_map.items())}

    def connected(self) -> list[Sid]:
        """Peers with a live connection (ZK: senderWorkerMap keys), sorted."""
        with self._lock:
            return sorted(self._senders)

    def set_view(self, sid: Sid, addresses: Sequence[Address]) -> None:
        """Set the election addresses of `sid` (ZK: a view change; tests use it for
        peers on ephemeral ports)."""
        with self._lock:
            self.view[sid] = tuple(addresses)

    # --- outgoing (ZK: connectOne, initiateConnection, startConnection) --------------------------

    def connect_one(self, sid: Sid, addresses: Sequence[Address] | None = None) -> None:
        """ZK: connectOne - start connecting to `sid` unless connected or already
        connecting; with no addresses, use the view ("Invalid server id" if unknown)."""
        with self._lock:
            if self.shutdown or sid in self._senders or sid == self.my_sid:
                return
            if addresses is None:
                known = self.view.get(sid)
                if not known:
                    log.warning("%s: Invalid server id: %s", self.name, sid)
                    return
                addresses = known
            if sid in self._in_progress:
                return
            self._in_progress.add(sid)
        try:
            started = self._spawn(
                f"QuorumConnectionThread-[{self.name}]-{next(self._thread_ids)}",
                self._initiate_connection,
                tuple(addresses),
                sid,
            )
        except RuntimeError:  # cannot start a thread (interpreter shutting down)
            started = False
        if not started:
            with self._lock:
                self._in_progress.discard(sid)

    def _initiate_connection(self, addresses: tuple[Address, ...], sid: Sid) -> None:
        try:
            self.initiate_connection(sid, addresses)
        finally:
            with self._lock:
                self._in_progress.discard(sid)

    def initiate_connection(self, sid: Sid, addresses: Sequence[Address] | None = None) -> None:
        """ZK: initiateConnection (and testInitiateConnection) - connect to `sid` now, on
        the caller's thread, even if a connection exists: the handshake tells a larger
        sid to drop its connection and dial back."""
        if addresses is None:
            with self._lock:
                addresses = self.view.get(sid, ())
        sock = self._connect(tuple(addresses), sid)
        if sock is not None:
            self._start_connection(sock, sid)

    def _connect(self, addresses: tuple[Address, ...], sid: Sid) -> socket.socket | None:
        """Open a TCP connection to the first reachable address within cnxTimeout."""
        for host, port in addresses:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as e:
                where = format_inet_addr(host, port)
                log.warning("%s: Cannot open channel to %s at %s: %s", self.name, sid, where, e)
                continue
            family, kind, proto, _, sockaddr = infos[0]
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self.shutdown:
                    sock.close()
                    return None
                self._busy.add(sock)
            try:
                error = self._connect_with_timeout(sock, sockaddr)
            finally:
                with self._lock:
                    self._busy.discard(sock)
            if error is None:
                return sock
            sock.close()
            if not self.shutdown:
                log.warning(
                    "%s: Cannot open channel to %s at election address %s: %s",
                    self.name,
                    sid,
                    format_inet_addr(host, port),
                    error,
                )
        return None

    def _connect_with_timeout(self, sock: socket.socket, sockaddr: Any) -> str | None:
        error = connect_with_timeout(sock, sockaddr, self.cnx_timeout_s, lambda: self.shutdown)
        if error is None:
            self._set_sock_opts(sock)
        return error

    def _set_sock_opts(self, sock: socket.socket) -> None:
        """ZK: setSockOpts - TCP_NODELAY, SO_KEEPALIVE, SO_TIMEOUT = socketTimeout."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if self.tcp_keepalive else 0)
        sock.settimeout(self.socket_timeout_s)

    def _start_connection(self, sock: socket.socket, sid: Sid) -> None:
        """ZK: startConnection - write the handshake in ONE send; keep the connection only
        if we have the larger sid."""
        try:
            sock.sendall(self._initial_message())
        except OSError as e:
            log.warning("%s: Ignoring exception writing the handshake to %s: %s", self.name, sid, e)
            sock.close()
            return
        if sid > self.my_sid:
            log.info(
                "%s: Have smaller server identifier, so dropping the connection: "
                "(myId:%s --> sid:%s)",
                self.name,
                self.my_sid,
                sid,
            )
            sock.close()
            return
        self._start_workers(sock, sid, "initiated")

    def _initial_message(self) -> bytes:
        # V1 sends only the first address (ZK: getElectionAddress().getOne()), V2 all.
        return encode_initial_message(self.my_sid, self.advertised, self.protocol_version)

    # --- incoming (ZK: Listener, receiveConnection, handleConnection) -----------------------------

    def _listener(self, server: socket.socket, address: Address) -> None:
        log.info(
            "%s: %s is accepting connections now, my election bind port: %s",
            self.name,
            self.my_sid,
            format_inet_addr(*address),
        )
        try:
            while not self.shutdown:
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue  # ZOOKEEPER-2836: keep listening
                except OSError as e:
                    if self.shutdown:
                        break
                    log.error("%s: Exception while listening to %s: %s", self.name, address, e)
                    if self._halted.wait(1.0):
                        break
                    continue
                try:
                    self._set_sock_opts(client)
                except OSError:
                    client.close()
                    continue
                self._handshakes.add(client, _remote(client))
        finally:
            server.close()
            log.info("%s: Leaving listener %s", self.name, format_inet_addr(*address))

    def _receive_connection(self, sock: socket.socket, msg: InitialMessage) -> None:
        """A handshake was read (engine.runtime.transport.handshake): apply the sid rule."""
        # ZOOKEEPER-2164: a peer advertising 0.0.0.0 is dialled back at its config address.
        msg = drop_wildcard_addresses(msg, self.resolver)
        sid = msg.sid
        if msg.is_observer_id:
            with self._lock:
                sid = self._observer_counter
                self._observer_counter -= 1
            log.info("%s: Setting arbitrary identifier to observer: %s", self.name, sid)
        self._handle_connection(sock, sid, msg.addresses)

    def _reject(self, sock: socket.socket, remote: str, reason: str) -> None:
        sock.close()
        if self.shutdown:
            return
        log.warning("%s: closed election connection from %s: %s", self.name, remote, reason)
        if self.hooks.rejected is not None:
            self.hooks.rejected(remote, reason)

    def _handle_connection(
        self, sock: socket.socket, sid: Sid, addresses: tuple[Address, ...]
    ) -> None:
        if sid < self.my_sid:
            # The peer may have restarted: drop what we think is its connection, close
            # this one and dial back - only a connection we open survives.
            with self._lock:
                old = self._senders.get(sid)
            if old is not None:
                self._finish(old, f"sid {sid} connected again (smaller sid: we dial back)")
            sock.close()
            self.connect_one(sid, addresses or None)
        elif sid == self.my_sid:
            # ZOOKEEPER-2164: Java neither uses nor closes this socket.
            log.warning(
                "%s: We got a connection request from a server with our own ID (%s). "
                "This should be either a configuration error, or a bug.",
                self.name,
                sid,
            )
            with self._lock:
                if self.shutdown:
                    sock.close()
                else:
                    self._orphans.append(sock)
        else:
            self._start_workers(sock, sid, "accepted")

    # --- workers (ZK: SendWorker, RecvWorker) -----------------------------------------------------

    def _start_workers(self, sock: socket.socket, sid: Sid, how: str) -> None:
        conn = _Connection(sid, sock, how)
        with self._lock:
            if self.shutdown:
                sock.close()
                return
            old = self._senders.get(sid)
            if old is not None:
                self._finish(old, "replaced by a new connection")
            self._senders[sid] = conn
            if how == "initiated":
                # Registered: connect_one now stops at "connected". Clearing the in-progress
                # mark here rather than when the connect thread ends closes a window in
                # which a redial request (our connection replaced, sid < mine) was skipped
                # as "already connecting" and nobody dialled again.
                self._in_progress.discard(sid)
            self.qcm.sender_worker_map.add(sid)
            self._send_queue(sid)
            if self.hooks.connection is not None:
                self.hooks.connection(sid, True, how)
            # Under the lock: halt() cannot slip in between registering and starting.
            self._spawn(f"SendWorker:{sid}[{self.name}]", self._send_worker, conn)
            self._spawn(f"RecvWorker:{sid}[{self.name}]", self._recv_worker, conn)
        log.debug("%s: connection with %s up (%s)", self.name, sid, how)

    def _finish(self, conn: _Connection, reason: str) -> None:
        """ZK: SendWorker.finish - both workers stop, the socket is shut down (closed by
        the last worker), the map entry goes if it is still this connection."""
        with self._lock:
            if not conn.running:
                return
            conn.running = False
            conn.reason = reason
            if self._senders.get(conn.sid) is conn:
                del self._senders[conn.sid]
                self.qcm.sender_worker_map.discard(conn.sid)
            cond = self._send_conds.get(conn.sid)
            if cond is not None:
                cond.notify_all()
            if self.hooks.connection is not None:
                self.hooks.connection(conn.sid, False, reason)
        shutdown_socket(conn.sock)
        log.debug("%s: connection with %s down: %s", self.name, conn.sid, reason)

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            conn.users -= 1
            last = conn.users == 0
        if last:
            conn.sock.close()

    def _send_worker(self, conn: _Connection) -> None:
        sid = conn.sid
        reason = "send worker stopped"
        try:
            with self._lock:
                # ZK: SendWorker.run - an empty queue re-sends the last message, so that a
                # message lost with the previous connection arrives (duplicates are fine).
                queue = self._send_queue(sid)
                resend = self.qcm.last_message_sent.get(sid) if queue.is_empty() else None
            if resend is not None and conn.running:
                self._write(conn, resend.payload)
                if self.hooks.sent is not None:
                    self.hooks.sent(sid, resend, True)
            cond = self._send_conds[sid]
            while True:
                with self._lock:
                    while conn.running and not self.shutdown and queue.is_empty():
                        cond.wait()
                    if not conn.running or self.shutdown:
                        reason = "halt" if self.shutdown else conn.reason
                        return
                    message = self.qcm.poll_send_queue(sid)  # now lastMessageSent
                if message is None:
                    continue
                self._write(conn, message.payload)
                if self.hooks.sent is not None:
                    self.hooks.sent(sid, message, False)
        except OSError as e:
            reason = f"send failed: {e}"
        finally:
            self._finish(conn, reason)
            self._release(conn)

    def _write(self, conn: _Connection, payload: bytes) -> None:
        # ZK: SendWorker.send - int32 length, payload, flush.
        conn.sock.sendall(encode_frame(payload))

    def _recv_worker(self, conn: _Connection) -> None:
        sid = conn.sid
        reason = "receive worker stopped"
        hooks = self.hooks
        try:
            conn.sock.settimeout(None)  # ZK: RecvWorker sets SO_TIMEOUT 0
            while conn.running and not self.shutdown:
                payload = read_frame(conn.sock.recv)
                message = Message(payload, sid, self._message_id())
                with self._lock:
                    # ZK: RecvWorker delivers what it read even if its connection was
                    # just replaced (it checks `running` only before each read).
                    evicted = self.qcm.add_to_recv_queue(message)
                    self._recv_cond.notify()
                    if hooks.delivered is not None:
                        hooks.delivered(sid, message)
                    if evicted is not None and hooks.evicted is not None:
                        hooks.evicted(self.my_sid, evicted, "recv_capacity")
        except EndOfStreamError:
            reason = "end of stream" if conn.running else conn.reason
        except WireError as e:
            # ZK: "Received packet with invalid packet: -20" - the connection goes.
            reason = str(e)
            log.warning("%s: Connection broken for id %s: %s", self.name, sid, reason)
        except OSError as e:
            reason = f"receive failed: {e}"
        finally:
            self._finish(conn, reason)
            self._release(conn)
