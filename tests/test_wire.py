"""ZooKeeper's election wire format (reference §1): byte vectors, the WorkerReceiver decision
table, ports of FLEMalformedNotificationMessageTest and CnxManagerTest, answers recorded from a
real ZooKeeper 3.8 jar (tests/data/wire/java_vectors.json), and hypothesis fuzzing."""

from __future__ import annotations

import io
import ipaddress
import json
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.vote import LONG_MAX, LONG_MIN, Notification, ServerState, ToSend
from engine.core.wire import (
    MAX_BUFFER,
    NOTIFICATION_CURRENT_VERSION,
    OBSERVER_ID,
    PACKETMAXSIZE,
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    EndOfStreamError,
    InitialMessage,
    UnknownStateError,
    WireError,
    build_payload,
    check_frame_length,
    decode_notification,
    drop_wildcard_addresses,
    encode_frame,
    encode_initial_message,
    encode_notification,
    format_inet_addr,
    is_wildcard_address,
    java_utf8,
    parse_inet_addr,
    read_frame,
    read_initial_message,
)

LOOKING, FOLLOWING, LEADING, OBSERVING = ServerState
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "wire" / "java_vectors.json").read_text()
)
longs = st.integers(LONG_MIN, LONG_MAX)


def reader(data: bytes, chunk: int | None = None) -> Callable[[int], bytes]:
    """A `read(n)` over bytes, returning at most `chunk` bytes per call, like a socket."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(n if chunk is None else min(n, chunk))


def create_msg(state: int, leader: int, zxid: int, epoch: int) -> bytes:
    """FLETestUtils.createMsg: the 40-byte test message, round 1, trailing version 1."""
    return build_payload(state, leader, zxid, 1, epoch, 1)


def test_constants_match_ZooKeeper() -> None:
    assert PACKETMAXSIZE == 512 * 1024
    assert MAX_BUFFER == 2048
    assert (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2) == (-65536, -65535)
    assert NOTIFICATION_CURRENT_VERSION == 2
    assert OBSERVER_ID == 2**63 - 1


# --- byte-for-byte vectors (reference §1.2, §1.5) ---------------------------------------------


def test_initial_message_example_bytes() -> None:
    raw = encode_initial_message(3, [("10.0.0.3", 3888)])
    assert raw == bytes.fromhex(
        "ffffffffffff0000 0000000000000003 0000000d 31302e302e302e333a33383838"
    )
    assert len(raw) == 33
    assert read_initial_message(reader(raw)) == InitialMessage(
        3, (("10.0.0.3", 3888),), PROTOCOL_VERSION_V1
    )


def test_notification_frame_example_bytes() -> None:
    config = "".join(
        f"server.{i}=10.0.0.{i}:2888:3888:participant;0.0.0.0:2181\n" for i in (1, 2, 3)
    )
    config += "version=0"
    assert len(config) == 168
    m = ToSend(3, 0x100000005, 2, LOOKING, 1, 1, config)
    frame = encode_frame(encode_notification(m))
    assert len(frame) == 4 + 212
    assert frame[:48] == bytes.fromhex(
        "000000d4"  # frame length 212
        "00000000"  # state LOOKING
        "0000000000000003"  # leader 3
        "0000000100000005"  # zxid 0x100000005
        "0000000000000002"  # electionEpoch 2
        "0000000000000001"  # peerEpoch 1
        "00000002"  # version 2
        "000000a8"  # configLength 168
    )
    assert frame[48:] == config.encode()
    assert read_frame(reader(frame)) == frame[4:]
    assert decode_notification(frame[4:], 3) == m.received_from(3)


# --- WorkerReceiver's decision table, every length (reference §1.5) ----------------------------

HEAD = struct.pack(">iqqq", 1, 5, 0x300000007, 9)  # FOLLOWING, leader 5, zxid 3:7, round 9


def fields(n: Notification) -> tuple[object, ...]:
    return (n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.version, n.config)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", "short response, 0-byte payload (needs at least 28)"),
        (HEAD[:12], "short response, 12-byte"),
        (HEAD[:27], "short response, 27-byte"),
        # 28: peerEpoch is the zxid's epoch
        (HEAD, (FOLLOWING, 5, 0x300000007, 9, 3, 0, None)),
        (HEAD + b"\x00", "29-byte payload too short for peerEpoch (needs 36)"),
        (HEAD + b"\x00\x00", "30-byte payload too short for peerEpoch"),
        (HEAD + b"\x00" * 7, "35-byte payload too short for peerEpoch"),
        # 36..39: the 3.4.0-3.4.5 format, which Java does not understand
        (HEAD + struct.pack(">q", 4), "36-byte payload too short for version (needs 40)"),
        (HEAD + struct.pack(">q", 4) + b"\x00" * 3, "39-byte payload too short for version"),
        # 40: the trailing int is never read, whatever it says
        (HEAD + struct.pack(">qi", 4, 1), (FOLLOWING, 5, 0x300000007, 9, 4, 0, None)),
        (HEAD + struct.pack(">qi", 4, 2), (FOLLOWING, 5, 0x300000007, 9, 4, 0, None)),
        (HEAD + struct.pack(">qi", 4, -1), (FOLLOWING, 5, 0x300000007, 9, 4, 0, None)),
        # 41..43: version read; > 1 needs a configLength that is not there
        (HEAD + struct.pack(">qi", 4, 1) + b"\x07", (FOLLOWING, 5, 0x300000007, 9, 4, 1, None)),
        (
            HEAD + struct.pack(">qi", 4, -7) + b"\x07" * 3,
            (FOLLOWING, 5, 0x300000007, 9, 4, -7, None),
        ),
        (HEAD + struct.pack(">qi", 4, 2) + b"\x00", "41-byte payload, version 2, too short for"),
        (HEAD + struct.pack(">qi", 4, 2) + b"\x00" * 3, "43-byte payload, version 2, too short"),
        # 44+: version <= 1 -> no config, configLength never looked at
        (HEAD + struct.pack(">qii", 4, 0, -1), (FOLLOWING, 5, 0x300000007, 9, 4, 0, None)),
        (HEAD + struct.pack(">qii", 4, 1, 99), (FOLLOWING, 5, 0x300000007, 9, 4, 1, None)),
        (HEAD + struct.pack(">qii", 4, 2, 0), (FOLLOWING, 5, 0x300000007, 9, 4, 2, "")),
        (HEAD + struct.pack(">qii", 4, 7, 2) + b"ok", (FOLLOWING, 5, 0x300000007, 9, 4, 7, "ok")),
        (HEAD + struct.pack(">qii", 4, 2, -1), "invalid configLength -1 at offset 40"),
        (HEAD + struct.pack(">qii", 4, 2, 48) + b"abc", "invalid configLength 48 at offset 40 (47"),
        # configLength within the payload size but past its end
        (HEAD + struct.pack(">qii", 4, 2, 44), "configLength 44 at offset 40 but only 0 bytes"),
        (HEAD + struct.pack(">qii", 4, 2, 4) + b"abc", "but only 3 bytes follow offset 44"),
        # trailing bytes after the config are ignored
        (
            HEAD + struct.pack(">qii", 4, 2, 2) + b"okXYZ",
            (FOLLOWING, 5, 0x300000007, 9, 4, 2, "ok"),
        ),
        # invalid UTF-8 becomes U+FFFD, as Java's new String(b, UTF_8)
        (
            HEAD + struct.pack(">qii", 4, 2, 5) + b"a\xffb\xed\xa0",
            (FOLLOWING, 5, 0x300000007, 9, 4, 2, "a\ufffdb\ufffd"),
        ),
    ],
    ids=lambda v: f"{len(v)}B" if isinstance(v, bytes) else "",
)
def test_WorkerReceiver_decision_table(payload: bytes, expected: str | tuple[object, ...]) -> None:
    if isinstance(expected, str):
        with pytest.raises(WireError) as e:
            decode_notification(payload, 7)
        assert not isinstance(e.value, UnknownStateError)
        assert str(e.value).startswith("notification from sid 7: ")
        assert expected in str(e.value)
    else:
        n = decode_notification(payload, 7)
        assert n.sid == 7
        assert fields(n) == expected


def test_28_byte_peer_epoch_uses_arithmetic_shift() -> None:
    n = decode_notification(build_payload(0, 1, -1, 1), 2)  # zxid -1: an untrusted database
    assert (n.zxid, n.peer_epoch, n.version) == (-1, -1, 0)
    n = decode_notification(build_payload(0, 1, LONG_MIN, 1), 2)
    assert n.peer_epoch == -(1 << 31)


def test_observer_vote_with_Long_MIN_VALUE_fields() -> None:
    m = ToSend(LONG_MIN, LONG_MIN, 4, OBSERVING, 1, LONG_MIN, "")
    raw = encode_notification(m)
    assert raw[4:12] == bytes.fromhex("8000000000000000")
    n = decode_notification(raw, 9)
    assert (n.leader, n.zxid, n.peer_epoch, n.state, n.config) == (
        LONG_MIN,
        LONG_MIN,
        LONG_MIN,
        OBSERVING,
        "",
    )


@pytest.mark.parametrize("state", [4, -1, 0x7FFFFFFF])
def test_unknown_state_keeps_every_field(state: int) -> None:
    raw = build_payload(state, 3, 0x100000002, 5, 1, 2, "server.1=a:1:2\nversion=0")
    with pytest.raises(UnknownStateError) as e:
        decode_notification(raw, 8)
    err = e.value
    assert isinstance(err, WireError)
    assert f"notification from sid 8: unknown state {state}" in str(err)
    assert (err.sid, err.state, err.leader, err.zxid) == (8, state, 3, 0x100000002)
    assert (err.election_epoch, err.peer_epoch, err.version) == (5, 1, 2)
    assert err.config == "server.1=a:1:2\nversion=0"
    # A length Java drops is reported as dropped even with a bad state.
    with pytest.raises(WireError) as e2:
        decode_notification(raw[:30], 8)
    assert not isinstance(e2.value, UnknownStateError)


def test_decode_accepts_any_bytes_like() -> None:
    raw = encode_notification(ToSend(1, 2, 3, LEADING, 4, 5, "cfg"))
    expected = decode_notification(raw, 1)
    assert decode_notification(bytearray(raw), 1) == expected
    assert decode_notification(memoryview(raw), 1) == expected


# --- build_payload: the historic layouts ------------------------------------------------------


def test_build_payload_layouts() -> None:
    assert len(build_payload(0, 1, 2, 3)) == 28
    assert len(build_payload(0, 1, 2, 3, 4)) == 36
    assert create_msg(1, 2, 3, 4) == struct.pack(">iqqqqi", 1, 2, 3, 1, 4, 1)
    assert (
        build_payload(0, 1, 2, 3, 4, 2, "xy")
        == struct.pack(">iqqqqii", 0, 1, 2, 3, 4, 2, 2) + b"xy"
    )
    lie = build_payload(0, 1, 2, 3, 4, 2, b"xy", config_length=-9, trailing=b"!")
    assert lie == struct.pack(">iqqqqii", 0, 1, 2, 3, 4, 2, -9) + b"xy!"
    with pytest.raises(WireError, match="28-byte payload has no version"):
        build_payload(0, 1, 2, 3, version=2)
    with pytest.raises(WireError, match="config needs a version"):
        build_payload(0, 1, 2, 3, 4, config="x")
    with pytest.raises(WireError, match="zxid 9223372036854775808 does not fit"):
        build_payload(0, 1, LONG_MAX + 1, 3, 4)


def test_encode_rejects_fields_that_do_not_fit_Java_longs() -> None:
    with pytest.raises(WireError, match="peerEpoch -9223372036854775809 does not fit"):
        encode_notification(ToSend(1, 0, 0, LOOKING, 2, LONG_MIN - 1))


def test_encode_replaces_lone_surrogates_like_Java_getBytes() -> None:
    raw = encode_notification(ToSend(1, 0, 0, LOOKING, 2, 0, "a\ud800b"))
    assert raw[40:] == struct.pack(">i", 3) + b"a?b"


# --- FLEMalformedNotificationMessageTest (ZOOKEEPER-3769) -------------------------------------

CONFIG_BYTES = b"my very invalid config string"


def test_FLEMalformed_testTooShortPartialNotificationMessage() -> None:
    with pytest.raises(WireError, match="short response, 12-byte"):
        decode_notification(struct.pack(">iq", 0, 0), 1)


def test_FLEMalformed_testNotificationMessageWithNegativeConfigLength() -> None:
    payload = struct.pack(">iqqqqii", 0, 0, 0, 0, 0, 2, -123) + b"\x00" * 4
    assert len(payload) == 48
    with pytest.raises(WireError, match="invalid configLength -123"):
        decode_notification(payload, 1)


def test_FLEMalformed_testNotificationMessageWithInvalidConfigLength() -> None:
    payload = struct.pack(">iqqqqii", 0, 0, 0, 0, 0, 2, 10000) + CONFIG_BYTES + b"\x00" * 4
    assert len(payload) == 48 + 29
    with pytest.raises(WireError, match="invalid configLength 10000 at offset 40 \\(77-byte"):
        decode_notification(payload, 1)


def test_FLEMalformed_testNotificationMessageWithInvalidConfig() -> None:
    # Well-formed bytes: the vote is accepted; rejecting the text is the config parser's job.
    payload = build_payload(0, 1, 0, 0, 0, 2, CONFIG_BYTES)
    assert payload == struct.pack(">iqqqqii", 0, 1, 0, 0, 0, 2, 29) + CONFIG_BYTES
    n = decode_notification(payload, 1)
    assert (n.state, n.leader, n.election_epoch, n.version) == (LOOKING, 1, 0, 2)
    assert n.config == "my very invalid config string"


def test_FLEMalformed_testNotificationMessageWithBadProtocol() -> None:
    payload = struct.pack(">iqqqh", 0, 1, 0, 0, 0)
    assert len(payload) == 30
    with pytest.raises(WireError, match="30-byte payload too short for peerEpoch"):
        decode_notification(payload, 1)


# --- frames and handshakes: CnxManagerTest -----------------------------------------------------


def initial(sid: int, hostport: str) -> bytes:
    """What CnxManagerTest.testInitialMessage writes after the protocol version."""
    return struct.pack(">qi", sid, len(hostport.encode())) + hostport.encode()


def test_CnxManagerTest_testInitialMessage() -> None:
    bad_version = struct.pack(">q", -65530) + initial(5, "10.0.0.2:3888")
    with pytest.raises(WireError, match="unrecognized protocol version -65530"):
        read_initial_message(reader(bad_version))
    too_long = struct.pack(">q", PROTOCOL_VERSION_V1) + initial(5, "a" * 1048576)
    with pytest.raises(WireError, match="unreasonable address length 1048576 at offset 16"):
        read_initial_message(reader(too_long))
    nonsense = struct.pack(">q", PROTOCOL_VERSION_V1) + initial(5, "what's going on here?")
    with pytest.raises(WireError, match='badly formed address "what\'s going on here\\?"'):
        read_initial_message(reader(nonsense))
    good = struct.pack(">q", PROTOCOL_VERSION_V1) + initial(5, "10.0.0.2:3888")
    assert read_initial_message(reader(good)) == InitialMessage(
        5, (("10.0.0.2", 3888),), PROTOCOL_VERSION_V1
    )
    # ZOOKEEPER-3188: several election addresses, in order
    multi = struct.pack(">q", PROTOCOL_VERSION_V2) + initial(
        5, "1.1.1.1:9999|2.2.2.2:8888|3.3.3.3:7777"
    )
    msg = read_initial_message(reader(multi))
    assert msg.addresses == (("1.1.1.1", 9999), ("2.2.2.2", 8888), ("3.3.3.3", 7777))
    assert (msg.sid, msg.protocol_version) == (5, PROTOCOL_VERSION_V2)


def test_CnxManagerTest_testCnxManagerNPE() -> None:
    # ZOOKEEPER-1789: a 3.4 observer sends just its sid; the next 8 bytes are a frame.
    stream = reader(struct.pack(">q", 2) + struct.pack(">ii", 4, 5))
    assert read_initial_message(stream) == InitialMessage(2, (), None)
    payload = read_frame(stream)
    assert payload == struct.pack(">i", 5)  # the QCM delivers it; FLE then drops it
    with pytest.raises(WireError, match="short response, 4-byte"):
        decode_notification(payload, 2)


def test_CnxManagerTest_testCnxManagerSpinLock() -> None:
    stream = reader(encode_initial_message(2, [("127.0.0.1", 3889)]) + struct.pack(">i", -20))
    assert read_initial_message(stream).sid == 2
    with pytest.raises(WireError, match=r"invalid frame length -20 \(must be 1\.\.524288\)"):
        read_frame(stream)


def test_CnxManagerTest_testWildcardAddressRecognition() -> None:
    dns = {"www.google.com": ["142.250.74.36"]}

    def resolve(host: str) -> Sequence[str]:
        if host not in dns:
            raise OSError(f"no such host: {host}")  # socket.gaierror is an OSError
        return dns[host]

    assert is_wildcard_address("0.0.0.0", resolve)
    assert is_wildcard_address("::", resolve)
    assert not is_wildcard_address("some.unresolvable.host.com", resolve)
    assert not is_wildcard_address("127.0.0.1", resolve)
    assert not is_wildcard_address("255.255.255.255", resolve)
    assert not is_wildcard_address("1.2.3.4", resolve)
    assert not is_wildcard_address("www.google.com", resolve)


def test_wildcard_names_resolve_through_the_injected_resolver() -> None:
    asked: list[str] = []

    def resolve(host: str) -> Sequence[str]:
        asked.append(host)
        return {"any.local": ["0.0.0.0"], "v6any": ["::"], "two": ["10.0.0.1", "0.0.0.0"]}.get(
            host, []
        )

    assert is_wildcard_address("any.local", resolve)
    assert is_wildcard_address("v6any", resolve)
    assert not is_wildcard_address("two", resolve)  # Java's getByName: the first address only
    assert not is_wildcard_address("nowhere", resolve)  # resolver found nothing
    assert not is_wildcard_address("any.local")  # no resolver: only literals are known
    assert asked == ["any.local", "v6any", "two", "nowhere"]
    assert is_wildcard_address("[::]", resolve)
    assert is_wildcard_address("::ffff:0.0.0.0", resolve)
    # Java: brackets demand an IPv6 literal and are never looked up
    assert not is_wildcard_address("[::g]", resolve)
    assert not is_wildcard_address("[0.0.0.0]", resolve)
    assert asked == ["any.local", "v6any", "two", "nowhere"]  # literals never resolved


def test_drop_wildcard_addresses_ZOOKEEPER_2164() -> None:
    raw = struct.pack(">q", PROTOCOL_VERSION_V2) + initial(4, "0.0.0.0:3888|10.0.0.1:1|[::]:3")
    msg = read_initial_message(reader(raw))
    assert msg.addresses == (("0.0.0.0", 3888), ("10.0.0.1", 1), ("::", 3))
    assert drop_wildcard_addresses(msg).addresses == (("10.0.0.1", 1),)
    only_any = read_initial_message(reader(encode_initial_message(4, [("0.0.0.0", 3888)])))
    assert drop_wildcard_addresses(only_any) == InitialMessage(4, (), PROTOCOL_VERSION_V1)
    assert drop_wildcard_addresses(msg, lambda h: ["0.0.0.0"]).addresses == (("10.0.0.1", 1),)


def test_frame_length_limits() -> None:
    assert check_frame_length(1) == 1
    assert check_frame_length(PACKETMAXSIZE) == PACKETMAXSIZE
    for bad in (0, -20, PACKETMAXSIZE + 1):
        with pytest.raises(WireError, match=f"invalid frame length {bad} \\(must be 1..524288\\)"):
            check_frame_length(bad)
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    with pytest.raises(WireError, match="invalid frame length 0"):
        encode_frame(b"")
    with pytest.raises(WireError, match="invalid frame length 524289"):
        encode_frame(bytes(PACKETMAXSIZE + 1))


def test_read_frame_reassembles_chunks_and_reports_eof() -> None:
    payload = encode_notification(ToSend(1, 2, 3, LOOKING, 4, 5, "c" * 300))
    stream = reader(encode_frame(payload) * 2, chunk=7)
    assert read_frame(stream) == payload
    assert read_frame(stream) == payload
    with pytest.raises(EndOfStreamError, match="after 0 of 4 bytes of the frame length"):
        read_frame(stream)
    with pytest.raises(EndOfStreamError, match="after 10 of 20 bytes of the 20-byte frame"):
        read_frame(reader(struct.pack(">i", 20) + bytes(10)))


def test_handshake_header_eof_and_single_read_of_the_address() -> None:
    with pytest.raises(EndOfStreamError, match="after 3 of 8 bytes"):
        read_initial_message(reader(b"\xff\xff\xff"))
    with pytest.raises(EndOfStreamError, match="after 8 of 12 bytes of the handshake sid"):
        read_initial_message(reader(struct.pack(">qq", PROTOCOL_VERSION_V1, 5)))
    raw = encode_initial_message(5, [("10.0.0.2", 3888)])
    with pytest.raises(WireError, match="sid 5: read only 11 bytes out of 13"):
        read_initial_message(reader(raw[:-2]))
    # Java reads the address with one read(): a short read is a failed handshake.
    with pytest.raises(WireError, match="read only 4 bytes out of 13"):
        read_initial_message(reader(raw, chunk=4))


def test_handshake_legacy_observer_and_v2_ipv6() -> None:
    assert encode_initial_message(7, protocol_version=None) == struct.pack(">q", 7)
    obs = read_initial_message(reader(encode_initial_message(OBSERVER_ID, protocol_version=None)))
    assert obs.is_observer_id
    assert obs == InitialMessage(OBSERVER_ID, (), None)
    assert not read_initial_message(reader(struct.pack(">q", 0))).is_observer_id
    addrs = [("fe80::1%1", 3888), ("zk1.example", 3889), ("10.0.0.1", 0)]
    raw = encode_initial_message(-4, addrs, PROTOCOL_VERSION_V2)
    assert b"[fe80::1%1]:3888|zk1.example:3889|10.0.0.1:0" in raw
    assert read_initial_message(reader(raw)) == InitialMessage(-4, tuple(addrs), -65535)
    v1 = read_initial_message(reader(encode_initial_message(4, addrs)))
    assert v1.addresses == (("fe80::1%1", 3888),)  # V1 carries only the first address


def test_encode_initial_message_refuses_what_no_acceptor_takes() -> None:
    with pytest.raises(WireError, match="no election address"):
        encode_initial_message(1, [])
    with pytest.raises(WireError, match="port 65536 out of range"):
        encode_initial_message(1, [("h", 65536)])
    with pytest.raises(WireError, match="2050-byte address text exceeds 2048"):
        encode_initial_message(1, [("h" * 2045, 3888)])
    with pytest.raises(WireError, match="unrecognized protocol version -3"):
        encode_initial_message(1, [("h", 1)], -3)
    with pytest.raises(WireError, match="legacy handshake carries a sid >= 0"):
        encode_initial_message(-1, protocol_version=None)
    with pytest.raises(WireError, match="does not fit a signed 64-bit long"):
        encode_initial_message(LONG_MAX + 1, [("h", 1)])


def test_inet_addr_format_and_ConfigUtils_quirks() -> None:
    assert format_inet_addr("10.0.0.1", 3888) == "10.0.0.1:3888"
    assert format_inet_addr("::1", 3888) == "[::1]:3888"
    assert format_inet_addr("[::1]", 3888) == "[::1]:3888"
    assert parse_inet_addr("[::1]:3888") == ("::1", 3888)
    assert parse_inet_addr("[::1]x3888") == ("::1", 3888)  # the char after ']' is skipped
    assert parse_inet_addr("host:3888:") == ("host", 3888)  # Java's split drops trailing ""
    assert parse_inet_addr("h:+0080") == ("h", 80)
    for bad in ("host", "host:", "a::b", "::1:3888", "[::1]", "[::1]:", "[::1", "h:0x10", "h: 1"):
        with pytest.raises(WireError, match=r"^(badly formed address|bad port number) "):
            parse_inet_addr(bad)
    with pytest.raises(WireError, match=r"port 65536 out of range 0\.\.65535 in 'h:65536'"):
        parse_inet_addr("h:65536")
    with pytest.raises(WireError, match="bad port number"):
        parse_inet_addr("h:" + "0" * 5000 + "1")
    # Java drops a wildcard part before the port would be range-checked.
    assert parse_inet_addr("0.0.0.0:99999", wildcard_port_ok=True) == ("0.0.0.0", 99999)
    with pytest.raises(WireError, match="out of range"):
        parse_inet_addr("10.0.0.1:99999", wildcard_port_ok=True)


# --- answers recorded from ZooKeeper 3.8.0 and the JDK -----------------------------------------


def same_host(ours: str, java_hex: str) -> bool:
    java = bytes.fromhex(java_hex).decode()
    if ours == "":
        return java == "localhost"  # Java resolved the empty name
    try:
        return ipaddress.ip_address(ours) == ipaddress.ip_address(java)  # Java normalises
    except ValueError:
        return ours == java


@pytest.mark.parametrize(
    "case",
    VECTORS["initial_message"],
    ids=lambda c: bytes.fromhex(c["body"])[12:40].decode("utf-8", "replace"),
)
def test_initial_message_parses_as_ZooKeeper_does(case: dict[str, Any]) -> None:
    raw = struct.pack(">q", case["version"]) + bytes.fromhex(case["body"])
    java = case["java"].split(" ")
    if java[0] == "ERR":  # InitialMessageException, or IllegalArgumentException for the port
        with pytest.raises(WireError):
            read_initial_message(reader(raw))
        return
    msg = drop_wildcard_addresses(read_initial_message(reader(raw)))
    assert str(msg.sid) == java[1]
    assert len(msg.addresses) == len(java) - 2
    for (host, port), answer in zip(msg.addresses, java[2:], strict=True):
        java_host, java_port = answer.split("/")
        assert same_host(host, java_host)
        assert str(port) == java_port


@pytest.mark.parametrize("case", VECTORS["wildcard"], ids=lambda c: c["host"])
def test_wildcard_literals_as_Java_reads_them(case: dict[str, Any]) -> None:
    assert is_wildcard_address(case["host"]) is case["java"]


def test_utf8_replacement_matches_Java_new_String() -> None:
    assert len(VECTORS["utf8"]) > 1000
    for case in VECTORS["utf8"]:
        decoded = java_utf8(bytes.fromhex(case["bytes"]))
        assert "".join(f"{ord(c):x}," for c in decoded) == case["java"], case["bytes"]


@pytest.mark.parametrize("case", VECTORS["build_msg"])
def test_encoding_matches_Java_buildMsg(case: dict[str, Any]) -> None:
    state, leader, zxid, epoch, peer_epoch = case["args"]
    if case["config"] is None:  # the 5-argument form used by ZooKeeper's tests
        ours = build_payload(state, leader, zxid, epoch, peer_epoch, 1)
        assert fields(decode_notification(ours, 1))[-2:] == (0, None)
    else:
        config = bytes.fromhex(case["config"]).decode()
        m = ToSend(leader, zxid, epoch, ServerState(state), 9, peer_epoch, config)
        ours = encode_notification(m)
        assert decode_notification(ours, 1).config == config
    assert ours.hex() == case["java"]


# --- properties --------------------------------------------------------------------------------

to_sends = st.builds(
    ToSend,
    leader=longs,
    zxid=longs,
    election_epoch=longs,
    state=st.sampled_from(ServerState),
    sid=longs,
    peer_epoch=longs,
    config=st.text(max_size=300),
)


@given(to_sends, longs)
def test_encode_then_decode_round_trips(m: ToSend, sender: int) -> None:
    raw = encode_notification(m)
    assert len(raw) == 44 + len(m.config.encode())
    assert decode_notification(raw, sender) == m.received_from(sender)
    assert read_frame(reader(encode_frame(raw), chunk=5)) == raw


@given(st.binary(max_size=120), longs)
def test_decode_arbitrary_bytes_only_raises_WireError(payload: bytes, sender: int) -> None:
    try:
        n = decode_notification(payload, sender)
    except WireError:
        return
    assert n.sid == sender
    assert len(payload) >= 28


@given(
    st.integers(-(1 << 31), (1 << 31) - 1),
    st.integers(-(1 << 31), (1 << 31) - 1),
    st.integers(-(1 << 31), (1 << 31) - 1) | st.integers(-2, 40),
    st.binary(max_size=40),
    st.binary(max_size=4),
)
def test_decode_near_valid_payloads(
    state: int, version: int, config_length: int, config: bytes, trailing: bytes
) -> None:
    payload = build_payload(
        state, 1, 2, 3, 4, version, config, config_length=config_length, trailing=trailing
    )
    if version > 1 and not 0 <= config_length <= len(config) + len(trailing):
        with pytest.raises(WireError, match="configLength") as dropped:
            decode_notification(payload, 6)
        assert not isinstance(dropped.value, UnknownStateError)
    elif not 0 <= state <= 3:
        with pytest.raises(UnknownStateError) as unknown:
            decode_notification(payload, 6)
        assert (unknown.value.state, unknown.value.version) == (state, version)
    else:
        n = decode_notification(payload, 6)
        assert (n.state, n.version) == (state, version)
        if version > 1:
            assert n.config == java_utf8((config + trailing)[:config_length])
        else:
            assert n.config is None


@given(
    longs,
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z0-9.-]{0,12}", fullmatch=True) | st.ip_addresses().map(str),
            st.integers(0, 65535),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2]),
)
def test_handshake_round_trips(sid: int, addresses: list[tuple[str, int]], version: int) -> None:
    msg = read_initial_message(reader(encode_initial_message(sid, addresses, version)))
    sent = addresses[:1] if version == PROTOCOL_VERSION_V1 else addresses
    assert msg == InitialMessage(sid, tuple(sent), version)


@given(st.binary(max_size=80), st.integers(1, 9))
def test_read_initial_message_arbitrary_bytes_only_raises_WireError(
    data: bytes, chunk: int
) -> None:
    try:
        msg = read_initial_message(reader(data, chunk))
    except WireError:
        return
    assert msg.sid >= 0 or msg.protocol_version in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2)


@given(longs, st.text(max_size=60), st.sampled_from([PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2]))
def test_read_initial_message_arbitrary_address_text(sid: int, text: str, version: int) -> None:
    raw = struct.pack(">q", version) + initial(sid, text)
    try:
        msg = read_initial_message(reader(raw))
    except WireError as e:
        error = str(e)
    else:
        assert all(0 <= port <= 65535 or is_wildcard_address(h) for h, port in msg.addresses)
        return
    assert error.startswith(f"handshake from sid {sid}: ")
