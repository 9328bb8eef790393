"""FastLeaderElection's smaller rules, one by one (reference §4.4-§4.6)."""

from engine.core.peer.io import Durable, LookForLeader, Poll, Receive, Timeout
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.vote import LONG_MIN, Notification, ServerState, Vote
from tests.harness import make_verifier

K, F, L = ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING


def looking_peer(myid: int = 3, zxid: int = 0, observers: tuple[int, ...] = ()) -> QuorumPeer:
    qv = make_verifier([1, 2, 3], list(observers))
    peer = QuorumPeer(myid, qv, Durable(0, 0, zxid))
    peer.step(LookForLeader(), 0.0)
    return peer


def note(sid: int, leader: int, rnd: int, state: ServerState = K, zxid: int = 0) -> Notification:
    return Notification(leader, zxid, rnd, state, sid, 0)


def test_the_notification_timeout_doubles_from_200ms_to_60s() -> None:
    peer = looking_peer()
    waits = []
    now = 0.0
    for _ in range(12):
        now += peer.election.wait_ms
        out = peer.step(Timeout(have_delivered=True), now)
        assert out.wait_ms is not None
        waits.append(out.wait_ms)
    assert waits[:4] == [400.0, 800.0, 1600.0, 3200.0]
    assert waits[-1] == 60_000.0
    assert all(w > 0 for w in waits)


def test_a_timeout_rebroadcasts_if_a_queue_is_empty_else_connects_all() -> None:
    peer = looking_peer()
    out = peer.step(Timeout(have_delivered=True), 200.0)
    assert [m.sid for m in out.sends] == [1, 2, 3]
    assert not out.connect_all
    out = peer.step(Timeout(have_delivered=False), 600.0)
    assert out.sends == ()
    assert out.connect_all


def test_a_stale_timer_does_nothing() -> None:
    peer = looking_peer()
    out = peer.step(Timeout(have_delivered=True), 100.0)  # due at 200
    assert out.sends == ()
    assert peer.election.not_timeout == 200


def test_a_lagging_looking_peer_hears_our_proposal_from_the_worker_receiver() -> None:
    peer = looking_peer()
    peer.election.logicalclock = 3
    out = peer.step(Receive(note(1, 1, rnd=2)), 1.0)
    assert len(out.sends) == 1
    reply = out.sends[0]
    assert (reply.sid, reply.leader, reply.election_epoch, reply.state) == (1, 3, 3, K)
    assert len(peer.election.recvqueue) == 1  # and lookForLeader still gets the vote


def test_a_non_voter_hears_our_last_decided_vote_not_our_proposal() -> None:
    peer = looking_peer(observers=(4,))
    peer.current_vote = Vote(2, 7, 1, 1)
    out = peer.step(Receive(note(4, LONG_MIN, rnd=1)), 1.0)
    assert len(out.sends) == 1
    reply = out.sends[0]
    assert (reply.sid, reply.leader, reply.zxid, reply.state) == (4, 2, 7, K)
    assert reply.election_epoch == peer.election.logicalclock
    assert not peer.election.recvqueue  # a non-voter's vote is never counted


def test_a_decided_node_tells_looking_peers_its_current_vote() -> None:
    qv = make_verifier([1, 2, 3], [])
    peer = QuorumPeer(3, qv, Durable())
    peer.peer_state = F
    peer.current_vote = Vote(2, 0x100000003, 4, 1)
    out = peer.step(Receive(note(1, 1, rnd=9)), 1.0)
    reply = out.sends[0]
    assert (reply.leader, reply.zxid, reply.election_epoch, reply.peer_epoch) == (
        2,
        0x100000003,
        4,
        1,
    )
    assert reply.state == F
    out = peer.step(Receive(note(1, 1, rnd=9, state=L)), 2.0)
    assert out.sends == ()  # decided nodes do not answer decided nodes


def test_finalize_discards_worse_votes_and_requeues_a_better_one_at_the_tail() -> None:
    peer = looking_peer(myid=3)
    fle = peer.election
    for sid in (3, 2):  # our own vote (loopback) and 2's vote for 3: a quorum of 3
        peer.step(Receive(note(sid, 3, rnd=1)), 1.0)
        peer.step(Poll(), 1.0)
    assert fle.finalizing
    peer.step(Receive(note(1, 1, rnd=1)), 2.0)  # worse: discarded unprocessed
    out = peer.step(Poll(), 2.0)
    assert out.wait_ms == 200.0
    assert fle.finalizing
    assert 1 not in fle.recvset
    better = Notification(3, 5, 1, K, 1, 0)  # same leader, higher zxid: better
    peer.step(Receive(note(2, 2, rnd=1)), 3.0)
    peer.step(Receive(better), 3.0)
    peer.step(Poll(), 3.0)  # 2's worse vote: discarded
    assert fle.finalizing
    peer.step(Poll(), 3.0)  # the better one: back at the tail, finalize abandoned
    assert not fle.finalizing
    assert list(fle.recvqueue) == [better]


def test_silence_after_a_quorum_decides_and_clears_the_recvqueue() -> None:
    peer = looking_peer(myid=3)
    for sid in (3, 2):
        peer.step(Receive(note(sid, 3, rnd=1)), 1.0)
        peer.step(Poll(), 1.0)
    out = peer.step(Timeout(have_delivered=True), 201.0)
    assert out.decided == Vote(3, 0, 1, 0)
    assert peer.peer_state == L
    assert not peer.election.recvqueue


def test_untrusted_database_ZOOKEEPER_261() -> None:
    """With our own zxid -1 we ignore LOOKING votes; a -1 vote is ignored by others."""
    untrusted = looking_peer(myid=1, zxid=-1)
    untrusted.step(Receive(note(2, 2, rnd=1)), 1.0)
    untrusted.step(Poll(), 1.0)
    assert 2 not in untrusted.election.recvset
    peer = looking_peer(myid=3)
    peer.step(Receive(note(1, 1, rnd=1, zxid=-1)), 1.0)
    peer.step(Poll(), 1.0)
    assert 1 not in peer.election.recvset


def test_a_higher_round_adopts_the_round_and_compares_with_the_initial_vote() -> None:
    peer = looking_peer(myid=2)
    peer.step(Receive(note(3, 3, rnd=1)), 1.0)
    peer.step(Poll(), 1.0)
    assert peer.election.get_vote().leader == 3
    peer.step(Receive(note(1, 1, rnd=5)), 2.0)
    out = peer.step(Poll(), 2.0)
    fle = peer.election
    assert fle.logicalclock == 5
    assert fle.get_vote().leader == 2  # 1 < our INITIAL vote 2, not < the old proposal 3
    assert set(fle.recvset) == {1}  # recvset cleared for the new round
    assert [m.election_epoch for m in out.sends] == [5, 5, 5]


def test_a_lower_round_looking_vote_is_not_recorded() -> None:
    peer = looking_peer()
    peer.election.logicalclock = 4
    peer.step(Receive(note(1, 1, rnd=2)), 1.0)
    peer.step(Poll(), 1.0)
    assert 1 not in peer.election.recvset


def test_a_higher_config_version_with_other_members_restarts_the_election() -> None:
    peer = looking_peer()
    text = make_verifier([1, 2, 3, 4], []).to_string().replace("version=0", "version=1")
    n = Notification(1, 0, 1, K, 1, 0, 2, text)
    out = peer.step(Receive(n), 1.0)
    assert out.restart_election
    assert peer.election.logicalclock == 0  # a new FastLeaderElection object
    same = make_verifier([1, 2, 3], []).to_string()
    peer.step(LookForLeader(), 2.0)
    out = peer.step(Receive(Notification(1, 0, 1, K, 1, 0, 2, same)), 3.0)
    assert not out.restart_election


def test_a_vote_for_an_unknown_server_during_the_finalize_wait_is_never_better() -> None:
    """Hierarchical configs weigh only their members: ZooKeeper throws here (NPE); we
    treat the stranger as not better and keep waiting."""
    qv = make_verifier([1, 2, 3], [], "group.1=1:2:3 weight.1=1 weight.2=1 weight.3=1")
    peer = QuorumPeer(3, qv, Durable())
    peer.step(LookForLeader(), 0.0)
    for sid in (3, 2):
        peer.step(Receive(note(sid, 3, rnd=1)), 1.0)
        peer.step(Poll(), 1.0)
    assert peer.election.finalizing
    peer.step(Receive(note(1, 99, rnd=1)), 2.0)
    out = peer.step(Poll(), 2.0)
    assert peer.election.finalizing
    assert out.wait_ms == 200.0
