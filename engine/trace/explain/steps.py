"""The critical path of an outage in a trace of zkfle's own runtimes (simulator, threads,
TCP), which record every core step with the message that caused it: walking back from the
step that established the leader, each step is charged to what it waited for last - the
notification it took, the timer that ran out (its setter's wait), the connection attempt,
the packet of the sync, the boot or heal that let a held-up message through - and the pieces
are named (engine.trace.explain.causes) from the steps' own words: the learner's reason for leaving,
the wait's value, whether the node was in its finalize wait (followed step by step).
Pure: a function of the window's events."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine.core.vote import Sid
from engine.trace.explain.base import (
    SYNC_SLOW_SHARE,
    Context,
    Event,
    Phase,
    VoteKey,
    Window,
    as_int,
    as_map,
    as_zxid,
    better_vote,
    event_node,
    event_seq,
    event_t,
    ms_text,
    node_timelines,
    quorum_size,
    vote_key,
    vote_words,
)

TIMED_OUT_SHARE = 0.5
"""A failed connection attempt that took this share of its budget timed out (else it was
refused)."""


@dataclass(slots=True)
class _Seg:
    """A raw piece of the walk: [start, end] on `node`, before classification."""

    node: Sid | None
    kind: str
    start: float
    end: float
    seq: int | None
    info: dict[str, Any] = field(default_factory=dict)


class _Steps:
    """Indexes of a window's events for the walk over core steps."""

    def __init__(self, events: Sequence[Event], ctx: Context, start_seq: int) -> None:
        self.ctx = ctx
        self.steps: dict[Sid, list[Event]] = {}
        self.step_seqs: dict[Sid, list[int]] = {}
        self.waits: dict[Sid, list[int]] = {}
        """Per node, the positions (in `steps`) of steps whose output set a wait."""
        self.connects: dict[Sid, list[int]] = {}
        """Per node, positions of steps that dialled the leader."""
        self.sends: dict[str, Event] = {}
        self.delivers: dict[str, Event] = {}
        self.packets_in: dict[Sid, list[Event]] = {}
        """Per node, the packets delivered to it (zdeliver), in order: packet steps name
        their sender and packet, not the packet's id."""
        self.state_after: dict[int, Event] = {}
        """A step's seq -> the state event it wrote."""
        self.boots: dict[Sid, list[Event]] = {}
        self.stops: dict[Sid, list[Event]] = {}
        self.conn_down: dict[tuple[Sid, Sid], list[Event]] = {}
        self.cmds: list[Event] = []
        self._decided_at: dict[Sid, list[int]] = {}
        """Per node, the steps at which it decided during the outage."""
        self.faults: dict[str, Event] = {}
        self.undone: list[Event] = []
        """`heal` events and `resume` commands: what lets a held-up message through."""
        self.late_switch: set[int] = set()
        """Receive steps of a better vote that came while its receiver was in its finalize
        wait (so the wait was abandoned and the election went on)."""
        self.round_jump: set[int] = set()
        """Steps after which a LOOKING node moved to a higher round, or began looking again
        after it had decided during the outage."""
        self.states: dict[Sid, list[Event]] = {}
        last_step: dict[Sid, Event] = {}
        for e in events:
            kind = e.get("kind")
            sid = event_node(e)
            if kind == "step" and sid is not None:
                steps = self.steps.setdefault(sid, [])
                position = len(steps)
                steps.append(e)
                self.step_seqs.setdefault(sid, []).append(event_seq(e))
                out = as_map(e.get("output"))
                if "wait_ms" in out:
                    self.waits.setdefault(sid, []).append(position)
                if any("connect" in as_map(z) for z in out.get("zab", ()) or ()):
                    self.connects.setdefault(sid, []).append(position)
                last_step[sid] = e
            elif kind in ("send", "zsend"):
                msg = e.get("msg")
                if isinstance(msg, str):
                    self.sends.setdefault(msg, e)
            elif kind in ("deliver", "zdeliver"):
                msg = e.get("msg")
                if isinstance(msg, str):
                    self.delivers.setdefault(msg, e)
                if kind == "zdeliver" and sid is not None:
                    self.packets_in.setdefault(sid, []).append(e)
            elif kind == "state" and sid is not None:
                self.states.setdefault(sid, []).append(e)
                step = last_step.get(sid)
                if step is not None and event_seq(step) not in self.state_after:
                    self.state_after[event_seq(step)] = e
            elif kind == "boot" and sid is not None:
                self.boots.setdefault(sid, []).append(e)
            elif kind == "stop" and sid is not None:
                self.stops.setdefault(sid, []).append(e)
            elif kind == "conn" and sid is not None and e.get("up") is False:
                peer = as_int(e.get("peer"))
                if peer is not None:
                    self.conn_down.setdefault((peer, sid), []).append(e)
            elif kind == "cmd":
                self.cmds.append(e)
                if e.get("ok") and str(e.get("result", "")).startswith("resumed"):
                    self.undone.append(e)
            elif kind == "heal":
                self.undone.append(e)
            elif kind == "fault":
                self.faults[str(e.get("id"))] = e
        for sid, steps in self.steps.items():
            self._follow_lookforleader(sid, steps, start_seq)

    def _follow_lookforleader(self, sid: Sid, steps: list[Event], start_seq: int) -> None:
        """Follow one node's lookForLeader through its steps - recvqueue, recvset, its
        round and proposal (from its state events) - far enough to know when it was in the
        finalize wait (ZK: the loop after `voteSet.hasAllQuorums()`), so that a better vote
        that arrived then (late-better-vote) and new rounds (round-restart) are exact."""
        ctx = self.ctx
        queue: deque[tuple[Mapping[str, Any], int]] = deque()
        recvset: dict[Sid, VoteKey] = {}
        proposal: VoteKey | None = None
        finalizing = looked = looking = False
        for e in steps:
            inp, out = as_map(e.get("input")), as_map(e.get("output"))
            typ, seq = inp.get("type"), event_seq(e)
            after = self.state_after.get(seq)
            if typ == "look_for_leader" and seq > start_seq:
                looked = looked or any(d > start_seq for d in self._decided_at.get(sid, ()))
            if after is not None and after.get("state") == "LOOKING":
                prop = as_map(after.get("proposal"))
                clock = as_int(after.get("logicalclock")) or 0
                new = (as_int(prop.get("leader")) or 0, as_zxid(prop.get("zxid")), clock,
                       as_int(prop.get("peer_epoch")) or 0)  # fmt: skip
                rose = proposal is not None and clock > proposal[2] and seq > start_seq
                if rose and (typ != "look_for_leader" or looked):
                    self.round_jump.add(seq)
                proposal = new
            if typ == "look_for_leader":
                recvset, finalizing = {}, False
            elif typ == "receive" and out.get("state") == "LOOKING":
                queue.append((as_map(inp.get("n")), seq))
            elif typ == "poll" and queue:
                n, received = queue.popleft()
                key = vote_key(n)
                if finalizing:
                    if key is not None and proposal is not None and better_vote(key, proposal, ctx):
                        self.late_switch.add(received)
                        queue.append((n, received))
                        finalizing = False
                elif n.get("state") == "LOOKING" and key is not None and proposal is not None:
                    if key[2] > max((k[2] for k in recvset.values()), default=key[2]):
                        recvset = {}
                    sender = as_int(n.get("sid"))
                    if sender is not None and key[2] == proposal[2]:
                        recvset[sender] = key
                    agreed = [s for s, k in recvset.items() if k == proposal and s in ctx.voters]
                    finalizing = ctx.qv.contains_quorum(agreed)
            if after is not None and after.get("state") not in ("LOOKING", None):
                queue.clear()
                recvset, finalizing = {}, False
                if seq > start_seq and looking:
                    self._decided_at.setdefault(sid, []).append(seq)
            if after is not None:
                looking = after.get("state") == "LOOKING"

    def previous_step(self, sid: Sid, seq: int) -> Event | None:
        seqs = self.step_seqs.get(sid, [])
        i = bisect.bisect_left(seqs, seq)
        return self.steps[sid][i - 1] if i > 0 else None

    def _last_of(self, table: dict[Sid, list[int]], sid: Sid, seq: int) -> Event | None:
        steps = self.steps.get(sid, [])
        positions = table.get(sid, [])
        seqs = self.step_seqs.get(sid, [])
        limit = bisect.bisect_left(seqs, seq)
        i = bisect.bisect_left(positions, limit)
        return steps[positions[i - 1]] if i > 0 else None

    def decision_step(self, sid: Sid) -> Event | None:
        """The node's last step that decided (lookForLeader returned)."""
        for e in reversed(self.steps.get(sid, [])):
            if isinstance(as_map(e.get("output")).get("decided"), Mapping):
                return e
        return None

    def wait_setter(self, sid: Sid, seq: int) -> Event | None:
        """The last step before `seq` that set the node's wait."""
        return self._last_of(self.waits, sid, seq)

    def connect_issuer(self, sid: Sid, seq: int) -> Event | None:
        return self._last_of(self.connects, sid, seq)

    def packet_send(self, step: Event) -> Event | None:
        """The zsend of the packet a `packet` step took: the last one delivered to the node
        from that sender, of that type, before the step."""
        sid = event_node(step)
        inp = as_map(step.get("input"))
        sender, kind = inp.get("from"), as_map(inp.get("packet")).get("type")
        seq = event_seq(step)
        for d in reversed(self.packets_in.get(sid, []) if sid is not None else []):
            if event_seq(d) > seq or d.get("from") != sender:
                continue
            msg = d.get("msg")
            send = self.sends.get(msg) if isinstance(msg, str) else None
            if send is not None and as_map(send.get("packet")).get("type") == kind:
                return send
        return None

    def producer(self, send: Event) -> Event | None:
        """The step whose output made a send (the sender's last step before it)."""
        sid = event_node(send)
        return self.previous_step(sid, event_seq(send)) if sid is not None else None

    def held_up(self, send: Event, step: Event) -> Event | None:
        """What let a message through that waited since its send: the receiver's (or
        sender's) boot, a heal or a resume between the send and the step that took it."""
        lo, hi = event_seq(send), event_seq(step)
        sender, receiver = event_node(send), event_node(step)
        found = [
            b
            for sid in (receiver, sender)
            if sid is not None
            for b in self.boots.get(sid, [])
            if lo < event_seq(b) < hi
        ]
        found += [u for u in self.undone if lo < event_seq(u) < hi]
        return max(found, key=event_seq) if found else None

    def boot_before(self, sid: Sid, seq: int) -> Event | None:
        boots = [b for b in self.boots.get(sid, []) if event_seq(b) < seq]
        return boots[-1] if boots else None

    def stop_before(self, sid: Sid, seq: int) -> Event | None:
        stops = [s for s in self.stops.get(sid, []) if event_seq(s) < seq]
        return stops[-1] if stops else None

    def state_before(self, sid: Sid, seq: int) -> Event | None:
        states = self.states.get(sid, [])
        i = bisect.bisect_left([event_seq(s) for s in states], seq)
        return states[i - 1] if i > 0 else None


def _step_walk(
    w: Window, ctx: Context, ix: _Steps, cursor: Event | None
) -> tuple[list[_Seg], list[str]]:
    """Walk back from `cursor` (the step that established the leader, or that decided the
    leader of an outage still going on) to the outage's start (see the module doc)."""
    outage = w.outage
    start_t, start_seq = outage.started_ms, outage.started_seq
    unknown: list[str] = []
    if cursor is not None and event_seq(cursor) < start_seq:
        cursor = None
    segs: list[_Seg] = []
    if cursor is None:
        return segs, unknown
    bound = event_t(cursor)
    first_seq = event_seq(w.events[0]) if w.events else 0
    guard = 0
    while cursor is not None and bound > start_t and guard < 1_000_000:
        guard += 1
        pred, kind, info = _step_predecessor(cursor, ix, ctx)
        seq = event_seq(cursor)
        if pred is None:
            if kind in ("down", "fault"):
                segs.append(_Seg(event_node(cursor), kind, start_t, bound, seq, info))
            else:
                if first_seq > start_seq and w.dropped:
                    unknown.append(f"the outage's first {w.dropped} events were not kept")
                segs.append(_Seg(event_node(cursor), "unknown", start_t, bound, seq, info))
            return segs, unknown
        t = max(start_t, min(bound, event_t(pred)))
        segs.append(_Seg(event_node(cursor), kind, t, bound, seq, info))
        bound = t
        cursor = pred
    return segs, unknown


def _step_predecessor(
    step: Event, ix: _Steps, ctx: Context
) -> tuple[Event | None, str, dict[str, Any]]:
    """What `step` (or boot) waited for last: (that event, the kind of wait, details)."""
    sid = event_node(step)
    seq = event_seq(step)
    if step.get("kind") in ("heal", "cmd"):
        return None, "fault", {"undone": step}
    if sid is None:
        return None, "unknown", {}
    if step.get("kind") == "boot":
        return None, "down", {"boot": step}
    if step.get("kind") == "stop":
        return None, "fault", {"stop": step}
    inp = as_map(step.get("input"))
    out = as_map(step.get("output"))
    typ = inp.get("type")
    if typ in ("receive", "packet"):
        msg = step.get("msg")
        send = ix.sends.get(msg) if isinstance(msg, str) else None
        if send is None and typ == "packet":
            send = ix.packet_send(step)
        if send is not None:
            producer = ix.producer(send)
            info: dict[str, Any] = {
                "from": event_node(send),
                "input": inp,
                "send": send,
                "after": ix.state_after.get(seq),
            }
            held = ix.held_up(send, step)
            original = send.get("resend") or send.get("dup")
            if held is None and isinstance(original, str) and original in ix.sends:
                # SendWorker re-sent the last message on a new connection: what made the
                # connection (a boot of either end) let it through, else the first send
                held = ix.held_up(ix.sends[original], step)
                producer = ix.producer(ix.sends[original])
            if held is not None:
                info["held"] = held
                return held, "held", info
            if producer is not None:
                return producer, "msg" if typ == "receive" else "packet", info
            return send, "msg" if typ == "receive" else "packet", info
    elif typ == "timeout":
        setter = ix.wait_setter(sid, seq)
        if setter is not None:
            waited = as_map(setter.get("output")).get("wait_ms")
            return (
                setter,
                "wait",
                {
                    "wait_ms": waited if isinstance(waited, int | float) else None,
                    "input": inp,
                    "output": out,
                    "state": _state_at(ix, sid, seq),
                    "after": ix.state_after.get(seq),
                },
            )
    elif typ in ("learner_connected", "learner_connect_failed"):
        issuer = ix.connect_issuer(sid, seq)
        if issuer is not None:
            return (
                issuer,
                "connect",
                {"ok": typ == "learner_connected", "leader": inp.get("leader")},
            )
    elif typ == "disconnected":
        peer = as_int(inp.get("peer"))
        if peer is not None:
            stop = ix.stop_before(peer, seq)
            downs = [c for c in ix.conn_down.get((sid, peer), []) if event_seq(c) < seq]
            found = [e for e in (stop, downs[-1] if downs else None) if e is not None]
            if found:
                cause = max(found, key=event_seq)
                closer = ix.previous_step(peer, event_seq(cause) + 1)
                why = as_map(closer.get("output")).get("reason") if closer is not None else None
                return cause, "eof", {"peer": peer, "crashed": cause is stop, "why": why}
    elif typ == "look_for_leader":
        previous = ix.previous_step(sid, seq)
        boot = ix.boot_before(sid, seq)
        if boot is not None and (previous is None or event_seq(previous) < event_seq(boot)):
            return boot, "start", {"boot": boot}
        if previous is not None:
            return previous, "proc", {"after": ix.state_after.get(seq), "look": True}
    previous = ix.previous_step(sid, seq)
    boot = ix.boot_before(sid, seq)
    if boot is not None and (previous is None or event_seq(previous) < event_seq(boot)):
        return boot, "start", {"boot": boot}
    if previous is None:
        return None, "unknown", {"why": f"n{sid}'s earlier steps are not in the window"}
    return previous, "proc", {"after": ix.state_after.get(seq)}


def _state_at(ix: _Steps, sid: Sid, seq: int) -> str | None:
    state = ix.state_before(sid, seq)
    value = state.get("state") if state is not None else None
    return value if isinstance(value, str) else None


def _running_voters(ix: _Steps, ctx: Context, seq: int) -> int:
    """Voters running at `seq` (booted and not stopped since)."""
    running = 0
    for sid in ctx.voters:
        boot = ix.boot_before(sid, seq + 1)
        stop = ix.stop_before(sid, seq + 1)
        if boot is not None and (stop is None or event_seq(stop) < event_seq(boot)):
            running += 1
    return running


def _classify_steps(segs: list[_Seg], ix: _Steps, ctx: Context) -> list[Phase]:
    """Raw walk pieces (chronological) to phases with causes and words."""
    phases: list[Phase] = []
    tick = ctx.tick_ms
    for s in segs:
        node = s.node
        ms = max(0.0, s.end - s.start)
        name, cause, text = "round", None, ""
        info = s.info
        if s.kind == "wait":
            name, cause, text = _wait_words(s, ctx)
        elif s.kind in ("msg", "proc"):
            name = "round"
            after = as_map(info.get("after"))
            seq = s.seq or 0
            if seq in ix.late_switch:
                cause = "late-better-vote"
            elif seq in ix.round_jump:
                cause = "round-restart"
            if s.kind == "msg":
                n = as_map(as_map(info.get("input")).get("n"))
                key = vote_key(n)
                vote = vote_words(key) if key is not None else "?"
                sender = info.get("from")
                text = f"n{sender}→n{node}: {n.get('state', '?')} vote {vote}"
                if sender == node and cause is None:
                    text = ""  # its own vote looping back: no news
                if cause == "late-better-vote":
                    text += f", a better vote during n{node}'s finalize wait: the election went on"
                elif cause == "round-restart":
                    text += f"; n{node} began round {after.get('logicalclock', '?')}"
            elif info.get("look"):
                text = f"n{node} began round {after.get('logicalclock', '?')}"
                if cause == "round-restart":
                    text += " (looking again after its attempt failed)"
            else:
                text = ""
        elif s.kind == "packet":
            packet = as_map(as_map(info.get("input")).get("packet"))
            kind = str(packet.get("type", "?"))
            name = "discovery" if kind in _DISCOVERY_PACKETS else "sync"
            text = f"n{info.get('from')}→n{node}: {kind}"
        elif s.kind == "connect":
            name = "connect"
            leader = info.get("leader")
            budget = ctx.init_limit * tick
            if info.get("ok"):
                text = f"n{node} connected to leader n{leader} ({ms_text(ms)})"
            elif ms >= TIMED_OUT_SHARE * budget:
                cause = "peer-unreachable"
                text = f"n{node}'s connection to leader n{leader} timed out after {ms_text(ms)}"
            else:
                text = (
                    f"n{node}'s connection to n{leader} was refused: n{leader} was not"
                    " listening yet"
                )
        elif s.kind == "eof":
            name, cause, text = _eof_words(s, ix)
        elif s.kind in ("down", "start"):
            name = "down"
            boot = as_map(info.get("boot"))
            seq = event_seq(boot) if boot else (s.seq or 0)
            running = _running_voters(ix, ctx, seq - 1)
            needed = quorum_size(ctx)
            if running < needed:
                cause = "no-quorum"
                text = (
                    f"n{node} was not running until {ctx.clock(s.end)}; {running} of"
                    f" {len(ctx.voters)} voters ran, {needed} needed"
                )
            else:
                text = f"n{node} was not running until {ctx.clock(s.end)}"
        elif s.kind == "held":
            name = "round"
            n = as_map(as_map(info.get("input")).get("n"))
            key = vote_key(n)
            held = as_map(info.get("held"))
            what = (
                f"{n.get('state', '?')} vote {vote_words(key)}"
                if key is not None
                else str(as_map(as_map(info.get("input")).get("packet")).get("type", "packet"))
            )
            text = f"n{info.get('from')}→n{node}: {what} (held up until {ctx.clock(event_t(held))})"
        elif s.kind == "fault":
            name, cause, text = _fault_words(info, ix, ctx)
        else:
            name, cause = "unknown", "unknown"
            text = str(info.get("why") or "the events before this are not in the trace")
        phases.append(Phase(node, name, s.start, ms, cause, text, s.seq))
    return _mark_sync(_split_faults(phases, ix, ctx), ctx)


def _split_faults(phases: list[Phase], ix: _Steps, ctx: Context) -> list[Phase]:
    """The part of a wait during which a block fault (partition, isolate) cut its node off
    from every quorum is charged to the fault: nothing could have come through then."""
    cuts: list[tuple[float, float, Sid, str]] = []
    healed = {
        str(i): event_t(u)
        for u in ix.undone
        if u.get("kind") == "heal"
        for i in u.get("ids", ()) or ()
    }
    voters = ctx.voters
    for fid, f in ix.faults.items():
        if f.get("op") != "block":
            continue
        links = {
            (a, b)
            for link in f.get("links", ()) or ()
            if isinstance(link, list) and len(link) == 2
            for a, b in [link]
        }
        end = healed.get(fid, float("inf"))
        for sid in sorted({n for link in links for n in link if isinstance(n, int)}):
            reach = [
                m for m in voters if m == sid or ((sid, m) not in links and (m, sid) not in links)
            ]
            if not ctx.qv.contains_quorum(reach):
                cuts.append((event_t(f), end, sid, f"{fid} ({f.get('text', 'block')})"))
    if not cuts:
        return phases
    out: list[Phase] = []
    for p in phases:
        pieces = [p]
        for lo, hi, sid, what in cuts:
            if p.phase != "wait" or sid != p.node:
                continue
            rest: list[Phase] = []
            for q in pieces:
                a, b = max(q.start, lo), min(q.end, hi)
                if b <= a or q.phase != "wait":
                    rest.append(q)
                    continue
                until = f"until {ctx.clock(hi)}" if hi != float("inf") else "past the outage's end"
                text = f"{what} cut n{q.node} off from every quorum {until}"
                cut = Phase(q.node, "fault", a, b - a, "peer-unreachable", text, q.seq)
                if a > q.start:
                    rest.append(replace(q, ms=a - q.start))
                rest.append(cut)
                if b < q.end:
                    rest.append(replace(q, start=b, ms=q.end - b))
            pieces = rest
        out += pieces
    return out


def _eof_words(s: _Seg, ix: _Steps) -> tuple[str, str | None, str]:
    """A connection between a learner and its leader closed: who noticed, and why."""
    node, peer = s.node, s.info.get("peer")
    how = f"n{peer} crashed" if s.info.get("crashed") else "the connection closed"
    if node is None or _state_at(ix, node, s.seq or 0) != "LEADING":
        return (
            "detection",
            "leader-lost-connection",
            f"n{node}'s connection to its leader n{peer} closed ({how}): EOF at once",
        )
    # a leader lost a learner: why did the learner leave?
    reason = str(s.info.get("why") or "")
    if "less than accepted epoch" in reason:
        return (
            "restart",
            "epoch-mismatch",
            f"n{peer} refused leader n{node}'s epoch and left it: {reason}",
        )
    return "discovery", None, f"leader n{node}'s learner n{peer} left ({reason or how})"


def _fault_words(info: Mapping[str, Any], ix: _Steps, ctx: Context) -> tuple[str, str | None, str]:
    """A fault the walk ended at: a heal or resume that let the critical message through."""
    undone = as_map(info.get("undone"))
    at = ctx.clock(event_t(undone)) if undone else "?"
    if undone.get("kind") == "heal":
        ids = [str(i) for i in undone.get("ids", ()) or ()]
        texts = [str(ix.faults[i].get("text", i)) if i in ix.faults else i for i in ids]
        return (
            "fault",
            "peer-unreachable",
            f"{', '.join(f'{i} ({t})' for i, t in zip(ids, texts, strict=True))} cut the"
            f" links the election needed until it was healed at {at}",
        )
    if undone.get("kind") == "cmd":
        return "fault", None, f"{undone.get('result')} at {at}: nothing got through before"
    stop = as_map(info.get("stop"))
    return "fault", None, f"n{stop.get('node')} was stopped ({stop.get('reason', '?')})"


_DISCOVERY_PACKETS = frozenset({"FOLLOWERINFO", "OBSERVERINFO", "LEADERINFO", "ACKEPOCH"})


def _limit_words(wait: float | None, ctx: Context) -> str:
    """syncLimit or initLimit x tickTime, whichever the wait was."""
    tick = ctx.tick_ms
    if (
        wait is not None
        and abs(wait - ctx.init_limit * tick) < 1
        and ctx.init_limit != ctx.sync_limit
    ):
        return f"initLimit ({ctx.init_limit} x {tick:.0f} ms) while syncing"
    if wait is not None and abs(wait - ctx.sync_limit * tick) >= 1:
        return f"{ms_text(wait)}"
    return f"syncLimit ({ctx.sync_limit} x {tick:.0f} ms)"


def _wait_words(s: _Seg, ctx: Context) -> tuple[str, str | None, str]:
    info, node = s.info, s.node
    out = as_map(info.get("output"))
    inp = as_map(info.get("input"))
    wait = info.get("wait_ms")
    state = info.get("state")
    reason = out.get("reason")
    after = as_map(info.get("after"))
    if isinstance(reason, str) and "Read timed out" in reason:
        leader = as_map(after.get("vote")).get("leader")
        return (
            "detection",
            "leader-lost-sync-timeout",
            f"n{node} heard nothing from leader n{leader} for {_limit_words(wait, ctx)}: {reason}",
        )
    if isinstance(reason, str) and reason.startswith("Not sufficient followers"):
        return "detection", "quorum-lost", f"leader n{node} stepped down: {reason}"
    if isinstance(reason, str) and reason.startswith("Timeout while waiting"):
        return (
            "restart",
            "init-limit-expired",
            f"leader n{node} waited initLimit ({ctx.init_limit} x {ctx.tick_ms:.0f} ms): {reason}",
        )
    if isinstance(reason, str) and "connectToLeader" in reason:
        return "restart", "peer-unreachable", f"n{node} gave up on its leader: {reason}"
    decided = out.get("decided")
    if isinstance(decided, Mapping):
        return (
            "decision",
            None,
            f"n{node} waited finalizeWait ({ctx.finalize_ms:.0f} ms) for a better vote, then"
            f" decided {out.get('state', '?')} for n{decided.get('leader')}",
        )
    if state in ("FOLLOWING", "OBSERVING") and any(
        "connect" in as_map(z) for z in out.get("zab", ())
    ):
        return (
            "connect",
            None,
            f"n{node} retried its leader connection after {ms_text(wait or 0)}"
            " (leaderConnectDelayDuringRetryMs)",
        )
    if state == "LOOKING" or (state is None and "wait_ms" in out):
        if inp.get("forced"):
            return "wait", None, f"the timeout command ended n{node}'s notification wait early"
        value = float(wait) if isinstance(wait, int | float) else None
        if inp.get("have_delivered") is False:
            return (
                "wait",
                "peer-unreachable",
                f"n{node}'s notification timeout ({ms_text(value or 0)}) ran out with every"
                " send queue still full: no peer reached, connectAll",
            )
        nxt = out.get("wait_ms")
        tail = f"; next {ms_text(float(nxt))}" if isinstance(nxt, int | float) else ""
        if value is not None and value > ctx.min_interval_ms:
            return (
                "wait",
                "notification-backoff",
                f"n{node} heard nothing for its backed-off notification timeout"
                f" {ms_text(value)}, then sent its vote again{tail}",
            )
        return (
            "wait",
            None,
            f"n{node} heard nothing for its notification timeout {ms_text(value or 0)}, then"
            f" sent its vote again{tail}",
        )
    return "wait", None, f"n{node} waited {ms_text(float(wait or 0))}"


def _mark_sync(phases: list[Phase], ctx: Context) -> list[Phase]:
    """Discovery and sync as a whole longer than SYNC_SLOW_SHARE of initLimit: sync-slow."""
    total = sum(p.ms for p in phases if p.phase in ("discovery", "sync"))
    budget = ctx.init_limit * ctx.tick_ms
    if total <= SYNC_SLOW_SHARE * budget:
        return phases
    return [
        Phase(p.node, p.phase, p.start, p.ms, "sync-slow", p.text, p.seq)
        if p.phase in ("discovery", "sync") and p.cause is None
        else p
        for p in phases
    ]


def _step_timelines(w: Window, ctx: Context) -> dict[Sid, list[str]]:
    """What each node did during the outage, from its state changes and timers."""
    last: dict[Sid, tuple[Any, ...]] = {}

    def words(sid: Sid, e: Event) -> str | None:
        kind = e.get("kind")
        text = None
        if kind == "state":
            state, zab = e.get("state"), e.get("zab")
            clock = e.get("logicalclock")
            prop = as_map(e.get("proposal"))
            now = (state, zab, clock, prop.get("leader"))
            if now == last.get(sid):
                return None
            before = last.get(sid)
            last[sid] = now
            if state == "LOOKING":
                reason = e.get("reason")
                if before is None or before[0] != "LOOKING":
                    text = "LOOKING" + (f" ({reason})" if reason else "")
                else:
                    text = f"round {clock}, proposes n{prop.get('leader')}"
            else:
                vote = as_map(e.get("vote"))
                text = f"{state} n{vote.get('leader')} ({str(zab).lower()})"
        elif kind == "boot":
            text = "started"
        elif kind == "stop":
            text = str(e.get("reason", "stopped"))
        elif kind == "step":
            inp = as_map(e.get("input"))
            out = as_map(e.get("output"))
            if inp.get("type") == "timeout" and out.get("state") == "LOOKING" and "sends" in out:
                text = f"notification timeout, next {ms_text(float(out.get('wait_ms', 0)))}"
            elif (
                inp.get("type") == "timeout"
                and out.get("state") == "LOOKING"
                and out.get("connect_all")
            ):
                text = "notification timeout with no peer reached: connectAll"
            elif inp.get("type") == "learner_connect_failed":
                text = f"connection to leader n{inp.get('leader')} failed"
        return text

    return node_timelines(w, ctx, words)


def step_path(
    w: Window, ctx: Context, elect: Sid | None
) -> tuple[list[Phase], list[str], dict[Sid, list[str]]]:
    """The outage's phases (oldest first), what the window lacked, each node's timeline:
    from the leader's establishment, or (an outage going on) from `elect`'s decision."""
    outage = w.outage
    ix = _Steps(w.events, ctx, outage.started_seq)
    cursor = None
    if outage.ended_ms is not None and outage.leader is not None and outage.ended_seq is not None:
        cursor = ix.previous_step(outage.leader, outage.ended_seq + 1)
    elif elect is not None:
        cursor = ix.decision_step(elect)
    segs, missing = _step_walk(w, ctx, ix, cursor)
    return _classify_steps(list(reversed(segs)), ix, ctx), missing, _step_timelines(w, ctx)
