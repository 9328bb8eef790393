"""Provides the sequence diagram's model: trace events folded into lanes and rows.

One lane per node; one row per message a node sent to another (its arrow ends delivered,
dropped with the reason, or still in flight), per state change of a node (on its lane),
and per command, fault, heal, broken invariant or breakpoint hit (across every lane), in the order
of the trace, as the seed's and `zkfle export --format mermaid` draw elections. A node's
own loopback notifications are left out: they carry no news. Each row knows which lanes
are down at it (not started, crashed or paused), so that a lane is drawn down from its
node's crash (or pause) to its restart (or resume), which are rows of their own.

A `send` event names only the message id and the recipient; what it carries is the
notification the sender's core queued (ZK: FastLeaderElection.sendqueue, which
WorkerSender drains in order), so each node's queued notifications are matched to its
sends first in, first out, and the receiver's `receive` step, when it comes, says exactly
what arrived. Feeding one event is O(1) and the rows are a bounded window: a busy run
never costs more per frame than a quiet one. Pure: no Textual, no Rich, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.core.vote import ServerState, Sid, parse_zxid
from engine.core.wire import WireError, build_payload
from engine.trace import lives

ROW_CAP = 2000
"""Rows kept; the trace has the rest."""

Fate = Literal["flight", "delivered", "dropped"]
RowKind = Literal["message", "packet", "state", "note"]
Life = Literal["", "boot", "stop", "pause", "resume"]
"""What a state row says about its node's life (boot: it started or restarted)."""

KINDS: dict[str, frozenset[RowKind]] = {
    "send": frozenset({"message"}),
    "notification": frozenset({"message"}),
    "drop": frozenset({"message", "packet"}),
    "zab": frozenset({"packet"}),
    "packet": frozenset({"packet"}),
    "state": frozenset({"state"}),
    "note": frozenset({"note"}),
    "all": frozenset({"message", "packet", "state", "note"}),
}
"""The kind words of a filter and the rows each one shows (`drop`: only the dropped ones)."""

DEFAULT_KINDS: frozenset[RowKind] = frozenset({"message", "state", "note"})
"""Without a kind word the quorum packets (the leader's PINGs, mostly) are left out."""

NOTES = frozenset({"cmd", "fault", "heal", "invariant", "break"})
"""Kinds drawn across every lane (a mark is its `mark` command's row)."""


@dataclass(slots=True, eq=False)
class Arrow:
    """One message from `src` to `dst`."""

    msg: str
    src: Sid
    dst: Sid
    fields: Mapping[str, Any] | None
    """A notification's (state, leader, zxid, election_epoch, peer_epoch[, version]) or a
    quorum packet's (type, epoch, zxid); None when the trace does not say."""
    fate: Fate = "flight"
    end_seq: int | None = None
    """The seq of its delivery or drop."""
    reason: str = ""
    """Why it was dropped (capacity, partition, loss, crash, ...)."""
    exact: bool = False
    """The fields are what the receiver took in, not only what the sender queued."""
    copy_of: str = ""
    """The message it re-sends (on reconnect) or duplicates (a `dup` fault)."""

    @property
    def round(self) -> int | None:
        value = self.fields.get("election_epoch") if self.fields else None
        return value if isinstance(value, int) else None


@dataclass(slots=True, eq=False)
class Row:
    """One row of the diagram, at the event `seq`."""

    seq: int
    t_ms: float
    kind: RowKind
    node: Sid | None = None
    """The lane of a state row."""
    arrow: Arrow | None = None
    text: str = ""
    """A state row's `LOOKING → FOLLOWING r2`, a note's text."""
    state: str = ""
    """A state row's new state (LOOKING, ..., `down`)."""
    round: int | None = None
    """A state row's logicalclock."""
    life: Life = ""
    down: frozenset[Sid] = frozenset()
    """The lanes that are down (not started, crashed or paused) once this row happened."""


@dataclass(frozen=True, slots=True)
class LadderFilter:
    """Which rows show: nodes (an arrow touching one, a state row on one), a round, kinds."""

    nodes: frozenset[Sid] = frozenset()
    round: int | None = None
    kinds: frozenset[RowKind] = DEFAULT_KINDS
    text: str = ""
    dropped: bool = False
    """Only the dropped messages (and the rows of the other kinds named)."""

    def passes(self, row: Row) -> bool:
        if row.kind not in self.kinds:
            return False
        if self.dropped and row.arrow is not None and row.arrow.fate != "dropped":
            return False
        if row.kind == "note":
            return True
        arrow = row.arrow
        if self.nodes:
            touched = (arrow.src, arrow.dst) if arrow else (row.node,)
            if not self.nodes.intersection(t for t in touched if t is not None):
                return False
        if self.round is not None:
            return (arrow.round if arrow else row.round) == self.round
        return True


class FilterError(ValueError):
    """A filter word that means nothing; the message names it and what is accepted."""


def parse_filter(text: str) -> LadderFilter:
    """`n1 3 2-4 r2 drop state`: nodes (`3`, `n3`, lists `1,2`, ranges `1-3`), a round
    (`r2`), kinds (send, drop, state, zab, note, all). Every word narrows or names more of
    one sort; raises FilterError naming the word that is none of these."""
    nodes: set[Sid] = set()
    kinds: set[RowKind] = set()
    round_: int | None = None
    dropped = False
    for word in text.replace(",", " ").split():
        low = word.lower()
        if low in KINDS:
            kinds |= KINDS[low]
            dropped = dropped or low == "drop"
        elif low[:1] == "r" and low[1:].isdigit():
            round_ = int(low[1:])
        elif _sids(low) is not None:
            nodes |= _sids(low) or set()
        else:
            raise FilterError(
                f"diagram filter: {word!r} is not a node (3, n3, 1-3), a round (r2) or a kind"
                f" ({', '.join(KINDS)})"
            )
    return LadderFilter(
        frozenset(nodes), round_, frozenset(kinds) or DEFAULT_KINDS, " ".join(text.split()), dropped
    )


def _sids(word: str) -> set[Sid] | None:
    lo, dash, hi = word.removeprefix("n").partition("-")
    hi = hi.removeprefix("n")
    if not lo.isdigit() or (dash and not hi.isdigit()):
        return None
    first, last = int(lo), int(hi) if dash else int(lo)
    return set(range(first, last + 1)) if first <= last else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_VOTE_KEYS = ("state", "leader", "zxid", "election_epoch", "peer_epoch")


@dataclass(slots=True)
class Ladder:
    """Events in, lanes and rows out (see the module docstring)."""

    cap: int = ROW_CAP
    lanes: list[Sid] = field(default_factory=list)
    """Every node seen, in sid order."""
    rows: deque[Row] = field(default_factory=deque)
    states: dict[Sid, str] = field(default_factory=dict)
    """Each lane's state now (LOOKING, ..., `down`; `?` when the window does not say)."""
    paused: set[Sid] = field(default_factory=set)
    _seen: set[Sid] = field(default_factory=set)
    """Lanes whose node's life an event told (a boot, stop or state)."""
    down: frozenset[Sid] = frozenset()
    """The lanes down now: `states` says `down`, or paused (shared by the rows: O(1))."""
    last_seq: int = 0
    dropped_rows: int = 0
    """Rows let go of at the window's start since the last clear."""
    _arrows: dict[str, Arrow] = field(default_factory=dict)
    _queued: dict[Sid, deque[tuple[Sid, Mapping[str, Any]]]] = field(default_factory=dict)

    def clear(self) -> None:
        self.lanes.clear()
        self.rows.clear()
        self.states.clear()
        self.paused.clear()
        self._seen.clear()
        self.down = frozenset()
        self._arrows.clear()
        self._queued.clear()
        self.last_seq = 0
        self.dropped_rows = 0

    def set_lanes(self, sids: list[Sid]) -> None:
        for sid in sids:
            self._lane(sid)

    def refill(
        self,
        events: Sequence[Mapping[str, Any]],
        down_after: set[Sid],
        before: Sequence[Mapping[str, Any]],
    ) -> None:
        """Start over with `events`, a window that may begin mid-run. Which lanes were down
        at its start is read back from the end, where `down_after` were down (not started
        or crashed: each `boot` and `stop` in the window says when that changed), and which
        were paused is read forward through `before` (the events just before the window, from
        a `snapshot`: engine.trace.lives). A node that boots or stops in `before` starts a
        new life there, so taking each node as alive as it is at the window's start is
        right for what `before` says of its pauses."""
        down = set(down_after)
        for e in reversed(events):
            node = _int(e.get("node"))
            if node is not None and e.get("kind") == "boot":
                down.add(node)
            elif node is not None and e.get("kind") == "stop":
                down.discard(node)
        lanes = sorted(self.states)
        start = {sid: lives.DOWN if sid in down else lives.RUNNING for sid in {*lanes, *down}}
        after = lives.lives_after(before, start)
        self.restart({sid: lives.DOWN if sid in down else after[sid] for sid in lanes})
        for e in events:
            self.feed(e)

    def restart(self, lives_now: Mapping[Sid, lives.Life]) -> None:
        """Start over mid-run with no rows, each lane's node living as `lives_now` says
        (its state `?` while it runs: the rows that said it are gone)."""
        self.clear()
        for sid, life in lives_now.items():
            self._lane(sid)
            if life.alive:
                self.states[sid] = "?"
                if life.paused:
                    self.paused.add(sid)
            self._seen.add(sid)
        self._down_changed()

    def life_of(self, sid: Sid) -> lives.Life | None:
        """The lane's life as engine.trace.lives reads it (None: the events never told)."""
        if sid not in self._seen:
            return None
        return (
            lives.DOWN if self.states.get(sid) == "down" else lives.Life(True, sid in self.paused)
        )

    def arrow(self, msg: str) -> Arrow | None:
        return self._arrows.get(msg)

    def feed(self, e: Mapping[str, Any]) -> None:
        """Take one event; an odd one (missing fields) is skipped, never raised on."""
        seq = _int(e.get("seq"))
        if seq is None:
            return
        self.last_seq = max(self.last_seq, seq)
        kind = e.get("kind")
        node = _int(e.get("node"))
        t = e.get("t_ms")
        t_ms = float(t) if isinstance(t, int | float) else 0.0
        if node is not None:
            self._lane(node)
        if kind in lives.KINDS:
            for sid, life in lives.life_changes(e, self.life_of):
                self._live(seq, t_ms, e, sid, life)
        if kind == "step" and node is not None:
            self._step(node, e)
        elif kind in ("send", "zsend") and node is not None:
            self._send(seq, t_ms, node, e)
        elif kind in ("deliver", "zdeliver", "drop"):
            self._end(seq, t_ms, node, e)
        elif kind == "recv" and node is not None:
            self._logged_receive(seq, t_ms, node, e)
        elif kind in ("state", "peer_state") and node is not None:
            self._state(seq, t_ms, node, e)
        elif kind in NOTES and not (kind == "invariant" and e.get("ok", True)):
            self._add(Row(seq, t_ms, "note", node, text=_note(kind, e)))

    def truncate_after(self, seq: int) -> None:
        """Forget rows after `seq` (a replay moved back); arrows that ended after it are in
        flight again. What the nodes had queued is forgotten: their next sends are drawn
        without fields until a receiver says what arrived."""
        while self.rows and self.rows[-1].seq > seq:
            row = self.rows.pop()
            if row.arrow is not None and self._arrows.get(row.arrow.msg) is row.arrow:
                del self._arrows[row.arrow.msg]
        for arrow in self._arrows.values():
            if arrow.end_seq is not None and arrow.end_seq > seq:
                arrow.fate, arrow.end_seq, arrow.reason = "flight", None, ""
        self._queued.clear()
        self.last_seq = min(self.last_seq, seq)
        for sid in self.lanes:
            self.states[sid] = next(
                (r.state for r in reversed(self.rows) if r.kind == "state" and r.node == sid), "?"
            )
        if self.rows:
            self.down = self.rows[-1].down
            self.paused = {s for s in self.down if self.states.get(s) != "down"}

    # --- events -------------------------------------------------------------------------------

    def _lane(self, sid: Sid) -> None:
        if sid not in self.states:
            self.states[sid] = "down"
            self.lanes.append(sid)
            self.lanes.sort()
            self._down_changed()

    def _down_changed(self) -> None:
        self.down = frozenset(s for s, st in self.states.items() if st == "down") | self.paused

    def _add(self, row: Row) -> None:
        row.down = self.down
        self.rows.append(row)
        if len(self.rows) > self.cap:
            gone = self.rows.popleft()
            self.dropped_rows += 1
            if gone.arrow is not None and self._arrows.get(gone.arrow.msg) is gone.arrow:
                del self._arrows[gone.arrow.msg]

    def _step(self, node: Sid, e: Mapping[str, Any]) -> None:
        output = e.get("output")
        sends = output.get("sends") if isinstance(output, Mapping) else None
        if isinstance(sends, list):
            queue = self._queued.setdefault(node, deque())
            for s in sends:
                if isinstance(s, Mapping) and isinstance(s.get("to"), list):
                    vote = {k: s[k] for k in _VOTE_KEYS if k in s}
                    queue.extend((to, vote) for to in s["to"] if _int(to) is not None)
        step_input = e.get("input")
        msg = e.get("msg")
        if isinstance(step_input, Mapping) and step_input.get("type") == "receive":
            n = step_input.get("n")
            arrow = self._arrows.get(msg) if isinstance(msg, str) else None
            if arrow is not None and isinstance(n, Mapping):
                arrow.fields = {k: v for k, v in n.items() if k != "sid"}
                arrow.exact = True

    def _send(self, seq: int, t_ms: float, node: Sid, e: Mapping[str, Any]) -> None:
        to, msg = _int(e.get("to")), e.get("msg")
        if to is None or not isinstance(msg, str):
            return
        fields: Mapping[str, Any] | None = None
        copy_of = e.get("resend") or e.get("dup") or ""
        if e.get("kind") == "zsend":
            packet = e.get("packet")
            fields = packet if isinstance(packet, Mapping) else None
        elif copy_of:
            original = self._arrows.get(str(copy_of))
            fields = original.fields if original else None
        else:
            fields = self._take_queued(node, to)
        if to == node:
            return  # loopback: our own vote comes back to us
        arrow = Arrow(msg, node, to, fields, copy_of=str(copy_of))
        self._arrows[msg] = arrow
        self._add(Row(seq, t_ms, "packet" if e.get("kind") == "zsend" else "message", arrow=arrow))

    def _take_queued(self, node: Sid, to: Sid) -> Mapping[str, Any] | None:
        queue = self._queued.get(node)
        if not queue:
            return None
        for i, (dst, vote) in enumerate(queue):
            if dst == to:
                del queue[i]
                return vote
        return None

    def _end(self, seq: int, t_ms: float, node: Sid | None, e: Mapping[str, Any]) -> None:
        msg = e.get("msg")
        arrow = self._arrows.get(msg) if isinstance(msg, str) else None
        if arrow is None or arrow.end_seq is not None:
            return
        arrow.end_seq = seq
        if e.get("kind") == "drop":
            arrow.fate, arrow.reason = "dropped", str(e.get("reason", "?"))
        else:
            arrow.fate = "delivered"

    def _logged_receive(self, seq: int, t_ms: float, node: Sid, e: Mapping[str, Any]) -> None:
        """A real server logged a notification it received (an imported trace)."""
        n = e.get("n")
        sender = _int(n.get("sid")) if isinstance(n, Mapping) else None
        if sender is None or sender == node or not isinstance(n, Mapping):
            return
        self._lane(sender)
        fields = {k: v for k, v in n.items() if k != "sid"}
        arrow = Arrow(f"#{seq}", sender, node, fields, "delivered", seq, exact=True)
        self._add(Row(seq, t_ms, "message", arrow=arrow))

    def _state(self, seq: int, t_ms: float, node: Sid, e: Mapping[str, Any]) -> None:
        state = str(e.get("state", "?"))
        lc = _int(e.get("logicalclock"))
        before = self.states.get(node)
        if state == before:
            return  # a new round or vote while LOOKING: the arrows show it
        text = f"{before or '?'} → {state}" + (f" r{lc}" if lc is not None else "")
        self._set_state(seq, t_ms, node, state, text, lc)

    def _set_state(
        self,
        seq: int,
        t_ms: float,
        node: Sid,
        state: str,
        text: str,
        lc: int | None,
        life: Life = "",
    ) -> None:
        was_down = self.states.get(node) == "down"
        self.states[node] = state
        self._seen.add(node)
        if was_down != (state == "down") or life:
            self._down_changed()
        self._add(Row(seq, t_ms, "state", node, text=text, round=lc, state=state, life=life))

    def _life(self, seq: int, t_ms: float, node: Sid, life: Life) -> None:
        """A paused node stops consuming, or consumes again: a row on its lane."""
        if life == "pause":
            self.paused.add(node)
        else:
            self.paused.discard(node)
        self._down_changed()
        state = self.states.get(node, "?")
        text = "paused" if life == "pause" else "resumed"
        self._add(Row(seq, t_ms, "state", node, text=text, state=state, life=life))

    def _live(
        self, seq: int, t_ms: float, e: Mapping[str, Any], sid: Sid, life: lives.Life
    ) -> None:
        """The node's life changed (engine.trace.lives): a row on its lane."""
        self._lane(sid)
        kind = e.get("kind")
        if kind in ("boot", "stop"):
            self._queued.pop(sid, None)
            self.paused.discard(sid)
        if kind == "boot":
            self._set_state(seq, t_ms, sid, "LOOKING", "boot", None, "boot")
        elif kind == "stop":
            reason = f"down: {e.get('reason', '')}"
            self._set_state(seq, t_ms, sid, "down", reason, None, "stop")
        else:
            if sid not in self._seen:  # a snapshot: a lane whose life no event told runs
                self._seen.add(sid)
                self.states[sid] = "?"
                self._down_changed()
            if life.paused != (sid in self.paused):
                self._life(seq, t_ms, sid, "pause" if life.paused else "resume")


def _note(kind: Any, e: Mapping[str, Any]) -> str:
    if kind == "cmd":
        return f"› {e.get('text', '')}" + ("" if e.get("ok", True) else " ✗")
    if kind == "fault":
        return f"{e.get('id', 'f?')} {e.get('text', '')}"
    if kind == "heal":
        ids = e.get("ids")
        return "heal " + (",".join(str(i) for i in ids) if isinstance(ids, list) else "")
    if kind == "break":
        return f"‖ {e.get('id', 'b?')} halted at seq {e.get('at', '?')}: {e.get('text', '')}"
    return f"VIOLATED {e.get('name', '?')}: {e.get('detail', '')}"


def describe(arrow: Arrow) -> list[str]:
    """What the inspector says about one message: where it went and its fields."""
    fate = {
        "flight": "in flight",
        "delivered": f"delivered at seq {arrow.end_seq}",
        "dropped": f"dropped at seq {arrow.end_seq}: {arrow.reason}",
    }[arrow.fate]
    head = f"{arrow.msg} n{arrow.src} → n{arrow.dst} · {fate}"
    if arrow.copy_of:
        head += f" · copy of {arrow.copy_of}"
    if not arrow.fields:
        return [head, "fields: not in the trace window (the sender's step came before it)"]
    fields = " ".join(f"{k}={v}" for k, v in arrow.fields.items())
    source = "as received" if arrow.exact else "as the sender queued it"
    lines = [head, f"{fields} ({source})"]
    data = wire_bytes(arrow)
    if data is not None:
        lines.append(f"wire: {len(data)} bytes (then configLength and the config text):")
        lines += hex_lines(data)
    return lines


def wire_bytes(arrow: Arrow) -> bytes | None:
    """The notification's first 40 bytes as ZooKeeper sends them (ZK: buildMsg: state,
    leader, zxid, electionEpoch, peerEpoch, version), or None for a packet or a message
    whose fields are unknown or do not encode. Version 2 messages go on with configLength
    and the ensemble's config text, which the trace keeps in its header."""
    f = arrow.fields
    if not f or "type" in f:
        return None
    try:
        state = ServerState[str(f["state"])]
        zxid = f["zxid"] if isinstance(f["zxid"], int) else parse_zxid(str(f["zxid"]))
        version = _int(f.get("version"))
        return build_payload(
            state,
            int(f["leader"]),
            zxid,
            int(f["election_epoch"]),
            int(f["peer_epoch"]),
            2 if version is None else version,
        )
    except (KeyError, ValueError, TypeError, WireError):
        return None


def hex_lines(data: bytes, width: int = 16) -> list[str]:
    """`0000  00 00 00 00 ...`, `width` bytes a line."""
    return [
        f"{at:04x}  " + " ".join(f"{b:02x}" for b in data[at : at + width])
        for at in range(0, len(data), width)
    ]
