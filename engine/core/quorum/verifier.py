"""The quorum verifier interface (ZK: QuorumVerifier) and SyncedLearnerTracker, which
counts acks against one verifier or several.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import MappingProxyType

from engine.core.quorum.error import ConfigError
from engine.core.quorum.java import java_long_hex
from engine.core.quorum.order import hashmap_order
from engine.core.quorum.server import QuorumServer
from engine.core.vote import LONG_MAX, LONG_MIN, LearnerType, Sid


class QuorumVerifier(ABC):
    """Who the members are and which sets of them form a quorum (ZK: QuorumVerifier).

    Immutable. The member mappings iterate in sorted sid order. The order of `members`
    given to the constructor is the order ZooKeeper would have put them into its HashMap;
    it only affects `to_string()`. `==` is structural; `equals` is ZooKeeper's.
    """

    def __init__(self, members: Iterable[QuorumServer], version: int) -> None:
        if not LONG_MIN <= version <= LONG_MAX:
            raise ConfigError(f"version {version} is outside the signed 64-bit range")
        ordered = list(members)
        by_sid: dict[Sid, QuorumServer] = {}
        for qs in ordered:
            if qs.id in by_sid:
                raise ConfigError(f"server {qs.id} is listed twice", key=f"server.{qs.id}")
            by_sid[qs.id] = qs
        self.version = version
        sids = sorted(by_sid)
        self.all_members: Mapping[Sid, QuorumServer] = MappingProxyType(
            {s: by_sid[s] for s in sids}
        )
        self.voting_members: Mapping[Sid, QuorumServer] = MappingProxyType(
            {s: by_sid[s] for s in sids if by_sid[s].learner_type == LearnerType.PARTICIPANT}
        )
        self.observing_members: Mapping[Sid, QuorumServer] = MappingProxyType(
            {s: by_sid[s] for s in sids if by_sid[s].learner_type == LearnerType.OBSERVER}
        )
        self._ordered = tuple(ordered)
        self._member_order = hashmap_order(qs.id for qs in ordered)
        self._text: str | None = None

    @abstractmethod
    def contains_quorum(self, ackset: Collection[Sid]) -> bool:
        """ZK: containsQuorum. `ackset` should hold voters only (SyncedLearnerTracker's job)."""

    @abstractmethod
    def weight(self, sid: Sid) -> int:
        """ZK: getWeight."""

    @abstractmethod
    def min_quorum_size(self) -> int:
        """The fewest voters that can form a quorum (what `quorum 3/5` counts against)."""

    @abstractmethod
    def equals(self, other: QuorumVerifier) -> bool:
        """ZK: equals - any two verifiers of the same class and version are equal."""

    @abstractmethod
    def _rebuild(self, members: Sequence[QuorumServer]) -> QuorumVerifier:
        """The same verifier over other members."""

    def with_member(self, qs: QuorumServer) -> QuorumVerifier:
        """A copy with the member of id `qs.id` replaced, in the same place (ZooKeeper
        mutates it instead: QuorumPeerConfig.setupClientPort)."""
        if qs.id not in self.all_members:
            raise KeyError(qs.id)
        return self._rebuild([qs if m.id == qs.id else m for m in self._ordered])

    @abstractmethod
    def _extra_lines(self) -> list[str]:
        """The lines between the server lines and `version=` in to_string()."""

    @abstractmethod
    def _key(self) -> tuple[object, ...]:
        """Everything structural equality compares."""

    def to_string(self) -> str:
        """ZooKeeper's toString(): the config text of a version-2 notification (§6.4).

        `server.<id>=<QuorumServer.toString()>` lines in Java's HashMap order, the
        subclass's lines, then `version=<hex>` without a trailing newline. Cached.
        """
        if self._text is None:
            lines = [f"server.{s}={self.all_members[s].to_string()}" for s in self._member_order]
            lines += self._extra_lines()
            self._text = (
                "".join(f"{line}\n" for line in lines) + "version=" + java_long_hex(self.version)
            )
        return self._text

    def __str__(self) -> str:
        return self.to_string()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, QuorumVerifier)
            and type(other) is type(self)
            and self._key() == other._key()
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(version=0x{java_long_hex(self.version)}, "
            f"voting={list(self.voting_members)}, observing={list(self.observing_members)})"
        )

    def _members_equal(self, other: QuorumVerifier) -> bool:
        if len(self.all_members) != len(other.all_members):
            return False
        return all(
            (o := other.all_members.get(sid)) is not None and qs.equals(o)
            for sid, qs in self.all_members.items()
        )


# --- SyncedLearnerTracker ---------------------------------------------------------------------


class SyncedLearnerTracker:
    """Acks counted against one or more verifiers at once (ZK: SyncedLearnerTracker).

    FLE and the leader use it with the committed verifier plus, during a reconfiguration,
    the next one: a quorum must exist in every verifier.
    """

    def __init__(self) -> None:
        self._pairs: list[tuple[QuorumVerifier, set[Sid]]] = []

    def add_quorum_verifier(self, qv: QuorumVerifier) -> None:
        self._pairs.append((qv, set()))

    def add_ack(self, sid: Sid) -> bool:
        """Count `sid` in every verifier where it votes; True if it counted anywhere."""
        counted = False
        for qv, acks in self._pairs:
            if sid in qv.voting_members:
                acks.add(sid)
                counted = True
        return counted

    def has_sid(self, sid: Sid) -> bool:
        """`sid` votes in every verifier (vacuously true with none)."""
        return all(sid in qv.voting_members for qv, _ in self._pairs)

    def has_all_quorums(self) -> bool:
        """Every verifier has a quorum of acks (vacuously true with none)."""
        return all(qv.contains_quorum(acks) for qv, acks in self._pairs)

    @property
    def ack_sets(self) -> tuple[tuple[QuorumVerifier, frozenset[Sid]], ...]:
        """Each verifier with the acks counted for it, for display."""
        return tuple((qv, frozenset(acks)) for qv, acks in self._pairs)

    def __repr__(self) -> str:
        return (
            "SyncedLearnerTracker("
            + ", ".join("[" + ", ".join(map(str, sorted(acks))) + "]" for _, acks in self._pairs)
            + ")"
        )


__all__ = ["QuorumVerifier", "SyncedLearnerTracker"]
