"""No acknowledged write is lost across kill -9 of a `zkfle node`, at random points
(issue 11, "Bad input"): ZooKeeper's ordering is that a server logs a txn before it
acknowledges it, and writes acceptedEpoch/currentEpoch before the packets that depend on
them (reference §7.4).

`zkfle node` (sid 1, a process of its own) and Java servers 2 and 3. Each round pauses one
Java follower P (SIGSTOP), so that every commit needs the node's ACK - as the leader's
follower, or as the leader counting its own - and makes async writes through the other
Java server J, then kills the node (SIGKILL) at a random moment among them. Then J is
killed too, and the only copies of what the client saw acknowledged are on the node's
disk: P is resumed and the node restarted (sometimes killed once more at a random moment
of its election and sync, and restarted again). The two must form a quorum from the
node's files, and every acknowledged write must then be readable through P exactly once.
J comes back (it may have to truncate proposals nobody else logged) and the next round
starts from whoever leads. The seed is printed with any failure; `ZKFLE_KILL_SEED` sets it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from engine.replay.verify import verify
from engine.runtime.zookeeper.server import (
    HOST,
    JVM_OPTIONS,
    ZkServer,
    ZkSettings,
    make_ensemble,
    wait_for,
)
from tests import zkproxied
from tests.zabcheck import srvr_zxid, unlogged_txns
from tests.zkproxied import skip_without_java

pytestmark = pytest.mark.zk

REPO = Path(__file__).parent.parent

skip_without_java()

DEADLINE_S = 90.0
ROUNDS = 3
WRITES = 300
SETTINGS = ZkSettings(tick_time_ms=200, init_limit=30, sync_limit=5, jvm_options=JVM_OPTIONS)
MILESTONES = (
    r"n1: LOOKING \(",
    r"n1: LOOKING → \w+",
    r"n1: (FOLLOWING: \w+ from leader|LEADING: epoch \d+ established)",
)
"""Where the node is killed the second time: looking, decided (acceptedEpoch being
written), syncing or just established."""
SEED = int(os.environ.get("ZKFLE_KILL_SEED", random.randrange(2**32)))


def wait_until(
    pred: Callable[[], object], what: Callable[[], str], interval_s: float = 0.02
) -> None:
    zkproxied.wait_until(pred, what, DEADLINE_S, interval_s)


NODE = (sys.executable, "-m", "engine.runtime.node", "--myid", "1")


class Node:
    """`zkfle node` as server 1, one process per life, each life with its own trace."""

    def __init__(self, server: ZkServer, directory: Path) -> None:
        self.server = server
        self.directory = directory
        self.lives: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None
        server.write_config()  # zoo.cfg and data/myid; the data dir outlives every life

    def start(self) -> None:
        trace = self.directory / f"n1-life{len(self.lives)}.jsonl"
        self.lives.append(trace)
        with trace.with_suffix(".out").open("w") as out:
            self.process = subprocess.Popen(
                [*NODE, "--config", str(self.server.config_path), "--trace", str(trace)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONPATH=str(REPO)),
                cwd=self.directory,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE_S)

    def life_output(self) -> str:
        return self.lives[-1].with_suffix(".out").read_text()

    def output(self) -> str:
        return "\n".join(p.with_suffix(".out").read_text() for p in self.lives[-2:])


@pytest.fixture(params=[None, 20], ids=["default", "snapCount=20"])
def ensemble(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Node, dict[int, ZkServer]]]:
    """With snapCount=20 every server - the node too - rolls its log and snapshots every
    10-20 txns, so the kills land among snapshots being taken, and each restart recovers
    from the newest snapshot and the log after it (ZK: SyncRequestProcessor, restore)."""
    settings = SETTINGS
    if request.param is not None:
        settings = replace(SETTINGS, extra=(*SETTINGS.extra, f"snapCount={request.param}"))
    servers = make_ensemble(tmp_path / "ensemble", (1, 2, 3), settings)
    node = Node(servers[1], tmp_path)
    try:
        yield node, servers
    finally:
        node.kill()
        for sid in (2, 3):
            servers[sid].stop(kill=True)


def client(server: ZkServer) -> KazooClient:
    """A session with `server` once it serves (a server out of quorum refuses clients)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        c = KazooClient(hosts=f"{HOST}:{server.client_port}", timeout=10.0)
        try:
            c.start(timeout=10)
            c.ensure_path("/app")
            return c
        except (KazooException, KazooTimeoutError):
            c.stop()
            c.close()
            if time.monotonic() > deadline:
                raise AssertionError(f"n{server.sid} never served:\n{server.log_tail()}") from None


def values(c: KazooClient) -> list[str]:
    c.sync("/app")
    return [c.get(f"/app/{child}")[0].decode() for child in c.get_children("/app")]


def closed(c: KazooClient) -> None:
    c.stop()
    c.close()


def kill_among_writes(
    node: Node, writer: KazooClient, tag: str, rng: random.Random, story: list[str]
) -> tuple[set[str], set[str]]:
    """WRITES async creates through `writer`, the node killed once a random number of them
    are answered: what was written, and what the client saw acknowledged."""
    pending = {
        f"{tag}-{i}": writer.create_async("/app/w-", f"{tag}-{i}".encode(), sequence=True)
        for i in range(WRITES)
    }
    point = rng.randrange(WRITES)
    wait_until(
        lambda: sum(w.ready() for w in pending.values()) >= point,
        lambda: f"{point} writes to be answered\n" + "\n".join(story),
    )
    node.kill()
    story.append(f"  node killed once {point} of {WRITES} writes were answered")
    acked = set()
    for value, w in pending.items():
        try:
            w.get(timeout=DEADLINE_S)
        except KazooException:
            continue  # the session or quorum went: the outcome is unknown
        acked.add(value)
    return set(pending), acked


def restart(node: Node, follower: ZkServer, rng: random.Random, story: list[str]) -> None:
    """The node back from its files, half the time killed once more at a random milestone
    of its election and sync (while it writes acceptedEpoch, say) and restarted again.

    Killed as the leader just established, it is killed once the Java `follower` has
    applied what the node synced it (srvr's Zxid reaches the node's last zxid), not
    before: ZooKeeper 3.8.0's learner can lose the txns of a DIFF whose leader dies before
    its CommitProcessor applies them - LearnerZooKeeperServer.shutdown fast-forwards the
    database from the txn log before its SyncRequestProcessor has flushed them
    (ZOOKEEPER-4785 family, fixed after 3.8.0) - and that follower may lead next without
    them. The node's own state is the same in the window and after it."""
    node.start()
    if rng.random() < 0.5:
        milestone = rng.choice(MILESTONES)
        found: list[re.Match[str]] = []

        def said() -> bool:
            found[:] = [m for m in [re.search(milestone, node.life_output())] if m]
            return bool(found)

        wait_until(said, lambda: f"the node to say {milestone!r}:\n{node.output()}", 0.005)
        if found[0].group(0).startswith("n1: LEADING"):
            looking = re.search(r"lastZxid (0x[0-9a-f]+)", node.life_output())
            assert looking is not None, node.output()
            last = int(looking.group(1), 16)
            wait_until(
                lambda: (
                    (srvr_zxid(follower) or 0) >= last or "n1: LEADING → " in node.life_output()
                ),
                lambda: f"n{follower.sid} to apply up to {last:#x}:\n{node.output()}",
            )
        node.kill()
        story.append(f"  node killed again once it said {found[0].group(0)!r}")
        node.start()


def excuse_java(servers: dict[int, ZkServer], story: list[str]) -> None:
    """A Java server whose own log shows txns it applied but never logged has lost them by
    a defect of ZooKeeper 3.8.0's learner (tests.zabcheck.unlogged_txns), and no tree can
    be compared with it: the run is an expected failure with that evidence, not a pass."""
    holes = [hole for server in servers.values() for hole in unlogged_txns(server)]
    if holes:
        pytest.xfail(
            f"ZooKeeper's own learner lost txns it had applied ({'; '.join(holes)}, no snapshot"
            f" covers them: ZOOKEEPER-4785 family, fixed after 3.8.0); {story[0]}"
        )


def test_acknowledged_writes_survive_kill_9_of_the_node_at_random_points(
    ensemble: tuple[Node, dict[int, ZkServer]],
) -> None:
    node, servers = ensemble
    rng = random.Random(SEED)
    story = [f"seed {SEED} (ZKFLE_KILL_SEED)"]
    servers[2].start()
    servers[3].start()
    node.start()
    wait_for([servers[2], servers[3]], {2: {"leader", "follower"}, 3: {"leader", "follower"}}, 90)
    acked: set[str] = set()
    written: set[str] = set()
    for round_ in range(ROUNDS):
        # P: a Java follower; J: the other Java server (the leader, or the node's follower).
        modes = {sid: servers[sid].mode() for sid in (2, 3)}
        p = next(sid for sid in (2, 3) if modes[sid] == "follower")
        j = 5 - p
        story.append(f"round {round_}: modes {modes}, pause n{p}, write through n{j}")
        writer = client(servers[j])
        servers[p].signal(signal.SIGSTOP)
        try:
            made, answered = kill_among_writes(node, writer, f"r{round_}", rng, story)
        finally:
            closed(writer)
        written |= made
        acked |= answered
        servers[j].stop(kill=True)  # now the acknowledged writes are on the node's disk only
        servers[p].signal(signal.SIGCONT)
        restart(node, servers[p], rng, story)
        reader = client(servers[p])
        try:
            seen = values(reader)
        finally:
            closed(reader)
        where = "\n".join(story) + f"\n--- node:\n{node.output()}"
        lost = acked - set(seen)
        if lost or len(seen) != len(set(seen)):
            excuse_java(servers, story)
        assert len(seen) == len(set(seen)), f"a write applied twice\n{where}"
        assert not lost, f"acknowledged writes lost: {sorted(lost)[:10]}\n{where}"
        assert set(seen) <= written, f"writes nobody made: {set(seen) - written}\n{where}"
        servers[j].start()
        wait_for([servers[j]], {j: {"leader", "follower"}}, DEADLINE_S)
        story.append(f"  n{j} back; {len(acked)} acknowledged so far, all present")
    assert acked, "no write was ever acknowledged: the rounds tested nothing"
    readers = [client(servers[sid]) for sid in (2, 3)]
    try:
        trees = [sorted(values(c)) for c in readers]
    finally:
        for c in readers:
            closed(c)
    if trees[0] != trees[1]:
        excuse_java(servers, story)
    assert trees[0] == trees[1], "\n".join(story)
    node.kill()
    snapshots = list((node.server.data_dir / "version-2").glob("snapshot.*"))
    story.append(f"the node's data dir holds {len(snapshots)} snapshot files")
    if "snapCount=20" in node.server.config_text():
        assert len(snapshots) >= 2, "\n".join(story)
    print("\n".join(story))  # what the random points were (pytest -s shows it)
    for trace in node.lives:  # killed lives have no footer, but every step re-executes
        result = verify(trace)
        assert result.ok, (trace.name, result.divergence, result.violations, "\n".join(story))
