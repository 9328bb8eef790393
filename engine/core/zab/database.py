"""A server's in-memory database: the data tree, the ACL cache and the sessions, changed
only by committed txns (ZK: ZKDatabase, DataTree.processTxn, ReferenceCountedACLCache).

It starts from a snapshot dump (SNAP, or a file) and applies `TxnEntry`s in zxid order,
with ZooKeeper's rules: a create or delete that fails (no parent, node exists, no node)
changes nothing but the parent's cversion for a replayed create (ZK: the fuzzy-snapshot
fix-up in processTxn); a multi with an error part changes nothing; closeSession deletes
the paths its txn lists and any other ephemeral of the session. `tree_fingerprint`
digests a tree as a client reads it, to compare ours with a Java server's.
"""

from __future__ import annotations

import hashlib
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

__all__ = [
    "CONTAINER_EPHEMERAL_OWNER",
    "OPEN_UNSAFE_ACL_ID",
    "Database",
    "ZnodeRow",
    "tree_fingerprint",
]

OPEN_UNSAFE_ACL_ID = -1
"""The ACL cache index of a null ACL list (ZK: ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID)."""
OPEN_ACL_UNSAFE = (ACL(31, Id("world", "anyone")),)
"""ZK: ZooDefs.Ids.OPEN_ACL_UNSAFE."""
READ_ACL_UNSAFE = (ACL(1, Id("world", "anyone")),)
"""ZK: ZooDefs.Ids.READ_ACL_UNSAFE."""
_EMPTY_STAT = StatPersisted(0, 0, 0, 0, 0, 0, 0, 0, 0)
CONTAINER_EPHEMERAL_OWNER = -(1 << 63)
"""ZK: EphemeralType.CONTAINER_EPHEMERAL_OWNER (Long.MIN_VALUE)."""
_TTL_OWNER = 0xFF << 56
"""ZK: EphemeralType.TTL's mask: the top byte 0xFF, the ttl below."""


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


class Database:
    """ZK: ZKDatabase with its DataTree; `last_processed_zxid` is lastProcessedZxid."""

    def __init__(self) -> None:
        root = _Node(b"", OPEN_UNSAFE_ACL_ID, _EMPTY_STAT)
        self.nodes: dict[str, _Node] = {"": root}
        self.sessions: dict[int, int] = {}
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
        db.nodes["/zookeeper"] = _Node(b"", OPEN_UNSAFE_ACL_ID, _EMPTY_STAT, {"config", "quota"})
        db.nodes["/zookeeper/quota"] = _Node(b"", OPEN_UNSAFE_ACL_ID, _EMPTY_STAT)
        stat = replace(_EMPTY_STAT, version=-1, aversion=-1)
        db.nodes["/zookeeper/config"] = _Node(config, db._convert_acls(READ_ACL_UNSAFE), stat)
        return db

    @classmethod
    def loaded(
        cls,
        snapshot: tuple[SnapshotDump, int] | None,
        log: Iterable[TxnEntry],
        config: bytes,
    ) -> Database:
        """ZK: ZKDatabase.loadDataBase: the last snapshot (or the fresh tree), then every
        logged txn after it, committed or not (lastProcessedZxid counts them all)."""
        db = cls.initial(config) if snapshot is None else cls.from_dump(*snapshot)
        for entry in log:
            if entry.zxid > db.last_processed_zxid:
                db.process_txn(entry)
        return db

    # --- snapshots ------------------------------------------------------------------------

    @classmethod
    def from_dump(cls, dump: SnapshotDump, zxid: int) -> Database:
        """ZK: ZKDatabase.deserializeSnapshot, then setlastProcessedZxid(zxid). A tree
        without its root or with a node before its parent is a JuteError."""
        db = cls()
        db.nodes = {}
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
            db.nodes[node.path] = _Node(node.data, node.acl, node.stat)
            db._add_usage(node.acl)
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
            self._create(txn.path, txn.data, txn.acl, owner, txn.parent_cversion, zxid, time)
        elif isinstance(txn, CreateContainerTxn):
            self._create(
                txn.path,
                txn.data,
                txn.acl,
                CONTAINER_EPHEMERAL_OWNER,
                txn.parent_cversion,
                zxid,
                time,
            )
        elif isinstance(txn, CreateTTLTxn):
            self._create(
                txn.path, txn.data, txn.acl, _ttl_owner(txn.ttl), txn.parent_cversion, zxid, time
            )
        elif isinstance(txn, DeleteTxn):
            self._delete(txn.path, zxid)
        elif isinstance(txn, SetDataTxn):
            node = self.nodes.get(txn.path or "")
            if node is not None and txn.path:
                node.data = txn.data
                node.stat = replace(node.stat, mtime=time, mzxid=zxid, version=txn.version)
        elif isinstance(txn, SetACLTxn):
            node = self.nodes.get(txn.path or "")
            if node is not None and txn.path is not None:
                self._remove_usage(node.acl)
                node.acl = self._convert_acls(txn.acl)
                node.stat = replace(node.stat, aversion=txn.version)
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
    ) -> None:
        """ZK: DataTree.createNode; NoNode and NodeExists leave the tree as it is, but a
        replayed create of an existing node still sets its parent's cversion (ZK:
        processTxn, ZOOKEEPER-1269's setCversionPzxid)."""
        if not path:
            return
        parent_name, _, child = path.rpartition("/")
        parent = self.nodes.get(parent_name)
        if parent is None:
            return
        if child in parent.children:
            self._set_cversion_pzxid(parent, parent_cversion, zxid)
            return
        if parent_cversion == -1:
            parent_cversion = parent.stat.cversion + 1
        self._set_cversion_pzxid(parent, parent_cversion, zxid)
        stat = StatPersisted(zxid, zxid, time, time, 0, 0, 0, owner, zxid)
        parent.children.add(child)
        self.nodes[path] = _Node(data, self._convert_acls(acl), stat)

    @staticmethod
    def _set_cversion_pzxid(parent: _Node, cversion: int, zxid: int) -> None:
        if cversion > parent.stat.cversion:
            parent.stat = replace(parent.stat, cversion=cversion, pzxid=zxid)

    def _delete(self, path: str | None, zxid: int) -> None:
        """ZK: DataTree.deleteNode (NoNode changes nothing)."""
        if not path or path not in self.nodes:
            return
        parent_name, _, child = path.rpartition("/")
        parent = self.nodes.get(parent_name)
        if parent is None:
            return
        parent.children.discard(child)
        if zxid > parent.stat.pzxid:
            parent.stat = replace(parent.stat, pzxid=zxid)
        node = self.nodes.pop(path)
        self._remove_usage(node.acl)

    def _kill_session(self, session: int, zxid: int, listed: tuple[str | None, ...] | None) -> None:
        """ZK: DataTree.killSession: the txn's paths, then the session's other ephemerals."""
        for path in listed or ():
            self._delete(path, zxid)
        for path in sorted(p for p, n in self.nodes.items() if n.stat.ephemeral_owner == session):
            self._delete(path, zxid)
