"""What the Zab interop tests compare against a Java leader: its zxid (`srvr`), its tree
as a client reads it, in Database.fingerprint's terms, and a server's own txn log; and
`zkfle node` started on a Java server's zoo.cfg and data dir."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from kazoo.client import KazooClient

from engine.core.config import load_zoo_cfg
from engine.core.jute.records import ACL, Id, StatPersisted
from engine.core.jute.txn import TxnEntry
from engine.core.jute.txnlog import TxnLogFile
from engine.core.vote import zxid_epoch, zxid_hex
from engine.core.zab.database import ZnodeRow, tree_fingerprint
from engine.runtime.tcpnode import TcpNode
from engine.runtime.zookeeper.server import ZkServer


def srvr_zxid(server: ZkServer) -> int | None:
    """srvr's Zxid - the database's lastProcessedZxid, what the server votes with
    (ServerStats; QuorumPeer.getLastLoggedZxid) - or None while it does not serve."""
    answer = server.four_letter_word("srvr") or ""
    match = re.search(r"^Zxid: (0x[0-9a-f]+)", answer, re.MULTILINE)
    return int(match.group(1), 16) if match else None


def leader_zxid(leader: ZkServer) -> int:
    zxid = srvr_zxid(leader)
    assert zxid is not None, f"n{leader.sid} does not serve"
    return zxid


def java_fingerprint(client: KazooClient) -> str:
    """The tree as a client reads it: every znode, its data, ACLs and stat."""
    rows = []
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = client.get(path)
        acls, _ = client.get_acls(path)
        acl = tuple(ACL(a.perms, Id(a.id.scheme, a.id.id)) for a in acls)
        persisted = StatPersisted(
            stat.czxid,
            stat.mzxid,
            stat.ctime,
            stat.mtime,
            stat.version,
            stat.cversion,
            stat.aversion,
            stat.ephemeralOwner,
            stat.pzxid,
        )
        rows.append(ZnodeRow(path, data, acl, persisted, stat.numChildren))
        stack += [f"{path.rstrip('/')}/{c}" for c in client.get_children(path)]
    return tree_fingerprint(rows)


def logged_txns(server: ZkServer) -> list[TxnEntry]:
    """Every txn in a server's own log files, in the order of their names."""
    entries: list[TxnEntry] = []
    logs = (server.data_dir / "version-2").glob("log.*")
    for path in sorted(logs, key=lambda p: int(p.suffix[1:], 16)):
        entries += TxnLogFile.decode(path.read_bytes()).entries
    return entries


def unlogged_txns(server: ZkServer) -> list[str]:
    """Gaps in a Java server's own txn log that no snapshot of its covers: txns it applied
    in memory but never logged, then built on (its leader DIFFed from the zxid its database
    reported). ZooKeeper 3.8.0's learner can do this when its leader dies while commits are
    ahead of its SyncRequestProcessor - the ZOOKEEPER-4785 / ZOOKEEPER-5094 family, fixed
    after the Debian package's version - and its tree then differs for good."""
    version = server.data_dir / "version-2"
    snapshots = sorted(int(p.suffix[1:], 16) for p in version.glob("snapshot.*"))
    zxids = [e.zxid for e in logged_txns(server)]
    holes = []
    for before, after in itertools.pairwise(zxids):
        gap = zxid_epoch(before) == zxid_epoch(after) and after > before + 1
        if gap and not any(before <= z < after for z in snapshots):
            holes.append(f"n{server.sid} logged {zxid_hex(before)} then {zxid_hex(after)}")
    return holes


class Lines(list[str]):
    """What the node prints, one line per state change."""

    def __str__(self) -> str:
        return "\n".join(self)


def start_node(ours: ZkServer, trace: Path, *, observer: bool = False) -> tuple[TcpNode, Lines]:
    """`zkfle node` on a server's zoo.cfg and data dir, as the Java server would run."""
    ours.write_config()  # zoo.cfg and data/myid; the data dir stays
    if observer:
        with open(ours.config_path, "a") as f:
            f.write("peerType=observer\n")
    out = Lines()
    node = TcpNode(load_zoo_cfg(str(ours.config_path)), trace=trace, out=out.append)
    node.start()
    return node, out
