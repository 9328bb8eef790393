"""Handshakes of accepted election connections are read all at once, each within
socketTimeout in all (engine.runtime.transport.handshake).

Regression (TCP abuse of the reliability campaign): the Listener read each handshake on
its own thread, one after the other, with socketTimeout per read, as ZooKeeper does
without quorum SASL. Silent connections held a peer's handshake back by a socketTimeout
each, and a client writing one byte per read held the listener for as long as it liked;
30 silent connections per port made a 3-node first election take 20 s instead of 1.
"""

from __future__ import annotations

import socket
import threading

from engine.core.wire import (
    PROTOCOL_VERSION_V1,
    InitialMessage,
    encode_frame,
    encode_initial_message,
)
from engine.runtime.transport.handshake import HandshakeReader
from tests.test_tcp import (  # noqa: F401 - fixtures
    DEADLINE_S,
    LOCAL,
    Managers,
    Raw,
    closed_by_peer,
    managers,
    notification,
    poll,
    raw,
    wait_until,
)

SILENT = 5


def test_silent_connections_do_not_hold_back_a_peer_s_handshake(
    managers: Managers,  # noqa: F811
    raw: Raw,  # noqa: F811
) -> None:
    m1 = managers.add(1, socket_timeout_ms=30_000)
    silent = [raw(managers.address(1)) for _ in range(SILENT)]
    managers.add(2).to_send(1, notification(2))  # 2 > 1: its own connection survives
    assert poll(m1).sid == 2
    assert managers.events[1].of("rejected") == []  # every silent one still waits
    assert m1.connected() == [2]
    for s in silent:
        s.close()


def test_a_slow_loris_handshake_gets_socket_timeout_in_all(
    managers: Managers,  # noqa: F811
    raw: Raw,  # noqa: F811
) -> None:
    """One byte every 100 ms keeps every read inside a 500 ms socketTimeout; the whole
    handshake may not take longer than one."""
    managers.add(1, socket_timeout_ms=500)
    s = raw(managers.address(1))
    handshake = encode_initial_message(2, [(LOCAL, 1)])
    sent = 0
    paced = threading.Event()
    try:
        while sent < len(handshake):
            s.sendall(handshake[sent : sent + 1])
            sent += 1
            paced.wait(0.1)  # the client's pace, not a wait for the server
    except OSError:
        pass  # closed by the server, which is what this test waits for
    assert closed_by_peer(s)
    assert sent < len(handshake)
    wait_until(lambda: managers.events[1].of("rejected"), what="rejected")
    assert "no handshake within 500 ms" in str(managers.events[1].of("rejected")[0])


def test_the_first_frame_in_the_handshake_s_segment_is_kept(
    managers: Managers,  # noqa: F811
    raw: Raw,  # noqa: F811
) -> None:
    """The reader takes no byte beyond the handshake: what follows is the RecvWorker's."""
    m1 = managers.add(1)
    s = raw(managers.address(1))
    s.sendall(encode_initial_message(5, [(LOCAL, 1)]) + encode_frame(notification(5)))
    message = poll(m1)
    assert (message.sid, message.payload) == (5, notification(5))


def test_beyond_max_pending_the_oldest_connection_is_closed() -> None:
    accepted: list[InitialMessage] = []
    rejected: list[str] = []
    done = threading.Event()

    def on_reject(sock: socket.socket, remote: str, reason: str) -> None:
        sock.close()
        rejected.append(f"{remote}: {reason}")
        done.set()

    reader = HandshakeReader(DEADLINE_S, lambda s, m: accepted.append(m), on_reject, 2)
    thread = threading.Thread(target=reader.run)
    thread.start()
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        for i, (ours, _) in enumerate(pairs):
            reader.add(ours, f"client{i}")
        assert done.wait(DEADLINE_S)
        assert rejected == ["client0: more than 2 connections without a handshake"]
        assert closed_by_peer(pairs[0][1])
        pairs[2][1].sendall(encode_initial_message(7, [(LOCAL, 1)], PROTOCOL_VERSION_V1))
        wait_until(lambda: accepted, what="the handshake of the newest connection")
        assert accepted[0].sid == 7
    finally:
        reader.close()
        thread.join(DEADLINE_S)
        for ours, theirs in pairs:
            ours.close()
            theirs.close()
    assert not thread.is_alive()
