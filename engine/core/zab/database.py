"""A server's in-memory database: the data tree, the ACL cache and the sessions, changed
only by committed txns (ZK: ZKDatabase, DataTree.processTxn, ReferenceCountedACLCache).

It starts from a snapshot dump (SNAP, or a file) and applies `TxnEntry`s in zxid order,
with ZooKeeper's rules: a create or delete that fails (no parent, node exists, no node)
changes nothing but the parent's cversion for a replayed create (ZK: the fuzzy-snapshot
fix-up in processTxn); a multi with an error part changes nothing; closeSession deletes
the paths its txn lists and any other ephemeral of the session. `tree_fingerprint`
digests a tree as a client reads it, to compare ours with a Java server's; `digest` is
ZooKeeper's own digest of the tree (ZOOKEEPER-3114), kept as nodes change, which a Java
leader sends with each txn and a Java learner compares after applying it.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from engine.core.jute.archive import JuteError
from engine.core.jute.records import ACL, Id, StatPersisted
from engine.core.jute.snapshot import DataNode, SnapshotDump
from engine.core.jute.txn import (
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTTLTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    TxnEntry,
)
from engine.core.zab.hashset import JavaHashSet

__all__ = [
    "CONTAINER_EPHEMERAL_OWNER",
    "DIGEST_VERSION",
    "OPEN_UNSAFE_ACL_ID",
    "Database",
    "ZnodeRow",
    "dump_digest",
    "node_digest",
    "tree_fingerprint",
]

OPEN_UNSAFE_ACL_ID = -1
"""The ACL cache index of a null ACL list (ZK: ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID)."""
OPEN_ACL_UNSAFE = (ACL(31, Id("world", "anyone")),)
"""ZK: ZooDefs.Ids.OPEN_ACL_UNSAFE."""
READ_ACL_UNSAFE = (ACL(1, Id("world", "anyone")),)
"""ZK: ZooDefs.Ids.READ_ACL_UNSAFE."""
_EMPTY_STAT = StatPersisted(0, 0, 0, 0, 0, 0, 0, 0, 0)
_CONFIG_STAT = replace(_EMPTY_STAT, version=-1, aversion=-1)
"""/zookeeper/config's in a fresh tree (see Database.initial); made once, as it is frozen."""
CONTAINER_EPHEMERAL_OWNER = -(1 << 63)
"""ZK: EphemeralType.CONTAINER_EPHEMERAL_OWNER (Long.MIN_VALUE)."""
_CREATE = 1
"""ZK: OpCode.create, the one type of create whose replay fixes up its parent's cversion."""
_TTL_OWNER = 0xFF << 56
"""ZK: EphemeralType.TTL's mask: the top byte 0xFF, the ttl below."""


DIGEST_VERSION = 2
"""ZK: DigestCalculator.DIGEST_VERSION; a digest of another version is not compared."""
_UNDIGESTED = "/zookeeper/"
"""ZK: ZooDefs.ZOOKEEPER_NODE_SUBTREE: a server changes the quota nodes on its own, so the
digest leaves out every node below /zookeeper (but not /zookeeper itself)."""
_DIGESTED_STAT = struct.Struct(">qqqqqiiiq")
_LONG = 1 << 64


def node_digest(path: str, data: bytes | None, stat: StatPersisted) -> int:
    """ZK: DigestCalculator.calculateDigest: the CRC-32 of the path (the root is ""), the
    data (null as empty) and the stat's fields, ctime and mtime included, in the order
    czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner."""
    if path.startswith(_UNDIGESTED):
        return 0
    crc = zlib.crc32(path.encode())
    if data:
        crc = zlib.crc32(data, crc)
    s = stat
    fields = (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion)
    return zlib.crc32(_DIGESTED_STAT.pack(*fields, s.ephemeral_owner), crc)


def dump_digest(dump: SnapshotDump) -> int:
    """The digest of the tree a dump holds (what `Database.from_dump(dump, ..).digest` is),
    as a Java long."""
    return _java_long(sum(node_digest(n.path, n.data, n.stat) for n in dump.nodes))


def _java_long(value: int) -> int:
    """ZK: AdHash adds and subtracts in a long, which wraps."""
    return (value + (1 << 63)) % _LONG - (1 << 63)


def _ttl_owner(ttl: int) -> int:
    owner = _TTL_OWNER | ttl
    return owner - (1 << 64) if owner >= 1 << 63 else owner


@dataclass(frozen=True, slots=True)
class ZnodeRow:
    """A znode as a client reads it: path, data, ACLs, stat (cversion as clients see it),
    number of children."""

    path: str
    data: bytes | None
    acl: tuple[ACL, ...] | None
    stat: StatPersisted
    num_children: int


def tree_fingerprint(rows: Iterable[ZnodeRow]) -> str:
    """SHA-256 over every znode in path order: its data (null reads as empty), ACLs and
    every Stat field but the two times, so that a tree read through a client of a Java
    server and one held here compare."""
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r.path):
        s = row.stat
        fields = (s.czxid, s.mzxid, s.version, s.cversion, s.aversion, s.ephemeral_owner, s.pzxid)
        h.update(repr((row.path, row.data or b"", row.acl, fields, row.num_children)).encode())
    return h.hexdigest()


@dataclass(slots=True)
class _Node:
    data: bytes | None
    acl: int
    stat: StatPersisted
    children: set[str] = field(default_factory=set)
    digest: int = 0
    """`node_digest` as the node was last counted in its tree's digest."""


class Database:
    """ZK: ZKDatabase with its DataTree; `last_processed_zxid` is lastProcessedZxid."""

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self._digest = 0
        self._put("", _Node(b"", OPEN_UNSAFE_ACL_ID, _EMPTY_STAT))
        self.sessions: dict[int, int] = {}
        self._ephemerals: dict[int, JavaHashSet] = {}
        """ZK: DataTree.ephemerals, each session's in a HashSet, whose order a closeSession
        txn lists them in."""
        self.containers: set[str] = set()
        """ZK: DataTree.containers, which a leader's ContainerManager checks."""
        self.acls: dict[int, tuple[ACL, ...]] = {}
        self._acl_index: dict[tuple[ACL, ...], int] = {}
        self._acl_refs: dict[int, int] = {}
        self._next_acl = 0
        self.last_processed_zxid = 0

    @classmethod
    def initial(cls, config: bytes) -> Database:
        """What a server holds before any snapshot or txn (ZK: the DataTree constructor):
        /zookeeper, /zookeeper/quota and /zookeeper/config, world-readable only
        (ZOOKEEPER-2014: setACL with version -1, so aversion -1) and holding the quorum
        config text (ZKDatabase.initConfigInZKDatabase: setData with version -1)."""
        db = cls()
        db.nodes[""].children.add("zookeeper")
        db._put("/zookeeper", _Node(b"", OPEN_UNSAFE_ACL_ID, _EMPTY_STAT, {"config", "quota"}))
        db._put("/zookeeper/quota", _Node(b"", OPEN_UNSAFE_ACL_ID, _EMPTY_STAT))
        acl = db._convert_acls(READ_ACL_UNSAFE)
        db._put("/zookeeper/config", _Node(config, acl, _CONFIG_STAT))
        return db

    @classmethod
    def loaded(
        cls,
        snapshot: tuple[SnapshotDump, int] | None,
        log: Iterable[TxnEntry],
        config: bytes,
        kept_zxid: int | None = None,
    ) -> Database:
        """ZK: ZKDatabase.loadDataBase: the last snapshot (or the fresh tree), then every
        logged txn after it, committed or not (lastProcessedZxid counts them all).
        `kept_zxid` is the lastProcessedZxid of the database the server kept in memory
        from its last role (ZooKeeperServer.shutdown(false) fast-forwards it from the log,
        ZOOKEEPER-2845), where it is ahead of the files: a leader's new-epoch zxid."""
        db = cls.initial(config) if snapshot is None else cls.from_dump(*snapshot)
        for entry in log:
            if entry.zxid > db.last_processed_zxid:
                db.process_txn(entry)
        if kept_zxid is not None and kept_zxid > db.last_processed_zxid:
            db.last_processed_zxid = kept_zxid
        return db

    # --- snapshots ------------------------------------------------------------------------

    @classmethod
    def from_dump(cls, dump: SnapshotDump, zxid: int) -> Database:
        """ZK: ZKDatabase.deserializeSnapshot, then setlastProcessedZxid(zxid). A tree
        without its root or with a node before its parent is a JuteError."""
        db = cls()
        db.nodes = {}
        db._digest = 0
        db.sessions = dict(dump.sessions)
        for index, acl in dump.acls:
            db.acls[index] = acl
            db._acl_index[acl] = index
            db._acl_refs[index] = 0
            db._next_acl = max(db._next_acl, index)
        for node in dump.nodes:
            # ZK: DataTree.deserialize: a parent comes before its children.
            if node.path:
                parent, _, child = node.path.rpartition("/")
                if "/" not in node.path or parent not in db.nodes:
                    raise JuteError(
                        f"snapshot: unable to find the parent {parent!r} of {node.path!r}"
                    )
                db.nodes[parent].children.add(child)
            db._put(node.path, _Node(node.data, node.acl, node.stat))
            db._add_usage(node.acl)
            db._index_by_owner(node.path, node.stat.ephemeral_owner)
        if "" not in db.nodes:
            raise JuteError("snapshot: no root node")
        db.last_processed_zxid = zxid
        return db

    def dump(self) -> SnapshotDump:
        """The database as a snapshot dump: sessions and ACLs in key order, nodes depth
        first with children in name order (Java's order is its hash maps')."""
        nodes: list[DataNode] = []
        stack = [""]
        while stack:
            path = stack.pop()
            node = self.nodes[path]
            nodes.append(DataNode(path, node.data, node.acl, node.stat))
            stack.extend(f"{path}/{c}" for c in sorted(node.children, reverse=True))
        return SnapshotDump(
            tuple(sorted(self.sessions.items())),
            tuple(sorted(self.acls.items())),
            tuple(nodes),
        )

    # --- the digest (ZK: NodeHashMapImpl, AdHash) --------------------------------------------

    @property
    def digest(self) -> int:
        """ZK: DataTree.getTreeDigest: the sum of every node's digest, as a Java long."""
        return _java_long(self._digest)

    def _put(self, path: str, node: _Node) -> None:
        """ZK: NodeHashMapImpl.put of a new path."""
        self.nodes[path] = node
        self._post_change(path, node)

    def _pre_change(self, node: _Node) -> None:
        """ZK: NodeHashMapImpl.preChange: the node leaves the digest as it was counted."""
        self._digest -= node.digest

    def _post_change(self, path: str, node: _Node) -> None:
        """ZK: NodeHashMapImpl.postChange: the node comes back in as it is now."""
        node.digest = node_digest(path, node.data, node.stat)
        self._digest += node.digest

    def fingerprint(self) -> str:
        """`tree_fingerprint` of this tree, as a client would read it."""
        return tree_fingerprint(self.read(path) for path in self.nodes)

    def read(self, path: str) -> ZnodeRow:
        """A node as getData/getACL answer (ZK: DataNode.copyStat, which reports cversion
        as 2 * the creates counted minus the children left; ReferenceCountedACLCache.
        convertLong, for which -1 is the open ACL)."""
        node = self.nodes[path]
        children = len(node.children)
        stat = replace(node.stat, cversion=node.stat.cversion * 2 - children)
        acl = OPEN_ACL_UNSAFE if node.acl == OPEN_UNSAFE_ACL_ID else self.acls.get(node.acl)
        return ZnodeRow(path or "/", node.data, acl, stat, children)

    # --- the ACL cache ----------------------------------------------------------------------

    def _convert_acls(self, acl: tuple[ACL, ...] | None) -> int:
        """ZK: ReferenceCountedACLCache.convertAcls."""
        if acl is None:
            return OPEN_UNSAFE_ACL_ID
        index = self._acl_index.get(acl)
        if index is None:
            self._next_acl += 1
            index = self._next_acl
            self.acls[index] = acl
            self._acl_index[acl] = index
            self._acl_refs[index] = 0
        self._add_usage(index)
        return index

    def _add_usage(self, index: int) -> None:
        if index in self._acl_refs:
            self._acl_refs[index] += 1

    def _remove_usage(self, index: int) -> None:
        """ZK: ReferenceCountedACLCache.removeUsage: an entry no node uses is dropped."""
        if index not in self._acl_refs:
            return
        self._acl_refs[index] -= 1
        if self._acl_refs[index] <= 0:
            del self._acl_index[self.acls.pop(index)]
            del self._acl_refs[index]

    # --- txns -------------------------------------------------------------------------------

    def process_txn(self, entry: TxnEntry) -> None:
        """ZK: ZKDatabase.processTxn -> DataTree.processTxn, and the session tracker's part
        (ZooKeeperServer.processTxnForSessionEvents)."""
        hdr, txn = entry.hdr, entry.txn
        if isinstance(txn, CreateSessionTxn):
            self.sessions[hdr.client_id] = txn.time_out
        elif hdr.type == -11:  # closeSession
            paths = txn.paths2delete if isinstance(txn, CloseSessionTxn) else None
            self._kill_session(hdr.client_id, hdr.zxid, paths)
            self.sessions.pop(hdr.client_id, None)
        elif isinstance(txn, MultiTxn):
            parts = txn.txns or ()
            if not any(part.type == -1 for part in parts):  # a failed multi changes nothing
                for part in parts:
                    self._apply(part.type, part.record, hdr.client_id, hdr.zxid, hdr.time)
        elif txn is not None:
            self._apply(hdr.type, txn, hdr.client_id, hdr.zxid, hdr.time)
        self.last_processed_zxid = max(self.last_processed_zxid, hdr.zxid)

    def _apply(self, op: int, txn: object, client_id: int, zxid: int, time: int) -> None:
        if isinstance(txn, CreateTxn):
            owner = client_id if txn.ephemeral else 0
            self._create(
                txn.path, txn.data, txn.acl, owner, txn.parent_cversion, zxid, time, op == _CREATE
            )
        elif isinstance(txn, CreateContainerTxn):
            self._create(
                txn.path,
                txn.data,
                txn.acl,
                CONTAINER_EPHEMERAL_OWNER,
                txn.parent_cversion,
                zxid,
                time,
                False,
            )
        elif isinstance(txn, CreateTTLTxn):
            self._create(
                txn.path,
                txn.data,
                txn.acl,
                _ttl_owner(txn.ttl),
                txn.parent_cversion,
                zxid,
                time,
                False,
            )
        elif isinstance(txn, DeleteTxn):
            self._delete(txn.path, zxid)
        elif isinstance(txn, SetDataTxn | SetACLTxn) and txn.path is not None:
            # ZK: DataTree keeps the root under "" and "/" both, so either names it
            path = "" if txn.path == "/" else txn.path
            node = self.nodes.get(path)
            if node is None:
                return
            if isinstance(txn, SetACLTxn):
                self._remove_usage(node.acl)
            self._pre_change(node)
            if isinstance(txn, SetDataTxn):
                node.data = txn.data
                node.stat = replace(node.stat, mtime=time, mzxid=zxid, version=txn.version)
            else:
                node.acl = self._convert_acls(txn.acl)
                node.stat = replace(node.stat, aversion=txn.version)
            self._post_change(path, node)
        # check and error parts change nothing

    def _create(
        self,
        path: str | None,
        data: bytes | None,
        acl: tuple[ACL, ...] | None,
        owner: int,
        parent_cversion: int,
        zxid: int,
        time: int,
        fix_up: bool,
    ) -> None:
        """ZK: DataTree.createNode; NoNode and NodeExists leave the tree as it is, but a
        replayed create of an existing node still sets its parent's cversion when `fix_up`
        (ZK: processTxn, ZOOKEEPER-1269's setCversionPzxid, which it does for a txn of type
        create only - a part of a multi too, not create2, a container or a TTL node)."""
        if not path:
            return
        parent_name, _, child = path.rpartition("/")
        parent = self.nodes.get(parent_name)
        if parent is None:
            return
        if child in parent.children:
            if fix_up:
                self._set_cversion_pzxid(parent_name, parent, parent_cversion, zxid)
            return
        if parent_cversion == -1:
            parent_cversion = parent.stat.cversion + 1
        self._set_cversion_pzxid(parent_name, parent, parent_cversion, zxid)
        stat = StatPersisted(zxid, zxid, time, time, 0, 0, 0, owner, zxid)
        parent.children.add(child)
        self._put(path, _Node(data, self._convert_acls(acl), stat))
        self._index_by_owner(path, owner)

    def _set_cversion_pzxid(self, path: str, parent: _Node, cversion: int, zxid: int) -> None:
        s = parent.stat
        if cversion > s.cversion:
            self._pre_change(parent)
            # Made field by field, as dataclasses.replace costs a create 1-2 us more (twice on
            # a leader, whose proposed tree applies it too).
            parent.stat = StatPersisted(
                s.czxid, s.mzxid, s.ctime, s.mtime, s.version, cversion, s.aversion,
                s.ephemeral_owner, zxid,
            )  # fmt: skip
            self._post_change(path, parent)

    def _delete(self, path: str | None, zxid: int) -> None:
        """ZK: DataTree.deleteNode: the parent's pzxid rises even when the child is gone
        already (a txn replayed over a fuzzy snapshot); NoNode changes nothing else."""
        if not path:
            return
        parent_name, _, child = path.rpartition("/")
        parent = self.nodes.get(parent_name)
        if parent is None:
            return
        parent.children.discard(child)
        if zxid > parent.stat.pzxid:
            self._pre_change(parent)
            parent.stat = replace(parent.stat, pzxid=zxid)
            self._post_change(parent_name, parent)
        node = self.nodes.pop(path, None)
        if node is None:
            return
        self._pre_change(node)
        self._remove_usage(node.acl)
        self.containers.discard(path)
        ephemerals = self._ephemerals.get(node.stat.ephemeral_owner)
        if ephemerals is not None:
            ephemerals.remove(path)

    def _kill_session(self, session: int, zxid: int, listed: tuple[str | None, ...] | None) -> None:
        """ZK: DataTree.killSession: the txn's paths, then the session's other ephemerals."""
        left = self._ephemerals.pop(session, JavaHashSet())
        for path in listed or ():
            self._delete(path, zxid)
        for path in sorted(path for path in left if path in self.nodes):
            self._delete(path, zxid)

    # --- containers and sessions' ephemerals (ZK: DataTree.containers, ephemerals) ---------

    def _index_by_owner(self, path: str, owner: int) -> None:
        """ZK: DataTree.createNode, deserialize: a container joins the containers, a
        session's ephemeral (not a TTL node's owner, which is negative too) the session's
        set."""
        if owner == CONTAINER_EPHEMERAL_OWNER:
            self.containers.add(path)
        elif owner > 0:
            self._ephemerals.setdefault(owner, JavaHashSet()).add(path)

    def ephemerals(self, session: int) -> JavaHashSet:
        """ZK: DataTree.getEphemerals: a copy (HashSet.clone) of the session's set."""
        found = self._ephemerals.get(session)
        return JavaHashSet() if found is None else found.copy()
