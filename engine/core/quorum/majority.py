"""Majority quorums (ZK: flexible.QuorumMaj)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet

from engine.core.quorum.server import QuorumServer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid


class QuorumMaj(QuorumVerifier):
    """Majority quorums (ZK: flexible.QuorumMaj): more than half of the participants."""

    def __init__(self, members: Iterable[QuorumServer], version: int = 0) -> None:
        super().__init__(members, version)
        self.half = len(self.voting_members) // 2

    def contains_quorum(self, ackset: Collection[Sid]) -> bool:
        # Java counts the set as given: it trusts the caller to pass voters only.
        size = len(ackset) if isinstance(ackset, AbstractSet) else len(set(ackset))
        return size > self.half

    def weight(self, sid: Sid) -> int:
        return 1

    def min_quorum_size(self) -> int:
        return self.half + 1

    def equals(self, other: QuorumVerifier) -> bool:
        if not isinstance(other, QuorumMaj):
            return False
        return other.version == self.version or self._members_equal(other)

    def _rebuild(self, members: Sequence[QuorumServer]) -> QuorumVerifier:
        return QuorumMaj(members, self.version)

    def _extra_lines(self) -> list[str]:
        return []

    def _key(self) -> tuple[object, ...]:
        return (self.version, tuple(self.all_members.values()))


__all__ = ["QuorumMaj"]
