"""What the Zab interop tests compare against a Java leader: its zxid (`srvr`) and its tree
as a client reads it, in Database.fingerprint's terms."""

from __future__ import annotations

import re

from kazoo.client import KazooClient

from engine.core.jute.records import ACL, Id, StatPersisted
from engine.core.zab.database import ZnodeRow, tree_fingerprint
from engine.runtime.zookeeper.server import ZkServer


def leader_zxid(leader: ZkServer) -> int:
    answer = leader.four_letter_word("srvr") or ""
    match = re.search(r"^Zxid: (0x[0-9a-f]+)", answer, re.MULTILINE)
    assert match, answer
    return int(match.group(1), 16)


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
