"""The QuorumPeer main thread's loop as a runtime drives it: which input it takes next,
and when it next has timed work.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from engine.core.peer.io import Input, LookForLeader, Poll, Timeout
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.vote import ServerState

_POLL = Poll()


class MainThread(Protocol):
    """What a runtime keeps for a node's QuorumPeer main thread besides the core."""

    inbox: deque[Input]
    """Main-thread inputs other than lookForLeader's poll (packets, connects, writes)."""
    deadline: float | None
    look_at: float | None
    """When the main loop enters lookForLeader next (after an observer's delay)."""
    forced_timeout: bool
    """The `timeout` command asked for a timeout now."""

    def have_delivered(self) -> bool: ...


def next_main_input(core: QuorumPeer, thread: MainThread, now: float) -> Input | None:
    """ZK: QuorumPeer.run's loop - the input the main thread takes now (removing it from
    `thread`), or None when it must wait for something to arrive or fall due."""
    fle = core.election
    due = thread.deadline is not None and thread.deadline <= now
    if thread.forced_timeout:
        thread.forced_timeout = False  # outside an election there is no wait to cut short
        if fle.in_election:
            return Timeout(thread.have_delivered(), forced=True)
    if fle.in_election and fle.recvqueue:
        # lookForLeader's poll returns a queued notification even if its wait ran out
        # while the thread was busy.
        return _POLL
    if due and not fle.in_election and not (thread.inbox and core.reading_from_leader):
        # The leader's timer (its ticks) and a learner's connect retries come before
        # packets that arrived late, so the next wait is never zero or negative; a
        # learner reading from its leader reads first, and each packet re-arms its read.
        return Timeout(thread.have_delivered())
    if thread.inbox:
        return thread.inbox.popleft()
    if thread.look_at is not None and thread.look_at <= now:
        thread.look_at = None
        if core.peer_state == ServerState.LOOKING and not fle.in_election:
            return LookForLeader()
        return None
    return Timeout(thread.have_delivered()) if due else None


def main_due(thread: MainThread) -> float | None:
    """When the main thread next has timed work (its deadline or a delayed lookForLeader)."""
    times = [t for t in (thread.deadline, thread.look_at) if t is not None]
    return min(times) if times else None
