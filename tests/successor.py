"""Who may lead once a leader is gone, read from the live state before the fault.

FastLeaderElection ranks votes by (currentEpoch, last zxid, sid) (totalOrderPredicate),
and after a start under Zab the followers' zxids differ: one of the quorum that
established the epoch synced by an empty DIFF and keeps its old zxid, one that synced
later got a SNAP at the epoch's zxid (ZK: LearnerHandler.syncFollower, startZkServer).
So the successor follows from who synced when, not from the sids: read the view once
every learner has synced (`settled`), before the fault.
"""

from __future__ import annotations

from engine.core.quorum.verifier import QuorumVerifier
from engine.core.view import ClusterView, NodeView


def rank(n: NodeView) -> tuple[int, int, int]:
    return n.current_epoch, n.last_zxid, n.sid


def voters(view: ClusterView, gone: int) -> list[NodeView]:
    """The running participants with a say once `gone` is gone."""
    return [
        n
        for n in view.nodes
        if n.alive and n.sid != gone and n.learner_type == "participant" and n.weight > 0
    ]


def next_leader(view: ClusterView, gone: int) -> int:
    """The best vote of the rest: who wins when every voter takes part in the election -
    in the simulator, where all of them hear of the loss at once, and wherever the rest
    are a bare quorum, which must all agree."""
    return max(voters(view, gone), key=rank).sid


def may_lead_next(view: ClusterView, gone: int, qv: QuorumVerifier) -> set[int]:
    """Every voter that can win on threads: one whose vote is at least that of each voter
    of some quorum. Voters that hear of the loss first may agree on the best among
    themselves within finalizeWait, before a better voter's notification arrives
    (lookForLeader); a worse vote can never gather a quorum."""
    rest = voters(view, gone)
    return {n.sid for n in rest if qv.contains_quorum({m.sid for m in rest if rank(m) <= rank(n)})}


def leader_by_vote(zxid: dict[int, int]) -> int:
    """Whom FLE elects among voters of one peer epoch, by their last zxids (sid -> zxid):
    the larger (zxid, sid), as `rank` orders them."""
    return max(zxid, key=lambda sid: (zxid[sid], sid))
