"""Real Apache ZooKeeper measured in the same run (`--zk`, mode `zk`): the figures our
elections are compared with.

Each repetition is a fresh ensemble of Debian's ZooKeeper on 127.0.0.1, run by zkfle's own
runtime (`--runtime zookeeper`: the Cluster facade, the recording proxy between the servers,
the servers' logs read as events), with the same generated config as our threaded clusters
(tickTime 200 ms, initLimit 10, syncLimit 5). It is timed as they are:

* the first election: ZooKeeper's own "LEADER ELECTION TOOK" (the leader's, and the largest
  over the servers), and the span from the first "New election" to the last decision, both
  on the servers' log clocks;
* the failover: the leader is SIGKILLed once everybody follows it; the survivors' "took",
  and the time from the kill until `srvr` says a new leader serves (polled every 50 ms);
* in both, the notifications the proxy carried between servers (a server's notifications
  to itself never reach the wire).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.bench.harness import JSON, summary, wait_idle
from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime.zookeeper.events import ELECTION
from engine.runtime.zookeeper.server import java_missing, zookeeper_version

SETTLE_MS = 100.0
"""After the first election, before the kill: let the last pings and acks land (as the
threaded bench does)."""


@dataclass
class _Phase:
    """What the recorder saw of one phase (the first election, or the failover), read off
    the events as they are recorded (a recorder listener: a few field updates only)."""

    since_ms: float = 0.0
    first_election_ms: float | None = None
    last_took_at_ms: float | None = None
    took_ms: dict[int, float] = field(default_factory=dict)
    serving_ms: dict[int, float] = field(default_factory=dict)
    """When `srvr` first said each server leads."""
    sent: int = 0
    delivered: int = 0

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event["kind"]
        if kind in ("send", "deliver"):
            if event.get("plane") == ELECTION:
                if kind == "send":
                    self.sent += 1
                else:
                    self.delivered += 1
            return
        t, node = float(event["t_ms"]), event.get("node")
        if t < self.since_ms or not isinstance(node, int):
            return
        if kind == "election":
            if self.first_election_ms is None or t < self.first_election_ms:
                self.first_election_ms = t
        elif kind == "took" and isinstance(event.get("took_ms"), int | float):
            self.took_ms[node] = float(event["took_ms"])
            self.last_took_at_ms = max(t, self.last_took_at_ms or t)
        elif kind == "zk" and event.get("what") == "serving" and event.get("mode") == "leader":
            self.serving_ms.setdefault(node, t)


@dataclass
class _Rep:
    leader: int
    first: _Phase
    new_leader: int | None = None
    failover: _Phase | None = None
    killed_at_ms: float = 0.0
    error: str | None = None


def _one_ensemble(n: int, within_ms: float, directory: Path) -> _Rep:
    """Start n servers, time their first election; kill the leader, time the next."""
    options = ClusterOptions(
        nodes=n, runtime="zookeeper", data_dir=directory, record=False, label="bench-zk"
    )
    with Cluster(options) as cluster:
        first = _Phase()
        phases = [first]  # the listener feeds the newest
        cluster.recorder.listeners.append(lambda e: phases[-1](e))
        cluster.start()
        if not cluster.wait_until(lambda v: v.settled, within_ms):
            return _Rep(0, first, error=f"no leader within {within_ms / 1000:g} s")
        cluster.wait_until(lambda v: len(first.took_ms) == n, within_ms)
        leader = cluster.view().leader
        assert leader is not None  # settled
        cluster.advance(SETTLE_MS)
        failover = _Phase(since_ms=cluster.view().t_ms)
        phases.append(failover)
        cluster.execute(f"crash {leader}")
        rep = _Rep(leader, first, killed_at_ms=failover.since_ms)
        if not cluster.wait_until(lambda v: v.stable and v.leader != leader, within_ms):
            rep.error = f"no new leader within {within_ms / 1000:g} s of the kill"
            return rep
        rep.new_leader = cluster.view().leader
        cluster.wait_until(lambda v: rep.new_leader in failover.serving_ms, within_ms)
        rep.failover = failover
        return rep


def _first_election(rep: _Rep) -> dict[str, float | None]:
    p = rep.first
    span = (
        p.last_took_at_ms - p.first_election_ms
        if p.last_took_at_ms is not None and p.first_election_ms is not None
        else None
    )
    return {
        "zk_took_leader_ms": p.took_ms.get(rep.leader),
        "zk_took_max_ms": max(p.took_ms.values(), default=None),
        "log_fle_span_ms": span,
        "msgs.sent": p.sent,
        "msgs.recv": p.delivered,
    }


def _failover(rep: _Rep) -> dict[str, float | None]:
    p = rep.failover
    if p is None or rep.new_leader is None:
        return {}
    serving = p.serving_ms.get(rep.new_leader)
    return {
        "zk_took_new_leader_ms": p.took_ms.get(rep.new_leader),
        "zk_took_max_ms": max(p.took_ms.values(), default=None),
        "wall_new_leader_serving_ms": serving - rep.killed_at_ms if serving is not None else None,
        "msgs.sent": p.sent,
        "msgs.recv": p.delivered,
    }


def run_zookeeper(
    sizes: Sequence[int],
    reps: int,
    *,
    within_ms: float,
    idle_threshold: float,
    idle_wait_s: float,
    log: Callable[[str], None],
) -> tuple[JSON | None, str | None]:
    """Measure real ZooKeeper: (its summary per size, None) or (None, why it cannot run)."""
    problem = java_missing()
    if problem is not None:
        return None, f"real ZooKeeper cannot run here: {problem}"
    result: JSON = {"meta": {}, "sizes": {}}
    for n in sizes:
        rows: dict[str, list[float | None]] = {}
        ok = failed = 0
        for rep in range(reps):
            busy = wait_idle(idle_threshold, idle_wait_s)
            with tempfile.TemporaryDirectory(prefix="zkfle-bench-zk-") as tmp:
                got = _one_ensemble(n, within_ms, Path(tmp))
            if got.error is not None:
                failed += 1
                log(f"  zk N={n} rep={rep}: {got.error}")
                continue
            ok += 1
            first, after = _first_election(got), _failover(got)
            for phase, values in (("initial", first), ("failover", after)):
                for key, value in values.items():
                    rows.setdefault(f"{phase}.{key}", []).append(value)
            log(
                f"  zk N={n} rep={rep} took={first['zk_took_max_ms']} leader=n{got.leader}"
                f" | failover {after.get('wall_new_leader_serving_ms')}"
                f" took={after.get('zk_took_max_ms')} busy={busy}"
            )
        size: JSON = {"ok": ok, "failed": failed}
        size.update({key: summary(values) for key, values in rows.items()})
        result["sizes"][n] = size
    result["meta"] = {
        "zookeeper": zookeeper_version(),
        "how": "zkfle --runtime zookeeper (generated config, recording proxy)",
    }
    return result, None


def zk_phase(zk: JSON | None, n: int, phase: str) -> JSON | None:
    if zk is None:
        return None
    s = zk["sizes"].get(n)
    if not s or not s.get("ok"):
        return None

    def get(key: str) -> JSON | None:
        v = s.get(f"{phase}.{key}")
        return v if isinstance(v, dict) else None

    wall = "wall_new_leader_serving_ms" if phase == "failover" else "log_fle_span_ms"
    return {
        "reps": s.get("ok"),
        "took_max_ms": get("zk_took_max_ms"),
        "took_leader_ms": get(
            "zk_took_leader_ms" if phase == "initial" else "zk_took_new_leader_ms"
        ),
        "wall_ms": get(wall),
        "wall_metric": wall,
        "sent": get("msgs.sent"),
        "received": get("msgs.recv"),
    }


__all__ = ["run_zookeeper"]
