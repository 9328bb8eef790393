"""Hierarchical quorums of weighted groups (ZK: flexible.QuorumHierarchical)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from types import MappingProxyType

from engine.core.quorum.error import ConfigError
from engine.core.quorum.order import hashmap_order
from engine.core.quorum.server import QuorumServer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import LearnerType, Sid


def _java_half(value: int) -> int:
    """Java's `value / 2` on longs: truncates towards zero."""
    return value // 2 if value >= 0 else -(-value // 2)


class QuorumHierarchical(QuorumVerifier):
    """Hierarchical quorums (ZK: flexible.QuorumHierarchical, reference §6.2).

    Servers are split into groups and weighted; a quorum has more than half of the weight
    of more than half of the groups whose total weight is not zero. `groups` maps each
    group id to its servers and `weights` gives explicit weights, both in the order
    ZooKeeper would have read them; participants without a weight get 1.
    """

    def __init__(
        self,
        members: Iterable[QuorumServer],
        groups: Mapping[int, Sequence[Sid]],
        weights: Mapping[Sid, int],
        version: int = 0,
    ) -> None:
        super().__init__(members, version)
        self._groups_given = {g: tuple(sids) for g, sids in groups.items()}
        self._weights_given = dict(weights)
        server_group: dict[Sid, int] = {}
        for gid, sids in groups.items():
            if not sids:
                raise ConfigError("a group needs at least one server", key=f"group.{gid}")
            for sid in sids:
                if sid in server_group:
                    raise ConfigError(f"server {sid} is in more than one group", key=f"group.{gid}")
                server_group[sid] = gid
        server_weight = dict(weights)
        for sid in self._member_order:  # ZK: parse, loop over allMembers.values()
            if self.all_members[sid].learner_type != LearnerType.PARTICIPANT:
                continue
            if sid not in server_group:
                raise ConfigError(f"participant {sid} is not in a group", key=f"server.{sid}")
            server_weight.setdefault(sid, 1)
        group_weight: dict[int, int] = {}
        for sid, gid in server_group.items():  # ZK: computeGroupWeight
            if sid not in server_weight:  # Java: NullPointerException
                raise ConfigError(
                    f"server {sid} has no weight (only participants default to 1)",
                    key=f"group.{gid}",
                )
            group_weight[gid] = group_weight.get(gid, 0) + server_weight[sid]
        self.num_groups = len(groups) - sum(1 for w in group_weight.values() if w == 0)
        """Groups that count: ZooKeeper skips groups of total weight zero."""
        self.server_group: Mapping[Sid, int] = MappingProxyType(dict(sorted(server_group.items())))
        self.server_weight: Mapping[Sid, int] = MappingProxyType(
            dict(sorted(server_weight.items()))
        )
        self.group_weight: Mapping[int, int] = MappingProxyType(dict(sorted(group_weight.items())))
        self.groups: Mapping[int, tuple[Sid, ...]] = MappingProxyType(
            {g: tuple(groups[g]) for g in sorted(groups)}
        )
        self._group_order = hashmap_order(server_group)
        self._weight_order = hashmap_order(server_weight)

    def contains_quorum(self, ackset: Collection[Sid]) -> bool:
        if not ackset:
            return False
        expansion: dict[int, int] = {}
        for sid in set(ackset):
            gid = self.server_group.get(sid)
            if gid is not None:
                expansion[gid] = expansion.get(gid, 0) + self.server_weight[sid]
        majorities = sum(
            1 for gid, w in expansion.items() if w > _java_half(self.group_weight[gid])
        )
        return majorities > _java_half(self.num_groups)

    def weight(self, sid: Sid) -> int:
        """The configured weight; KeyError for servers without one (Java: NullPointerException)."""
        return self.server_weight[sid]

    def min_quorum_size(self) -> int:
        # The cheapest majority of groups, each with its cheapest weight majority.
        costs = []
        for gid, sids in self.groups.items():
            if self.group_weight[gid] == 0:
                continue
            half, total, count = _java_half(self.group_weight[gid]), 0, 0
            for w in sorted((self.server_weight.get(s, 0) for s in sids), reverse=True):
                if total > half:
                    break
                total, count = total + w, count + 1
            costs.append(count)
        return sum(sorted(costs)[: _java_half(self.num_groups) + 1])

    def equals(self, other: QuorumVerifier) -> bool:
        if not isinstance(other, QuorumHierarchical):
            return False
        if other.version == self.version:
            return True
        return (
            self._members_equal(other)
            and self.server_weight == other.server_weight
            and self.group_weight == other.group_weight
            and self.server_group == other.server_group
        )

    def _rebuild(self, members: Sequence[QuorumServer]) -> QuorumVerifier:
        return QuorumHierarchical(members, self._groups_given, self._weights_given, self.version)

    def _extra_lines(self) -> list[str]:
        groups: dict[int, list[Sid]] = {}  # first appearance = Java's insertion order
        for sid in self._group_order:
            groups.setdefault(self.server_group[sid], []).append(sid)
        lines = [f"group.{g}={':'.join(map(str, groups[g]))}" for g in hashmap_order(groups)]
        lines += [f"weight.{s}={self.server_weight[s]}" for s in self._weight_order]
        return lines

    def _key(self) -> tuple[object, ...]:
        return (
            self.version,
            tuple(self.all_members.values()),
            tuple(self.server_group.items()),
            tuple(self.server_weight.items()),
        )


__all__ = ["QuorumHierarchical"]
