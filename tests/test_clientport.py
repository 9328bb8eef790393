"""`zkfle node` serves no clients and says so (issue 11, item 5): four-letter words get a
line naming the node, a client's ConnectRequest is closed at once (so kazoo moves on), and
the node's output tells of the refusals without flooding."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError

from engine.core.config import parse_zoo_cfg
from engine.runtime.clientport import MAX_OPEN, ClientPort, client_address
from engine.runtime.tcpnode import TcpNode
from tests.test_tcp import Lines, free_ports, three_node_cfg

SERVERS = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n"


def eventually(condition: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        pause.wait(0.01)


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def port(lines: list[str]) -> Iterator[ClientPort]:
    refuser = ClientPort(3, ("127.0.0.1", 0), lines.append, report_every_s=0.5)
    refuser.start()
    yield refuser
    refuser.stop()
    assert not any(t.name == "ClientPort[myid=3]" for t in threading.enumerate())


def ask(port: ClientPort, data: bytes) -> bytes:
    return ask_at(port.address, data)


def ask_at(address: tuple[str, int], data: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_four_letter_words_are_answered_with_what_the_node_is(
    port: ClientPort, lines: list[str]
) -> None:
    answer = ask(port, b"srvr").decode()
    assert answer.startswith("zkfle node 3 serves no client requests")
    assert "connect to a Java server of the ensemble" in answer
    assert ask(port, b"ruok") == b"imok"  # alive, as Java answers whatever its state
    assert lines[0].startswith("n3: answered 'srvr' from 127.0.0.1:")


def test_a_client_is_refused_and_the_output_counts_the_retries(
    port: ClientPort, lines: list[str]
) -> None:
    client = KazooClient(hosts=f"127.0.0.1:{port.address[1]}", timeout=1.0)
    try:
        with pytest.raises(KazooTimeoutError):
            client.start(timeout=1.5)
    finally:
        client.stop()
        client.close()
    eventually(lambda: port.refused >= 1, "kazoo's connection refused")
    assert lines[0].startswith("n3: refused a client connection from 127.0.0.1:")
    assert lines[0].endswith("connect to a Java server of the ensemble")
    before = port.refused
    for _ in range(5):
        assert ask(port, b"\x00\x00\x00\x2c") == b""  # a ConnectRequest's length: closed
    eventually(lambda: port.refused == before + 5, "five more refusals")
    shown = len(lines)
    eventually(lambda: ask(port, b"stat") != b"" and len(lines) > shown, "a line after the wait")
    assert " more since)" in lines[-1]


def test_a_silent_connection_is_closed_and_a_flood_does_not_stop_the_port(
    port: ClientPort,
) -> None:
    silent = socket.create_connection(port.address, timeout=10)
    flood = [socket.create_connection(port.address, timeout=10) for _ in range(MAX_OPEN + 8)]
    try:
        assert silent.recv(1) == b""  # closed after READ_WITHIN_S
        for sock in flood:
            assert sock.recv(1) == b""
        assert ask(port, b"mntr").startswith(b"zkfle node 3")
    finally:
        for sock in [silent, *flood]:
            sock.close()


def test_stop_closes_the_port(lines: list[str]) -> None:
    refuser = ClientPort(1, ("127.0.0.1", 0), lines.append)
    address = refuser.start()
    refuser.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", None),
        ("clientPort=2181\n", ("127.0.0.1", 2181)),
        ("clientPort=2181\nclientPortAddress=127.0.0.1\n", ("127.0.0.1", 2181)),
        ("", ("127.0.0.1", 2191)),
    ],
)
def test_the_client_address_is_zookeepers(extra: str, expected: tuple[str, int] | None) -> None:
    servers = SERVERS
    if expected == ("127.0.0.1", 2191):
        servers = servers.replace(":3888\n", ":3888;127.0.0.1:2191\n")
    text = f"tickTime=200\ninitLimit=5\nsyncLimit=2\ndataDir=/tmp/x\n{extra}{servers}"
    cfg = parse_zoo_cfg(text, myid=1)
    assert client_address(cfg) == expected


def test_zkfle_node_refuses_on_its_client_port_and_says_why_it_cannot(tmp_path: Path) -> None:
    (client,) = free_ports(1)
    text = three_node_cfg() + f"clientPort={client}\n"
    out = Lines()
    node = TcpNode(parse_zoo_cfg(text, myid=1), data_dir=tmp_path / "n1", record=False, out=out)
    try:
        node.bind()
        assert ask_at(("127.0.0.1", client), b"srvr").startswith(b"zkfle node 1 serves no client")
        assert out.has("n1: answered 'srvr' from 127.0.0.1:")
        assert "ClientPort[myid=1]" in node.threads()
        # another node on the same client port (one zoo.cfg for all): it runs on, saying so
        second = TcpNode(
            parse_zoo_cfg(text, myid=2), data_dir=tmp_path / "n2", record=False, out=out
        )
        try:
            second.bind()
            assert out.has(
                f"n2: client port 127.0.0.1:{client} not opened (Address already in use)"
            )
        finally:
            second.stop()
    finally:
        node.stop()
    assert node.threads() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", client), timeout=5).close()
