"""A zkfle node votes with real Apache ZooKeeper 3.8 servers (reference §12).

Needs java and /usr/share/java/zookeeper.jar (Debian package `zookeeper`); skipped
otherwise. Real servers are started on 127.0.0.1 with tests/data/zk/ensemble.sh (a copy
of tools/zk/ensemble.sh) at a free base port, and always torn down (by recorded pid).
Timing: tickTime 200, initLimit 5, syncLimit 2, so the post-election timeouts
(initLimit ticks) are one second.

What is shown:
* the election speaks ZooKeeper's bytes: the Java servers log `Notification:` lines from
  our sid carrying our vote, and count it;
* our node decides the leader the Java servers elected and follows it over Zab (the
  leader sends no zkfle greeting; tests/test_zab_interop_zk.py shows the sync in detail);
* with the highest sid our node is elected by both Java servers and leads them over Zab
  (tests/test_zab_interop_zk.py, issue 11 test (b)).
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.core.config import load_zoo_cfg
from engine.replay.verify import verify
from engine.runtime.tcpnode import TcpNode
from engine.trace.format import read_trace

pytestmark = pytest.mark.zk

JAR = Path("/usr/share/java/zookeeper.jar")
ENSEMBLE_SH = Path(__file__).resolve().parent / "data" / "zk" / "ensemble.sh"
TIMING = ["-t", "200", "-i", "5", "-s", "2"]
JAVA_DEADLINE_S = 90.0
"""JVMs start slowly on a loaded machine; every wait is bounded by this."""

if shutil.which("java") is None or not JAR.exists() or shutil.which("bash") is None:
    pytest.skip(
        "needs java and ZooKeeper 3.8 (/usr/share/java/zookeeper.jar)", allow_module_level=True
    )


def wait_until(pred: Callable[[], object], what: Callable[[], str], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s: {what()}")
        time.sleep(0.05)


def free_base_port() -> int:
    """A base port whose client (+1..3), quorum (+101..103) and election (+201..203)
    ports are all free on 127.0.0.1 right now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(30_000, 60_000, 10)
        ports = [base + off + i for off in (0, 100, 200) for i in (1, 2, 3)]
        socks = []
        try:
            for port in ports:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free base port")


class Ensemble:
    """A real ZooKeeper ensemble in `dir` (ensemble.sh), torn down by the fixture."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def sh(self, *args: str, timeout: float = JAVA_DEADLINE_S) -> str:
        proc = subprocess.run(
            ["bash", str(ENSEMBLE_SH), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"ensemble.sh {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def start(self, n: int, only: str) -> None:
        self.sh(
            "start", "-n", str(n), "-o", only, "-d", str(self.dir), "-p", str(self.base), *TIMING
        )

    def start_node(self, sid: int) -> None:
        self.sh("start-node", str(self.dir), str(sid))

    def status(self) -> dict[int, str]:
        """sid -> leader | follower | ... as its `srvr` says, or `down`."""
        out = self.sh("status", str(self.dir))
        fields = [line.split() for line in out.splitlines()]
        return {int(f[0]): f[3] if f[2] == "up" else "down" for f in fields if len(f) == 4}

    def log(self, sid: int) -> str:
        path = self.dir / f"node{sid}" / "zookeeper.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cfg(self, sid: int) -> Path:
        return self.dir / f"node{sid}" / "zoo.cfg"

    base = 0


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[Ensemble]:
    ens = Ensemble(tmp_path / "ensemble")
    ens.base = free_base_port()
    try:
        yield ens
    finally:
        if (ens.dir / "ensemble.env").exists():
            subprocess.run(
                ["bash", str(ENSEMBLE_SH), "teardown", str(ens.dir), "--keep"],
                capture_output=True,
                timeout=60,
                check=False,
            )


class Lines:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def count(self, text: str) -> int:
        with self.lock:
            return sum(text in line for line in self.lines)

    def __str__(self) -> str:
        with self.lock:
            return "\n".join(self.lines)


def notifications(log: str, sid: int) -> list[dict[str, str]]:
    """The `Notification:` lines a Java server logged for messages from `sid`
    (FastLeaderElection.WorkerReceiver, INFO)."""
    pattern = re.compile(
        r"Notification: my state:(?P<my_state>\w+); n\.sid:(?P<sid>-?\d+), "
        r"n\.state:(?P<state>\w+), n\.leader:(?P<leader>-?\d+), n\.round:0x(?P<round>[0-9a-f]+), "
        r"n\.peerEpoch:0x(?P<peer_epoch>[0-9a-f]+), n\.zxid:0x(?P<zxid>[0-9a-f]+), "
        r"message format version:0x(?P<version>[0-9a-f]+), n\.config version:0x(?P<cv>[0-9a-f]+)"
    )
    return [m.groupdict() for m in pattern.finditer(log) if int(m.group("sid")) == sid]


def test_our_node_follows_the_java_leader(ensemble: Ensemble, tmp_path: Path) -> None:
    """Java servers 2 and 3 elect 3; our node (sid 1) joins, its notifications are logged
    by both Java servers, and it decides FOLLOWING 3 and syncs with it over Zab."""
    ensemble.start(3, "2,3")
    wait_until(
        lambda: sorted(ensemble.status().values()) == ["down", "follower", "leader"],
        lambda: f"a Java leader: {ensemble.status()}",
        JAVA_DEADLINE_S,
    )
    java_leader = next(s for s, mode in ensemble.status().items() if mode == "leader")
    assert java_leader == 3  # equal epochs and zxids: the larger sid wins
    out = Lines()
    node = TcpNode(load_zoo_cfg(str(ensemble.cfg(1))), trace=tmp_path / "n1.jsonl", out=out)
    assert node.myid == 1  # from node1/data/myid, as ZooKeeper reads it
    try:
        node.start()
        wait_until(
            lambda: out.count("n1: FOLLOWING: synced with leader 3") >= 1,
            lambda: f"our node to follow 3 and sync:\n{out}",
            JAVA_DEADLINE_S,
        )
    finally:
        node.stop()
    assert node.threads() == []
    assert "n1: LOOKING → FOLLOWING leader=3" in str(out)
    for sid in (2, 3):
        ours = notifications(ensemble.log(sid), 1)
        assert ours, f"Java server {sid} logged no notification from sid 1"
        for n in ours:
            # Decoded by Java exactly as we encoded them: LOOKING, format version 2, config
            # version 0; our own vote (zxid 0, peerEpoch 0: an empty data dir) or the one we
            # adopted for 3 - a stale LOOKING vote Java's SendWorker delivers first on
            # connect (ZK: lastMessageSent), or, once 3 leads epoch e, the vote a FOLLOWING
            # or LEADING server answers a LOOKING one with: peerEpoch e and 3's NEWLEADER
            # zxid e << 32 (no write happens here; e grows with each of 3's elections).
            assert (n["state"], n["version"], n["cv"]) == ("LOOKING", "2", "0")
            if n["leader"] == "1":
                assert (n["zxid"], n["peer_epoch"]) == ("0", "0")
            else:
                assert n["leader"] == "3"
                assert int(n["zxid"], 16) == int(n["peer_epoch"], 16) << 32
            assert n["my_state"] in ("FOLLOWING", "LEADING")
    # Our lookForLeader opened with our own vote to everyone. A Java server need not log
    # it: our connections are the smaller sid's, so each waits for the Java server to
    # connect back, and by then the queue of one may hold the vote we adopted for 3.
    sends = [
        e["output"]["sends"]
        for e in read_trace(tmp_path / "n1.jsonl").events()
        if e["kind"] == "step" and e["output"].get("sends")
    ]
    assert (sends[0][0]["leader"], sends[0][0]["to"]) == (1, [1, 2, 3])
    assert ensemble.status() == {1: "down", 2: "follower", 3: "leader"}  # undisturbed
    result = verify(tmp_path / "n1.jsonl")
    assert result.ok, (result.divergence, result.violations)
