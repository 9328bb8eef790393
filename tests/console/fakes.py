"""Scripted backends for the console tests: a small cluster model that emits trace events
shaped like the engine's (send, deliver, drop, state with took_ms, cmd, fault, heal, mark,
boot, stop) and ClusterViews, and a replay over what it recorded.

The model is deliberately simple and deterministic: the running, reachable node with the
highest (last_zxid, sid) wins as soon as a quorum of participants can reach each other,
instantly (or when `elect()` is called, with `auto_elect=False`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from console.backend import BackendInfo, Breakpoint, CommandResult, Event, TraceMark
from engine.control import commands as c
from engine.control.predicates import CommandError, Predicate
from engine.control.resolve import resolve_nodes
from engine.control.values import EventFilter, Instant, Nodes
from engine.core.config import generate_config
from engine.core.view import ClusterView, FaultView, MessageCounts, NodeView, quorum_count
from engine.core.vote import ServerState, Sid, Vote, zxid_hex
from engine.trace.elections import ElectionTracker, Timeline


@dataclasses.dataclass
class _Node:
    sid: Sid
    alive: bool = True
    paused: bool = False
    state: ServerState = ServerState.LOOKING
    logicalclock: int = 0
    proposal: Vote | None = None
    vote: Vote | None = None
    recvset: tuple[tuple[Sid, Vote], ...] = ()
    current_epoch: int = 0
    last_zxid: int = 0
    zab: str = "ELECTION"
    took_ms: float | None = None
    last_event: str = ""
    send_queues: tuple[tuple[Sid, int], ...] = ()


class _Rng:
    def sample(self, population: Sequence[Any], k: int) -> list[Any]:
        return list(population)[:k]

    def randint(self, a: int, b: int) -> int:
        return a


class FakeBackend:
    """A live cluster of `n` participants (see the module docstring)."""

    def __init__(
        self,
        n: int = 5,
        *,
        runtime: str = "threaded",
        seed: int = 7,
        auto_elect: bool = True,
        trace_path: str | None = "traces/20261126-140000-fake.jsonl",
        start: bool = True,
        initial: ClusterView | None = None,
    ) -> None:
        self.runtime = runtime
        self.seed = seed
        self.auto_elect = auto_elect
        self.trace_path = trace_path
        self.nodes = {sid: _Node(sid, alive=False) for sid in range(1, n + 1)}
        self.verifier = generate_config(n).quorum_verifier
        self.elections = ElectionTracker(self.verifier)
        self.events: list[Event] = []
        self.views: list[ClusterView] = []
        """The view after each event (views[i] after seq i+1)."""
        self.executed: list[str] = []
        self.closed = False
        self.running = runtime == "threaded"
        self.speed = 1.0
        self.t_ms = 0.0
        self.faults: dict[str, tuple[str, frozenset[Sid]]] = {}
        """fault id -> (text, isolated or paused sids)."""
        self._fault_ids = 0
        self._msg_ids = 0
        self.counts = [0, 0, 0]
        self.fail: Exception | None = None
        """Raised by view() and events_after() while set (a backend bug)."""
        self.view_calls = 0
        self.record_views = True
        """Keep the view after every event (for FakeReplay; storms turn it off)."""
        if initial is not None:
            self._load(initial)
        elif start:
            for sid in self.nodes:
                self._boot(sid)
            self.elect()

    # --- the Backend protocol -----------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(
            mode="live",
            runtime=self.runtime,
            seed=self.seed,
            trace_path=self.trace_path,
            label="fake",
            running=self.running,
            speed=self.speed,
        )

    def view(self) -> ClusterView:
        self.view_calls += 1
        if self.fail is not None:
            raise self.fail
        return self._view()

    def events_after(self, seq: int) -> list[Event]:
        if self.fail is not None:
            raise self.fail
        return self.events[seq:]

    def timeline(self) -> Timeline:
        return self.elections.timeline()

    def close(self) -> None:
        self.closed = True

    def execute(self, text: str) -> CommandResult:
        self.executed.append(text)
        try:
            cmd = c.parse(text)
            result = self._dispatch(cmd)
        except CommandError as e:
            result = CommandResult(False, str(e))
        fields: dict[str, Any] = {"text": text, "ok": result.ok}
        fields["result" if result.ok else "error"] = result.text
        self.emit("cmd", **fields)
        return result

    # --- events and views -------------------------------------------------------------------

    def emit(self, kind: str, node: Sid | None = None, **fields: Any) -> Event:
        self.t_ms += 1.0
        event: Event = {"seq": len(self.events) + 1, "t_ms": self.t_ms, "kind": kind}
        if node is not None:
            event["node"] = node
        event.update(fields)
        self.events.append(event)
        self.elections.feed(event)
        if kind == "send":
            self.counts[0] += 1
        elif kind == "deliver":
            self.counts[1] += 1
        elif kind == "drop":
            self.counts[2] += 1
        if self.record_views:
            self.views.append(self._view())
        return event

    def _view(self) -> ClusterView:
        nodes = []
        for sid in sorted(self.nodes):
            n = self.nodes[sid]
            if not n.alive:
                nodes.append(
                    NodeView(
                        sid=sid,
                        learner_type="participant",
                        current_epoch=n.current_epoch,
                        accepted_epoch=n.current_epoch,
                        last_zxid=n.last_zxid,
                        last_event=n.last_event,
                    )
                )
                continue
            nodes.append(
                NodeView(
                    sid=sid,
                    learner_type="participant",
                    alive=True,
                    paused=n.paused,
                    state=n.state,
                    logicalclock=n.logicalclock,
                    proposal=n.proposal,
                    current_vote=n.vote,
                    finalizing=False,
                    not_timeout_ms=200 if n.state == ServerState.LOOKING else 0,
                    recvset=n.recvset,
                    send_queues=n.send_queues
                    or tuple((p, 0) for p in sorted(self.nodes) if p != sid),
                    connections=tuple(p for p in self._reachable(sid) if p != sid),
                    zab_phase=n.zab,
                    established=n.zab == "BROADCAST",
                    current_epoch=n.current_epoch,
                    accepted_epoch=n.current_epoch,
                    last_zxid=n.last_zxid,
                    last_event=n.last_event,
                    election_took_ms=n.took_ms,
                )
            )
        faults = tuple(
            FaultView(fid, text, tuple(sorted(sids))) for fid, (text, sids) in self.faults.items()
        )
        return ClusterView(
            t_ms=self.t_ms,
            seq=len(self.events),
            nodes=tuple(nodes),
            faults=faults,
            messages=MessageCounts(*self.counts),
            quorum=quorum_count(self.verifier, nodes),
        )

    def _load(self, view: ClusterView) -> None:
        for nv in view.nodes:
            n = self.nodes[nv.sid]
            n.alive, n.paused = nv.alive, False
            n.state = nv.state or ServerState.LOOKING
            n.logicalclock = nv.logicalclock
            n.proposal, n.vote, n.recvset = nv.proposal, nv.current_vote, nv.recvset
            n.current_epoch, n.last_zxid, n.zab = nv.current_epoch, nv.last_zxid, nv.zab_phase
            n.took_ms = nv.election_took_ms
        self.t_ms = view.t_ms

    # --- the model -----------------------------------------------------------------------

    @property
    def quorum(self) -> int:
        return len(self.nodes) // 2 + 1

    def _isolated(self) -> set[Sid]:
        return {
            s for text, sids in self.faults.values() if text.startswith("isolate") for s in sids
        }

    def _running(self, sid: Sid) -> bool:
        n = self.nodes[sid]
        return n.alive and not n.paused

    def _reachable(self, sid: Sid) -> list[Sid]:
        """The running nodes `sid` can talk to (itself included)."""
        if not self._running(sid):
            return []
        if sid in self._isolated():
            return [sid]
        return [s for s in sorted(self.nodes) if self._running(s) and s not in self._isolated()]

    def _msg(self) -> str:
        self._msg_ids += 1
        return f"m{self._msg_ids}"

    def _state(self, sid: Sid, **extra: Any) -> None:
        n = self.nodes[sid]
        p = n.proposal or Vote(sid, n.last_zxid, n.logicalclock, n.current_epoch)
        v = n.vote or p
        n.last_event = f"{n.state.name} {n.zab.lower()}"
        self.emit(
            "state",
            sid,
            state=n.state.name,
            zab=n.zab,
            logicalclock=n.logicalclock,
            proposal={"leader": p.leader, "zxid": zxid_hex(p.zxid), "peer_epoch": p.peer_epoch},
            vote={
                "leader": v.leader,
                "zxid": zxid_hex(v.zxid),
                "election_epoch": v.election_epoch,
                "peer_epoch": v.peer_epoch,
            },
            current_epoch=n.current_epoch,
            accepted_epoch=n.current_epoch,
            last_zxid=zxid_hex(n.last_zxid),
            **extra,
        )

    def _boot(self, sid: Sid) -> None:
        n = self.nodes[sid]
        n.alive, n.paused = True, False
        n.state, n.zab = ServerState.LOOKING, "ELECTION"
        n.logicalclock += 1
        n.proposal = Vote(sid, n.last_zxid, n.logicalclock, n.current_epoch)
        n.vote = None
        n.recvset = ()
        self.emit(
            "boot",
            sid,
            durable={
                "current_epoch": n.current_epoch,
                "accepted_epoch": n.current_epoch,
                "last_zxid": zxid_hex(n.last_zxid),
            },
        )
        self._state(sid)

    def _look(self, sids: Sequence[Sid], reason: str = "") -> None:
        for sid in sids:
            n = self.nodes[sid]
            if n.state == ServerState.LOOKING and n.zab == "ELECTION":
                continue
            n.state, n.zab = ServerState.LOOKING, "ELECTION"
            n.logicalclock += 1
            n.proposal = Vote(sid, n.last_zxid, n.logicalclock, n.current_epoch)
            n.vote, n.recvset = None, ()
            self._state(sid, **({"reason": reason} if reason else {}))

    def leader(self) -> Sid | None:
        for sid, n in sorted(self.nodes.items()):
            if self._running(sid) and n.state == ServerState.LEADING:
                return sid
        return None

    def elect(self) -> bool:
        """Run one election among the nodes that can reach a quorum; True if one won."""
        looking = [s for s in sorted(self.nodes) if self._running(s)]
        looking = [s for s in looking if self.nodes[s].state == ServerState.LOOKING]
        if not looking:
            return False
        group = self._reachable(looking[0]) if looking[0] not in self._isolated() else []
        for sid in looking:
            if len(self._reachable(sid)) > len(group):
                group = self._reachable(sid)
        current = self.leader()
        if current is not None and current in group:
            for sid in group:
                if self.nodes[sid].state == ServerState.LOOKING:
                    self._follow(sid, current, took=3.0)
            return True
        if len(group) < self.quorum:
            return False
        winner = max(group, key=lambda s: (self.nodes[s].last_zxid, s))
        rnd = max(self.nodes[s].logicalclock for s in group)
        w = self.nodes[winner]
        for a in group:
            for b in group:
                if a != b:
                    m = self._msg()
                    self.emit("send", a, msg=m, to=b)
                    self.emit("deliver", b, msg=m, **{"from": a})
        epoch = max(self.nodes[s].current_epoch for s in group) + 1
        vote = Vote(winner, w.last_zxid, rnd, w.current_epoch)
        recvset = tuple((s, vote) for s in group)
        for sid in group:
            n = self.nodes[sid]
            n.logicalclock = rnd
            n.proposal, n.vote, n.recvset = vote, vote, recvset
            n.took_ms = 200.0 + sid
            if sid == winner:
                n.state, n.zab = ServerState.LEADING, "DISCOVERY"
            else:
                n.state, n.zab = ServerState.FOLLOWING, "DISCOVERY"
            self._state(
                sid,
                took_ms=n.took_ms,
                recvset={str(s): {"leader": winner, "election_epoch": rnd} for s in group},
                outofelection={},
            )
        for sid in group:
            n = self.nodes[sid]
            n.current_epoch, n.zab = epoch, "BROADCAST"
            n.vote = dataclasses.replace(vote, peer_epoch=epoch)
            self._state(sid)
        return True

    def _follow(self, sid: Sid, leader: Sid, took: float) -> None:
        n, lead = self.nodes[sid], self.nodes[leader]
        assert lead.vote is not None
        n.state, n.zab = ServerState.FOLLOWING, "BROADCAST"
        n.logicalclock = lead.logicalclock
        n.proposal = n.vote = lead.vote
        n.current_epoch = lead.current_epoch
        n.took_ms = took
        self._state(sid, took_ms=took, recvset={}, outofelection={str(leader): {"leader": leader}})

    def _after_change(self) -> None:
        """Nodes that lost their leader (or their quorum) go LOOKING; maybe elect."""
        leader = self.leader()
        if leader is not None and len(self._reachable(leader)) < self.quorum:
            self._look(self._reachable(leader), reason="lost quorum")
            leader = None
        for sid, n in sorted(self.nodes.items()):
            if not self._running(sid) or n.state != ServerState.FOLLOWING:
                continue
            if n.vote is None or n.vote.leader != leader or leader not in self._reachable(sid):
                self._look([sid], reason="leader lost")
        if self.auto_elect:
            self.elect()

    # --- commands ------------------------------------------------------------------------------

    def _nodes(self, spec: Nodes) -> tuple[Sid, ...]:
        return resolve_nodes(spec, self._view(), _Rng())

    def _fault(self, text: str, sids: frozenset[Sid]) -> str:
        self._fault_ids += 1
        fid = f"f{self._fault_ids}"
        self.faults[fid] = (text, sids)
        self.emit("fault", id=fid, text=text, op="block", nodes=sorted(sids))
        return fid

    def _dispatch(self, cmd: c.Command) -> CommandResult:
        match cmd:
            case c.Crash(nodes):
                sids = self._nodes(nodes)
                for sid in sids:
                    n = self.nodes[sid]
                    if n.alive:
                        n.alive, n.paused = False, False
                        n.last_event = "crash"
                        self.emit("stop", sid, reason="crash")
                self._after_change()
                return CommandResult(True, "crashed " + ", ".join(f"n{s}" for s in sids))
            case c.Restart(nodes) | c.Start(nodes):
                sids = self._nodes(nodes)
                for sid in sids:
                    if self.nodes[sid].alive:
                        self.emit("stop", sid, reason="restart")
                    self._boot(sid)
                self._after_change()
                return CommandResult(True, "restarted " + ", ".join(f"n{s}" for s in sids))
            case c.Pause(nodes):
                sids = self._nodes(nodes)
                down = [s for s in sids if not self.nodes[s].alive]
                if down:
                    raise CommandError(f"pause: n{down[0]} not running")
                for sid in sids:
                    self.nodes[sid].paused = True
                fid = self._fault(cmd.text, frozenset(sids))
                self._after_change()
                return CommandResult(True, f"{fid}: paused " + ", ".join(f"n{s}" for s in sids))
            case c.Resume(nodes):
                sids = self._nodes(nodes)
                for sid in sids:
                    self.nodes[sid].paused = False
                healed = [
                    f
                    for f, (t, s) in self.faults.items()
                    if t.startswith("pause") and s <= set(sids)
                ]
                for fid in healed:
                    del self.faults[fid]
                if healed:
                    self.emit("heal", ids=healed)
                for sid in sids:
                    if self.nodes[sid].alive and self.leader() != sid:
                        self._look([sid])
                self._after_change()
                return CommandResult(True, "resumed " + ", ".join(f"n{s}" for s in sids))
            case c.Isolate(nodes):
                sids = self._nodes(nodes)
                fid = self._fault(cmd.text, frozenset(sids))
                for sid in sids:
                    if self._running(sid):
                        self._look([sid], reason="isolated")
                self._after_change()
                return CommandResult(True, f"{fid}: {cmd.text}")
            case c.Heal(fault):
                ids = list(self.faults) if fault is None else [f"f{fault}"]
                missing = [f for f in ids if f not in self.faults]
                if missing:
                    raise CommandError(f"heal: no active fault {missing[0]}")
                freed: set[Sid] = set()
                for fid in ids:
                    text, fault_sids = self.faults.pop(fid)
                    if text.startswith("pause"):
                        for sid in fault_sids:
                            self.nodes[sid].paused = False
                    freed |= fault_sids
                self.emit("heal", ids=ids)
                for sid in sorted(freed):
                    if self._running(sid) and self.leader() != sid:
                        self._look([sid])
                self._after_change()
                return CommandResult(True, "healed " + (", ".join(ids) or "nothing"))
            case c.Mark(label):
                self.emit("mark", label=label or f"mark@{len(self.events) + 1}")
                return CommandResult(True, f"marked seq {len(self.events)}")
            case c.Write(count):
                leader = self.leader()
                if leader is None:
                    raise CommandError("write: no leader")
                for sid in self._reachable(leader):
                    self.nodes[sid].last_zxid += count
                self._state(leader)
                return CommandResult(True, f"committed {count}")
            case c.Status():
                return CommandResult(True, self.status_text())
            case c.Faults():
                lines = [f"{fid}  {text}" for fid, (text, _) in self.faults.items()]
                return CommandResult(True, "\n".join(lines) or "no active faults")
            case c.Run():
                self.running = True
                return CommandResult(True, "running")
            case c.Halt():
                self.running = False
                return CommandResult(True, "halted")
            case c.Step(count):
                self.running = False
                return CommandResult(True, f"ran {count} event(s)")
            case c.Speed(factor):
                self.speed = factor
                return CommandResult(True, f"speed {factor:g}x")
            case c.WaitUntil(predicate) | c.Expect(predicate):
                ok = predicate.evaluate(self._view())
                return CommandResult(
                    ok, f"{predicate.describe()}: {'holds' if ok else 'did not hold'}"
                )
            case c.Deliver(target) | c.Drop(target):
                raise CommandError(f"{cmd.verb}: {target} is not in flight")
            case _:
                return CommandResult(True, f"{cmd.verb}: done")

    def status_text(self) -> str:
        view = self._view()
        head = f"t={view.t_ms / 1000:.3f}s seq={view.seq} stable={'yes' if view.stable else 'no'}"
        lines = [head + f" leader={view.leader if view.leader is not None else '-'}"]
        for n in view.nodes:
            state = n.state.name if n.alive and n.state is not None else "down"
            lines.append(f"n{n.sid:<3} {state:<10} round={n.logicalclock}")
        return "\n".join(lines)

    def storm(self, count: int, nodes: int | None = None) -> None:
        """A burst of sends and deliveries (a message storm)."""
        sids = sorted(self.nodes)[: nodes or len(self.nodes)]
        self.record_views = False
        for i in range(count):
            a, b = sids[i % len(sids)], sids[(i + 1) % len(sids)]
            m = self._msg()
            self.emit("send", a, msg=m, to=b)
            self.emit("deliver", b, msg=m, **{"from": a})

    def heartbeats(self, rounds: int) -> None:
        """`rounds` times, the leader PINGs each follower (quorum packets and core steps)."""
        leader = self.leader()
        assert leader is not None, "heartbeats need a leader"
        followers = [s for s in self._reachable(leader) if s != leader]
        for i in range(rounds * len(followers)):
            follower = followers[i % len(followers)]
            p = f"p{i + 1}"
            self.emit("zsend", leader, msg=p, to=follower, packet={"type": "PING"})
            self.emit("zdeliver", follower, msg=p, **{"from": leader})
            packet = {"type": "packet", "from": leader, "packet": {"type": "PING"}}
            self.emit("step", follower, msg=p, input=packet, output={"state": "FOLLOWING"})


# --- replay ------------------------------------------------------------------------------------


class FakeReplay:
    """A replay of what a FakeBackend recorded (views after every event)."""

    EVENTS_PER_S = 200.0

    def __init__(self, source: FakeBackend, path: str = "traces/recorded.jsonl") -> None:
        self.recorded = list(source.events)
        self.views = list(source.views)
        self.verifier = source.verifier
        self._initial = FakeBackend(len(source.nodes), start=False, trace_path=None)._view()
        self.path = path
        self.position = 0
        self.running = False
        self.speed = 1.0
        self.breaks: list[tuple[Breakpoint, Predicate | EventFilter]] = []
        self.stop_reason: str | None = None
        self.executed: list[str] = []
        self.closed = False
        self.forks: list[FakeBackend] = []
        self._clock = time.monotonic()
        self._credit = 0.0

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(
            mode="replay",
            runtime="sim",
            seed=7,
            trace_path=self.path,
            running=self.running,
            speed=self.speed,
        )

    @property
    def total(self) -> int:
        return len(self.recorded)

    @property
    def marks(self) -> list[TraceMark]:
        return [
            TraceMark(e["seq"], e["t_ms"], e["label"]) for e in self.recorded if e["kind"] == "mark"
        ]

    @property
    def breakpoints(self) -> list[Breakpoint]:
        return [b for b, _ in self.breaks]

    def view_at(self, position: int) -> ClusterView:
        return self._initial if position == 0 else self.views[position - 1]

    def view(self) -> ClusterView:
        self._play()
        return self.view_at(self.position)

    def events_after(self, seq: int) -> list[Event]:
        return self.recorded[seq : self.position]

    def events(self, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self.recorded[max(0, from_seq - 1) : to_seq]

    def timeline(self) -> Timeline:
        tracker = ElectionTracker(self.verifier)
        for event in self.recorded[: self.position]:
            tracker.feed(event)
        return tracker.timeline()

    def close(self) -> None:
        self.closed = True

    def fork(self) -> FakeBackend:
        live = FakeBackend(
            len(self._initial.nodes),
            runtime="sim",
            initial=self.view_at(self.position),
            trace_path="traces/20261126-150000-fork.jsonl",
        )
        self.forks.append(live)
        return live

    def _play(self) -> None:
        now = time.monotonic()
        elapsed, self._clock = now - self._clock, now
        if not self.running:
            return
        self._credit += elapsed * self.EVENTS_PER_S * self.speed
        while self._credit >= 1 and self.running:
            self._credit -= 1
            self._advance()

    def _advance(self) -> None:
        if self.position >= self.total:
            self.running = False
            self.stop_reason = "end of trace"
            return
        before = self.view_at(self.position)
        self.position += 1
        after = self.view_at(self.position)
        event = self.recorded[self.position - 1]
        for bp, cond in self.breaks:
            if isinstance(cond, Predicate):
                hit = cond.evaluate(after) and not cond.evaluate(before)
            else:
                hit = event["kind"] == cond.kind and all(
                    value is None or event.get(key) == value
                    for key, value in (("from", cond.src), ("to", cond.dst), ("node", cond.node))
                )
            if hit:
                self.running = False
                self.stop_reason = (
                    f"{bp.id}: {bp.text.removeprefix('break ')} at seq {self.position}"
                )
                return

    def execute(self, text: str) -> CommandResult:
        self.executed.append(text)
        try:
            cmd = c.parse(text)
        except CommandError as e:
            return CommandResult(False, str(e))
        match cmd:
            case c.Step(count):
                self.running = False
                self.position = min(self.total, self.position + count)
                return CommandResult(True, f"at seq {self.position}")
            case c.Seek(target):
                if isinstance(target, int):
                    self.position = min(self.total, target)
                elif isinstance(target, Instant):
                    self.position = sum(1 for e in self.recorded if e["t_ms"] <= target.t_ms)
                else:
                    found = [m.seq for m in self.marks if m.label == target]
                    if not found:
                        return CommandResult(False, f'seek: no mark "{target}"')
                    self.position = found[0]
                return CommandResult(True, f"at seq {self.position}")
            case c.Run():
                self.running, self.stop_reason = True, None
                self._clock = time.monotonic()
                return CommandResult(True, "playing")
            case c.Halt():
                self.running = False
                return CommandResult(True, "halted")
            case c.Speed(factor):
                self.speed = factor
                return CommandResult(True, f"speed {factor:g}x")
            case c.BreakWhen(predicate):
                bp = Breakpoint(f"b{len(self.breaks) + 1}", cmd.text)
                self.breaks.append((bp, predicate))
                return CommandResult(True, f"{bp.id}: {cmd.text}")
            case c.BreakOn(event):
                bp = Breakpoint(f"b{len(self.breaks) + 1}", cmd.text)
                self.breaks.append((bp, event))
                return CommandResult(True, f"{bp.id}: {cmd.text}")
            case c.Status():
                return CommandResult(True, f"at seq {self.position}/{self.total}")
            case _:
                return CommandResult(
                    False, f"{cmd.verb}: a replay is read-only; fork (f) to continue live"
                )


def recorded_failover() -> FakeBackend:
    """A recorded run: elect n5, mark, crash the leader (n4 takes over), restart n5."""
    fake = FakeBackend()
    fake.execute("mark before crash")
    fake.execute("crash 5")
    fake.execute("mark after failover")
    fake.execute("restart 5")
    return fake
