"""Property tests of the FLE core over arbitrary and over timely, lossless schedules.

Under ANY schedule (messages delivered in any order, dropped, timers firing at any time,
nodes crashing and restarting): `logicalclock` never decreases within a node's life except
when it joins an established ensemble and adopts that ensemble's round, the
main thread's waits are never 0, and a node decides LEADING only for itself and only with
a quorum of votes for itself in recvset or outofelection.

Under TIMELY, LOSSLESS schedules (nothing dropped; a node's timer fires only when nothing
is queued for it anywhere; every node started before the first timer) all voters decide
the same leader: the maximum (peer_epoch, zxid, sid). FLE alone promises no more
(reference §10 and ZooKeeper's internals doc: leader activation re-checks the quorum).
"""

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine.core.peer.io import MAIN_THREAD_INPUTS
from engine.core.vote import ServerState, make_zxid
from tests.harness import Harness

votes_st = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=3, max_size=5)


class _Base(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.checked = 0
        self.clocks: dict[int, int] = {}

    def boot(self, votes: list[tuple[int, int]]) -> None:
        zxids = ",".join(f"{i + 1}:{make_zxid(e, c):#x}" for i, (e, c) in enumerate(votes))
        epochs = ",".join(f"{i + 1}:{e}" for i, (e, _) in enumerate(votes))
        self.h.handle(f"cluster n={len(votes)} zxids={zxids} epochs={epochs}")
        self.h.handle("start")

    def links(self) -> list[str]:
        return [f"{a}->{b}" for a, b in self.h._queued_links()]

    def electing(self) -> list[int]:
        return [
            s for s, n in sorted(self.h.nodes.items()) if n.peer and n.peer.election.in_election
        ]

    @invariant()
    def core_invariants(self) -> None:
        h = self.h
        for sid, inp, out in h.steps[self.checked :]:
            if isinstance(inp, MAIN_THREAD_INPUTS) and out.wait_ms is not None:
                assert out.wait_ms > 0, f"n{sid} asked to wait {out.wait_ms} ms"
            peer = h.nodes[sid].peer
            if peer is None:
                continue
            if out.decided is not None and out.state == ServerState.LEADING:
                fle = peer.election
                assert out.decided.leader == sid
                in_recvset = {s for s, v in fle.recvset.items() if v.leader == sid}
                in_ooe = {s for s, v in fle.outofelection.items() if v.leader == sid}
                quorum = h._qv().contains_quorum
                assert quorum(in_recvset) or quorum(in_ooe), f"n{sid} leads without a quorum"
                event("a node decided LEADING")
        self.checked = len(h.steps)
        for sid, node in h.nodes.items():
            if node.peer is None:
                self.clocks.pop(sid, None)
                continue
            fle = node.peer.election
            clock = fle.logicalclock
            if clock < self.clocks.get(sid, 0):
                # Joining an established ensemble adopts its round, older or not
                # (FastLeaderElection.receivedFollowingNotification: logicalclock.set).
                joined = not fle.in_election and node.peer.current_vote.election_epoch == clock
                assert joined, f"n{sid} logicalclock went back"
                event("a node joined an ensemble of an older round")
            self.clocks[sid] = clock


class AnySchedule(_Base):
    @initialize(votes=votes_st)
    def start(self, votes: list[tuple[int, int]]) -> None:
        self.boot(votes)

    @precondition(lambda self: self.links())
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self.h.handle("deliver " + data.draw(st.sampled_from(self.links())))

    @precondition(lambda self: self.links())
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.h.handle("drop " + data.draw(st.sampled_from(self.links())))

    @precondition(lambda self: self.electing())
    @rule(data=st.data())
    def timeout(self, data: st.DataObject) -> None:
        self.h.handle(f"timeout {data.draw(st.sampled_from(self.electing()))}")

    @rule(data=st.data())
    def crash_or_restart(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.h.nodes)))
        self.h.handle(f"{'crash' if self.h.nodes[sid].peer else 'start'} {sid}")

    @precondition(
        lambda self: any(n.peer and not n.peer.election.in_election for n in self.h.nodes.values())
    )
    @rule(data=st.data())
    def relook(self, data: st.DataObject) -> None:
        decided = [
            s for s, n in sorted(self.h.nodes.items()) if n.peer and not n.peer.election.in_election
        ]
        self.h.handle(f"relook {data.draw(st.sampled_from(decided))}")


class TimelyLossless(_Base):
    @initialize(votes=votes_st)
    def start(self, votes: list[tuple[int, int]]) -> None:
        self.boot(votes)
        self.votes = votes

    def idle_electing(self) -> list[int]:
        busy = {b for _, b in self.h._queued_links()}
        return [s for s in self.electing() if s not in busy]

    @precondition(lambda self: self.links())
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self.h.handle("deliver " + data.draw(st.sampled_from(self.links())))

    @precondition(lambda self: self.idle_electing())
    @rule(data=st.data())
    def timeout(self, data: st.DataObject) -> None:
        self.h.handle(f"timeout {data.draw(st.sampled_from(self.idle_electing()))}")

    @rule()
    def nothing_to_do(self) -> None:
        """Once everyone decided, a schedule can only end (hypothesis needs a rule)."""

    def teardown(self) -> None:
        self.h.handle("settle")
        nodes = self.h.nodes
        assert not self.electing()
        best = max((e, make_zxid(e, c), i + 1) for i, (e, c) in enumerate(self.votes))[2]
        decided = {s: n.peer.current_vote.leader for s, n in nodes.items() if n.peer}
        assert set(decided.values()) == {best}, decided
        leader = nodes[best].peer
        assert leader is not None
        assert leader.peer_state == ServerState.LEADING


TestAnySchedule = AnySchedule.TestCase
TestAnySchedule.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestTimelyLossless = TimelyLossless.TestCase
TestTimelyLossless.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
