"""The client port of `zkfle node`: it serves no clients, and says so to each one.

A zkfle node is a member of the ensemble's quorum, not a server of clients (issue 11). A
closed client port would look to a client or a monitoring script like a server that is
down, so the node listens where ZooKeeper would (the server's `;address:port` in the
dynamic config, else clientPortAddress:clientPort; 127.0.0.1 when no address is given) and
refuses clearly:

* a four-letter word (ZK: NIOServerCnxn.checkFourLetterWord reads the first 4 bytes) is
  answered with one line naming the node and what to do instead, as a Java server that is
  not serving answers "This ZooKeeper instance is not currently serving requests"; `ruok`
  is answered `imok`, as Java does whatever its state (the process is alive);
* anything else - a client's ConnectRequest - is closed at once, as a Java server that is
  not running closes it (ZK: NIOServerCnxn.readPayload, "ZooKeeperServer not running"), so
  the client goes on to the next server of its connect string.

The node's output gets one line for the first refusal, then at most one every
`REPORT_EVERY_S` counting those in between, so a client retrying in a loop cannot flood it.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.config import QuorumPeerConfig
from engine.core.vote import Sid

__all__ = ["ClientPort", "client_address"]

Address = tuple[str, int]

FOUR_LETTER_WORDS = frozenset(
    {"conf", "cons", "crst", "dump", "envi", "gtmk", "hash", "isro", "mntr"}
    | {"ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs", "dirs"}
)
"""ZooKeeper 3.8's four-letter words (ZK: FourLetterCommands)."""
READ_WITHIN_S = 2.0
"""How long a connection may take to send its first 4 bytes."""
MAX_OPEN = 64
"""Connections read at once; more are closed on accept."""
REPORT_EVERY_S = 10.0


def client_address(cfg: QuorumPeerConfig) -> Address | None:
    """Where ZooKeeper would serve clients for this server, or None (ZK:
    QuorumPeerConfig.setupClientPort: the dynamic config's client address wins)."""
    assert cfg.myid is not None
    me = cfg.quorum_verifier.all_members.get(cfg.myid)
    if me is not None and me.client_addr is not None and not me.is_client_addr_from_static:
        return me.client_addr
    if cfg.client_port is None:
        return None
    return (cfg.client_port_address or "127.0.0.1", cfg.client_port)


@dataclass(slots=True)
class _Pending:
    sock: socket.socket
    peer: str
    deadline: float
    head: bytes = b""


class ClientPort:
    """Listens on the client port and refuses every client (see the module docstring).
    `start()` raises OSError when the port cannot be bound; `stop()` closes everything."""

    def __init__(
        self,
        sid: Sid,
        address: Address,
        out: Callable[[str], None],
        report_every_s: float = REPORT_EVERY_S,
    ) -> None:
        self.sid = sid
        self.address = address
        self.out = out
        self.refused = 0
        """Connections refused so far (four-letter words answered included)."""
        self._report_every_s = report_every_s
        self._unreported = 0
        self._reported_at: float | None = None
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._pending: dict[socket.socket, _Pending] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Address:
        listener = socket.create_server(self.address, backlog=64)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ)
        self.address = listener.getsockname()[:2]
        self._thread = threading.Thread(
            target=self._serve, name=f"ClientPort[myid={self.sid}]", daemon=True
        )
        self._thread.start()
        return self.address

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for pending in list(self._pending.values()):
            self._close(pending)
        if self._listener is not None:
            self._listener.close()
        self._selector.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    self._read(self._pending[key.fileobj])  # type: ignore[index]
            now = time.monotonic()
            for pending in [p for p in self._pending.values() if p.deadline <= now]:
                self._refuse(pending, "")

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, addr = self._listener.accept()
        except OSError:  # the client gave up before we took it
            return
        peer = f"{addr[0]}:{addr[1]}"
        if len(self._pending) >= MAX_OPEN:
            sock.close()
            self._count(peer, "")
            return
        sock.setblocking(False)
        pending = _Pending(sock, peer, time.monotonic() + READ_WITHIN_S)
        self._pending[sock] = pending
        self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, pending: _Pending) -> None:
        try:
            data = pending.sock.recv(4 - len(pending.head))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        pending.head += data
        if data and len(pending.head) < 4:
            return
        word = pending.head.decode("ascii", "replace")
        self._refuse(pending, word if word in FOUR_LETTER_WORDS else "")

    def _refuse(self, pending: _Pending, word: str) -> None:
        if word:
            answer = "imok" if word == "ruok" else self._why() + "\n"
            with contextlib.suppress(OSError):  # the client may be gone already
                pending.sock.send(answer.encode())
        self._count(pending.peer, word)  # before the close the client waits for
        self._close(pending)

    def _close(self, pending: _Pending) -> None:
        self._pending.pop(pending.sock, None)
        with contextlib.suppress(KeyError, ValueError):  # not registered yet, or stopping
            self._selector.unregister(pending.sock)
        pending.sock.close()

    def _why(self) -> str:
        return (
            f"zkfle node {self.sid} serves no client requests: it is a quorum member only; "
            "connect to a Java server of the ensemble"
        )

    def _count(self, peer: str, word: str) -> None:
        self.refused += 1
        now = time.monotonic()
        if self._reported_at is not None and now - self._reported_at < self._report_every_s:
            self._unreported += 1
            return
        what = f"answered '{word}' from" if word else "refused a client connection from"
        more = f" (and {self._unreported} more since)" if self._unreported else ""
        self.out(f"n{self.sid}: {what} {peer}{more}: {self._why()}")
        self._reported_at, self._unreported = now, 0
