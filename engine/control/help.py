"""The command language's help: every command by group, one command's forms, and the
topics (nodes, links, predicates, events, values, causes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.control.commands import ALIASES, FORMS, GROUPS_ORDER, VERBS, Verb
from engine.control.predicates import CLUSTER_FIELDS, NODE_FIELDS, STATE_WORDS, CommandError
from engine.control.values import (
    DURATION,
    EVENT,
    EVENT_KINDS,
    FAULT,
    NODE_WORDS,
    PERCENT,
    SEEK,
    SPEED,
    TARGET,
    ZXID,
)
from engine.trace.explain.causes import causes_help

# --- help ----------------------------------------------------------------------------------------


def _table(rows: Iterable[tuple[str, str]], indent: str = "  ", width: int = 0) -> list[str]:
    rows = list(rows)
    width = width or max(len(a) for a, _ in rows)
    return [f"{indent}{a:<{width}}  {b}".rstrip() for a, b in rows]


TOPICS: dict[str, Callable[[], str]] = {
    "nodes": lambda: "\n".join(
        [
            "Nodes: a sid (3 or n3), a list (1,2,5 or 1 2 5), a range (1-3) or a word, mixed",
            "(1-3,5  leader 3); in a link, lists take commas only (1,2->3):",
            *_table(NODE_WORDS.items()),
        ]
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
    "values": lambda: "\n".join(
        [
            "Values:",
            *_table(
                (k.metavar, k.expected)
                for k in (DURATION, PERCENT, ZXID, SPEED, SEEK, FAULT, TARGET, EVENT)
            ),
        ]
    ),
    "causes": causes_help,
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
    word = ALIASES.get(topic.lower(), topic.lower())
    if word in TOPICS:
        return TOPICS[word]()
    if word not in FORMS:
        raise CommandError(f'help: no command or topic "{topic}"')
    return "\n\n".join(map(_verb_help, FORMS[word]))


def _verb_help(v: Verb) -> str:
    kinds = {a.kind.metavar: a.kind.expected for a in v.args}
    rows = [*kinds.items(), *((f"{o.key}={o.kind.metavar}", o.doc) for o in v.opts)]
    lines = (
        [v.usage, f"  {v.summary}", *_table(rows, "    ")] if rows else [v.usage, f"  {v.summary}"]
    )
    if v.aliases:
        lines.append(f"  alias: {', '.join(v.aliases)}")
    return "\n".join([*lines, f"  example: {v.example}"])


__all__ = ["TOPICS", "help_text"]
