"""Partition a real ZooKeeper 3.8 ensemble and measure how long the minority takes to rejoin.

    python -m tests.zkpartition [--nodes 5] [--minority 1,2] [--partition 30] [--reps 3]
    python -m tests.zkpartition --zkfle [--seed 1] ...     # the same on zkfle's simulator

Needs java and Debian's `zookeeper` package. Every server's zoo.cfg names, for each peer,
a port of a per-pair forwarding proxy run by this script (its own line keeps its real
ports), so every election and quorum connection between two servers passes through the
proxy, which is where the partition happens:

* a partition *drops* traffic between the groups and never buffers it (DESIGN §3.7: a
  paused server's peers keep writing into its buffers, and stale packets arrive later);
* on election connections whole frames are dropped, so the stream stays well framed and
  the connection survives, as a TCP connection survives a partition (nothing in
  QuorumCnxManager times out an idle election connection: RecvWorker reads with
  SO_TIMEOUT 0);
* a learner<->leader stream that lost bytes is closed at the heal (both ends have given
  up on it by then: syncLimit ticks); a connection closed by one end during the partition
  is closed at the other end at the heal, as the first packet after it would be reset;
* a new connection across the partition is refused (connect fails);
* the election handshake's advertised address is rewritten to the proxy port, or a
  larger sid that drops a smaller sid's connection would connect back to the advertised
  real port (QuorumCnxManager.handleConnection) and bypass the proxy.

Per repetition it waits until every server serves, partitions `--minority` from the rest
for `--partition` seconds, heals, and waits until the minority serves again. It prints one
JSON line per repetition: for each minority node the notification back-off it had reached
at the heal (from ZooKeeper's "Notification time out: X ms" lines, which log the new,
doubled value; zkfle: the timeouts' wait_ms) and when it served again (ms after the heal;
zkfle: FOLLOWING in zab BROADCAST). Everything binds 127.0.0.1; the ensemble is torn down
by the pids it recorded. Measurements are in README.md (Traces: liveness).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ENSEMBLE_SH = Path(__file__).resolve().parent / "data" / "zk" / "ensemble.sh"
HOST = "127.0.0.1"
PROTOCOL_V1, PROTOCOL_V2 = -65536, -65535
"""QuorumCnxManager.PROTOCOL_VERSION_V1/V2: the first 8 bytes of an election handshake."""
QUORUM, ELECTION = 0, 1
TIMEOUT_RE = re.compile(r"Notification time out: (\d+) ms")
TS_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def proxy_port(base: int, plane: int, src: int, dst: int) -> int:
    """The port `src` dials to reach `dst` on `plane` (sids 1..9)."""
    return base + 400 + 100 * plane + 10 * src + dst


def real_port(base: int, plane: int, sid: int) -> int:
    """ensemble.sh's ports: quorum BASE+100+id, election BASE+200+id."""
    return base + 100 + 100 * plane + sid


@dataclass
class Pipe:
    """One proxied connection from `src` (who dialled) to `dst`."""

    src: int
    dst: int
    plane: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    torn: bool = False
    """Bytes of this stream were dropped: it cannot go on after the heal."""
    closed_during_cut: bool = False


class PartitionProxy:
    """Forwards every server pair's connections; drops traffic between partition groups."""

    def __init__(self, base: int, sids: list[int]) -> None:
        self.base = base
        self.sids = sids
        self.groups: list[set[int]] | None = None
        self.pipes: list[Pipe] = []
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def cut(self, a: int, b: int) -> bool:
        return self.groups is not None and not any(a in g and b in g for g in self.groups)

    async def start(self) -> None:
        for plane in (QUORUM, ELECTION):
            for src in self.sids:
                for dst in self.sids:
                    if src != dst:
                        server = await asyncio.start_server(
                            self._handler(src, dst, plane),
                            HOST,
                            proxy_port(self.base, plane, src, dst),
                        )
                        self.servers.append(server)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for pipe in self.pipes:
            for w in pipe.writers:
                w.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def partition(self, groups: list[set[int]]) -> None:
        self.groups = groups

    def heal(self) -> None:
        self.groups = None
        for pipe in self.pipes:
            if pipe.torn or pipe.closed_during_cut:
                for w in pipe.writers:
                    w.close()

    def _handler(
        self, src: int, dst: int, plane: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.cut(src, dst):
                writer.close()  # the connect fails
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    HOST, real_port(self.base, plane, dst)
                )
            except OSError:
                writer.close()
                return
            pipe = Pipe(src, dst, plane, [writer, up_writer])
            self.pipes.append(pipe)
            for pump in (
                self._pump(pipe, reader, up_writer, src, dst, first=True),
                self._pump(pipe, up_reader, writer, dst, src, first=False),
            ):
                task = asyncio.create_task(pump)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        return handle

    async def _pump(
        self,
        pipe: Pipe,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        a: int,
        b: int,
        first: bool,
    ) -> None:
        try:
            if pipe.plane == ELECTION:
                if first:
                    await self._handshake(reader, writer, a, b)
                while True:
                    head = await reader.readexactly(4)
                    (length,) = struct.unpack(">i", head)
                    body = await reader.readexactly(max(length, 0))
                    if self.cut(a, b):
                        continue
                    writer.write(head + body)
                    await writer.drain()
            else:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    if self.cut(a, b):
                        pipe.torn = True
                        continue
                    writer.write(data)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        if self.cut(a, b):
            pipe.closed_during_cut = True  # the other end learns at the heal
        else:
            writer.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: int, dst: int
    ) -> None:
        """Forward the initial message, advertising the proxy port for dst->src."""
        head = await reader.readexactly(8)
        (version,) = struct.unpack(">q", head)
        if version not in (PROTOCOL_V1, PROTOCOL_V2):
            writer.write(head)  # a legacy handshake carries no address
            return
        sid, length = struct.unpack(">qi", await reader.readexactly(12))
        await reader.readexactly(length)
        address = f"{HOST}:{proxy_port(self.base, ELECTION, dst, src)}".encode()
        # One write: the acceptor reads the address with a single read() (InitialMessage).
        writer.write(head + struct.pack(">qi", sid, len(address)) + address)
        await writer.drain()


def sh(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["bash", str(ENSEMBLE_SH), *args], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ensemble.sh {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def route_through_proxy(directory: Path, base: int, sids: list[int]) -> None:
    """Rewrite each server's lines for its peers to name the proxy's ports."""
    for me in sids:
        cfg = directory / f"node{me}" / "zoo.cfg"
        lines = []
        for line in cfg.read_text().splitlines():
            m = re.match(r"server\.(\d+)=", line)
            if m and int(m.group(1)) != me:
                peer = int(m.group(1))
                q, e = (proxy_port(base, p, me, peer) for p in (QUORUM, ELECTION))
                line = f"server.{peer}={HOST}:{q}:{e}"
            lines.append(line)
        cfg.write_text("\n".join(lines) + "\n")


def srvr_mode(port: int) -> str:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as s:
            s.sendall(b"srvr")
            buf = b""
            while chunk := s.recv(4096):
                buf += chunk
    except OSError:
        return "down"
    m = re.search(r"^Mode: (\w+)", buf.decode(errors="replace"), re.M)
    return m.group(1) if m else "not-serving"


async def modes(base: int, sids: list[int]) -> dict[int, str]:
    got = await asyncio.gather(*(asyncio.to_thread(srvr_mode, base + s) for s in sids))
    return dict(zip(sids, got, strict=True))


def log_timeouts(directory: Path, sid: int, t_to: float) -> list[tuple[float, int]]:
    """(time, new back-off ms) of each "Notification time out" line before `t_to`."""
    out = []
    path = directory / f"node{sid}" / "zookeeper.log"
    for line in path.read_text(errors="replace").splitlines():
        m, ts = TIMEOUT_RE.search(line), TS_RE.match(line)
        if m and ts:
            t = (
                dt.datetime.strptime(ts.group(1), "%Y-%m-%d %H:%M:%S,%f")
                .replace(tzinfo=dt.UTC)
                .timestamp()
            )
            if t < t_to:
                out.append((t, int(m.group(1))))
    return out


async def wait_serving(
    base: int, sids: list[int], need: list[int], deadline_s: float
) -> dict[int, float]:
    """Poll until every sid in `need` is a follower or leader; when each first was."""
    first: dict[int, float] = {}
    end = time.time() + deadline_s
    while time.time() < end:
        now = time.time()
        for sid, mode in (await modes(base, sids)).items():
            if sid in need and mode in ("leader", "follower") and sid not in first:
                first[sid] = now
        if len(first) == len(need):
            return first
        await asyncio.sleep(0.02)
    raise RuntimeError(f"not serving after {deadline_s} s: {await modes(base, sids)}")


def row(rep: int, backoff: dict[int, int], rejoined: dict[int, float]) -> dict[str, object]:
    """One repetition: per minority node the back-off it had reached when the partition
    healed (its notTimeout, 0 if it never timed out) and when it served again (ms after
    the heal)."""
    out: dict[str, object] = {"rep": rep}
    for sid in sorted(rejoined):
        out[f"n{sid}"] = {"backoff_ms": backoff.get(sid, 0), "rejoined_ms": round(rejoined[sid])}
    return out


async def run_real(args: argparse.Namespace, minority: list[int]) -> None:
    sids = list(range(1, args.nodes + 1))
    majority = [s for s in sids if s not in minority]
    directory = Path(tempfile.mkdtemp(prefix="zkpart.", dir="/tmp"))
    base = args.base
    sh(
        "start",
        *("-n", str(args.nodes), "-o", "none", "-d", str(directory), "-p", str(base)),
        *("-t", str(args.tick), "-i", str(args.init), "-s", str(args.sync)),
    )
    route_through_proxy(directory, base, sids)
    proxy = PartitionProxy(base, sids)
    await proxy.start()
    try:
        for sid in sids:
            sh("start-node", str(directory), str(sid))
        await wait_serving(base, sids, sids, 180)
        for rep in range(args.reps):
            await asyncio.sleep(args.settle)
            leader = [s for s, m in (await modes(base, sids)).items() if m == "leader"]
            if not leader or leader[0] in minority:
                raise RuntimeError(f"the leader {leader} is not in the majority {majority}")
            t_cut = time.time()
            proxy.partition([set(minority), set(majority)])
            await asyncio.sleep(args.partition)
            t_heal = time.time()
            proxy.heal()
            back = await wait_serving(base, sids, minority, 130)
            backoff = {}
            for sid in minority:
                timeouts = [t for t in log_timeouts(directory, sid, t_heal) if t[0] >= t_cut]
                if timeouts:
                    backoff[sid] = timeouts[-1][1]
            rejoined = {sid: (back[sid] - t_heal) * 1000 for sid in minority}
            print(json.dumps(row(rep, backoff, rejoined)), flush=True)
    finally:
        await proxy.stop()
        subprocess.run(
            ["bash", str(ENSEMBLE_SH), "teardown", str(directory)],
            capture_output=True,
            timeout=60,
        )


def run_zkfle(args: argparse.Namespace, minority: list[int]) -> None:
    """The same scenario on zkfle's simulator, one seed per repetition."""
    from engine.control.cluster import Cluster, ClusterOptions
    from engine.trace.format import read_trace

    majority = [s for s in range(1, args.nodes + 1) if s not in minority]
    with tempfile.TemporaryDirectory(prefix="zkpart.") as tmp:
        for rep in range(args.reps):
            trace = Path(tmp) / f"{rep}.jsonl"
            options = ClusterOptions(
                nodes=args.nodes,
                runtime="sim",
                seed=args.seed + rep,
                tick_ms=args.tick,
                init_limit=args.init,
                sync_limit=args.sync,
                trace=trace,
            )
            with Cluster(options) as c:
                for text in (
                    "start",
                    "wait until settled within 1m",
                    f"wait {args.settle}s",
                    f"partition {','.join(map(str, minority))}|{','.join(map(str, majority))}",
                    f"wait {args.partition}s",
                    "heal",
                    "wait until settled within 3m",
                ):
                    result = c.execute(text)
                    if not result.ok:
                        raise RuntimeError(f"{text}: {result.text}")
            t_cut = t_heal = 0.0
            backoff: dict[int, int] = {}
            rejoined: dict[int, float] = {}
            for e in read_trace(trace):
                kind, node = e.get("kind"), e.get("node")
                if kind == "cmd" and e["text"].startswith("partition"):
                    t_cut = e["t_ms"]
                elif kind == "cmd" and e["text"] == "heal":
                    t_heal = e["t_ms"]
                elif (
                    kind == "step"
                    and node in minority
                    and e["input"]["type"] == "timeout"
                    and t_cut <= e["t_ms"]
                    and not t_heal
                    and "wait_ms" in e["output"]
                ):
                    backoff[node] = int(e["output"]["wait_ms"])
                elif (
                    kind == "state"
                    and node in minority
                    and t_heal
                    and node not in rejoined
                    and e["state"] == "FOLLOWING"
                    and e.get("zab") == "BROADCAST"
                ):
                    rejoined[node] = e["t_ms"] - t_heal
            print(json.dumps(row(rep, backoff, rejoined)), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--minority", default="1,2")
    p.add_argument("--partition", type=float, default=30.0, help="seconds")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--settle", type=float, default=3.0, help="seconds before each partition")
    p.add_argument("--tick", type=int, default=200)
    p.add_argument("--init", type=int, default=10)
    p.add_argument("--sync", type=int, default=5)
    p.add_argument("--base", type=int, default=31000)
    p.add_argument("--zkfle", action="store_true", help="zkfle's simulator instead of Java")
    p.add_argument("--seed", type=int, default=1, help="the first simulator seed")
    args = p.parse_args(argv)
    minority = [int(s) for s in args.minority.split(",")]
    if args.zkfle:
        run_zkfle(args, minority)
    else:
        asyncio.run(run_real(args, minority))
    return 0


if __name__ == "__main__":
    sys.exit(main())
