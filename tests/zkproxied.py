"""Test support: real ZooKeeper servers wired through the recording fault proxy.

`ProxiedEnsemble` starts a ZkProxy for N servers, gives each server a config whose peer ports are
the proxy's (engine.runtime.zookeeper.server), launches the JVMs, and on `close()` kills them by pid
and stops the proxy. `Events` collects the proxy's events and waits on them with deadlines.
`direct_java_connections` finds TCP connections between two of the JVMs, which would mean that a
link bypasses the proxy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.runtime.zookeeper.events import ProxyEvent
from engine.runtime.zookeeper.proxy import ZkProxy
from engine.runtime.zookeeper.server import (
    ZkSettings,
    java_missing,
    make_ensemble,
    real_ports,
    route_through,
)

DEADLINE_S = 10.0


def skip_without_java() -> None:
    """Skip the calling test module, saying why, where real ZooKeeper cannot run (no java,
    or no Debian `zookeeper` package)."""
    missing = java_missing()
    if missing is not None:
        pytest.skip(f"real ZooKeeper cannot run here: {missing}", allow_module_level=True)


class Events:
    """The proxy's events, collected on its event thread; waits have deadlines."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.all: list[ProxyEvent] = []

    def __call__(self, event: ProxyEvent) -> None:
        with self.cond:
            self.all.append(event)
            self.cond.notify_all()

    def of(self, kind: str, **fields: object) -> list[ProxyEvent]:
        with self.cond:
            return [
                e
                for e in self.all
                if e.kind == kind and all(e.fields.get(k) == v for k, v in fields.items())
            ]

    def wait(
        self, kind: str, count: int = 1, timeout_s: float = DEADLINE_S, **fields: object
    ) -> list[ProxyEvent]:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while len(found := self.of(kind, **fields)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e.kind, e.node, e.fields) for e in self.all[-30:]]
                    raise AssertionError(
                        f"no {count} {kind} {fields} within {timeout_s} s; last events: {seen}"
                    )
                self.cond.wait(left)
            return found


def wait_until(
    pred: Callable[[], object], what: Callable[[], str], timeout_s: float, interval_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s: {what()}")
        time.sleep(interval_s)


class ProxiedEnsemble:
    """N real servers whose every server-to-server link crosses one ZkProxy."""

    def __init__(
        self,
        directory: Path,
        sids: tuple[int, ...],
        settings: ZkSettings,
        observers: tuple[int, ...] = (),
    ) -> None:
        self.directory = directory
        self.servers = make_ensemble(directory, sids, settings, observers)
        self.observers = observers
        self.events = Events()
        self.proxy = ZkProxy(real_ports(self.servers), on_event=self.events, seed=7)
        route_through(self.servers, self.proxy.peer_ports)
        self.pids: list[int] = []

    def start(self) -> None:
        self.proxy.start()
        for server in self.servers.values():
            server.start()
            assert server.pid is not None
            self.pids.append(server.pid)

    def modes(self) -> dict[int, str | None]:
        return {sid: s.mode() for sid, s in self.servers.items()}

    def serving(self) -> bool:
        """One leader, every other voter a follower, every observer an observer."""
        modes = self.modes()
        voters = [mode for sid, mode in modes.items() if sid not in self.observers]
        return (
            voters.count("leader") == 1
            and voters.count("follower") == len(voters) - 1
            and all(modes[sid] == "observer" for sid in self.observers)
        )

    def leader(self) -> int:
        return next(sid for sid, mode in self.modes().items() if mode == "leader")

    def close(self) -> None:
        """Kill every JVM (by pid) and stop the proxy; idempotent."""
        for server in self.servers.values():
            server.stop(kill=True)
        self.proxy.stop()

    def our_java_processes(self) -> list[int]:
        """Processes still running whose command line names this ensemble's directory."""
        return java_processes_in(self.directory)


def java_processes_in(directory: Path) -> list[int]:
    """Live ZooKeeper JVMs whose command line names `directory` (found in /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(directory).encode() in cmdline and b"QuorumPeerMain" in cmdline:
                found.append(int(entry))
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def direct_java_connections(pids: list[int]) -> list[tuple[int, int]]:
    """Established TCP connections (local port, remote port) whose both ends belong to these
    processes: links that do not cross the proxy."""
    ours = set().union(*(socket_inodes(pid) for pid in pids))
    connections = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01":  # ESTABLISHED
                local = int(fields[1].rsplit(":", 1)[1], 16)
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                connections.append((local, remote, int(fields[9]) in ours))
    java_ports = {local for local, _, java in connections if java}
    return [(local, remote) for local, remote, java in connections if java and remote in java_ports]
