"""`zkfle bench proxy`: what the recording fault proxy (engine.runtime.zookeeper.proxy) costs, in
one run.

* frames: the one-way latency of an election frame and of a quorum packet from one fake
  server to another, through the proxy (recording every event) and on a direct
  connection, alternating; the added latency per frame is the difference of the medians
  (target <= 1 ms, DESIGN §6);
* election: real ZooKeeper ensembles started with and without the proxy, alternating, on
  the same machine: ZooKeeper's own "LEADER ELECTION TOOK" (max over the servers) for the
  first election and for the failover after the leader is killed (SIGKILL). The target
  (<= 1.1x) is on the failover, whose time does not include the JVMs' start-up skew.
  Without java and Debian's `zookeeper` package this part says why and is skipped.
"""

from __future__ import annotations

import re
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from engine.bench.harness import (
    JSON,
    fmt_num,
    fmt_span,
    machine,
    print_machine,
    ratio,
    summary,
    wait_idle,
)
from engine.core.quorumpacket import encode_packet
from engine.core.vote import ServerState, ToSend
from engine.core.wire import (
    encode_frame,
    encode_initial_message,
    encode_notification,
    read_initial_message,
)
from engine.runtime.zookeeper.events import ELECTION, HOST, QUORUM, ProxyEvent
from engine.runtime.zookeeper.proxy import ZkProxy
from engine.runtime.zookeeper.server import (
    ZkServer,
    ZkServerError,
    ZkSettings,
    java_missing,
    make_ensemble,
    real_ports,
    route_through,
    zookeeper_version,
)

TARGET_ADDED_MS = 1.0
TARGET_ELECTION_RATIO = 1.1
WARM_UP = 200
"""Frames sent before measuring (the first ones pay for allocations and caches)."""
TOOK = re.compile(r"LEADER ELECTION TOOK - (\d+) MS")
DEADLINE_S = 120.0

CONFIG = "\n".join(f"server.{i}=127.0.0.1:{20000 + i}:{21000 + i}:participant" for i in (1, 2, 3))


def _listener() -> socket.socket:
    s = socket.socket()
    s.bind((HOST, 0))
    s.listen()
    return s


def _recv_exactly(s: socket.socket, n: int) -> None:
    got = 0
    while got < n:
        chunk = s.recv(n - got)
        if not chunk:
            raise ConnectionError("the connection closed during the benchmark")
        got += len(chunk)


@contextmanager
def _pair(plane: str, proxied: bool) -> Iterator[tuple[socket.socket, socket.socket]]:
    """Server 2's socket to server 1 and server 1's end of it, through the proxy or not."""
    listeners = {sid: (_listener(), _listener()) for sid in (1, 2)}
    upstream = {sid: (q.getsockname()[1], e.getsockname()[1]) for sid, (q, e) in listeners.items()}
    recorded = [0]

    def record(event: ProxyEvent) -> None:  # what a runtime does: keep every event
        recorded[0] += 1

    proxy = ZkProxy(upstream, on_event=record) if proxied else None
    sockets: list[socket.socket] = []
    try:
        if proxy is not None:
            proxy.start()
        quorum, election = proxy.peer_ports(2, 1) if proxy else upstream[1]
        a = socket.create_connection((HOST, quorum if plane == QUORUM else election), 10)
        sockets.append(a)
        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if plane == ELECTION:
            hello = encode_initial_message(2, [(HOST, upstream[2][1])])
            a.sendall(hello)
        b, _ = listeners[1][0 if plane == QUORUM else 1].accept()
        sockets.append(b)
        b.settimeout(10)
        if plane == ELECTION:
            read_initial_message(b.recv)  # rewritten by the proxy: its length may differ
        yield a, b
    finally:
        if proxy is not None:
            proxy.stop()
        for s in sockets + [s for pair in listeners.values() for s in pair]:
            s.close()


def _one_way_us(a: socket.socket, b: socket.socket, message: bytes, count: int) -> list[float]:
    times = []
    for i in range(WARM_UP + count):
        t0 = time.perf_counter()
        a.sendall(message)
        _recv_exactly(b, len(message))
        if i >= WARM_UP:
            times.append((time.perf_counter() - t0) * 1e6)
    return times


def bench_frames(count: int, log: Callable[[str], None]) -> JSON:
    """One-way latency (µs) direct and proxied for a notification frame and a PING packet."""
    vote = ToSend(2, 0x100000004, 3, ServerState.LOOKING, 1, 1, CONFIG)
    messages = {
        ELECTION: encode_frame(encode_notification(vote)),
        QUORUM: encode_packet(5, 0x100000004, b"\0" * 16),
    }
    result: JSON = {}
    for plane, message in messages.items():
        samples: dict[str, list[float]] = {"direct": [], "proxied": []}
        for round_ in range(4):  # alternate, so drift of the machine hits both
            for proxied in (round_ % 2 == 0, round_ % 2 == 1):
                with _pair(plane, proxied) as (a, b):
                    name = "proxied" if proxied else "direct"
                    samples[name] += _one_way_us(a, b, message, max(count // 4, 1))
        direct, proxied_ = (statistics.median(samples[k]) for k in ("direct", "proxied"))
        result[plane] = {
            "bytes": len(message),
            "direct_us": summary(samples["direct"]),
            "proxied_us": summary(samples["proxied"]),
            "added_ms": round((proxied_ - direct) / 1000.0, 3),
        }
        log(f"bench proxy: {plane} frames: +{result[plane]['added_ms']} ms per frame")
    return result


# --- elections of real ZooKeeper ---------------------------------------------------------------


def _took(server: ZkServer) -> list[int]:
    if not server.log_path.exists():
        return []
    return [int(m) for m in TOOK.findall(server.log_path.read_text(errors="replace"))]


def _wait_decided(
    servers: Mapping[int, ZkServer], before: Mapping[int, int], timeout_s: float
) -> None:
    """Until every server logged a new "TOOK" after `before[sid]` lines and serves."""
    deadline = time.monotonic() + timeout_s
    while True:
        modes = {sid: s.mode() for sid, s in servers.items()}
        decided = all(len(_took(s)) > before[sid] for sid, s in servers.items())
        roles = list(modes.values())
        if decided and roles.count("leader") == 1 and roles.count("follower") == len(roles) - 1:
            return
        if time.monotonic() > deadline:
            raise ZkServerError(f"no leader within {timeout_s:g} s: {modes}")
        time.sleep(0.05)


def _ensemble_run(nodes: int, settings: ZkSettings, proxied: bool) -> tuple[int, int]:
    """Start an ensemble, let it elect, kill the leader, let it elect again: ZooKeeper's
    took (max over the servers) of both elections, in ms."""
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-") as tmp:
        servers = make_ensemble(Path(tmp), tuple(range(1, nodes + 1)), settings)
        proxy = ZkProxy(real_ports(servers), on_event=lambda e: None) if proxied else None
        try:
            if proxy is not None:
                route_through(servers, proxy.peer_ports)
                proxy.start()
            for server in servers.values():
                server.start()
            _wait_decided(servers, dict.fromkeys(servers, 0), DEADLINE_S)
            first = max(_took(s)[-1] for s in servers.values())
            leader = next(sid for sid, s in servers.items() if s.mode() == "leader")
            survivors = {sid: s for sid, s in servers.items() if sid != leader}
            before = {sid: len(_took(s)) for sid, s in survivors.items()}
            servers[leader].stop(kill=True)
            _wait_decided(survivors, before, DEADLINE_S)
            failover = max(_took(s)[-1] for s in survivors.values())
            return first, failover
        finally:
            for server in servers.values():
                server.stop(kill=True)
            if proxy is not None:
                proxy.stop()


def bench_elections(reps: int, nodes: int, tick_ms: int, log: Callable[[str], None]) -> JSON:
    problem = java_missing()
    if problem is not None:
        return {"skipped": f"real ZooKeeper cannot run here: {problem}"}
    settings = ZkSettings(tick_time_ms=tick_ms, init_limit=10, sync_limit=5)
    took: dict[str, dict[str, list[float]]] = {
        v: {"first": [], "failover": []} for v in ("direct", "proxied")
    }
    failures: list[str] = []
    for rep in range(reps):
        for proxied in (rep % 2 == 1, rep % 2 == 0):
            variant = "proxied" if proxied else "direct"
            busy = wait_idle(0.5, 20.0)
            try:
                first, failover = _ensemble_run(nodes, settings, proxied)
            except ZkServerError as e:
                failures.append(f"{variant} rep {rep + 1}: {e}")
                log(f"bench proxy: {variant} rep {rep + 1} failed: {e}")
                continue
            took[variant]["first"].append(first)
            took[variant]["failover"].append(failover)
            log(
                f"bench proxy: {variant} rep {rep + 1}/{reps}: took {first} ms, failover"
                f" {failover} ms (cpu busy {busy})"
            )
    result: JSON = {"nodes": nodes, "tick_time_ms": tick_ms, "zookeeper": zookeeper_version()}
    for variant, phases in took.items():
        result[variant] = {phase: summary(values) for phase, values in phases.items()}
    for phase in ("first", "failover"):
        result[f"{phase}_ratio"] = ratio(result["proxied"][phase], result["direct"][phase])
    result["failures"] = failures
    return result


def bench_proxy(
    frames: int, reps: int, nodes: int, tick_ms: int, log: Callable[[str], None]
) -> JSON:
    result: JSON = {
        "machine": machine(),
        "targets": {"added_ms": TARGET_ADDED_MS, "failover_ratio": TARGET_ELECTION_RATIO},
        "frames": bench_frames(frames, log),
        "election": bench_elections(reps, nodes, tick_ms, log)
        if reps > 0
        else {"skipped": "--reps 0"},
    }
    election = result["election"]
    result["failed"] = bool(election.get("failures"))
    return result


def print_proxy(result: JSON) -> None:
    print_machine(result["machine"])
    print(f"one-way latency per frame, µs (median [min-max]); target: +{TARGET_ADDED_MS:g} ms")
    for plane, row in result["frames"].items():
        print(
            f"  {plane:8} {row['bytes']:4} B  direct {fmt_span(row['direct_us'])}"
            f"  proxied {fmt_span(row['proxied_us'])}  added {row['added_ms']:+.3f} ms"
        )
    election = result["election"]
    if "skipped" in election:
        print(f"election: skipped ({election['skipped']})")
        return
    print(
        f"real ZooKeeper {election['zookeeper'] or '?'}, {election['nodes']} servers, tickTime"
        f" {election['tick_time_ms']} ms: 'LEADER ELECTION TOOK', ms (median [min-max]);"
        f" target: failover within {TARGET_ELECTION_RATIO:g}x"
    )
    for phase in ("first", "failover"):
        print(
            f"  {phase:8}  direct {fmt_span(election['direct'][phase])}"
            f"  proxied {fmt_span(election['proxied'][phase])}"
            f"  ratio {fmt_num(election[f'{phase}_ratio'])}"
        )
    for failure in election["failures"]:
        print(f"  failed: {failure}")
