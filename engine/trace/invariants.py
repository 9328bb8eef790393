"""Safety and liveness invariants over trace events: one checker, online and offline.

The runtime feeds every event to `InvariantChecker.feed` as it records it (and records the
violations it returns as `invariant` events); `zkfle verify` feeds the events of a file
(`check_trace`). The checker only reads events, so both see exactly the same thing.

Invariants (named like the properties of ZooKeeper's TLA+ specifications):

- AtMostOneLeaderPerEpoch: at most one node reaches LEADING with zab BROADCAST for each
  epoch (its `current_epoch`), over the whole run.
- LeaderHasQuorum: a node that decides LEADING (a `state` event leaving LOOKING) has a
  quorum of votes for itself - per the header's quorum verifier, counting voters only - in
  its recvset or in its outofelection.
- LogicalClockMonotonic: a node's logicalclock never decreases within one life (between
  `boot`s) and one FastLeaderElection instance (a step with `restart_election` starts a new
  one, as QuorumPeer.startLeaderElection does). One decrease is ZooKeeper's own behaviour
  and allowed: a decision that adopts the round of an established ensemble from
  outofelection (ZK: receivedFollowingNotification, `logicalclock.set(n.electionEpoch)`).
- ProposalMonotonic: within one round (same logicalclock) a LOOKING node's proposal never
  gets worse by (peer_epoch, zxid, leader), the order of totalOrderPredicate.
- LeaderEpochIncreases: the epoch a node leads is greater than every epoch it followed,
  led or had as its durable current epoch before (across restarts: epochs are durable).
- ElectedWithin (liveness): once no fault is active and every configured node is running
  (booted, not stopped, not paused as the last snapshot showed), the cluster is stable
  (as ClusterView.stable: one established leader that every running node follows; derived
  from `state` events, or a `snapshot` with `stable: true`) within `liveness_bound_ms`:
  B + k × W, where k nodes were LOOKING when the cluster became calm (or when a calm
  cluster lost stability) and W is the longest notification back-off they had reached.
  A run that ends before the bound elapsed is not a violation.

The checker trusts that durable state changes only through the nodes: rewinding epochs with
`set` while a node is down can legitimately trip the epoch invariants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid, parse_zxid

Event = Mapping[str, Any]

INVARIANTS = (
    "AtMostOneLeaderPerEpoch",
    "LeaderHasQuorum",
    "LogicalClockMonotonic",
    "ProposalMonotonic",
    "LeaderEpochIncreases",
    "ElectedWithin",
)


def liveness_bound_ms(
    timing: Mapping[str, Any], backoff_ms: float = 0.0, looking: int = 0
) -> float:
    """ElectedWithin's bound: B + k × W, B = 2 × (initLimit·tickTime + 5·finalizeWait) + 2 s.

    B: a healthy election takes one finalize wait plus a few message rounds; the leader then
    has initLimit ticks for each discovery wait. B allows a failed first attempt (a leader
    that times out in discovery, learners that give up connecting) and a second full
    attempt, plus 2 s of scheduling slack for the threaded runtime on a loaded machine.
    Defaults (tick 200 ms, initLimit 10, finalize wait 200 ms): 8 s.

    k × W: the `looking` nodes LOOKING when the faults ended had backed their notification
    timers off to at most W = `backoff_ms` (200 ms doubling to maxNotificationInterval,
    60 s) and nothing tells them the faults ended: each speaks when its timer fires, up to
    W later. A node that takes a LOOKING peer's notification waits its whole W again
    (ZK: lookForLeader polls recvqueue with notTimeout after every notification), so the
    last of k silent nodes may speak k × W after the heal (measured on ZooKeeper 3.8 and
    on zkfle: a 30 s partition of 2 of 5 nodes backs them off to 25.6 s; they rejoin
    22-25 s after the heal, and 49 s when the first one's broadcast re-arms the other).
    """
    tick = float(timing.get("tick_time_ms", 200))
    init_limit = float(timing.get("init_limit", 10))
    finalize = float(timing.get("finalize_wait_ms", 200))
    return 2 * (init_limit * tick + 5 * finalize) + 2000.0 + looking * backoff_ms


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: which, at which event (`seq`), on which node, and why."""

    invariant: str
    seq: int
    node: Sid | None
    detail: str

    def __str__(self) -> str:
        where = f" on n{self.node}" if self.node is not None else ""
        return f"{self.invariant} violated at seq {self.seq}{where}: {self.detail}"

    def event_fields(self) -> dict[str, Any]:
        """The `invariant` event a recorder writes for it (it adds `seq` and `t_ms`)."""
        fields: dict[str, Any] = {
            "kind": "invariant",
            "name": self.invariant,
            "ok": False,
            "detail": self.detail,
            "at": self.seq,
        }
        if self.node is not None:
            fields["node"] = self.node
        return fields


@dataclass(slots=True)
class _Node:
    """What the checker remembers of one node."""

    alive: bool = False
    paused: bool = False
    """As its last `pause`/`resume` (1.3) or, in older traces, the last snapshot showed it."""
    state: str | None = None
    zab: str = "ELECTION"
    vote_leader: Sid | None = None
    logicalclock: int | None = None
    """Last logicalclock seen in this life and FLE instance (None: nothing seen yet)."""
    proposal: tuple[int, int, int] | None = None
    """(peer_epoch, zxid, leader) while LOOKING in round `proposal_round`."""
    proposal_round: int | None = None
    leading_epoch: int | None = None
    """The epoch of the current leadership once established (None when not leading)."""
    epochs_before: int | None = None
    """Highest epoch followed, led or held as durable current epoch so far."""
    backoff: float = 0.0
    """The notification interval (notTimeout) of the current lookForLeader: the longest
    wait_ms of a LOOKING main-thread step since it entered lookForLeader."""


class InvariantChecker:
    """Feed events in seq order; each call returns the violations that event revealed."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        cluster = header["cluster"]
        self.verifier: QuorumVerifier = parse_dynamic_config(cluster["config"])
        servers = cluster.get("servers") or []
        self.sids: tuple[Sid, ...] = tuple(sorted(int(s["sid"]) for s in servers)) or tuple(
            self.verifier.all_members
        )
        self.timing: Mapping[str, Any] = header.get("timing") or {}
        self.min_interval_ms = float(self.timing.get("min_notification_interval_ms", 200))
        self.violations: list[Violation] = []
        self._nodes: dict[Sid, _Node] = {sid: _Node() for sid in self.sids}
        self._leader_of_epoch: dict[int, Sid] = {}
        self._reported_epochs: set[tuple[int, Sid]] = set()
        self._faults: dict[str, None] = {}  # active fault ids (a dict: ordered, never hashed)
        self._snapshot_stable = False
        self._stable = False
        self._waiting_since: float | None = None
        self._deadline: float | None = None
        self._bound_text = ""
        self._out: list[Violation] = []
        self._handlers: dict[str, Callable[[Event], None]] = {
            "boot": self._on_boot,
            "stop": self._on_stop,
            "step": self._on_step,
            "state": self._on_state,
            "fault": self._on_fault,
            "heal": self._on_heal,
            "snapshot": self._on_snapshot,
            "pause": self._on_pause,
            "resume": self._on_pause,
        }

    def feed(self, event: Event) -> list[Violation]:
        """Check one event. Feed every event, in seq order: `step` events carry election
        restarts and timers, and any event can be the first one past a liveness bound."""
        out: list[Violation] = []
        self._out = out
        if self._deadline is not None and event["t_ms"] > self._deadline:
            self._liveness_violation(event)
        kind = event.get("kind", "")
        if kind == "step":  # most events: steps only move back-offs
            self._on_step(event)
        else:
            handler = self._handlers.get(kind)
            if handler is not None:
                handler(event)
                self._update_liveness(float(event["t_ms"]))  # calm or stable may change
        if out:
            self.violations.extend(out)
        return out

    def finish(self) -> list[Violation]:
        """The end of the run. A liveness bound still running is not a violation: the run
        ended before it elapsed. (Kept as the hook for checks that need the whole run.)"""
        return []

    # --- events ---------------------------------------------------------------------------------

    def _node(self, event: Event) -> tuple[Sid, _Node]:
        sid = int(event["node"])
        node = self._nodes.get(sid)
        if node is None:
            node = self._nodes[sid] = _Node()
        return sid, node

    def _on_boot(self, event: Event) -> None:
        sid, old = self._node(event)
        node = self._nodes[sid] = _Node(alive=True, state="LOOKING", backoff=self.min_interval_ms)
        node.epochs_before = old.epochs_before  # epochs are durable: they survive restarts
        durable = event.get("durable")
        if isinstance(durable, dict) and isinstance(durable.get("current_epoch"), int):
            node.epochs_before = _max(node.epochs_before, durable["current_epoch"])
        self._snapshot_stable = False

    def _on_stop(self, event: Event) -> None:
        sid, old = self._node(event)
        self._nodes[sid] = _Node(epochs_before=old.epochs_before)
        self._snapshot_stable = False

    def _on_step(self, event: Event) -> None:
        _, node = self._node(event)
        output = event.get("output")
        if not isinstance(output, dict):
            return
        if output.get("restart_election"):
            # QuorumPeer.startLeaderElection: a new FastLeaderElection, logicalclock 0.
            node.logicalclock = None
            node.proposal = node.proposal_round = None
        inp = event.get("input")
        kind = inp.get("type") if isinstance(inp, dict) else None
        if kind == "receive":
            return  # only the main thread's inputs set its wait
        if kind == "look_for_leader":
            node.backoff = self.min_interval_ms  # ZK: notTimeout = minNotificationInterval
            return
        wait = output.get("wait_ms")
        if wait is not None and output.get("state") == "LOOKING":
            # It grows by doubling on timeouts.
            node.backoff = max(node.backoff, float(wait))

    def _on_state(self, event: Event) -> None:
        sid, node = self._node(event)
        seq = int(event["seq"])
        state = str(event["state"])
        previous = node.state
        vote = event.get("vote") if isinstance(event.get("vote"), dict) else None
        decision = previous == "LOOKING" and state != "LOOKING"
        lc = event.get("logicalclock")
        if isinstance(lc, int):
            self._check_logicalclock(seq, sid, node, lc, decision, vote, event)
        if state == "LOOKING":
            self._check_proposal(seq, sid, node, lc, event.get("proposal"))
        else:
            node.proposal = node.proposal_round = None
        if decision and state == "LEADING":
            self._check_leader_quorum(seq, sid, event)
        node.state = state
        node.zab = str(event.get("zab", node.zab))
        if vote is not None and "leader" in vote:
            node.vote_leader = int(vote["leader"])
        epoch = event.get("current_epoch")
        if not isinstance(epoch, int) and vote is not None:
            epoch = vote.get("peer_epoch")
        if state == "LEADING" and node.zab == "BROADCAST" and isinstance(epoch, int):
            self._leading(seq, sid, node, epoch)
        else:
            node.leading_epoch = None
            if state == "FOLLOWING" and node.zab == "BROADCAST" and isinstance(epoch, int):
                node.epochs_before = _max(node.epochs_before, epoch)
        self._snapshot_stable = False

    def _on_fault(self, event: Event) -> None:
        self._faults[str(event["id"])] = None

    def _on_heal(self, event: Event) -> None:
        ids = event.get("ids")
        for fault_id in ids if isinstance(ids, list) else []:
            self._faults.pop(str(fault_id), None)

    def _on_pause(self, event: Event) -> None:
        _, node = self._node(event)
        node.paused = event["kind"] == "pause"  # recorded of running nodes only

    def _on_snapshot(self, event: Event) -> None:
        self._snapshot_stable = event.get("stable") is True
        nodes = event.get("nodes")
        for summary in nodes if isinstance(nodes, list) else []:
            sid = summary.get("sid") if isinstance(summary, dict) else None
            node = self._nodes.get(sid) if isinstance(sid, int) else None
            if node is not None:
                node.paused = summary.get("paused") is True

    # --- safety ---------------------------------------------------------------------------------

    def _report(self, invariant: str, seq: int, node: Sid | None, detail: str) -> None:
        self._out.append(Violation(invariant, seq, node, detail))

    def _check_logicalclock(
        self,
        seq: int,
        sid: Sid,
        node: _Node,
        lc: int,
        decision: bool,
        vote: Mapping[str, Any] | None,
        event: Event,
    ) -> None:
        before = node.logicalclock
        node.logicalclock = lc
        if before is None or lc >= before:
            return
        if (
            decision
            and vote is not None
            and vote.get("election_epoch") == lc
            and self._has_quorum_for(event.get("outofelection"), vote.get("leader"))
        ):
            return  # adopted the round of an established ensemble (outofelection)
        self._report(
            "LogicalClockMonotonic",
            seq,
            sid,
            f"logicalclock went back from {before} to {lc} without a restart",
        )

    def _check_proposal(
        self, seq: int, sid: Sid, node: _Node, lc: object, proposal: object
    ) -> None:
        if not isinstance(proposal, dict) or not isinstance(lc, int):
            return
        try:
            key = (
                int(proposal["peer_epoch"]),
                parse_zxid(str(proposal["zxid"])),
                int(proposal["leader"]),
            )
        except (KeyError, TypeError, ValueError):
            return
        if node.proposal_round == lc and node.proposal is not None and key < node.proposal:
            old = node.proposal
            self._report(
                "ProposalMonotonic",
                seq,
                sid,
                f"proposal got worse in round {lc}: {_proposal_text(old)} -> {_proposal_text(key)}",
            )
        node.proposal, node.proposal_round = key, lc

    def _check_leader_quorum(self, seq: int, sid: Sid, event: Event) -> None:
        recvset, outofelection = event.get("recvset"), event.get("outofelection")
        if recvset is None and outofelection is None:
            self._report(
                "LeaderHasQuorum", seq, sid, "decided LEADING but recorded no recvset/outofelection"
            )
            return
        if self._has_quorum_for(recvset, sid) or self._has_quorum_for(outofelection, sid):
            return
        self._report(
            "LeaderHasQuorum",
            seq,
            sid,
            f"decided LEADING without a quorum of votes for n{sid}: recvset has "
            f"{_voters_text(recvset, sid)}, outofelection has {_voters_text(outofelection, sid)}",
        )

    def _has_quorum_for(self, votes: object, leader: object) -> bool:
        if not isinstance(votes, dict) or not isinstance(leader, int):
            return False
        ackers = set(_voters_for(votes, leader)) & self.verifier.voting_members.keys()
        return self.verifier.contains_quorum(ackers)

    def _leading(self, seq: int, sid: Sid, node: _Node, epoch: int) -> None:
        if node.leading_epoch == epoch:
            return  # the same leadership, another state change (e.g. a write)
        node.leading_epoch = epoch
        other = self._leader_of_epoch.setdefault(epoch, sid)
        if other != sid and (epoch, sid) not in self._reported_epochs:
            self._reported_epochs.add((epoch, sid))
            self._report(
                "AtMostOneLeaderPerEpoch",
                seq,
                sid,
                f"n{sid} established epoch {epoch}, which n{other} already led",
            )
        before = node.epochs_before
        if before is not None and epoch <= before:
            self._report(
                "LeaderEpochIncreases",
                seq,
                sid,
                f"n{sid} leads epoch {epoch} but already had epoch {before} before",
            )
        node.epochs_before = _max(before, epoch)

    # --- liveness -------------------------------------------------------------------------------

    def _update_liveness(self, t_ms: float) -> None:
        nodes = self._nodes
        calm = not self._faults
        if calm:
            for sid in self.sids:
                node = nodes[sid]
                if not node.alive or node.paused:  # _runs
                    calm = False
                    break
        if not calm or self._snapshot_stable or self._derived_stable():
            self._waiting_since = self._deadline = None
        elif self._waiting_since is None:
            self._waiting_since = t_ms
            looking = [n for n in self._nodes.values() if n.alive and n.state == "LOOKING"]
            backoff = max((n.backoff for n in looking), default=0.0)
            bound = liveness_bound_ms(self.timing, backoff, len(looking))
            self._deadline = t_ms + bound
            self._bound_text = f"bound {bound:.0f} ms"
            if looking:
                self._bound_text += f": {len(looking)} LOOKING × {backoff:.0f} ms back-off"

    def _derived_stable(self) -> bool:
        """ClusterView.stable from the nodes' last state events (paused nodes do not count)."""
        leader: Sid | None = None
        for sid, node in self._nodes.items():
            if node.alive and not node.paused and node.state == "LEADING":
                if leader is not None:
                    return False
                leader = sid
        if leader is None or self._nodes[leader].zab != "BROADCAST":
            return False
        return all(
            n.state not in (None, "LOOKING") and n.vote_leader == leader
            for n in self._nodes.values()
            if n.alive and not n.paused
        )

    def _liveness_violation(self, event: Event) -> None:
        since = self._waiting_since or 0.0
        looking = [s for s in sorted(self._nodes) if self._nodes[s].state == "LOOKING"]
        leaders = [s for s in sorted(self._nodes) if _leads(self._nodes[s])]
        self._report(
            "ElectedWithin",
            int(event["seq"]),
            None,
            f"no stable leader {float(event['t_ms']) - since:.0f} ms after the cluster became "
            f"calm at t={since:.0f} ms ({self._bound_text}); LOOKING: {_sids_text(looking)}, "
            f"LEADING: {_sids_text(leaders)}",
        )
        self._deadline = None  # once per calm period


def check_events(header: Mapping[str, Any], events: Iterable[Event]) -> list[Violation]:
    """Every violation in a sequence of events (offline verification)."""
    checker = InvariantChecker(header)
    for event in events:
        checker.feed(event)
    checker.violations.extend(checker.finish())
    return checker.violations


def check_trace(path: str) -> list[Violation]:
    """Every violation in a trace file (raises engine.trace.format.TraceError if unreadable)."""
    from engine.trace.format import read_trace

    trace = read_trace(path)
    return check_events(trace.header, trace)


def _leads(node: _Node) -> bool:
    return node.alive and node.state == "LEADING"


def _runs(node: _Node) -> bool:
    return node.alive and not node.paused


def _max(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def _voters_for(votes: Mapping[str, Any], leader: int) -> list[Sid]:
    return sorted(
        int(s) for s, v in votes.items() if isinstance(v, dict) and v.get("leader") == leader
    )


def _voters_text(votes: object, leader: int) -> str:
    if not isinstance(votes, dict):
        return "nothing"
    return f"votes for n{leader} from {_sids_text(_voters_for(votes, leader))}"


def _sids_text(sids: list[Sid]) -> str:
    return ",".join(f"n{s}" for s in sids) or "none"


def _proposal_text(key: tuple[int, int, int]) -> str:
    epoch, zxid, leader = key
    return f"(leader {leader}, zxid 0x{zxid:x}, peer_epoch {epoch})"
