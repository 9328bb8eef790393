"""Node words and links resolved against a cluster's view: which sids `leader`, `majority`
or `1->*` name now (random words draw from the executor's seeded rng).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol, TypeVar

from engine.control.predicates import CommandError
from engine.control.values import STAR, Link, Nodes
from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState, Sid

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


DRAWN = ("majority", "minority", "one", "random")
"""Words that draw their nodes with the rng."""


def _resolve(
    spec: Nodes,
    view: ClusterView,
    rng: Rng,
    taken: Collection[Sid],
    drawn_apart: Collection[Sid] = (),
) -> tuple[Sid, ...]:
    """`taken` nodes are named by no word; `drawn_apart` ones by no drawn word."""
    missing = [s for s in spec.sids if s not in view.sids]
    if missing:
        have = ", ".join(map(str, sorted(view.sids))) or "none"
        raise CommandError(f"no node {missing[0]} in this cluster (sids: {have})", spec.col)
    chosen = set(spec.sids)
    for word in spec.words:
        apart = drawn_apart if word in DRAWN else ()
        chosen.update(_resolve_word(word, spec.col, view, rng, {*taken, *chosen, *apart}))
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
    """The directed (from, to) pairs a link names, sorted; a node never links to itself.

    The far end's drawn words draw among the nodes the near end did not name (unless it
    named them all: `*->majority`), so `block majority->minority` cuts two disjoint groups,
    as `partition majority|minority` does (drawn alike, a minority overlapped the majority
    and cut fewer links)."""
    src = resolve_nodes(link.src, view, rng)
    everyone = {"*", "all"} & set(link.src.words)
    dst = _resolve(link.dst, view, rng, (), drawn_apart=() if everyone else src)
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


__all__ = ["Rng", "chosen", "resolve_link", "resolve_nodes", "resolve_partition"]
