"""The leader's global sessions, sans-IO: their timeouts, owners and expiry (ZK:
SessionTrackerImpl and ExpiryQueue as LeaderSessionTracker runs them, local sessions off).

Times are milliseconds the runtime passes in. A session expires at its deadline rounded
up to the next multiple of tickTime (ZK: ExpiryQueue.roundToNextInterval); a touch (a
learner's PING naming it, a request, a revalidation) moves the deadline on. `expired(now)`
marks the expired sessions closing and returns them: the leader then closes each with a
closeSession txn, as ZooKeeperServer.expire does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SessionError", "SessionTracker"]

SESSION_EXPIRED = -112
SESSION_MOVED = -118


class SessionError(Exception):
    """A request for a session that is gone or closing (SessionExpired) or that another
    learner owns (SessionMoved); `code` is the KeeperException code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(slots=True)
class _Session:
    timeout: int
    expires_at: int
    owner: int | None = None
    closing: bool = False


class SessionTracker:
    def __init__(self, tick_time: int) -> None:
        self.tick_time = tick_time
        self.sessions: dict[int, _Session] = {}

    def _round(self, time: int) -> int:
        """ZK: ExpiryQueue.roundToNextInterval."""
        return (time // self.tick_time + 1) * self.tick_time

    def track(self, session_id: int, timeout: int, now: int) -> None:
        """ZK: trackSession: a new session, or a touch of a known one."""
        s = self.sessions.setdefault(session_id, _Session(timeout, 0))
        s.expires_at = max(s.expires_at, self._round(now + timeout))

    def touch(self, session_id: int, timeout: int, now: int) -> bool:
        """ZK: touchSession: False for a session unknown or closing."""
        s = self.sessions.get(session_id)
        if s is None or s.closing:
            return False
        s.expires_at = max(s.expires_at, self._round(now + timeout))
        return True

    def set_owner(self, session_id: int, owner: int) -> None:
        s = self.sessions.get(session_id)
        if s is not None and not s.closing:
            s.owner = owner

    def check(self, session_id: int, owner: int | None) -> None:
        """ZK: LeaderSessionTracker.checkSession: unknown or closing is SessionExpired; a
        session first used through a learner is that learner's."""
        s = self.sessions.get(session_id)
        if s is None or s.closing:
            raise SessionError(SESSION_EXPIRED)
        if s.owner is None:
            s.owner = owner
        elif s.owner != owner:
            raise SessionError(SESSION_MOVED)

    def set_closing(self, session_id: int) -> None:
        s = self.sessions.get(session_id)
        if s is not None:
            s.closing = True

    def remove(self, session_id: int) -> None:
        """ZK: removeSession, once its closeSession is committed."""
        self.sessions.pop(session_id, None)

    def expired(self, now: int) -> list[int]:
        """The sessions whose deadline has passed, now closing, in id order."""
        out = [
            sid for sid, s in sorted(self.sessions.items()) if not s.closing and s.expires_at <= now
        ]
        for sid in out:
            self.sessions[sid].closing = True
        return out
