"""Predicates over a ClusterView, and the tokens the command language is made of.

A predicate is what `wait until`, `expect` and `break when` test: `stable`, `leader == 5`,
`leaders > 1`, `n3.state == LOOKING`, `n3.vote.leader == n5.vote.leader`, `not n3.alive`,
combined with `and`, `or`, `not` and parentheses. It is parsed by a small recursive-descent
parser (never `eval`) into an immutable tree whose `describe()` is the canonical text and
whose `evaluate(view)` reads only a `ClusterView`.

The tokenizer, the cursor and `CommandError` live here because predicates need them and
`engine.control.commands` builds on this module (never the other way round).
"""

from __future__ import annotations

import difflib
import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeAlias, TypeVar

from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState, Sid, Vote, parse_zxid, zxid_hex

# --- errors and tokens -------------------------------------------------------------------------


class CommandError(ValueError):
    """A command, script line or predicate that cannot be parsed, validated or resolved.

    `column` is 1-based (0 when there is nothing to point at). Errors from script files also
    carry `path` and `line`, and then print as `path:line:column: message`.
    """

    def __init__(
        self, message: str, column: int = 0, *, path: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: `kind` is word, str (a quoted string), op or end; `col` is 1-based."""

    kind: str
    text: str
    col: int
    value: str = ""
    """The unescaped contents of a quoted string (kind str)."""


_TOKEN_RE = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>\#.*)
    | (?P<str>"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*")
    | (?P<op><->|->|==|!=|<=|>=|[<>,|()=*])
    | (?P<word>(?:[^\s\x00-\x1f\x7f,|()=<>!"\#*-]|-(?!>))+)
    """,
    re.VERBOSE,
)
WORD_RE = re.compile(r"""(?:[^\s\x00-\x1f\x7f,|()=<>!"#*-]|-(?!>))+""")
"""What one unquoted word may contain; anything else has to be quoted."""


def tokenize(text: str) -> list[Token]:
    """Split one line into tokens, ending with an `end` token; `#` starts a comment."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            what = (
                "unterminated string" if text[pos] == '"' else f'unexpected character "{text[pos]}"'
            )
            raise CommandError(f"{what} at column {pos + 1}", pos + 1)
        kind = m.lastgroup or ""
        if kind == "comment":
            break
        if kind != "space":
            value = re.sub(r"\\(.)", r"\1", m.group()[1:-1]) if kind == "str" else ""
            tokens.append(Token(kind, m.group(), pos + 1, value))
        pos = m.end()
    tokens.append(Token("end", "", pos + 1))  # at the comment, if there is one
    return tokens


class Cursor:
    """Walks the tokens of one line and builds error messages that say what was expected.

    Whenever a parser looks for something at the end of the line it calls `hint` with
    completion categories (see `engine.control.complete.complete`), so the parser itself decides
    what can be completed at the cursor.
    """

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.verb = ""
        self.hints: list[str] = []

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def at_end(self) -> bool:
        return self.peek().kind == "end"

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() in words

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def at_option(self) -> bool:
        """A `key=value` option starts here."""
        return self.peek().kind == "word" and self.peek(1).kind == "op" and self.peek(1).text == "="

    def hint(self, *categories: str) -> None:
        if self.at_end():
            self.hints.extend(categories)

    def expected(self, what: str, *categories: str, near: Iterable[str] = ()) -> CommandError:
        """`verb: expected <what> at column N, got "x"` about the next token, and `; did you
        mean y?` when one of the words `near` is a likely misspelling of it."""
        self.hint(*categories)
        tok = self.peek()
        got = {"end": "end of line", "str": tok.text}.get(tok.kind, f'"{tok.text}"')
        guess = nearest(tok.text, near) if tok.kind == "word" else None
        note = f"; did you mean {guess}?" if guess else ""
        return CommandError(
            f"{self._prefix()}expected {what} at column {tok.col}, got {got}{note}", tok.col
        )

    def problem(
        self, message: str, at: Token | int, note: str = "", got: bool = False
    ) -> CommandError:
        """`verb: <message> at column N[, got "x"][; note]` about a token (or a column)."""
        col = at if isinstance(at, int) else at.col
        got_text = f', got "{at.text}"' if got and isinstance(at, Token) else ""
        note = f"; {note}" if note else ""
        return CommandError(f"{self._prefix()}{message} at column {col}{got_text}{note}", col)

    def _prefix(self) -> str:
        return f"{self.verb}: " if self.verb else ""


def nearest(word: str, words: Iterable[str]) -> str | None:
    """The one of `words` that `word` most likely misspells (None if none is close)."""
    spelled = {w.lower(): w for w in words}
    close = difflib.get_close_matches(word.lower(), list(spelled), n=1)
    return spelled[close[0]] if close else None


# --- fields --------------------------------------------------------------------------------------

Value: TypeAlias = int | ServerState | bool | None
"""What a field reads: a number, a state (None = DOWN), a flag; None when there is none."""

T = TypeVar("T", NodeView, ClusterView)


@dataclass(frozen=True, slots=True)
class FieldDef(Generic[T]):
    """A readable field of a node or of the cluster; `kind` is bool, int, zxid, sid or state."""

    kind: str
    doc: str
    read: Callable[[T], Value]


def _vote_field(part: str, name: str) -> FieldDef[NodeView]:
    def read(n: NodeView) -> Value:
        vote: Vote | None = n.current_vote if part == "vote" else n.proposal
        return None if vote is None else int(getattr(vote, name))

    kind = "sid" if name == "leader" else "zxid" if name == "zxid" else "int"
    return FieldDef(kind, f"{'currentVote' if part == 'vote' else 'FLE proposal'} {name}", read)


NODE_FIELDS: dict[str, FieldDef[NodeView]] = {
    "alive": FieldDef("bool", "running: started and not crashed", lambda n: n.alive),
    "paused": FieldDef("bool", "paused (not consuming its queues)", lambda n: n.paused),
    "finalizing": FieldDef("bool", "in FLE's finalize wait", lambda n: n.finalizing),
    "established": FieldDef(
        "bool", "leader: epoch established; learner: synced", lambda n: n.established
    ),
    "state": FieldDef("state", "LOOKING, FOLLOWING, LEADING, OBSERVING or DOWN", lambda n: n.state),
    "logicalclock": FieldDef("int", "FLE's election round", lambda n: n.logicalclock),
    "current_epoch": FieldDef("int", "durable currentEpoch", lambda n: n.current_epoch),
    "accepted_epoch": FieldDef("int", "durable acceptedEpoch", lambda n: n.accepted_epoch),
    "last_zxid": FieldDef("zxid", "last zxid (srvr's, the vote's)", lambda n: n.last_zxid),
    **{
        f"{part}.{name}": _vote_field(part, name)
        for part in ("vote", "proposal")
        for name in ("leader", "zxid", "election_epoch", "peer_epoch")
    },
    "recvset.size": FieldDef("int", "votes in recvset", lambda n: len(n.recvset)),
    "outofelection.size": FieldDef("int", "votes in outofelection", lambda n: len(n.outofelection)),
    "recv_queue": FieldDef("int", "QuorumCnxManager recvQueue depth", lambda n: n.recv_queue),
    "not_timeout_ms": FieldDef("int", "current notification timeout", lambda n: n.not_timeout_ms),
}
"""Fields of one node, written `n<sid>.<field>`."""

CLUSTER_FIELDS: dict[str, FieldDef[ClusterView]] = {
    "stable": FieldDef(
        "bool", "one established leader, every running node decided", lambda v: v.stable
    ),
    "settled": FieldDef(
        "bool", "stable, and every running learner synced with the leader", lambda v: v.settled
    ),
    "synced": FieldDef(
        "bool",
        "a leader serves and every running learner has finished syncing with it",
        lambda v: v.synced,
    ),
    "leader": FieldDef("sid", "the stable leader (none while not stable)", lambda v: v.leader),
    "leaders": FieldDef("int", "how many running nodes are LEADING", lambda v: len(v.leaders)),
    "looking": FieldDef("int", "how many live nodes are LOOKING", lambda v: len(v.looking)),
}
"""Fields of the whole cluster, written by name."""

STATE_WORDS: dict[str, ServerState | None] = {s.name: s for s in ServerState} | {"DOWN": None}
ORDERINGS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
OPERATORS = ("==", "!=", *ORDERINGS)
_NODE_REF = re.compile(r"[nN]([0-9]{1,18})(?:\.(.*))?")
_EXPECTED = "a predicate (stable, leader == 5, leaders > 1, n3.state == LOOKING, n3.alive, not …)"


# --- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """A field: of the cluster (`sid` None) or of node `sid`."""

    sid: Sid | None
    name: str
    col: int = field(default=0, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return (CLUSTER_FIELDS[self.name] if self.sid is None else NODE_FIELDS[self.name]).kind

    def read(self, view: ClusterView) -> Value:
        if self.sid is None:
            return CLUSTER_FIELDS[self.name].read(view)
        return NODE_FIELDS[self.name].read(view.node(self.sid))

    def __str__(self) -> str:
        return self.name if self.sid is None else f"n{self.sid}.{self.name}"


Operand: TypeAlias = Ref | int | ServerState | None
"""The right side of a comparison: another field, a number, a state (None = DOWN)."""


class Predicate(ABC):
    """A parsed predicate; `describe()` re-parses to an equal tree."""

    __slots__ = ()
    precedence: ClassVar[int] = 4
    """or 1, and 2, not 3, atoms 4: a child that binds less tightly is parenthesised."""

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def refs(self) -> tuple[Ref, ...]: ...

    @abstractmethod
    def _eval(self, view: ClusterView) -> bool: ...

    def evaluate(self, view: ClusterView) -> bool:
        """True if the predicate holds in `view`; CommandError if it names a missing node."""
        self.check(view)
        return self._eval(view)

    def check(self, view: ClusterView) -> None:
        """Raise CommandError naming the first node this predicate reads that `view` lacks."""
        for ref in self.refs():
            if ref.sid is not None and ref.sid not in view.sids:
                have = ", ".join(f"n{s}" for s in view.sids) or "none"
                raise CommandError(f"no node n{ref.sid} in this cluster (nodes: {have})", ref.col)

    def _wrap(self, child: Predicate) -> str:
        text = child.describe()
        return f"({text})" if child.precedence < self.precedence else text

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True, slots=True)
class Flag(Predicate):
    """A true/false field: `stable`, `n3.alive`."""

    ref: Ref

    def describe(self) -> str:
        return str(self.ref)

    def refs(self) -> tuple[Ref, ...]:
        return (self.ref,)

    def _eval(self, view: ClusterView) -> bool:
        return bool(self.ref.read(view))


@dataclass(frozen=True, slots=True)
class Compare(Predicate):
    """`<field> <op> <operand>`; a missing value (no vote, no stable leader) only equals
    another missing value and is never ordered."""

    left: Ref
    op: str
    right: Operand

    def describe(self) -> str:
        right = self.right
        if isinstance(right, Ref):
            text = str(right)
        elif right is None or isinstance(right, ServerState):
            text = "DOWN" if right is None else right.name
        else:
            text = zxid_hex(right) if self.left.kind == "zxid" else str(right)
        return f"{self.left} {self.op} {text}"

    def refs(self) -> tuple[Ref, ...]:
        return (self.left, self.right) if isinstance(self.right, Ref) else (self.left,)

    def _eval(self, view: ClusterView) -> bool:
        a = self.left.read(view)
        b = self.right.read(view) if isinstance(self.right, Ref) else self.right
        if self.op in ("==", "!="):
            return (a == b) == (self.op == "==")
        return isinstance(a, int) and isinstance(b, int) and ORDERINGS[self.op](a, b)


@dataclass(frozen=True, slots=True)
class Not(Predicate):
    operand: Predicate
    precedence = 3

    def describe(self) -> str:
        return f"not {self._wrap(self.operand)}"

    def refs(self) -> tuple[Ref, ...]:
        return self.operand.refs()

    def _eval(self, view: ClusterView) -> bool:
        return not self.operand._eval(view)


@dataclass(frozen=True, slots=True)
class And(Predicate):
    operands: tuple[Predicate, ...]
    precedence = 2

    def describe(self) -> str:
        return " and ".join(self._wrap(p) for p in self.operands)

    def refs(self) -> tuple[Ref, ...]:
        return tuple(r for p in self.operands for r in p.refs())

    def _eval(self, view: ClusterView) -> bool:
        return all(p._eval(view) for p in self.operands)


@dataclass(frozen=True, slots=True)
class Or(Predicate):
    operands: tuple[Predicate, ...]
    precedence = 1

    def describe(self) -> str:
        return " or ".join(self._wrap(p) for p in self.operands)

    def refs(self) -> tuple[Ref, ...]:
        return tuple(r for p in self.operands for r in p.refs())

    def _eval(self, view: ClusterView) -> bool:
        return any(p._eval(view) for p in self.operands)


# --- the parser ----------------------------------------------------------------------------------


def parse_predicate(text: str) -> Predicate:
    """Parse a whole line as one predicate."""
    cur = Cursor(text)
    pred = read_predicate(cur)
    if not cur.at_end():
        raise cur.expected("and, or or end of line")
    return pred


def read_predicate(cur: Cursor) -> Predicate:
    """or := and ('or' and)*   — stops at the first token that cannot continue it."""
    return _chain(cur, "or", Or, lambda: _chain(cur, "and", And, lambda: _unary(cur)))


def _chain(
    cur: Cursor, word: str, cls: type[And] | type[Or], item: Callable[[], Predicate]
) -> Predicate:
    items = [item()]
    while True:
        cur.hint(f"word:{word}")
        if not cur.is_word(word):
            break
        cur.take()
        items.append(item())
    # flatten `a and (b and c)` so that describe() round-trips
    flat = tuple(q for p in items for q in (p.operands if isinstance(p, cls) else (p,)))
    return flat[0] if len(flat) == 1 else cls(flat)


def _unary(cur: Cursor) -> Predicate:
    """unary := 'not' unary | '(' or ')' | term"""
    if cur.is_word("not"):
        cur.take()
        return Not(_unary(cur))
    if cur.is_op("("):
        cur.take()
        inner = read_predicate(cur)
        if not cur.is_op(")"):
            raise cur.expected('and, or or ")"')
        cur.take()
        return inner
    return _term(cur)


def _term(cur: Cursor) -> Predicate:
    """term := flag | field op operand"""
    left = _ref(cur, _EXPECTED, "pterm", "word:not", near=(*CLUSTER_FIELDS, "not"))
    if left.kind == "bool":
        if cur.peek().kind == "op" and cur.peek().text in OPERATORS:
            raise cur.problem(f"{left} is true or false: write {left} or not {left}", cur.peek())
        return Flag(left)
    cur.hint("cmp")
    if not (cur.peek().kind == "op" and cur.peek().text in OPERATORS):
        raise cur.expected(f"a comparison (== != < <= > >=) after {left}", "cmp")
    op = cur.take()
    if left.kind == "state" and op.text not in ("==", "!="):
        raise cur.problem(f"states compare with == or != only, not {op.text}", op)
    return Compare(left, op.text, _operand(cur, left))


def _is_ref(tok: Token) -> bool:
    return tok.kind == "word" and (
        tok.text.lower() in CLUSTER_FIELDS or _NODE_REF.fullmatch(tok.text) is not None
    )


def _ref(cur: Cursor, expected: str, *hints: str, near: Iterable[str] = ()) -> Ref:
    tok = cur.peek()
    if not _is_ref(tok):
        raise cur.expected(expected, *hints, near=near)
    cur.take()
    name = tok.text.lower()
    if name in CLUSTER_FIELDS:
        return Ref(None, name, tok.col)
    m = _NODE_REF.fullmatch(tok.text)
    assert m is not None
    sid, path = int(m[1]), (m[2] or "").lower()
    if path not in NODE_FIELDS:
        what = (
            f'unknown field "{path}" of n{sid}'
            if path
            else f"n{sid} needs a field, like n{sid}.state"
        )
        guess = nearest(path, NODE_FIELDS) if path else None
        note = f"did you mean n{sid}.{guess}?" if guess else f"fields are {', '.join(NODE_FIELDS)}"
        raise cur.problem(what, tok, note)
    return Ref(sid, path, tok.col)


def _operand(cur: Cursor, left: Ref) -> Operand:
    """A literal of the left side's kind, or another field of a compatible kind."""
    tok = cur.peek()
    is_state = left.kind == "state"
    if is_state and tok.kind == "word" and tok.text.upper() in STATE_WORDS:
        cur.take()
        return STATE_WORDS[tok.text.upper()]
    if _is_ref(tok) and (tok.text.lower() in CLUSTER_FIELDS or "." in tok.text):  # not "n5"
        right = _ref(cur, "a field", "pterm")
        if right.kind == "bool" or (right.kind == "state") != is_state:
            raise cur.problem(f"{left} and {right} cannot be compared", tok)
        return right
    if is_state:
        raise cur.expected(f"a state ({', '.join(STATE_WORDS)})", "state", near=STATE_WORDS)
    sid_like = left.kind == "sid"
    text = tok.text[1:] if sid_like and tok.text[:1] in "nN" else tok.text
    try:
        value = parse_zxid(text) if tok.kind == "word" else None
    except ValueError:
        value = None
    if value is None:
        what = "a sid like 5 or n5" if sid_like else "a number (decimal or 0x hex)"
        raise cur.expected(f"{what} or another field", "sid" if sid_like else "number")
    cur.take()
    return value
