"""The predicate mini-language of `wait until`, `expect` and `break when` (DESIGN §4):
parsing (never eval), canonical text, evaluation against ClusterViews, and errors that name
the unknown field or node and the column."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.control.predicates import (
    And,
    CommandError,
    Compare,
    Flag,
    Not,
    Or,
    Ref,
    parse_predicate,
    tokenize,
)
from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState, Vote

K, F, L = ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING


def node(sid: int, state: ServerState | None, **kw: Any) -> NodeView:
    """A participant, down if `state` is None, that votes for 5 while it is up."""
    vote = None if state is None else Vote(5, 0x100000000, 1, 1)
    return NodeView(
        sid,
        "participant",
        alive=state is not None,
        state=state,
        current_vote=vote,
        proposal=vote,
        **kw,
    )


STABLE = ClusterView(
    nodes=(
        node(1, F, logicalclock=2),
        node(2, None),
        node(3, F, logicalclock=3, last_zxid=0x100000001, recvset=((1, Vote(5, 0)),) * 3),
        node(4, F),
        node(5, L, established=True, current_epoch=1),
    )
)
ELECTING = ClusterView(nodes=(node(1, K), node(2, K), node(3, F), node(4, None), node(5, None)))
SPLIT_BRAIN = ClusterView(
    nodes=(node(1, L, established=True), node(2, F), node(3, L), node(4, F), node(5, None))
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("stable", "stable"),
        ("leader == 5", "leader == 5"),
        ("leader!=n5", "leader != 5"),
        ("leaders>1", "leaders > 1"),
        ("looking == 0", "looking == 0"),
        ("n3.state == looking", "n3.state == LOOKING"),
        ("N3.STATE != Down", "n3.state != DOWN"),
        ("n3.logicalclock > 2", "n3.logicalclock > 2"),
        ("n3.vote.leader == 5", "n3.vote.leader == 5"),
        ("n3.proposal.leader == n5", "n3.proposal.leader == 5"),
        ("n3.current_epoch >= 1", "n3.current_epoch >= 1"),
        ("n3.last_zxid == 4294967297", "n3.last_zxid == 0x100000001"),
        ("n3.vote.zxid <= 0X1", "n3.vote.zxid <= 0x1"),
        ("n3.recvset.size >= 3", "n3.recvset.size >= 3"),
        ("n3.alive", "n3.alive"),
        ("not n3.alive", "not n3.alive"),
        ("not not stable", "not not stable"),
        ("n1.vote.leader == n2.vote.leader", "n1.vote.leader == n2.vote.leader"),
        ("n1.state == n2.state", "n1.state == n2.state"),
        ("stable or leaders == 0 and looking > 0", None),
        ("(stable or leaders == 0) and looking > 0", None),
        ("stable and (n1.alive and n2.alive)", "stable and n1.alive and n2.alive"),
        ("not (stable or n1.alive)", None),
        ("((stable))", "stable"),
        ("stable # trailing comment", "stable"),
    ],
)
def test_predicates_print_canonically_and_round_trip(text: str, canonical: str | None) -> None:
    pred = parse_predicate(text)
    assert pred.describe() == (canonical or text)
    assert parse_predicate(pred.describe()) == pred


def test_precedence_is_or_below_and_below_not() -> None:
    stable, alive = Flag(Ref(None, "stable")), Flag(Ref(1, "alive"))
    looking = Compare(Ref(None, "looking"), ">", 0)
    assert parse_predicate("stable or n1.alive and looking > 0") == Or(
        (stable, And((alive, looking)))
    )
    assert parse_predicate("not stable and n1.alive") == And((Not(stable), alive))
    assert parse_predicate("stable or (n1.alive or looking > 0)") == Or((stable, alive, looking))


@pytest.mark.parametrize(
    ("text", "stable", "electing", "split"),
    [
        ("stable", True, False, False),
        ("leader == 5", True, False, False),
        ("leader != 5", False, True, True),
        ("leaders == 1", True, False, False),
        ("leaders > 1", False, False, True),
        ("looking == 0", True, False, True),
        ("looking == 2", False, True, False),
        ("n1.state == LOOKING", False, True, False),
        ("n2.state == DOWN", True, False, False),
        ("n2.alive", False, True, True),
        ("not n2.alive", True, False, False),
        ("n1.vote.leader == 5", True, True, True),
        ("n2.vote.leader == 5", False, True, True),
        ("n2.vote.leader != 5", True, False, False),
        ("n2.vote.leader < 9", False, True, True),
        ("n1.vote.leader == n3.vote.leader", True, True, True),
        ("n3.state == n4.state", True, False, False),
        ("n3.last_zxid == 0x100000001", True, False, False),
        ("n3.recvset.size >= 3", True, False, False),
        ("n1.logicalclock > 1 and n3.logicalclock > 2", True, False, False),
        ("stable or leaders > 1", True, False, True),
        ("n4.alive", True, False, True),
        ("n5.state == LEADING", True, False, False),
    ],
)
def test_evaluate_reads_the_view(text: str, stable: bool, electing: bool, split: bool) -> None:
    """A down node has no vote: `n2.vote.leader` then equals nothing and is never ordered."""
    pred = parse_predicate(text)
    results = [pred.evaluate(v) for v in (STABLE, ELECTING, SPLIT_BRAIN)]
    assert results == [stable, electing, split]


def test_evaluate_names_a_node_the_cluster_lacks() -> None:
    pred = parse_predicate("stable or n9.alive")
    with pytest.raises(
        CommandError, match=r"no node n9 in this cluster \(nodes: n1, n2, n3, n4, n5\)"
    ):
        pred.evaluate(SPLIT_BRAIN)
    with pytest.raises(CommandError) as info:
        pred.check(SPLIT_BRAIN)
    assert info.value.column == 11


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "expected a predicate (stable, leader == 5", 1),
        ("stabel", 'n3.alive, not …) at column 1, got "stabel"', 1),
        ("n3.bogus == 1", 'unknown field "bogus" of n3 at column 1; fields are alive, paused', 1),
        ("n3 == 1", "n3 needs a field, like n3.state", 1),
        ("leaders", "expected a comparison (== != < <= > >=) after leaders at column 8", 8),
        ("leaders = 1", 'after leaders at column 9, got "="', 9),
        ("n3.alive == 1", "n3.alive is true or false: write n3.alive or not n3.alive", 10),
        ("n3.state > LOOKING", "states compare with == or != only, not >", 10),
        ("n3.state == WINNING", 'OBSERVING, DOWN) at column 13, got "WINNING"', 13),
        ("n3.state == n3.logicalclock", "n3.state and n3.logicalclock cannot be compared", 13),
        ("leader == n3.alive", "leader and n3.alive cannot be compared", 11),
        ("leader == five", "expected a sid like 5 or n5 or another field", 11),
        ("n3.logicalclock > 1.5", "expected a number (decimal or 0x hex) or another field", 19),
        ("(stable", 'expected and, or or ")" at column 8, got end of line', 8),
        ("stable leader", 'expected and, or or end of line at column 8, got "leader"', 8),
        ("stable and", "expected a predicate", 11),
        ("n3.alive && stable", 'expected and, or or end of line at column 10, got "&&"', 10),
        ("n3.alive ! stable", 'unexpected character "!" at column 10', 10),
        ("stable == 1", "stable is true or false", 8),
    ],
)  # fmt: skip
def test_bad_predicates_say_what_was_expected_and_where(
    text: str, message: str, column: int
) -> None:
    with pytest.raises(CommandError) as info:
        parse_predicate(text)
    assert message in info.value.message
    assert info.value.column == column


def test_tokens_carry_columns_and_stop_at_comments() -> None:
    toks = tokenize('crash  1<->n2 "a \\"b\\"" # note')
    assert [(t.kind, t.text, t.col) for t in toks] == [
        ("word", "crash", 1),
        ("word", "1", 8),
        ("op", "<->", 9),
        ("word", "n2", 12),
        ("str", '"a \\"b\\""', 15),
        ("end", "", 25),
    ]
    assert toks[4].value == 'a "b"'
    with pytest.raises(CommandError, match="unterminated string at column 6"):
        tokenize('mark "abc')
    with pytest.raises(CommandError, match='unexpected character "\x07" at column 3'):
        tokenize("a \x07")


# --- properties ----------------------------------------------------------------------------------

FIELDS = st.sampled_from(
    ["n1.logicalclock", "n2.vote.leader", "n3.last_zxid", "n4.recvset.size", "leaders", "leader"]
)
ATOMS = st.one_of(
    st.sampled_from(["stable", "n1.alive", "N2.Paused", "n5.finalizing"]),
    st.builds(
        "{} {} {}".format,
        FIELDS,
        st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
        st.one_of(st.integers(0, 2**40).map(str), st.integers(0, 2**40).map(hex), FIELDS),
    ),
    st.builds(
        "n{}.state {} {}".format,
        st.integers(1, 9),
        st.sampled_from(["==", "!="]),
        st.sampled_from(["looking", "LEADING", "Following", "observing", "down"]),
    ),
)
PREDICATE_TEXT = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        inner.map("not {}".format),
        inner.map("({})".format),
        st.builds("{} and {}".format, inner, inner),
        st.builds("{} or {}".format, inner, inner),
    ),
    max_leaves=12,
)


@given(PREDICATE_TEXT)
def test_describe_round_trips_text_to_tree_to_text(text: str) -> None:
    pred = parse_predicate(text)
    again = parse_predicate(pred.describe())
    assert again == pred
    assert again.describe() == pred.describe()
    assert pred.evaluate(ClusterView(nodes=tuple(node(s, K) for s in range(1, 10)))) in (
        True,
        False,
    )


@given(
    st.text(alphabet=st.sampled_from(list('n13.()=<>!stableorndlk x_"#-0xLOOKING')), max_size=40)
)
def test_arbitrary_text_only_ever_raises_CommandError(text: str) -> None:
    with contextlib.suppress(CommandError):
        parse_predicate(text)


def test_synced_needs_every_running_learner_in_broadcast_with_the_serving_leader() -> None:
    """`wait until synced` (issue 14): from the learners' zab phase, beside `stable`."""
    leader = node(5, L, established=True, zab_phase="BROADCAST")
    synced = node(3, F, zab_phase="BROADCAST", established=True)
    syncing = node(4, F, zab_phase="SYNCHRONIZATION")
    looking = node(1, K, zab_phase="ELECTION")

    def holds(*nodes: NodeView) -> bool:
        return parse_predicate("synced").evaluate(ClusterView(nodes=nodes))

    assert holds(leader, synced, node(2, None))
    assert not holds(leader, synced, syncing)
    assert holds(leader, synced, looking)  # not a learner yet: `stable` speaks of it
    assert not parse_predicate("stable").evaluate(ClusterView(nodes=(leader, synced, looking)))
    assert not holds(node(5, L, zab_phase="SYNCHRONIZATION"), synced)  # no serving leader
    other = NodeView(
        3, "participant", alive=True, state=F, zab_phase="BROADCAST",
        current_vote=Vote(2, 0x100000000, 1, 1),
    )  # fmt: skip
    assert not holds(leader, other)  # follows another leader
    assert holds(leader, synced, node(4, F, paused=True))  # paused: not running
    # a real server whose log did not show its zab phase is not taken as synced
    unknown = node(3, F, zab_phase="", unknown=frozenset({"zab_phase"}))
    assert not holds(leader, unknown)
    # settled is stable and synced
    settled = parse_predicate("settled")
    assert settled.evaluate(ClusterView(nodes=(leader, synced)))
    assert not settled.evaluate(ClusterView(nodes=(leader, syncing)))
