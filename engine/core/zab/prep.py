"""A leader's requests turned into txns, sans-IO (ZK: PrepRequestProcessor): each write a
follower forwards is checked against the tree as it will be once every outstanding
proposal commits, and becomes its txn - or an error txn with ZooKeeper's error code.

The tree the checks see is the committed `Database` under the change records of the txns
prepared and not yet committed (ZK: ZooKeeperServer.outstandingChanges); `committed(zxid)`
drops the records a commit has made true. A multi's ops see each other's changes; if one
fails, it becomes an error part with its code, those after it RuntimeInconsistency, and
its change records are rolled back (ZK: rollbackPendingChanges). A multi's create,
create2 or createContainer is typed by its flags alone, container or create, as ZooKeeper
before 3.8.2 does (MultiOperationRecord.deserialize -> Op.create): ZOOKEEPER-4026 (3.8.2)
keeps a create2 as a create2 part, which a server before it cannot apply (DataTree.
processTxn: "Invalid type of op") and skips unseen, so our leader makes the parts every
version applies alike.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from engine.core.jute.archive import JuteError, Reader
from engine.core.jute.records import ACL, Id, Record, StatPersisted, TxnHeader
from engine.core.jute.requests import (
    CheckVersionRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    LearnerRequest,
    MultiOperationRecord,
    SetACLRequest,
    SetDataRequest,
)
from engine.core.jute.txn import (
    CheckVersionTxn,
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    Txn,
    TxnEntry,
)
from engine.core.zab.database import CONTAINER_EPHEMERAL_OWNER, Database
from engine.core.zab.sessions import SessionError, SessionTracker

__all__ = ["CODES", "SERVER_SESSION", "KeeperError", "Prep", "validate_path"]

CODES = {
    "RuntimeInconsistency": -2,
    "MarshallingError": -5,
    "Unimplemented": -6,
    "BadArguments": -8,
    "NoNode": -101,
    "NoAuth": -102,
    "BadVersion": -103,
    "NoChildrenForEphemerals": -108,
    "NodeExists": -110,
    "NotEmpty": -111,
    "SessionExpired": -112,
    "InvalidACL": -114,
    "SessionMoved": -118,
    "ReconfigDisabled": -123,
}
"""ZK: KeeperException.Code, the codes a prepared request can fail with."""

CREATE, DELETE, SET_DATA, SET_ACL, CHECK, MULTI, CREATE2 = 1, 2, 5, 7, 13, 14, 15
CREATE_CONTAINER, DELETE_CONTAINER, CREATE_TTL, ERROR = 19, 20, 21, -1
CREATE_SESSION, CLOSE_SESSION, RECONFIG = -10, -11, 16
SERVER_SESSION = 0
_CREATES = (CREATE, CREATE2, CREATE_CONTAINER, CREATE_TTL)
_PERM_READ, _PERM_WRITE, _PERM_CREATE, _PERM_DELETE, _PERM_ADMIN = 1, 2, 4, 8, 16
_SPECIAL = frozenset({"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"})
"""ZK: DataTree.isSpecialPath."""
_AUTH_SCHEMES = ("digest", "ip")
"""ZK: ProviderRegistry's default providers."""


class KeeperError(Exception):
    def __init__(self, name: str, path: str | None = None) -> None:
        super().__init__(f"{name} for {path}" if path is not None else name)
        self.code = CODES[name]


def validate_path(path: str | None) -> str:
    """ZK: PathUtils.validatePath, failing as BadArguments (PrepRequestProcessor)."""
    if path is None or not path.startswith("/"):
        raise KeeperError("BadArguments", path)
    if path == "/":
        return path
    if path.endswith("/"):
        raise KeeperError("BadArguments", path)
    for name in path[1:].split("/"):
        if name in ("", ".", ".."):  # an empty node name, or a relative path
            raise KeeperError("BadArguments", path)
        for c in map(ord, name):
            if (
                c <= 0x1F
                or 0x7F <= c <= 0x9F
                or 0xD800 <= c <= 0xF8FF
                or c >= 0xFFF0  # Java's chars: 0xFFF0-0xFFFF and every surrogate pair
            ):
                raise KeeperError("BadArguments", path)
    return path


@dataclass(frozen=True, slots=True)
class _Who:
    """Whose request, through which learner, at which zxid and time, with which auth ids."""

    session: int
    owner: int | None
    zxid: int
    time: int
    authinfo: tuple[Id, ...]


@dataclass(slots=True)
class _Change:
    """ZK: ChangeRecord: a node as outstanding txns leave it; `stat` None once deleted."""

    zxid: int
    path: str
    stat: StatPersisted | None
    child_count: int
    acl: tuple[ACL, ...] | None
    data: bytes | None = None


class Prep:
    """ZK: PrepRequestProcessor over `database` (the leader's, changed only by commits)."""

    def __init__(self, database: Database, sessions: SessionTracker) -> None:
        self.database = database
        self.sessions = sessions
        self._changes: list[_Change] = []
        self._by_path: dict[str, _Change] = {}
        self._undo: list[tuple[str, _Change | None]] | None = None

    def committed(self, zxid: int) -> None:
        """ZK: FinalRequestProcessor: drop the change records of txns up to `zxid`."""
        while self._changes and self._changes[0].zxid <= zxid:
            change = self._changes.pop(0)
            if self._by_path.get(change.path) is change:
                del self._by_path[change.path]

    # --- requests -------------------------------------------------------------------------

    def prepare(
        self,
        request: LearnerRequest,
        owner: int | None,
        zxid: int,
        time: int,
        authinfo: tuple[Id, ...] = (),
    ) -> TxnEntry | None:
        """The txn of a forwarded request (ZK: pRequestHelper), None for one that makes
        none (sync, reads, unknown types)."""
        op = request.type
        hdr = TxnHeader(request.session_id, request.cxid, zxid, time, op)
        who = _Who(request.session_id, owner, zxid, time, authinfo)
        try:
            if op == MULTI:
                return TxnEntry(hdr, self._multi(request.body, who))
            if op in (CREATE_SESSION, CLOSE_SESSION):
                return TxnEntry(hdr, self._session_txn(request, owner, zxid, time))
            if op == RECONFIG:  # ZK: reconfigEnabled is false by default
                raise KeeperError("ReconfigDisabled")
            kind = _RECORDS.get(op)
            if kind is None:  # sync, reads, unknown ops: a session check, no txn
                return None
            record = _decode(kind, request.body)
            return TxnEntry(hdr, self._txn(op, record, who))
        except (KeeperError, SessionError) as e:
            return TxnEntry(replace(hdr, type=ERROR), ErrorTxn(e.code))

    def delete_container(self, path: str, zxid: int, time: int) -> TxnEntry:
        """ZK: ContainerManager's deleteContainer request (session 0, cxid 0, the path as
        its body) -> pRequest2Txn: NotEmpty if a child came meanwhile, BadVersion for a
        session's ephemeral (EphemeralType NORMAL); no session or ACL is checked."""
        hdr = TxnHeader(SERVER_SESSION, 0, zxid, time, DELETE_CONTAINER)
        try:
            parent_path = self._parent_path(path)
            node = self._record(path)
            if node.child_count > 0:
                raise KeeperError("NotEmpty", path)
            assert node.stat is not None
            if node.stat.ephemeral_owner > 0:
                raise KeeperError("BadVersion", path)
            self._child_changed(self._record(parent_path), -1, zxid)
            self._add(_Change(zxid, path, None, -1, None))
            return TxnEntry(hdr, DeleteTxn(path))
        except KeeperError as e:
            return TxnEntry(replace(hdr, type=ERROR), ErrorTxn(e.code))

    def expire(self, session_id: int, zxid: int, time: int) -> TxnEntry:
        """ZK: ZooKeeperServer.expire -> close: the closeSession of an expired session."""
        request = LearnerRequest(session_id, 0, CLOSE_SESSION, b"")
        hdr = TxnHeader(session_id, 0, zxid, time, CLOSE_SESSION)
        return TxnEntry(hdr, self._session_txn(request, None, zxid, time))

    def _session_txn(
        self, request: LearnerRequest, owner: int | None, zxid: int, time: int
    ) -> Record:
        session = request.session_id
        if request.type == CREATE_SESSION:
            r = Reader(request.body)
            try:
                timeout = r.int32("createSession timeout")
            except JuteError:
                raise KeeperError("MarshallingError") from None
            self.sessions.track(session, timeout, time)
            if owner is not None:
                self.sessions.set_owner(session, owner)
            return CreateSessionTxn(timeout)
        # ZK: closeSession: the session's ephemerals as the outstanding changes leave them,
        # in the order of Java's HashSet (engine.core.zab.hashset)
        ephemerals = self.database.ephemerals(session)
        for change in self._changes:
            if change.stat is None:
                ephemerals.remove(change.path)
            elif change.stat.ephemeral_owner == session:
                ephemerals.add(change.path)
        for path in ephemerals:
            self._add(_Change(zxid, path, None, 0, None))
        self.sessions.set_closing(session)
        return CloseSessionTxn(tuple(ephemerals))

    def _multi(self, body: bytes, who: _Who) -> MultiTxn:
        multi = _decode(MultiOperationRecord, body)
        assert isinstance(multi, MultiOperationRecord)
        parts: list[Txn] = []
        failed = False
        self._undo = []
        try:
            for op, record in multi.ops:
                if isinstance(record, CreateRequest) and 0 <= record.flags <= 4:
                    op = CREATE_CONTAINER if record.flags == 4 else CREATE
                if failed:
                    parts.append(Txn(ERROR, ErrorTxn(CODES["RuntimeInconsistency"])))
                    continue
                try:
                    txn = self._txn(op, record, who)
                    parts.append(Txn(op, txn))
                except (KeeperError, SessionError) as e:
                    failed = True
                    parts.append(Txn(ERROR, ErrorTxn(e.code)))
            if failed:
                self._rollback()
        finally:
            self._undo = None
        return MultiTxn(tuple(parts))

    def _txn(self, op: int, record: Record, who: _Who) -> Record:
        """ZK: pRequest2Txn for one op."""
        if op in _CREATES:
            assert isinstance(record, (CreateRequest, CreateTTLRequest))
            return self._create(op, record, who)
        self._check_session(who)
        zxid, authinfo = who.zxid, who.authinfo
        if op == DELETE:
            assert isinstance(record, DeleteRequest)
            path = record.path or ""
            parent_path = self._parent_path(path)
            parent = self._record(parent_path)
            self._check_acl(parent.acl, _PERM_DELETE, authinfo, path)
            node = self._record(path)
            _check_and_inc_version(node.stat, "version", record.version, path)
            if node.child_count > 0:
                raise KeeperError("NotEmpty", path)
            self._child_changed(parent, -1, zxid)
            self._add(_Change(zxid, path, None, -1, None))
            return DeleteTxn(path)
        if op == SET_DATA:
            assert isinstance(record, SetDataRequest)
            path = validate_path(record.path)
            node = self._record(path)
            self._check_acl(node.acl, _PERM_WRITE, authinfo, path)
            version = _check_and_inc_version(node.stat, "version", record.version, path)
            assert node.stat is not None
            stat = replace(node.stat, version=version, mtime=who.time, mzxid=zxid)
            self._add(_Change(zxid, path, stat, node.child_count, node.acl, record.data))
            return SetDataTxn(path, record.data, version)
        if op == SET_ACL:
            assert isinstance(record, SetACLRequest)
            path = validate_path(record.path)
            acl = _fixup_acl(path, authinfo, record.acl)
            node = self._record(path)
            self._check_acl(node.acl, _PERM_ADMIN, authinfo, path)
            version = _check_and_inc_version(node.stat, "aversion", record.version, path)
            assert node.stat is not None
            stat = replace(node.stat, aversion=version)
            self._add(_Change(zxid, path, stat, node.child_count, acl, node.data))
            return SetACLTxn(path, acl, version)
        assert isinstance(record, CheckVersionRequest)
        path = validate_path(record.path)
        node = self._record(path)
        self._check_acl(node.acl, _PERM_READ, authinfo, path)
        return CheckVersionTxn(
            path, _check_and_inc_version(node.stat, "version", record.version, path)
        )

    def _create(self, op: int, record: CreateRequest | CreateTTLRequest, who: _Who) -> Record:
        """ZK: pRequest2TxnCreate."""
        session, zxid, time, authinfo = who.session, who.zxid, who.time, who.authinfo
        path = record.path or ""
        flags = record.flags
        if not 0 <= flags <= 6:  # ZK: CreateMode.fromFlag
            raise KeeperError("BadArguments", path)
        ttl = record.ttl if isinstance(record, CreateTTLRequest) else -1
        if flags in (5, 6):  # ZK: the TTL modes need extendedTypesEnabled, off by default
            raise KeeperError("Unimplemented", path)
        if ttl != -1:  # ZK: EphemeralType.validateTTL
            raise KeeperError("BadArguments", path)
        ephemeral, sequential = flags in (1, 3), flags in (2, 3)
        self._check_session(who)
        if "/" not in path or "\0" in path:  # ZK: validatePathForCreate
            raise KeeperError("BadArguments", path)
        parent_path = path[: path.rindex("/")] or "/"
        acl = _fixup_acl(path, authinfo, record.acl)
        parent = self._record(parent_path)
        self._check_acl(parent.acl, _PERM_CREATE, authinfo, path)
        assert parent.stat is not None
        if sequential:
            path = f"{path}{parent.stat.cversion:010d}"
        validate_path(path)
        if self._find(path) is not None:
            raise KeeperError("NodeExists", path)
        # ZK: EphemeralType.get is NORMAL for any owner but 0 and a container's (TTLs off)
        if parent.stat.ephemeral_owner not in (0, CONTAINER_EPHEMERAL_OWNER):
            raise KeeperError("NoChildrenForEphemerals", path)
        new_cversion = parent.stat.cversion + 1
        if op == CREATE_CONTAINER or flags == 4:
            owner_id = CONTAINER_EPHEMERAL_OWNER
        else:
            owner_id = session if ephemeral else 0
        parent_stat = replace(parent.stat, cversion=new_cversion, pzxid=zxid)
        self._add(replace(parent, zxid=zxid, stat=parent_stat, child_count=parent.child_count + 1))
        stat = StatPersisted(zxid, zxid, time, time, 0, 0, 0, owner_id, zxid)
        self._add(_Change(zxid, path, stat, 0, acl, record.data))
        if op == CREATE_CONTAINER:
            return CreateContainerTxn(path, record.data, acl, new_cversion)
        return CreateTxn(path, record.data, acl, ephemeral, new_cversion)

    def _check_session(self, who: _Who) -> None:
        """Session 0 is the server's own (ZK: ContainerManager submits its requests with
        it; here the `write` command's): no client session to check."""
        if who.session != SERVER_SESSION:
            self.sessions.check(who.session, who.owner)

    # --- the tree as outstanding txns leave it ---------------------------------------------

    def _find(self, path: str) -> _Change | None:
        """ZK: getRecordForPath, None for NoNode."""
        change = self._by_path.get(path)
        if change is not None:
            return None if change.stat is None else change
        node = self.database.nodes.get("" if path == "/" else path)
        if node is None:
            return None
        row = self.database.read("" if path == "/" else path)
        return _Change(-1, path, node.stat, len(node.children), row.acl, node.data)

    def _record(self, path: str) -> _Change:
        change = self._find(path)
        if change is None:
            raise KeeperError("NoNode", path)
        return change

    @staticmethod
    def _parent_path(path: str) -> str:
        """ZK: getParentPathAndValidate."""
        if "/" not in path or "\0" in path or path in _SPECIAL:
            raise KeeperError("BadArguments", path)
        return path[: path.rindex("/")] or "/"

    def _child_changed(self, parent: _Change, delta: int, zxid: int) -> None:
        assert parent.stat is not None
        stat = replace(parent.stat, pzxid=zxid)
        self._add(replace(parent, zxid=zxid, stat=stat, child_count=parent.child_count + delta))

    def _add(self, change: _Change) -> None:
        """ZK: addChangeRecord."""
        if self._undo is not None:
            self._undo.append((change.path, self._by_path.get(change.path)))
        self._changes.append(change)
        self._by_path[change.path] = change

    def _rollback(self) -> None:
        """ZK: rollbackPendingChanges: a failed multi's records go, the earlier ones are back."""
        assert self._undo is not None
        del self._changes[len(self._changes) - len(self._undo) :]
        for path, before in reversed(self._undo):
            if before is None:
                self._by_path.pop(path, None)
            else:
                self._by_path[path] = before
        self._undo = []

    @staticmethod
    def _check_acl(
        acl: tuple[ACL, ...] | None, perm: int, authinfo: tuple[Id, ...], path: str
    ) -> None:
        """ZK: ZooKeeperServer.checkACL with the default providers (exact ids)."""
        if not acl or any(ident.scheme == "super" for ident in authinfo):
            return
        for a in acl:
            if a.perms & perm:
                if a.id == Id("world", "anyone"):
                    return
                if a.id.scheme in _AUTH_SCHEMES and a.id in authinfo:
                    return
        raise KeeperError("NoAuth", path)


_RECORDS: dict[int, type[Record]] = {
    CREATE: CreateRequest,
    CREATE2: CreateRequest,
    CREATE_CONTAINER: CreateRequest,
    CREATE_TTL: CreateTTLRequest,
    DELETE: DeleteRequest,
    SET_DATA: SetDataRequest,
    SET_ACL: SetACLRequest,
    CHECK: CheckVersionRequest,
}


def _decode(kind: type[Record], body: bytes) -> Record:
    """ZK: byteBuffer2Record; bytes that do not decode are a MarshallingError."""
    try:
        return kind.decode(body)
    except JuteError:
        raise KeeperError("MarshallingError") from None


def _check_and_inc_version(stat: StatPersisted | None, field: str, expected: int, path: str) -> int:
    """ZK: checkAndIncVersion."""
    assert stat is not None
    current: int = getattr(stat, field)
    if expected not in (-1, current):
        raise KeeperError("BadVersion", path)
    return current + 1


def _fixup_acl(path: str, authinfo: tuple[Id, ...], acl: tuple[ACL, ...] | None) -> tuple[ACL, ...]:
    """ZK: fixupACL: duplicates dropped, `auth` (whatever its id: kazoo sends none)
    expanded to the requester's authenticated ids - digest's, not ip's, whose provider is
    not isAuthenticated - every other id valid for its scheme; none at all is InvalidACL
    (ZOOKEEPER-1877)."""
    unique: list[ACL] = []
    for a in acl or ():
        if a not in unique:
            unique.append(a)
    if not unique:
        raise KeeperError("InvalidACL", path)
    out: list[ACL] = []
    for a in unique:
        scheme, ident = a.id.scheme, a.id.id
        if scheme is None:
            raise KeeperError("InvalidACL", path)
        if (scheme, ident) == ("world", "anyone"):
            out.append(a)
        elif scheme == "auth":
            ids = [i for i in authinfo if i.scheme == "digest"]
            if not ids:
                raise KeeperError("InvalidACL", path)
            out.extend(ACL(a.perms, i) for i in ids)
        elif ident is None or not _valid_id(scheme, ident):
            raise KeeperError("InvalidACL", path)
        else:
            out.append(a)
    return tuple(out)


def _valid_id(scheme: str, ident: str) -> bool:
    """ZK: DigestAuthenticationProvider.isValid (user:hash), IPAuthenticationProvider."""
    if scheme == "digest":
        return len(ident.split(":")) == 2
    if scheme == "ip":
        try:
            ipaddress.ip_network(ident, strict=False)
        except ValueError:
            return False
        return True
    return False
