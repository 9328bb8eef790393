"""What one step of a `QuorumPeer` gathers before it becomes its `Output`, and the
shared outputs of the steps that change nothing (engine.core.peer.quorumpeer)."""

from __future__ import annotations

from engine.core.peer.io import Durable, Output, ZabAction
from engine.core.vote import ServerState, Vote, Zxid


class Outbox:
    """Effects gathered during one step (the election's own go through FLE.sendqueue)."""

    __slots__ = (
        "committed",
        "decided",
        "election_delay_max_ms",
        "persist",
        "reason",
        "restart_election",
        "write_error",
        "zab",
    )

    def __init__(self) -> None:
        self.zab: list[ZabAction] = []
        self.persist: Durable | None = None
        self.decided: Vote | None = None
        self.reason: str | None = None
        self.election_delay_max_ms: int | None = None
        self.restart_election = False
        self.committed: list[Zxid] = []
        self.write_error: str | None = None

    def quiet(self) -> bool:
        """Nothing but (possibly) notifications to send."""
        return (
            not self.zab
            and self.persist is None
            and self.decided is None
            and self.reason is None
            and self.election_delay_max_ms is None
            and not self.restart_election
            and not self.committed
            and self.write_error is None
        )


QUIET = {state: Output(state=state) for state in ServerState}
"""The output of a WorkerReceiver step that only queued the notification: one per state."""


def quiet_receive(out: Output) -> bool:
    """`out` is what a `Receive` step returns when it only queued the notification for
    lookForLeader: no reply, no restart. Such a step changes nothing but FLE.recvqueue."""
    return out is QUIET[out.state]
