"""`zkfle bench zab`: Zab's throughput and SNAP sync with a zkfle node in a real ensemble,
side by side with an all-Java ensemble in the same run (issue 11, Performance).

Each repetition runs two fresh ensembles of three on 127.0.0.1, one after the other:

* **mixed** - `zkfle node` as server 3 (the highest sid: it wins the election, as the
  interop test arranges) leading Java servers 1 and 2;
* **java** - three Java servers of Debian's ZooKeeper 3.8.

In each, one kazoo client on a Java follower makes `writes` small creates with
`create_async`, at most `window` outstanding: writes/s committed is the count over the
time from the first request until the last answer (a follower answers once it applied the
leader's COMMIT), with the CPU share of every process meanwhile (the client's own, each
server's). The same loop against one standalone Java server, with forceSync on and off, is
the client's own ceiling on this machine: no ensemble can answer one client faster than
a lone server does. Then the follower without the client is killed, its data dir emptied,
`snap_znodes` znodes of `znode_bytes` written through the client, and it is started again:
its log's "Successfully connected to leader" -> "Learner received UPTODATE message" is a
SNAP of that tree (ZK: Learner.connectToLeader, syncWithLeader). In the Java ensemble a
zkfle learner (engine.runtime.zab.follow, sid of the killed server, an empty data dir)
first joins the same way: from dialling the leader to UPTODATE.

The Java servers run with `zookeeper.snapshotSizeFactor=-1`, so a Java leader syncs an
empty learner by SNAP, never by a DIFF from its txn log. Without java or ZooKeeper there
is nothing to compare with: the bench says so and fails.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError, SequentialThreadingHandler
from kazoo.interfaces import IAsyncResult

from engine.bench.harness import JSON, BenchError, machine, print_machine, summary
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings, LearnerView
from engine.runtime.zab.store import ZabStore
from engine.runtime.zookeeper.server import (
    HOST,
    JVM_OPTIONS,
    ZkServer,
    ZkServerError,
    ZkSettings,
    java_missing,
    make_ensemble,
    wait_for,
    zookeeper_version,
)

__all__ = ["HANDLERS", "ZabBench", "bench_zab", "print_zab"]

DEADLINE_S = 120.0
"""Every wait (a JVM's start, a sync, the writes) gives up after this long."""
SETTINGS = ZkSettings(
    tick_time_ms=200,
    init_limit=100,  # 20 s to sync: a loaded machine must not time a SNAP out
    sync_limit=25,
    # The client's session may outlive a loaded machine's stalls (ZK's default cap is 20 ticks).
    extra=("maxSessionTimeout=60000",),
    jvm_options=(*JVM_OPTIONS, "-Dzookeeper.snapshotSizeFactor=-1"),
)
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", re.MULTILINE)
_CONNECTED = "Successfully connected to leader"
HANDLERS = ("select", "threading")
_UPTODATE = "Learner received UPTODATE message"


@dataclasses.dataclass(frozen=True, slots=True)
class ZabBench:
    writes: int = 5000
    window: int = 100
    snap_znodes: int = 10_000
    znode_bytes: int = 1024
    reps: int = 3
    node_trace: bool = False
    """Let the zkfle node record its trace (as `zkfle node` does by default)."""
    handler: str = "select"
    """The kazoo client's handler: "threading", kazoo's own as it is, or "select", the
    same with select(2) instead of an epoll selector made and closed at every wait."""


def bench_zab(b: ZabBench, log: Callable[[str], None]) -> JSON:
    """Both ensembles, `reps` times; BenchError when it cannot measure."""
    problem = java_missing()
    if problem is not None:
        raise BenchError(f"nothing to measure against without real ZooKeeper: {problem}")
    before = machine()
    rows: dict[str, list[float]] = collections.defaultdict(list)
    for rep in range(1, b.reps + 1):
        with tempfile.TemporaryDirectory(prefix="zkfle-bench-zab-") as tmp:
            log(f"zab rep {rep}/{b.reps}: zkfle leader, two Java followers")
            for key, value in _mixed(b, Path(tmp) / "mixed", log).items():
                rows[key].append(value)
            log(f"zab rep {rep}/{b.reps}: three Java servers")
            for key, value in _java(b, Path(tmp) / "java", log).items():
                rows[key].append(value)
            for force_sync in (True, False):
                log(f"zab rep {rep}/{b.reps}: one standalone Java server, forceSync={force_sync}")
                found = _standalone(b, Path(tmp) / f"standalone-{force_sync}", force_sync, log)
                for key, value in found.items():
                    rows[key].append(value)
    return {
        "bench": "zab",
        "machine": before,
        "zookeeper": zookeeper_version(),
        "params": dataclasses.asdict(b),
        "results": {key: summary(values) for key, values in sorted(rows.items())},
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


# --- the two ensembles ------------------------------------------------------------------------


def _mixed(b: ZabBench, directory: Path, log: Callable[[str], None]) -> dict[str, float]:
    servers = make_ensemble(directory, (1, 2, 3), SETTINGS)
    ours = servers[3]
    ours.write_config()
    out_path = directory / "n3.out"
    command = [sys.executable, "-m", "engine.runtime.node", "--config", str(ours.config_path)]
    command += ["--trace", str(directory / "n3.jsonl")] if b.node_trace else ["--no-trace"]
    with _running("the mixed ensemble", servers) as stack:
        with out_path.open("w") as out:
            node = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        stack.callback(_kill, node)
        # In the election before the JVMs start, so that both elect it (ZOOKEEPER-975).
        _wait(lambda: "n3: LOOKING (" in out_path.read_text(), "the zkfle node to start", node)
        servers[1].start()
        servers[2].start()
        _wait(lambda: "n3: LEADING: epoch" in out_path.read_text(), "the zkfle node to lead", node)
        wait_for([servers[1], servers[2]], {1: {"follower"}, 2: {"follower"}}, DEADLINE_S)
        client = _client(servers[2], stack, b.handler)
        processes = {"leader": node.pid, "talker": _pid(servers[2]), "other": _pid(servers[1])}
        found = _writes_per_s(client, b, processes, "zkfle_leader")
        log(f"  {found['zkfle_leader_writes_per_s']:.0f} writes/s")
        found["zkfle_leader_snap_ms"] = _java_snap(servers[1], client, b, log)
        return found


def _java(b: ZabBench, directory: Path, log: Callable[[str], None]) -> dict[str, float]:
    servers = make_ensemble(directory, (1, 2, 3), SETTINGS)
    with _running("the Java ensemble", servers) as stack:
        for server in servers.values():
            server.start()
        ready = {"leader", "follower"}
        modes = wait_for(list(servers.values()), dict.fromkeys(servers, ready), DEADLINE_S)
        leader = next(sid for sid, mode in modes.items() if mode == "leader")
        talker, late = (sid for sid in sorted(servers) if sid != leader)
        client = _client(servers[talker], stack, b.handler)
        processes = {
            "leader": _pid(servers[leader]),
            "talker": _pid(servers[talker]),
            "other": _pid(servers[late]),
        }
        found = _writes_per_s(client, b, processes, "java_leader")
        log(f"  {found['java_leader_writes_per_s']:.0f} writes/s")
        servers[late].stop(kill=True)
        _empty(servers[late])
        _write_tree(client, b)
        found["zkfle_learner_snap_ms"] = _our_snap(servers[leader], late, directory)
        log(f"  zkfle learner: SNAP in {found['zkfle_learner_snap_ms']:.0f} ms")
        found["java_leader_snap_ms"] = _java_snap(servers[late], client, b, log, written=True)
        return found


def _standalone(
    b: ZabBench, directory: Path, force_sync: bool, log: Callable[[str], None]
) -> dict[str, float]:
    """The client's ceiling: the same writes against one standalone Java server."""
    name = "standalone_sync" if force_sync else "standalone_nosync"
    extra = ("standaloneEnabled=true", f"forceSync={'yes' if force_sync else 'no'}")
    settings = dataclasses.replace(SETTINGS, extra=(*SETTINGS.extra, *extra))
    server = make_ensemble(directory, (1,), settings)[1]
    with _running("the standalone Java server", {1: server}) as stack:
        server.start()
        wait_for([server], {1: {"standalone"}}, DEADLINE_S)
        client = _client(server, stack, b.handler)
        found = _writes_per_s(client, b, {"leader": _pid(server)}, name)
        log(f"  {found[f'{name}_writes_per_s']:.0f} writes/s")
        return found


def _pid(server: ZkServer) -> int:
    assert server.pid is not None  # started
    return server.pid


@contextlib.contextmanager
def _running(what: str, servers: dict[int, ZkServer]) -> Iterator[contextlib.ExitStack]:
    """Every JVM (and whatever joins the stack) killed at the end; a server that fails is
    a BenchError naming `what`."""
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            stack.callback(server.stop, kill=True)
        try:
            yield stack
        except (ZkServerError, KazooException, KazooTimeoutError) as e:
            raise BenchError(f"{what} failed: {type(e).__name__} {e}") from None


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


# --- the measurements -------------------------------------------------------------------------


class _SelectHandler(SequentialThreadingHandler):  # type: ignore[misc]  # kazoo is untyped
    """kazoo's threading handler waiting with select(2): kazoo's own `selector_select`
    makes, registers and closes an epoll selector at each of the several waits of every
    request, the client's largest cost per write (py-spy, BENCHMARKS.md). select(2)
    takes descriptors below FD_SETSIZE; for one above it kazoo's own wait is used."""

    def select(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return select.select(*args, **kwargs)
        except ValueError:  # filedescriptor out of range in select()
            return super().select(*args, **kwargs)


def _client(server: ZkServer, stack: contextlib.ExitStack, handler: str) -> KazooClient:
    client = KazooClient(
        hosts=f"{HOST}:{server.client_port}",
        timeout=30.0,
        handler=_SelectHandler() if handler == "select" else SequentialThreadingHandler(),
    )
    stack.callback(client.close)
    stack.callback(client.stop)
    client.start(timeout=DEADLINE_S)
    return client


def _writes_per_s(
    client: KazooClient, b: ZabBench, processes: dict[str, int], name: str
) -> dict[str, float]:
    """`b.writes` creates of 16 bytes under /bench: writes per second, and per second of
    CPU that the leader's process used meanwhile (on a shared machine the wall time
    measures the load as much as the leader); the CPU microseconds per write of each
    process (this one, the client's, and `processes`: leader, the follower the client
    talks to, the other follower)."""
    processes = {"client": os.getpid(), **processes}
    before = {what: _cpu_s(pid) for what, pid in processes.items()}
    took = _create_many(client, "/bench", b.writes, b"x" * 16, b.window)
    used = {what: _cpu_s(pid) - before[what] for what, pid in processes.items()}
    found = {
        f"{name}_writes_per_s": b.writes / took,
        f"{name}_writes_per_cpu_s": b.writes / max(used["leader"], 1e-3),
    }
    found.update({f"{name}_cpu_us_{what}": cpu * 1e6 / b.writes for what, cpu in used.items()})
    return found


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError as e:
        raise BenchError(f"cannot read the CPU time of pid {pid}: {e}") from None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _write_tree(client: KazooClient, b: ZabBench) -> None:
    """The tree a late learner gets by SNAP: `snap_znodes` znodes of `znode_bytes`."""
    _create_many(client, "/snap", b.snap_znodes, b"s" * b.znode_bytes, b.window)


def _create_many(client: KazooClient, parent: str, count: int, data: bytes, window: int) -> float:
    """`count` creates under `parent` with at most `window` outstanding; the seconds from
    the first request until the last answer."""
    client.create(parent, b"")
    pending: collections.deque[IAsyncResult] = collections.deque()  # oldest first
    start = time.perf_counter()
    for i in range(count):
        if len(pending) >= window:
            pending.popleft().get(timeout=DEADLINE_S)
        pending.append(client.create_async(f"{parent}/n{i:07d}", data))
    while pending:
        pending.popleft().get(timeout=DEADLINE_S)
    return time.perf_counter() - start


def _empty(server: ZkServer) -> None:
    """A server's data dir as a fresh one's: its myid alone."""
    shutil.rmtree(server.data_dir / "version-2", ignore_errors=True)


def _java_snap(
    server: ZkServer,
    client: KazooClient,
    b: ZabBench,
    log: Callable[[str], None],
    *,
    written: bool = False,
) -> float:
    """Kill `server`, empty it, write the tree (unless `written`), start it again: its
    log's connect -> UPTODATE, in ms."""
    if not written:
        server.stop(kill=True)
        _empty(server)
        _write_tree(client, b)
    seen = server.log_path.stat().st_size if server.log_path.exists() else 0
    server.start()

    def new_log() -> str:
        with server.log_path.open(errors="replace") as f:
            f.seek(seen)
            return f.read()

    _wait(lambda: _UPTODATE in new_log(), f"n{server.sid} to sync", server.process)
    text = new_log()
    took = _log_ms(text, _UPTODATE) - _log_ms(text, _CONNECTED)
    if "Getting a snapshot from leader" not in text:
        raise BenchError(f"n{server.sid} synced without a SNAP:\n{server.log_tail()}")
    log(f"  Java learner n{server.sid}: SNAP in {took:.0f} ms")
    return took


def _log_ms(text: str, what: str) -> float:
    """The time of the last log line saying `what`, in ms since the epoch."""
    at = text.rindex(what)
    stamps = list(_LOG_TIME.finditer(text, 0, at))
    if not stamps:
        raise BenchError(f"no time on the log line {what!r}")
    when = datetime.strptime(stamps[-1].group(1), "%Y-%m-%d %H:%M:%S,%f")
    return when.timestamp() * 1000


def _our_snap(leader: ZkServer, sid: int, directory: Path) -> float:
    """A zkfle learner with an empty data dir joins `leader`: from dialling it to UPTODATE."""
    conn = LearnerConnection(
        LearnerSettings(
            sid,
            tick_time_ms=SETTINGS.tick_time_ms,
            init_limit=SETTINGS.init_limit,
            sync_limit=SETTINGS.sync_limit,
        ),
        (HOST, leader.view[leader.sid].quorum_port),
        ZabStore(directory / f"zkfle-learner-{sid}"),
    )
    times: dict[str, float] = {}

    def progress(view: LearnerView) -> None:
        times.setdefault(view.zab_state, time.perf_counter())

    conn.on_progress = progress
    start = time.perf_counter()
    conn.start()
    try:
        _wait(
            lambda: conn.ended is not None or "BROADCAST" in times,
            "the zkfle learner to sync",
            None,
        )
        if conn.ended is not None:
            raise BenchError(f"the zkfle learner did not sync: {conn.ended}")
        if conn.view().sync_mode != "SNAP":
            raise BenchError(f"the zkfle learner synced by {conn.view().sync_mode}, not SNAP")
        return (times["BROADCAST"] - start) * 1000
    finally:
        conn.stop()


def _wait(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not ready():
        if process is not None and process.poll() is not None:
            raise BenchError(f"{what}: the process exited ({process.returncode})")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {DEADLINE_S:g} s")
        time.sleep(0.02)


# --- the table --------------------------------------------------------------------------------


def print_zab(r: JSON) -> None:
    print_machine(r["machine"])
    print(f"load at the end: {r['loadavg_after']}")
    p = r["params"]
    print(
        f"ZooKeeper {r['zookeeper']}; {p['writes']} creates of 16 bytes, {p['window']}"
        f" outstanding, one kazoo client ({p['handler']} handler) on a Java follower;"
        f" SNAP of {p['snap_znodes']}"
        f" znodes of {p['znode_bytes']} bytes; {p['reps']} repetition(s), median [min-max]"
    )
    res = r["results"]

    def cell(key: str, unit: str) -> str:
        s = res.get(key)
        if s is None:
            return "-"
        return f"{s['median']:,.0f} [{s['min']:,.0f}-{s['max']:,.0f}] {unit}"

    print(f"  writes committed, zkfle leader + 2 Java: {cell('zkfle_leader_writes_per_s', '/s')}")
    print(f"  writes committed, 3 Java (same run):     {cell('java_leader_writes_per_s', '/s')}")
    for sync in ("yes", "no"):
        name = "standalone_sync" if sync == "yes" else "standalone_nosync"
        figure = cell(f"{name}_writes_per_s", "/s")
        print(f"  client's ceiling, 1 Java, forceSync={sync:3}: {figure}")
    print(
        "  writes per CPU second of the leader:     "
        f"zkfle {cell('zkfle_leader_writes_per_cpu_s', '')}, "
        f"Java {cell('java_leader_writes_per_cpu_s', '')}"
    )
    print("  CPU us per write (client; leader; follower the client is on; other follower):")
    for name in ("zkfle_leader", "java_leader", "standalone_sync", "standalone_nosync"):
        figures = [
            cell(f"{name}_cpu_us_{what}", "").strip()
            for what in ("client", "leader", "talker", "other")
            if f"{name}_cpu_us_{what}" in res
        ]
        print(f"    {name + ':':19} {'; '.join(figures)}")
    print(f"  SNAP, zkfle leader -> Java learner:      {cell('zkfle_leader_snap_ms', 'ms')}")
    print(f"  SNAP, Java leader -> zkfle learner:      {cell('zkfle_learner_snap_ms', 'ms')}")
    print(f"  SNAP, Java leader -> Java learner:       {cell('java_leader_snap_ms', 'ms')}")
