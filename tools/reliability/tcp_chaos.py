"""Chaos on `zkfle node` processes over TCP: the nemesis of tests/chaos.py, its node faults
carried out on real processes.

A run generates a script with `tests.chaos.Nemesis` (seeded; the node faults only: crash,
crash the leader, crash for a while, restart, pause, pause the leader, resume, waits) and
carries each line out on a `NodeCluster`: crash is SIGKILL (the process dies, peers see
EOF), restart starts a new process on the same data directory, pause is SIGSTOP (peers see
silence), resume SIGCONT; `for=` undoes the fault after its time. Then every fault is
healed, every node must start (import zkfle and listen: a starved machine's time, not
the election's), then a leader must be established with every node synced within the
liveness bound, and the nodes are stopped. Checked:

* every trace of every life of every node re-executes identically (`zkfle verify`), its
  invariants included - a SIGKILLed life's trace ends without a footer, never torn;
* at most one node establishes each epoch, across all lives (AtMostOneLeaderPerEpoch);
* liveness after the heal, and a clean stop (exit 0) of every node.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from engine.control import commands as c
from engine.control.values import Nodes
from engine.explore.schedule import MIXES, Nemesis
from tests.chaos import Topology, derive_seed
from tools.reliability import Outcome
from tools.reliability.nodes import NodeCluster, verify_traces

MIX = replace(MIXES["node"], write=0, wait_stable=3, scale=0.5)
"""Node faults only (links are real TCP here), no writes (a node has no clients)."""
LIVENESS_S = 30.0
"""B of the liveness bound for tick 100 (2 x (10 x 100 + 5 x 200) ms + 2 s = 6 s), with
room for a loaded machine; counted from when every node has started after the heal."""
STARTUP_S = 300.0
"""How long the nodes restarted by the heal may take to start (import zkfle, listen) - a
process starved by the machine, not the election: open item B of RELIABILITY.md, where at
load 13 under `nice -n 19` three of five nodes printed nothing in 53 s."""


class Runner:
    """Carries a nemesis script out on a NodeCluster."""

    def __init__(self, cluster: NodeCluster, rng: random.Random) -> None:
        self.cluster = cluster
        self.rng = rng
        self.timers: list[tuple[float, str, int]] = []
        """(when, 'restart' | 'resume', sid): what a `for=` undoes."""
        self.crashed: set[int] = set()
        self.unsupported = 0

    def resolve(self, nodes: Nodes) -> list[int]:
        sids = set(nodes.sids)
        for word in nodes.words:
            running = [s for s in self.cluster.alive() if s not in self.cluster.paused]
            if word == "leader":
                found = self.cluster.established(0.0)
                if found is not None and found[0] in running:
                    sids.add(found[0])
            elif word == "all":
                sids.update(self.cluster.sids)
            elif running:
                sids.add(self.rng.choice(running))
        return sorted(sids)

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            self.fire(now)
            threading.Event().wait(min(0.02, end - now))  # the script's own wait
        self.fire(time.monotonic())

    def fire(self, now: float) -> None:
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, what, sid in due:
            if what == "restart":
                self.restart(sid)
            else:
                self.cluster.resume(sid)

    def crash(self, sid: int) -> None:
        if sid in self.cluster.alive():
            self.cluster.kill(sid)
            self.cluster.paused.discard(sid)
            self.crashed.add(sid)

    def restart(self, sid: int) -> None:
        if sid in self.crashed:
            self.crashed.discard(sid)
            self.cluster.start(sid)

    def execute(self, line: str) -> None:
        cmd = c.parse(line)
        now = time.monotonic()
        match cmd:
            case c.Start():
                for sid in self.cluster.sids:
                    self.cluster.start(sid)
            case c.Crash(nodes=nodes, for_ms=for_ms):
                for sid in self.resolve(nodes):
                    self.crash(sid)
                    if for_ms is not None:
                        self.timers.append((now + for_ms / 1000, "restart", sid))
            case c.Restart(nodes=nodes):
                for sid in self.resolve(nodes):
                    self.restart(sid)
            case c.Pause(nodes=nodes, for_ms=for_ms):
                for sid in self.resolve(nodes):
                    self.cluster.pause(sid)
                    if for_ms is not None:
                        self.timers.append((now + for_ms / 1000, "resume", sid))
            case c.Resume(nodes=nodes):
                for sid in self.resolve(nodes):
                    self.cluster.resume(sid)
            case c.Wait(ms=ms):
                self.wait(ms / 1000)
            case c.WaitUntil(within_ms=within_ms):
                end = now + within_ms / 1000
                while time.monotonic() < end and self.cluster.established(0.0) is None:
                    self.wait(0.05)
            case _:
                self.unsupported += 1

    def heal(self) -> float:
        """Resume every paused node, restart every crashed one; returns when."""
        self.timers.clear()
        for sid in sorted(self.cluster.paused):
            self.cluster.resume(sid)
        for sid in sorted(self.crashed):
            self.restart(sid)
        return time.monotonic()


def chaos_run(
    index: int, nodes: int, steps: int, outcome: Outcome, work: Path, keep: Path | None = None
) -> None:
    """Run `index` of `nodes` nodes in `work`; if it fails, its traces and logs are copied
    into `keep`/tcpN-SEED (a run on real processes is not repeated exactly: what it left
    is all there is to look at)."""
    failed = outcome.failed
    topology = Topology(f"tcp{nodes}", nodes)
    seed = derive_seed("tcp", nodes, steps, index)
    script = Nemesis(topology.sids, random.Random(f"nemesis:{seed}"), MIX).script(steps)
    where = f"tcp chaos {topology.name} seed {seed}"
    cluster = NodeCluster(work, nodes, tick_ms=100)
    runner = Runner(cluster, random.Random(seed))
    try:
        for line in script:
            runner.execute(line)
        healed = runner.heal()
        try:
            up = cluster.wait_started(STARTUP_S)
        except TimeoutError as e:
            outcome.fail(f"{where}: start-up after the heal: {e}\nscript: {script}")
        else:
            _longest(outcome, "longest start-up after the heal (ms)", up - healed)
            try:
                cluster.wait_established(0.0, LIVENESS_S)
            except TimeoutError as e:
                outcome.fail(f"{where}: liveness after the heal: {e}\nscript: {script}")
            else:
                _longest(outcome, "longest election after that (ms)", time.monotonic() - up)
    finally:
        codes = cluster.stop_all()
    outcome.add("tcp chaos runs")
    outcome.add("unsupported lines skipped", runner.unsupported)
    for sid, code in codes.items():
        if code != 0:
            outcome.fail(f"{where}: n{sid} exited {code} on SIGTERM")
    epochs: dict[int, set[int]] = {}
    for epoch, sid, _ in cluster.leaders():
        epochs.setdefault(epoch, set()).add(sid)
    for epoch, sids in sorted(epochs.items()):
        if len(sids) > 1:
            outcome.fail(f"{where}: epoch {epoch} established by {sorted(sids)}")
    verify_traces(sorted(work.glob("n*.jsonl")), where, outcome)
    if keep is not None and outcome.failed > failed:
        kept = shutil.copytree(work, keep / f"{topology.name}-{seed}", dirs_exist_ok=True)
        outcome.notes.append(f"{where}: its traces and logs are kept in {kept}")


def _longest(outcome: Outcome, what: str, seconds: float) -> None:
    outcome.counts[what] = max(outcome.counts.get(what, 0), round(1000 * seconds))


def run(
    count: int, steps: int = 20, nodes: tuple[int, ...] = (3, 5), keep: Path | None = None
) -> Outcome:
    outcome = Outcome("TCP chaos")
    with tempfile.TemporaryDirectory(prefix="zkfle-tcpchaos-") as tmp:
        for i in range(count):
            work = Path(tmp) / f"run-{i}"
            work.mkdir()
            chaos_run(i, nodes[i % len(nodes)], steps, outcome, work, keep)
    return outcome


if __name__ == "__main__":
    start = time.monotonic()
    print(run(2), f"{time.monotonic() - start:.0f} s")
