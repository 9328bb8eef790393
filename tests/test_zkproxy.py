"""The recording fault proxy with fake servers: plain sockets in the servers' places, no Java.

Each test starts a proxy for three fake servers (listening sockets for their quorum and
election ports), plays one server dialling another through the proxy with ZooKeeper's
bytes, and reads what comes out at the other end and what the proxy reported. Faults are
engine.runtime.faults.LinkFault, as the Cluster makes them. Every wait has a deadline; the fixture
closes every socket and stops the proxy.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from engine.core.quorumpacket import encode_packet
from engine.core.vote import ServerState, ToSend
from engine.core.wire import (
    PACKETMAXSIZE,
    PROTOCOL_VERSION_V2,
    InitialMessage,
    decode_notification,
    encode_frame,
    encode_initial_message,
    encode_notification,
    read_frame,
    read_initial_message,
)
from engine.runtime.faults import LinkFault
from engine.runtime.zookeeper.events import ELECTION, HOST, QUORUM, ProxyError, ProxyEvent
from engine.runtime.zookeeper.proxy import ZkProxy
from tests.zkproxied import DEADLINE_S, Events, socket_inodes

CONFIG = "server.1=127.0.0.1:1:2:participant\nserver.2=127.0.0.1:3:4:participant\nversion=0"


def listener() -> socket.socket:
    s = socket.socket()
    s.bind((HOST, 0))
    s.listen()
    s.settimeout(DEADLINE_S)
    return s


def notification(sender: int, to: int, leader: int, epoch: int = 1) -> bytes:
    """A frame as a Java server sends it: length, 44-byte header with version 2, config."""
    m = ToSend(leader, 0x100000002, epoch, ServerState.LOOKING, to, 1, CONFIG)
    return encode_frame(encode_notification(m))


@dataclass
class Net:
    proxy: ZkProxy
    events: Events
    servers: dict[int, dict[str, socket.socket]]
    sockets: list[socket.socket] = field(default_factory=list)

    def dial(self, a: int, b: int, plane: str) -> socket.socket:
        """Server a connects to its config's address for b: the proxy's port."""
        quorum, election = self.proxy.peer_ports(a, b)
        s = socket.create_connection((HOST, quorum if plane == QUORUM else election), DEADLINE_S)
        self.sockets.append(s)
        return s

    def accept(self, sid: int, plane: str) -> socket.socket:
        """What reaches server `sid`'s real port."""
        s, _ = self.servers[sid][plane].accept()
        s.settimeout(DEADLINE_S)
        self.sockets.append(s)
        return s

    def fault(
        self,
        fid: str,
        kind: str,
        links: set[tuple[int, int]],
        *,
        delay_ms: float = 0.0,
        probability: float = 0.0,
    ) -> None:
        text = f"{kind} {sorted(links)}"
        self.proxy.add_fault(
            LinkFault(fid, kind, frozenset(links), text, delay_ms=delay_ms, probability=probability)
        )


def reader(s: socket.socket) -> Callable[[int], bytes]:
    return s.recv


def recv_exactly(s: socket.socket, n: int) -> bytes:
    """n bytes, or what came before the other side closed. (MSG_WAITALL does not wait on a
    socket with a timeout: Python makes it non-blocking.)"""
    chunks = []
    while n > 0 and (chunk := s.recv(n)):
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def election_pair(net: Net, a: int = 3, b: int = 1) -> tuple[socket.socket, socket.socket]:
    """a dials b (the larger sid dials: this connection survives in ZooKeeper), sends its
    V1 handshake; returns (a's socket, b's accepted socket with the handshake read)."""
    s = net.dial(a, b, ELECTION)
    s.sendall(encode_initial_message(a, [(HOST, net.proxy.upstream[a][1])]))
    t = net.accept(b, ELECTION)
    read_initial_message(reader(t))
    return s, t


@contextmanager
def fake_servers(sids: tuple[int, ...], down: tuple[int, ...] = ()) -> Iterator[Net]:
    """A started proxy in front of fake servers; everything closed on the way out."""
    servers = {sid: {QUORUM: listener(), ELECTION: listener()} for sid in sids}
    upstream = {
        sid: (p[QUORUM].getsockname()[1], p[ELECTION].getsockname()[1])
        for sid, p in servers.items()
    }
    events = Events()
    proxy = ZkProxy(upstream, on_event=events, seed=1, down=down, learner_connect_delay_ms=50.0)
    proxy.start()
    n = Net(proxy, events, servers)
    try:
        yield n
    finally:
        proxy.stop()
        for s in n.sockets:
            s.close()
        for pair in servers.values():
            for s in pair.values():
                s.close()


@pytest.fixture
def net() -> Iterator[Net]:
    with fake_servers((1, 2, 3)) as n:
        yield n


# --- the election plane -------------------------------------------------------------------------


def test_every_pair_and_plane_has_its_own_port_and_a_server_sees_its_own_real_ports(
    net: Net,
) -> None:
    ports = {net.proxy.peer_ports(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b}
    assert len({p for pair in ports for p in pair}) == 12  # 6 directed pairs x 2 planes
    assert net.proxy.peer_ports(2, 2) == net.proxy.upstream[2]


def test_the_handshake_address_is_rewritten_to_the_proxy_port_for_the_way_back(net: Net) -> None:
    """ZK: handleConnection dials a smaller sid back at the address its handshake carried;
    that must be the proxy's port for 3 -> 1, or the connection would bypass the proxy."""
    s = net.dial(1, 3, ELECTION)
    real = (HOST, net.proxy.upstream[1][1])
    s.sendall(encode_initial_message(1, [real]))
    t = net.accept(3, ELECTION)
    got = read_initial_message(reader(t))
    back = net.proxy.peer_ports(3, 1)[1]
    assert got == InitialMessage(1, ((HOST, back),))
    [up] = net.events.wait("conn", up=True)
    assert up.node == 1
    assert up.fields["handshake"] == {
        "sid": 1,
        "protocol_version": -65536,
        "addresses": [f"{HOST}:{real[1]}"],
        "rewritten": f"{HOST}:{back}",
    }


def test_a_smaller_sid_that_closes_after_its_handshake_still_gets_it_through(net: Net) -> None:
    """ZK: startConnection - the smaller sid writes its handshake and closes at once; the
    larger one must still read it, close, and dial back (its "call me back")."""
    s = net.dial(1, 3, ELECTION)
    s.sendall(encode_initial_message(1, [(HOST, net.proxy.upstream[1][1])]))
    s.close()
    t = net.accept(3, ELECTION)
    assert read_initial_message(reader(t)).sid == 1
    assert t.recv(1) == b""
    [down] = net.events.wait("conn", up=False)
    assert down.fields["reason"] == "closed by n1"


def test_a_V2_handshake_keeps_its_version_and_gets_the_one_proxy_address(net: Net) -> None:
    s = net.dial(2, 1, ELECTION)
    s.sendall(
        encode_initial_message(2, [("10.0.0.2", 3888), ("10.1.0.2", 3888)], PROTOCOL_VERSION_V2)
    )
    got = read_initial_message(reader(net.accept(1, ELECTION)))
    assert got == InitialMessage(2, ((HOST, net.proxy.peer_ports(1, 2)[1]),), PROTOCOL_VERSION_V2)


def test_a_legacy_handshake_is_forwarded_as_it_is(net: Net) -> None:
    s = net.dial(2, 1, ELECTION)
    s.sendall(struct.pack(">q", 2) + notification(2, 1, leader=2))
    t = net.accept(1, ELECTION)
    assert read_initial_message(reader(t)) == InitialMessage(2, (), None)
    assert decode_notification(read_frame(reader(t)), 2).leader == 2


def test_frames_split_anywhere_are_forwarded_whole_each_decoded_once(net: Net) -> None:
    s, t = election_pair(net)
    frames = [notification(3, 1, leader=leader) for leader in (3, 2, 3, 1)]
    stream = b"".join(frames)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(stream), 7):  # writes that cut lengths and payloads anywhere
        s.sendall(stream[i : i + 7])
    got = [read_frame(reader(t)) for _ in frames]
    assert got == [f[4:] for f in frames]
    sends = net.events.wait("send", 4)
    assert [e.fields["n"]["leader"] for e in sends] == [3, 2, 3, 1]
    assert [e.fields["msg"] for e in sends] == ["m1", "m2", "m3", "m4"]
    assert sends[0].fields["n"]["config"] == CONFIG  # then only when it changes
    assert all("config" not in e.fields["n"] for e in sends[1:])
    assert {e.fields["config_version"] for e in sends} == {0}
    delivers = net.events.wait("deliver", 4)
    assert [(e.node, e.fields["from"], e.fields["msg"]) for e in delivers] == [
        (1, 3, f"m{i}") for i in (1, 2, 3, 4)
    ]
    # Real times: monotonic for ordering, wall-clock for the record.
    assert all(a.t_mono <= b.t_mono for a, b in zip(sends, delivers, strict=True))
    assert abs(sends[0].wall - time.time()) < 60


def test_the_way_back_is_the_link_b_to_a(net: Net) -> None:
    s, t = election_pair(net)
    t.sendall(notification(1, 3, leader=1))
    assert decode_notification(read_frame(reader(s)), 1).leader == 1
    [send] = net.events.wait("send")
    assert (send.node, send.fields["to"], send.fields["n"]["sid"]) == (1, 3, 1)


# --- faults on election links -------------------------------------------------------------------


def test_a_block_drops_frames_it_never_buffers_them(net: Net) -> None:
    """DESIGN §3.7: a buffered link would deliver stale votes at the heal."""
    s, t = election_pair(net)
    net.fault("f1", "block", {(3, 1)})
    s.sendall(notification(3, 1, leader=3, epoch=1))
    [drop] = net.events.wait("drop")
    assert drop.fields == {
        "msg": "m1",
        "from": 3,
        "to": 1,
        "reason": "partition",
        "fault": "f1",
        "plane": ELECTION,
    }
    t.sendall(notification(1, 3, leader=1))  # the other way is open
    assert decode_notification(read_frame(reader(s)), 1).leader == 1
    assert net.proxy.remove_fault("f1") is not None
    s.sendall(notification(3, 1, leader=3, epoch=2))
    assert decode_notification(read_frame(reader(t)), 3).election_epoch == 2  # not epoch 1


def test_a_connection_on_a_blocked_link_is_refused_either_way(net: Net) -> None:
    """TCP's handshake needs both ways: while 2->1 is cut, 1's and 2's dials to each other
    are refused for real, as a down peer's or a firewall's REJECT (Java then logs `Cannot
    open channel ... Connection refused`, not a connection that broke)."""
    net.fault("f1", "block", {(2, 1)})  # one way only
    for a, b in ((1, 2), (2, 1)):
        for plane in (ELECTION, QUORUM):
            with pytest.raises(ConnectionRefusedError):
                net.dial(a, b, plane)
    # The ports stay bound meanwhile: a socket that does not share them cannot take them.
    with socket.socket() as other, pytest.raises(OSError, match="Address already in use"):
        other.bind((HOST, net.proxy.peer_ports(1, 2)[1]))
    s = net.dial(1, 3, ELECTION)  # other links are open
    s.sendall(encode_initial_message(1, [(HOST, 1)]))
    assert read_initial_message(reader(net.accept(3, ELECTION))).sid == 1
    net.proxy.clear_faults()
    s2 = net.dial(1, 2, ELECTION)
    s2.sendall(encode_initial_message(1, [(HOST, 1)]))
    assert read_initial_message(reader(net.accept(2, ELECTION))).sid == 1


def test_loss_drops_and_dup_doubles(net: Net) -> None:
    s, t = election_pair(net)
    net.fault("f1", "loss", {(3, 1)}, probability=1.0)
    s.sendall(notification(3, 1, leader=3, epoch=1))
    assert net.events.wait("drop", reason="loss", fault="f1")
    net.proxy.remove_fault("f1")
    net.fault("f2", "dup", {(3, 1)}, probability=1.0)
    s.sendall(notification(3, 1, leader=3, epoch=2))
    first, second = read_frame(reader(t)), read_frame(reader(t))
    assert first == second
    assert decode_notification(first, 3).election_epoch == 2
    assert len(net.events.wait("deliver", 2, msg="m2")) == 2


def test_delay_holds_a_frame_back_and_reorder_lets_later_ones_overtake(net: Net) -> None:
    s, t = election_pair(net)
    net.fault("f1", "delay", {(3, 1)}, delay_ms=300.0)
    s.sendall(notification(3, 1, leader=3, epoch=1))
    assert read_frame(reader(t))
    [send] = net.events.wait("send", msg="m1")
    [deliver] = net.events.wait("deliver", msg="m1")
    assert deliver.t_mono - send.t_mono >= 0.3
    net.proxy.remove_fault("f1")
    net.fault("f2", "reorder", {(3, 1)}, probability=1.0)
    s.sendall(notification(3, 1, leader=3, epoch=2))
    net.events.wait("send", msg="m2")
    net.proxy.remove_fault("f2")
    s.sendall(notification(3, 1, leader=3, epoch=3))
    epochs = [decode_notification(read_frame(reader(t)), 3).election_epoch for _ in range(2)]
    assert epochs == [3, 2]


def test_hold_release_deliver_and_drop_by_id(net: Net) -> None:
    s, t = election_pair(net)
    net.fault("f1", "hold", {(3, 1)})
    for epoch in (1, 2, 3, 4):
        s.sendall(notification(3, 1, leader=3, epoch=epoch))
    net.events.wait("send", 4)
    assert net.proxy.depths()[(3, 1)].held == 4
    assert net.proxy.release(3, 1, 1) == 1  # release next
    assert decode_notification(read_frame(reader(t)), 3).election_epoch == 1
    assert net.proxy.deliver_message("m3")
    assert decode_notification(read_frame(reader(t)), 3).election_epoch == 3
    assert net.proxy.drop_message("m2")
    assert net.events.wait("drop", msg="m2", reason="user")
    assert not net.proxy.drop_message("m2")  # gone
    assert net.proxy.depths()[(3, 1)].held == 1
    net.proxy.remove_fault("f1")  # a healed hold lets the rest go
    assert decode_notification(read_frame(reader(t)), 3).election_epoch == 4
    assert net.proxy.depths()[(3, 1)].held == 0


def test_held_frames_of_a_closed_connection_are_dropped(net: Net) -> None:
    s, t = election_pair(net)
    net.fault("f1", "hold", {(3, 1)})
    s.sendall(notification(3, 1, leader=3))
    net.events.wait("send")
    t.close()
    assert net.events.wait("drop", msg="m1", reason="closed")
    assert net.proxy.release(3, 1) == 0


def test_a_close_from_a_blocked_side_arrives_at_the_heal(net: Net) -> None:
    s, t = election_pair(net)
    net.fault("f1", "block", {(3, 1)})
    s.close()
    net.events.wait("conn", up=True)
    t.settimeout(0.2)
    with pytest.raises(TimeoutError):
        t.recv(1)  # silence, as in a real partition: no FIN crosses it
    t.settimeout(DEADLINE_S)
    net.proxy.remove_fault("f1")
    assert t.recv(1) == b""
    [down] = net.events.wait("conn", up=False)
    assert down.fields["reason"] == "closed by n3"


# --- undecodable bytes --------------------------------------------------------------------------


def test_a_bad_handshake_is_counted_reported_and_closes_only_its_connection(net: Net) -> None:
    s = net.dial(2, 1, ELECTION)
    s.sendall(struct.pack(">q", -5) + b"garbage")
    assert s.recv(1) == b""
    [drop] = net.events.wait("drop", reason="malformed")
    assert drop.fields["detail"] == (
        "handshake: unrecognized protocol version -5 (expected -65536 or -65535, or a sid >= 0)"
    )
    assert drop.fields["payload"] == struct.pack(">q", -5).hex()
    assert net.proxy.stats().undecodable == {"handshake": 1}
    assert net.proxy.stats().dropped == {"malformed": 1}
    assert net.accept(1, ELECTION).recv(1) == b""  # the garbage never reached server 1
    s2, t2 = election_pair(net)  # the proxy goes on
    s2.sendall(notification(3, 1, leader=3))
    assert read_frame(reader(t2))


@pytest.mark.parametrize("length", [0, -1, PACKETMAXSIZE + 1])
def test_a_frame_length_java_refuses_closes_the_connection(net: Net, length: int) -> None:
    """ZK: RecvWorker tears the connection down on a length outside 1..PACKETMAXSIZE; the
    proxy does the same (it cannot frame what follows) and reports it."""
    s, t = election_pair(net)
    s.sendall(struct.pack(">i", length) + b"\x01" * 16)
    assert t.recv(1) == b""
    assert s.recv(1) == b""
    [drop] = net.events.wait("drop", reason="malformed")
    assert drop.fields["detail"] == f"invalid frame length {length} (must be 1..{PACKETMAXSIZE})"
    assert net.proxy.stats().undecodable == {"frame_length": 1}


def test_a_short_notification_is_forwarded_and_counted(net: Net) -> None:
    """A frame whose payload FLE cannot read still is a frame: Java's WorkerReceiver drops it
    ("Got a short response"), so the proxy passes it on and says it could not decode it."""
    s, t = election_pair(net)
    s.sendall(encode_frame(b"\x00" * 10))
    assert read_frame(reader(t)) == b"\x00" * 10
    [send] = net.events.wait("send")
    assert (
        send.fields["error"]
        == "notification from sid 3: short response, 10-byte payload (needs at least 28)"
    )
    assert send.fields["payload"] == "00" * 10
    assert net.proxy.stats().undecodable == {"notification": 1}


def test_a_stream_that_ends_inside_a_frame_is_counted(net: Net) -> None:
    s, t = election_pair(net)
    frame = notification(3, 1, leader=3)
    s.sendall(frame[:30])
    s.close()
    assert t.recv(1) == b""  # half a frame is never forwarded
    [drop] = net.events.wait("drop", reason="malformed")
    assert drop.fields["detail"] == "stream ended inside a message, 30 byte(s) of it received"
    assert net.proxy.stats().undecodable == {"truncated": 1}


# --- the quorum plane ---------------------------------------------------------------------------


def learner_info(sid: int) -> bytes:
    return struct.pack(">qiq", sid, 0x10000, 0)


def learner_connected(net: Net, learner: int, leader: int) -> tuple[socket.socket, socket.socket]:
    """The learner dialled the leader through the proxy and its FOLLOWERINFO arrived."""
    s = net.dial(learner, leader, QUORUM)
    hello = encode_packet(11, 0, learner_info(learner))
    s.sendall(hello)
    t = net.accept(leader, QUORUM)
    assert recv_exactly(t, len(hello)) == hello
    return s, t


def ping(zxid: int) -> bytes:
    return encode_packet(5, zxid)  # 20 bytes


def test_quorum_packets_are_forwarded_as_they_come_and_decoded(net: Net) -> None:
    s = net.dial(2, 1, QUORUM)  # learner 2 connects to leader 1
    hello = encode_packet(11, 0x100000000, learner_info(2))
    s.sendall(hello)
    t = net.accept(1, QUORUM)
    assert recv_exactly(t, len(hello)) == hello
    snap = encode_packet(15, 0x100000005) + dump()
    t.sendall(snap[:5])
    t.sendall(snap[5:] + encode_packet(12))
    expected = snap + encode_packet(12)
    assert recv_exactly(s, len(expected)) == expected
    zsends = net.events.wait("zsend", 4)
    assert [(e.node, e.fields["packet"]["type"]) for e in zsends] == [
        (2, "FOLLOWERINFO"),
        (1, "SNAP"),
        (1, "SNAPSHOT"),
        (1, "UPTODATE"),
    ]
    assert zsends[0].fields["packet"] == {
        "type": "FOLLOWERINFO",
        "zxid": "0x100000000",
        "length": 20,
        "sid": 2,
        "protocol_version": 0x10000,
        "config_version": 0,
    }
    assert zsends[2].fields["packet"]["nodes"] == 2
    assert [e.fields["msg"] for e in net.events.wait("zdeliver", 4)] == ["p1", "p2", "p3", "p4"]


def dump() -> bytes:
    """A tiny snapshot dump: no sessions, no ACLs, the root and /zookeeper, end, signature."""
    stat = struct.pack(">qqqqiiiqq", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    node = struct.pack(">i", -1) + struct.pack(">q", -1) + stat
    return (
        struct.pack(">ii", 0, 0)
        + struct.pack(">i", 0)
        + node
        + struct.pack(">i", 10)
        + b"/zookeeper"
        + node
        + struct.pack(">i", 1)
        + b"/"
        + struct.pack(">i", 10)
        + b"BenWasHere"
    )


def test_a_block_discards_quorum_bytes_and_the_heal_closes_the_broken_stream(net: Net) -> None:
    """Bytes missing from a TCP stream make it corrupt: while blocked the sockets stay open
    and silent (ZooKeeper's read timeouts fire), at the heal the connection is closed."""
    s, t = learner_connected(net, 2, 1)
    net.fault("f1", "block", {(1, 2), (2, 1)})
    t.sendall(encode_packet(5, 1))  # a PING from the leader, lost
    [drop] = net.events.wait("drop", reason="partition")
    assert drop.fields == {
        "msg": "p2",
        "from": 1,
        "to": 2,
        "reason": "partition",
        "fault": "f1",
        "plane": QUORUM,
    }
    s.settimeout(0.2)
    with pytest.raises(TimeoutError):
        s.recv(1)
    assert net.proxy.stats().discarded_bytes == len(encode_packet(5, 1))
    net.proxy.remove_fault("f1")
    s.settimeout(DEADLINE_S)
    assert s.recv(1) == b""
    assert t.recv(1) == b""
    [down] = net.events.wait("conn", up=False, plane=QUORUM)
    assert down.fields["reason"] == "stream broken: 20 byte(s) n1->n2 dropped by f1"


def stalled(net: Net) -> tuple[socket.socket, socket.socket]:
    """Leader 1's stream to learner 2 held with two PINGs in it (p2, p3), read apart."""
    s, t = learner_connected(net, 2, 1)
    net.fault("f1", "hold", {(1, 2)})
    t.sendall(ping(1))
    net.events.wait("zsend", msg="p2")
    t.sendall(ping(2))
    net.events.wait("zsend", msg="p3")
    assert net.proxy.depths()[(1, 2)].held_bytes == 40
    return s, t


def test_a_quorum_stream_held_stalls_in_order_and_resumes_whole(net: Net) -> None:
    s, _ = stalled(net)
    assert net.proxy.release(1, 2, 1) == 2  # a stream cannot go on in part
    assert recv_exactly(s, 40) == ping(1) + ping(2)
    assert [e.fields["msg"] for e in net.events.wait("zdeliver", 3)] == ["p1", "p2", "p3"]


def test_delivering_a_stalled_packet_lets_the_stream_go_up_to_it(net: Net) -> None:
    s, _ = stalled(net)
    assert net.proxy.deliver_message("p2")
    assert recv_exactly(s, 20) == ping(1)
    assert net.proxy.depths()[(1, 2)].held_bytes == 20
    net.proxy.remove_fault("f1")
    assert recv_exactly(s, 20) == ping(2)


@pytest.mark.parametrize("how", ["drop p3", "discard_held"])
def test_dropping_stalled_packets_breaks_the_stream(net: Net, how: str) -> None:
    """Bytes cannot be taken out of a TCP stream: the connection closes (both ends)."""
    s, t = stalled(net)
    if how == "drop p3":
        assert net.proxy.drop_message("p3")
    else:
        assert net.proxy.discard_held(1, 2) == 2
    assert s.recv(1) == b""
    assert t.recv(1) == b""
    [down] = net.events.wait("conn", up=False)
    assert down.fields["reason"] == (
        "user dropped p3" if how == "drop p3" else "user dropped stalled packets n1->n2"
    )
    drops = {e.fields["msg"]: e.fields["reason"] for e in net.events.wait("drop", 2)}
    if how == "drop p3":
        assert drops == {"p3": "user", "p2": "closed"}
    else:
        assert drops == {"p2": "user", "p3": "user"}


def test_a_delayed_quorum_stream_keeps_its_order(net: Net) -> None:
    s, t = learner_connected(net, 2, 1)
    net.fault("f1", "delay", {(1, 2)}, delay_ms=200.0)
    t.sendall(ping(1))
    net.events.wait("zsend", msg="p2")
    net.proxy.remove_fault("f1")
    t.sendall(ping(2))  # not delayed itself, but a stream never overtakes
    assert recv_exactly(s, 40) == ping(1) + ping(2)
    [sent] = net.events.wait("zsend", msg="p2")
    [arrived] = net.events.wait("zdeliver", msg="p2")
    assert arrived.t_mono - sent.t_mono >= 0.2


def test_delivering_a_delayed_packet_writes_the_stream_up_to_it_now(net: Net) -> None:
    s, t = learner_connected(net, 2, 1)
    net.fault("f1", "delay", {(1, 2)}, delay_ms=60_000.0)
    t.sendall(ping(1))
    net.events.wait("zsend", msg="p2")
    t.sendall(ping(2))
    net.events.wait("zsend", msg="p3")
    assert net.proxy.deliver_message("p3")
    assert recv_exactly(s, 40) == ping(1) + ping(2)


def test_a_receiver_that_does_not_read_stops_the_proxy_reading_its_sender(net: Net) -> None:
    """TCP's back-pressure across the proxy: a paused learner's socket fills, the proxy
    stops reading the leader, and the leader's writes block - the proxy never piles up
    what the receiver does not take."""
    s, t = learner_connected(net, 2, 1)
    packet = encode_packet(2, 0x100000001, b"\x07" * 60_000)  # PROPOSALs
    t.setblocking(False)
    sent = 0
    while sent < 64 * 1024 * 1024:
        try:
            sent += t.send(packet[sent % len(packet) :])
        except BlockingIOError:
            break
    assert sent < 64 * 1024 * 1024, "the leader's writes never blocked"
    assert net.proxy.depths()[(1, 2)].buffered < 1024 * 1024
    t.setblocking(True)
    assert len(recv_exactly(s, sent)) == sent  # all of it, once the learner reads


def test_a_learner_waits_while_the_proxy_retries_the_leader_port(net: Net) -> None:
    """ZK: Learner.LeaderConnector retries a refused connect 5 times; the proxy accepted the
    learner already, so it retries for it and the learner's FOLLOWERINFO arrives."""
    port = net.proxy.upstream[3][0]
    net.servers[3][QUORUM].close()  # leader 3 is not listening yet
    late = socket.socket()
    net.sockets.append(late)
    late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    late.bind((HOST, port))
    late.settimeout(DEADLINE_S)
    s = net.dial(1, 3, QUORUM)
    hello = encode_packet(11, 0, learner_info(1))
    s.sendall(hello)
    deadline = time.monotonic() + DEADLINE_S
    while net.proxy.stats().dial_retries < 1:
        assert time.monotonic() < deadline, "the proxy never retried"
        time.sleep(0.01)
    late.listen()
    t, _ = late.accept()
    net.sockets.append(t)
    t.settimeout(DEADLINE_S)
    assert recv_exactly(t, len(hello)) == hello


def test_what_a_dialler_sent_before_it_left_is_delivered_once_the_dial_succeeds(
    net: Net,
) -> None:
    """The rule behind a smaller sid's call-me-back, made deterministic: the learner sends
    and closes while the proxy is still retrying the leader's port."""
    port = net.proxy.upstream[3][0]
    net.servers[3][QUORUM].close()
    late = socket.socket()
    net.sockets.append(late)
    late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    late.bind((HOST, port))
    late.settimeout(DEADLINE_S)
    s = net.dial(1, 3, QUORUM)
    hello = encode_packet(11, 0, learner_info(1))
    s.sendall(hello)
    s.close()
    retries = net.proxy.stats().dial_retries
    deadline = time.monotonic() + DEADLINE_S
    while net.proxy.stats().dial_retries < retries + 2:  # the close came in meanwhile
        assert time.monotonic() < deadline, "the proxy stopped retrying"
        time.sleep(0.01)
    late.listen()
    t, _ = late.accept()
    net.sockets.append(t)
    t.settimeout(DEADLINE_S)
    assert recv_exactly(t, len(hello) + 1) == hello  # then the close


def test_a_refused_dial_closes_the_dialler_and_says_why(net: Net) -> None:
    net.servers[2][ELECTION].close()  # server 2 is down
    s = net.dial(3, 2, ELECTION)
    assert s.recv(1) == b""
    [down] = net.events.wait("conn", up=False)
    port = net.proxy.upstream[2][1]
    assert down.fields["reason"].startswith(f"n2 {HOST}:{port}: ")


def test_dials_to_a_server_that_is_down_are_refused_until_it_is_up(net: Net) -> None:
    """A server its runtime says is down (crashed, exited) refuses connects as a down
    server does: Java then logs `Cannot open channel ... Connection refused`, not a
    connection the proxy accepted and then closed. Its own dials are not its peers'."""
    net.proxy.set_down(2, True)
    for a in (1, 3):
        for plane in (ELECTION, QUORUM):
            with pytest.raises(ConnectionRefusedError):
                net.dial(a, 2, plane)
    s = net.dial(2, 1, ELECTION)  # what it dials is up
    s.sendall(encode_initial_message(2, [(HOST, 1)]))
    assert read_initial_message(reader(net.accept(1, ELECTION))).sid == 2
    net.proxy.set_down(2, False)
    election_pair(net, 3, 2)
    assert net.events.of("conn", up=False) == []  # nothing was accepted and then closed


def test_servers_down_from_the_start_refuse_until_they_are_up() -> None:
    with fake_servers((1, 2, 3), down=(1, 2, 3)) as net:
        for a, b in ((1, 2), (2, 3), (3, 1)):
            with pytest.raises(ConnectionRefusedError):
                net.dial(a, b, ELECTION)
        net.proxy.set_down(1, False)
        election_pair(net, 3, 1)
        with pytest.raises(ConnectionRefusedError):
            net.dial(1, 2, QUORUM)


def test_jute_garbage_is_counted_and_still_forwarded(net: Net) -> None:
    """The quorum plane is relayed byte for byte; decoding is only for the record, so what
    the proxy cannot decode still reaches the server, which judges it as it would."""
    s = net.dial(2, 1, QUORUM)
    garbage = struct.pack(">iqi", 11, 0, -7) + b"\xff" * 12
    s.sendall(garbage)
    t = net.accept(1, QUORUM)
    assert recv_exactly(t, len(garbage)) == garbage
    [bad] = net.events.wait("zsend")
    assert (
        bad.fields["error"]
        == "unreasonable data length -7 at stream offset 12 (packet type 11 at 0)"
    )
    assert net.proxy.stats().undecodable == {"jute": 1}


# --- life cycle ---------------------------------------------------------------------------------


def test_stop_closes_every_socket_and_thread() -> None:
    before = len(socket_inodes(os.getpid()))
    with fake_servers((1, 2)) as n:
        s, t = election_pair(n, 2, 1)
        s.sendall(notification(2, 1, leader=2))
        read_frame(reader(t))
        assert n.proxy.open_sockets() == 4 + 2  # 2 pairs x 2 planes, one relayed connection
    assert n.proxy.open_sockets() == 0
    assert len(socket_inodes(os.getpid())) == before
    assert not [t for t in threading.enumerate() if t.name.startswith("zkproxy")]
    assert n.events.of("conn", up=False)[0].fields["reason"] == "proxy stopped"
    with pytest.raises(ProxyError, match="the proxy is stopped"):
        n.proxy.depths()


def test_a_failing_listener_does_not_stop_the_events(net: Net) -> None:
    seen: list[str] = []

    def listen(event: ProxyEvent) -> None:
        seen.append(event.kind)
        if event.kind == "send":
            raise RuntimeError("listener bug")
        net.events(event)

    net.proxy.on_event = listen
    s, _ = election_pair(net)
    s.sendall(notification(3, 1, leader=3))
    net.events.wait("deliver")
    assert "send" in seen
    assert net.proxy.stats().listener_errors == 1
