"""What engine.trace.explain's two walks share: the phases they produce, the context they read
from a trace's header (the ensemble, its timing, real servers' clocks), an outage's window of
events, and small readers of events and votes. Pure: no clock, files or threads."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.core.quorum.error import ConfigError
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid, parse_zxid
from engine.trace.elections import Credential, Election, Outage

Event = Mapping[str, Any]

TOLERANCE_MS = 20.0
"""Slack between a server's log timestamps and what its threads did (as zkcheck's)."""

SYNC_SLOW_SHARE = 0.5
"""Discovery and sync longer than this share of initLimit x tickTime are `sync-slow`."""

PHASES = (
    "detection",
    "down",
    "round",
    "wait",
    "decision",
    "connect",
    "restart",
    "discovery",
    "sync",
    "fault",
    "unknown",
)
"""Phase names, as `--json` carries them."""


@dataclass(frozen=True, slots=True)
class Phase:
    """One piece of the critical path."""

    node: Sid | None
    phase: str
    start: float
    ms: float
    cause: str | None
    """A cause id of engine.trace.explain.causes, or None: the algorithm's normal cost."""
    text: str
    seq: int | None = None
    """The event that ended it."""

    @property
    def end(self) -> float:
        return self.start + self.ms

    def json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "phase": self.phase,
            "start": round(self.start, 3),
            "ms": round(self.ms, 3),
            "cause": self.cause,
            "text": self.text,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class Context:
    """What an explanation needs from the trace's header."""

    qv: QuorumVerifier
    tick_ms: float
    init_limit: int
    sync_limit: int
    finalize_ms: float
    min_interval_ms: float
    max_interval_ms: float
    imported: bool
    origin: datetime | None
    """When t_ms 0 was on the servers' clock (imported traces; see `_origin`)."""
    skew: Mapping[Sid, Mapping[str, Any]] = field(default_factory=dict)
    """Imported traces: each server's clock offset estimate (header source.skew)."""
    logged: frozenset[Sid] = frozenset()
    """Imported traces: the servers whose logs were read."""
    voters: frozenset[Sid] = frozenset()
    """The voters that count (weight > 0)."""

    def clock(self, t_ms: float) -> str:
        return clock_at(self.origin, t_ms)

    def iso(self, t_ms: float | None) -> str | None:
        if self.origin is None or t_ms is None:
            return None
        moment = self.origin + timedelta(milliseconds=t_ms)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def context_from_header(header: Mapping[str, Any]) -> Context:
    """The context of a trace header (engine.trace's format); ConfigError for a bad config."""
    cluster = header.get("cluster")
    config = cluster.get("config") if isinstance(cluster, Mapping) else None
    if not isinstance(config, str):
        raise ConfigError("the header has no cluster config")
    qv = parse_dynamic_config(config)
    timing = header.get("timing")
    t: Mapping[str, Any] = timing if isinstance(timing, Mapping) else {}

    def num(key: str, default: float) -> float:
        value = t.get(key)
        return float(value) if isinstance(value, int | float) and value > 0 else default

    imported = header.get("runtime") == "imported"
    skew: dict[Sid, Mapping[str, Any]] = {}
    logged: frozenset[Sid] = frozenset()
    if imported:
        source = header.get("source")
        if isinstance(source, Mapping):
            raw = source.get("skew")
            if isinstance(raw, Mapping):
                skew = {int(k): v for k, v in raw.items() if k.isdigit() and isinstance(v, Mapping)}
            servers = source.get("servers")
            if isinstance(servers, Mapping):
                logged = frozenset(int(k) for k in servers if k.isdigit())
    return Context(
        qv=qv,
        tick_ms=num("tick_time_ms", 2000.0),
        init_limit=int(num("init_limit", 10)),
        sync_limit=int(num("sync_limit", 5)),
        finalize_ms=num("finalize_wait_ms", 200.0),
        min_interval_ms=num("min_notification_interval_ms", 200.0),
        max_interval_ms=num("max_notification_interval_ms", 60000.0),
        imported=imported,
        origin=None,
        skew=skew,
        logged=logged,
        voters=frozenset(s for s in qv.voting_members if qv.weight(s) > 0),
    )


def clock_at(origin: datetime | None, t_ms: float) -> str:
    """A trace time as people read it: the servers' wall clock for imported traces (with
    their origin), the run's own clock otherwise."""
    if origin is not None:
        moment = origin + timedelta(milliseconds=t_ms)
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return clock_text(t_ms)


def clock_text(t_ms: float) -> str:
    """A time on a run's clock: `12.345s`, `1m05.250s`."""
    seconds = t_ms / 1000.0
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:06.3f}s"


def ms_text(ms: float) -> str:
    """A duration: `412 ms`, `2.30 s`, `1 m 5.2 s`."""
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, rest = divmod(ms / 1000, 60)
    return f"{int(minutes)} m {rest:.1f} s"


@dataclass(frozen=True, slots=True)
class Window:
    """One outage's events (with a lead-in), and the election that ended it."""

    outage: Outage
    election: Election | None
    events: tuple[Event, ...]
    dropped: int = 0
    """Events of the outage left out (more than MAX_WINDOW)."""
    notes: tuple[str, ...] = ()

    @property
    def outage_events(self) -> Sequence[Event]:
        """The events from the outage's start on (the lead-in left out)."""
        first = bisect.bisect_left(self.events, self.outage.started_seq, key=event_seq)
        return self.events[first:]

    @property
    def last_ms(self) -> float:
        """The time of its last event."""
        return event_t(self.events[-1]) if self.events else self.outage.started_ms


def node_timelines(
    w: Window, ctx: Context, words: Callable[[Sid, Event], str | None]
) -> dict[Sid, list[str]]:
    """What each node did during the outage: the `words` of each of its events that has
    some, after the event's time (the two walks word different events)."""
    lines: dict[Sid, list[str]] = {}
    for e in w.outage_events:
        sid = event_node(e)
        if sid is not None:
            text = words(sid, e)
            if text is not None:
                lines.setdefault(sid, []).append(f"{ctx.clock(event_t(e))} {text}")
    return lines


def event_seq(e: Event) -> int:
    seq = e.get("seq")
    return seq if type(seq) is int else 0


def event_t(e: Event) -> float:
    t = e.get("t_ms")
    return t if type(t) is float else float(t) if type(t) is int else 0.0


def event_node(e: Event) -> Sid | None:
    n = e.get("node")
    return n if type(n) is int else None


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_zxid(value: Any) -> int:
    try:
        return parse_zxid(value) if isinstance(value, str) else 0
    except ValueError:
        return 0


VoteKey = tuple[Sid, int, int, int]
"""(leader, zxid, round, peer epoch) of a LOOKING vote."""


def vote_key(n: Mapping[str, Any]) -> VoteKey | None:
    leader, rnd = as_int(n.get("leader")), as_int(n.get("election_epoch"))
    if leader is None or rnd is None:
        return None
    return (leader, as_zxid(n.get("zxid")), rnd, as_int(n.get("peer_epoch")) or 0)


def better_vote(new: VoteKey, cur: VoteKey, ctx: Context) -> bool:
    """totalOrderPredicate on two votes (epoch, then zxid, then sid; ZOOKEEPER-1419),
    never for a zero-weight server."""
    if ctx.qv.weight(new[0]) == 0 if new[0] in ctx.qv.all_members else False:
        return False
    return (new[3], new[1], new[0]) > (cur[3], cur[1], cur[0])


def credential_of(key: VoteKey) -> Credential:
    return (key[3], key[1], key[0])


def vote_words(key: VoteKey) -> str:
    return f"n{key[0]} (r{key[2]} e{key[3]} 0x{key[1]:x})" if key[1] >= 0 else f"n{key[0]}"


def quorum_size(ctx: Context) -> int:
    """The fewest voters that form a quorum (majorities: exactly; hierarchies: a bound)."""
    voters = sorted(ctx.voters)
    for k in range(1, len(voters) + 1):
        if ctx.qv.contains_quorum(voters[:k]) or ctx.qv.contains_quorum(voters[-k:]):
            return k
    return len(voters)
