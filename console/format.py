"""Provides what the console shows as text: votes, states, one line per trace event, and the
tracker that derives the safety/liveness lamps from events (the elections timeline comes
from `engine.trace.elections`, through the backend).

Shared by the Textual app and the shell; it imports Rich (for styled text) but not Textual.
Every function here tolerates events with missing or odd fields (a trace from a newer
version, a damaged file): the worst outcome is a plainer line, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState, Sid, Vote, zxid_hex
from engine.trace.elections import Credential, deciding_field

# --- states and votes ----------------------------------------------------------------------------

STATE_STYLES: dict[str, str] = {
    "LOOKING": "bold yellow",
    "FOLLOWING": "bold dodger_blue1",
    "LEADING": "bold green",
    "OBSERVING": "bold cyan",
    "down": "red",
}
"""The colour of each state: LOOKING yellow, FOLLOWING blue, LEADING green, OBSERVING
cyan, a node that is down red; a paused node is shown dim."""

STATE_SHORT = {"LOOKING": "K", "FOLLOWING": "F", "LEADING": "L", "OBSERVING": "O", "down": "-"}


def state_name(node: NodeView) -> str:
    """LOOKING, FOLLOWING, LEADING, OBSERVING or `down`."""
    if not node.alive or node.state is None:
        return "down"
    return node.state.name


def state_text(node: NodeView, short: bool = False) -> Text:
    """The node's state in its colour (dim while paused, with `‖`)."""
    name = state_name(node)
    style = STATE_STYLES[name]
    label = STATE_SHORT[name] if short else name
    if node.paused and node.alive:
        return Text.assemble((label, f"{style} dim"), ("‖", "bold magenta"))
    return Text(label, style)


def vote_fields(vote: Vote) -> tuple[str, str, str]:
    """A vote's (peer epoch, zxid, leader), totalOrderPredicate's order, as shown: `e1`,
    `0x100000002`, `n5`."""
    return f"e{vote.peer_epoch}", zxid_hex(vote.zxid), f"n{vote.leader}"


def vote_text(vote: Vote | None) -> str:
    """A current vote, round first (FLE compares rounds before votes): `r2 e1 n5`."""
    if vote is None:
        return "-"
    return f"r{vote.election_epoch} e{vote.peer_epoch} n{vote.leader}"


DECIDING = "bold underline"
"""How the field that decides between two votes is marked."""


def deciding(votes: Iterable[Vote]) -> tuple[Credential, int] | None:
    """The best of `votes` by totalOrderPredicate, and the field of (epoch, zxid, sid) by
    which it beats the best vote for another leader; None if they all name one leader."""
    credentials = [(v.peer_epoch, v.zxid, v.leader) for v in votes]
    if not credentials:
        return None
    best = max(credentials)
    others = [c for c in credentials if c[2] != best[2]]
    index = deciding_field(best, max(others)) if others else None
    return None if index is None else (best, index)


def marked_vote(vote: Vote, mark: tuple[Credential, int] | None) -> Text:
    """A proposal, `e1 0x100000002 n5`, with the deciding field marked if it is the best
    vote (see `deciding`)."""
    best = mark is not None and (vote.peer_epoch, vote.zxid, vote.leader) == mark[0]
    index = mark[1] if best and mark is not None else None
    return Text(" ").join(
        Text(part, DECIDING if i == index else "") for i, part in enumerate(vote_fields(vote))
    )


def queues_text(node: NodeView) -> str:
    """Send queue depth per peer, compactly: `2:1 5:1` (empty queues left out), or `0`."""
    busy = [f"{sid}:{depth}" for sid, depth in node.send_queues if depth]
    return " ".join(busy) if busy else "0"


def send_total(node: NodeView) -> int:
    return sum(depth for _, depth in node.send_queues)


def ms_text(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms >= 10_000:
        return f"{ms / 1000:.1f}s"
    if ms >= 1000:
        return f"{ms / 1000:.2f}s"
    return f"{ms:.0f}ms"


def clock_text(t_ms: float) -> str:
    """A run's clock: `12.345s`, or `3m04.5s` past a minute."""
    if t_ms < 60_000:
        return f"{t_ms / 1000:.3f}s"
    minutes, rest = divmod(t_ms / 1000, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


def cluster_text(view: ClusterView) -> Text:
    """The serving leader and the quorum, whatever else goes on:
    `leader n4 · quorum 3/5 · 2 LOOKING`, or `no quorum: 2 of 5 up, 3 needed`."""
    quorum = view.quorum
    if quorum is not None and not quorum.met:
        return Text(
            f"no quorum: {quorum.up} of {quorum.voters} up, {quorum.needed} needed", "bold red"
        )
    leader = view.serving_leader
    if leader is None:
        text = Text("no leader", "bold yellow")
    else:
        text = Text(f"leader n{leader}", "bold green")
    if quorum is not None:
        text.append(f" · quorum {quorum.up}/{quorum.voters}")
    looking = len(view.looking)
    if looking:
        text.append(f" · {looking} LOOKING", "yellow")
    return text


def node_summary(view: ClusterView) -> str:
    """One line for a prompt toolbar: `leader n5 · quorum 5/5 │ n1 F n2 F n3 F n4 F n5 L`."""
    head = cluster_text(view).plain
    nodes = " ".join(
        f"n{n.sid} {STATE_SHORT[state_name(n)]}{'‖' if n.paused else ''}" for n in view.nodes
    )
    faults = f" │ faults {' '.join(f.fault_id for f in view.faults)}" if view.faults else ""
    return f"{head} │ {nodes}{faults} │ t {clock_text(view.t_ms)} seq {view.seq}"


# --- events --------------------------------------------------------------------------------------

VERBOSE_KINDS = frozenset({"step", "zsend", "zdeliver", "conn", "snapshot", "log"})
"""Kinds the log hides unless asked for everything (they are most of a trace; `log` is
an imported server log line ZooKeeper's election does not explain)."""

QUIET_KINDS = frozenset({"snapshot"})
"""Kinds never shown as a line."""

MAX_OUTPUT_LINES = 60
"""The most lines of one command's output the log shows (the trace has all of it)."""

_NodeState = tuple[str, str, int, object, object]
"""What a node's last `state` event said: state, zab phase, logicalclock, current epoch,
last zxid."""
_Context = _NodeState | str | None
"""What a line needs that its event does not say: the node's state before a `state` event,
the type of the packet a `zdeliver` event delivers."""
_PACKETS_KEPT = 4096
"""Zab packets in flight whose type the formatter remembers for their delivery line."""


class LogLine:
    """One event as the message log shows it.

    The text is made on first use: under a storm most lines scroll away unseen, so the
    log only pays for the ones it draws (or filters)."""

    __slots__ = ("_body", "_context", "_event", "kind", "link", "msg", "node", "seq", "t_ms")

    def __init__(
        self,
        seq: int,
        t_ms: float,
        kind: str,
        body: Text | None = None,
        node: Sid | None = None,
        msg: str | None = None,
        link: tuple[Sid, Sid] | None = None,
        *,
        event: Mapping[str, Any] | None = None,
        context: _Context = None,
    ) -> None:
        self.seq = seq
        self.t_ms = t_ms
        self.kind = kind
        self.node = node
        self.msg = msg
        """The message id (`m12`, `p3`) the line is about, for the deliver/drop keys."""
        self.link = link
        """The directed link (from, to) the message travels, for the hold key."""
        self._body = body
        self._event = event
        self._context = context

    @property
    def verbose(self) -> bool:
        return self.kind in VERBOSE_KINDS

    @property
    def body(self) -> Text:
        if self._body is None:
            event = self._event or {}
            try:
                self._body = _body(event, self.kind, self.node, self.msg, self._context)
            except Exception as exc:  # a strange event must not break the log
                self._body = Text(f"unreadable event ({exc}): {dict(event)!r}", "red")
            self._event = None
        return self._body

    @property
    def plain(self) -> str:
        return self.body.plain

    def __repr__(self) -> str:
        return f"LogLine({self.seq}, {self.kind!r}, {self.plain!r})"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _n(sid: Any) -> str:
    return f"n{sid}" if _int(sid) is not None else "n?"


def _vote_json_text(d: Any) -> str:
    """A vote of a trace event, round first and then in totalOrderPredicate's order:
    `r1 e0 0x0 n5`."""
    if not isinstance(d, Mapping):
        return "-"
    parts = []
    if "election_epoch" in d:
        parts.append(f"r{d['election_epoch']}")
    if "peer_epoch" in d:
        parts.append(f"e{d['peer_epoch']}")
    if "zxid" in d:
        parts.append(str(d["zxid"]))
    parts.append(f"n{d.get('leader', '?')}")
    return " ".join(parts)


class EventFormatter:
    """Turns events into log lines; remembers each node's last state to show transitions."""

    def __init__(self) -> None:
        self._states: dict[Sid, _NodeState] = {}
        self._packets: dict[str, str] = {}
        """The type of each Zab packet sent and not yet delivered, by message id: a
        `zdeliver` event names only the id."""

    def reset(self) -> None:
        self._states.clear()
        self._packets.clear()

    def line(self, e: Mapping[str, Any]) -> LogLine | None:
        """The line for one event (its text made later), or None for kinds never shown."""
        try:
            kind = str(e.get("kind", "?"))
            if kind in QUIET_KINDS or (kind == "invariant" and e.get("ok", True)):
                return None
            seq = _int(e.get("seq")) or 0
            t = e.get("t_ms")
            t_ms = float(t) if isinstance(t, int | float) else 0.0
            node = _int(e.get("node"))
            raw_msg = e.get("msg")
            msg = raw_msg if isinstance(raw_msg, str) else None
            link: tuple[Sid, Sid] | None = None
            context: _Context = None
            if kind in ("send", "zsend"):
                to = _int(e.get("to"))
                link = (node, to) if node is not None and to is not None else None
                packet = e.get("packet")
                if msg is not None and isinstance(packet, Mapping):
                    self._remember(msg, str(packet.get("type", "")))
            elif kind in ("deliver", "zdeliver"):
                src = _int(e.get("from"))
                link = (src, node) if node is not None and src is not None else None
                if msg is not None and kind == "zdeliver":
                    context = self._packets.pop(msg, None)
            elif kind == "drop":
                src, dst = _int(e.get("from")), _int(e.get("to"))
                link = (src, dst) if src is not None and dst is not None else None
            elif kind == "state" and node is not None:
                context = self._states.get(node)
                lc = _int(e.get("logicalclock")) or 0
                self._states[node] = (
                    str(e.get("state")),
                    str(e.get("zab", "")),
                    lc,
                    e.get("current_epoch"),
                    e.get("last_zxid"),
                )
            elif kind in ("boot", "stop") and node is not None:
                self._states.pop(node, None)
            return LogLine(seq, t_ms, kind, None, node, msg, link, event=e, context=context)
        except Exception as exc:  # a strange event must not break the log
            seq = _int(e.get("seq")) or 0
            return LogLine(seq, 0.0, "?", Text(f"unreadable event ({exc}): {dict(e)!r}", "red"))

    def lines(self, event: Mapping[str, Any]) -> list[LogLine]:
        """`line(event)`, plus one line per further line of a command's output."""
        line = self.line(event)
        if line is None:
            return []
        out = [line]
        if line.kind == "cmd":
            ok = bool(event.get("ok", True))
            detail = event.get("result") if ok else event.get("error")
            if isinstance(detail, str) and "\n" in detail:
                style = "cyan" if ok else "red"
                rest = detail.splitlines()[1:MAX_OUTPUT_LINES]
                out += [LogLine(line.seq, line.t_ms, "cmd", Text("  " + r, style)) for r in rest]
        return out

    def _remember(self, msg: str, packet_type: str) -> None:
        if len(self._packets) >= _PACKETS_KEPT:  # lost with their connection: forget the oldest
            del self._packets[next(iter(self._packets))]
        self._packets[msg] = packet_type

    def format(self, event: Mapping[str, Any]) -> LogLine | None:
        """The line for one event with its text made now."""
        line = self.line(event)
        if line is not None:
            line.body  # noqa: B018 - make the text while the event is at hand
        return line


def _body(
    e: Mapping[str, Any], kind: str, node: Sid | None, msg: str | None, context: _Context
) -> Text:
    me = _n(node)
    if kind in ("send", "zsend"):
        arrow = "→" if kind == "send" else "⇒"
        body = Text.assemble((me, "bold"), f" {arrow} ", (_n(e.get("to")), "bold"), f" {msg or ''}")
        if kind == "zsend" and isinstance(e.get("packet"), Mapping):
            body.append(f" {e['packet'].get('type', '')}", "dim")
        if e.get("resend"):
            body.append(f" (resend of {e['resend']})", "dim")
        return body
    if kind in ("deliver", "zdeliver"):
        arrow = "←" if kind == "deliver" else "⇐"
        body = Text.assemble(
            (me, "bold"), f" {arrow} ", (_n(e.get("from")), "bold"), f" {msg or ''}"
        )
        if isinstance(context, str):
            body.append(f" {context}", "dim")
        return body
    if kind == "drop":
        body = Text.assemble(
            (_n(e.get("from")), "bold"),
            " ✗ ",
            (_n(e.get("to")), "bold"),
            f" {msg or ''} dropped: ",
            (str(e.get("reason", "?")), "red"),
        )
        if e.get("fault"):
            body.append(f" ({e['fault']})", "red")
        return body
    if kind == "state":
        return _state_body(e, node, context if isinstance(context, tuple) else None)
    if kind == "cmd":
        ok = bool(e.get("ok", True))
        body = Text.assemble(("› ", "bold"), (str(e.get("text", "")), "bold"))
        detail = e.get("result") if ok else e.get("error")
        if isinstance(detail, str) and detail:
            body.append(f"  {detail.splitlines()[0]}", "dim" if ok else "red")
        if not ok:
            body.stylize("red", 0, 2)
        return body
    if kind == "fault":
        return Text.assemble(
            ("fault ", "bold red"), (f"{e.get('id', '?')} ", "bold"), str(e.get("text", ""))
        )
    if kind == "heal":
        ids = e.get("ids")
        names = ", ".join(map(str, ids)) if isinstance(ids, list) and ids else "nothing"
        return Text.assemble(("✚ ", "bold green"), f"healed {names}")
    if kind == "mark":
        return Text.assemble(("★ ", "bold magenta"), (str(e.get("label", "")), "magenta"))
    if kind == "break":
        why = f" ({e['why']})" if e.get("why") else ""
        return Text.assemble(
            ("‖ ", "bold yellow"),
            (f"{e.get('id', 'b?')} {e.get('text', '')}", "bold yellow"),
            f" halted at seq {e.get('at', '?')}{why}",
        )
    if kind == "conn":
        up = bool(e.get("up"))
        return Text(
            f"{me} ⇄ {_n(e.get('peer'))} {'up' if up else 'down'} ({e.get('plane', '?')})",
            "" if up else "yellow",
        )
    if kind == "boot":
        d = e.get("durable")
        what = ""
        if isinstance(d, Mapping):
            what = f" epoch {d.get('current_epoch', '?')} zxid {d.get('last_zxid', '?')}"
        return Text.assemble((f"{me} ▲ started", "bold green"), what)
    if kind == "stop":
        return Text(f"{me} ▼ {e.get('reason', 'stopped')}", "bold red")
    if kind == "pause":
        return Text(f"{me} ‖ paused", "bold yellow")
    if kind == "resume":
        return Text(f"{me} ▷ resumed", "bold green")
    if kind == "invariant":
        return Text.assemble(
            ("!! ", "bold red"),
            (f"{e.get('name', '?')} violated", "bold red"),
            f": {e.get('detail', '')}",
        )
    if kind == "step":
        return _step_body(e, me)
    if kind == "footer":
        return Text(f"■ end of run ({e.get('end', '?')})", "bold")
    real = _real_body(e, kind, me)
    if real is not None:
        return real
    extra = {k: v for k, v in e.items() if k not in ("seq", "t_ms", "kind", "node")}
    return Text(f"{me + ' ' if node is not None else ''}{kind} {extra}", "dim")


def _real_body(e: Mapping[str, Any], kind: str, me: str) -> Text | None:
    """A real server's logged event (trace 1.1), or None for other kinds."""
    if kind == "recv":
        n = _mapping(e.get("n"))
        body = Text.assemble((me, "bold"), " ⇠ ", (_n(n.get("sid")), "bold"))
        body.append(f" {n.get('state', '?')} {_vote_json_text(n)}")
        body.append(f"  (my state {e.get('my_state', '?')})", "dim")
        return body
    if kind == "sent":
        n = _mapping(e.get("n"))
        body = Text.assemble((me, "bold"), " ⇢ ", (_n(e.get("to")), "bold"))
        body.append(f" {n.get('state', '?')} {_vote_json_text(n)}")
        return body
    if kind == "peer_state":
        state = str(e.get("state", "?"))
        text = Text.assemble((me, "bold"), " ", (state, STATE_STYLES.get(state, "bold")))
        for key in ("zab", "sync"):
            if e.get(key) and e[key] != "ELECTION":
                text.append(f" {str(e[key]).lower()}", "dim")
        return text
    if kind == "election":
        return Text(f"{me} new election, proposes {_vote_json_text(e.get('proposal'))}", "yellow")
    if kind == "fle_timeout":
        return Text(f"{me} notification timeout, next {e.get('timeout_ms', '?')} ms", "yellow")
    if kind == "took":
        took = e.get("took_ms")
        ms = ms_text(float(took)) if isinstance(took, int | float) else "?"
        return Text.assemble((me, "bold"), f" {e.get('state', '?')} election took ", (ms, "bold"))
    if kind == "zk":
        extra = " ".join(f"{k}={v}" for k, v in e.items() if k not in _REAL_COMMON and k != "what")
        return Text(f"{me} {str(e.get('what', '?')).replace('_', ' ')} {extra}".rstrip(), "cyan")
    if kind == "log":
        line = str(e.get("text", ""))
        message = line.split("] - ", 1)[-1]  # the message, without ZooKeeper's prefix
        style = "red" if e.get("level") in ("ERROR", "FATAL") else "dim"
        return Text(f"{me} {e.get('level', '')} {message}".replace("  ", " "), style)
    return None


_REAL_COMMON = frozenset({"seq", "t_ms", "kind", "node", "at", "src", "more"})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _state_body(e: Mapping[str, Any], node: Sid | None, before: _NodeState | None) -> Text:
    state = str(e.get("state", "?"))
    zab = str(e.get("zab", ""))
    lc = _int(e.get("logicalclock")) or 0
    epoch = e.get("current_epoch")
    text = Text.assemble((_n(node), "bold"), " ")
    if before is not None and before[0] != state:
        text.append(before[0], STATE_STYLES.get(before[0], ""))
        text.append(" → ")
    text.append(state, STATE_STYLES.get(state, "bold"))
    vote = e.get("vote")
    if state == "LOOKING":
        text.append(f" r{lc} proposes {_vote_json_text(e.get('proposal'))}", "dim")
    elif isinstance(vote, Mapping):
        text.append(f" leader n{vote.get('leader', '?')} r{vote.get('election_epoch', '?')}")
    if zab and (before is None or before[1] != zab) and state != "LOOKING":
        text.append(f" {zab.lower()}", "dim")
    if before is not None and before[3] != epoch and epoch is not None:
        text.append(f" epoch {epoch}", "bold" if state == "LEADING" else "")
    zxid = e.get("last_zxid")
    if before is not None and before[4] != zxid and zxid is not None and state != "LOOKING":
        text.append(f" last zxid {zxid}", "dim")  # a commit, or a sync that brought txns
    took = e.get("took_ms")
    if isinstance(took, int | float):
        text.append(f" took {ms_text(float(took))}", "bold")
    if e.get("reason"):
        text.append(f" ({e['reason']})", "yellow")
    return text


def _step_body(e: Mapping[str, Any], me: str) -> Text:
    inp: Mapping[str, Any] = e["input"] if isinstance(e.get("input"), Mapping) else {}
    out: Mapping[str, Any] = e["output"] if isinstance(e.get("output"), Mapping) else {}
    what = str(inp.get("type", "?"))
    n = inp.get("n")
    if what == "receive" and isinstance(n, Mapping):
        what += f" {_n(n.get('sid'))} {n.get('state', '?')} {_vote_json_text(n)}"
    parts = [f"{me} · {what}"]
    sends = out.get("sends")
    if isinstance(sends, list) and sends:
        count = sum(len(s.get("to", [])) for s in sends if isinstance(s, Mapping))
        parts.append(f"sends {count}")
    if "wait_ms" in out:
        parts.append(f"wait {out['wait_ms']}ms")
    if isinstance(out.get("decided"), Mapping):
        parts.append(f"decides {_vote_json_text(out['decided'])}")
    return Text(" → ".join(parts), "dim")


# --- lamps -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    seq: int
    name: str
    detail: str
    node: Sid | None


class HealthTracker:
    """The safety and liveness lamps.

    Safety is red once any invariant other than ElectedWithin was reported violated (an
    `invariant` event with ok false), or when the view shows two established leaders of the
    same epoch. Liveness is green while the view is stable, yellow while an election is
    going on (with how long), red once ElectedWithin was violated since the last stable view.
    """

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._unstable_since: float | None = None
        self._stable_seq = 0

    def reset(self) -> None:
        self.violations.clear()
        self._unstable_since = None
        self._stable_seq = 0

    def feed(self, e: Mapping[str, Any]) -> bool:
        if e.get("kind") != "invariant" or e.get("ok", True):
            return False
        seq = _int(e.get("seq")) or 0
        self.violations.append(
            Violation(seq, str(e.get("name", "?")), str(e.get("detail", "")), _int(e.get("node")))
        )
        return True

    def truncate(self, position: int) -> None:
        self.violations = [v for v in self.violations if v.seq <= position]
        self._unstable_since = None

    def observe(self, view: ClusterView) -> None:
        if view.stable:
            self._unstable_since = None
            self._stable_seq = view.seq
        elif self._unstable_since is None or self._unstable_since > view.t_ms:
            self._unstable_since = view.t_ms

    def safety(self, view: ClusterView) -> tuple[bool, str]:
        """(ok, why)."""
        bad = [v for v in self.violations if v.name != "ElectedWithin"]
        if bad:
            last = bad[-1]
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            return False, f"{last.name} at seq {last.seq}{more}"
        epochs: dict[int, list[Sid]] = {}
        for n in view.nodes:
            if n.alive and n.state == ServerState.LEADING and n.established:
                epochs.setdefault(n.current_epoch, []).append(n.sid)
        for epoch, sids in sorted(epochs.items()):
            if len(sids) > 1:
                return False, f"two leaders of epoch {epoch}: " + ", ".join(f"n{s}" for s in sids)
        return True, "safe"

    def liveness(self, view: ClusterView) -> tuple[str, str]:
        """(`ok` | `wait` | `bad`, why)."""
        if view.stable:
            return "ok", f"leader n{view.leader}"
        late = [
            v for v in self.violations if v.name == "ElectedWithin" and v.seq > self._stable_seq
        ]
        if late:
            return "bad", f"no leader (ElectedWithin at seq {late[-1].seq})"
        since = view.unstable_since_ms  # the runtime's word; what this tracker saw if none
        if since is None:
            since = self._unstable_since if self._unstable_since is not None else view.t_ms
        if not any(n.alive for n in view.nodes):
            return "wait", "no node running"
        return "wait", f"electing {ms_text(max(0.0, view.t_ms - since))}"


def faulted_nodes(view: ClusterView) -> dict[Sid, list[str]]:
    """Fault ids by the nodes each fault affects (as the cluster resolved its targets)."""
    out: dict[Sid, list[str]] = {}
    for fault in view.faults:
        for sid in fault.sids:
            out.setdefault(sid, []).append(fault.fault_id)
    return out
