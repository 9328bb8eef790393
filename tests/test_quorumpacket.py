"""The learner<->leader stream cut into jute QuorumPackets and the SNAP dump, whatever the
TCP reads (engine.core.quorumpacket; ZK: QuorumPacket, LearnerHandler.run,
Learner.syncWithLeader)."""

from __future__ import annotations

import random
import struct

import pytest

from engine.core.quorumpacket import (
    MAX_LENGTH,
    PACKET_TYPES,
    JuteError,
    Packet,
    QuorumStreamDecoder,
    SnapshotDump,
    encode_packet,
    encode_string,
    packet_name,
)

CONFIG = (
    "server.1=127.0.0.1:2001:3001:participant\n"
    "server.2=127.0.0.1:2002:3002:participant\n"
    "server.3=127.0.0.1:2003:3003:participant\nversion=100000000"
)


def learner_info(sid: int, protocol: int = 0x10000, config_version: int = 0) -> bytes:
    return struct.pack(">qiq", sid, protocol, config_version)


def snapshot_dump(
    sessions: list[tuple[int, int]], acls: dict[int, list[tuple[int, str, str]]], nodes: list[str]
) -> bytes:
    """What ZKDatabase.serializeSnapshot + the signature write (SerializeUtils,
    ReferenceCountedACLCache.serialize, DataTree.serializeNodes)."""
    out = struct.pack(">i", len(sessions))
    for session, timeout in sessions:
        out += struct.pack(">qi", session, timeout)
    out += struct.pack(">i", len(acls))
    for key, entries in acls.items():
        out += struct.pack(">qi", key, len(entries))
        for perms, scheme, ident in entries:
            out += struct.pack(">i", perms) + encode_string(scheme) + encode_string(ident)
    for i, path in enumerate(nodes):
        data = None if i % 3 == 0 else f"data of {path}".encode()
        stat = struct.pack(">qqqqiiiqq", 1, 2, 3, 4, 5, 6, 7, 0, 8)
        out += encode_string(path) + encode_string(data) + struct.pack(">q", -1) + stat
    return out + encode_string("/") + encode_string("BenWasHere")


def sync_by_snapshot() -> list[bytes]:
    """A leader's side of a SNAP sync, packet by packet (LearnerHandler.run order)."""
    dump = snapshot_dump(
        [(0x1000001, 30000), (0x1000002, 4000)],
        {1: [(31, "world", "anyone")], 2: [(1, "digest", "u:p"), (31, "ip", "10.0.0.1")]},
        ["", "/zookeeper", "/zookeeper/config", "/zookeeper/quota", "/app", "/app/x"],
    )
    return [
        encode_packet(17, 0x200000000, struct.pack(">i", 0x10000)),  # LEADERINFO
        encode_packet(15, 0x100000007),  # SNAP
        dump,
        encode_packet(10, 0x200000000, CONFIG.encode()),  # NEWLEADER
        encode_packet(12),  # UPTODATE
        encode_packet(2, 0x200000001, b"\x01" * 300),  # PROPOSAL
        encode_packet(4, 0x200000001),  # COMMIT
        encode_packet(5, 7, None, [("digest", "super:x"), ("ip", "127.0.0.1")]),  # PING
    ]


def describe(items: list[Packet | SnapshotDump]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, Packet):
            out.append((item.offset, item.size, item.name, item.zxid, item.data_length))
        else:
            out.append((item.offset, item.size, "dump", item.sessions, item.acls, item.nodes))
    return out


def test_every_packet_type_is_named_as_in_Leader_java() -> None:
    assert [packet_name(t) for t in range(1, 20)] == [
        "REQUEST",
        "PROPOSAL",
        "ACK",
        "COMMIT",
        "PING",
        "REVALIDATE",
        "SYNC",
        "INFORM",
        "COMMITANDACTIVATE",
        "NEWLEADER",
        "FOLLOWERINFO",
        "UPTODATE",
        "DIFF",
        "TRUNC",
        "SNAP",
        "OBSERVERINFO",
        "LEADERINFO",
        "ACKEPOCH",
        "INFORMANDACTIVATE",
    ]
    assert len(PACKET_TYPES) == 19
    assert packet_name(99) == "UNKNOWN99"  # LearnerHandler.packetToString


def test_a_packet_is_type_zxid_data_and_authinfo_back_to_back() -> None:
    raw = encode_packet(2, 0x100000003, b"txn", [("digest", "a:b")])
    assert raw[:16] == struct.pack(">iqi", 2, 0x100000003, 3)  # no frame of its own
    [packet] = QuorumStreamDecoder().feed(raw)
    assert isinstance(packet, Packet)
    assert (packet.name, packet.zxid, packet.data_length, packet.authinfo) == (
        "PROPOSAL",
        0x100000003,
        3,
        1,
    )
    assert (packet.offset, packet.size) == (0, len(raw))


def test_the_learner_handshake_packets_say_what_they_carry() -> None:
    """FOLLOWERINFO/OBSERVERINFO carry LearnerInfo, LEADERINFO the protocol version,
    ACKEPOCH the learner's currentEpoch, NEWLEADER the leader's config text."""
    stream = (
        encode_packet(11, 0x100000000, learner_info(3, config_version=5))
        + encode_packet(16, 0, learner_info(7)[:12])  # an older learner: no configVersion
        + encode_packet(17, 0x200000000, struct.pack(">i", 0x10000))
        + encode_packet(18, 0x100000004, struct.pack(">i", -1))
        + encode_packet(10, 0x200000000, CONFIG.encode())
    )
    items = QuorumStreamDecoder().feed(stream)
    assert [(p.name, p.info) for p in items if isinstance(p, Packet)] == [
        ("FOLLOWERINFO", {"sid": 3, "protocol_version": 0x10000, "config_version": 5}),
        ("OBSERVERINFO", {"sid": 7, "protocol_version": 0x10000}),
        ("LEADERINFO", {"protocol_version": 0x10000}),
        ("ACKEPOCH", {"epoch": -1}),
        ("NEWLEADER", {"config": CONFIG, "config_version": 0x100000000}),
    ]


def test_the_snapshot_after_SNAP_is_one_item_up_to_the_signature() -> None:
    parts = sync_by_snapshot()
    items = QuorumStreamDecoder().feed(b"".join(parts))
    offsets = [sum(len(p) for p in parts[:i]) for i in range(len(parts))]
    assert describe(items) == [
        (offsets[0], len(parts[0]), "LEADERINFO", 0x200000000, 4),
        (offsets[1], len(parts[1]), "SNAP", 0x100000007, -1),
        (offsets[2], len(parts[2]), "dump", 2, 2, 6),
        (offsets[3], len(parts[3]), "NEWLEADER", 0x200000000, len(CONFIG)),
        (offsets[4], len(parts[4]), "UPTODATE", 0, -1),
        (offsets[5], len(parts[5]), "PROPOSAL", 0x200000001, 300),
        (offsets[6], len(parts[6]), "COMMIT", 0x200000001, -1),
        (offsets[7], len(parts[7]), "PING", 7, -1),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_packets_are_cut_by_jute_lengths_not_by_reads(seed: int) -> None:
    """Any split of the stream into reads gives the same items, each once."""
    stream = b"".join(sync_by_snapshot())
    whole = describe(QuorumStreamDecoder().feed(stream))
    rng = random.Random(seed)
    decoder = QuorumStreamDecoder()
    items: list[Packet | SnapshotDump] = []
    pos = 0
    while pos < len(stream):
        n = rng.choice((1, 1, 2, 3, 7, 16, 64, 500))
        items += decoder.feed(stream[pos : pos + n])
        pos += n
    assert describe(items) == whole
    assert (decoder.offset, decoder.pending) == (len(stream), 0)


def test_a_partial_packet_waits_for_its_last_byte() -> None:
    raw = encode_packet(5, 1)
    decoder = QuorumStreamDecoder()
    assert decoder.feed(raw[:-1]) == []
    assert decoder.pending == len(raw) - 1
    assert [p.name for p in decoder.feed(raw[-1:]) if isinstance(p, Packet)] == ["PING"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            struct.pack(">iqi", 5, 0, -2),
            "unreasonable data length -2 at stream offset 32 (packet type 5 at 20)",
        ),
        (
            struct.pack(">iqi", 2, 0, MAX_LENGTH + 1),
            f"unreasonable data length {MAX_LENGTH + 1} at stream offset 32 (packet type 2 at 20)",
        ),
        (struct.pack(">iqii", 5, 0, -1, -5), "unreasonable authinfo count -5 at stream offset 36"),
        (
            struct.pack(">iqiii", 5, 0, -1, 1, -9),
            "unreasonable authinfo scheme length -9 at stream offset 40",
        ),
    ],
)
def test_lengths_jute_refuses_are_errors_at_their_offset(raw: bytes, message: str) -> None:
    """ZK: BinaryInputArchive.checkLength ("Unreasonable length"): the stream has no next
    packet to find, so the decoder is spent."""
    decoder = QuorumStreamDecoder()
    prefix = encode_packet(3, 1)  # 20 bytes of a good packet first: offsets are the stream's
    assert len(prefix) == 20
    with pytest.raises(JuteError) as e:
        decoder.feed(prefix + raw + b"\0" * 64)
    assert str(e.value) == message
    with pytest.raises(JuteError):
        decoder.feed(encode_packet(5))


def test_a_snapshot_without_its_signature_is_an_error() -> None:
    """ZK: Learner.syncWithLeader throws "Missing signature" and the learner gives up."""
    dump = snapshot_dump([], {}, [""])
    bad = dump[: -len(encode_string("BenWasHere"))] + encode_string("NotBen")
    with pytest.raises(JuteError, match=r"signature b'NotBen' at stream offset \d+"):
        QuorumStreamDecoder().feed(encode_packet(15) + bad)


def test_a_null_acl_list_in_a_snapshot_is_an_error() -> None:
    """ZK: ReferenceCountedACLCache.deserialize, "missing acls"."""
    bad = struct.pack(">i", 0) + struct.pack(">i", 1) + struct.pack(">qi", 1, -1)
    with pytest.raises(JuteError, match="null ACL list"):
        QuorumStreamDecoder().feed(encode_packet(15) + bad)
