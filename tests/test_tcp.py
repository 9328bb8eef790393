"""QuorumCnxManager over real TCP (engine.runtime.transport.tcp) and zkfle nodes over TCP
(engine.runtime.tcpnode).

Ports ZooKeeper's CnxManagerTest (testCnxManager, testCnxManagerNPE,
testCnxManagerSpinLock, testSocketTimeout, testCnxManagerTimeout,
testWildcardAddressRecognition) and the connection rules of reference §5 to real sockets
on 127.0.0.1 ephemeral ports. Every wait has a deadline; every manager is halted and
checked for leftover threads; raw sockets are closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.core.cnxmanager import Message
from engine.core.config import parse_zoo_cfg
from engine.core.vote import ServerState, ToSend
from engine.core.wire import (
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    decode_notification,
    encode_frame,
    encode_initial_message,
    encode_notification,
    read_initial_message,
)
from engine.replay.verify import verify
from engine.runtime.tcpnode import NodeError, TcpNode
from engine.runtime.transport.sockets import Address
from engine.runtime.transport.tcp import CnxHooks, TcpCnxManager
from engine.trace.format import iter_events

LOCAL = "127.0.0.1"
DEADLINE_S = 10.0
REPO = Path(__file__).resolve().parent.parent


def wait_until(
    pred: Callable[[], object],
    timeout_s: float = DEADLINE_S,
    what: str | Callable[[], str] = "",
) -> None:
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s} s waiting for {said or pred}")
        time.sleep(0.01)


Raw = Callable[[Address], socket.socket]


class Events:
    """Everything a manager's hooks report, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[object, ...]] = []

    def add(self, *item: object) -> None:
        with self.lock:
            self.items.append(item)

    def of(self, kind: str) -> list[tuple[object, ...]]:
        with self.lock:
            return [i for i in self.items if i[0] == kind]

    def hooks(self) -> CnxHooks:
        return CnxHooks(
            queued=lambda to, m: self.add("queued", to, m.payload),
            evicted=lambda to, m, why: self.add("evicted", to, m.payload, why),
            sent=lambda to, m, resend: self.add("sent", to, m.payload, resend),
            delivered=lambda frm, m: self.add("delivered", frm, m.payload),
            connection=lambda sid, up, why: self.add("conn", sid, up, why),
            rejected=lambda remote, why: self.add("rejected", remote, why),
        )


class Managers:
    """Managers on ephemeral ports that know each other's addresses."""

    def __init__(self) -> None:
        self.managers: dict[int, TcpCnxManager] = {}
        self.events: dict[int, Events] = {}

    def add(self, sid: int, *, socket_timeout_ms: float = 2000, **kw: object) -> TcpCnxManager:
        events = self.events[sid] = Events()
        m = TcpCnxManager(
            sid,
            {sid: [(LOCAL, 0)]},
            socket_timeout_ms=socket_timeout_ms,
            hooks=events.hooks(),
            **kw,  # type: ignore[arg-type]
        )
        address = m.start()
        for other in self.managers.values():
            other.set_view(sid, address)
            m.set_view(other.my_sid, other.view[other.my_sid])
        self.managers[sid] = m
        return m

    def address(self, sid: int) -> Address:
        return self.managers[sid].view[sid][0]

    def halt(self) -> None:
        for m in self.managers.values():
            m.halt()
        for m in self.managers.values():
            assert m.threads() == [], f"sid {m.my_sid} left threads behind: {m.threads()}"


@pytest.fixture
def managers() -> Iterator[Managers]:
    ms = Managers()
    try:
        yield ms
    finally:
        ms.halt()


@pytest.fixture
def raw() -> Iterator[Raw]:
    """Raw client sockets to a manager, closed at the end."""
    socks: list[socket.socket] = []

    def connect(address: Address) -> socket.socket:
        s = socket.create_connection(address, timeout=DEADLINE_S)
        socks.append(s)
        return s

    yield connect
    for s in socks:
        s.close()


def poll(m: TcpCnxManager, timeout_s: float = DEADLINE_S) -> Message:
    message = m.poll_recv_queue(timeout_s)
    assert message is not None, f"sid {m.my_sid} received nothing within {timeout_s} s"
    return message


def closed_by_peer(s: socket.socket, timeout_s: float = DEADLINE_S) -> bool:
    """Read until EOF or reset; True if the peer closed within the timeout."""
    s.settimeout(timeout_s)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def notification(leader: int, round_: int = 1) -> bytes:
    """A 44-byte-header LOOKING notification, as Java 3.5+ sends."""
    return encode_notification(
        ToSend(leader, -1, round_, ServerState.LOOKING, 0, 0, "server.0=x:1:2\nversion=0")
    )


# --- connection manager ---------------------------------------------------------------------


def test_cnx_manager_exchange(managers: Managers) -> None:
    """CnxManagerTest.testCnxManager (first part): two managers exchange a message each;
    the smaller sid's attempt only makes the larger one dial back."""
    m0 = managers.add(0)
    m1 = managers.add(1)
    m0.to_send(1, notification(0))
    m1.to_send(0, notification(1))
    got0, got1 = poll(m0), poll(m1)
    assert (got0.sid, decode_notification(got0.payload, got0.sid).leader) == (1, 1)
    assert (got1.sid, decode_notification(got1.payload, got1.sid).leader) == (0, 0)
    wait_until(lambda: m0.connected() == [1] and m1.connected() == [0], what="one connection")
    # Only sid 1 ever opens the connection that is kept (the two first attempts may
    # cross: 0's handshake then makes 1 drop its connection and dial again).
    assert {e for e in managers.events[1].of("conn") if e[2]} == {("conn", 0, True, "initiated")}
    assert {e for e in managers.events[0].of("conn") if e[2]} == {("conn", 1, True, "accepted")}


def test_three_managers_all_pairs(managers: Managers) -> None:
    ms = [managers.add(sid) for sid in (1, 2, 3)]
    for m in ms:
        for other in ms:
            m.to_send(other.my_sid, f"{m.my_sid}->{other.my_sid}".encode())
    for m in ms:
        # A reconnect may deliver the last message twice (ZK: SendWorker re-sends it).
        want = {f"{s}->{m.my_sid}" for s in (1, 2, 3)}
        got: set[str] = set()
        while got != want:
            got.add(poll(m).payload.decode())
            assert got <= want
    # Simultaneous dials may churn a connection once (a smaller sid's attempt makes the
    # larger one drop and redial, as in ZooKeeper); it settles to one per pair.
    expected = {m.my_sid: sorted({1, 2, 3} - {m.my_sid}) for m in ms}
    wait_until(lambda: all(m.connected() == expected[m.my_sid] for m in ms), what="all pairs")
    # Loopback (our own sid) goes straight into the receive queue; nothing is queued for it.
    assert managers.events[1].of("delivered")[0][1] in (1, 2, 3)
    assert 1 not in ms[0].send_queue_sizes()


def test_larger_sid_survives(managers: Managers) -> None:
    """§5.4: both sides dial at once; only the connection the larger sid opened stays."""
    m1, m2 = managers.add(1), managers.add(2)
    start = threading.Barrier(2)

    def dial(m: TcpCnxManager, peer: int) -> None:
        start.wait()
        m.connect_one(peer)

    threads = [threading.Thread(target=dial, args=a) for a in ((m1, 2), (m2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    wait_until(lambda: m1.connected() == [2] and m2.connected() == [1], what="one connection")
    m1.to_send(2, b"ping")
    assert poll(m2).payload == b"ping"  # the surviving connection carries traffic
    # Every connection that ever came up was opened by sid 2; sid 1's attempts only asked
    # 2 to dial (possibly dropping 2's first connection, as ZooKeeper does).
    up1 = {e for e in managers.events[1].of("conn") if e[2]}
    up2 = {e for e in managers.events[2].of("conn") if e[2]}
    assert up1 == {("conn", 2, True, "accepted")}
    assert up2 == {("conn", 1, True, "initiated")}


def test_reconnect_resends_last_message(managers: Managers) -> None:
    """CnxManagerTest.testCnxManager: after a fresh attempt from the smaller sid, the larger
    one drops its connection, dials back, and its new SendWorker re-sends lastMessageSent."""
    m0, m1 = managers.add(0), managers.add(1)
    m1.to_send(0, b"last from 1")
    assert poll(m0).payload == b"last from 1"
    m0.initiate_connection(1)  # ZK: testInitiateConnection
    again = poll(m0)
    assert (again.sid, again.payload) == (1, b"last from 1")
    wait_until(lambda: ("sent", 0, b"last from 1", True) in managers.events[1].of("sent"))
    downs = [e for e in managers.events[1].of("conn") if not e[2]]
    assert downs
    assert "smaller sid" in str(downs[0][3])


def test_send_queue_capacity_one_drops_oldest(managers: Managers) -> None:
    """§5.5: while a peer is unreachable only the newest message waits for it."""
    m1 = managers.add(1)
    with socket.socket() as closed:
        closed.bind((LOCAL, 0))
        port = closed.getsockname()[1]
    m1.set_view(2, [(LOCAL, port)])  # nobody listens there
    m1.to_send(2, b"old")
    m1.to_send(2, b"new")
    assert m1.send_queue_sizes() == {2: 1}
    assert managers.events[1].of("evicted") == [("evicted", 2, b"old", "capacity")]
    assert not m1.have_delivered()  # ZK: haveDelivered - no send queue is empty


def test_legacy_handshake_four_byte_payload(managers: Managers, raw: Raw) -> None:
    """CnxManagerTest.testCnxManagerNPE (ZOOKEEPER-1789): a pre-3.5 peer sends only its
    sid; a 4-byte payload is delivered (the manager does not check payloads)."""
    m1 = managers.add(1)
    s = raw(managers.address(1))
    s.sendall(struct.pack(">q", 2) + encode_frame(struct.pack(">i", 5)))
    message = poll(m1)
    assert (message.sid, message.payload) == (2, struct.pack(">i", 5))


@pytest.mark.parametrize("length", [-20, 0, 524289])
def test_bad_frame_length_tears_connection_down(
    managers: Managers, raw: Raw, caplog: pytest.LogCaptureFixture, length: int
) -> None:
    """CnxManagerTest.testCnxManagerSpinLock: a frame length of -20 (or 0, or more than
    PACKETMAXSIZE) closes the connection instead of spinning or allocating."""
    m1 = managers.add(1)
    s = raw(managers.address(1))
    s.sendall(encode_initial_message(2, [(LOCAL, 1)]) + struct.pack(">i", length))
    assert closed_by_peer(s)
    wait_until(lambda: [e for e in managers.events[1].of("conn") if not e[2]], what="down")
    down = [e for e in managers.events[1].of("conn") if not e[2]]
    assert f"invalid frame length {length}" in str(down[0][3])
    assert m1.connected() == []
    assert f"invalid frame length {length}" in caplog.text


def test_silent_socket_closed_after_socket_timeout(
    managers: Managers, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    """CnxManagerTest.testSocketTimeout: a peer that sends nothing cannot hold the
    listener beyond socketTimeout (tickTime × syncLimit, here 200 × 2)."""
    managers.add(1, socket_timeout_ms=400)
    t0 = time.monotonic()
    s = raw(managers.address(1))
    assert closed_by_peer(s)
    assert time.monotonic() - t0 >= 0.35  # not before the timeout
    wait_until(lambda: managers.events[1].of("rejected"), what="rejected")
    assert "no handshake within 400 ms" in caplog.text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            struct.pack(">q", -3), "unrecognized protocol version -3", id="unknown-version"
        ),
        pytest.param(
            struct.pack(">qqi", PROTOCOL_VERSION_V1, 2, 4096) + b"x" * 64,
            "unreasonable address length 4096",
            id="oversized-address",
        ),
        pytest.param(b"\xde\xad\xbe\xef" * 4, "unrecognized protocol version", id="garbage"),
        pytest.param(
            struct.pack(">qqi", PROTOCOL_VERSION_V1, 2, 9) + b"nocolon!!",
            "badly formed address",
            id="bad-address",
        ),
        pytest.param(
            struct.pack(">qqi", PROTOCOL_VERSION_V1, 2, 20) + b"127.0",
            "read only 5 bytes out of 20",
            id="short-address",
        ),
    ],
)
def test_bad_handshake_closed_with_one_clear_line(
    managers: Managers,
    raw: Raw,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    expected: str,
) -> None:
    m1 = managers.add(1)
    caplog.set_level(logging.WARNING, logger="zkfle.transport.tcp")
    s = raw(managers.address(1))
    s.sendall(data)
    assert closed_by_peer(s)
    wait_until(lambda: managers.events[1].of("rejected"), what="rejected")
    lines = [r.getMessage() for r in caplog.records if "closed election connection" in r.message]
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "\n" not in lines[0]
    assert m1.connected() == []
    assert not [e for e in managers.events[1].of("conn") if e[2]]


def test_wildcard_address_dialled_back_at_config_address(managers: Managers, raw: Raw) -> None:
    """CnxManagerTest.testWildcardAddressRecognition (ZOOKEEPER-2164): a smaller sid
    advertising 0.0.0.0 is closed and dialled back at its configured address."""
    m2 = managers.add(2)
    with socket.create_server((LOCAL, 0)) as listener:
        listener.settimeout(DEADLINE_S)
        m2.set_view(1, [listener.getsockname()[:2]])
        s = raw(managers.address(2))
        s.sendall(encode_initial_message(1, [("0.0.0.0", 1)]))
        assert closed_by_peer(s)
        back, _ = listener.accept()
        with back:
            back.settimeout(DEADLINE_S)
            msg = read_initial_message(back.recv)
    assert (msg.sid, msg.protocol_version) == (2, PROTOCOL_VERSION_V1)
    assert msg.addresses == (managers.address(2),)


def test_smaller_sid_dialled_back_at_advertised_address(managers: Managers, raw: Raw) -> None:
    """§5.4: a non-wildcard advertised address wins over the configured one."""
    m2 = managers.add(2)
    with (
        socket.create_server((LOCAL, 0)) as configured,
        socket.create_server((LOCAL, 0)) as advertised,
    ):
        advertised.settimeout(DEADLINE_S)
        m2.set_view(1, [configured.getsockname()[:2]])
        s = raw(managers.address(2))
        s.sendall(encode_initial_message(1, [advertised.getsockname()[:2]]))
        back, _ = advertised.accept()
        back.close()


def test_multi_address_sends_v2_handshake(managers: Managers) -> None:
    """ZOOKEEPER-3720: V2 only with multiAddress.enabled; V1 otherwise."""
    for multi, version in ((False, PROTOCOL_VERSION_V1), (True, PROTOCOL_VERSION_V2)):
        with socket.create_server((LOCAL, 0)) as listener:
            listener.settimeout(DEADLINE_S)
            m = managers.add(10 + multi, multi_address=multi)
            m.set_view(1, [listener.getsockname()[:2]])
            m.connect_one(1)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(DEADLINE_S)
                msg = read_initial_message(conn.recv)
            assert (msg.sid, msg.protocol_version) == (m.my_sid, version)


def test_own_sid_connection_left_idle(
    managers: Managers, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    """§5.4: a connection claiming our own sid is neither used nor closed (until halt)."""
    m1 = managers.add(1)
    s = raw(managers.address(1))
    s.sendall(encode_initial_message(1, [(LOCAL, 1)]))
    wait_until(lambda: "our own ID" in caplog.text, what="warning")
    assert not closed_by_peer(s, 0.2)
    assert m1.connected() == []
    m1.halt()
    assert closed_by_peer(s)


def test_unreachable_peer_never_blocks_to_send(managers: Managers) -> None:
    """CnxManagerTest.testCnxManagerTimeout (ZOOKEEPER-3756): connects are asynchronous.
    A closed local port refuses at once; a full accept queue is a black hole that only
    cnxTimeout (or halt) ends - toSend returns at once either way."""
    m1 = managers.add(1, cnx_timeout_ms=30_000)
    with socket.socket() as closed:
        closed.bind((LOCAL, 0))
        closed_port = closed.getsockname()[1]
    m1.set_view(2, [(LOCAL, closed_port)])
    m1.to_send(2, b"x")
    wait_until(lambda: not any("QuorumConnectionThread" in t for t in m1.threads()))
    assert m1.connected() == []
    assert m1.send_queue_sizes() == {2: 1}

    with contextlib.ExitStack() as stack:
        hole = stack.enter_context(socket.socket())
        hole.bind((LOCAL, 0))
        hole.listen(0)
        filler = stack.enter_context(socket.create_connection(hole.getsockname(), timeout=2))
        assert filler is not None
        probe = stack.enter_context(socket.socket())
        probe.settimeout(0.3)
        try:
            probe.connect(hole.getsockname())
            pytest.skip("this kernel accepts beyond the backlog: no local black hole")
        except TimeoutError:
            pass
        m1.set_view(3, [hole.getsockname()[:2]])
        t0 = time.monotonic()
        for _ in range(50):
            m1.to_send(3, b"y")
        assert time.monotonic() - t0 < 5.0  # nowhere near the 30 s connect timeout
        assert any("QuorumConnectionThread" in t for t in m1.threads())  # still connecting
        t0 = time.monotonic()
        m1.halt()  # wakes the hanging connect
        assert time.monotonic() - t0 < 5.0
        assert m1.threads() == []


def test_receive_queue_capacity_drops_oldest(managers: Managers, raw: Raw) -> None:
    """§5.5: the receive queue keeps the newest 100 messages."""
    m1 = managers.add(1)
    s = raw(managers.address(1))
    s.sendall(
        encode_initial_message(2, [(LOCAL, 1)])
        + b"".join(encode_frame(struct.pack(">i", i)) for i in range(150))
    )
    wait_until(lambda: len(managers.events[1].of("delivered")) == 150, what="150 deliveries")
    assert m1.recv_queue_size() == 100
    assert len(managers.events[1].of("evicted")) == 50
    assert poll(m1).payload == struct.pack(">i", 50)


def test_halt_leaves_no_threads_and_wakes_pollers(managers: Managers) -> None:
    m1, m2 = managers.add(1), managers.add(2)
    m1.to_send(2, b"a")
    assert poll(m2).payload == b"a"
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(m1.poll_recv_queue(None)))
    waiter.start()
    m1.halt()
    m2.halt()
    waiter.join(DEADLINE_S)
    assert not waiter.is_alive()
    assert result == [None]
    assert m1.threads() == []
    assert m2.threads() == []


# --- nodes over TCP ---------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((LOCAL, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def three_node_cfg(tick: int = 100) -> str:
    ports = free_ports(6)
    lines = [f"tickTime={tick}", "initLimit=10", "syncLimit=5"]
    lines += [f"server.{i}={LOCAL}:{ports[2 * i - 2]}:{ports[2 * i - 1]}" for i in (1, 2, 3)]
    return "\n".join(lines) + "\n"


class Lines:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        with self.lock:
            return any(text in line for line in self.lines)


def test_three_nodes_elect_max_sid_and_replace_crashed_leader(tmp_path: Path) -> None:
    """Three zkfle nodes over TCP (ZooKeeper's election wire, then ZooKeeper's Zab) elect
    sid 3, which leads its followers to epoch 1 (ZooKeeper's DIFF or SNAP); when 3
    crashes, the one with the better vote takes over with epoch 2. Every node's trace
    re-executes identically."""
    text = three_node_cfg()
    out = Lines()
    nodes = {
        sid: TcpNode(
            parse_zoo_cfg(text, myid=sid),
            data_dir=tmp_path / f"n{sid}",
            trace=tmp_path / f"n{sid}.jsonl",
            out=out,
            seed=sid,
        )
        for sid in (1, 2, 3)
    }
    try:
        for node in nodes.values():
            node.bind()  # every node listens before the first one votes
        for node in nodes.values():
            node.start()
        wait_until(lambda: all(n.established for n in nodes.values()), what="epoch 1")
        assert [n.status()["leader"] for n in nodes.values()] == [3, 3, 3]
        assert nodes[3].state == ServerState.LEADING
        assert out.has("n1: LOOKING → FOLLOWING leader=3 round=1")
        # ZooKeeper's leader chose each sync (LearnerHandler.syncFollower): a follower that
        # syncs before the epoch is established has the leader's zxid, so an empty DIFF; a
        # later one gets a SNAP, the leader's zxid having become the epoch's (startZkServer).
        modes = [nodes[s].status()["sync_mode"] for s in (1, 2)]
        assert "DIFF" in modes, modes
        assert set(modes) <= {"DIFF", "SNAP"}, modes
        # the leader shows the same syncs of its learners (LeaderService.learner_views)
        wait_until(
            lambda: [v["synced"] for v in nodes[3].status()["learners"]] == [True, True],
            what="both learners synced, as the leader sees them",
        )
        learners = nodes[3].status()["learners"]
        assert [(v["sid"], v["type"], v["sync_mode"]) for v in learners] == [
            (1, "follower", modes[0]),
            (2, "follower", modes[1]),
        ]
        assert "learners" not in nodes[1].status()
        assert out.has("n3: LEADING: epoch 1 established with a quorum")
        assert out.has("n1: FOLLOWING: synced with leader 3, epoch 1"), out.lines
        # The best vote wins next: a SNAP left its follower at the epoch's zxid, a DIFF at 0.
        votes = {s: (int(nodes[s].status()["last_zxid"], 16), s) for s in (1, 2)}
        new = max(votes.values())[1]
        other = 3 - new
        nodes[3].stop("crash")
        # established in epoch 2: right after the crash both may still be established in
        # epoch 1, until each reads the EOF
        wait_until(
            lambda: all(
                nodes[s].established and nodes[s].status()["current_epoch"] == 2 for s in (1, 2)
            ),
            what="a new leader of epoch 2",
        )
        assert nodes[new].state == ServerState.LEADING
        assert nodes[other].status()["leader"] == new
        assert nodes[new].status()["current_epoch"] == 2
        assert nodes[other].status()["sync_mode"] in ("DIFF", "SNAP")
        assert (tmp_path / f"n{new}" / "version-2" / "currentEpoch").read_text().strip() == "2"
        assert out.has(f"n{other}: FOLLOWING → LOOKING (Connection to the leader closed)")
    finally:
        for node in nodes.values():
            node.stop()
    for sid, node in nodes.items():
        assert node.threads() == []
        assert node.errors == []
        result = verify(tmp_path / f"n{sid}.jsonl")
        assert result.ok, (result.divergence, result.violations)
        assert result.complete
        assert result.steps > 0
        events = list(iter_events(tmp_path / f"n{sid}.jsonl"))
        to_self = {e["msg"] for e in events if e["kind"] == "send" and e["to"] == sid}
        delivered = {e["msg"] for e in events if e["kind"] == "deliver"}
        assert to_self
        assert to_self <= delivered  # loopback is delivered too (trace format 1.1)


def lock_is_free(lock: threading.RLock) -> bool:
    """Whether another thread could take `lock` now (the caller may hold it itself)."""
    free: list[bool] = []

    def probe() -> None:
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        free.append(taken)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(DEADLINE_S)
    return free == [True]


def test_a_stop_cannot_fall_between_a_loopback_send_and_its_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ZK: toSend puts a message to ourselves straight into recvQueue. A stop that came
    between recording the send and the transport's delivery lost the delivery (the node
    records nothing once stopping), leaving a loopback send with no end in the trace. Here
    a stop is started just as the first loopback send reaches the transport."""
    cfg = parse_zoo_cfg(three_node_cfg(), myid=1)
    node = TcpNode(cfg, data_dir=tmp_path / "n1", trace=tmp_path / "n1.jsonl")
    to_send = TcpCnxManager.to_send
    stopper: list[threading.Thread] = []

    def stop_meanwhile(qcm: TcpCnxManager, sid: int, payload: bytes, msg_id: str = "") -> object:
        if sid == 1 and not stopper:
            free = lock_is_free(node.lock)
            stopper.append(threading.Thread(target=node.stop, args=("crash",)))
            stopper[0].start()
            if free:  # nothing holds the stop back: it marks the node stopping first
                wait_until(lambda: node.stopping, what="the stop to begin")
        return to_send(qcm, sid, payload, msg_id)

    monkeypatch.setattr(TcpCnxManager, "to_send", stop_meanwhile)
    try:
        node.bind()
        node.start()
        wait_until(lambda: bool(stopper), what="the first loopback send")
    finally:
        stopper[0].join(10.0)
        node.stop()
    assert node.threads() == []
    events = list(iter_events(tmp_path / "n1.jsonl"))
    to_self = {e["msg"] for e in events if e["kind"] == "send" and e["to"] == 1}
    delivered = {e["msg"] for e in events if e["kind"] == "deliver"}
    assert to_self
    assert to_self <= delivered


def test_node_refuses_bad_setup(tmp_path: Path) -> None:
    text = three_node_cfg()
    with pytest.raises(NodeError, match="no myid"):
        TcpNode(parse_zoo_cfg(text), data_dir=tmp_path)
    with pytest.raises(NodeError, match="no dataDir"):
        TcpNode(parse_zoo_cfg(text, myid=1))
    version = tmp_path / "n1" / "version-2"
    version.mkdir(parents=True)
    (version / "currentEpoch").write_text("3")
    (version / "acceptedEpoch").write_text("2")
    node = TcpNode(parse_zoo_cfg(text, myid=1), data_dir=tmp_path / "n1", record=False)
    with pytest.raises(NodeError, match="accepted epoch, 2, is less than the current epoch, 3"):
        node.start()
    node.stop()
    assert node.threads() == []


def test_zkfle_node_processes_elect_and_stop_on_sigterm(tmp_path: Path) -> None:
    """`python -m engine.runtime.node` as three processes: they agree on one leader that
    establishes epoch 1 (sid 3 unless the processes start far apart - then the first
    two elect 2 and 3 joins, ZOOKEEPER-975); SIGTERM stops each cleanly (exit 0, a
    trace with a footer that verifies)."""
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(three_node_cfg())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = {}
    logs = {}
    try:
        for sid in (1, 2, 3):
            logs[sid] = (tmp_path / f"n{sid}.out").open("w")
            procs[sid] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "engine.runtime.node",
                    "--config",
                    str(cfg),
                    "--myid",
                    str(sid),
                    "--data-dir",
                    str(tmp_path / f"n{sid}"),
                    "--trace",
                    str(tmp_path / f"n{sid}.jsonl"),
                ],
                stdout=logs[sid],
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
            )

        def text(sid: int) -> str:
            return (tmp_path / f"n{sid}.out").read_text()

        def stable() -> bool:
            leaders = [s for s in (1, 2, 3) if "LEADING: epoch 1 established" in text(s)]
            return len(leaders) == 1 and all(
                f"synced with leader {leaders[0]}, epoch 1" in text(s)
                for s in (1, 2, 3)
                if s != leaders[0]
            )

        wait_until(
            stable,
            timeout_s=30,
            what=lambda: "an established leader:\n" + "\n".join(text(s) for s in (1, 2, 3)),
        )
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for sid, proc in procs.items():
            assert proc.wait(timeout=DEADLINE_S) == 0, text(sid)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(DEADLINE_S)
        for f in logs.values():
            f.close()
    for sid in (1, 2, 3):
        assert f"n{sid}: stopped (shutdown)" in text(sid)
        result = verify(tmp_path / f"n{sid}.jsonl")
        assert result.ok
        assert result.complete


def test_zkfle_node_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("tickTime=100\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:1:2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "engine.runtime.node", "--config", str(cfg), "--myid", "7"],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert "7 is not in the server list" in proc.stderr


_SIGNALLED_WHILE_STARTING = """
import os, signal, sys
from engine.runtime import node
from engine.runtime.tcpnode import TcpNode

start = TcpNode.start

def start_then_signalled(self):  # the signal lands while the node is starting
    os.kill(os.getpid(), signal.SIGTERM)
    start(self)

TcpNode.start = start_then_signalled
sys.exit(node.main(sys.argv[1:]))
"""


def test_zkfle_node_signalled_while_it_starts_stops_cleanly(tmp_path: Path) -> None:
    """Regression: `zkfle node` took SIGINT/SIGTERM only once started, so a signal while
    it started (a starved process, a supervisor giving up) killed it without its trace's
    footer (exit -15) or with a KeyboardInterrupt's traceback. It now stops once started:
    exit 0 and a trace that verifies whole."""
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(three_node_cfg())
    trace = tmp_path / "n1.jsonl"
    args = ["--config", str(cfg), "--myid", "1", "--data-dir", str(tmp_path / "n1")]
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_WHILE_STARTING, *args, "--trace", str(trace)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "n1: stopped (shutdown)" in proc.stdout, proc.stdout
    result = verify(trace)
    assert result.ok
    assert result.complete
