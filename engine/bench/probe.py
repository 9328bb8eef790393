"""One election measured: a probe on the recorder that sees the moment a cluster becomes
stable, and the sample it takes (took, stable, messages).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.control.cluster import Cluster, ClusterOptions
from engine.trace.recorder import Event, Recorder


@dataclass(slots=True)
class _NodeSeen:
    alive: bool = False
    state: str = "LOOKING"
    zab: str = "ELECTION"
    leader: int | None = None


class StabilityProbe:
    """A recorder listener that notices, from the events alone, the instant the cluster
    becomes `stable` (ClusterView.stable), with that event's time on the runtime's clock.

    It also counts the messages from when it was armed: notifications sent (all, and to
    other nodes only - ZooKeeper's logs count the latter), delivered and dropped. Being a
    listener it runs under the recorder's lock, so it only updates a few fields.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.nodes: dict[int, _NodeSeen] = {}
        self.done = threading.Event()
        self.t_start: float | None = None
        self.t_stable: float | None = None
        self.leader: int | None = None
        self.not_leader: int | None = None
        self.boots = 0
        """Boots still to come before the phase can end (a restart stops nodes first)."""
        self.build_ms: float | None = None
        self.sent_to_peers = 0
        self.counts: tuple[int, int, int] = (0, 0, 0)
        """Messages sent, delivered and dropped from the arming to the stable instant."""
        self._counting = [0, 0, 0]

    def arm(self, not_leader: int | None = None, boots: int = 0) -> None:
        """Start a phase: the next boot or stop starts the clock; the phase ends when the
        cluster is stable with a leader other than `not_leader`, after `boots` boots."""
        self._counting = [0, 0, 0]
        self.t_start = self.t_stable = self.leader = None
        self.not_leader = not_leader
        self.boots = boots
        self.sent_to_peers = 0
        self.done.clear()

    def __call__(self, event: Event) -> None:
        kind = event["kind"]
        counting = not self.done.is_set()  # the counts are those until the phase ended
        if kind == "send":
            if counting:
                self._counting[0] += 1
                if event.get("to") != event.get("node"):
                    self.sent_to_peers += 1
            return
        if kind == "deliver":
            if counting:
                self._counting[1] += 1
            return
        if kind == "drop":
            if counting:
                self._counting[2] += 1
            return
        if kind == "state":
            seen = self.nodes.setdefault(event["node"], _NodeSeen(alive=True))
            seen.state = event["state"]
            seen.zab = event["zab"]
            seen.leader = event["vote"]["leader"]
        elif kind in ("boot", "stop"):
            seen = self.nodes.setdefault(event["node"], _NodeSeen())
            seen.alive = kind == "boot"
            seen.state, seen.zab, seen.leader = "LOOKING", "ELECTION", None
            if kind == "boot":
                self.boots -= 1
            if self.t_start is None:
                self.t_start = float(event["t_ms"])
        else:
            return
        if not counting or self.t_start is None or self.boots > 0:
            return
        leader = self._stable_leader()
        if leader is not None and leader != self.not_leader:
            self.t_stable = float(event["t_ms"])
            self.leader = leader
            sent, delivered, dropped = self._counting
            self.counts = (sent, delivered, dropped)
            self.done.set()

    def _stable_leader(self) -> int | None:
        live = [(sid, n) for sid, n in self.nodes.items() if n.alive]
        leaders = [sid for sid, n in live if n.state == "LEADING"]
        if len(leaders) != 1:
            return None
        lead = leaders[0]
        if self.nodes[lead].zab != "BROADCAST":
            return None
        if any(n.state == "LOOKING" or n.leader != lead for _, n in live):
            return None
        return lead

    @property
    def elapsed_ms(self) -> float | None:
        if self.t_start is None or self.t_stable is None:
            return None
        return round(self.t_stable - self.t_start, 3)


@dataclass
class Sample:
    """One election (or failover) of one cluster."""

    ok: bool
    took_ms: float | None
    """max over the nodes of ZooKeeper's 'took' for this election."""
    stable_ms: float | None
    """First boot (or the crash) -> stable."""
    leader: int | None
    sent: int = 0
    sent_to_peers: int = 0
    delivered: int = 0
    dropped: int = 0
    busy_before: float | None = None
    build_ms: float | None = None
    """Building the cluster (before `start`): the threaded runtime starts its thread pool
    then."""


def _took_since(cluster: Cluster, since_ms: float) -> float | None:
    """Max 'took' over the live nodes whose last election started at or after `since_ms`."""
    took = [
        n.election_took_ms
        for n in cluster.host.view().nodes
        if n.alive
        and n.election_took_ms is not None
        and n.election_started_ms is not None
        and n.election_started_ms >= since_ms
    ]
    return round(max(took), 3) if took else None


def take_sample(
    probe: StabilityProbe,
    cluster: Cluster,
    ok: bool,
    busy: float | None,
    build_ms: float | None = None,
) -> Sample:
    since = probe.t_start if probe.t_start is not None else 0.0
    sent, delivered, dropped = probe.counts if ok else (0, 0, 0)
    return Sample(
        ok=ok,
        took_ms=_took_since(cluster, since) if ok else None,
        stable_ms=probe.elapsed_ms if ok else None,
        leader=probe.leader,
        sent=sent,
        sent_to_peers=probe.sent_to_peers,
        delivered=delivered,
        dropped=dropped,
        busy_before=busy,
        build_ms=build_ms,
    )


@contextlib.contextmanager
def probed_cluster(options: ClusterOptions) -> Iterator[tuple[Cluster, StabilityProbe]]:
    t0 = time.perf_counter()
    cluster = Cluster(options)
    probe = StabilityProbe(cluster.recorder)
    probe.build_ms = round((time.perf_counter() - t0) * 1000.0, 1)
    cluster.recorder.listeners.append(probe)
    try:
        yield cluster, probe
    finally:
        cluster.close()


_PROBES: weakref.WeakKeyDictionary[Cluster, StabilityProbe] = weakref.WeakKeyDictionary()


def probe_of(cluster: Cluster) -> StabilityProbe:
    """The probe on `cluster`'s recorder, put there the first time it is asked for: a
    cluster in a child process is measured there (engine.control.remote's `call`)."""
    probe = _PROBES.get(cluster)
    if probe is None:
        probe = _PROBES[cluster] = StabilityProbe(cluster.recorder)
        cluster.recorder.listeners.append(probe)
    return probe


def whole_election(cluster: Cluster, first: bool = False) -> Sample:
    """Every node crashed and started again (`first`: started): one election of the whole
    cluster, measured by its probe, and the cluster settled after it."""
    probe = probe_of(cluster)
    if first:
        probe.arm()
        cluster.start()
    else:
        probe.arm(boots=len(cluster.sids))
        cluster.execute("crash all")  # restart brings back crashed nodes only
        cluster.execute("start")
    ok = wait_stable(cluster, probe, 30_000.0)
    sample = take_sample(probe, cluster, ok, None)
    cluster.wait_until(lambda v: v.settled, 10_000.0)
    return sample


def recorded(cluster: Cluster) -> int:
    """How many events `cluster` has recorded."""
    return cluster.recorder.seq


def thread_cpu_s(name: str) -> float | None:
    """The CPU time of this process's thread called `name` so far (Linux), or None."""
    for thread in threading.enumerate():
        if thread.name == name and thread.ident is not None:
            with contextlib.suppress(OSError, AttributeError):
                return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return None


def publisher_cpu_s(cluster: Cluster) -> float | None:
    """In a RemoteCluster's child: the CPU its publisher has taken so far."""
    return thread_cpu_s("Publisher")


def election_rep(
    n: int,
    *,
    trace: Path | None = None,
    within_ms: float = 60_000.0,
    failover: bool = False,
    busy: float | None = None,
    runtime: str = "threaded",
    transport: str = "memory",
) -> tuple[Sample, Sample | None]:
    """One fresh cluster of `n` nodes: its first election, then (with `failover`) the
    election after its leader crashed."""
    options = ClusterOptions(
        nodes=n,
        runtime=runtime,
        transport=transport,
        record=trace is not None,
        trace=trace,
        label="bench",
        seed=n,
    )
    with probed_cluster(options) as (cluster, probe):
        probe.arm()
        cluster.start()
        ok = wait_stable(cluster, probe, within_ms)
        first = take_sample(probe, cluster, ok, busy, probe.build_ms)
        if not failover or not ok or first.leader is None:
            return first, None
        cluster.wait_until(lambda v: v.settled, within_ms)
        cluster.advance(100.0)  # let the last pings and acks land
        leader = first.leader
        probe.arm(not_leader=leader)
        cluster.execute(f"crash {leader}")
        ok = wait_stable(cluster, probe, within_ms)
        return first, take_sample(probe, cluster, ok, None)


def wait_stable(cluster: Cluster, probe: StabilityProbe, within_ms: float) -> bool:
    if cluster.sim:
        return cluster.wait_for(probe.done.is_set, within_ms)
    return probe.done.wait(within_ms / 1000.0)


__all__ = [
    "Sample",
    "StabilityProbe",
    "election_rep",
    "probe_of",
    "publisher_cpu_s",
    "recorded",
    "thread_cpu_s",
    "whole_election",
]
