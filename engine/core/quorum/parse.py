"""The verifier a config text describes (ZK: QuorumPeerConfig.parseDynamicConfig,
QuorumPeer.configFromString), cached by text since every version-2 notification carries one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from engine.core.quorum.error import ConfigError
from engine.core.quorum.hierarchical import QuorumHierarchical
from engine.core.quorum.java import java_split, java_trim, parse_java_long
from engine.core.quorum.majority import QuorumMaj
from engine.core.quorum.order import properties_order
from engine.core.quorum.properties import Property, load_properties
from engine.core.quorum.server import QuorumServer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid


def verifier_from_properties(
    entries: Sequence[Property],
    *,
    path: str | None = None,
    multi_address: bool = False,
    standalone_enabled: bool = True,
    backward_compatible: bool = False,
) -> QuorumVerifier:
    """Build the verifier of a parsed Properties text (ZK: QuorumPeerConfig.parseDynamicConfig).

    Hierarchical if any key starts with `group` or `weight`. Without `backward_compatible`
    (the dynamic-config and wire case) only `server.*`, `group*`, `weight*` and `version`
    keys are allowed; with it (a static zoo.cfg) other keys are ignored here. Unlike
    ZooKeeper, a server/group/weight id given twice is an error (Java keeps the last one),
    and so is a config without participants (Java accepts an empty one).
    """
    try:
        return _verifier(entries, multi_address, standalone_enabled, backward_compatible)
    except ConfigError as e:
        raise e.located(path=path) from None


def _verifier(
    entries: Sequence[Property],
    multi_address: bool,
    standalone_enabled: bool,
    backward_compatible: bool,
) -> QuorumVerifier:
    latest: dict[str, Property] = {}
    for entry in entries:
        key = java_trim(entry.key)
        if not key.startswith(("group", "weight", "server.")) and key != "version":
            if not backward_compatible:
                raise ConfigError("unrecognised parameter", line=entry.line, key=entry.key)
        elif key != entry.key:
            raise ConfigError("key has surrounding whitespace", line=entry.line, key=key)
        elif key in latest and key != "version":
            raise ConfigError(
                f"{key} is also defined on line {latest[key].line}", line=entry.line, key=key
            )
        latest[entry.key] = entry  # Properties: the last value wins, in the first one's place
    hierarchical = any(k.startswith(("group", "weight")) for k in latest)
    members: list[QuorumServer] = []
    groups: dict[int, list[Sid]] = {}
    weights: dict[Sid, int] = {}
    version = 0
    defined: dict[str, int] = {}  # "server.1", "group.1", "weight.1" -> line
    for key in properties_order(e.key for e in entries):  # ZK iterates the Properties
        entry = latest[key]
        kind = next((k for k in ("server.", "group", "weight") if key.startswith(k)), None)
        if kind is None:
            if key == "version":
                parsed = parse_java_long(entry.value, 16)
                if parsed is None:
                    raise ConfigError(
                        f'"{entry.value}" is not a hexadecimal long', line=entry.line, key=key
                    )
                version = parsed
            continue
        try:
            ident = parse_java_long(key[key.find(".") + 1 :])  # Java: indexOf('.')
            if ident is None:
                raise ConfigError("the id after the dot is not a number")
            name = f"{kind.rstrip('.')}.{ident}"
            if name in defined:
                raise ConfigError(f"{name} is also defined on line {defined[name]}")
            defined[name] = entry.line
            if kind == "server.":
                members.append(QuorumServer.parse(ident, entry.value, multi_address=multi_address))
            elif kind == "group":
                sids = [parse_java_long(s) for s in java_split(entry.value, ":")]
                if not sids or None in sids:
                    raise ConfigError(f'"{entry.value}" is not a list of sids like 1:2:3')
                groups[ident] = [s for s in sids if s is not None]
            else:
                weight = parse_java_long(entry.value)
                if weight is None:
                    raise ConfigError(f'"{entry.value}" is not a number')
                weights[ident] = weight
        except ConfigError as e:
            raise ConfigError(e.message, line=entry.line, key=key) from None
    try:
        qv: QuorumVerifier = (
            QuorumHierarchical(members, groups, weights, version)
            if hierarchical
            else QuorumMaj(members, version)
        )
    except ConfigError as e:
        raise e.located(line=defined.get(e.key or "")) from None
    voters, observers = len(qv.voting_members), len(qv.observing_members)
    if voters == 0:
        raise ConfigError("no participants (at least one server.N must be a participant)")
    if voters == 1 and observers and standalone_enabled:
        # ZK: parseDynamicConfig, "Observers w/o quorum is an invalid configuration"
        raise ConfigError("observers without a quorum: a single participant runs standalone")
    return qv


def parse_dynamic_config(
    text: str, *, multi_address: bool = False, standalone_enabled: bool = True
) -> QuorumVerifier:
    """The verifier described by a config text, e.g. the one a notification carries.

    ZK: QuorumPeer.configFromString. Raises ConfigError (with the line) for anything
    ZooKeeper would reject, and also where ZooKeeper would throw an unchecked exception.
    Results are cached by text, since every version-2 notification carries the same text.
    """
    result = _parse_cached(text, multi_address, standalone_enabled)
    if isinstance(result, ConfigError):
        raise ConfigError(result.message, path=result.path, line=result.line, key=result.key)
    return result


@lru_cache(maxsize=256)
def _parse_cached(
    text: str, multi_address: bool, standalone_enabled: bool
) -> QuorumVerifier | ConfigError:
    try:
        return verifier_from_properties(
            load_properties(text),
            multi_address=multi_address,
            standalone_enabled=standalone_enabled,
        )
    except ConfigError as e:
        return e


__all__ = ["parse_dynamic_config", "verifier_from_properties"]
