"""Reading the handshakes of accepted election connections, all at once, on one thread.

ZooKeeper's Listener reads each handshake on the listener thread itself, one connection
after the other, with SO_TIMEOUT = socketTimeout per read (ZK: ListenerHandler.
acceptConnections -> receiveConnection; only with quorum SASL does it hand them to a pool,
receiveConnectionAsync). A client that connects and sends nothing therefore holds every
other connection - a peer's too - for a whole socketTimeout, and one that sends a byte per
read holds it for ~20 of them: a few such clients stop a server from taking part in
elections. Measured against `zkfle node` clusters (RELIABILITY.md, TCP abuse), 30 silent
connections per port made a 1 s first election take 20 s.

So zkfle reads every pending handshake concurrently with one selector, and gives each
connection socketTimeout in all, not per read. A peer's handshake, written in one send
(ZK: startConnection), is parsed as soon as it arrives, whatever else is pending. The
parse itself is `engine.core.wire.read_initial_message`, Java's quirks included: the address
text must come with the read that completes the header or the first one after it ("Read
only N bytes out of L"), as Java's single `read` of L bytes requires.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.wire import (
    EndOfStreamError,
    InitialMessage,
    WireError,
    bytes_reader,
    handshake_size,
    read_initial_message,
)

__all__ = ["MAX_PENDING", "HandshakeReader"]

log = logging.getLogger("zkfle.transport.tcp")

MAX_PENDING = 1024
"""Connections waiting for their handshake at most; beyond, the oldest is closed."""
_HEADER = 20
"""Bytes of a V1/V2 handshake before its address text (version, sid, length)."""
_WAKE_BYTES = 64


@dataclass(slots=True)
class _Pending:
    sock: socket.socket
    remote: str
    deadline: float
    data: bytes = b""


def wanted(data: bytes) -> int:
    """How many more bytes to read before parsing `data`, in the reads Java makes: the
    8-byte version; for V1/V2 the rest of the 20-byte header; then ONE read of up to the
    address length (0: parse now). Never more than the handshake, so the first frames a
    peer sends after it stay in the socket for its RecvWorker."""
    size = handshake_size(data)
    if size is None:
        return (8 if len(data) < 8 else _HEADER) - len(data)
    return size - len(data) if len(data) == _HEADER else 0


class HandshakeReader:
    """Reads handshakes of the sockets handed to `add`; calls `accepted(sock, msg)` with a
    parsed one (the socket blocking again, timeout `timeout_s`) or `rejected(sock, remote,
    reason)`. Both callbacks run on the reader's thread; `rejected` must close the socket."""

    def __init__(
        self,
        timeout_s: float,
        accepted: Callable[[socket.socket, InitialMessage], None],
        rejected: Callable[[socket.socket, str, str], None],
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.timeout_s = timeout_s
        self._accepted = accepted
        self._rejected = rejected
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._new: deque[_Pending] = deque()
        self._closed = False
        self._wake_w: socket.socket | None = None
        """Wakes the thread's select (made by run(): no file descriptors before it)."""

    def add(self, sock: socket.socket, remote: str) -> None:
        """Take an accepted socket (the listener's thread); closed at once after close()."""
        pending = _Pending(sock, remote, time.monotonic() + self.timeout_s)
        with self._lock:
            if self._closed:
                sock.close()
                return
            self._new.append(pending)
        self._wake()

    def close(self) -> None:
        """Stop: the thread closes every pending socket and ends (join it)."""
        with self._lock:
            self._closed = True
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            wake = self._wake_w
            if wake is not None:
                with contextlib.suppress(OSError):  # full: it is awake already
                    wake.send(b"\0")

    def run(self) -> None:
        """The reader's thread."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        with self._lock:
            if self._closed:
                wake_r.close()
                wake_w.close()
                return
            self._wake_w = wake_w
        sel = selectors.DefaultSelector()
        sel.register(wake_r, selectors.EVENT_READ)
        pending: dict[socket.socket, _Pending] = {}
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return
                    new = list(self._new)
                    self._new.clear()
                for p in new:
                    self._register(sel, pending, p)
                timeout = None
                if pending:
                    timeout = max(min(p.deadline for p in pending.values()) - time.monotonic(), 0)
                for key, _ in sel.select(timeout):
                    if key.fileobj is wake_r:
                        with contextlib.suppress(OSError):
                            wake_r.recv(_WAKE_BYTES)
                    else:
                        self._read(sel, pending, pending[key.fileobj])  # type: ignore[index]
                now = time.monotonic()
                for p in [p for p in pending.values() if p.deadline <= now]:
                    self._drop(sel, pending, p)
                    why = f"no handshake within {self.timeout_s * 1000:.0f} ms"
                    self._rejected(p.sock, p.remote, why)
        finally:
            for p in list(pending.values()):
                self._drop(sel, pending, p)
                p.sock.close()
            with self._lock:
                self._closed = True
                self._wake_w = None
                left = list(self._new)
                self._new.clear()
            for p in left:
                p.sock.close()
            sel.close()
            wake_r.close()
            wake_w.close()

    def _register(
        self, sel: selectors.BaseSelector, pending: dict[socket.socket, _Pending], p: _Pending
    ) -> None:
        if len(pending) >= self.max_pending:
            oldest = min(pending.values(), key=lambda q: q.deadline)
            self._drop(sel, pending, oldest)
            why = f"more than {self.max_pending} connections without a handshake"
            self._rejected(oldest.sock, oldest.remote, why)
        try:
            p.sock.setblocking(False)
            sel.register(p.sock, selectors.EVENT_READ)
        except (OSError, ValueError) as e:
            self._rejected(p.sock, p.remote, f"handshake: {e}")
            return
        pending[p.sock] = p

    def _drop(
        self, sel: selectors.BaseSelector, pending: dict[socket.socket, _Pending], p: _Pending
    ) -> None:
        pending.pop(p.sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            sel.unregister(p.sock)

    def _read(
        self, sel: selectors.BaseSelector, pending: dict[socket.socket, _Pending], p: _Pending
    ) -> None:
        while (need := wanted(p.data)) > 0:
            try:
                chunk = p.sock.recv(need)
            except BlockingIOError:
                return  # the rest has not arrived yet
            except OSError as e:
                self._drop(sel, pending, p)
                self._rejected(p.sock, p.remote, f"handshake: {e}")
                return
            header_done = len(p.data) == _HEADER
            p.data += chunk
            if not chunk or header_done:
                break  # end of stream, or the one read of the address text is done
        self._drop(sel, pending, p)
        try:
            msg = read_initial_message(bytes_reader(p.data))
        except EndOfStreamError as e:
            self._rejected(p.sock, p.remote, f"handshake: {e}")
            return
        except WireError as e:
            self._rejected(p.sock, p.remote, str(e))
            return
        try:
            p.sock.settimeout(self.timeout_s)
        except OSError as e:
            self._rejected(p.sock, p.remote, f"handshake: {e}")
            return
        self._accepted(p.sock, msg)
