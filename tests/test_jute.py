"""The jute codec against bytes real ZooKeeper 3.8 wrote (tests/data/zab, see its README):
every record decodes, holds what ZooKeeper meant, and encodes back to the same bytes;
anything malformed raises JuteError naming the offset, and nothing else."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.jute import stream as stream_module
from engine.core.jute.archive import JuteError, Reader, TruncatedError, Writer
from engine.core.jute.records import ACL, Id, LearnerInfo, QuorumPacket
from engine.core.jute.snapshot import SnapshotDump, SnapshotFile
from engine.core.jute.stream import QuorumStream
from engine.core.jute.txn import (
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    TxnEntry,
    op_name,
)
from engine.core.jute.txnlog import TxnLogFile

DATA = Path(__file__).parent / "data" / "zab"
STREAMS = [f"{name}.{side}" for name in ("join", "observer", "rejoin-diff", "rejoin-snap")
           for side in ("leader", "learner")]  # fmt: skip
PROTOCOL_VERSION = 0x10000
"""ZK: Learner.registerWithLeader's LearnerInfo protocol version, LEADERINFO's data."""


def vector(name: str) -> bytes:
    return (DATA / name).read_bytes()


def items_of(name: str, seed: int = 0) -> list[QuorumPacket | SnapshotDump]:
    """A captured stream fed in random splits of 1..300 bytes, as TCP might deliver it."""
    data, rng, stream = vector(name), random.Random(seed), QuorumStream()
    items: list[QuorumPacket | SnapshotDump] = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 300)
        items += stream.feed(data[pos : pos + step])
        pos += step
    assert stream.offset == len(data)
    return items


def encode_items(items: list[QuorumPacket | SnapshotDump]) -> bytes:
    w = Writer()
    for item in items:
        if isinstance(item, SnapshotDump):
            # From its fields, not the bytes it was read from (`raw`).
            dataclasses.replace(item).write_sync(w)  # replace() drops `raw`
        else:
            item.write(w)
    return bytes(w)


def packets(name: str) -> list[QuorumPacket]:
    return [i for i in items_of(name) if isinstance(i, QuorumPacket)]


# --- the transaction log --------------------------------------------------------------------


def test_txn_log_from_zookeeper_round_trips_byte_exact() -> None:
    log = TxnLogFile.decode(vector("txnlog"))
    assert log.encode() == vector("txnlog")
    ops = [op_name(e.hdr.type) for e in log.entries]
    assert ops[:13] == [
        "createSession",
        "create",
        "create2",
        "createContainer",
        "create",
        "setData",
        "setACL",
        "create",
        "delete",
        "multi",
        "multi",
        "error",
        "closeSession",
    ]
    zxids = [e.zxid for e in log.entries]
    assert zxids == list(range(0x100000001, 0x100000001 + len(zxids)))  # epoch 1, counter 1..


def test_txns_hold_what_zookeeper_meant() -> None:
    entries = TxnLogFile.decode(vector("txnlog")).entries
    container = entries[3].txn
    assert isinstance(container, CreateContainerTxn)
    assert container.path == "/c"
    ephemeral = entries[7].txn
    assert isinstance(ephemeral, CreateTxn)
    assert ephemeral.ephemeral
    assert ephemeral.path == "/seq-0000000003"
    set_acl = entries[6].txn
    assert isinstance(set_acl, SetACLTxn)
    assert set_acl.acl is not None
    assert [a.id.scheme for a in set_acl.acl] == ["digest", "world"]
    multi = entries[9].txn
    assert isinstance(multi, MultiTxn)
    assert multi.txns is not None
    assert [op_name(t.type) for t in multi.txns] == ["check", "create", "setData", "delete"]
    assert multi.txns[0].record == CheckVersionTxn("/b", 1)
    failed = entries[10].txn
    assert isinstance(failed, MultiTxn)
    assert failed.txns is not None
    assert failed.txns[-1].record == ErrorTxn(-103)  # BADVERSION, the check that failed
    assert entries[11].txn == ErrorTxn(-110)  # NODEEXISTS: a create of /b that failed
    assert entries[11].digest is None  # 3.8 digests only txns that change the tree
    assert entries[12].txn == CloseSessionTxn(("/seq-0000000003",))  # ZOOKEEPER-3145
    assert all(e.digest is not None and e.digest.version == 2 for e in entries[:11])
    assert entries[0].hdr.client_id == entries[12].hdr.client_id  # one session


def multi_bytes(*parts: tuple[int, bytes]) -> bytes:
    w = Writer()
    w.int32(len(parts))
    for op, data in parts:
        w.int32(op)
        w.buffer(data)
    return bytes(w)


def test_an_error_part_holding_the_op_it_replaced_reads_as_java_reads_it() -> None:
    """A failed multi as a Java server may log it once its commit has turned the parts
    that did not fail into error parts, each keeping its op's data (DataTree.processTxn):
    seen in a Java follower's log of a zkfle leader's multi."""
    create = CreateTxn("/app/never", b"", (ACL(31, Id("world", "anyone")),), False, 1)
    data = multi_bytes((-1, create.encode()), (-1, ErrorTxn(-101).encode()))  # -101: NONODE
    multi = MultiTxn.decode(data)
    assert multi.txns is not None
    stale, failed = multi.txns
    # What Java's ErrorTxn reads from a CreateTxn: the length of its path.
    assert stale.record == ErrorTxn(len("/app/never"))
    assert stale.stale == create.encode()[4:]
    assert failed.record == ErrorTxn(-101)
    assert failed.stale == b""
    assert multi.encode() == data
    # Any other part must still end where its record does.
    with pytest.raises(JuteError, match=r"CreateTxn: 4 unexpected bytes"):
        MultiTxn.decode(multi_bytes((1, create.encode() + bytes(4))))


def test_a_create2_part_reads_as_a_create() -> None:
    """Since ZOOKEEPER-4026 (3.8.2) a multi's create2 is a part of type create2 holding a
    CreateTxn (DataTree.processTxn): what a learner of such a leader must read."""
    create = CreateTxn("/m2", b"2", (ACL(31, Id("world", "anyone")),), False, 1)
    data = multi_bytes((15, create.encode()))
    multi = MultiTxn.decode(data)
    assert multi.txns is not None
    assert [(part.type, part.record) for part in multi.txns] == [(15, create)]
    assert multi.encode() == data


def test_a_corrupt_txn_log_names_the_entry() -> None:
    data = bytearray(vector("txnlog"))
    data[16 + 12 + 3] ^= 0xFF  # a byte inside the first entry
    with pytest.raises(JuteError, match=r"CRC check failed for the entry at offset 16"):
        TxnLogFile.decode(bytes(data))
    with pytest.raises(JuteError, match=r"txn log: magic 0x00000000 at offset 0"):
        TxnLogFile.decode(bytes(16))
    # The zeros ZooKeeper preallocates end the log; other bytes after it do not.
    assert TxnLogFile.decode(vector("txnlog") + bytes(4096)).encode() == vector("txnlog")
    with pytest.raises(JuteError, match="bytes after the last entry"):
        TxnLogFile.decode(vector("txnlog") + b"\x00\x00\x07")


# --- snapshots --------------------------------------------------------------------------------


def test_snapshot_file_from_zookeeper_round_trips_byte_exact() -> None:
    snap = SnapshotFile.decode(vector("snapshot"))
    assert snap.encode() == vector("snapshot")
    from_fields = dataclasses.replace(snap, dump=dataclasses.replace(snap.dump))  # no raw
    assert from_fields.encode() == vector("snapshot")
    assert snap.digest is not None
    assert snap.digest.digest_version == 2
    dump = snap.dump
    paths = [n.path for n in dump.nodes]
    assert paths[0] == ""
    assert {"/zookeeper", "/zookeeper/quota", "/zookeeper/config"} <= set(paths)
    assert {"/b", "/c", "/c/child", "/session-owned"} <= set(paths)
    assert "/a" not in paths  # deleted
    # Every node's ACL index is in the cache (-1: the open ACL of the root, ZK: OPEN_UNSAFE_ACL_ID).
    cache = dict(dump.acls)
    assert all(n.acl in cache or n.acl == -1 for n in dump.nodes)
    b = next(n for n in dump.nodes if n.path == "/b")
    assert cache[b.acl][0] == ACL(31, Id("digest", "user:5w9W4eL3797Y4Wq8AcKUPPk8ha4="))
    owned = next(n for n in dump.nodes if n.path == "/session-owned")
    assert owned.stat.ephemeral_owner in dict(dump.sessions)


def test_a_corrupt_snapshot_names_the_seal() -> None:
    data = bytearray(vector("snapshot"))
    data[40] ^= 0x01
    with pytest.raises(JuteError, match=r"snapshot file: checksum \d+ at offset \d+, computed"):
        SnapshotFile.decode(bytes(data))


# --- the quorum port --------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_quorum_stream_from_zookeeper_round_trips_byte_exact(name: str) -> None:
    for seed in range(3):
        assert encode_items(items_of(name, seed)) == vector(name)


def test_handshake_packets_hold_zookeepers_fields() -> None:
    followerinfo, ackepoch = packets("join.learner")[:2]
    assert followerinfo.type == 11
    assert followerinfo.zxid == 0
    assert followerinfo.data is not None
    assert LearnerInfo.decode(followerinfo.data) == LearnerInfo(1, PROTOCOL_VERSION, 0)
    observerinfo = packets("observer.learner")[0]
    assert observerinfo.type == 16
    assert observerinfo.data is not None
    assert LearnerInfo.decode(observerinfo.data).serverid == 4
    leaderinfo = packets("join.leader")[0]
    assert (leaderinfo.type, leaderinfo.zxid) == (17, 0x100000000)
    assert leaderinfo.data == PROTOCOL_VERSION.to_bytes(4, "big")
    # ACKEPOCH: the learner's currentEpoch when it accepted the new epoch just now, else -1.
    assert (ackepoch.type, ackepoch.data) == (18, (0).to_bytes(4, "big"))
    rejoin = packets("rejoin-diff.learner")[1]
    assert (rejoin.type, rejoin.zxid, rejoin.data) == (18, 0x10000000D, b"\xff\xff\xff\xff")
    newleader = next(p for p in packets("join.leader") if p.type == 10)
    assert newleader.data is not None
    assert b"server.4=" in newleader.data
    assert all(p.authinfo is None for name in STREAMS for p in packets(name))


def test_proposals_carry_the_bytes_the_leader_logged() -> None:
    """ZK: Leader.propose serialises the txn as the log does (Util.marshallTxnEntry)."""
    logged = {e.zxid: e for e in TxnLogFile.decode(vector("txnlog")).entries}
    seen = 0
    for name, kind in (("join.leader", 2), ("rejoin-diff.leader", 2), ("observer.leader", 8)):
        for p in packets(name):
            if p.type == kind:
                assert p.data is not None
                entry = TxnEntry.decode(p.data)
                assert entry == logged[p.zxid]
                assert entry.encode() == p.data
                seen += 1
    assert seen > 60


def test_the_snap_dump_is_the_tree_the_learner_saved() -> None:
    dump = next(i for i in items_of("rejoin-snap.leader") if isinstance(i, SnapshotDump))
    saved = SnapshotFile.decode(vector("snapshot")).dump
    assert dump.sessions == saved.sessions
    assert dump.acls == saved.acls
    # The learner rewrites its own /zookeeper/config node (ZK: DataTree.processReconfig).
    ours = {n for n in dump.nodes if n.path != "/zookeeper/config"}
    assert ours == {n for n in saved.nodes if n.path != "/zookeeper/config"}


def test_a_stream_error_names_the_offset_and_spends_the_stream() -> None:
    stream = QuorumStream()
    good = QuorumPacket(5, 7).encode()
    assert stream.feed(good) == [QuorumPacket(5, 7)]
    bad = (3).to_bytes(4, "big") + (1).to_bytes(8, "big") + (-5).to_bytes(4, "big", signed=True)
    with pytest.raises(
        JuteError, match=rf"QuorumPacket.data: unreasonable length -5 at offset {len(good) + 12}"
    ):
        stream.feed(bad)
    with pytest.raises(JuteError):
        stream.feed(good)


def test_truncation_is_told_apart_from_garbage() -> None:
    whole = QuorumPacket(2, 1, b"abc").encode()
    with pytest.raises(TruncatedError):
        QuorumPacket.read(Reader(whole[:-2]))
    with pytest.raises(JuteError, match="unexpected bytes"):
        QuorumPacket.decode(whole + b"x")
    with pytest.raises(JuteError, match=r"boolean byte 2 at offset"):
        CreateTxn.decode(CreateTxn("/x", b"", (), False, 0).encode()[:-5] + b"\x02" + bytes(4))
    with pytest.raises(JuteError, match="not UTF-8"):
        Reader(b"\x00\x00\x00\x01\xff").ustring("path")


# --- fuzz: nothing but JuteError --------------------------------------------------------------


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        at = where % (len(out) + 1)
        if kind == 0 and out:
            out[min(at, len(out) - 1)] = value
        elif kind == 1:
            out.insert(at, value)
        else:
            del out[at : at + value % 9]
    return bytes(out)


EDITS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6
)
SOURCES = [*STREAMS, "txnlog", "snapshot"]


def decode_everything(data: bytes) -> None:
    for decode in (
        TxnLogFile.decode,
        SnapshotFile.decode,
        TxnEntry.decode,
        QuorumPacket.decode,
        LearnerInfo.decode,
    ):
        with contextlib.suppress(JuteError):
            decode(data)
    stream = QuorumStream()
    try:
        for pos in range(0, len(data), 97):
            stream.feed(data[pos : pos + 97])
    except JuteError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), edits=EDITS, cut=st.integers(0, 1 << 16))
def test_mutated_vectors_raise_only_jute_error(
    source: str, edits: list[tuple[int, int, int]], cut: int
) -> None:
    data = mutate(vector(source), edits)
    decode_everything(data[: cut % (len(data) + 1)] if cut % 3 == 0 else data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_jute_error(data: bytes) -> None:
    decode_everything(data)


def test_a_dump_cut_short_is_read_once_its_signature_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dump has no length before it: until its signature's bytes came nothing is read
    again, and a large packet after it (NEWLEADER with a config, say) is still read at a
    pause of the sender, as any large packet."""
    monkeypatch.setattr(stream_module, "_SMALL", 64)  # the capture's dump counts as large
    data = vector("rejoin-snap.leader")
    whole = QuorumStream().feed(data)
    dump_at = next(i for i, item in enumerate(whole) if isinstance(item, SnapshotDump))
    head = len(encode_items(whole[:dump_at]))
    end = head + len(encode_items([whole[dump_at]]))
    stream = QuorumStream()
    got = stream.feed(data[: end - 100])  # 100 bytes short of its end
    assert got == whole[:dump_at]
    assert not stream.deferring  # a pause changes nothing: the signature is not here
    assert stream.feed(b"", settle=True) == []
    got += stream.feed(data[end - 100 :])
    assert got == whole
    assert not stream.deferring


def test_pauses_inside_a_large_dump_do_not_read_it_again_and_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loaded leader pauses often while it sends a large dump, and the reader says so at
    each pause: the dump is read when its SNAP came (what is here of it) and once its
    signature came - not at every doubling nor at every pause (10 MB read again per 64 KB
    took half a minute)."""
    monkeypatch.setattr(stream_module, "_SMALL", 64)
    data = vector("rejoin-snap.leader")
    whole = QuorumStream().feed(data)
    reads: list[int] = []
    read_sync = SnapshotDump.read_sync

    def counted(cls: type[SnapshotDump], r: Reader) -> SnapshotDump:
        reads.append(r.pos)
        return read_sync(r)

    monkeypatch.setattr(SnapshotDump, "read_sync", classmethod(counted))
    stream = QuorumStream()
    got = []
    for pos in range(0, len(data), 16):
        got += stream.feed(data[pos : pos + 16])
        got += stream.feed(b"", settle=True)
    assert got == whole
    assert len(reads) == 2
