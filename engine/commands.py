"""The one command language: TUI command line, shell, `*.fle` scripts and traces (DESIGN §4).

A command is a verb, then its targets, then `key=value` options; `#` starts a comment:

    nodes     3 | n3 | 1,2,5 | leader followers observers looking all majority minority one random
              | words and sids mixed: leader,3
    link      1->2 (one way) | 1<->2 (both ways) | ends may be node words or * (1->*, leader<->*)
    duration  200ms | 1.5s | 2m | a bare number is milliseconds
    percent   20% | 12.5%
    zxid      0x100000002 | 4294967298
    predicate see engine.predicates: stable, leader == 5, n3.state == LOOKING, not n3.alive...

`parse` turns one line into an immutable `Command` and `Command.text` prints it back
canonically: the text re-parses to an equal command, which is how traces record commands and
replay repeats them. `parse_script` reads a script file. Parsing needs no cluster; node words
are resolved against a `ClusterView` by `resolve_nodes`, `resolve_link` and
`resolve_partition`. Executing commands is the Cluster facade's job.

The parser, `help_text`, `complete` and the command palette are all driven by one grammar
table, `VERBS`: each entry lists the verb's arguments and options as `Kind`s (how a value is
written, parsed, printed and completed), its summary, example and help group.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from engine.causes import causes_help
from engine.predicates import (
    CLUSTER_FIELDS,
    NODE_FIELDS,
    OPERATORS,
    STATE_WORDS,
    WORD_RE,
    CommandError,
    Cursor,
    Predicate,
    read_predicate,
)
from engine.view import ClusterView, NodeView
from engine.vote import LONG_MAX, ServerState, Sid, parse_zxid, zxid_hex

__all__ = [
    "DEFAULT_WAIT_MS",
    "EVENT_KINDS",
    "GROUPS_ORDER",
    "NODE_WORDS",
    "TOPICS",
    "VERBS",
    "Block",
    "BreakOn",
    "BreakWhen",
    "Command",
    "CommandError",
    "Completion",
    "Crash",
    "Delay",
    "Deliver",
    "Drop",
    "Dup",
    "EventFilter",
    "Expect",
    "Faults",
    "Halt",
    "Heal",
    "Help",
    "Hold",
    "Instant",
    "Isolate",
    "Link",
    "Loss",
    "Mark",
    "MessageId",
    "Nodes",
    "Partition",
    "Pause",
    "Quit",
    "Record",
    "Release",
    "Reorder",
    "Replay",
    "Reset",
    "Restart",
    "Resume",
    "Rng",
    "Run",
    "ScriptError",
    "ScriptLine",
    "Seek",
    "Set",
    "Speed",
    "Start",
    "Status",
    "Step",
    "Timeout",
    "Verb",
    "Wait",
    "WaitUntil",
    "Write",
    "chosen",
    "complete",
    "help_text",
    "parse",
    "parse_script",
    "resolve_link",
    "resolve_nodes",
    "resolve_partition",
]

DEFAULT_WAIT_MS = 10_000.0
"""How long `wait until` waits when no `within` is given."""

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
    " (beside majority: the running participants it left)",
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
        return f"@{_show_ms(self.t_ms)}"


EVENT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "send": ("a node sends a notification", ("from", "to")),
    "deliver": ("a notification is delivered", ("from", "to")),
    "drop": ("a message is dropped", ("from", "to")),
    "state": ("a node changes state", ("node", "state")),
    "decide": ("a node decides on a leader", ("node", "leader")),
    "timeout": ("a notification timeout fires", ("node",)),
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
_SID_RE = re.compile(r"[nN]?([0-9]{1,19})")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}


def _dec(text: str, scale: int = 1) -> Decimal:
    return (Decimal(text) * scale).quantize(_MILLI)


def _show_dec(value: Decimal | float) -> str:
    return format(Decimal(f"{value:.3f}").normalize(), "f")


def _show_ms(ms: float) -> str:
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
        raise cur.problem(f"a duration must be at most {_show_ms(MAX_MS)}", tok, got=True)
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
    m = _SID_RE.fullmatch(tok.text) if tok.kind == "word" else None
    if m is None or int(m[1]) > LONG_MAX:
        raise cur.expected(expected, *(hints or ("sid",)))
    cur.take()
    return int(m[1])


def _read_nodes(cur: Cursor, expected: str = "", star: bool = False) -> Nodes:
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
        else:
            sids.add(_read_sid(cur, expected or NODES.expected, *hints))
        if not cur.is_op(","):
            return Nodes(tuple(sorted(sids)), tuple(words), col=tok.col)
        cur.take()
        expected, hints = "a sid like 3 or n3 or a node word", ("nodes",)


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
        raise cur.expected("a state (LOOKING, FOLLOWING, LEADING, OBSERVING)", "state")
    cur.take()
    return state


def _read_event(cur: Cursor) -> EventFilter:
    tok = cur.peek()
    kind = tok.text.lower() if tok.kind == "word" else ""
    if kind not in EVENT_KINDS:
        raise cur.expected(EVENT.expected, "event")
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
            raise cur.expected(f"a filter of {kind} events ({allowed}) given once")
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


def _read_choice(cur: Cursor, kind: Kind, words: dict[str, Any]) -> Any:
    tok = cur.peek()
    if tok.kind != "word" or tok.text.lower() not in words:
        raise cur.expected(kind.expected, *kind.hints)
    cur.take()
    return words[tok.text.lower()]


def _read_fault(cur: Cursor) -> int | None:
    tok = cur.peek()
    m = re.fullmatch(r"[fF]([0-9]{1,9})", tok.text) if tok.kind == "word" else None
    if m is None and not cur.is_word("all"):
        raise cur.expected(FAULT.expected, *FAULT.hints)
    cur.take()
    return int(m[1]) if m else None


def _read_breakpoint(cur: Cursor) -> int | None:
    tok = cur.peek()
    m = re.fullmatch(r"[bB]([0-9]{1,9})", tok.text) if tok.kind == "word" else None
    if m is None and not cur.is_word("all"):
        raise cur.expected(BREAKPOINT.expected, *BREAKPOINT.hints)
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


def _topics() -> dict[str, str]:
    return {**{v.words[0]: v.words[0] for v in VERBS}, **_ALIASES, **{t: t for t in TOPICS}}


NODES: Kind = Kind(
    "<nodes>",
    "nodes (a sid like 3 or n3, a list 1,2, or one of "
    + ", ".join(NODE_WORDS)
    + "; words and sids mix: leader,3)",
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
    _show_ms,
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
    lambda cur: _read_choice(cur, MODE, {"all": "all", "next": "next"}),
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
TOPIC: Kind = Kind(
    "<command|topic>",
    "a command or a topic (nodes, links, predicates, events, values, causes)",
    lambda cur: _read_choice(cur, TOPIC, _topics()),
    hints=("topic",),
)

# --- commands ------------------------------------------------------------------------------------
# One class per verb form; what each means is in its `VERBS` entry (and so in its docstring).


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: immutable, compared by value; `text` is its canonical spelling."""

    @property
    def verb(self) -> str:
        """The canonical verb, e.g. `crash` for `kill` or `wait until`."""
        return _SPECS[type(self)].name

    @property
    def is_fault(self) -> bool:
        """A fault the executor gives an id `f<n>`; it may expire by itself (`for=`)."""
        return _SPECS[type(self)].is_fault

    @property
    def text(self) -> str:
        return _SPECS[type(self)].format(self)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Start(Command):
    nodes: Nodes = ALL


@dataclass(frozen=True, slots=True)
class Crash(Command):
    nodes: Nodes
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Restart(Command):
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Pause(Command):
    nodes: Nodes
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Resume(Command):
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Timeout(Command):
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Write(Command):
    count: int = 1


@dataclass(frozen=True, slots=True)
class Set(Command):
    sid: Sid
    zxid: int | None = None
    current_epoch: int | None = None
    accepted_epoch: int | None = None


@dataclass(frozen=True, slots=True)
class Status(Command):
    pass


@dataclass(frozen=True, slots=True)
class Partition(Command):
    groups: tuple[Nodes, ...]
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Isolate(Command):
    nodes: Nodes
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Block(Command):
    link: Link
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Delay(Command):
    link: Link
    ms: float
    jitter_ms: float = 0.0
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Loss(Command):
    link: Link
    percent: float
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Dup(Command):
    link: Link
    percent: float
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Reorder(Command):
    link: Link
    percent: float
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Heal(Command):
    fault: int | None = None
    """The fault's number (`heal f3` → 3), None for all."""


@dataclass(frozen=True, slots=True)
class Faults(Command):
    pass


@dataclass(frozen=True, slots=True)
class Reset(Command):
    pass


@dataclass(frozen=True, slots=True)
class Hold(Command):
    link: Link
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Release(Command):
    link: Link
    mode: str = "all"


@dataclass(frozen=True, slots=True)
class Drop(Command):
    target: Link | MessageId


@dataclass(frozen=True, slots=True)
class Deliver(Command):
    target: Link | MessageId


@dataclass(frozen=True, slots=True)
class Wait(Command):
    ms: float


@dataclass(frozen=True, slots=True)
class WaitUntil(Command):
    predicate: Predicate
    within_ms: float = DEFAULT_WAIT_MS


@dataclass(frozen=True, slots=True)
class Expect(Command):
    predicate: Predicate
    within_ms: float | None = None
    """None: the predicate must hold now."""


@dataclass(frozen=True, slots=True)
class Mark(Command):
    label: str = ""


@dataclass(frozen=True, slots=True)
class Run(Command):
    pass


@dataclass(frozen=True, slots=True)
class Halt(Command):
    pass


@dataclass(frozen=True, slots=True)
class Step(Command):
    count: int = 1


@dataclass(frozen=True, slots=True)
class Speed(Command):
    factor: float


@dataclass(frozen=True, slots=True)
class Seek(Command):
    target: int | Instant | str
    """A seq, a time on the run's clock, or a mark's label."""


@dataclass(frozen=True, slots=True)
class BreakWhen(Command):
    predicate: Predicate


@dataclass(frozen=True, slots=True)
class BreakOn(Command):
    event: EventFilter


@dataclass(frozen=True, slots=True)
class Breaks(Command):
    pass


@dataclass(frozen=True, slots=True)
class Unbreak(Command):
    breakpoint: int | None = None
    """The breakpoint's number (`unbreak b2` → 2), None for all."""


@dataclass(frozen=True, slots=True)
class Record(Command):
    pass


@dataclass(frozen=True, slots=True)
class Replay(Command):
    file: str


@dataclass(frozen=True, slots=True)
class Help(Command):
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Quit(Command):
    pass


@dataclass(frozen=True, slots=True)
class Fork(Command):
    pass


# --- the grammar table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """A positional argument, stored in the command's field `name`."""

    name: str
    kind: Kind
    optional: bool = False
    keyword: str = ""
    """Written `keyword <value>` (and then always optional), like `within 5s`."""


@dataclass(frozen=True)
class Opt:
    """A `key=value` option setting the command's `fields` (`epoch=` sets two)."""

    key: str
    kind: Kind
    doc: str
    fields: tuple[str, ...]


FOR = Opt(
    "for", DURATION, "heal by itself after this long (heal f<id> ends it sooner)", ("for_ms",)
)
CRASH_FOR = Opt("for", DURATION, "restart by itself after this long", ("for_ms",))
PAUSE_FOR = Opt(
    "for", DURATION, "resume by itself after this long (resume ends it sooner)", ("for_ms",)
)


@dataclass(frozen=True)
class Verb:
    """One form of one verb: how it is parsed, printed and explained."""

    words: tuple[str, ...]
    cls: type[Command]
    group: str
    summary: str
    example: str
    args: tuple[Arg, ...] = ()
    opts: tuple[Opt, ...] = ()
    aliases: tuple[str, ...] = ()
    needs_option: bool = False

    @property
    def name(self) -> str:
        return " ".join(self.words)

    @property
    def is_fault(self) -> bool:
        return FOR in self.opts

    @property
    def synopsis(self) -> str:
        """Verb and arguments, with `[options]` for the options."""
        return " ".join([self.name, *map(_arg_usage, self.args)] + ["[options]"] * bool(self.opts))

    @property
    def usage(self) -> str:
        opts = [f"[{o.key}={o.kind.metavar}]" for o in self.opts]
        return " ".join([self.name, *map(_arg_usage, self.args), *opts])

    def parse(self, cur: Cursor) -> Command:
        values: dict[str, Any] = {}
        for arg in self.args:
            if arg.keyword:
                cur.hint(f"word:{arg.keyword}")
                if not cur.is_word(arg.keyword):
                    continue
                cur.take()
            elif arg.optional:
                cur.hint(*arg.kind.hints)
                if cur.at_end() or cur.at_option():
                    continue
            values[arg.name] = arg.kind.parse(cur)
        seen: list[Opt] = []
        while True:
            cur.hint(f"opt:{self.name}")
            if cur.at_end():
                break
            key = cur.peek()
            opt = next((o for o in self.opts if o.key == key.text.lower()), None)
            if opt is None or not cur.at_option():
                raise cur.expected(self._what_next(values, seen, key.text))
            if opt in seen:
                raise cur.problem(f"{opt.key}= is given twice", key)
            cur.take()  # the key
            cur.take()  # =
            value = opt.kind.parse(cur)
            for name in opt.fields:
                if name in values:
                    raise cur.problem(f"{opt.key}= repeats an earlier option", key)
                values[name] = value
            seen.append(opt)
        if self.needs_option and not seen:
            raise cur.expected(" or ".join(f"{o.key}={o.kind.metavar}" for o in self.opts))
        return self.cls(**values)

    def _what_next(self, values: dict[str, Any], seen: list[Opt], got: str) -> str:
        more = [
            f"{a.keyword} {a.kind.metavar}" for a in self.args if a.keyword and a.name not in values
        ]
        # a predicate is still open if nothing was parsed after it
        pred_open = not seen and not any(a.keyword and a.name in values for a in self.args)
        if pred_open and any(a.kind is PREDICATE for a in self.args):
            more[:0] = ["and", "or"]
        more += [f"{o.key}={o.kind.metavar}" for o in self.opts if o not in seen]
        text = ", ".join(more) + " or end of line" if more else "end of line"
        if _SID_RE.fullmatch(got) and any(a.kind is NODES for a in self.args):
            text += " (separate several nodes with commas: 1,2)"
        return text

    def format(self, cmd: Command) -> str:
        defaults = {f.name: f.default for f in dataclasses.fields(cmd)}
        parts = list(self.words)
        for arg in self.args:
            value = getattr(cmd, arg.name)
            if (arg.optional or arg.keyword) and value == defaults[arg.name]:
                continue
            parts += [arg.keyword] * bool(arg.keyword) + [arg.kind.show(value)]
        done: set[str] = set()
        for opt in self.opts:
            values = {getattr(cmd, name) for name in opt.fields}
            value = getattr(cmd, opt.fields[0])
            if (
                done.isdisjoint(opt.fields)
                and len(values) == 1
                and value != defaults[opt.fields[0]]
            ):
                parts.append(f"{opt.key}={opt.kind.show(value)}")
                done.update(opt.fields)
        return " ".join(parts)


def _arg_usage(arg: Arg) -> str:
    text = f"{arg.keyword} {arg.kind.metavar}" if arg.keyword else arg.kind.metavar
    return f"[{text}]" if arg.optional or arg.keyword else text


def _epoch_opt(key: str, doc: str, *fields: str) -> Opt:
    return Opt(key, EPOCH, doc, fields or (key,))


_C, _F, _M, _S, _R, _U = (
    "Cluster",
    "Faults",
    "Messages",
    "Scripts",
    "Simulation and replay",
    "Console",
)
GROUPS_ORDER = (_C, _F, _M, _S, _R, _U)
"""The help groups, in the order help and the palette show them."""

# fmt: off
VERBS: tuple[Verb, ...] = (
    Verb(("start",), Start, _C, "Start nodes (all by default); scripts begin with all stopped",
         "start 1,2,3", (Arg("nodes", NODES, optional=True),)),
    Verb(("crash",), Crash, _C, "Crash nodes: threads stop, volatile state is lost, peers see EOF",
         "crash leader", (Arg("nodes", NODES),), (CRASH_FOR,), aliases=("kill",)),
    Verb(("restart",), Restart, _C, "Restart crashed nodes from their durable epochs and zxid",
         "restart 3", (Arg("nodes", NODES),)),
    Verb(("pause",), Pause, _C, "Freeze nodes: they stop consuming, queues fill, peers wait",
         "pause followers for=2s", (Arg("nodes", NODES),), (PAUSE_FOR,)),
    Verb(("resume",), Resume, _C, "Let paused nodes run again", "resume all",
         (Arg("nodes", NODES),)),
    Verb(("timeout",), Timeout, _C, "Fire the notification timeout of nodes in lookForLeader now",
         "timeout 3", (Arg("nodes", NODES),)),
    Verb(("write",), Write, _C, "Commit n transactions through the leader (raises last_zxid)",
         "write 3", (Arg("count", COUNT, optional=True),)),
    Verb(("set",), Set, _C, "Set a stopped node's durable zxid and epochs (epoch= sets both)",
         "set 3 zxid=0x100000002 epoch=1", (Arg("sid", SID),),
         (Opt("zxid", ZXID, "last logged zxid", ("zxid",)),
          _epoch_opt("epoch", "currentEpoch and acceptedEpoch", "current_epoch", "accepted_epoch"),
          _epoch_opt("current_epoch", "currentEpoch"),
          _epoch_opt("accepted_epoch", "acceptedEpoch")), needs_option=True),
    Verb(("status",), Status, _C, "Show the ensemble and every node", "status"),
    Verb(("partition",), Partition, _F,
         "Cut the cluster into groups; the nodes not named form one more group",
         "partition 1,2|3,4,5", (Arg("groups", GROUPS),), (FOR,)),
    Verb(("isolate",), Isolate, _F, "Cut every link of each node, both ways", "isolate leader",
         (Arg("nodes", NODES),), (FOR,)),
    Verb(("block",), Block, _F,
         "Cut a link (-> one way, <-> both): notifications are dropped, learner streams stall",
         "block 1->2",
         (Arg("link", LINK),), (FOR,)),
    Verb(("delay",), Delay, _F, "Delay every message on a link, with optional random jitter",
         "delay 1<->* 50ms jitter=10ms", (Arg("link", LINK), Arg("ms", DURATION)),
         (Opt("jitter", JITTER, "add up to this much random delay", ("jitter_ms",)), FOR)),
    Verb(("loss",), Loss, _F, "Lose this share of the messages on a link", "loss *->3 20%",
         (Arg("link", LINK), Arg("percent", PERCENT)), (FOR,)),
    Verb(("dup",), Dup, _F, "Duplicate this share of the messages on a link", "dup 1->2 10%",
         (Arg("link", LINK), Arg("percent", PERCENT)), (FOR,)),
    Verb(("reorder",), Reorder, _F, "Reorder this share of the messages on a link", "reorder * 30%",
         (Arg("link", LINK), Arg("percent", PERCENT)), (FOR,)),
    Verb(("heal",), Heal, _F, "End one fault by its id, or every fault", "heal f2",
         (Arg("fault", FAULT, optional=True),)),
    Verb(("faults",), Faults, _F, "List the active faults with their ids", "faults"),
    Verb(("reset",), Reset, _F, "Heal every fault, resume paused nodes and restart crashed ones",
         "reset"),
    Verb(("hold",), Hold, _M, "Hold the messages on a link in flight until released", "hold 1->*",
         (Arg("link", LINK),), (FOR,)),
    Verb(("release",), Release, _M, "Release a link's held messages: all, or the next one",
         "release 1->* next", (Arg("link", LINK), Arg("mode", MODE, optional=True))),
    Verb(("drop",), Drop, _M, "Drop one message: by id, or the next held one on a link", "drop m42",
         (Arg("target", TARGET),)),
    Verb(("deliver",), Deliver, _M,
         "Deliver one message now: by id, or the next held one on a link", "deliver 1->3",
         (Arg("target", TARGET),)),
    Verb(("wait",), Wait, _S, "Let the cluster run for a while", "wait 500ms",
         (Arg("ms", DURATION),)),
    Verb(("wait", "until"), WaitUntil, _S,
         f"Wait until a predicate holds (fails after {_show_ms(DEFAULT_WAIT_MS)} by default)",
         "wait until stable within 5s",
         (Arg("predicate", PREDICATE), Arg("within_ms", DURATION, keyword="within"))),
    Verb(("expect",), Expect, _S, "Fail unless a predicate holds now (or within a time)",
         "expect leader == 5 within 2s",
         (Arg("predicate", PREDICATE), Arg("within_ms", DURATION, keyword="within"))),
    Verb(("mark",), Mark, _S, "Bookmark this moment in the trace", "mark before crash",
         (Arg("label", LABEL, optional=True),)),
    Verb(("run",), Run, _R, "Run the simulation continuously, or play the replay", "run"),
    Verb(("halt",), Halt, _R, "Stop the simulation or the replay", "halt"),
    Verb(("step",), Step, _R, "Advance n events", "step 10", (Arg("count", COUNT, optional=True),)),
    Verb(("speed",), Speed, _R, "Set the simulation or replay speed", "speed 0.5x",
         (Arg("factor", SPEED),)),
    Verb(("seek",), Seek, _R, "Go to a seq, a time @t or a mark (replay)", "seek @1.5s",
         (Arg("target", SEEK),)),
    Verb(("break", "when"), BreakWhen, _R, "Stop playing when a predicate becomes true (replay)",
         "break when n3.state == LEADING", (Arg("predicate", PREDICATE),)),
    Verb(("break", "on"), BreakOn, _R, "Stop playing at the next matching event (replay)",
         "break on send from=1 to=3", (Arg("event", EVENT),)),
    Verb(("breaks",), Breaks, _R, "List the breakpoints with their ids (replay)", "breaks"),
    Verb(("unbreak",), Unbreak, _R, "Remove one breakpoint by its id, or all (replay)",
         "unbreak b2", (Arg("breakpoint", BREAKPOINT, optional=True),)),
    Verb(("record",), Record, _R,
         "Say which trace file the run is recorded to (--trace chose it at the start)", "record"),
    Verb(("replay",), Replay, _R, "Replay a trace deterministically", "replay traces/split.jsonl",
         (Arg("file", FILE),)),
    Verb(("fork",), Fork, _R, "Continue a replay from this point as a live simulated cluster",
         "fork"),
    Verb(("help",), Help, _U, "Show every command, or one command or topic in detail", "help crash",
         (Arg("topic", TOPIC, optional=True),)),
    Verb(("quit",), Quit, _U, "Leave the console", "quit", aliases=("exit",)),
)
# fmt: on
"""Every command form, in help order."""

_SPECS: dict[type[Command], Verb] = {v.cls: v for v in VERBS}
for _v in VERBS:
    _v.cls.__doc__ = f"`{_v.usage}`: {_v.summary}. Example: `{_v.example}`."
_FORMS: dict[str, list[Verb]] = {}
for _v in VERBS:
    _FORMS.setdefault(_v.words[0], []).append(_v)
del _v
_ALIASES = {alias: v.words[0] for v in VERBS for alias in v.aliases}

# --- parsing -------------------------------------------------------------------------------------


def parse(text: str) -> Command:
    """Parse one command line; CommandError says what was expected and where."""
    return _read_command(Cursor(text))


def _read_command(cur: Cursor) -> Command:
    tok = cur.peek()
    if tok.kind != "word":
        raise cur.expected("a command (try help)", "verb")
    word = _ALIASES.get(tok.text.lower(), tok.text.lower())
    forms = _FORMS.get(word)
    if forms is None:
        close = difflib.get_close_matches(word, [*_FORMS, *_ALIASES], n=1)
        raise cur.problem(
            f'unknown command "{tok.text}"',
            tok,
            f"did you mean {close[0]}?" if close else "try help",
        )
    cur.take()
    cur.verb = word
    subforms = [f for f in forms if len(f.words) > 1]
    for form in subforms:
        cur.hint(f"word:{form.words[1]}")
        if cur.is_word(form.words[1]):
            cur.take()
            cur.verb = form.name
            return form.parse(cur)
    plain = [f for f in forms if len(f.words) == 1]
    if not plain:
        raise cur.expected(" or ".join(f.words[1] for f in subforms))
    return plain[0].parse(cur)


@dataclass(frozen=True, slots=True)
class ScriptLine:
    """One command of a script and the line it came from (1-based)."""

    line: int
    command: Command


class ScriptError(CommandError):
    """Every bad line of a script: one `path:line:column: message` per line of str(); the
    first one's place is the error's own."""

    def __init__(self, errors: Sequence[CommandError]) -> None:
        first = errors[0]
        super().__init__(first.message, first.column, path=first.path, line=first.line)
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return "\n".join(CommandError.__str__(e) for e in self.errors)


def parse_script(text: str, path: str = "<script>") -> tuple[ScriptLine, ...]:
    """Parse a `.fle` script: one command per line, blank lines and `#` comments skipped.

    Bad lines raise ScriptError, which names every one as `path:line:column: message`."""
    lines = []
    errors = []
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        try:
            cur = Cursor(line)
            if not cur.at_end():
                lines.append(ScriptLine(number, _read_command(cur)))
        except CommandError as e:
            errors.append(CommandError(e.message, e.column, path=path, line=number))
    if errors:
        raise ScriptError(errors)
    return tuple(lines)


# --- resolving node words ------------------------------------------------------------------------

_T = TypeVar("_T")


class Rng(Protocol):
    """What node words need from a `random.Random`; the executor passes its seeded one."""

    def sample(self, population: Sequence[_T], k: int) -> list[_T]: ...

    def randint(self, a: int, b: int) -> int: ...


def _running(n: NodeView) -> bool:
    return n.alive and not n.paused


_WORD_TESTS: dict[str, tuple[Callable[[NodeView], bool], str]] = {
    "all": (lambda n: True, "every node is taken"),
    "*": (lambda n: True, "every node is taken"),
    "leader": (
        lambda n: _running(n) and n.state == ServerState.LEADING,
        "no running node is LEADING",
    ),
    "followers": (
        lambda n: _running(n) and n.state == ServerState.FOLLOWING,
        "no running node is FOLLOWING",
    ),
    "observers": (lambda n: n.learner_type == "observer", "the cluster has no observers"),
    "looking": (lambda n: n.alive and n.state == ServerState.LOOKING, "no live node is LOOKING"),
}


def resolve_nodes(spec: Nodes, view: ClusterView, rng: Rng) -> tuple[Sid, ...]:
    """The sids `spec` names in `view`, sorted and never empty.

    State words (leader, followers, looking) read the running cluster; `all`, `observers`,
    `one` and `random` the configured nodes; `majority` is a smallest majority (by count) of
    the configured participants and `minority` a largest minority, both drawn with `rng`
    from the running participants not named already. CommandError if a sid is not in the
    cluster or a word names no node."""
    return _resolve(spec, view, rng, ())


def _resolve(spec: Nodes, view: ClusterView, rng: Rng, taken: Collection[Sid]) -> tuple[Sid, ...]:
    missing = [s for s in spec.sids if s not in view.sids]
    if missing:
        have = ", ".join(map(str, sorted(view.sids))) or "none"
        raise CommandError(f"no node {missing[0]} in this cluster (sids: {have})", spec.col)
    chosen = set(spec.sids)
    for word in spec.words:
        chosen.update(_resolve_word(word, spec.col, view, rng, {*taken, *chosen}))
    return tuple(sorted(chosen))


def _resolve_word(
    word: str, col: int, view: ClusterView, rng: Rng, taken: Collection[Sid]
) -> list[Sid]:
    """The sids one word names among the nodes not `taken` (never empty)."""
    free = sorted((n for n in view.nodes if n.sid not in taken), key=lambda n: n.sid)
    if word in _WORD_TESTS:
        test, reason = _WORD_TESTS[word]
        chosen = [n.sid for n in free if test(n)]
    else:
        voters = [n.sid for n in free if n.learner_type == "participant" and _running(n)]
        pool = voters if word in ("majority", "minority") else [n.sid for n in free]
        n_voters = sum(n.learner_type == "participant" for n in view.nodes)
        k = {"majority": n_voters // 2 + 1, "minority": (n_voters - 1) // 2, "one": 1}.get(word)
        if k is None:  # random
            k = rng.randint(1, len(pool)) if pool else 1
        what = "running participants" if pool is voters else "nodes"
        reason = f"it needs {k} {what}, {len(pool)} free"
        if word == "minority" and pool:
            k = min(k, len(pool))  # beside a majority, the rest: together they split the running
        chosen = rng.sample(pool, k) if 0 < k <= len(pool) else []
    if not chosen:
        raise CommandError(f'"{word}" names no node: {reason}', col)
    return chosen


def chosen(spec: Nodes, sids: tuple[Sid, ...]) -> Nodes:
    """`spec` as the sids it resolved to, for echoing what a word chose (`*` stays)."""
    return spec if not spec.words or spec == STAR else Nodes(sids, col=spec.col)


def resolve_link(link: Link, view: ClusterView, rng: Rng) -> tuple[tuple[Sid, Sid], ...]:
    """The directed (from, to) pairs a link names, sorted; a node never links to itself."""
    src, dst = resolve_nodes(link.src, view, rng), resolve_nodes(link.dst, view, rng)
    pairs = {(a, b) for a in src for b in dst if a != b}
    if link.both:
        pairs |= {(b, a) for a, b in pairs}
    if not pairs:
        raise CommandError(f"link {link} joins no two different nodes", link.src.col)
    return tuple(sorted(pairs))


def resolve_partition(
    groups: Sequence[Nodes], view: ClusterView, rng: Rng
) -> tuple[tuple[Sid, ...], ...]:
    """The groups of a `partition`, each sorted; nodes no group names form one more group.

    Words pick among the nodes earlier groups left, so `majority|minority` is a clean split."""
    out: list[tuple[Sid, ...]] = []
    taken: list[Sid] = []
    for group in groups:
        sids = _resolve(group, view, rng, taken)
        if twice := sorted(set(sids).intersection(taken)):
            raise CommandError(f"node {twice[0]} is in two groups", group.col)
        out.append(sids)
        taken += sids
    rest = tuple(s for s in sorted(view.sids) if s not in taken)
    out += [rest] * bool(rest)
    if len(out) < 2:
        col = groups[0].col if groups else 0
        raise CommandError("a partition needs two groups, and these name every node", col)
    return tuple(out)


# --- help ----------------------------------------------------------------------------------------


def _table(rows: Iterable[tuple[str, str]], indent: str = "  ", width: int = 0) -> list[str]:
    rows = list(rows)
    width = width or max(len(a) for a, _ in rows)
    return [f"{indent}{a:<{width}}  {b}".rstrip() for a, b in rows]


TOPICS: dict[str, Callable[[], str]] = {
    "nodes": lambda: "\n".join(
        ["Nodes: a sid (3 or n3), a list (1,2,5) or a word:", *_table(NODE_WORDS.items())]
    ),
    "links": lambda: "\n".join(
        [
            "Links: 1->2 is one way, 1<->2 both ways. Either end may be a list, a node word or *:",
            "  1->*  everything 1 sends      *->3  everything 3 receives",
            "  leader<->*  every link of the leader      *  every link",
        ]
    ),
    "predicates": lambda: "\n".join(
        [
            "Predicates: compare with == != < <= > >=, combine with and, or, not, ( ).",
            "Cluster fields:",
            *_table((k, f"{f.kind}: {f.doc}") for k, f in CLUSTER_FIELDS.items()),
            "Node fields, written n3.<field>:",
            *_table((k, f"{f.kind}: {f.doc}") for k, f in NODE_FIELDS.items()),
            "States: " + ", ".join(STATE_WORDS) + " (any case).",
            "Examples: stable   leader == 5   n3.state == LOOKING and not n1.alive",
        ]
    ),
    "events": lambda: "\n".join(
        [
            "Events for break on <event> [filters]:",
            *_table(
                (f"{k} " + " ".join(f"[{f}=]" for f in filters), doc)
                for k, (doc, filters) in EVENT_KINDS.items()
            ),
        ]
    ),
    "causes": causes_help,
    "values": lambda: "\n".join(
        [
            "Values:",
            *_table(
                (k.metavar, k.expected)
                for k in (DURATION, PERCENT, ZXID, SPEED, SEEK, FAULT, TARGET, EVENT)
            ),
        ]
    ),
}
"""Help topics besides the commands."""


def help_text(topic: str | None = None) -> str:
    """Every command by group, or one command's forms in detail, or a topic (`TOPICS`)."""
    if not topic:
        width = max(len(v.synopsis) for v in VERBS)
        lines = []
        for group in GROUPS_ORDER:
            rows = ((v.synopsis, v.summary) for v in VERBS if v.group == group)
            lines += [group, *_table(rows, width=width)]
        return "\n".join([*lines, "", "help <command> for details; topics: " + ", ".join(TOPICS)])
    word = _ALIASES.get(topic.lower(), topic.lower())
    if word in TOPICS:
        return TOPICS[word]()
    if word not in _FORMS:
        raise CommandError(f'help: no command or topic "{topic}"')
    return "\n\n".join(map(_verb_help, _FORMS[word]))


def _verb_help(v: Verb) -> str:
    kinds = {a.kind.metavar: a.kind.expected for a in v.args}
    rows = [*kinds.items(), *((f"{o.key}={o.kind.metavar}", o.doc) for o in v.opts)]
    lines = (
        [v.usage, f"  {v.summary}", *_table(rows, "    ")] if rows else [v.usage, f"  {v.summary}"]
    )
    if v.aliases:
        lines.append(f"  alias: {', '.join(v.aliases)}")
    return "\n".join([*lines, f"  example: {v.example}"])


# --- completion ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completion:
    """Replace the last `replace` characters before the cursor with `text`.

    prompt_toolkit: `Completion(c.text, start_position=-c.replace, display_meta=c.meta)`."""

    text: str
    replace: int
    meta: str = ""


_PREFIX_RE = re.compile(f"(?:{WORD_RE.pattern})?$")


def complete(text_before_cursor: str, view: ClusterView | None = None) -> list[Completion]:
    """What may be typed at the cursor: verbs, node ids and words, option keys, link arrows,
    predicate fields, states, event kinds, fault ids. The parser itself reports what it
    looked for at the end of the text, so completion follows the grammar exactly."""
    text = text_before_cursor
    match = _PREFIX_RE.search(text)
    prefix = match.group() if match else ""
    head = text[: len(text) - len(prefix)]
    found: dict[str, Completion] = {}
    for candidate, meta in _candidates(_hints(head), prefix, head, view):
        if candidate.lower().startswith(prefix.lower()) and candidate not in found:
            found[candidate] = Completion(candidate, len(prefix), meta)
    # an arrow may follow a link end being typed: "1" -> "1->", and "1-" -> "1->"
    if prefix.endswith("-") and "arrow" in _hints(text[:-1]):
        found.setdefault("->", Completion("->", 1, "one way"))
    elif prefix and "arrow" in _hints(text):
        for arrow, meta in (("->", "one way"), ("<->", "both ways")):
            found.setdefault(arrow, Completion(arrow, 0, meta))
    return list(found.values())


def _hints(text: str) -> list[str]:
    """Completion categories the parser looked for at the end of `text` ([] if it failed
    earlier, or the end is inside a comment or a string)."""
    try:
        cur = Cursor(text)
    except CommandError:
        return []
    if cur.tokens[-1].col != len(text) + 1:
        return []
    try:
        _read_command(cur)
    except CommandError:
        if not cur.at_end():
            return []
    return cur.hints


def _candidates(
    hints: list[str], prefix: str, head: str, view: ClusterView | None
) -> Iterator[tuple[str, str]]:
    sids = sorted(view.sids) if view else []
    for hint in dict.fromkeys(hints):
        category, _, arg = hint.partition(":")
        if category == "verb":
            yield from ((v.words[0], v.summary) for v in VERBS)
            yield from ((a, f"alias of {v}") for a, v in _ALIASES.items())
        elif category == "word":
            yield arg, ""
        elif category == "arrow":
            yield from (("->", "one way"), ("<->", "both ways"))
        elif category in ("nodes", "endpoint", "sid"):
            yield from (
                (f"{'' if prefix[:1].isdigit() else 'n'}{s}", _node_meta(view, s)) for s in sids
            )
            if category != "sid":
                yield from NODE_WORDS.items()
            if category == "endpoint":
                yield "*", "any node"
        elif category in ("dur", "pct"):
            units = ("ms", "s", "m") if category == "dur" else ("%",)
            if re.fullmatch(r"[0-9.]+", prefix):
                yield from ((prefix + u, "") for u in units)
            else:
                yield from (
                    (e, "")
                    for e in (("200ms", "1s", "5s") if category == "dur" else ("10%", "50%"))
                )
        elif category == "opt":
            used = set(re.findall(r"(\w+)\s*=(?!=)", head))
            yield from ((f"{o.key}=", o.doc) for o in _verb(arg).opts if o.key not in used)
        elif category == "filter":
            yield from ((f"{k}=", "") for k in EVENT_KINDS[arg][1])
        elif category == "pterm":
            yield from _predicate_candidates(prefix, sids, view)
        elif category == "cmp":
            yield from ((op, "") for op in OPERATORS)
        elif category == "state":
            yield from ((s, "") for s in STATE_WORDS)
        elif category == "event":
            yield from ((k, doc) for k, (doc, _) in EVENT_KINDS.items())
        elif category == "topic":
            yield from ((t, "") for t in _topics())
        elif category == "fault":
            yield "all", "every fault"
            yield from ((f.fault_id, f.text) for f in (view.faults if view else ()))


def _verb(name: str) -> Verb:
    return next(v for v in VERBS if v.name == name)


def _node_meta(view: ClusterView | None, sid: Sid) -> str:
    if view is None:
        return ""
    n = view.node(sid)
    if not n.alive:
        return "down"
    return ("paused " if n.paused else "") + (n.state.name if n.state is not None else "")


def _predicate_candidates(
    prefix: str, sids: list[Sid], view: ClusterView | None
) -> Iterator[tuple[str, str]]:
    m = re.match(r"[nN]([0-9]+)\.", prefix)
    if m:
        yield from ((f"n{m[1]}.{k}", f.doc) for k, f in NODE_FIELDS.items())
        return
    yield from ((k, f.doc) for k, f in CLUSTER_FIELDS.items())
    yield "not", ""
    yield from ((f"n{s}.", _node_meta(view, s)) for s in sids)
