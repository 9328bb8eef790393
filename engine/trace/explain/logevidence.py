"""What real servers' logs show in an outage's window, indexed for the walk in
engine.trace.explain.logs: each server's events by time, the links a recording proxy cut,
the state an event shows, a server's decision and last election, the moment its vote had
a quorum, why a vote was sent, and whether two servers' clocks can be compared. Pure."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.vote import Sid
from engine.trace.explain.base import (
    TOLERANCE_MS,
    Context,
    Event,
    VoteKey,
    as_int,
    as_map,
    event_node,
    event_seq,
    event_t,
    vote_key,
)

CHURN = 2
"""Drops of one pair's election connection while a vote travelled that make it churn (one
drop is the normal smaller-sid handshake)."""


class LogEvidence:
    """Indexes of what each real server logged in a window."""

    def __init__(self, events: Sequence[Event], ctx: Context) -> None:
        self.ctx = ctx
        self.by_node: dict[Sid, list[Event]] = {}
        self.times: dict[Sid, list[float]] = {}
        for e in events:
            sid = event_node(e)
            if sid is None or e.get("kind") not in _REAL:
                continue
            self.by_node.setdefault(sid, []).append(e)
        for sid, evs in self.by_node.items():
            self.times[sid] = [event_t(e) for e in evs]
        self.cuts = _cuts(events)
        """Links the recording proxy cut (`--runtime zookeeper`), which no log shows."""

    def cut_of(self, sid: Sid, lo: float, hi: float) -> _Cut | None:
        """The longest cut of a link of `sid` that lasted over part of [lo, hi]."""
        cuts = [c for c in self.cuts if sid in c.sids and c.t0 < hi and c.t1 > lo]
        return max(cuts, key=lambda c: min(c.t1, hi) - max(c.t0, lo), default=None)

    def before(self, sid: Sid, t: float, slack: float = 0.0) -> list[Event]:
        """The node's events at or before t (+ slack), newest last."""
        evs = self.by_node.get(sid, [])
        return evs[: bisect.bisect_right(self.times.get(sid, []), t + slack)]

    def between(self, sid: Sid, lo: float, hi: float) -> list[Event]:
        times = self.times.get(sid, [])
        evs = self.by_node.get(sid, [])
        return evs[bisect.bisect_left(times, lo) : bisect.bisect_right(times, hi)]


_REAL = frozenset({"recv", "sent", "election", "fle_timeout", "peer_state", "took", "zk"})


@dataclass(frozen=True, slots=True)
class _Cut:
    """A fault that dropped traffic between real servers, from `t0` to its heal `t1`."""

    fault_id: str
    text: str
    sids: frozenset[Sid]
    t0: float
    t1: float


def _cuts(events: Sequence[Event]) -> list[_Cut]:
    """The link cuts (`fault` op block: partition, isolate, block) of a real run's trace."""
    open_: dict[str, tuple[str, frozenset[Sid], float]] = {}
    cuts: list[_Cut] = []
    for e in events:
        kind = e.get("kind")
        if kind == "fault" and e.get("op") == "block":
            links = e.get("links") or []
            sids = frozenset(s for link in links for s in link if isinstance(s, int))
            open_[str(e.get("id"))] = (str(e.get("text", "")), sids, event_t(e))
        elif kind == "heal":
            for fault_id in e.get("ids") or list(open_):
                if (opened := open_.pop(str(fault_id), None)) is not None:
                    cuts.append(_Cut(str(fault_id), *opened, event_t(e)))
    cuts += [_Cut(fid, text, sids, t0, float("inf")) for fid, (text, sids, t0) in open_.items()]
    return cuts


def _state_of(e: Event) -> str | None:
    """The state an evidence event shows its server in, if it shows one."""
    kind = e.get("kind")
    if kind == "peer_state" or kind == "took":
        state = e.get("state")
        return state if isinstance(state, str) else None
    if kind == "election":
        return "LOOKING"
    if kind == "recv":
        state = e.get("my_state")
        return state if isinstance(state, str) else None
    return None


def decision_event(ev: LogEvidence, sid: Sid, t: float) -> Event | None:
    """The event where `sid` last left LOOKING (decided) at or before t."""
    decided: Event | None = None
    state: str | None = None
    for e in ev.before(sid, t):
        now = _state_of(e)
        if now is None:
            continue
        if now != "LOOKING" and state in ("LOOKING", None) and e.get("kind") != "recv":
            decided = e
        state = now
    return decided


def last_election(ev: LogEvidence, sid: Sid, t: float) -> Event | None:
    for e in reversed(ev.before(sid, t)):
        if e.get("kind") == "election":
            return e
    return None


def quorum_moment(ev: LogEvidence, sid: Sid, t_dec: float, ctx: Context) -> Event | None:
    """The notification after which `sid`'s final proposal had a quorum of LOOKING votes
    (its own loopback copy included) in its round, before its decision at t_dec."""
    began = last_election(ev, sid, t_dec)
    lo = event_t(began) if began is not None else float("-inf")
    recvs = [
        e
        for e in ev.before(sid, t_dec, TOLERANCE_MS)
        if e.get("kind") == "recv" and event_t(e) >= lo and e.get("my_state") in ("LOOKING", None)
    ]
    own = [e for e in recvs if as_map(e.get("n")).get("sid") == sid]
    final = vote_key(as_map(own[-1].get("n"))) if own else None
    if final is None:
        return recvs[-1] if recvs else None
    votes: dict[Sid, VoteKey] = {}
    moment: Event | None = None
    had = False
    for e in recvs:
        n = as_map(e.get("n"))
        sender = as_int(n.get("sid"))
        key = vote_key(n)
        if sender is None or key is None or n.get("state") != "LOOKING" or key[2] != final[2]:
            continue
        votes[sender] = key
        agreed = [s for s, k in votes.items() if k == final and s in ctx.voters]
        has = ctx.qv.contains_quorum(agreed)
        if has and not had:
            moment = e
        had = has
    return moment if moment is not None else (recvs[-1] if recvs else None)


def send_cause(
    ev: LogEvidence, sender: Sid, key: VoteKey, t_recv: float, receiver: Sid
) -> tuple[Event, str] | None:
    """Why and when `sender` sent the vote `key` that arrived at t_recv, as its log shows:
    its election began (its own vote), it adopted the vote on hearing it from another, or a
    notification timeout made it send again, or it answered the receiver's own notification
    (WorkerReceiver replies at once to a LOOKING server of a lower round, and a decided
    server to any LOOKING one) - the latest of these before the arrival (a little later
    only when its clock may lag: nothing else is found)."""
    for slack in (0.0, TOLERANCE_MS):
        found = _send_cause_by(ev, sender, key, t_recv + slack, receiver)
        if found is not None:
            return found
    return None


def _send_cause_by(
    ev: LogEvidence, sender: Sid, key: VoteKey, t: float, receiver: Sid
) -> tuple[Event, str] | None:
    evs = ev.before(sender, t)
    began = next((e for e in reversed(evs) if e.get("kind") == "election"), None)
    lo = event_t(began) if began is not None else float("-inf")
    # notifications queue while a server is LOOKING, also before its election's first line
    since = float("-inf")
    for e in reversed(evs):
        state = _state_of(e)
        if event_t(e) < lo and state is not None and state != "LOOKING":
            since = event_t(e)
            break
    candidates: list[tuple[Event, str]] = []
    if began is not None and key[0] == sender:
        candidates.append((began, "election"))
    for e in evs:
        if (
            event_t(e) <= since
            or e.get("kind") != "recv"
            or e.get("my_state") not in ("LOOKING", None)
        ):
            continue
        n = as_map(e.get("n"))
        other = as_int(n.get("sid"))
        if other is not None and other != sender and as_int(n.get("leader")) == key[0]:
            # the first vote for that leader it heard; heard before its election began, it
            # was taken (and the vote sent) once the election began
            if began is not None and event_t(e) < lo:
                candidates.append((began, "election"))
            else:
                candidates.append((e, "adopt"))
            break
    for e in reversed(evs):
        if event_t(e) < lo:
            break
        if e.get("kind") == "fle_timeout":
            candidates.append((e, "timeout"))
            break
    for e in reversed(evs):
        n = as_map(e.get("n"))
        if e.get("kind") != "recv" or n.get("sid") != receiver or n.get("state") != "LOOKING":
            continue
        rnd = as_int(n.get("election_epoch"))
        if e.get("my_state") not in ("LOOKING", None) or (rnd is not None and rnd < key[2]):
            candidates.append((e, "adopt"))  # a reply: follow the receiver's notification
        break
    if not candidates:
        return None
    return max(candidates, key=lambda c: (event_t(c[0]), event_seq(c[0])))


def skew_doubt(ctx: Context, a: Sid, b: Sid) -> str | None:
    """Why the times of servers a and b cannot be compared well, if they cannot: no vote was
    logged at both ends (no offset), only in one direction (an offset bounded on one side),
    or the votes disagree."""
    if a == b or not ctx.skew:
        return None
    for sid in (a, b):
        k = ctx.skew.get(sid)
        if k is None or k.get("status") == "unknown":
            return f"n{sid}'s clock offset unknown"
        if k.get("consistent") is False:
            return f"n{sid}'s clock offsets disagree"
        if k.get("status") == "estimated" and (k.get("lo_ms") is None or k.get("hi_ms") is None):
            return f"n{sid}'s clock offset bounded on one side only"
    return None
