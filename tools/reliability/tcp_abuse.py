"""TCP abuse of a `zkfle node` cluster during its elections, all on 127.0.0.1.

While the nodes elect, four kinds of unwanted clients go at every node's election and
quorum ports at once:

* garbage: connect, write 0-96 random bytes (now and then a handshake header announcing a
  huge or negative address length, or an unknown protocol version), close;
* slow-loris: connect and write a valid V1 handshake one byte at a time, just inside the
  socket timeout (tickTime x syncLimit), so each read returns something;
* storms: bursts of connections opened at once and closed without a byte;
* half-open: connect, write nothing, never close (until the round ends).

A round times the first election of a fresh cluster (from the processes' launch to a
leader established with every node synced) and the failover after its leader is killed
(SIGKILL to established again), with and without the attack; the ratio of the medians is
reported. Every node's trace must verify. The counts of each attack are attempts; a
connection the node refused or reset is still an attempt.
"""

from __future__ import annotations

import contextlib
import random
import socket
import statistics
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.wire import PROTOCOL_VERSION_V1, encode_initial_message
from tests.test_tcp import LOCAL
from tools.reliability import Outcome
from tools.reliability.nodes import NodeCluster, verify_traces


@dataclass
class AttackPlan:
    garbage: int = 1000
    """Garbage connections over the whole attack."""
    slow_loris: int = 8
    """Slow-loris connections kept open per port at any time."""
    storm: int = 100
    """Connections per storm burst (one burst a second)."""
    half_open: int = 30
    """Silent connections per port, held until the end."""
    byte_interval_s: float = 0.9
    """Slow-loris: seconds between two bytes (under the 1 s socket timeout of tick 200)."""


@dataclass
class Attack:
    """The clients above, on threads, until `stop()`."""

    ports: list[int]
    plan: AttackPlan
    seed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _held: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        jobs = [self._garbage, self._storms, self._half_open]
        jobs += [lambda p=p: self._slow_loris(p) for p in self.ports]  # type: ignore[misc]
        for job in jobs:
            t = threading.Thread(target=job, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10.0)
        with self._lock:
            for s in self._held:
                s.close()
            self._held.clear()

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def _connect(self, port: int) -> socket.socket | None:
        s = socket.socket()
        s.settimeout(2.0)
        try:
            s.connect((LOCAL, port))
        except OSError:
            s.close()
            return None
        return s

    def _garbage(self) -> None:
        rng = random.Random(f"garbage:{self.seed}")
        for _ in range(self.plan.garbage):
            if self._stop.is_set():
                return
            s = self._connect(rng.choice(self.ports))
            self._count("garbage")
            if s is None:
                continue
            r = rng.random()
            if r < 0.2:  # a V1 header with an absurd address length
                data = struct.pack(">qqi", PROTOCOL_VERSION_V1, 9, rng.choice((-1, 0, 1 << 30)))
            elif r < 0.3:  # an unknown protocol version
                data = struct.pack(">q", -rng.randint(2, 1 << 40))
            else:
                data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 96)))
            with contextlib.suppress(OSError):
                s.sendall(data)
            s.close()
            self._stop.wait(0.002)

    def _storms(self) -> None:
        while not self._stop.wait(1.0):
            burst = []
            for i in range(self.plan.storm):
                s = self._connect(self.ports[i % len(self.ports)])
                self._count("storm")
                if s is not None:
                    burst.append(s)
            for s in burst:
                s.close()

    def _half_open(self) -> None:
        for port in self.ports:
            for _ in range(self.plan.half_open):
                if self._stop.is_set():
                    return
                s = self._connect(port)
                self._count("half-open")
                if s is not None:
                    with self._lock:
                        self._held.append(s)

    def _slow_loris(self, port: int) -> None:
        handshake = encode_initial_message(9, [(LOCAL, 1)])
        conns: list[tuple[socket.socket, int]] = []
        while not self._stop.is_set():
            while len(conns) < self.plan.slow_loris:
                s = self._connect(port)
                self._count("slow-loris")
                if s is None:
                    break
                conns.append((s, 0))
            kept = []
            for s, sent in conns:
                try:
                    s.sendall(handshake[sent : sent + 1])
                except OSError:
                    s.close()
                    continue
                if sent + 1 < len(handshake):
                    kept.append((s, sent + 1))
                else:
                    s.close()
            conns = kept
            self._stop.wait(self.plan.byte_interval_s)
        for s, _ in conns:
            s.close()


def one_round(
    work: Path, plan: AttackPlan | None, seed: int, outcome: Outcome
) -> tuple[float, float] | None:
    """(first election ms, failover ms) of a fresh 3-node cluster, attacked if `plan`."""
    cluster = NodeCluster(work)
    ports = [*cluster.election_ports.values(), *cluster.quorum_ports.values()]
    attack = Attack(ports, plan, seed) if plan is not None else None
    try:
        if attack is not None:
            attack.start()  # already running when the nodes come up
        t0 = cluster.start_all()
        leader, epoch, t1 = cluster.wait_established(t0)
        t2 = cluster.kill(leader)
        _, epoch2, t3 = cluster.wait_established(t2)
        if epoch2 <= epoch:
            outcome.fail(f"round {seed}: the new leader's epoch {epoch2} is not above {epoch}")
    except TimeoutError as e:
        outcome.fail(f"round {seed} ({'attacked' if plan else 'quiet'}): {e}")
        return None
    finally:
        if attack is not None:
            attack.stop()
            for what, n in attack.counts.items():
                outcome.add(what, n)
        codes = cluster.stop_all()
    for sid, code in codes.items():
        if code not in (0, -9):
            outcome.fail(f"round {seed}: n{sid} exited {code}:\n{cluster.output()}")
    verify_traces(sorted(work.glob("n*.jsonl")), f"round {seed}", outcome)
    return (t1 - t0) * 1000, (t3 - t2) * 1000


def run(rounds: int = 5, plan: AttackPlan | None = None, seed: int = 1) -> Outcome:
    plan = plan or AttackPlan()
    outcome = Outcome("TCP abuse during elections")
    times: dict[str, list[tuple[float, float]]] = {"quiet": [], "attacked": []}
    with tempfile.TemporaryDirectory(prefix="zkfle-abuse-") as tmp:
        for r in range(rounds):
            for label, p in (("quiet", None), ("attacked", plan)):
                work = Path(tmp) / f"{label}-{r}"
                work.mkdir()
                measured = one_round(work, p, seed * 1000 + r, outcome)
                if measured is not None:
                    times[label].append(measured)
    for i, what in enumerate(("first election", "failover")):
        quiet = [t[i] for t in times["quiet"]]
        attacked = [t[i] for t in times["attacked"]]
        if not quiet or not attacked:
            continue
        q, a = statistics.median(quiet), statistics.median(attacked)
        outcome.counts[f"{what} quiet ms (median)"] = round(q)
        outcome.counts[f"{what} attacked ms (median)"] = round(a)
        outcome.counts[f"{what} ratio"] = round(a / q, 2)
        outcome.notes.append(
            f"{what}: quiet {', '.join(f'{x:.0f}' for x in quiet)} ms; "
            f"attacked {', '.join(f'{x:.0f}' for x in attacked)} ms"
        )
    outcome.counts["rounds"] = rounds
    return outcome


if __name__ == "__main__":
    start = time.monotonic()
    result = run(rounds=2)
    print(result, f"{time.monotonic() - start:.0f} s")
