"""Unit tests of the FLE core's predicates, ported from ZooKeeper's own tests."""

from engine.core.peer.io import Durable
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import ServerState, Vote, make_zxid
from tests.harness import make_verifier

F, L, K = ServerState.FOLLOWING, ServerState.LEADING, ServerState.LOOKING


def peer(myid: int, qv: QuorumVerifier) -> QuorumPeer:
    return QuorumPeer(myid, qv, Durable())


def test_FLEPredicateTest_testPredicate() -> None:
    """ZOOKEEPER-1419: epoch first, then zxid, then sid."""
    fle = peer(0, make_verifier([0, 1, 2], [])).election
    assert not fle.total_order_predicate(4, 0, 0, 3, 0, 2)  # lower epoch loses despite id
    assert fle.total_order_predicate(0, 0, 1, 1, 0, 0)  # higher epoch
    assert fle.total_order_predicate(0, 1, 0, 1, 0, 0)  # higher zxid
    assert fle.total_order_predicate(1, 1, 0, 0, 1, 0)  # higher id


def test_totalOrderPredicate_never_prefers_a_zero_weight_server() -> None:
    qv = make_verifier(
        [0, 1, 2, 3], [], "group.1=0:1 group.2=2:3 weight.0=1 weight.1=1 weight.2=1 weight.3=0"
    )
    fle = peer(0, qv).election
    assert not fle.total_order_predicate(3, 9, 9, 0, 0, 0)
    assert fle.total_order_predicate(2, 9, 9, 0, 0, 0)


def _ooe_fle() -> tuple[QuorumPeer, QuorumVerifier]:
    qv = make_verifier([0, 1, 2, 3, 4], [])
    return peer(3, qv), qv


def test_FLEOutOfElectionTest_testIgnoringZxidElectionEpoch() -> None:
    p, _ = _ooe_fle()
    votes = {
        0: Vote(4, make_zxid(1, 1), 1, 2, F, 1),
        1: Vote(4, make_zxid(1, 2), 1, 2, F, 1),
        3: Vote(4, make_zxid(2, 1), 2, 2, F, 1),
        4: Vote(4, make_zxid(2, 1), 2, 2, L, 1),
    }
    tracker = p.election.get_vote_tracker(votes, Vote(4, make_zxid(2, 1), 2, 2, F, 0))
    assert tracker.has_all_quorums()


def test_FLEOutOfElectionTest_testElectionWIthDifferentVersion() -> None:
    p, _ = _ooe_fle()
    votes = {
        0: Vote(4, make_zxid(1, 1), 1, 1, F, 1),
        1: Vote(4, make_zxid(1, 1), 1, 1, F, 1),
        3: Vote(4, make_zxid(2, 1), 2, 2, F, 0),
        4: Vote(4, make_zxid(2, 1), 2, 2, L, 0),
    }
    tracker = p.election.get_vote_tracker(votes, Vote(4, make_zxid(2, 1), 2, 2, F, 0))
    assert tracker.has_all_quorums()


def test_FLEOutOfElectionTest_testLookingNormal() -> None:
    p, _ = _ooe_fle()
    z = make_zxid(2, 1)
    votes = {s: Vote(4, z, 1, 1, K) for s in (0, 1, 3)} | {4: Vote(4, z, 1, 1, L)}
    assert p.election.get_vote_tracker(votes, Vote(4, z, 1, 1, K)).has_all_quorums()


def test_FLEOutOfElectionTest_testLookingDiffRounds() -> None:
    p, _ = _ooe_fle()
    z = make_zxid(2, 1)
    votes = {
        0: Vote(4, make_zxid(1, 1), 1, 1, K),
        1: Vote(4, z, 2, 2, K),
        3: Vote(4, z, 3, 2, K),
        4: Vote(4, z, 3, 2, L),
    }
    assert not p.election.get_vote_tracker(votes, Vote(4, z, 2, 2, K)).has_all_quorums()


def test_FLEOutOfElectionTest_testOutofElection() -> None:
    p, _ = _ooe_fle()
    p.election.logicalclock = 1
    z = make_zxid(15, 0)
    ooe = {
        1: Vote(5, z, 0xA, 0x17, F, 0),
        2: Vote(5, z, 0xA, 0x17, F, 0),
        4: Vote(5, z, 0xA, 0x18, F, 1),
        5: Vote(5, z, 0xA, 0x18, L, 1),  # sid 5 is not in the config: not counted
    }
    leading = Vote(5, z, 0xA, 0x18, L, 1)
    assert p.election.get_vote_tracker(ooe, leading).has_all_quorums()
    assert p.election.check_leader(ooe, 5, 0xA)


def test_checkLeader_ZOOKEEPER_1514_own_leadership_needs_my_round() -> None:
    p, _ = _ooe_fle()
    p.election.logicalclock = 2
    assert not p.election.check_leader({}, 3, 1)
    assert p.election.check_leader({}, 3, 2)
    assert not p.election.check_leader({4: Vote(4, 0, 1, 0, F)}, 4, 1)  # not LEADING itself
