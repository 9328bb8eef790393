"""tests/successor.py, on views made by hand: who may lead once a leader is gone."""

from __future__ import annotations

from engine.control.setup import load_config
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import ClusterView, NodeView
from engine.core.vote import ServerState
from tests.successor import may_lead_next, next_leader


def view(zxids: dict[int, int], observers: tuple[int, ...] = ()) -> ClusterView:
    return ClusterView(
        nodes=tuple(
            NodeView(
                sid,
                "observer" if sid in observers else "participant",
                alive=True,
                state=ServerState.FOLLOWING,
                current_epoch=1,
                last_zxid=zxid,
            )
            for sid, zxid in zxids.items()
        )
    )


def qv(nodes: int, observers: int = 0) -> QuorumVerifier:
    return load_config(None, nodes, observers, None, None, None).quorum_verifier


def test_of_five_a_vote_that_beats_a_quorum_of_the_rest_may_lead() -> None:
    equal = view({1: 0, 2: 0, 3: 0, 4: 0, 5: 0})
    assert next_leader(equal, 5) == 4
    assert may_lead_next(equal, 5, qv(5)) == {3, 4}  # n1-n3 may agree on n3
    late = view({1: 0, 2: 0, 3: 0x100000000, 4: 0, 5: 0x100000000})
    assert next_leader(late, 5) == 3  # synced after n5 established epoch 1
    assert may_lead_next(late, 5, qv(5)) == {3, 4}


def test_of_three_only_the_best_of_the_two_left() -> None:
    v = view({1: 0x100000000, 2: 0, 3: 0x100000000})
    assert next_leader(v, 3) == 1
    assert may_lead_next(v, 3, qv(3)) == {1}


def test_observers_and_the_gone_leader_have_no_say() -> None:
    v = view({1: 0, 2: 0, 3: 0, 4: 0x100000000, 5: 0x100000000}, observers=(4, 5))
    assert next_leader(v, 3) == 2
    assert may_lead_next(v, 3, qv(3, 2)) == {2}
