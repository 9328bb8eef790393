"""Vote types and ZooKeeper's relaxed Vote.equals (reference §4.2)."""

from engine.core.vote import (
    LONG_MIN,
    ServerState,
    Vote,
    make_zxid,
    parse_zxid,
    total_order_predicate,
    vote_equals,
    zxid_counter,
    zxid_epoch,
    zxid_hex,
)

F, L, K = ServerState.FOLLOWING, ServerState.LEADING, ServerState.LOOKING


def test_zxid_helpers_follow_ZxidUtils() -> None:
    z = make_zxid(3, 7)
    assert z == 0x300000007
    assert (zxid_epoch(z), zxid_counter(z)) == (3, 7)
    assert zxid_epoch(-1) == -1  # arithmetic shift, as Java's >>
    assert zxid_hex(z) == "0x300000007"
    assert parse_zxid("0x300000007") == z
    assert parse_zxid(zxid_hex(-1)) == -1
    assert parse_zxid(zxid_hex(LONG_MIN)) == LONG_MIN


def test_Vote_equals_looking_needs_all_four_fields() -> None:
    a = Vote(4, 5, 1, 1, K)
    assert vote_equals(a, Vote(4, 5, 1, 1, L))
    assert not vote_equals(a, Vote(4, 6, 1, 1, L))
    assert not vote_equals(Vote(4, 5, 2, 1, F), a)  # either side LOOKING is enough


def test_Vote_equals_non_looking_ignores_zxid_and_round() -> None:
    # ZOOKEEPER-1732: same version class -> leader and peer epoch
    assert vote_equals(Vote(4, 1, 1, 2, F, 1), Vote(4, 9, 7, 2, L, 1))
    assert not vote_equals(Vote(4, 1, 1, 2, F, 1), Vote(4, 1, 1, 3, L, 1))
    # ZOOKEEPER-1817/1818: exactly one side version 0 -> leader only
    assert vote_equals(Vote(4, 1, 1, 2, F, 0), Vote(4, 9, 7, 3, L, 2))
    assert not vote_equals(Vote(4, 1, 1, 2, F, 0), Vote(5, 1, 1, 2, L, 2))


def test_total_order_predicate_epoch_then_zxid_then_sid() -> None:
    assert total_order_predicate(2, 0, 1, 9, 9, 0)
    assert not total_order_predicate(9, 9, 0, 2, 0, 1)
    assert total_order_predicate(1, 5, 0, 2, 4, 0)
    assert total_order_predicate(3, 5, 0, 2, 5, 0)
    assert not total_order_predicate(2, 5, 0, 2, 5, 0)
