"""Capture the Zab test vectors in this directory from real ZooKeeper 3.8 servers.

Run once by hand (needs java and Debian's `zookeeper` package, and kazoo):

    .venv/bin/python tests/data/zab/capture.py tests/data/zab

What it does (see README.md here for the files it writes):

1. An ensemble of three participants (1, 2, 3) and one observer (4) on 127.0.0.1, tickTime
   200 ms, with `zookeeper.commitLogCount=20` so that a learner 30 txns behind gets a SNAP.
   Servers 1 and 4 name a recording relay as server 3's quorum port; 2 and 3 are started
   first, so 3 leads (equal zxids: the larger sid wins).
2. 1 and 4 join through the relay: FOLLOWERINFO/OBSERVERINFO, LEADERINFO, ACKEPOCH, an
   empty DIFF, NEWLEADER, UPTODATE. Then a kazoo client on server 2 makes every txn type
   the leader logs: createSession, create, create2, createContainer, setData, setACL,
   delete, a multi with check/create/setData/delete, a multi that fails (error txns), a
   create that fails (error), an ephemeral node, closeSession; the relay records the
   PROPOSAL/ACK/COMMIT (follower) and INFORM (observer) packets and the PINGs.
3. Server 1 is stopped, 30 more writes are made, and 1 is started again through a new
   relay connection: the leader sends SNAP and its database dump.
4. The leader's transaction log and the snapshot server 1 wrote after the SNAP are copied
   (the log cut after its last entry: ZooKeeper preallocates it with zeros to 64 MB).
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.protocol.serialization import Create2
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import contextlib

from engine.runtime.zookeeper.server import (
    HOST,
    ZkSettings,
    make_ensemble,
    wait_for,
)

SETTINGS = ZkSettings(
    tick_time_ms=200,
    init_limit=10,
    sync_limit=5,
    jvm_options=(
        "-Xms32m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.commitLogCount=20",
        "-Dzookeeper.snapshotSizeFactor=-1",
    ),
)


class CreateContainer(Create2):  # type: ignore[misc]
    """kazoo has no container create: the same request as create2 under opcode 19."""

    type = 19


class Relay:
    """Relays learner -> leader connections and records each direction to a file."""

    def __init__(self, target: int, out: Path, name: str) -> None:
        self.target = target
        self.out = out
        self.name = name
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []
        self.stem = name
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                learner, _ = self.listener.accept()
            except OSError:
                return
            leader = socket.create_connection((HOST, self.target))
            self.sockets += [learner, leader]
            self.connections += 1
            stem = self.stem
            for src, dst, suffix in ((learner, leader, "learner"), (leader, learner, "leader")):
                t = threading.Thread(
                    target=self.pump, args=(src, dst, self.out / f"{stem}.{suffix}"), daemon=True
                )
                t.start()
                self.threads.append(t)

    @staticmethod
    def pump(src: socket.socket, dst: socket.socket, path: Path) -> None:
        with open(path, "ab") as f:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                f.write(data)
                f.flush()
                try:
                    dst.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.listener.close()
        for s in self.sockets:
            s.close()


def writes(kc: KazooClient) -> None:
    kc.create("/a", b"alpha")
    kc.create("/b", b"beta", include_data=True)
    container = kc.handler.async_result()
    kc._call(CreateContainer("/c", b"", OPEN_ACL_UNSAFE, 4), container)
    container.get(10)
    kc.create("/c/child", b"in a container")
    kc.set("/a", b"alpha-2")
    kc.set_acls("/b", [make_digest_acl("user", "secret", all=True), *OPEN_ACL_UNSAFE])
    kc.create("/seq-", b"", sequence=True, ephemeral=True)
    kc.delete("/a")
    t = kc.transaction()
    t.check("/b", 0)
    t.create("/m", b"multi")
    t.set_data("/m", b"multi-2")
    t.delete("/m")
    t.commit()
    t = kc.transaction()
    t.create("/n", b"never")
    t.check("/b", 99)
    t.commit()  # fails: the check's version is wrong
    with contextlib.suppress(NodeExistsError):  # logged as an error txn
        kc.create("/b", b"again")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="zabcap."))
    servers = make_ensemble(work, (1, 2, 3, 4), SETTINGS, observers=(4,))
    leader_quorum = servers[3].view[3].quorum_port
    follower_relay = Relay(leader_quorum, out, "join")
    observer_relay = Relay(leader_quorum, out, "observer")
    for sid, relay in ((1, follower_relay), (4, observer_relay)):
        view = dict(servers[sid].view)
        view[3] = replace(view[3], quorum_port=relay.port)
        servers[sid].view = view
    try:
        servers[2].start()
        servers[3].start()
        wait_for([servers[2], servers[3]], {2: {"follower"}, 3: {"leader"}}, 90)
        servers[1].start()
        servers[4].start()
        wait_for([servers[1], servers[4]], {1: {"follower"}, 4: {"observer"}}, 90)
        kc = KazooClient(hosts=f"{HOST}:{servers[2].client_port}", timeout=10.0)
        kc.start(timeout=30)
        writes(kc)
        kc.stop()
        kc.close()
        time.sleep(2.0)  # a few PINGs both ways, with the session gone
        servers[1].stop()
        kc = KazooClient(hosts=f"{HOST}:{servers[2].client_port}", timeout=10.0)
        kc.start(timeout=30)
        for i in range(30):
            kc.create(f"/w{i:02d}", f"write {i}".encode())
        kc.create("/session-owned", b"", ephemeral=True)
        follower_relay.stem = "rejoin-diff"
        servers[1].start()
        wait_for([servers[1]], {1: {"follower"}}, 90)
        kc.create("/after-diff", b"broadcast")
        servers[1].stop()
        shutil.rmtree(servers[1].data_dir / "version-2")
        kc.create("/before-snap", b"the learner has nothing")
        follower_relay.stem = "rejoin-snap"
        servers[1].start()
        wait_for([servers[1]], {1: {"follower"}}, 90)
        kc.create("/after-snap", b"broadcast")
        time.sleep(1.0)
        kc.stop()
        kc.close()
        time.sleep(1.0)
    finally:
        for server in servers.values():
            server.stop(kill=True)
        follower_relay.close()
        observer_relay.close()
    logs = sorted((servers[3].data_dir / "version-2").glob("log.*"))
    copy_log(logs[-1], out / "txnlog")
    snaps = sorted(
        (servers[1].data_dir / "version-2").glob("snapshot.*"), key=lambda p: p.stat().st_mtime
    )
    shutil.copy(snaps[-1], out / "snapshot")
    print(f"leader log {logs[-1].name}, follower snapshot {snaps[-1].name}; work dir {work}")


def copy_log(src: Path, dst: Path) -> None:
    """The log up to the end of its last entry (crc, length, bytes, 'B'), without the
    zeros ZooKeeper preallocated after it."""
    data = src.read_bytes()
    pos = 16  # FileHeader: magic, version, dbid
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos + 8 : pos + 12], "big", signed=True)
        if length <= 0:
            break
        pos += 12 + length + 1
    dst.write_bytes(data[:pos])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
