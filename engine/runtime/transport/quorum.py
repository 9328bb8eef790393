"""A learner's dial to its leader's quorum port over TCP (ZK: Learner.connectToLeader),
and the hand-over of the connected socket to ZooKeeper's Zab learner.

Every leader a `zkfle node` can meet speaks Zab on its quorum port - a Java server, and a
zkfle node too (engine.runtime.zab.lead) - so the connection carries nothing of ours: once
it is up, the socket goes to the `zab` hook (`zkfle node` runs engine.runtime.zab.follow
on it), and the plane forgets it. What the plane keeps is the dialling: one thread per
attempt, within the timeout the core gives it, and `halt` to stop every attempt.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.core.vote import Sid
from engine.core.wire import format_inet_addr
from engine.runtime.transport.sockets import (
    Address,
    TransportError,
    connect_with_timeout,
    join_threads,
    shutdown_socket,
)

__all__ = ["QuorumHooks", "QuorumPlane"]


@dataclass(frozen=True, slots=True)
class QuorumHooks:
    """What the plane reports; callbacks run on its threads, never under its lock.

    * `connected(leader)` - our learner's TCP connection to `leader` is up
      (ZK: connectToLeader returned);
    * `connect_failed(leader, reason)` - that attempt failed (refused, timed out);
    * `zab(leader, sock)` - right after `connected`: the connected socket is the hook's.
    """

    connected: Callable[[Sid], None] | None = None
    connect_failed: Callable[[Sid, str], None] | None = None
    zab: Callable[[Sid, socket.socket], None] | None = None


class QuorumPlane:
    """One node's dials to its leaders (see the module docstring)."""

    def __init__(self, my_sid: Sid, hooks: QuorumHooks, *, name: str | None = None) -> None:
        self.my_sid = my_sid
        self.hooks = hooks
        self.name = name or f"myid={my_sid}"
        self._lock = threading.Lock()
        self._busy: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.shutdown = False

    def threads(self) -> list[str]:
        with self._lock:
            return [t.name for t in self._threads if t.is_alive()]

    def halt(self) -> None:
        """Stop every attempt and wait for its thread (TransportError if one is stuck)."""
        with self._lock:
            self.shutdown = True
            busy = list(self._busy)
        for sock in busy:
            shutdown_socket(sock)
        stuck = join_threads(list(self._threads))
        if stuck:
            raise TransportError(f"threads did not stop: {', '.join(stuck)}")

    def connect(self, leader: Sid, addresses: Sequence[Address], timeout_ms: float) -> None:
        """Dial `leader` in the background; `connected` then `zab`, or `connect_failed`,
        follows."""
        thread = threading.Thread(
            target=self._learner_connect,
            args=(leader, tuple(addresses), timeout_ms / 1000.0),
            name=f"LearnerConnect-{leader}[{self.name}]",
            daemon=True,
        )
        with self._lock:
            if self.shutdown:
                return
            if len(self._threads) >= 32:
                self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _learner_connect(
        self, leader: Sid, addresses: tuple[Address, ...], timeout_s: float
    ) -> None:
        sock, reason = self._dial(addresses, timeout_s)
        if sock is None:
            if not self.shutdown and self.hooks.connect_failed is not None:
                self.hooks.connect_failed(leader, reason)
            return
        if self.shutdown or self.hooks.zab is None:
            sock.close()
            return
        if self.hooks.connected is not None:
            self.hooks.connected(leader)
        self.hooks.zab(leader, sock)

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
