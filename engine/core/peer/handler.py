"""The simplified leader's bookkeeping of one learner (engine.core.peer.quorumpeer), and
what it shows of it (engine.core.view.LearnerView)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.peer.io import Timing, ZabState
from engine.core.view import LearnerView
from engine.core.vote import LearnerType, Sid


@dataclass(slots=True)
class LearnerHandler:
    """The leader's view of one learner (ZK: LearnerHandler)."""

    sid: Sid
    learner_type: LearnerType
    accepted_epoch: int
    tick_of_next_ack_deadline: int
    last_read: float
    """When the leader last read a packet from it (its socket's timeout counts from it)."""
    epoch_acked: bool = False
    sync_sent: bool = False
    newleader_acked: bool = False

    def view(self, broadcast: bool, timing: Timing, now_ms: float) -> LearnerView:
        """As the leader sees it at `now_ms`, the leader being in BROADCAST or not. This
        leader collapses every sync into one SNAP (see quorumpeer's docstring)."""
        if self.newleader_acked and broadcast:
            phase = ZabState.BROADCAST  # UPTODATE went with the ack, or at establishment
        elif self.sync_sent:
            phase = ZabState.SYNCHRONIZATION
        else:
            phase = ZabState.DISCOVERY
        participant = self.learner_type == LearnerType.PARTICIPANT
        limit = timing.sync_limit if self.newleader_acked else timing.init_limit
        return LearnerView(
            self.sid,
            "follower" if participant else "observer",
            phase,
            "SNAP" if self.sync_sent else None,
            ping_age_ms=now_ms - self.last_read,
            timeout_ms=limit * timing.tick_time_ms,
            synced=self.newleader_acked,
        )
