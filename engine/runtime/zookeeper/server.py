"""Real Apache ZooKeeper servers on 127.0.0.1: configs, processes, four-letter words.

Each server gets its own directory with `zoo.cfg`, `data/myid` and `log4j.properties` (INFO to
`zookeeper.log`, the format the log readers expect), and runs as `java ... QuorumPeerMain zoo.cfg`,
a child process in its own process group. It is stopped by its pid only (SIGTERM, then SIGKILL) -
never by name. The config a server gets is its own *view* of the ensemble: with a proxy in between
(engine.runtime.zookeeper.proxy), the ports it names for its peers are the proxy's.

Debian's `zookeeper` package (3.8) provides the jars; `java_missing()` says what is missing.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.core.vote import Sid

__all__ = [
    "CLASSPATH",
    "ZK_JAR",
    "ServerAddress",
    "ZkServer",
    "ZkServerError",
    "ZkSettings",
    "four_letter_word",
    "free_ports",
    "java_missing",
    "make_ensemble",
    "real_ports",
    "route_through",
    "wait_for",
    "zookeeper_version",
]

HOST = "127.0.0.1"
ZK_JAR = Path("/usr/share/java/zookeeper.jar")
CLASSPATH = [
    ZK_JAR,
    Path("/usr/share/java/zookeeper-jute.jar"),
    Path("/usr/share/java/slf4j-api.jar"),
    Path("/usr/share/java/slf4j-log4j12.jar"),
    Path("/usr/share/java/log4j-1.2.jar"),
    Path("/usr/share/java/servlet-api.jar"),
]
"""Debian's jars; log4j 1.2 through the slf4j binding, as the package's own scripts do."""
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
JVM_OPTIONS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
"""Small heaps and the quick JIT tier: several servers start at once on a small machine."""
EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
LOWEST_PORT = 10000
"""Ports for servers are drawn from LOWEST_PORT up, outside the ephemeral range."""
INSTALL_HINT = "install Debian's `zookeeper` package: apt-get install -y zookeeper"

LOG4J = """\
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=${zookeeper.log.file}
log4j.appender.FILE.Append=true
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
"""
"""ZooKeeper's own conf/log4j.properties pattern (3.5-3.8), to a file."""


class ZkServerError(Exception):
    """A server could not be configured or started; the message names it and says why."""


def java_missing() -> str | None:
    """Why real ZooKeeper cannot run here (no java, no jars), or None if it can."""
    if shutil.which("java") is None:
        return f"no `java` on PATH ({INSTALL_HINT}, which brings a JRE)"
    missing = [str(p) for p in CLASSPATH if not p.exists()]
    if missing:
        return f"missing {', '.join(missing)} ({INSTALL_HINT})"
    return None


def zookeeper_version() -> str | None:
    """The installed ZooKeeper version, from the jar's file name (Debian links
    zookeeper-<version>.jar to it), or None."""
    for path in sorted(ZK_JAR.parent.glob("zookeeper-[0-9]*.jar")):
        match = re.fullmatch(r"zookeeper-(\d+\.\d+\.\d+)\.jar", path.name)
        if match and path.resolve() == ZK_JAR.resolve():
            return match.group(1)
    return None


def _ports_for_servers() -> range:
    """Ports the kernel never picks itself (for a bind to 0 or an outgoing connection): the
    larger span below or above its ephemeral range, from LOWEST_PORT."""
    try:
        low, high = (int(x) for x in Path(EPHEMERAL_RANGE).read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    below = range(LOWEST_PORT, low)
    above = range(max(high + 1, LOWEST_PORT), 65536)
    return below if len(below) >= len(above) else above


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 now, outside the kernel's ephemeral range: a
    server binds its ports seconds later, and a port from that range could be taken
    meanwhile by any outgoing connection of any process."""
    rng = random.Random()
    span = _ports_for_servers()
    socks: list[socket.socket] = []
    try:
        for _ in range(100 * count):
            s = socket.socket()
            try:  # no span at all: let the kernel pick (and hope)
                s.bind((HOST, rng.randrange(span.start, span.stop) if span else 0))
            except OSError:
                s.close()
                continue
            socks.append(s)
            if len(socks) == count:
                return [s.getsockname()[1] for s in socks]
        raise ZkServerError(f"no {count} free ports on {HOST} in {span.start}..{span.stop - 1}")
    finally:
        for s in socks:
            s.close()


def four_letter_word(port: int, word: str, timeout_s: float = 2.0) -> str | None:
    """Send a four-letter word (`srvr`, `mntr`, `ruok`...) to a client port; the answer, or
    None if nothing answers."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as s:
            s.sendall(word.encode())
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    return b"".join(chunks).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One `server.N` line: host, quorum and election ports, participant or observer."""

    quorum_port: int
    election_port: int
    learner_type: str = "participant"
    host: str = HOST

    def line(self, sid: Sid) -> str:
        return (
            f"server.{sid}={self.host}:{self.quorum_port}:{self.election_port}:{self.learner_type}"
        )


@dataclass(frozen=True, slots=True)
class ZkSettings:
    """zoo.cfg timing and extra lines shared by an ensemble."""

    tick_time_ms: int = 200
    init_limit: int = 5
    sync_limit: int = 2
    extra: tuple[str, ...] = ()
    """More `key=value` lines (groups, weights, cnxTimeout, ...)."""
    jvm_options: tuple[str, ...] = JVM_OPTIONS


@dataclass
class ZkServer:
    """One real server: `view` is the ensemble as its config names it (sid -> address)."""

    sid: Sid
    directory: Path
    client_port: int
    view: Mapping[Sid, ServerAddress]
    settings: ZkSettings = field(default_factory=ZkSettings)
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "zoo.cfg"

    @property
    def log_path(self) -> Path:
        return self.directory / "zookeeper.log"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def config_text(self) -> str:
        s = self.settings
        lines = [
            f"tickTime={s.tick_time_ms}",
            f"initLimit={s.init_limit}",
            f"syncLimit={s.sync_limit}",
            f"dataDir={self.data_dir}",
            f"clientPort={self.client_port}",
            f"clientPortAddress={HOST}",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            "standaloneEnabled=false",
            "reconfigEnabled=false",
            *s.extra,
            *(address.line(sid) for sid, address in sorted(self.view.items())),
        ]
        return "".join(f"{line}\n" for line in lines)

    def write_config(self) -> None:
        """zoo.cfg, data/myid and log4j.properties (the data dir is kept if it exists)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "myid").write_text(f"{self.sid}\n")
        self.config_path.write_text(self.config_text())
        (self.directory / "log4j.properties").write_text(LOG4J)

    def start(self) -> None:
        """Write the config and launch the JVM (on the same data dir after a crash)."""
        if self.alive():
            raise ZkServerError(f"n{self.sid}: already running as pid {self.pid}")
        problem = java_missing()
        if problem is not None:
            raise ZkServerError(f"n{self.sid}: cannot start ZooKeeper: {problem}")
        self.write_config()
        command = [
            "java",
            *self.settings.jvm_options,
            "-Duser.timezone=UTC",
            f"-Dzookeeper.log.file={self.log_path}",
            f"-Dlog4j.configuration=file:{self.directory / 'log4j.properties'}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            os.pathsep.join(str(p) for p in CLASSPATH),
            MAIN,
            str(self.config_path),
        ]
        with open(self.directory / "console.out", "ab") as out:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl+C in our terminal is ours to handle
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to this server's JVM (SIGSTOP/SIGCONT pause and resume it)."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)

    def stop(self, *, kill: bool = False, grace_s: float = 5.0) -> None:
        """SIGKILL at once (`kill`, a crash) or SIGTERM, then SIGKILL after `grace_s`; waits
        until the process is gone."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        if not kill:
            process.send_signal(signal.SIGCONT)  # a paused JVM cannot handle SIGTERM
            process.terminate()
            try:
                process.wait(grace_s)
                return
            except subprocess.TimeoutExpired:
                pass
        process.kill()
        process.wait()

    def four_letter_word(self, word: str, timeout_s: float = 2.0) -> str | None:
        return four_letter_word(self.client_port, word, timeout_s)

    def mode(self) -> str | None:
        """`leader`, `follower`, `observer` (srvr's Mode), `not-serving`, or None if down."""
        answer = self.four_letter_word("srvr")
        if answer is None or not answer:
            return None
        match = re.search(r"^Mode: (\w+)", answer, re.MULTILINE)
        if match:
            return match.group(1)
        return "not-serving" if "not currently serving" in answer else None

    def mntr(self) -> dict[str, str]:
        """The `mntr` answer as key -> value ({} while not serving or down)."""
        answer = self.four_letter_word("mntr") or ""
        return dict(line.split("\t", 1) for line in answer.splitlines() if "\t" in line)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log and console output (for error messages)."""
        parts = []
        for path in (self.log_path, self.directory / "console.out"):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)


def wait_for(
    servers: Sequence[ZkServer], ready: Mapping[Sid, set[str]], timeout_s: float
) -> dict[Sid, str | None]:
    """Poll `srvr` until each server's mode is one of `ready[sid]`; the modes, or
    ZkServerError naming the servers that are not there and their logs' tails."""
    deadline = time.monotonic() + timeout_s
    while True:
        modes = {s.sid: s.mode() for s in servers}
        if all(modes[s.sid] in ready[s.sid] for s in servers):
            return modes
        dead = [s for s in servers if not s.alive()]
        if dead or time.monotonic() > deadline:
            late = [s for s in servers if modes[s.sid] not in ready[s.sid]]
            details = "\n".join(
                f"n{s.sid} ({'exited' if not s.alive() else modes[s.sid]}):\n{s.log_tail()}"
                for s in dead or late
            )
            raise ZkServerError(f"servers not ready after {timeout_s:g} s: {modes}\n{details}")
        time.sleep(0.1)


def make_ensemble(
    directory: Path,
    sids: Sequence[Sid],
    settings: ZkSettings,
    observers: Collection[Sid] = (),
) -> dict[Sid, ZkServer]:
    """Servers in `directory/n<sid>` on free ports, each config naming every server's real
    ports (nothing in between); `observers` are `:observer`s. Not started."""
    ports = free_ports(3 * len(sids))
    view = {
        sid: ServerAddress(
            ports[3 * i], ports[3 * i + 1], "observer" if sid in observers else "participant"
        )
        for i, sid in enumerate(sorted(sids))
    }
    return {
        sid: ZkServer(sid, directory / f"n{sid}", ports[3 * i + 2], view, settings)
        for i, sid in enumerate(sorted(sids))
    }


def real_ports(servers: Mapping[Sid, ZkServer]) -> dict[Sid, tuple[int, int]]:
    """Each server's own (quorum, election) ports: what a proxy dials."""
    return {sid: (s.view[sid].quorum_port, s.view[sid].election_port) for sid, s in servers.items()}


def route_through(
    servers: Mapping[Sid, ZkServer], peer_ports: Callable[[Sid, Sid], tuple[int, int]]
) -> None:
    """Make each server's config name `peer_ports(server, peer)` (quorum, election) for its peers -
    a proxy's ports (engine.runtime.zookeeper.proxy.ZkProxy.peer_ports) - and keep its own."""
    for sid, server in servers.items():
        view = dict(server.view)
        for peer, address in server.view.items():
            if peer != sid:
                quorum, election = peer_ports(sid, peer)
                view[peer] = replace(address, quorum_port=quorum, election_port=election)
        server.view = view
