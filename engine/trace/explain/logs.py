"""The critical path of an outage as real servers' logs show it (trace 1.1: `zkfle import`):
a decision came finalizeWait after the last notification its server took; a vote was sent
when its sender began its election, adopted the vote on hearing it, answered the receiver's
own notification or timed out - the latest of these its log shows before the vote arrived;
a server began looking when its log says it lost its leader (EOF, a read timeout), started,
or gave up an attempt. Where a server's log is missing, or clocks cannot be compared, the
phase says so (`unknown`, `clock-skew`). Pure: a function of the window's events."""

from __future__ import annotations

from typing import Any

from engine.core.vote import Sid
from engine.trace.explain.base import (
    SYNC_SLOW_SHARE,
    TOLERANCE_MS,
    Context,
    Event,
    Phase,
    Window,
    as_int,
    as_map,
    event_node,
    event_seq,
    event_t,
    ms_text,
    node_timelines,
    quorum_size,
    vote_key,
    vote_words,
)
from engine.trace.explain.logevidence import (
    CHURN,
    LogEvidence,
    decision_event,
    last_election,
    quorum_moment,
    send_cause,
    skew_doubt,
)

_Cursor = tuple[str, Sid, Event]
"""What the evidence walk explains next: (`decided` | `recv` | `timeout` | `election`, the
server, its event)."""


class _EvidenceWalk:
    """The walk back over real servers' evidence (see the module doc)."""

    def __init__(self, w: Window, ctx: Context, ev: LogEvidence) -> None:
        self.ctx = ctx
        self.ev = ev
        self.start = w.outage.started_ms
        self.bound = w.outage.ended_ms if w.outage.ended_ms is not None else self.start
        self.phases: list[Phase] = []
        """Newest first."""
        self.unknown: list[str] = []

    def add(
        self, node: Sid | None, name: str, lo: float, cause: str | None, text: str, seq: int | None
    ) -> None:
        """The phase from `lo` (cut at the outage's start) to where the walk stands."""
        t = max(self.start, min(self.bound, lo))
        self.phases.append(Phase(node, name, t, self.bound - t, cause, text, seq))
        self.bound = t

    def missing(self, node: Sid | None, text: str, what: str, seq: int | None) -> None:
        self.add(node, "unknown", self.start, "unknown", text, seq)
        self.unknown.append(what)

    def run(self, leader: Sid, established: bool = True) -> None:
        """Walk back from `leader`'s establishment (or, for an outage still going on, from
        its decision: that of the leader or of a server that decided to follow)."""
        dec = decision_event(self.ev, leader, self.bound)
        if dec is None:
            self.missing(
                leader,
                f"n{leader}'s log shows no decision to lead",
                f"when n{leader} decided",
                None,
            )
            return
        if established:
            self.establish(leader, event_t(dec))
        else:
            self.bound = min(self.bound, event_t(dec))
        cursor: _Cursor | None = ("decided", leader, dec)
        steps = 0
        while cursor is not None and self.bound > self.start and steps < 10_000:
            steps += 1
            kind, sid, e = cursor
            if event_t(e) > self.bound + TOLERANCE_MS:
                self.missing(
                    sid, "the logs' order of events is not causal here", "order", event_seq(e)
                )
                return
            if kind == "decided":
                cursor = self.decided(sid, e)
            elif kind == "recv":
                cursor = self.received(sid, e)
            elif kind == "timeout":
                cursor = self.timed_out(sid, e)
            else:
                cursor = self.why_looking(sid, e)
        if self.bound > self.start:
            self.missing(None, "the logs do not show what happened before", "earlier events", None)

    def establish(self, leader: Sid, t_dec: float) -> None:
        """Discovery and sync after the leader decided, as the logs show them."""
        ev, ctx = self.ev, self.ctx
        sync_at = next(
            (
                event_t(e)
                for e in ev.between(leader, t_dec, self.bound)
                if e.get("kind") == "peer_state" and e.get("zab") == "SYNCHRONIZATION"
            ),
            None,
        )
        modes: list[str] = []
        trouble: list[str] = []
        cause: str | None = None
        for sid in sorted(ev.by_node):
            for e in ev.between(sid, t_dec, self.bound):
                what = e.get("what")
                if what == "sync" and sid != leader:
                    modes.append(f"{e.get('mode')} to n{sid}")
                elif what == "leader_connect_failed":
                    trouble.append(f"n{sid}'s connection {e.get('reason')} at first")
                    if e.get("reason") == "timed out":
                        cause = "peer-unreachable"
                elif what == "epoch_mismatch":
                    cause = "epoch-mismatch"
                    trouble.append(f"n{sid}: epoch mismatch")
        took = self.bound - t_dec
        budget = ctx.init_limit * ctx.tick_ms
        if cause is None and took > SYNC_SLOW_SHARE * budget:
            cause = "sync-slow"
        synced = f"n{leader} synced its followers" + (f" ({', '.join(modes[:4])})" if modes else "")
        synced += f"; {ms_text(took)} of initLimit's {ms_text(budget)} from its decision"
        gathered = f"n{leader} gathered a quorum of followers and proposed its epoch"
        if trouble:
            gathered += "; " + "; ".join(trouble[:3])
        if sync_at is not None:
            self.add(leader, "sync", sync_at, cause, synced, None)
            self.add(leader, "discovery", t_dec, cause, gathered, None)
        else:
            self.add(leader, "sync", t_dec, cause, f"{gathered}; {synced}", None)

    def decided(self, sid: Sid, e: Event) -> _Cursor | None:
        """`sid` decided at `e`: finalizeWait after the last notification it took (its
        proposal's quorum, or a later vote that was not better and began the wait again)."""
        t_dec = event_t(e)
        q = quorum_moment(self.ev, sid, t_dec, self.ctx)
        if q is None:
            self.missing(
                sid,
                f"n{sid}'s log shows no notification before its decision",
                f"the notifications n{sid} decided on",
                event_seq(e),
            )
            return None
        finalize = self.ctx.finalize_ms
        last = q
        for x in self.ev.between(sid, event_t(q), t_dec - finalize + TOLERANCE_MS):
            if x.get("kind") == "recv" and x is not q:
                last = x
        text = (
            f"n{sid} decided {ms_text(max(0.0, t_dec - event_t(last)))} after the last notification"
            f" it took (finalizeWait {finalize:.0f} ms)"
        )
        if last is not q:
            other = as_map(last.get("n")).get("sid")
            since = self.ctx.clock(event_t(q))
            text += (
                f"; its proposal had had a quorum since {since}, then n{other}'s vote (not"
                " better) began the wait again"
            )
        self.add(sid, "decision", event_t(last), None, text, event_seq(e))
        return ("recv", sid, last)

    def received(self, sid: Sid, e: Event) -> _Cursor | None:
        """`sid` logged receiving a vote: when and why its sender sent it."""
        n = as_map(e.get("n"))
        sender, key = as_int(n.get("sid")), vote_key(n)
        if sender is None or key is None:
            return None
        if sender not in self.ev.by_node:
            self.missing(
                sender,
                f"n{sender}'s vote {vote_words(key)} reached n{sid} at"
                f" {self.ctx.clock(event_t(e))}; n{sender}'s log is missing, so when and why it"
                " sent it is unknown",
                f"n{sender}'s log",
                event_seq(e),
            )
            return None
        found = send_cause(self.ev, sender, key, event_t(e), sid)
        if found is None:
            self.missing(
                sender,
                f"n{sender}'s log does not show why it sent {vote_words(key)}",
                f"when n{sender} sent {vote_words(key)}",
                event_seq(e),
            )
            return None
        src, how = found
        text = f"n{sender}→n{sid}: vote {vote_words(key)}"
        restarted = [
            x for x in self.ev.between(sid, event_t(src), event_t(e)) if x.get("what") == "start"
        ]
        if restarted and sender != sid:
            # the receiver (re)started after the vote was sent: it could only arrive once
            # the receiver was up, which is what the walk follows
            up = restarted[-1]
            began = next(
                (
                    x
                    for x in self.ev.between(sid, event_t(up), event_t(e))
                    if x.get("kind") == "election"
                ),
                None,
            )
            lo = event_t(began) if began is not None else event_t(up)
            self.add(sid, "round", lo, None, f"{text} (n{sid} was not up before)", event_seq(e))
            if began is not None:
                return ("election", sid, began)
            self.add(
                sid,
                "down",
                self.start,
                None,
                f"n{sid} started at {self.ctx.clock(event_t(up))}",
                event_seq(up),
            )
            return None
        if sender == sid:
            text = f"n{sid}'s own vote {vote_words(key)} came back (loopback)"
        trouble = _connection_trouble(self.ev, sender, sid, event_t(src), event_t(e))
        cause = trouble[0] if trouble else None
        if trouble:
            text += f"; {trouble[1]}"
        doubt = skew_doubt(self.ctx, sender, sid)
        if event_t(e) + TOLERANCE_MS < event_t(src) and sender != sid:
            cause = cause or "clock-skew"
            text += f"; logged received {ms_text(event_t(src) - event_t(e))} before it was sent"
        elif doubt and cause is None:
            cause = "clock-skew"
            text += f" ({doubt})"
        self.add(sid, "connect" if trouble else "round", event_t(src), cause, text, event_seq(e))
        if how == "election":
            return ("election", sender, src)
        if how == "adopt":
            return ("recv", sender, src)
        return ("timeout", sender, src)

    def timed_out(self, sid: Sid, e: Event) -> _Cursor | None:
        """`sid`'s notification timeout ran out (the line gives the new, doubled value)."""
        ev, ctx = self.ev, self.ctx
        value = as_int(e.get("timeout_ms"))
        earlier = [
            x for x in ev.before(sid, event_t(e)) if x.get("kind") == "fle_timeout" and x is not e
        ]
        expired = float(value) / 2 if value is not None else None
        if value is not None and value >= ctx.max_interval_ms and earlier:
            expired = float(as_int(earlier[-1].get("timeout_ms")) or value)
        began = event_t(e) - (expired or 0.0)
        prior = [
            x
            for x in ev.before(sid, began + TOLERANCE_MS)
            if x.get("kind") in ("election", "fle_timeout", "recv") and x is not e
        ]
        failed = [x for x in ev.between(sid, began, event_t(e)) if x.get("what") == "conn_failed"]
        unreachable = _unreachable_peers(ev, sid, event_t(e))
        if unreachable:
            # Peers whose own logs show them running refused it or could not be reached (a
            # firewall, a partition, a name that does not resolve): that is why it heard
            # nothing, however long its back-off had grown.
            cause: str | None = "peer-unreachable"
        elif expired is not None and expired > ctx.min_interval_ms:
            cause = "notification-backoff"
        else:
            cause = "peer-unreachable" if failed else None
        text = (
            f"n{sid} heard nothing for its notification timeout {ms_text(expired or 0)}"
            f" (next {ms_text(float(value or 0))}), then sent its vote again"
        )
        if failed:
            peers = ", ".join(f"n{p}" for p in sorted({str(x.get("peer")) for x in failed}))
            text += f"; its connections to {peers} failed ({failed[-1].get('reason')})"
        if unreachable:
            names = ", ".join(f"n{p}" for p in unreachable)
            text += (
                f"; {names} ran (by their logs) but could not be reached since its election began"
            )
        lo = min(event_t(prior[-1]), began) if prior else began
        cut = ev.cut_of(sid, lo, min(self.bound, event_t(e)))
        if cut is not None:
            # The proxy dropped its notifications (`--runtime zookeeper`): the wait up to
            # the heal went to the cut; what it waited after the heal, to its timeout.
            if cut.t1 < self.bound:
                self.add(sid, "wait", cut.t1, cause, text + "; after the heal", event_seq(e))
            why = f"{cut.fault_id} {cut.text} dropped what n{sid} and its peers sent"
            self.add(sid, "fault", max(lo, cut.t0), "peer-unreachable", why, event_seq(e))
            text += "; before the cut"
        if cut is None or self.bound > lo:
            self.add(sid, "wait", lo, cause, text, event_seq(e))
        if not prior:
            return None
        p = prior[-1]
        if p.get("kind") == "election":
            return ("election", sid, p)
        if p.get("kind") == "fle_timeout":
            return ("timeout", sid, p)
        if as_map(p.get("n")).get("sid") != sid:
            return ("recv", sid, p)
        began_election = last_election(ev, sid, event_t(p))
        return ("election", sid, began_election) if began_election is not None else None

    def why_looking(self, sid: Sid, began: Event) -> _Cursor | None:
        """Why `sid` began the election logged at `began`, from what its log shows before."""
        ev, ctx = self.ev, self.ctx
        t_began = event_t(began)
        for x in reversed(ev.before(sid, t_began)):
            if x is began:
                continue
            kind, what = x.get("kind"), x.get("what")
            if kind == "election":
                break
            if kind == "zk" and what == "start":
                self.add(
                    sid,
                    "down",
                    event_t(x),
                    None,
                    f"n{sid} started at {ctx.clock(event_t(x))} and began its election at"
                    f" {ctx.clock(t_began)} (the server's start-up)",
                    event_seq(began),
                )
                if event_t(x) > self.start:
                    up = _up_at(ev, ctx, event_t(x))
                    needed = quorum_size(ctx)
                    cause = "no-quorum" if up < needed else None
                    text = f"n{sid} was not running"
                    if cause is not None:
                        text += f"; {up} of {len(ctx.voters)} voters were up, {needed} needed"
                    self.add(sid, "down", self.start, cause, text, event_seq(x))
                return None
            if kind == "zk" and what in LEFT_LEADER:
                # the lines of one leave-taking: the one that says why, and the first one
                group = [
                    y
                    for y in ev.between(sid, event_t(x) - ctx.tick_ms, t_began)
                    if y.get("kind") == "zk" and y.get("what") in LEFT_LEADER
                ]
                expired = _init_limit_words(ev, ctx, sid, group)
                if expired is not None:
                    # The attempt to lead or follow that began at its last decision ended
                    # after initLimit ticks without a synced quorum: a restart.
                    previous = decision_event(ev, sid, min(event_t(y) for y in group))
                    lo = event_t(previous) if previous is not None else self.start
                    self.add(sid, "restart", lo, "init-limit-expired", expired, event_seq(began))
                    return ("decided", sid, previous) if previous is not None else None
                best = min(group, key=lambda y: LEFT_LEADER[str(y.get("what"))])
                read_timeout = ctx.sync_limit * ctx.tick_ms
                lo = min(event_t(y) for y in group)
                cause, text = _detection_words(ctx, sid, best, lo - self.start)
                if cause == "leader-lost-sync-timeout":
                    lo -= read_timeout
                elif cause == "leader-lost-connection" and lo - self.start <= read_timeout:
                    # Its leader was gone since the outage began (the first follower's EOF,
                    # engine.trace.elections); reading the end of its own connection took it
                    # this long (a busy or frozen JVM): detection, not an unknown gap.
                    lo = self.start
                self.add(sid, "detection", lo, cause, text, event_seq(began))
                return None
            if kind == "zk" and what in ("epoch_mismatch", "leader_connect_failed"):
                mismatch = what == "epoch_mismatch"
                text = (
                    f"n{sid} refused its leader's epoch and looked again"
                    if mismatch
                    else f"n{sid} could not connect to its leader ({x.get('reason')}) and looked"
                    " again"
                )
                cause = "epoch-mismatch" if mismatch else "peer-unreachable"
                self.add(sid, "restart", event_t(x), cause, text, event_seq(began))
                previous = decision_event(ev, sid, event_t(x))
                return ("decided", sid, previous) if previous is not None else None
        self.missing(
            sid,
            f"why n{sid} began looking at {ctx.clock(t_began)} is not in its log",
            f"why n{sid} began looking",
            event_seq(began),
        )
        return None


LEFT_LEADER = {
    "lead_failed": 0,
    "follow_failed": 1,
    "leader_disconnected": 2,
    "conn_broken": 3,
    "shutdown": 4,
}
"""What a server logs as it leaves its leader (or gives up leading), the most telling
first."""

NO_QUORUM_SYNCED = "Waiting for a quorum of followers"
"""Leader.lead's shutdown reason when waitForNewLeaderAck ran out (3.4+)."""


def _init_limit_words(ev: LogEvidence, ctx: Context, sid: Sid, group: list[Event]) -> str | None:
    """What a server's leave-taking lines say when its attempt to lead or follow ran out of
    initLimit ticks, or None: a leader's wait for a quorum of followers timed out (its
    epoch, their epoch acks, their NEWLEADER acks), or a learner not yet synced read
    nothing for its socket timeout, which is initLimit ticks until it is synced
    (Learner.connectToLeader; syncLimit only from NEWLEADER/UPTODATE on)."""
    limit = f"initLimit ({ctx.init_limit} x {ctx.tick_ms:.0f} ms)"
    for y in group:
        reason = str(y.get("reason") or "")
        if y.get("what") == "lead_failed" or (
            y.get("what") == "shutdown" and reason.startswith(NO_QUORUM_SYNCED)
        ):
            return f"leader n{sid} waited {limit} for a quorum of followers: {reason}"
    timed_out = [
        y for y in group if y.get("what") == "follow_failed" and y.get("reason") == "read timed out"
    ]
    if not timed_out:
        return None
    synced = [y.get("synced") for y in group if y.get("what") == "leader_disconnected"]
    phase = _zab_phase(ev, sid, event_t(timed_out[0]))
    if (synced and synced[0] is False) or (
        not synced and phase in ("DISCOVERY", "SYNCHRONIZATION")
    ):
        at = ctx.clock(event_t(timed_out[0]))
        return (
            f"n{sid} heard nothing from its new leader for {limit} before it was synced: Read"
            f" timed out at {at}"
        )
    return None


def _zab_phase(ev: LogEvidence, sid: Sid, t: float) -> str | None:
    """The zab phase `sid` last logged (3.5+) at or before t."""
    for e in reversed(ev.before(sid, t)):
        if e.get("kind") == "peer_state":
            zab = e.get("zab")
            return zab if isinstance(zab, str) else None
    return None


def _connection_trouble(
    ev: LogEvidence, sender: Sid, receiver: Sid, lo: float, hi: float
) -> tuple[str, str] | None:
    """Connection failures or churn the sender or receiver logged while a vote travelled."""
    failed = [
        x
        for x in ev.between(sender, lo, hi)
        if x.get("what") == "conn_failed"
        and (x.get("peer") == receiver or x.get("reason") in ("timed out", "unresolved"))
    ]
    if failed:
        peers = ", ".join(sorted({f"n{x.get('peer')}" for x in failed}))
        reasons = ", ".join(sorted({str(x.get("reason")) for x in failed}))
        cost = ""
        if any(x.get("reason") in ("timed out", "unresolved") for x in failed):
            cost = "; before 3.6 connectOne waited on each, up to cnxTimeout (ZOOKEEPER-3756)"
        return (
            "peer-unreachable",
            f"{len(failed)} connection attempt(s) of n{sender} to {peers} failed meanwhile"
            f" ({reasons}){cost}",
        )
    pair = {sender, receiver}
    dropped = [
        x
        for sid in (sender, receiver)
        for x in ev.between(sid, lo, hi)
        if x.get("what") in ("conn_dropped", "conn_broken") and {sid, x.get("peer")} == pair
    ]
    if len(dropped) >= CHURN:
        return (
            "connection-churn",
            f"the election connection of n{sender} and n{receiver} was dropped and made again"
            f" {len(dropped)} times (only the one the larger sid opens survives)",
        )
    return None


def _unreachable_peers(ev: LogEvidence, sid: Sid, t: float) -> list[Sid]:
    """Peers `sid`'s connections failed to, in its election up to t, while their own logs
    show them running, and that it has not heard from since its election began."""
    election = last_election(ev, sid, t)
    since = event_t(election) if election is not None else t
    seen = ev.between(sid, since, t)
    heard = {as_int(as_map(x.get("n")).get("sid")) for x in seen if x.get("kind") == "recv"}
    return sorted(
        {
            peer
            for x in seen
            if x.get("what") == "conn_failed"
            and (peer := as_int(x.get("peer"))) is not None
            and peer not in heard
            and _running(ev, peer, event_t(x))
        }
    )


def _up_at(ev: LogEvidence, ctx: Context, t: float) -> int:
    """Voters whose logs show them up just before t."""
    return sum(_running(ev, sid, t) for sid in ctx.voters)


def _running(ev: LogEvidence, sid: Sid | None, t: float) -> bool:
    """Whether `sid`'s log shows it up just before t: it logged before, and what it logs
    next is not a start (a server that starts again was down before it)."""
    if sid is None or not ev.before(sid, t - 1):
        return False
    after = ev.between(sid, t - 1, float("inf"))
    return not after or not (after[0].get("kind") == "zk" and after[0].get("what") == "start")


def _detection_words(
    ctx: Context, sid: Sid, x: Event, late_ms: float = 0.0
) -> tuple[str | None, str]:
    """What a server's log says about how it left its leader (`late_ms` after the outage
    began)."""
    what, reason = x.get("what"), str(x.get("reason") or "")
    at = ctx.clock(event_t(x))
    if what == "shutdown" and x.get("role") == "leader":
        if "sufficient" in reason.lower() or "quorum" in reason.lower():
            return "quorum-lost", f"leader n{sid} stepped down at {at}: {reason}"
        return None, f"leader n{sid} shut down at {at}" + (f": {reason}" if reason else "")
    if reason == "read timed out":
        return (
            "leader-lost-sync-timeout",
            f"n{sid} heard nothing from its leader for syncLimit ({ctx.sync_limit} x"
            f" {ctx.tick_ms:.0f} ms): Read timed out at {at}",
        )
    if reason == "epoch mismatch":
        return "epoch-mismatch", f"n{sid} refused its leader's epoch at {at}"
    if reason in ("eof", "reset", "") or what in ("leader_disconnected", "conn_broken"):
        how = reason.upper() if reason in ("eof",) else (reason or "closed")
        if late_ms >= 1:
            at += f", {ms_text(late_ms)} after the outage began"
        return (
            "leader-lost-connection",
            f"n{sid}'s connection to its leader closed ({how}) at {at}: it went LOOKING at once",
        )
    return None, f"n{sid} left its leader at {at} ({reason})"


def _evidence_timelines(w: Window, ctx: Context) -> dict[Sid, list[str]]:
    shown: dict[Sid, tuple[Any, ...]] = {}
    """The state each node's timeline last said (servers log a state in several lines)."""

    def words(sid: Sid, e: Event) -> str | None:
        kind = e.get("kind")
        text = None
        if kind == "election":
            text = f"new election, zxid {as_map(e.get('proposal')).get('zxid')}"
        elif kind == "peer_state":
            zab = e.get("zab")
            now = (e.get("state"), zab if zab != "ELECTION" else None, e.get("sync"))
            if shown.get(sid) == now or (shown.get(sid, (None,))[0] == now[0] and not zab):
                return None
            shown[sid] = now
            text = f"{e.get('state')}" + (f" {str(zab).lower()}" if zab else "")
            if e.get("sync"):
                text += f" {e.get('sync')}"
        elif kind == "took":
            text = f"{e.get('state')}: election took {e.get('took_ms')} ms"
        elif kind == "fle_timeout":
            text = f"notification timeout, next {e.get('timeout_ms')} ms"
        elif kind == "zk":
            what = e.get("what")
            if what in (
                "start",
                "lead_failed",
                "follow_failed",
                "conn_failed",
                "epoch_mismatch",
                "quorum_formed",
                "leader_connect_failed",
                "sync",
                "shutdown",
                "leader_disconnected",
            ):
                detail = e.get("reason") or e.get("mode") or e.get("peer") or ""
                text = f"{str(what).replace('_', ' ')} {detail}".strip()
        return text

    return node_timelines(w, ctx, words)


def decided_last(ev: LogEvidence, start: float, last: float) -> Sid | None:
    """The server whose log shows the latest decision in the outage (a fragment from a
    follower: its decision to follow)."""
    found = [
        (event_t(d), sid)
        for sid in sorted(ev.by_node)
        if (d := decision_event(ev, sid, last)) is not None and event_t(d) >= start
    ]
    return max(found)[1] if found else None


def followed(w: Window, sid: Sid) -> Sid | None:
    """Whom `sid` decided for: its state event's vote, or its last own LOOKING vote."""
    leader: Sid | None = None
    for e in w.events:
        if event_node(e) != sid:
            continue
        if e.get("kind") == "peer_state" and e.get("state") == "LEADING":
            leader = sid
        elif e.get("kind") == "recv":
            n = as_map(e.get("n"))
            if n.get("sid") == sid and n.get("state") == "LOOKING":
                leader = as_int(n.get("leader"))
    return leader


def log_path(
    w: Window, ctx: Context, elect: Sid | None
) -> tuple[list[Phase], list[str], dict[Sid, list[str]], Sid | None]:
    """The outage's phases (oldest first), what the logs lacked, each server's timeline, and
    whom the walk began from when the outage goes on (`elect`, else the server that decided
    last)."""
    outage = w.outage
    walk = _EvidenceWalk(w, ctx, LogEvidence(w.events, ctx))
    last = w.last_ms
    if outage.leader is not None and outage.ended_ms is not None:
        walk.run(outage.leader)
    elif elect is None:
        elect = decided_last(walk.ev, outage.started_ms, last)
    if outage.ended_ms is None and elect is not None:
        walk.bound = last
        walk.run(elect, established=False)
    unknown = list(walk.unknown)
    if ctx.logged:
        unknown += [f"n{sid}'s log" for sid in sorted(ctx.voters - ctx.logged)]
    return list(reversed(walk.phases)), unknown, _evidence_timelines(w, ctx), elect
