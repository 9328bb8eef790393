"""What the TCP transports share: addresses, their error, and the socket and thread helpers
(listen, connect within a deadline, wake a blocked socket, join threads).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "JOIN_TIMEOUT_S",
    "LISTEN_BACKLOG",
    "Address",
    "TransportError",
    "connect_with_timeout",
    "join_threads",
    "open_listener",
    "shutdown_socket",
]

Address = tuple[str, int]
"""A host (as configured: name or literal) and a port."""

LISTEN_BACKLOG = 50
"""Java's ServerSocket default backlog."""
JOIN_TIMEOUT_S = 5.0
"""How long `halt()` waits for each thread before it reports it as stuck."""
_SLICE_S = 0.05
"""Connect attempts look at the shutdown flag this often."""


class TransportError(Exception):
    """The transport cannot do what was asked (bind, or threads that did not stop)."""


def shutdown_socket(sock: socket.socket) -> None:
    """Wake every thread blocked on `sock` (reads return EOF, writes fail); never closes."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def join_threads(threads: list[threading.Thread]) -> list[str]:
    """Join every thread but the caller's, each within JOIN_TIMEOUT_S; the names of those
    still running after it."""
    stuck = []
    for thread in threads:
        if thread is threading.current_thread():
            continue
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():
            stuck.append(thread.name)
    return stuck


def _os_error(code: int) -> str:
    return f"[Errno {code}] {os.strerror(code)}"


def open_listener(address: Address, accept_timeout_s: float) -> socket.socket:
    """A listening socket bound to `address` (SO_REUSEADDR, as ZooKeeper's listeners set
    it), whose accept() gives up after `accept_timeout_s` so its thread can see a halt.
    Raises OSError."""
    host, port = address
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    server = socket.socket(family, kind, proto)
    try:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(sockaddr)
        server.listen(LISTEN_BACKLOG)
        server.settimeout(accept_timeout_s)
    except OSError:
        server.close()
        raise
    return server


def connect_with_timeout(
    sock: socket.socket, sockaddr: Any, timeout_s: float, halted: Callable[[], bool]
) -> str | None:
    """Connect `sock` within `timeout_s`, looking at `halted()` every few tens of ms (a
    blocking connect cannot be woken from another thread). Returns None when connected
    (the socket is then blocking) or the reason it failed."""
    deadline = time.monotonic() + timeout_s
    sock.setblocking(False)
    code = sock.connect_ex(sockaddr)
    if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
        return _os_error(code)
    while code != 0:
        if halted():
            return "halted"
        left = deadline - time.monotonic()
        if left <= 0:
            return f"connect timed out after {timeout_s * 1000:.0f} ms"
        try:
            _, writable, failed = select.select([], [sock], [sock], min(left, _SLICE_S))
        except (OSError, ValueError) as e:
            return str(e)
        if writable or failed:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code != 0:
                return _os_error(code)
    sock.setblocking(True)
    return None
