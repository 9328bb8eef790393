"""Completion of a command line at the cursor, following the grammar: the parser reports
what it looked for at the end of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from engine.control.commands import ALIASES, VERBS, Verb, read_command, topic_words
from engine.control.predicates import (
    CLUSTER_FIELDS,
    NODE_FIELDS,
    OPERATORS,
    STATE_WORDS,
    WORD_RE,
    CommandError,
    Cursor,
)
from engine.control.values import EVENT_KINDS, NODE_WORDS
from engine.core.view import ClusterView
from engine.core.vote import Sid


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
        read_command(cur)
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
            yield from ((a, f"alias of {v}") for a, v in ALIASES.items())
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
            yield from ((t, "") for t in topic_words())
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


__all__ = ["Completion", "complete"]
