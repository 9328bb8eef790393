"""What a leader shows of one learner (engine.core.view.LearnerView), from the pure
`ZabLeader`'s stage of it (ZK: a LearnerHandler of Leader.learners); shared by the core's
own leader (engine.core.peer.quorumpeer) and `zkfle node`'s (engine.runtime.zab.lead)."""

from __future__ import annotations

from engine.core.peer.io import ZabState
from engine.core.view import LearnerView
from engine.core.vote import Sid

ACKED_NEWLEADER = ("STARTUP", "BROADCAST")
"""ZabLeader's stages of a learner that acknowledged NEWLEADER (its data is the leader's)."""
_PHASE_OF_STAGE = {
    "NEWLEADER": ZabState.SYNCHRONIZATION,
    "STARTUP": ZabState.SYNCHRONIZATION,
    "BROADCAST": ZabState.BROADCAST,
}
"""ZabLeader's stages as Zab phases: the stages before the sync (INFO, EPOCH, ACKEPOCH,
ELECTION) are DISCOVERY."""


def learner_view(
    sid: Sid,
    observer: bool,
    stage: str,
    sync_mode: str | None,
    ping_age_ms: float,
    *,
    tick_time_ms: int,
    init_limit: int,
    sync_limit: int,
) -> LearnerView:
    """The learner `sid` at `stage`, last heard `ping_age_ms` ago; its leader closes it
    after initLimit ticks of silence, syncLimit once it acknowledged NEWLEADER (ZK:
    LearnerHandler's socket timeout)."""
    acked = stage in ACKED_NEWLEADER
    return LearnerView(
        sid,
        "observer" if observer else "follower",
        _PHASE_OF_STAGE.get(stage, ZabState.DISCOVERY),
        sync_mode,
        ping_age_ms=ping_age_ms,
        timeout_ms=(sync_limit if acked else init_limit) * tick_time_ms,
        synced=acked,
    )
