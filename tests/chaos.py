"""A reusable nemesis for cluster-level chaos runs (Jepsen-style), and the checks it makes.

A chaos run is: build a cluster (simulator or threads), start it, run a random script of
faults and writes generated from a seed, then `reset` (heal every link fault, resume paused
nodes, restart crashed ones), demand liveness (`wait until stable within <bound>`) and
commit one write. Every run is checked three ways:

* the online invariant checker's safety invariants (`cluster.violations`:
  AtMostOneLeaderPerEpoch, LeaderHasQuorum, LogicalClockMonotonic, ProposalMonotonic,
  LeaderEpochIncreases); its liveness invariant ElectedWithin is kept apart (see below);
* `CrossNodeChecker`, a recorder listener that looks across nodes while the run goes:
  - CommittedWritesSurvive (Zab's leader completeness): a zxid committed in epoch E is
    <= the last zxid of every node that later establishes an epoch E' > E, and no leader
    of E commits a zxid above that after E' was established;
  - OneLeaderPerEpochAtATime: no two nodes LEADING and established in one epoch at once;
  - ZOOKEEPER-1732: a synced node's `currentVote.peerEpoch` equals its established epoch
    (QuorumPeer.updateElectionVote), and SyncedEpoch: a learner that just synced
    (UPTODATE) is in the epoch its leader established;
  - CommitOrder: a leader commits its proposals in zxid order without gaps (ZK:
    Leader.tryToCommit), and LogNeverRegresses: a synced node's last zxid never goes back
    while it stays synced in one epoch (ZK's txn log is append-only after sync);
* liveness after `reset`: the cluster is stable within `liveness_bound(cluster)`, the bound
  of the online checker's ElectedWithin (`engine.trace.invariants.liveness_bound_ms`): B + k × W,
  B = 2 x (initLimit·tickTime + 5·finalizeWait) + 2 s (8 s for the generated clusters'
  tick of 200 ms, 5 s for tick 50 ms), k the nodes LOOKING when the faults ended and W
  the longest notification back-off (`notTimeout`, up to 60 s) they had reached - each
  waits up to W before it speaks again, and once more after every LOOKING notification it
  takes (reference §2, §11); and a `write 1` then commits (once more after a new wait if
  a node left its role at the instant the cluster became stable: `WRITE_ATTEMPTS`). In
  simulator runs an ElectedWithin violation is a failure too; threaded runs get twice the bound for
  scheduling and keep the checker's verdicts apart (`RunResult.elected_within`).

Known engine bugs (`KNOWN_BUGS`) would make most link-fault runs fail. A failure is put
down to a known bug only when the run shows that bug's precondition (e.g. a Zab packet lost
on a live connection) and the failure is of a kind the bug causes; every other failure
fails the test. Each known bug has a minimal strict xfail in test_chaos.py.

Scripts are plain command-language lines, so a failing run prints a script that reproduces
it exactly in the simulator (same seed, same lines), and
`python -m tests.chaos TOPOLOGY SEED [--mix M] [--steps N]` regenerates and replays one,
printing every command with its result.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.vote import ServerState, parse_zxid, zxid_epoch
from engine.explore.run import verify_problem
from engine.explore.schedule import MIXES, Mix, Nemesis
from engine.trace.invariants import INVARIANTS, liveness_bound_ms

SAFETY_INVARIANTS = tuple(i for i in INVARIANTS if i != "ElectedWithin")

# --- topologies ---------------------------------------------------------------------------------

HIERARCHICAL_CFG = """\
tickTime=200
initLimit=10
syncLimit=5
{servers}
group.1=1:2:3
group.2=4:5:6
group.3=7:8:9
weight.1=1
weight.2=1
weight.3=1
weight.4=2
weight.5=1
weight.6=1
weight.7=1
weight.8=1
weight.9=0
"""
"""Three groups of three; server 4 weighs 2 and 9 weighs 0 (never elected); 10 observes."""


def hierarchical_cfg() -> str:
    lines = [f"server.{s}=127.0.0.1:{27000 + s}:{28000 + s}" for s in range(1, 10)]
    lines.append("server.10=127.0.0.1:27010:28010:observer")
    return HIERARCHICAL_CFG.format(servers="\n".join(lines))


@dataclass(frozen=True)
class Topology:
    """The shape of a chaos cluster."""

    name: str
    nodes: int = 5
    observers: int = 0
    cfg: str | None = None
    """zoo.cfg text (replaces nodes/observers); written to a file for the run."""

    @property
    def sids(self) -> list[int]:
        if self.cfg is not None:
            return sorted(
                int(line.split("=")[0].split(".")[1])
                for line in self.cfg.splitlines()
                if line.startswith("server.")
            )
        return list(range(1, self.nodes + self.observers + 1))


TOPOLOGIES: dict[str, Topology] = {
    t.name: t
    for t in (
        Topology("three", 3),
        Topology("four", 4),
        Topology("five", 5),
        Topology("seven", 7),
        Topology("three+2obs", 3, 2),
        Topology("five+1obs", 5, 1),
        Topology("hier9+1obs", cfg=hierarchical_cfg()),
        Topology("six+3obs", 6, 3),
        Topology("nine", 9),
        Topology("fifteen", 15),
    )
}


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from names and numbers (never `hash()`)."""
    text = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") & 0x7FFFFFFF


# --- cross-node checks -------------------------------------------------------------------------


@dataclass
class _NodeState:
    alive: bool = False
    state: str | None = None
    zab: str = "ELECTION"
    current_epoch: int = 0
    last_zxid: int = 0
    vote_leader: int | None = None
    vote_peer_epoch: int | None = None
    synced_zxid: tuple[int, int] | None = None
    """(epoch, last zxid) while synced (zab BROADCAST), for LogNeverRegresses."""


@dataclass
class CrossNodeChecker:
    """Recorder listener: safety properties that need several nodes' states at once, and
    evidence of the preconditions of the known engine bugs (KNOWN_BUGS)."""

    problems: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    """Known bug key -> where its precondition occurred (the first few places)."""
    nodes: dict[int, _NodeState] = field(default_factory=dict)
    committed: dict[int, tuple[int, int]] = field(default_factory=dict)
    """zxid -> (leader sid, seq) of every commit."""
    established: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(epoch, leader sid, last zxid at establishment, seq) of every established leadership."""
    last_commit: dict[tuple[int, int], int] = field(default_factory=dict)
    """(leader sid, epoch) -> counter of its last commit, for CommitOrder."""
    outstanding: dict[int, set[int]] = field(default_factory=dict)
    """leader sid -> zxids it proposed in this life and has not committed."""
    _boots: dict[int, int] = field(default_factory=dict)
    _learner_of: dict[int, tuple[int, int]] = field(default_factory=dict)
    """learner sid -> (leader sid, the leader's boot count) of its last quorum connection."""
    _zsent: dict[tuple[int, int], int] = field(default_factory=dict)
    _zindex: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    _zdelivered: dict[tuple[int, int], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            kind = event.get("kind")
            if kind == "boot":
                sid = int(event["node"])
                self.nodes[sid] = _NodeState(alive=True, state="LOOKING")
                self._boots[sid] = self._boots.get(sid, 0) + 1
            elif kind == "stop":
                sid = int(event["node"])
                self.nodes[sid] = _NodeState()
                self.outstanding.pop(sid, None)
                for key in [k for k in self.last_commit if k[0] == sid]:
                    del self.last_commit[key]  # a new life leads a new epoch
            elif kind == "conn" and event.get("plane") == "quorum" and event.get("up"):
                # The leader accepted a learner: remember which life of the leader it is.
                leader = int(event["node"])
                self._learner_of[int(event["peer"])] = (leader, self._boots.get(leader, 0))
            elif kind == "step":
                self._step(event)
            elif kind == "state":
                self._state(event)
            elif kind in ("zsend", "zdeliver", "drop"):
                self._zab_stream(kind, event)

    def _problem(self, seq: int, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(f"seq {seq}: {text}")

    def _evidence(self, bug: str, seq: int, text: str) -> None:
        if bug not in {b.key for b in KNOWN_BUGS}:
            # A fixed bug's precondition showing up again is a regression, not evidence.
            self.problems.append(f"{bug}: seq {seq}: {text}")
            return
        found = self.evidence.setdefault(bug, [])
        if len(found) < 5:
            found.append(f"seq {seq}: {text}")

    # --- Zab: commits, syncs and the learner<->leader streams ----------------------------------

    def _step(self, event: Mapping[str, Any]) -> None:
        sid, seq = int(event["node"]), int(event["seq"])
        inp, output = event.get("input") or {}, event.get("output") or {}
        if not self.nodes.get(sid, _NodeState()).alive:
            self._evidence(BOOT_RACE.key, seq, f"step for n{sid} before its boot event")
        persist = output.get("persist") or {}
        if inp.get("type") == "write" and "last_zxid" in persist:
            last = parse_zxid(persist["last_zxid"])
            count = int(inp.get("count", 1))
            self.outstanding.setdefault(sid, set()).update(range(last - count + 1, last + 1))
        for z in output.get("committed", ()):
            self._commit(sid, parse_zxid(z), seq)

    def _commit(self, leader: int, zxid: int, seq: int) -> None:
        self.committed.setdefault(zxid, (leader, seq))
        self.outstanding.get(leader, set()).discard(zxid)
        epoch = zxid_epoch(zxid)
        counter = zxid & 0xFFFFFFFF
        last = self.last_commit.get((leader, epoch), 0)
        if counter != last + 1:
            self._problem(
                seq,
                f"CommitOrder: n{leader} committed {zxid:#x} after "
                f"{(epoch << 32) | last:#x} (ZK's Leader.tryToCommit commits in zxid order)",
            )
        self.last_commit[(leader, epoch)] = max(last, counter)
        for e2, sid2, z2, seq2 in self.established:
            if e2 > epoch and zxid > z2:
                self._problem(
                    seq,
                    f"CommittedWritesSurvive: n{leader} committed {zxid:#x} (epoch {epoch}) after "
                    f"n{sid2} had established epoch {e2} at seq {seq2} with last zxid {z2:#x}",
                )

    def _zab_stream(self, kind: str, event: Mapping[str, Any]) -> None:
        """Follow each directed learner<->leader link as the TCP stream it is in ZooKeeper:
        a packet arrives once and in order, or the connection breaks."""
        msg = str(event.get("msg", ""))
        if not msg.startswith("p"):
            return
        seq = int(event["seq"])
        if kind == "zsend":
            link = (int(event["node"]), int(event["to"]))
            index = self._zsent[link] = self._zsent.get(link, 0) + 1
            self._zindex[msg] = (*link, index)
        elif kind == "drop":
            # `drop` by the user breaks the stream (both ends see EOF): not a lost packet.
            if event.get("reason") not in ("crash", "closed", "user"):
                text = f"{msg} dropped ({event.get('reason')}) on a live connection"
                self._evidence(ZAB_STREAM.key, seq, text)
        elif msg in self._zindex:
            src, dst, index = self._zindex[msg]
            last = self._zdelivered.get((src, dst), 0)
            if index <= last:
                what = "again" if index == last else "out of order"
                self._evidence(ZAB_STREAM.key, seq, f"{msg} n{src}->n{dst} delivered {what}")
            self._zdelivered[(src, dst)] = max(last, index)

    # --- states ----------------------------------------------------------------------------

    def _state(self, event: Mapping[str, Any]) -> None:
        sid, seq = int(event["node"]), int(event["seq"])
        node = self.nodes.setdefault(sid, _NodeState(alive=True))
        was_established_leader = node.state == "LEADING" and node.zab == "BROADCAST"
        node.state = str(event["state"])
        node.zab = str(event.get("zab", node.zab))
        node.current_epoch = int(event.get("current_epoch", node.current_epoch))
        node.last_zxid = parse_zxid(str(event.get("last_zxid", hex(node.last_zxid))))
        vote = event.get("vote") or {}
        node.vote_leader = vote.get("leader")
        node.vote_peer_epoch = vote.get("peer_epoch")
        synced = node.zab == "BROADCAST" and node.state != "LOOKING"
        before = node.synced_zxid
        node.synced_zxid = (node.current_epoch, node.last_zxid) if synced else None
        regressed = (
            before is not None and before[0] == node.current_epoch and (node.last_zxid < before[1])
        )
        if synced and before is not None and regressed:
            self._problem(
                seq,
                f"LogNeverRegresses: n{sid} ({node.state}, synced in epoch "
                f"{node.current_epoch}) went back from last zxid {before[1]:#x} to "
                f"{node.last_zxid:#x}",
            )
        if synced and node.vote_peer_epoch != node.current_epoch:
            self._problem(
                seq,
                f"ZOOKEEPER-1732: n{sid} is {node.state} and synced in epoch "
                f"{node.current_epoch} but reports currentVote.peerEpoch {node.vote_peer_epoch}",
            )
        if synced and before is None and node.state in ("FOLLOWING", "OBSERVING"):
            self._just_synced(sid, node, seq)
        if node.state == "LEADING" and node.zab == "BROADCAST" and not was_established_leader:
            self._established(sid, node, seq)

    def _just_synced(self, sid: int, node: _NodeState, seq: int) -> None:
        """UPTODATE: the leader, in the life this learner connected to, leads this epoch."""
        lid = node.vote_leader
        if lid is None:
            return
        leader = self.nodes.get(lid)
        if (
            leader is not None
            and self._learner_of.get(sid) == (lid, self._boots.get(lid, 0))
            and leader.alive
            and leader.state == "LEADING"
            and leader.zab == "BROADCAST"
            and leader.current_epoch != node.current_epoch
        ):
            self._problem(
                seq,
                f"SyncedEpoch: n{sid} synced with n{lid} in epoch {node.current_epoch} but its "
                f"leader established epoch {leader.current_epoch}",
            )

    def _established(self, sid: int, node: _NodeState, seq: int) -> None:
        epoch = node.current_epoch
        for other_sid, other in sorted(self.nodes.items()):
            if (
                other_sid != sid
                and other.alive
                and other.state == "LEADING"
                and other.zab == "BROADCAST"
                and other.current_epoch == epoch
            ):
                self._problem(
                    seq,
                    f"OneLeaderPerEpochAtATime: n{sid} and n{other_sid} both lead epoch {epoch}",
                )
        lost = sorted(z for z in self.committed if zxid_epoch(z) < epoch and z > node.last_zxid)
        if lost:
            leader, at = self.committed[lost[0]]
            self._problem(
                seq,
                f"CommittedWritesSurvive: n{sid} established epoch {epoch} with last zxid "
                f"{node.last_zxid:#x}, missing {len(lost)} committed zxid(s) such as "
                f"{lost[0]:#x} (committed by n{leader} at seq {at})",
            )
        self.established.append((epoch, sid, node.last_zxid, seq))


# --- known engine bugs -------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    """An engine bug these tests found (each has a minimal strict xfail in test_chaos.py).
    A run's failure containing one of `signatures` is put down to the bug only if the run
    shows the bug's precondition (`CrossNodeChecker.evidence[key]`)."""

    key: str
    reason: str
    signatures: tuple[str, ...]


ZAB_STREAM = KnownBug(
    "zab-stream",
    "engine/runtime/network.py _transmit/_schedule_arrival apply per-message link faults (loss, "
    "block, dup, delay jitter, reorder, drop of a held packet) to the learner<->leader connection "
    "while it stays up, so Zab packets are lost, duplicated or reordered on a live connection - "
    "impossible on ZooKeeper's TCP stream, where a packet arrives once and in order or the "
    "connection breaks (followLeader ends). engine/core/peer/quorumpeer.py does not cope: "
    "QuorumPeer._learner_packet logs any PROPOSAL by setting last_zxid to its zxid (an older one "
    "rolls the log back), _process_ack commits out of zxid order, a lost UPTODATE leaves a pinged "
    "follower never synced (stale peerEpoch, ZOOKEEPER-1732's symptom), and a committed write is "
    "lost at the next election",
    (
        "CommitOrder:",
        "LogNeverRegresses:",
        "CommittedWritesSurvive:",
        "ZOOKEEPER-1732:",
        "SyncedEpoch:",
        "liveness:",
    ),
)

OUTSTANDING_PROPOSALS = KnownBug(
    "outstanding-proposals",
    "engine/core/peer/quorumpeer.py: a learner that syncs while its leader has outstanding "
    "proposals gets them only inside the SNAP (QuorumPeer._sync_learner) and never ACKs them - "
    "ZK's Leader.startForwarding queues every outstanding proposal to it and it ACKs each - so "
    "they never commit although a quorum logged them, and QuorumPeer._process_ack commits later "
    "zxids first (ZK's Leader.tryToCommit waits while zxid-1 is outstanding)",
    ("CommitOrder:", "a write after the cluster became stable did not commit"),
)

BOOT_RACE = KnownBug(
    "boot-race",
    "engine/runtime/host.py Host.boot_many (threaded runtime): phase 1 marks each node alive and "
    "starts its threads, then releases its lock; its `boot` event and LookForLeader step "
    "come in phase 2, after the other nodes' phase 1. Meanwhile peers connect and the node's "
    "WorkerReceiver steps the new core, so `step` events precede the node's `boot` in the "
    "trace and `zkfle verify` rejects it (DESIGN §3.5: threaded traces replay exactly)",
    ("replay: unreadable trace",),
)

KNOWN_BUGS: tuple[KnownBug, ...] = ()
"""Open bugs (none now). ZAB_STREAM, OUTSTANDING_PROPOSALS and BOOT_RACE are fixed: their
preconditions are checked as problems, so they cannot come back unnoticed."""


# --- a run -------------------------------------------------------------------------------------


def liveness_bound(cluster: Cluster) -> float:
    """How long a healed cluster may take to become stable: ElectedWithin's bound for the
    nodes LOOKING now and the longest notification back-off they reached."""
    t = cluster.timing
    looking, backoff = 0, 0.0
    for node in cluster.host.nodes.values():
        with node.lock:
            core = node.core
            if node.alive and core is not None and core.peer_state == ServerState.LOOKING:
                looking += 1
                if core.election.in_election:
                    backoff = max(backoff, float(core.election.not_timeout))
    timing = {
        "tick_time_ms": t.tick_time_ms,
        "init_limit": t.init_limit,
        "finalize_wait_ms": t.election.finalize_wait_ms,
    }
    return liveness_bound_ms(timing, backoff, looking)


WRITE_ATTEMPTS = 2
"""The cluster is stable at an instant, and timeouts due at that instant may end it: a
follower whose leader was paused for just under syncLimit ticks times out before the
leader's next packet arrives (ZK: Learner's socket read timeout, as ZooKeeper itself does),
so the write issued at that instant fails. Liveness is that the cluster becomes stable
again within the bound and a write then commits; a write lost while every node kept its
role fails the run, and so does stability lost twice."""


@dataclass
class RunResult:
    """Everything one chaos run checked, and how to reproduce it."""

    topology: Topology
    seed: int
    runtime: str
    script: list[str]
    repro: str = ""
    executed: list[tuple[str, bool, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Safety violations from the online checker."""
    elected_within: list[str] = field(default_factory=list)
    """ElectedWithin violations from the online checker (failures in simulator runs)."""
    cross: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    stable: bool = False
    write_ok: bool = False
    bound_ms: float = 0.0
    threads_left: list[str] = field(default_factory=list)
    replay: str | None = None
    """Why `zkfle verify` of the run's trace failed (None: it passed, or was not asked)."""
    error: str | None = None
    virtual_ms: float = 0.0
    trace: str | None = None

    @property
    def all_failures(self) -> list[str]:
        out = [f"online invariant: {v}" for v in self.violations]
        if self.runtime == "sim":  # virtual time: the checker's bound is exact
            out += [f"online invariant: {v}" for v in self.elected_within]
        out += [f"cross-node: {p}" for p in self.cross]
        if not self.stable:
            out.append(f"liveness: not stable within {self.bound_ms:.0f} ms after reset")
        elif not self.write_ok:
            out.append("liveness: a write after the cluster became stable did not commit")
        if self.threads_left:
            out.append(f"threads left after close: {self.threads_left}")
        if self.replay:
            out.append(f"replay: {self.replay}")
        if self.error:
            out.append(f"error: {self.error}")
        return out

    @property
    def known(self) -> list[tuple[KnownBug, str]]:
        """Failures put down to a known bug whose precondition occurred in this run."""
        out = []
        for failure in self.all_failures:
            for bug in KNOWN_BUGS:
                if self.evidence.get(bug.key) and any(s in failure for s in bug.signatures):
                    out.append((bug, failure))
                    break
        return out

    @property
    def failures(self) -> list[str]:
        """Failures no known bug explains."""
        known = {f for _, f in self.known}
        return [f for f in self.all_failures if f not in known]

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        lines = [
            f"chaos run FAILED: topology={self.topology.name} runtime={self.runtime} "
            f"seed={self.seed}",
            *(f"  {f}" for f in self.failures),
            *(f"  (known bug {bug.key}) {f}" for bug, f in self.known),
            *(f"  evidence of {k}: {v[0]}" for k, v in sorted(self.evidence.items()) if v),
            f"script (reproduce: {self.repro or 'run_script with these lines'}):",
        ]
        for text, ok, result in self.executed:
            first = result.splitlines()[0] if result else ""
            lines.append(f"  {text:<48} # {'ok' if ok else 'FAILED'}: {first}")
        if self.trace:
            lines.append(f"trace: {self.trace}")
        return "\n".join(lines)


def make_cluster(
    topology: Topology,
    seed: int,
    runtime: str = "sim",
    workdir: Path | None = None,
    tick_ms: int | None = None,
    trace: Path | None = None,
) -> Cluster:
    config = None
    if topology.cfg is not None:
        if workdir is None:
            raise ValueError(f"topology {topology.name} needs a directory for its zoo.cfg")
        config = workdir / f"{topology.name}.cfg"
        config.write_text(topology.cfg)
    return Cluster(
        ClusterOptions(
            nodes=topology.nodes,
            observers=topology.observers,
            config=config,
            runtime=runtime,
            seed=seed,
            tick_ms=tick_ms,
            data_dir=None if workdir is None else workdir / f"data-{runtime}-{seed}",
            record=trace is not None,
            trace=trace,
            label=f"chaos-{topology.name}-{seed}",
        )
    )


def run_script(
    topology: Topology,
    seed: int,
    script: Sequence[str],
    runtime: str = "sim",
    workdir: Path | None = None,
    tick_ms: int | None = None,
    trace: Path | None = None,
    on_line: Callable[[str, bool, str], None] | None = None,
    bound_factor: float = 1.0,
    verify_replay: bool = False,
) -> RunResult:
    """Run `script` on a fresh cluster, then `reset`, the liveness wait (the bound times
    `bound_factor`) and one write (again after a new wait if a node left its role meanwhile:
    `WRITE_ATTEMPTS`); with `verify_replay`, record the trace (in `trace`, or
    in `workdir`) and re-execute it as `zkfle verify` does (DESIGN §3.5: every trace of any
    runtime replays exactly). Returns everything checked; never raises for a check."""
    result = RunResult(topology, seed, runtime, list(script))
    if verify_replay and trace is None:
        if workdir is None:
            raise ValueError("verify_replay needs a trace path or a workdir")
        trace = workdir / f"trace-{topology.name}-{runtime}-{seed}.jsonl"
    cluster = make_cluster(topology, seed, runtime, workdir, tick_ms, trace)
    checker = CrossNodeChecker()
    cluster.recorder.listeners.append(checker)

    def do(text: str) -> bool:
        r = cluster.execute(text)
        result.executed.append((text, r.ok, r.text))
        if on_line is not None:
            on_line(text, r.ok, r.text)
        return r.ok

    left: list[int] = []  # seqs at which a node went LOOKING

    def leaving(event: Mapping[str, Any]) -> None:
        if event["kind"] == "state" and event["state"] == "LOOKING":
            left.append(event["seq"])

    cluster.recorder.listeners.append(leaving)
    try:
        for text in script:
            do(text)
        do("reset")
        for _ in range(WRITE_ATTEMPTS):
            result.bound_ms = liveness_bound(cluster) * bound_factor
            result.stable = do(f"wait until stable within {int(result.bound_ms) + 1}ms")
            if not result.stable:
                break
            lost = len(left)
            result.write_ok = do("write 1")
            if result.write_ok or len(left) == lost:
                break  # a write lost while every node kept its role is a failure
    except Exception as e:  # an engine crash is a finding: report it with the script
        result.error = f"{type(e).__name__}: {e}"
    finally:
        result.virtual_ms = cluster.host.now()
        try:
            cluster.close()
        except Exception as e:
            result.error = result.error or f"close: {type(e).__name__}: {e}"
        threads = getattr(cluster.host, "threads", None)
        if callable(threads):
            result.threads_left = [t.name for t in threads()]
    result.violations = [str(v) for v in cluster.violations if v.invariant in SAFETY_INVARIANTS]
    result.elected_within = [
        str(v) for v in cluster.violations if v.invariant not in SAFETY_INVARIANTS
    ]
    result.cross = list(checker.problems)
    result.evidence = {k: list(v) for k, v in checker.evidence.items()}
    result.trace = str(cluster.trace_path) if cluster.trace_path else None
    if verify_replay and trace is not None and result.error is None:
        result.replay = verify_problem(trace)
    return result


def chaos_script(topology: Topology, seed: int, mix: Mix, steps: int) -> list[str]:
    return Nemesis(topology.sids, random.Random(f"nemesis:{seed}"), mix).script(steps)


def chaos_run(
    topology: Topology,
    index: int,
    mix_name: str = "default",
    steps: int = 12,
    runtime: str = "sim",
    workdir: Path | None = None,
    verify_replay: bool = False,
) -> RunResult:
    """Run number `index` of (topology, mix, steps, runtime): the seed derives from them, and
    the script and the cluster's random choices from the seed. The threaded runtime ticks
    every 50 ms, its durations are scaled by 1/4, and its liveness bound is doubled (the
    wall clock of a loaded machine)."""
    threaded = runtime != "sim"
    seed = derive_seed(mix_name, topology.name, runtime, steps, index)
    mix = replace(MIXES[mix_name], scale=0.25 if threaded else 1.0)
    result = run_script(
        topology,
        seed,
        chaos_script(topology, seed, mix, steps),
        runtime,
        workdir,
        tick_ms=50 if threaded else None,
        bound_factor=2.0 if threaded else 1.0,
        verify_replay=verify_replay,
    )
    result.repro = (
        f"python -m tests.chaos {topology.name} {seed} --mix {mix_name} --steps {steps}"
        + (" --threaded" if threaded else "")
    )
    return result


def main(argv: list[str]) -> int:
    """`python -m tests.chaos TOPOLOGY SEED [--mix M] [--steps N] [--threaded] [--trace F]`:
    regenerate one run's script from its seed, replay it and print every command's result."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("topology", choices=sorted(TOPOLOGIES))
    parser.add_argument("seed", type=int)
    parser.add_argument("--mix", choices=sorted(MIXES), default="default")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threaded", action="store_true")
    parser.add_argument("--trace", type=Path, help="write the run's trace here")
    args = parser.parse_args(argv)
    topology = TOPOLOGIES[args.topology]
    mix = replace(MIXES[args.mix], scale=0.25 if args.threaded else 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_script(
            topology,
            args.seed,
            chaos_script(topology, args.seed, mix, args.steps),
            "threaded" if args.threaded else "sim",
            Path(tmp),
            tick_ms=50 if args.threaded else None,
            trace=args.trace,
            on_line=lambda t, ok, r: print(f"{t:<48} # {'ok' if ok else 'FAILED'}: {r}"),
            bound_factor=2.0 if args.threaded else 1.0,
        )
    print(result.report() if not result.ok else f"ok (liveness bound {result.bound_ms:.0f} ms)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
