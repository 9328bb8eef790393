"""The values commands take - nodes, links, message ids, instants, durations, percentages,
zxids, event filters - and their kinds: how each is written in help, read, printed back
and completed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.control.predicates import STATE_WORDS, WORD_RE, Cursor, Token, read_predicate
from engine.core.vote import LONG_MAX, ServerState, Sid, parse_zxid, zxid_hex

MAX_MS = 1_000_000_000.0
"""The longest duration a command accepts (about 11.5 days)."""

# --- values --------------------------------------------------------------------------------------

NODE_WORDS: dict[str, str] = {
    "leader": "the running node in LEADING",
    "followers": "running nodes in FOLLOWING",
    "observers": "the configured observers",
    "looking": "live nodes in LOOKING",
    "all": "every configured node",
    "majority": "a random smallest majority of the participants, from the running ones",
    "minority": "a random largest minority of the participants, from the running ones"
    " (beside majority, in a partition or a link: the running participants it left)",
    "one": "one random node",
    "random": "a random non-empty set of nodes",
}
"""Node words and what they name; random choices come from the executor's seeded rng."""


@dataclass(frozen=True, slots=True)
class Nodes:
    """Nodes as written: words of `NODE_WORDS` and sids, mixed (`leader,3`), or `*` in
    links. Canonically the words in the order given, then the sids sorted."""

    sids: tuple[Sid, ...] = ()
    words: tuple[str, ...] = ()
    col: int = field(default=0, compare=False, repr=False)

    def __str__(self) -> str:
        return ",".join([*self.words, *map(str, self.sids)])


ALL = Nodes(words=("all",))
STAR = Nodes(words=("*",))


@dataclass(frozen=True, slots=True)
class Link:
    """Directed links from every `src` node to every `dst` node, and back if `both`."""

    src: Nodes
    dst: Nodes
    both: bool = False

    def __str__(self) -> str:
        if self.src == STAR and self.dst == STAR:
            return "*"
        return f"{self.src}{'<->' if self.both else '->'}{self.dst}"


@dataclass(frozen=True, slots=True)
class MessageId:
    """A message by the id the message log shows (`m42`)."""

    id: int

    def __str__(self) -> str:
        return f"m{self.id}"


@dataclass(frozen=True, slots=True)
class Instant:
    """A point on the run's clock (`@1.5s`), as `seek` takes it."""

    t_ms: float

    def __str__(self) -> str:
        return f"@{show_ms(self.t_ms)}"


EVENT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "send": ("a node sends a notification", ("from", "to")),
    "deliver": ("a notification is delivered", ("from", "to")),
    "drop": ("a message is dropped", ("from", "to")),
    "state": ("a node changes state", ("node", "state")),
    "decide": ("a node decides on a leader", ("node", "leader")),
    "timeout": ("a notification timeout fires", ("node",)),
    "violation": ("an invariant is violated (online check)", ("node",)),
}
"""Event kinds `break on` stops at, with the filters each accepts."""

_FILTER_FIELDS = {"from": "src", "to": "dst", "node": "node", "state": "state", "leader": "leader"}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """`kind [from=<sid>] [to=<sid>] [node=<sid>] [state=<STATE>] [leader=<sid>]`."""

    kind: str
    src: Sid | None = None
    dst: Sid | None = None
    node: Sid | None = None
    state: ServerState | None = None
    leader: Sid | None = None

    def __str__(self) -> str:
        parts = [self.kind]
        for key in EVENT_KINDS[self.kind][1]:
            value = getattr(self, _FILTER_FIELDS[key])
            if value is not None:
                parts.append(f"{key}={value.name if key == 'state' else value}")
        return " ".join(parts)


# --- kinds of argument -------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How one kind of value is written in help, parsed, printed and completed."""

    metavar: str
    expected: str
    parse: Callable[[Cursor], Any]
    show: Callable[[Any], str] = str
    hints: tuple[str, ...] = ()
    """Completion categories offered where this value starts (see `complete`)."""


_MILLI = Decimal("0.001")
_NUMBER = r"([0-9]{1,12}(?:\.[0-9]{0,6})?|\.[0-9]{1,6})"
_DURATION_RE = re.compile(_NUMBER + r"(ms|s|m)?", re.IGNORECASE)
_CLOCK_RE = re.compile(r"([0-9]{1,9})m" + _NUMBER + "s", re.IGNORECASE)
"""Minutes and seconds, as the console's clock shows a time past a minute: 1m25s, 3m04.5s."""
_PERCENT_RE = re.compile(_NUMBER + "%")
_SPEED_RE = re.compile(_NUMBER + "x?", re.IGNORECASE)
SID_RE = re.compile(r"[nN]?([0-9]{1,19})")
RANGE_RE = re.compile(r"[nN]?([0-9]{1,19})-[nN]?([0-9]{1,19})")
MAX_RANGE = 1000
"""The most sids one range (`1-5`) may name: no ensemble is that large, and a typo such as
`1-99999999` must not build a list of millions."""
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}


def _dec(text: str, scale: int = 1) -> Decimal:
    return (Decimal(text) * scale).quantize(_MILLI)


def _show_dec(value: Decimal | float) -> str:
    return format(Decimal(f"{value:.3f}").normalize(), "f")


def show_ms(ms: float) -> str:
    """Milliseconds in the largest unit that writes them exactly: 2m, 1.5s, 200ms."""
    d = Decimal(f"{ms:.3f}")
    if d >= 60_000 and d % 60_000 == 0:
        return f"{_show_dec(d / 60_000)}m"
    if d >= 1000 and d % 1 == 0:
        return f"{_show_dec(d / 1000)}s"
    return f"{_show_dec(d)}ms"


def _duration_ms(text: str) -> float | None:
    m = _DURATION_RE.fullmatch(text)
    if m is not None:
        return float(_dec(m[1], _UNIT_MS[(m[2] or "ms").lower()]))
    m = _CLOCK_RE.fullmatch(text)
    return None if m is None else float(_dec(m[1], 60_000) + _dec(m[2], 1000))


def _read_duration(cur: Cursor, zero_ok: bool = False) -> float:
    tok = cur.peek()
    ms = _duration_ms(tok.text) if tok.kind == "word" else None
    if ms is None:
        raise cur.expected(DURATION.expected, "dur")
    if ms == 0 and not zero_ok:
        raise cur.problem("a duration must be positive", tok, got=True)
    if ms > MAX_MS:
        raise cur.problem(f"a duration must be at most {show_ms(MAX_MS)}", tok, got=True)
    cur.take()
    return ms


def _read_number(
    cur: Cursor, kind: Kind, regex: re.Pattern[str], noun: str, lo: float, hi: float
) -> float:
    """A number with up to three decimals (a percentage, a speed) within [lo, hi]."""
    tok = cur.peek()
    m = regex.fullmatch(tok.text) if tok.kind == "word" else None
    if m is None:
        raise cur.expected(kind.expected, *kind.hints)
    value = float(_dec(m[1]))
    if not lo <= value <= hi:
        span = f"between {kind.show(lo)} and {kind.show(hi)}"
        raise cur.problem(f"{noun} must be {span}", tok, got=True)
    cur.take()
    return value


def _read_int(cur: Cursor, kind: Kind, noun: str, lo: int, hi: int) -> int:
    tok = cur.peek()
    if tok.kind != "word" or not re.fullmatch(r"[0-9]{1,19}", tok.text):
        raise cur.expected(kind.expected, *kind.hints)
    value = int(tok.text)
    if not lo <= value <= hi:
        raise cur.problem(f"{noun} must be between {lo} and {hi}", tok, got=True)
    cur.take()
    return value


def _read_sid(cur: Cursor, expected: str = "a sid like 3 or n3", *hints: str) -> Sid:
    tok = cur.peek()
    m = SID_RE.fullmatch(tok.text) if tok.kind == "word" else None
    if m is None or int(m[1]) > LONG_MAX:
        near = NODE_WORDS if "nodes" in hints else ()
        raise cur.expected(expected, *(hints or ("sid",)), near=near)
    cur.take()
    return int(m[1])


def _read_nodes(cur: Cursor, expected: str = "", star: bool = False) -> Nodes:
    """Nodes: items (a sid, a range `1-3`, a node word) separated by commas or, but in a
    link (`star`), by spaces - `crash 2 3`, `crash 1-3,5`. A link's list takes commas only:
    in `delay 1->2 200` the 200 is the delay."""
    tok = cur.peek()
    if star and cur.is_op("*"):
        cur.take()
        return Nodes(words=("*",), col=tok.col)
    sids: set[Sid] = set()
    words: dict[str, None] = {}
    hints = ("endpoint",) if star else ("nodes",)
    while True:
        item = cur.peek()
        if item.kind == "word" and item.text.lower() in NODE_WORDS:
            cur.take()
            words[item.text.lower()] = None
        elif item.kind == "word" and RANGE_RE.fullmatch(item.text):
            sids.update(_read_range(cur))
        else:
            sids.add(_read_sid(cur, expected or NODES.expected, *hints))
        if cur.is_op(","):
            cur.take()
        elif star or not _is_node_item(cur.peek()) or cur.at_option():
            if not star:
                cur.hint("nodes")
            return Nodes(tuple(sorted(sids)), tuple(words), col=tok.col)
        expected, hints = "a sid like 3 or n3, a range like 1-3 or a node word", ("nodes",)


def _is_node_item(tok: Token) -> bool:
    return tok.kind == "word" and (
        tok.text.lower() in NODE_WORDS
        or SID_RE.fullmatch(tok.text) is not None
        or RANGE_RE.fullmatch(tok.text) is not None
    )


def _read_range(cur: Cursor) -> range:
    tok = cur.peek()
    m = RANGE_RE.fullmatch(tok.text)
    assert m is not None
    lo, hi = int(m[1]), int(m[2])
    if lo > hi:
        raise cur.problem(f"a range runs upwards, like {hi}-{lo}", tok, got=True)
    if hi - lo >= MAX_RANGE or hi > LONG_MAX:
        raise cur.problem(f"a range names at most {MAX_RANGE} nodes", tok, got=True)
    cur.take()
    return range(lo, hi + 1)


def _read_link(cur: Cursor, expected: str = "") -> Link:
    src = _read_nodes(cur, expected or LINK.expected, star=True)
    cur.hint("arrow")
    if src == STAR and not cur.is_op("->", "<->"):
        return Link(src, STAR, both=True)
    if not cur.is_op("->", "<->"):
        raise cur.expected("-> or <-> (a link is written 1->2 or 1<->2)", "arrow")
    both = cur.take().text == "<->"
    dst = _read_nodes(cur, "a node, a list of nodes or * after the arrow", star=True)
    if src.sids and src.sids == dst.sids and len(src.sids) == 1:
        raise cur.problem(f"a link joins two different nodes, not {src} and {dst}", dst.col)
    return Link(src, dst, both or (src == STAR and dst == STAR))


def _read_link_or_message(cur: Cursor) -> Link | MessageId:
    tok = cur.peek()
    m = re.fullmatch(r"[mM]([0-9]{1,18})", tok.text) if tok.kind == "word" else None
    if m is None:
        return _read_link(cur, TARGET.expected)
    cur.take()
    return MessageId(int(m[1]))


def _read_groups(cur: Cursor) -> tuple[Nodes, ...]:
    groups = [_read_nodes(cur, GROUPS.expected)]
    while cur.is_op("|"):
        cur.take()
        groups.append(_read_nodes(cur))
        seen = {s for g in groups[:-1] for s in g.sids}
        if twice := sorted(seen.intersection(groups[-1].sids)):
            raise cur.problem(f"node {twice[0]} is in two groups", groups[-1].col)
    return tuple(groups)


def _read_state(cur: Cursor) -> ServerState:
    tok = cur.peek()
    state = STATE_WORDS.get(tok.text.upper()) if tok.kind == "word" else None
    if state is None:
        raise cur.expected(
            "a state (LOOKING, FOLLOWING, LEADING, OBSERVING)", "state", near=STATE_WORDS
        )
    cur.take()
    return state


def _read_event(cur: Cursor) -> EventFilter:
    tok = cur.peek()
    kind = tok.text.lower() if tok.kind == "word" else ""
    if kind not in EVENT_KINDS:
        raise cur.expected(EVENT.expected, "event", near=EVENT_KINDS)
    cur.take()
    keys = EVENT_KINDS[kind][1]
    values: dict[str, Any] = {}
    while True:
        cur.hint(f"filter:{kind}")
        if not cur.at_option():
            return EventFilter(kind, **values)
        key = cur.peek().text.lower()
        if key not in keys or _FILTER_FIELDS[key] in values:
            allowed = ", ".join(f"{k}=" for k in keys)
            raise cur.expected(f"a filter of {kind} events ({allowed}) given once", near=keys)
        cur.take()  # the key
        cur.take()  # =
        values[_FILTER_FIELDS[key]] = _read_state(cur) if key == "state" else _read_sid(cur)


def _read_word(cur: Cursor, kind: Kind) -> str:
    """One word or quoted string, case kept."""
    tok = cur.peek()
    if tok.kind not in ("word", "str"):
        raise cur.expected(kind.expected, *kind.hints)
    cur.take()
    return tok.value if tok.kind == "str" else tok.text


def _read_label(cur: Cursor) -> str:
    """The rest of the line's words, joined by single spaces."""
    words = []
    while cur.peek().kind in ("word", "str") and not cur.at_option():
        tok = cur.take()
        words.append(tok.value if tok.kind == "str" else tok.text)
    return " ".join(words)


def _quote(text: str, bare: bool = True) -> str:
    if bare and WORD_RE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _show_label(label: str) -> str:
    return label if all(WORD_RE.fullmatch(w) for w in label.split(" ")) else _quote(label, False)


def read_choice(cur: Cursor, kind: Kind, words: dict[str, Any]) -> Any:
    tok = cur.peek()
    if tok.kind != "word" or tok.text.lower() not in words:
        raise cur.expected(kind.expected, *kind.hints, near=words)
    cur.take()
    return words[tok.text.lower()]


def _read_fault(cur: Cursor) -> int | None:
    return _read_id(cur, FAULT, "f")


def _read_breakpoint(cur: Cursor) -> int | None:
    return _read_id(cur, BREAKPOINT, "b")


def _read_id(cur: Cursor, kind: Kind, prefix: str) -> int | None:
    """`f3`/`b2` (either case) or `all`; a bare number is the id's most likely meaning."""
    tok = cur.peek()
    pattern = f"[{prefix}{prefix.upper()}]([0-9]{{1,9}})"
    m = re.fullmatch(pattern, tok.text) if tok.kind == "word" else None
    if m is None and not cur.is_word("all"):
        if tok.text.isdigit():
            raise cur.problem(
                f"expected {kind.expected}", tok, f"did you mean {prefix}{tok.text}?", True
            )
        raise cur.expected(kind.expected, *kind.hints)
    cur.take()
    return int(m[1]) if m else None


def _read_zxid(cur: Cursor) -> int:
    tok = cur.peek()
    try:
        value = parse_zxid(tok.text) if tok.kind == "word" and tok.text[:1] != "-" else None
    except ValueError:
        value = None
    if value is None:
        raise cur.expected(ZXID.expected)
    cur.take()
    return value


def _read_seek(cur: Cursor) -> int | Instant | str:
    tok = cur.peek()
    if tok.kind == "word" and re.fullmatch(r"[0-9]{1,18}", tok.text):
        cur.take()
        return int(tok.text)
    if tok.kind == "word" and tok.text.startswith("@"):
        ms = _duration_ms(tok.text[1:])
        if ms is None or ms > MAX_MS:
            raise cur.expected("a time like @1m25s, @1.5s or @200ms")
        cur.take()
        return Instant(ms)
    return _read_word(cur, SEEK)


def _show_seek(target: int | Instant | str) -> str:
    if isinstance(target, str):
        return _quote(target, bare=not re.match(r"[0-9@]", target))
    return str(target)


NODES: Kind = Kind(
    "<nodes>",
    "nodes (a sid like 3 or n3, a list 1,2 or 1 2, a range 1-3, or one of "
    + ", ".join(NODE_WORDS)
    + "; they mix: leader,3 or 1-3 5)",
    _read_nodes,
    hints=("nodes",),
)
SID: Kind = Kind("<sid>", "a sid like 3 or n3", _read_sid, hints=("sid",))
LINK: Kind = Kind(
    "<link>",
    "a link (1->2 one way, 1<->2 both ways, * or a node word at either end)",
    _read_link,
    hints=("endpoint",),
)
TARGET: Kind = Kind(
    "<link|msg>",
    "a link like 1->2 or a message id like m42",
    _read_link_or_message,
    hints=("endpoint",),
)
GROUPS: Kind = Kind(
    "<groups>",
    "groups of nodes separated by | (like 1,2|3,4,5 or majority)",
    _read_groups,
    lambda gs: "|".join(map(str, gs)),
    ("nodes",),
)
DURATION: Kind = Kind(
    "<dur>",
    "a duration like 200ms, 1.5s or 2m (a bare number is ms)",
    _read_duration,
    show_ms,
    ("dur",),
)
JITTER: Kind = dataclasses.replace(DURATION, parse=lambda cur: _read_duration(cur, zero_ok=True))
PERCENT: Kind = Kind(
    "<pct>",
    "a percentage like 20%",
    lambda cur: _read_number(cur, PERCENT, _PERCENT_RE, "a percentage", 0, 100),
    lambda p: f"{_show_dec(p)}%",
    ("pct",),
)
COUNT: Kind = Kind(
    "<n>", "a count like 3", lambda cur: _read_int(cur, COUNT, "a count", 1, 1_000_000)
)
EPOCH: Kind = Kind(
    "<epoch>",
    "an epoch (a number, 0 or more)",
    lambda cur: _read_int(cur, EPOCH, "an epoch (32 bits of a zxid)", 0, 0xFFFFFFFF),
)
ZXID: Kind = Kind("<zxid>", "a zxid like 0x100000002 or 42", _read_zxid, zxid_hex)
SPEED: Kind = Kind(
    "<x>",
    "a speed like 2 or 0.5x",
    lambda cur: _read_number(cur, SPEED, _SPEED_RE, "a speed", 0.001, 1000),
    lambda x: f"{_show_dec(x)}x",
)
PREDICATE: Kind = Kind(
    "<pred>",
    "a predicate (stable, leader == 5, n3.state == LOOKING, …)",
    read_predicate,
    lambda p: p.describe(),
    ("pterm",),
)
FAULT: Kind = Kind(
    "all|f<id>",
    "all or a fault id like f3",
    _read_fault,
    lambda f: f"f{f}",
    ("fault",),
)
BREAKPOINT: Kind = Kind(
    "all|b<id>",
    "all or a breakpoint id like b2",
    _read_breakpoint,
    lambda b: f"b{b}",
    ("breakpoint",),
)
MODE: Kind = Kind(
    "all|next",
    "all or next",
    lambda cur: read_choice(cur, MODE, {"all": "all", "next": "next"}),
    hints=("word:all", "word:next"),
)
LABEL: Kind = Kind("<label>", "a label", _read_label, _show_label)
FILE: Kind = Kind("<file>", "a file name", lambda cur: _read_word(cur, FILE), _quote)
SEEK: Kind = Kind(
    "<seq|@t|mark>",
    "a seq like 120, a time like @1.5s or @1m25s, or a mark",
    _read_seek,
    _show_seek,
)
EVENT: Kind = Kind(
    "<event> [filters]",
    "an event kind (" + ", ".join(EVENT_KINDS) + ")",
    _read_event,
    hints=("event",),
)


__all__ = ["EVENT_KINDS", "NODE_WORDS", "EventFilter", "Instant", "Link", "MessageId", "Nodes"]
