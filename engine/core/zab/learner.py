"""A follower's or observer's side of one connection to a Zab leader, sans-IO: discovery,
synchronisation and broadcast as ZooKeeper 3.8's Learner, Follower and Observer run them.

`ZabLearner` is made when the connection to the leader is up; `start()` and `receive(item)`
(a QuorumPacket, or the dump that follows SNAP, as `jute.stream.QuorumStream` cuts them)
return the actions the runtime carries out **in order**. A durable action (`SaveEpoch`,
`LogTxns`, `TakeSnapshot`, `TruncateLog`) must be on disk before any action after it is
carried out, so nothing is acknowledged before it is durable (reference §7.4): the
acceptedEpoch before ACKEPOCH, the synced data and currentEpoch before NEWLEADER's ACK, a
proposal before its ACK. ZooKeeper 3.8 itself acknowledges NEWLEADER while the proposals of
a DIFF may still be on their way to disk (ZOOKEEPER-4646); here they are logged first.

`Fail(reason)` ends the connection (ZooKeeper throws and goes back to LOOKING); after it the
learner takes nothing more. Timeouts are the runtime's: the read timeout is `init_limit`
ticks until NEWLEADER, then `sync_limit` ticks (`read_limit`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TypeAlias

from engine.core.jute.archive import JuteError
from engine.core.jute.records import LearnerInfo, QuorumPacket
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.txn import TxnEntry
from engine.core.quorumpacket import packet_name
from engine.core.vote import make_zxid, zxid_epoch, zxid_hex
from engine.core.zab.database import DIGEST_VERSION, Database

__all__ = [
    "ACK",
    "ACKEPOCH",
    "COMMIT",
    "DIFF",
    "FOLLOWERINFO",
    "INFORM",
    "LEADERINFO",
    "NEWLEADER",
    "OBSERVERINFO",
    "PING",
    "PROPOSAL",
    "PROTOCOL_VERSION",
    "REVALIDATE",
    "SNAP",
    "SYNC",
    "TRUNC",
    "UPTODATE",
    "Action",
    "Committed",
    "DigestMismatch",
    "Fail",
    "LogTxns",
    "SaveEpoch",
    "Send",
    "TakeSnapshot",
    "TruncateLog",
    "ZabLearner",
    "compare_digest",
]

# ZK: the packet types of Leader.java that a learner sends or handles.
PROPOSAL, ACK, COMMIT, PING, REVALIDATE, SYNC, INFORM = 2, 3, 4, 5, 6, 7, 8
NEWLEADER, FOLLOWERINFO, UPTODATE, DIFF, TRUNC, SNAP = 10, 11, 12, 13, 14, 15
OBSERVERINFO, LEADERINFO, ACKEPOCH = 16, 17, 18
PROTOCOL_VERSION = 0x10000
"""ZK: Learner.registerWithLeader's LearnerInfo.protocolVersion (Zab 1.0)."""
_INT = struct.Struct(">i")


# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    packet: QuorumPacket


@dataclass(frozen=True, slots=True)
class SaveEpoch:
    """Write the file `acceptedEpoch` or `currentEpoch` (ZK: QuorumPeer.writeLongToFile)."""

    name: str
    epoch: int


@dataclass(frozen=True, slots=True)
class LogTxns:
    """Append these txns to the log and sync it (ZK: SyncRequestProcessor)."""

    entries: tuple[TxnEntry, ...]


@dataclass(frozen=True, slots=True)
class TakeSnapshot:
    """Write this database image as `snapshot.<zxid>` (ZK: ZooKeeperServer.takeSnapshot)."""

    dump: SnapshotDump
    zxid: int


@dataclass(frozen=True, slots=True)
class TruncateLog:
    """Drop every logged txn after `zxid` (ZK: ZKDatabase.truncateLog)."""

    zxid: int


@dataclass(frozen=True, slots=True)
class Committed:
    """These txns were applied to the in-memory database, in order (informational)."""

    zxids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DigestMismatch:
    """The tree's digest after applying txn `zxid` is `computed`, not the `logged` one the
    leader sent with it (ZK: DataTree.compareDigest; informational: ZooKeeper logs it,
    counts it in mntr's zk_digest_mismatches_count and carries on)."""

    zxid: int
    logged: int
    computed: int


@dataclass(frozen=True, slots=True)
class Fail:
    """Leave the leader: close the connection and go back to LOOKING."""

    reason: str


Action: TypeAlias = (
    Send | SaveEpoch | LogTxns | TakeSnapshot | TruncateLog | Committed | DigestMismatch | Fail
)


# --- the learner ----------------------------------------------------------------------------------


class ZabLearner:
    """One connection's worth of ZK Learner (Follower when `observer` is False).

    `snapshot` and `log` are what the server has on disk: the last snapshot (dump, zxid)
    and the txns logged after it, committed or not. The in-memory database is built from
    them - ZooKeeper keeps its database across roles, fast-forwarded from the log, which
    is the same tree (lastLoggedZxid counts every logged txn); without a snapshot it
    starts as ZooKeeper's fresh database, whose
    /zookeeper/config holds `config`, the quorum config text (QuorumVerifier.toString).
    `processed_zxid` is the database's lastProcessedZxid where the server's last role left
    it ahead of the log (ZK: registerWithLeader's getLastLoggedZxid, which ACKEPOCH carries)."""

    def __init__(
        self,
        sid: int,
        *,
        observer: bool,
        accepted_epoch: int,
        current_epoch: int,
        config_version: int,
        snapshot: tuple[SnapshotDump, int] | None = None,
        log: tuple[TxnEntry, ...] = (),
        config: bytes = b"",
        processed_zxid: int | None = None,
    ) -> None:
        self.sid = sid
        self.config = config
        self.observer = observer
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        self.config_version = config_version
        self._snapshot = snapshot
        self._log = list(log)
        self.database = Database.loaded(snapshot, self._log, config, processed_zxid)
        self.zab_state = "DISCOVERY"
        """ZK: QuorumPeer.ZabState: DISCOVERY, SYNCHRONIZATION, BROADCAST (or CLOSED)."""
        self.sync_mode: str | None = None
        """DIFF, SNAP or TRUNC once the leader chose (ZK: QuorumPeer.SyncMode)."""
        self.read_limit = "init"
        """Which limit times the socket: `init` (initLimit ticks), then `sync`."""
        self.new_epoch = -1
        self._new_leader_zxid = 0
        self._snapshot_needed = True
        self._write_to_txn_log = False
        self._new_leader_seen = False
        self._not_committed: list[TxnEntry] = []
        """Sync: proposals not yet committed or logged (ZK: packetsNotCommitted)."""
        self._committed: list[int] = []
        """Sync: zxids committed after NEWLEADER (ZK: packetsCommitted)."""
        self._pending: list[TxnEntry] = []
        """Broadcast: logged proposals awaiting COMMIT (ZK: FollowerZooKeeperServer.pendingTxns)."""
        self._unacked: list[TxnEntry] = []
        """Sync proposals logged at NEWLEADER, acknowledged after UPTODATE's ACK."""
        self._awaiting_dump = False
        self._snap_zxid = 0
        self._dump: SnapshotDump | None = None
        """The leader's dump while the database is still that tree (no txn applied since)."""
        self._out: list[Action] = []
        self.digest_mismatches = 0
        """Txns whose digest was not the leader's (ZK: zk_digest_mismatches_count)."""

    def _load(self, count: int) -> Database:
        """The snapshot, then the first `count` logged txns (ZK: ZKDatabase.loadDataBase)."""
        return Database.loaded(self._snapshot, self._log[:count], self.config)

    @property
    def last_logged_zxid(self) -> int:
        return self.database.last_processed_zxid

    # --- the door ---------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """ZK: Learner.registerWithLeader: FOLLOWERINFO or OBSERVERINFO with our sid."""
        info = LearnerInfo(self.sid, PROTOCOL_VERSION, self.config_version).encode()
        kind = OBSERVERINFO if self.observer else FOLLOWERINFO
        self._send(kind, make_zxid(self.accepted_epoch, 0), info)
        return self._flush()

    def receive(self, item: QuorumPacket | SnapshotDump) -> list[Action]:
        if self.zab_state == "CLOSED":
            return []
        try:
            if self.zab_state == "DISCOVERY":
                self._discovery(item)
            elif self.zab_state == "SYNCHRONIZATION":
                self._synchronization(item)
            else:
                self._broadcast(item)
        except JuteError as e:  # a txn the leader sent does not decode
            self._fail(f"Malformed {_name(item)} from the leader: {e}")
        return self._flush()

    # --- discovery ----------------------------------------------------------------------------

    def _discovery(self, item: QuorumPacket | SnapshotDump) -> None:
        if not isinstance(item, QuorumPacket) or item.type != LEADERINFO:
            # ZK: registerWithLeader accepts NEWLEADER from a pre-1.0 leader; 3.8 sends LEADERINFO.
            self._fail(f"First packet should have been LEADERINFO, got {_name(item)}")
            return
        if item.data is None or len(item.data) < 4:
            self._fail("LEADERINFO without the leader's protocol version")
            return
        new_epoch = zxid_epoch(item.zxid)
        if new_epoch > self.accepted_epoch:
            ack_epoch = self.current_epoch
            self.accepted_epoch = new_epoch
            self._out.append(SaveEpoch("acceptedEpoch", new_epoch))
        elif new_epoch == self.accepted_epoch:
            ack_epoch = -1  # "already accepted this epoch"
        else:
            self._fail(
                f"Leaders epoch, {new_epoch} is less than accepted epoch, {self.accepted_epoch}"
            )
            return
        self.new_epoch = new_epoch
        self._new_leader_zxid = make_zxid(new_epoch, 0)
        self.zab_state = "SYNCHRONIZATION"
        self._send(ACKEPOCH, self.last_logged_zxid, _INT.pack(ack_epoch))

    # --- synchronisation (ZK: Learner.syncWithLeader) ------------------------------------------

    def _synchronization(self, item: QuorumPacket | SnapshotDump) -> None:
        if self.sync_mode is None:
            self._choose_sync(item)
        elif self.sync_mode == "SNAP" and self._awaiting_dump:
            if not isinstance(item, SnapshotDump):
                self._fail(f"SNAP without the leader's database, got {_name(item)}")
                return
            self._awaiting_dump = False
            self.database = Database.from_dump(item, self._snap_zxid)
            self._dump = item
        elif isinstance(item, QuorumPacket):
            self._sync_packet(item)

    def _choose_sync(self, item: QuorumPacket | SnapshotDump) -> None:
        kind = item.type if isinstance(item, QuorumPacket) else -1
        if kind == DIFF:
            self.sync_mode = "DIFF"
            self._snapshot_needed = False
        elif kind == SNAP:
            assert isinstance(item, QuorumPacket)
            self.sync_mode = "SNAP"
            self._awaiting_dump = True
            self._snap_zxid = item.zxid
        elif kind == TRUNC:
            assert isinstance(item, QuorumPacket)
            self.sync_mode = "TRUNC"
            self._truncate(item.zxid)
        else:
            # ZK: syncWithLeader exits the JVM (ExitCode.QUORUM_PACKET_ERROR).
            self._fail(f"Unexpected leader packet {_name(item)} at the start of sync")
            return
        self._write_to_txn_log = not self._snapshot_needed

    def _truncate(self, zxid: int) -> None:
        """ZK: ZKDatabase.truncateLog, then the database reloaded from what is left."""
        snap_zxid = self._snapshot[1] if self._snapshot is not None else 0
        if zxid < snap_zxid:
            self._fail(
                f"Not able to truncate the log to {zxid_hex(zxid)}: the snapshot is at "
                f"{zxid_hex(snap_zxid)}"
            )
            return
        self._log = [e for e in self._log if e.zxid <= zxid]
        self._out.append(TruncateLog(zxid))
        self.database = self._load(len(self._log))
        self.database.last_processed_zxid = zxid

    def _sync_packet(self, qp: QuorumPacket) -> None:
        if qp.type == PROPOSAL:
            self._not_committed.append(self._entry(qp))
        elif qp.type == COMMIT:
            if not self._write_to_txn_log:
                head = self._not_committed[0] if self._not_committed else None
                if head is not None and head.zxid == qp.zxid:
                    self._apply(self._not_committed.pop(0))
                # ZK: else "Committing 0x.., but next proposal is 0x.." (a warning only)
            else:
                self._committed.append(qp.zxid)
        elif qp.type == INFORM:
            entry = self._entry(qp)
            if not self._write_to_txn_log:
                self._apply(entry)
            else:
                self._not_committed.append(entry)
                self._committed.append(qp.zxid)
        elif qp.type == NEWLEADER:
            self._new_leader(qp)
        elif qp.type == UPTODATE:
            self._up_to_date()
        # Anything else (PING included) is not looked at during sync, as in syncWithLeader.

    def _new_leader(self, qp: QuorumPacket) -> None:
        if self._snapshot_needed:
            self._take_snapshot()
        if not self.observer and self._not_committed:
            # ZK: FollowerZooKeeperServer.logRequest for each. Java's ACKs for them come
            # from its log thread, after those of NEWLEADER and UPTODATE (as captured in
            # tests/data/zab/rejoin-diff.learner): logged now, acknowledged then.
            self._log_proposals(self._not_committed, ack=False)
            self._unacked, self._not_committed = self._not_committed, []
        self.current_epoch = self.new_epoch
        self._out.append(SaveEpoch("currentEpoch", self.new_epoch))
        self._write_to_txn_log = True
        self._new_leader_seen = True
        self.read_limit = "sync"
        self._send(ACK, self._new_leader_zxid)

    def _take_snapshot(self) -> None:
        """ZK: ZooKeeperServer.takeSnapshot: the database as it stands - which, while no txn
        came after a SNAP, is the leader's dump as it came (its bytes written again, not
        10 MB encoded anew)."""
        dump = self._dump if self._dump is not None else self.database.dump()
        zxid = self.database.last_processed_zxid
        self._snapshot, self._log = (dump, zxid), []
        self._out.append(TakeSnapshot(dump, zxid))

    def _up_to_date(self) -> None:
        if not self._new_leader_seen:  # ZK: isPreZAB1_0
            self._take_snapshot()
            self.current_epoch = self.new_epoch
            self._out.append(SaveEpoch("currentEpoch", self.new_epoch))
        self.zab_state = "BROADCAST"
        self._send(ACK, self._new_leader_zxid)
        for entry in self._unacked:
            self._send(ACK, entry.zxid)
        self._unacked = []
        if self.observer:
            # ZK: ObserverZooKeeperServer.commitRequest for each informed txn, in order.
            for entry in self._not_committed:
                if self._committed and self._committed[0] == entry.zxid:
                    self._committed.pop(0)
                    self._log_and_apply(entry)
        else:
            self._log_proposals(self._not_committed)
            for zxid in self._committed:
                self._commit(zxid)
        self._not_committed, self._committed = [], []

    # --- broadcast (ZK: Follower.processPacket, Observer.processPacket) -----------------------

    def _broadcast(self, item: QuorumPacket | SnapshotDump) -> None:
        if not isinstance(item, QuorumPacket):
            self._fail("A database dump outside of sync")
            return
        if item.type == PING:
            # ZK: Learner.ping answers with the sessions its clients touched: we serve none.
            self._out.append(Send(QuorumPacket(PING, item.zxid, b"", item.authinfo)))
        elif item.type == PROPOSAL and not self.observer:
            self._log_proposals([self._entry(item)])
        elif item.type == COMMIT and not self.observer:
            self._commit(item.zxid)
        elif item.type == INFORM and self.observer:
            self._log_and_apply(self._entry(item))
        # ZK logs and ignores the rest: UPTODATE again, REVALIDATE and SYNC (they answer
        # clients: we serve none), a PROPOSAL or COMMIT sent to an observer, unknown types.

    def _log_proposals(self, entries: list[TxnEntry], *, ack: bool = True) -> None:
        """Log, then acknowledge each (ZK: SyncRequestProcessor -> SendAckRequestProcessor)."""
        if not entries:
            return
        self._log.extend(entries)
        self._pending.extend(entries)
        self._out.append(LogTxns(tuple(entries)))
        if ack:
            for entry in entries:
                self._send(ACK, entry.zxid)

    def _commit(self, zxid: int) -> None:
        """ZK: FollowerZooKeeperServer.commit: the head of the pending txns, or exit."""
        if not self._pending:
            return  # ZK: "Committing 0x.. without seeing txn" (a warning only)
        head = self._pending[0].zxid
        if head != zxid:
            self._fail(f"Committing zxid {zxid_hex(zxid)} but next pending txn {zxid_hex(head)}")
            return
        self._apply(self._pending.pop(0), compare=True)

    def _log_and_apply(self, entry: TxnEntry) -> None:
        self._log.append(entry)
        self._out.append(LogTxns((entry,)))
        self._apply(entry, compare=True)

    # --- helpers ------------------------------------------------------------------------------

    def _entry(self, qp: QuorumPacket) -> TxnEntry:
        # ZK: a gap in zxids is only a warning ("Got zxid 0x.. expected 0x.."): taken as is.
        return TxnEntry.decode(qp.data or b"")

    def _apply(self, entry: TxnEntry, *, compare: bool = False) -> None:
        """ZK: ZooKeeperServer.processTxn; `compare` for a txn that went through the log
        and the commit processor (processTxnInDB with the request's digest), not for one
        a sync applies before NEWLEADER (processTxn(hdr, txn), no digest)."""
        self.database.process_txn(entry)
        self._dump = None
        self._out.append(Committed((entry.zxid,)))
        mismatch = compare_digest(self.database, entry) if compare else None
        if mismatch is not None:
            self.digest_mismatches += 1
            self._out.append(mismatch)

    def _send(self, kind: int, zxid: int, data: bytes | None = None) -> None:
        self._out.append(Send(QuorumPacket(kind, zxid, data)))

    def _fail(self, reason: str) -> None:
        self.zab_state = "CLOSED"
        self._out.append(Fail(reason))

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out


def compare_digest(database: Database, entry: TxnEntry) -> DigestMismatch | None:
    """ZK: DataTree.compareDigest, once `entry` is applied to `database`: the mismatch if it
    carries a digest of our version that is not the tree's, else None (a txn without one,
    or of another version, is not compared)."""
    theirs, ours = entry.digest, database.digest
    if theirs is None or theirs.version != DIGEST_VERSION or theirs.tree_digest == ours:
        return None
    return DigestMismatch(entry.zxid, theirs.tree_digest, ours)


def _name(item: QuorumPacket | SnapshotDump) -> str:
    return "a database dump" if isinstance(item, SnapshotDump) else packet_name(item.type)
