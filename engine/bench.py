"""`zkfle bench`: the performance targets of DESIGN §6, measured, and compared in one run.

Modes (each prints a table, or one JSON object with `--json`):

* `election` - fresh threaded in-memory clusters of N nodes, no trace: ZooKeeper's "took"
  (lookForLeader start -> decision, the maximum over the nodes, `NodeView.election_took_ms`)
  and the time from the first boot until the cluster is `stable` (one leader that has
  established its epoch with a quorum, everybody following it), with the messages sent,
  delivered and dropped until then;
* `failover` - the same clusters, settled; the leader is crashed: crash -> stable again,
  and the survivors' "took";
* `sim` - five-node elections in the simulator, pinned to one core, for `--seconds`;
* `verify` - re-execution speed of `engine.replay.verify.verify` on a generated trace, and its
  peak memory (tracemalloc) at two trace sizes, to show whether memory stays flat;
* `recording` - the election with and without a trace file (threaded), and the simulator's
  CPU time with and without one: what recording costs;
* `console` - the console (console.app) attached to a 9-node threaded cluster under a
  message storm: frames (polls of the cluster screen) per second, and election latency
  with the console attached vs headless;
* `zk` - `election` and `failover` with real Apache ZooKeeper measured in the same run;
* `proxy` - what engine.runtime.zookeeper.proxy adds per frame, and to real ZooKeeper's elections
  (engine.zkproxybench).

Every figure is given as a ratio measured in the same run (DESIGN §6): to the floor - one
finalizeWait, 200 ms - and, with `--zk` (or mode `zk`), to real ZooKeeper 3.8 measured by
`tools/zk/measure.py` (`--zk-measure`, env ZKFLE_ZK_MEASURE, default
`../shared/tools/zk/measure.py` next to the repository). Without ZooKeeper or that script
the benchmark says so and reports ours alone.

Wall-clock figures depend on what else the machine runs: before each repetition the bench
waits (at most `--idle-wait` seconds) until the CPU is mostly idle, as measure.py does, and
reports how busy the machine was. The simulator figures are CPU time, which load affects
much less.

This module sits on top of the engine; the console bench lives in console/bench.py (the
engine never imports the console).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.election import FINALIZE_WAIT_MS
from engine.replay.verify import verify
from engine.trace.format import read_trace
from engine.trace.recorder import Event, Recorder

FLOOR_MS = float(FINALIZE_WAIT_MS)
"""The floor of an election: one finalizeWait (plus a message round, which we neglect)."""
ZK_JAR = Path("/usr/share/java/zookeeper.jar")
"""Real ZooKeeper is installed when this exists (Debian package `zookeeper`)."""
ZK_MEASURE_ENV = "ZKFLE_ZK_MEASURE"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_ZK_MEASURE = REPO.parent / "shared" / "tools" / "zk" / "measure.py"
TARGETS = {
    "election_floor_ratio": 1.2,
    "failover_ms": 260.0,
    "n51_ms": 2000.0,
    "sim_elections_per_s": 300.0,
    "verify_events_per_s": 100_000.0,
    "recording_cost": 0.10,
    "console_redraws_per_s": 15.0,
}
"""DESIGN §6."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

JSON = dict[str, Any]


# --- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> JSON:
    """What the numbers were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "nproc": usable,
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "switch_interval_s": sys.getswitchinterval(),
    }


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


def cpu_busy(interval_s: float = 0.25) -> float | None:
    """The fraction of all CPUs busy over `interval_s` (None where /proc/stat is missing)."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(interval_s)
    after = _cpu_times()
    if after is None or after[0] == before[0]:
        return None
    return round(1.0 - (after[1] - before[1]) / (after[0] - before[0]), 3)


def wait_idle(threshold: float, max_wait_s: float) -> float | None:
    """Wait (at most `max_wait_s`) until at most `threshold` of the CPUs are busy, as
    tools/zk/measure.py does on shared hosts; returns the last busy fraction seen."""
    if max_wait_s <= 0:
        return None
    deadline = time.monotonic() + max_wait_s
    busy = cpu_busy()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        time.sleep(0.5)
        busy = cpu_busy()
    return busy


# --- statistics -------------------------------------------------------------------------------


def summary(values: Sequence[float | None]) -> JSON | None:
    """median, min, max and count of the values that are not None."""
    got = [float(v) for v in values if v is not None]
    if not got:
        return None
    return {
        "median": round(statistics.median(got), 1),
        "min": round(min(got), 1),
        "max": round(max(got), 1),
        "n": len(got),
    }


def ratio(a: JSON | None, b: JSON | float | None, key: str = "median") -> float | None:
    if a is None or b is None:
        return None
    den = b if isinstance(b, float) else b.get(key)
    num = a.get(key)
    if not num or not den:
        return None
    return round(float(num) / float(den), 2)


def fmt_span(s: JSON | None) -> str:
    if s is None:
        return "-"
    return f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"


def fmt_num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


# --- watching a cluster become stable ---------------------------------------------------------


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


def election_rep(
    n: int,
    *,
    trace: Path | None = None,
    within_ms: float = 60_000.0,
    failover: bool = False,
    busy: float | None = None,
    runtime: str = "threaded",
) -> tuple[Sample, Sample | None]:
    """One fresh cluster of `n` nodes: its first election, then (with `failover`) the
    election after its leader crashed."""
    options = ClusterOptions(
        nodes=n, runtime=runtime, record=trace is not None, trace=trace, label="bench", seed=n
    )
    with probed_cluster(options) as (cluster, probe):
        probe.arm()
        cluster.start()
        ok = wait_stable(cluster, probe, within_ms)
        first = take_sample(probe, cluster, ok, busy, probe.build_ms)
        if not failover or not ok or first.leader is None:
            return first, None
        cluster.wait_until(lambda v: v.settled, within_ms)
        cluster.advance(100.0)  # let the last pings and acks land, as measure.py settles
        leader = first.leader
        probe.arm(not_leader=leader)
        cluster.execute(f"crash {leader}")
        ok = wait_stable(cluster, probe, within_ms)
        return first, take_sample(probe, cluster, ok, None)


def wait_stable(cluster: Cluster, probe: StabilityProbe, within_ms: float) -> bool:
    if cluster.sim:
        return cluster.wait_for(probe.done.is_set, within_ms)
    return probe.done.wait(within_ms / 1000.0)


# --- real ZooKeeper ---------------------------------------------------------------------------


def zk_measure_path(option: str | None) -> Path:
    return Path(option or os.environ.get(ZK_MEASURE_ENV) or DEFAULT_ZK_MEASURE)


def run_zookeeper(
    sizes: Sequence[int],
    reps: int,
    script: Path,
    *,
    idle_threshold: float,
    idle_wait_s: float,
    log: Callable[[str], None],
) -> tuple[JSON | None, str | None]:
    """Measure real ZooKeeper with measure.py; (its summary per size, None) or (None, why not)."""
    if not ZK_JAR.exists():
        return None, f"ZooKeeper is not installed ({ZK_JAR} missing)"
    if not script.is_file():
        return None, f"no ZooKeeper measuring script at {script}"
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-zk-") as tmp:
        out = Path(tmp) / "zk.json"
        cmd = [
            sys.executable,
            str(script),
            "--sizes",
            ",".join(map(str, sizes)),
            "--reps",
            str(reps),
            "--out",
            str(out),
            "--idle-threshold",
            str(idle_threshold),
            "--idle-wait",
            str(idle_wait_s),
        ]
        log(f"ZooKeeper: {' '.join(cmd)}")
        tail: list[str] = []
        try:
            with subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:  # its progress: one line per trial
                    line = line.rstrip()
                    tail = [*tail[-2:], line]
                    if line.startswith("N="):
                        log(f"  zk {line}")
                returncode = proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"measure.py failed: {e}"
        if returncode != 0 or not out.exists():
            return None, f"measure.py exited {returncode}: {' | '.join(tail)}"
        try:
            data = orjson.loads(out.read_bytes())
        except orjson.JSONDecodeError as e:
            return None, f"measure.py wrote unreadable JSON: {e}"
    result: JSON = {"meta": data.get("meta", {}), "sizes": {}}
    for n in sizes:
        s = data.get("summary", {}).get(str(n))
        if s:
            result["sizes"][n] = s
    return result, None


def _zk_phase(zk: JSON | None, n: int, phase: str) -> JSON | None:
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


# --- election and failover --------------------------------------------------------------------


@dataclass
class Options:
    sizes: list[int] = field(default_factory=lambda: [3, 5, 7, 9, 51])
    reps: int = 5
    within_ms: float = 60_000.0
    idle_threshold: float = 0.25
    idle_wait_s: float = 20.0
    zk: bool = False
    zk_measure: str | None = None
    quiet: bool = False


def _log(opts: Options) -> Callable[[str], None]:
    def log(text: str) -> None:
        if not opts.quiet:
            print(text, file=sys.stderr, flush=True)

    return log


def _phase_result(n: int, samples: list[Sample], zk: JSON | None) -> JSON:
    ok = [s for s in samples if s.ok]
    took = summary([s.took_ms for s in ok])
    stable = summary([s.stable_ms for s in ok])
    res: JSON = {
        "n": n,
        "reps": len(samples),
        "ok": len(ok),
        "took_ms": took,
        "stable_ms": stable,
        "took_floor_ratio": ratio(took, FLOOR_MS),
        "stable_floor_ratio": ratio(stable, FLOOR_MS),
        "leaders": [s.leader for s in samples],
        "messages": {
            "sent": summary([s.sent for s in ok]),
            "sent_to_peers": summary([s.sent_to_peers for s in ok]),
            "delivered": summary([s.delivered for s in ok]),
            "dropped": summary([s.dropped for s in ok]),
        },
        "cpu_busy_before": summary([s.busy_before for s in samples]),
        "build_ms": summary([s.build_ms for s in samples]),
    }
    if zk is not None:
        res["zookeeper"] = zk
        res["took_zk_ratio"] = ratio(took, zk.get("took_max_ms"))
        res["stable_zk_ratio"] = ratio(stable, zk.get("wall_ms"))
    return res


def bench_elections(opts: Options, failover: bool) -> JSON:
    """`election` (and `failover`): fresh threaded clusters, per size, `reps` each."""
    log = _log(opts)
    zk: JSON | None = None
    zk_note: str | None = None
    if opts.zk:
        zk_sizes = [n for n in opts.sizes if n <= 9]
        if zk_sizes:
            zk, zk_note = run_zookeeper(
                zk_sizes,
                opts.reps,
                zk_measure_path(opts.zk_measure),
                idle_threshold=opts.idle_threshold,
                idle_wait_s=opts.idle_wait_s,
                log=log,
            )
            if zk_note:
                log(f"ZooKeeper: not measured: {zk_note}")
    elections: list[JSON] = []
    failovers: list[JSON] = []
    for n in opts.sizes:
        firsts: list[Sample] = []
        seconds: list[Sample] = []
        for rep in range(opts.reps):
            busy = wait_idle(opts.idle_threshold, opts.idle_wait_s)
            first, second = election_rep(n, within_ms=opts.within_ms, failover=failover, busy=busy)
            firsts.append(first)
            if second is not None:
                seconds.append(second)
            log(
                f"N={n} rep={rep} took={first.took_ms} stable={first.stable_ms} "
                f"leader={first.leader} sent={first.sent} dropped={first.dropped}"
                + (
                    f" | failover {second.stable_ms} took={second.took_ms}"
                    if second is not None
                    else ""
                )
                + (f" busy={busy}" if busy is not None else "")
            )
        elections.append(_phase_result(n, firsts, _zk_phase(zk, n, "initial")))
        if failover:
            failovers.append(_phase_result(n, seconds, _zk_phase(zk, n, "failover")))
    result: JSON = {
        "bench": "failover" if failover else "election",
        "runtime": "threaded",
        "transport": "memory",
        "trace": False,
        "floor_ms": FLOOR_MS,
        "machine": machine(),
        "zookeeper": None if zk is None else zk["meta"],
        "zookeeper_note": zk_note,
        "election": elections,
    }
    if failover:
        result["failover"] = failovers
    return result


def _print_phase(title: str, rows: list[JSON], time_label: str) -> None:
    print(title)
    print(
        f"  {'N':>3}  {'took median [min-max] ms':<28}{'x floor':>8}  "
        f"{time_label + ' median [min-max] ms':<32}{'sent(peers)':>12}{'deliv':>7}{'drop':>6}"
        f"  {'ZooKeeper took ms':<26}{'ours/ZK':>8}"
    )
    for r in rows:
        m = r["messages"]
        zk = r.get("zookeeper") or {}
        sent = m["sent_to_peers"]["median"] if m["sent_to_peers"] else None
        deliv = m["delivered"]["median"] if m["delivered"] else None
        drop = m["dropped"]["median"] if m["dropped"] else None
        print(
            f"  {r['n']:>3}  {fmt_span(r['took_ms']):<28}{fmt_num(r['took_floor_ratio']):>8}  "
            f"{fmt_span(r['stable_ms']):<32}{fmt_num(sent, '{:.0f}'):>12}"
            f"{fmt_num(deliv, '{:.0f}'):>7}{fmt_num(drop, '{:.0f}'):>6}"
            f"  {fmt_span(zk.get('took_max_ms')):<26}{fmt_num(r.get('took_zk_ratio')):>8}"
            + ("" if r["ok"] == r["reps"] else f"  ({r['reps'] - r['ok']} did not stabilise)")
        )
    builds = [f"N={r['n']} {r['build_ms']['median']:.0f} ms" for r in rows if r.get("build_ms")]
    if builds:
        print("  cluster built before start (thread pool included): " + ", ".join(builds))


def print_elections(result: JSON) -> None:
    print_machine(result["machine"])
    if result.get("zookeeper_note"):
        print(f"ZooKeeper not measured: {result['zookeeper_note']}")
    _print_phase(
        f"election: threaded, in-memory, no trace; floor {FLOOR_MS:.0f} ms (finalizeWait)",
        result["election"],
        "boot->stable",
    )
    if "failover" in result:
        print()
        _print_phase(
            f"failover: crash the leader of a settled cluster; target "
            f"{TARGETS['failover_ms']:.0f} ms crash->stable",
            result["failover"],
            "crash->stable",
        )
    print(
        "took = ZooKeeper's 'LEADER ELECTION TOOK' (lookForLeader start -> decision), max over"
        " nodes; stable = one leader established with a quorum, all following it"
    )


def print_machine(m: JSON) -> None:
    print(
        f"machine: {m['nproc']} CPU(s), {m['cpu']}, {m['implementation']} {m['python']},"
        f" load {m['loadavg']}"
    )


# --- the simulator ----------------------------------------------------------------------------


@contextlib.contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this process to one CPU for the duration (where the OS allows it)."""
    try:
        before = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        yield None
        return
    cpu = max(before)
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield None
        return
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def bench_sim(seconds: float, nodes: int = 5, seed0: int = 0) -> JSON:
    """Five-node elections (fresh cluster, start -> stable) in the simulator on one core."""
    count = 0
    events = 0
    build_cpu = run_cpu = close_cpu = 0.0
    virtual: list[float] = []
    failed = 0
    with one_core() as cpu:
        wall0 = time.perf_counter()
        cpu0 = time.process_time()
        while time.perf_counter() - wall0 < seconds or count == 0:
            c0 = time.process_time()
            cluster = Cluster(
                ClusterOptions(nodes=nodes, runtime="sim", seed=seed0 + count, record=False)
            )
            c1 = time.process_time()
            try:
                t0 = cluster.host.now()
                cluster.start()
                ok = cluster.wait_stable(60_000.0)
                virtual.append(cluster.host.now() - t0)
                failed += not ok
                events += cluster.recorder.seq
            finally:
                c2 = time.process_time()
                cluster.close()
            c3 = time.process_time()
            build_cpu += c1 - c0
            run_cpu += c2 - c1
            close_cpu += c3 - c2
            count += 1
        wall = time.perf_counter() - wall0
        cpu_total = time.process_time() - cpu0
    return {
        "bench": "sim",
        "machine": machine(),
        "pinned_cpu": cpu,
        "nodes": nodes,
        "elections": count,
        "failed": failed,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu_total, 3),
        "elections_per_s": round(count / wall, 1),
        "elections_per_cpu_s": round(count / cpu_total, 1) if cpu_total else None,
        "election_only_per_cpu_s": round(count / run_cpu, 1) if run_cpu else None,
        "cpu_ms_per_election": {
            "build": round(build_cpu / count * 1e3, 3),
            "start_to_stable": round(run_cpu / count * 1e3, 3),
            "close": round(close_cpu / count * 1e3, 3),
        },
        "events_per_election": round(events / count, 1),
        "events_per_cpu_s": round(events / run_cpu) if run_cpu else None,
        "virtual_ms": summary(virtual),
        "target_per_s": TARGETS["sim_elections_per_s"],
    }


def print_sim(r: JSON) -> None:
    print_machine(r["machine"])
    per = r["cpu_ms_per_election"]
    print(
        f"sim: {r['elections']} {r['nodes']}-node elections in {r['wall_s']} s on CPU"
        f" {r['pinned_cpu']} ({r['failed']} failed)"
    )
    print(
        f"  {r['elections_per_s']}/s wall, {r['elections_per_cpu_s']}/s per CPU second"
        f" (target {r['target_per_s']:.0f}/s); start->stable alone"
        f" {r['election_only_per_cpu_s']}/CPU s"
    )
    print(
        f"  CPU per election: build {per['build']} ms, start->stable {per['start_to_stable']}"
        f" ms, close {per['close']} ms; {r['events_per_election']} events each,"
        f" {r['events_per_cpu_s']} events/CPU s; virtual time {fmt_span(r['virtual_ms'])} ms"
    )


# --- verify -----------------------------------------------------------------------------------

_WORKLOAD = (
    "crash leader",
    "wait until stable within 10s",
    "write 3",
    "restart all",
    "wait until settled within 10s",
)


def make_trace(path: Path, events: int, nodes: int = 5, seed: int = 1) -> int:
    """A simulator trace of at least `events` events: elections, crashes, writes, restarts."""
    options = ClusterOptions(nodes=nodes, runtime="sim", seed=seed, trace=path, label="bench")
    with Cluster(options) as cluster:
        cluster.execute("start")
        cluster.execute("wait until settled within 10s")
        i = 0
        while cluster.recorder.seq < events:
            cluster.execute(_WORKLOAD[i % len(_WORKLOAD)])
            i += 1
        return cluster.recorder.seq + 1  # and the footer


def _prefix(src: Path, dst: Path, events: int) -> None:
    """The header and the first `events` events of a trace (no footer: a cut-off run)."""
    with open(src, "rb") as f, open(dst, "wb") as out:
        for i, line in enumerate(f):
            if i > events:
                break
            out.write(line)


def _verify_once(path: Path, trace_memory: bool) -> JSON:
    if trace_memory:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    result = verify(path)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = None
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "events": result.events,
        "ok": result.ok,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(result.events / wall) if wall else None,
        "events_per_cpu_s": round(result.events / cpu) if cpu else None,
        "peak_traced_bytes": peak,
    }


def bench_verify(
    events: int, trace: Path | None = None, log: Callable[[str], None] = print
) -> JSON:
    """Re-execution speed of `verify`, and its peak memory on a quarter and on all of it."""
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-verify-") as tmp:
        t0 = time.perf_counter()
        if trace is None:
            trace = Path(tmp) / "bench.jsonl"
            log(f"verify: generating a simulator trace of >= {events} events ...")
            made = make_trace(trace, events)
            log(f"verify: {made} events written in {time.perf_counter() - t0:.1f} s")
        total = sum(1 for _ in read_trace(trace))
        quarter = Path(tmp) / "quarter.jsonl"
        _prefix(trace, quarter, max(total // 4, 1))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timed = _verify_once(trace, trace_memory=False)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        mem_quarter = _verify_once(quarter, trace_memory=True)
        mem_full = _verify_once(trace, trace_memory=True)
        size = trace.stat().st_size
    growth = None
    if mem_quarter["peak_traced_bytes"] and mem_full["peak_traced_bytes"]:
        growth = round(mem_full["peak_traced_bytes"] / mem_quarter["peak_traced_bytes"], 2)
    return {
        "bench": "verify",
        "machine": machine(),
        "events": total,
        "trace_bytes": size,
        "timed": timed,
        "events_per_s": timed["events_per_s"],
        "target_events_per_s": TARGETS["verify_events_per_s"],
        "peak_traced_bytes_quarter": mem_quarter["peak_traced_bytes"],
        "peak_traced_bytes_full": mem_full["peak_traced_bytes"],
        "memory_growth_4x_events": growth,
        "maxrss_kib_before": rss0,
        "maxrss_kib_after": rss1,
    }


def print_verify(r: JSON) -> None:
    print_machine(r["machine"])
    t = r["timed"]
    print(
        f"verify: {r['events']} events ({r['trace_bytes'] / 1e6:.1f} MB) re-executed in"
        f" {t['wall_s']} s: {t['events_per_s']} events/s"
        f" ({t['events_per_cpu_s']} per CPU s; target {r['target_events_per_s']:.0f}/s),"
        f" {'OK' if t['ok'] else 'DIVERGED'}"
    )
    q, f = r["peak_traced_bytes_quarter"], r["peak_traced_bytes_full"]
    print(
        f"  peak Python memory (tracemalloc): {q / 1e6:.2f} MB for a quarter of the trace,"
        f" {f / 1e6:.2f} MB for all of it (x{r['memory_growth_4x_events']} for 4x the"
        f" events); max RSS {r['maxrss_kib_after'] / 1024:.0f} MiB"
    )


# --- recording --------------------------------------------------------------------------------


def bench_recording(opts: Options, sim_elections: int = 100) -> JSON:
    """The election with and without a trace file; the simulator's CPU with and without."""
    log = _log(opts)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zkfle-bench-rec-") as tmp:
        for n in opts.sizes:
            plain: list[Sample] = []
            traced: list[Sample] = []
            for rep in range(opts.reps):
                # Alternate the order so that drifting load hits both alike.
                for record in (rep % 2 == 0, rep % 2 == 1):
                    busy = wait_idle(opts.idle_threshold, opts.idle_wait_s)
                    trace = Path(tmp) / f"n{n}-{rep}.jsonl" if record else None
                    sample, _ = election_rep(n, trace=trace, within_ms=opts.within_ms, busy=busy)
                    (traced if record else plain).append(sample)
                    log(
                        f"N={n} rep={rep} {'trace' if record else 'no trace'}:"
                        f" took={sample.took_ms} stable={sample.stable_ms}"
                    )
                    if trace is not None:
                        trace.unlink(missing_ok=True)
            took_plain = summary([s.took_ms for s in plain if s.ok])
            took_traced = summary([s.took_ms for s in traced if s.ok])
            stable_plain = summary([s.stable_ms for s in plain if s.ok])
            stable_traced = summary([s.stable_ms for s in traced if s.ok])
            rows.append(
                {
                    "n": n,
                    "reps": opts.reps,
                    "took_ms": {"no_trace": took_plain, "trace": took_traced},
                    "stable_ms": {"no_trace": stable_plain, "trace": stable_traced},
                    "took_cost": cost(took_traced, took_plain),
                    "stable_cost": cost(stable_traced, stable_plain),
                }
            )
        sim = _sim_recording(Path(tmp), sim_elections)
    return {
        "bench": "recording",
        "machine": machine(),
        "threaded": rows,
        "sim": sim,
        "target_cost": TARGETS["recording_cost"],
    }


def cost(with_: JSON | None, without: JSON | None) -> float | None:
    r = ratio(with_, without)
    return None if r is None else round(r - 1.0, 3)


def _sim_recording(tmp: Path, elections: int) -> JSON:
    """CPU time of the same simulator elections with and without a trace file."""

    def run(record: bool) -> float:
        c0 = time.process_time()
        for i in range(elections):
            options = ClusterOptions(
                nodes=5,
                runtime="sim",
                seed=i,
                record=record,
                trace=tmp / "sim.jsonl" if record else None,
            )
            with Cluster(options) as cluster:
                cluster.start()
                cluster.wait_stable(60_000.0)
        return time.process_time() - c0

    with one_core():
        run(False)  # warm up
        plain = min(run(False) for _ in range(3))
        traced = min(run(True) for _ in range(3))
    return {
        "elections": elections,
        "cpu_s_no_trace": round(plain, 3),
        "cpu_s_trace": round(traced, 3),
        "cost": round(traced / plain - 1.0, 3) if plain else None,
    }


def print_recording(r: JSON) -> None:
    print_machine(r["machine"])
    print(f"recording: election with vs without a trace file (target < {r['target_cost']:.0%})")
    print(
        f"  {'N':>3}  {'took no trace':<24}{'took trace':<24}{'cost':>7}    "
        f"{'stable no trace':<24}{'stable trace':<24}{'cost':>7}"
    )
    for row in r["threaded"]:
        took, stable = row["took_ms"], row["stable_ms"]
        print(
            f"  {row['n']:>3}  {fmt_span(took['no_trace']):<24}{fmt_span(took['trace']):<24}"
            f"{fmt_num(row['took_cost'], '{:+.1%}'):>7}    {fmt_span(stable['no_trace']):<24}"
            f"{fmt_span(stable['trace']):<24}{fmt_num(row['stable_cost'], '{:+.1%}'):>7}"
        )
    s = r["sim"]
    print(
        f"  simulator, {s['elections']} five-node elections: {s['cpu_s_no_trace']} CPU s"
        f" without, {s['cpu_s_trace']} with a trace: {fmt_num(s['cost'], '{:+.1%}')}"
    )


# --- the command line -------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be like 3,5,7: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`zkfle bench MODE ...` (call with the result of `parser.add_subparsers()`)."""
    bench: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure the performance targets (DESIGN §6)",
        description=(__doc__ or "").split("\n\n")[0],
    )
    modes = bench.add_subparsers(dest="bench_mode", metavar="MODE", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    def clusters(p: argparse.ArgumentParser, sizes: str, reps: int) -> None:
        p.add_argument("--sizes", type=_sizes, default=_sizes(sizes), metavar="N,N,...")
        p.add_argument("--reps", type=int, default=reps, metavar="R")
        p.add_argument(
            "--within",
            type=float,
            default=60_000.0,
            metavar="MS",
            help="give up on an election after this long",
        )
        p.add_argument(
            "--idle-threshold",
            type=float,
            default=0.25,
            metavar="F",
            help="wait until at most this fraction of the CPUs is busy",
        )
        p.add_argument(
            "--idle-wait",
            type=float,
            default=20.0,
            metavar="S",
            help="... but at most this long before each repetition (0: never)",
        )

    def zk(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--zk", action="store_true", help="also measure real ZooKeeper 3.8 in the same run"
        )
        p.add_argument(
            "--zk-measure",
            metavar="PATH",
            help=f"ZooKeeper's measuring script (env {ZK_MEASURE_ENV}; default "
            "../shared/tools/zk/measure.py next to the repository)",
        )

    p = modes.add_parser("election", help="threaded in-memory election time per cluster size")
    clusters(p, "3,5,7,9,51", 5)
    zk(p)
    common(p)
    p = modes.add_parser("failover", help="crash the leader: time until a new one is stable")
    clusters(p, "3,5,7,9", 5)
    zk(p)
    common(p)
    p = modes.add_parser("zk", help="election and failover, side by side with real ZooKeeper")
    clusters(p, "3,5,7,9", 5)
    p.add_argument("--zk-measure", metavar="PATH", help="ZooKeeper's measuring script")
    common(p)
    p = modes.add_parser("sim", help="five-node simulator elections per second on one core")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--nodes", type=int, default=5)
    common(p)
    p = modes.add_parser("verify", help="re-execution speed and memory of `zkfle verify`")
    p.add_argument("--events", type=int, default=1_000_000, help="size of the generated trace")
    p.add_argument("--trace", type=Path, help="verify this trace instead of generating one")
    common(p)
    p = modes.add_parser("recording", help="election time with and without a trace file")
    clusters(p, "9", 5)
    p.add_argument("--sim-elections", type=int, default=100, metavar="K")
    common(p)
    p = modes.add_parser("proxy", help="what the zkproxy between real ZooKeeper servers adds")
    p.add_argument("--frames", type=int, default=4000, help="frames timed per plane")
    p.add_argument("--reps", type=int, default=5, metavar="R", help="ensembles per variant")
    p.add_argument("--nodes", type=int, default=3, help="servers per ensemble")
    p.add_argument("--tick", type=int, default=2000, metavar="MS", help="tickTime")
    common(p)
    p = modes.add_parser("import", help="zkfle import of 1 GiB of server logs, zkfle check")
    p.add_argument("--gib", type=float, default=1.0, help="how much log to generate")
    p.add_argument("--logs", type=Path, help="import these logs instead of generating them")
    common(p)
    p = modes.add_parser("console", help="console frames/s under a message storm")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--nodes", type=int, default=9)
    p.add_argument("--reps", type=int, default=5, metavar="R")
    common(p)
    return bench


def _options(args: argparse.Namespace, zk: bool) -> Options:
    return Options(
        sizes=args.sizes,
        reps=max(args.reps, 1),
        within_ms=args.within,
        idle_threshold=args.idle_threshold,
        idle_wait_s=args.idle_wait,
        zk=zk,
        zk_measure=getattr(args, "zk_measure", None),
        quiet=args.quiet or False,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one bench mode; 0 when it ran (targets missed are reported, not failures),
    1 when a measurement failed (a cluster never became stable, a trace diverged)."""
    mode = args.bench_mode
    result: JSON
    printer: Callable[[JSON], None]
    if mode in ("election", "failover", "zk"):
        opts = _options(args, zk=mode == "zk" or getattr(args, "zk", False))
        result = bench_elections(opts, failover=mode != "election")
        printer = print_elections
        rows = result["election"] + result.get("failover", [])
        failed = any(r["ok"] < r["reps"] for r in rows)
    elif mode == "sim":
        result = bench_sim(args.seconds, nodes=args.nodes)
        printer = print_sim
        failed = result["failed"] > 0
    elif mode == "verify":
        log = _log(Options(quiet=args.quiet or args.json))
        result = bench_verify(args.events, args.trace, log)
        printer = print_verify
        failed = not result["timed"]["ok"]
    elif mode == "recording":
        result = bench_recording(_options(args, zk=False), args.sim_elections)
        printer = print_recording
        failed = False
    elif mode == "proxy":
        from engine.zkproxybench import bench_proxy, print_proxy  # built on this module

        log = _log(Options(quiet=args.quiet or args.json))
        result = bench_proxy(args.frames, args.reps, args.nodes, args.tick, log)
        printer = print_proxy
        failed = result["failed"]
    elif mode == "import":
        from engine.zkbench import bench_import, print_import

        result = bench_import(args.gib, args.logs, _log(Options(quiet=args.quiet or args.json)))
        printer = print_import
        failed = False
    else:  # argparse refuses other modes; `console` is console.bench's
        print(f"zkfle bench: unknown mode {mode!r}", file=sys.stderr)
        return EXIT_USAGE
    return report(args, result, printer, failed)


def report(
    args: argparse.Namespace, result: JSON, printer: Callable[[JSON], None], failed: bool
) -> int:
    """Print a bench result (JSON with --json) and give the exit status."""
    if args.json:
        sys.stdout.write(orjson.dumps(result, default=_default).decode() + "\n")
    else:
        printer(result)
    return EXIT_FAILED if failed else EXIT_OK


def _default(value: object) -> object:
    if isinstance(value, Sample):
        return value.__dict__
    raise TypeError(type(value).__name__)


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.bench MODE ...` until console/cli.py wires `zkfle bench`."""
    parser = argparse.ArgumentParser(prog="zkfle")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    return cmd_bench(parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "FLOOR_MS",
    "Options",
    "Sample",
    "StabilityProbe",
    "add_bench_parser",
    "bench_elections",
    "bench_recording",
    "bench_sim",
    "bench_verify",
    "cmd_bench",
    "election_rep",
    "machine",
    "make_trace",
    "run_zookeeper",
]
