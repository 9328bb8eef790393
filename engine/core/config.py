"""zoo.cfg files, myid files, and the configs of the local clusters zkfle starts.

ZK: QuorumPeerConfig.parse → parseProperties → setupQuorumPeerConfig (reference §8). A
static zoo.cfg is read in ZooKeeper's "backward compatibility mode": the whole file is one
java.util.Properties, its `server.N`/`group.G`/`weight.S`/`version` keys make the quorum
verifier (version 0 unless a `version` key says otherwise), and unknown keys are kept
(ZooKeeper copies them to system properties as `zookeeper.<key>`).

Where we differ from ZooKeeper, on purpose:
* every error is a ConfigError naming the file, line and key; ZooKeeper throws several
  exception types and rejects bad numbers without saying where;
* numbers that ZooKeeper accepts but that make no sense are refused: tickTime <= 0,
  negative initLimit/syncLimit, cnxTimeout <= 0 (Java silently falls back to 5000 for a
  non-numeric one);
* a server id, group or weight given twice is an error (Java keeps the last line), and
  so is an address (host and port, as written) that two servers share: ZooKeeper checks
  that only on reconfig (QuorumServer.checkAddressDuplicate), and then not for loopback
  addresses - on one host the second server would fail to bind it;
* `myid` may be missing (a cluster config serves all its nodes) and may come from the
  caller instead of `dataDir/myid`; when known it must be in the server list (ZooKeeper
  refuses at start-up instead: "My id N not in the peer list");
* `multiAddress.enabled=true` in the file allows `|`-separated server addresses. ZooKeeper
  3.8 only reads the JVM property `zookeeper.multiAddress.enabled` for that (verified with
  3.8.0); its zoo.cfg key only selects the version-2 handshake;
* dataDir is optional, `dynamicConfigFile` and `oraclePath` (QuorumOracleMaj) are refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from engine.core.quorum.error import ConfigError
from engine.core.quorum.hierarchical import QuorumHierarchical
from engine.core.quorum.java import (
    java_host_string,
    java_long_hex,
    java_trim,
    parse_java_int,
    parse_java_long,
)
from engine.core.quorum.majority import QuorumMaj
from engine.core.quorum.parse import verifier_from_properties
from engine.core.quorum.properties import Property, escape_property, load_properties
from engine.core.quorum.server import QuorumServer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import LearnerType, Sid
from engine.core.zab.snapcount import DEFAULT_SNAP_COUNT, DEFAULT_SNAP_SIZE_LIMIT_KB

__all__ = [
    "ConfigError",
    "QuorumPeerConfig",
    "generate_config",
    "load_zoo_cfg",
    "parse_zoo_cfg",
    "to_zoo_cfg",
]

DEFAULT_TICK_TIME_MS = 3000
"""ZK: ZooKeeperServer.DEFAULT_TICK_TIME, for zoo.cfg files without tickTime."""

DEFAULT_CNX_TIMEOUT_MS = 5000
"""ZK: QuorumCnxManager's cnxTO (system property zookeeper.cnxTimeout)."""

GENERATED_TICK_TIME_MS = 200
"""Generated local clusters tick fast so that a leader loss is noticed in about a second
(syncLimit 5 × 200 ms) instead of ZooKeeper's usual 10 s."""

GENERATED_INIT_LIMIT = 10
GENERATED_SYNC_LIMIT = 5

DEFAULT_BASE_PORT = 24000
"""Generated clusters: server N listens on base+N (quorum), base+1000+N (election) and
base+2000+N (client), next to tools/zk/ensemble.sh's real ZooKeeper at 21000."""


@dataclass(frozen=True)
class QuorumPeerConfig:
    """A parsed zoo.cfg (ZK: QuorumPeerConfig), as far as the election and zkfle need it.

    `init_limit`/`sync_limit` are 0 when unset, as in ZooKeeper (allowed only for a lone
    participant). `peer_type` is this node's role once `myid` is known (the server list
    wins over a contradicting `peerType`). `other` holds the keys zkfle does not model, in
    file order. `warnings` and `path` do not take part in `==`.
    """

    quorum_verifier: QuorumVerifier
    myid: Sid | None = None
    peer_type: LearnerType = LearnerType.PARTICIPANT
    tick_time_ms: int = DEFAULT_TICK_TIME_MS
    init_limit: int = 0
    sync_limit: int = 0
    cnx_timeout_ms: int = DEFAULT_CNX_TIMEOUT_MS
    election_alg: int = 3
    data_dir: str | None = None
    client_port: int | None = None
    client_port_address: str | None = None
    standalone_enabled: bool = True
    reconfig_enabled: bool = False
    multi_address_enabled: bool = False
    quorum_listen_on_all_ips: bool = False
    snap_count: int = DEFAULT_SNAP_COUNT
    """Txns logged between snapshots, about (ZK: zookeeper.snapCount, from zoo.cfg's
    snapCount as every unknown key becomes a zookeeper.* property)."""
    snap_size_limit_kb: int = DEFAULT_SNAP_SIZE_LIMIT_KB
    """Or as many KiB logged (ZK: zookeeper.snapSizeLimitInKb; 0 or less: not counted)."""
    container_check_ms: int = 60_000
    """How often a leader deletes empty containers (ZK: ContainerManager). A Java server
    takes it from its JVM's -Dznode.container.checkIntervalMs only; `zkfle node`, which
    has no JVM, reads that key from zoo.cfg, where a Java server ignores it."""
    other: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    path: str = field(default="zoo.cfg", compare=False)

    @property
    def servers(self) -> Mapping[Sid, QuorumServer]:
        """Every `server.N` entry, by sid."""
        return self.quorum_verifier.all_members

    @property
    def is_distributed(self) -> bool:
        """ZK: QuorumPeerConfig.isDistributed - more than one participant, or standalone
        mode switched off."""
        return not self.standalone_enabled or len(self.quorum_verifier.voting_members) > 1


# --- parsing -------------------------------------------------------------------------------------


# Each parser returns the value of a zoo.cfg key or raises ValueError saying what is wrong.


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = parse_java_int(text)
        if value is None:
            raise ValueError(f'"{text}" is not a whole number')
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _java_long(text: str) -> int:
    value = parse_java_long(text)
    if value is None:
        raise ValueError(f'"{text}" is not a whole number')
    return value


def _boolean(text: str) -> bool:
    """QuorumPeerConfig.parseBoolean: true/false in any case."""
    if text.lower() not in ("true", "false"):
        raise ValueError(f"\"{text}\" is not 'true' or 'false'")
    return text.lower() == "true"


def _election_alg(text: str) -> int:
    value = parse_java_int(text)
    if value in (1, 2):  # QuorumPeer.createElectionAlgorithm refuses them at run time
        raise ValueError(f"Election Algorithm {value} is not supported. Only 3 (FLE) is.")
    if value != 3:
        raise ValueError(f'Invalid electionAlg value "{text}". Only 3 is supported.')
    return value


def _peer_type(text: str) -> LearnerType:
    for learner_type in LearnerType:
        if text.lower() == learner_type.word:
            return learner_type
    raise ValueError(f'unrecognised peerType "{text}" (expected participant or observer)')


def _client_port(text: str) -> int:
    value = parse_java_int(text)
    if value is None:
        raise ValueError(f'"{text}" is not a port number')
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"port {value} is out of range 0-65535")
    return value


def _unsupported(why: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        raise ValueError(why)

    return parse


# zoo.cfg key -> (QuorumPeerConfig field, parser)
_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "tickTime": ("tick_time_ms", _int_at_least(1)),
    "initLimit": ("init_limit", _int_at_least(0)),
    "syncLimit": ("sync_limit", _int_at_least(0)),
    "cnxTimeout": ("cnx_timeout_ms", _int_at_least(1)),
    "electionAlg": ("election_alg", _election_alg),
    "peerType": ("peer_type", _peer_type),
    "dataDir": ("data_dir", str),
    "clientPort": ("client_port", _client_port),
    "clientPortAddress": ("client_port_address", str),
    "standaloneEnabled": ("standalone_enabled", _boolean),
    "reconfigEnabled": ("reconfig_enabled", _boolean),
    "multiAddress.enabled": ("multi_address_enabled", _boolean),
    "quorumListenOnAllIPs": ("quorum_listen_on_all_ips", _boolean),
    "snapCount": ("snap_count", _int_at_least(2)),
    "snapSizeLimitInKb": ("snap_size_limit_kb", _java_long),
    "znode.container.checkIntervalMs": ("container_check_ms", _int_at_least(1)),
    "dynamicConfigFile": ("", _unsupported("not supported: put the server lines in zoo.cfg")),
    "oraclePath": ("", _unsupported("not supported (QuorumOracleMaj is not implemented)")),
}


def _is_quorum_key(key: str) -> bool:
    return key.startswith(("server.", "group", "weight")) or key == "version"


def _server_line(entries: list[Property], sid: Sid) -> int | None:
    return next(
        (
            e.line
            for e in entries
            if e.key.startswith("server.") and parse_java_long(e.key[7:]) == sid
        ),
        None,
    )


def parse_zoo_cfg(
    text: str,
    path: str = "zoo.cfg",
    *,
    myid: Sid | None = None,
    multi_address: bool | None = None,
) -> QuorumPeerConfig:
    """Parse the text of a zoo.cfg; `myid` is this node's id if known.

    `multi_address` overrides the file's `multiAddress.enabled` for `|`-separated server
    addresses. Raises ConfigError naming the path, line and key.
    """
    return _parse(text, path, myid, None, multi_address)


def _parse(
    text: str,
    path: str,
    myid: Sid | None,
    myid_place: tuple[str, int] | None,
    multi_address: bool | None,
) -> QuorumPeerConfig:
    try:
        entries = load_properties(text)
    except ConfigError as e:
        raise e.located(path=path) from None
    settings: dict[str, object] = {}
    lines: dict[str, int] = {}
    other: dict[str, str] = {}
    warnings: list[str] = []
    for entry in entries:  # ZK: parseProperties trims keys and values
        key, value = java_trim(entry.key), java_trim(entry.value)
        if _is_quorum_key(key):
            continue
        if key in lines:
            warnings.append(
                f"{path}:{entry.line}: {key}: also set on line {lines[key]}; "
                "the last value wins, as in ZooKeeper"
            )
        lines[key] = entry.line
        if key not in _KEYS:
            other[key] = value
            continue
        name, parse = _KEYS[key]
        try:
            settings[name] = parse(value)
        except ValueError as e:
            raise ConfigError(str(e), path=path, line=entry.line, key=key) from None
    if settings.get("client_port") == 0:
        del settings["client_port"]  # ZK: clientPort 0 means "not set"
    if "client_port_address" in settings and "client_port" not in settings:
        raise ConfigError(
            "clientPortAddress is set but clientPort is not set",
            path=path,
            line=lines["clientPortAddress"],
            key="clientPortAddress",
        )
    standalone = bool(settings.get("standalone_enabled", True))
    qv = verifier_from_properties(
        entries,
        path=path,
        multi_address=bool(settings.get("multi_address_enabled", False))
        if multi_address is None
        else multi_address,
        standalone_enabled=standalone,
        backward_compatible=True,
    )
    voters = len(qv.voting_members)
    if voters == 1 and standalone:
        warnings.append(
            f"{path}: only one participant: ZooKeeper would run it standalone, "
            "without an election (standaloneEnabled=true)"
        )
    elif voters <= 2:
        warnings.append(
            f"{path}: No server failure will be tolerated. You need at least 3 servers."
        )
    elif voters % 2 == 0:
        warnings.append(f"{path}: Non-optimal configuration, consider an odd number of servers.")
    if settings.get("reconfig_enabled"):
        warnings.append(
            f"{path}:{lines['reconfigEnabled']}: reconfigEnabled: dynamic reconfiguration "
            "is not modelled; configs received from peers are never adopted"
        )
    data_dir = settings.get("data_dir")
    if isinstance(data_dir, str) and not os.path.isabs(data_dir):
        warnings.append(
            f"{path}:{lines['dataDir']}: dataDir: {data_dir} is relative to the current "
            "directory, as in ZooKeeper"
        )
    _check_addresses_unique(qv, entries, path)
    cfg = QuorumPeerConfig(
        quorum_verifier=qv,
        other=tuple(other.items()),
        path=path,
        **settings,  # type: ignore[arg-type]
    )
    if myid is not None:
        cfg = _set_myid(cfg, myid, myid_place, entries, lines, warnings)
    if cfg.is_distributed:  # ZK: checkValidity
        for limit_key, limit in (("initLimit", cfg.init_limit), ("syncLimit", cfg.sync_limit)):
            if limit == 0:
                raise ConfigError(
                    "is not set (required when more than one server votes)",
                    path=path,
                    line=lines.get(limit_key),
                    key=limit_key,
                )
    return replace(cfg, warnings=tuple(warnings))


def _check_addresses_unique(qv: QuorumVerifier, entries: list[Property], path: str) -> None:
    """No two servers share a quorum, election or client address."""
    owners: dict[tuple[str, int], tuple[Sid, str]] = {}
    for sid, qs in sorted(qv.all_members.items()):
        client = (("client", qs.client_addr),) if qs.client_addr is not None else ()
        for role, addr in (
            *(("quorum", a) for a in qs.addr),
            *(("election", a) for a in qs.election_addr),
            *client,
        ):
            key = (addr[0].lower(), addr[1])
            other = owners.setdefault(key, (sid, role))
            if other[0] != sid:
                first = _server_line(entries, other[0])
                raise ConfigError(
                    f"{addr[0]}:{addr[1]}, its {role} address, is already the {other[1]}"
                    f" address of server.{other[0]}"
                    + (f" (line {first})" if first is not None else "")
                    + ": every server needs addresses of its own",
                    path=path,
                    line=_server_line(entries, sid),
                    key=f"server.{sid}",
                )


def _set_myid(
    cfg: QuorumPeerConfig,
    myid: Sid,
    place: tuple[str, int] | None,
    entries: list[Property],
    lines: dict[str, int],
    warnings: list[str],
) -> QuorumPeerConfig:
    """ZK: setupMyId, setupClientPort and setupPeerType, for a known myid."""
    qv = cfg.quorum_verifier
    qs = qv.all_members.get(myid)
    if qs is None:
        listed = ", ".join(f"server.{s}" for s in qv.all_members)
        raise ConfigError(
            f"{myid} is not in the server list ({listed})",
            path=place[0] if place else cfg.path,
            line=place[1] if place else None,
            key="myid",
        )
    # The static clientPort belongs to this server (ZK: setupClientPort).
    static = None
    if cfg.client_port is not None:
        static = (java_host_string(cfg.client_port_address or "0.0.0.0"), cfg.client_port)
    if static is not None and qs.client_addr is not None:
        wildcard = static[0] in ("0.0.0.0", "0:0:0:0:0:0:0:0")
        if (static[1] != qs.client_addr[1]) if wildcard else (static != qs.client_addr):
            key = "clientPort" if wildcard else "clientPortAddress"
            raise ConfigError(
                f"{static[0]}:{static[1]} differs from the client address "
                f"{qs.client_addr[0]}:{qs.client_addr[1]} of server.{myid}",
                path=cfg.path,
                line=lines.get(key),
                key=key,
            )
    if qs.client_addr is None:
        qv = qv.with_member(replace(qs, client_addr=static, is_client_addr_from_static=True))
    role = qs.learner_type
    if role != cfg.peer_type:  # ZK: setupPeerType
        line = lines.get("peerType", _server_line(entries, myid))
        key = "peerType" if "peerType" in lines else f"server.{myid}"
        warnings.append(
            f"{cfg.path}:{line}: {key}: Peer type from servers list ({role.name}) doesn't "
            f"match peerType ({cfg.peer_type.name}). Defaulting to servers list."
        )
    return replace(cfg, quorum_verifier=qv, myid=myid, peer_type=role)


def _read_myid(path: str) -> Sid:
    """ZK: setupMyId - the first line of dataDir/myid, a decimal long, not trimmed."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", path=path, key="myid") from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=path, line=1, key="myid") from None
    if not text:
        raise ConfigError("the myid file is empty", path=path, line=1, key="myid")
    line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]  # BufferedReader.readLine
    sid = parse_java_long(line)
    if sid is None:
        raise ConfigError(f'"{line}" is not a server id', path=path, line=1, key="myid")
    return sid


def load_zoo_cfg(
    path: str,
    *,
    myid: Sid | None = None,
    multi_address: bool | None = None,
    read_myid: bool = True,
) -> QuorumPeerConfig:
    """Read a zoo.cfg file (ISO-8859-1, as Properties.load(InputStream) reads it).

    Without `myid`, the id comes from `dataDir/myid` if that file exists and `read_myid`
    (a cluster of zkfle's own, where every server is ours, has no "my" id).
    """
    try:
        with open(path, "rb") as f:
            text = f.read().decode("iso-8859-1")
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", path=path) from None
    place = None
    if myid is None and read_myid:  # the myid file lives in the dataDir the file names
        data_dir = parse_zoo_cfg(text, path, multi_address=multi_address).data_dir
        myid_path = os.path.join(data_dir, "myid") if data_dir is not None else None
        if myid_path is not None and os.path.isfile(myid_path):
            myid, place = _read_myid(myid_path), (myid_path, 1)
    return _parse(text, path, myid, place, multi_address)


# --- writing -------------------------------------------------------------------------------------


def to_zoo_cfg(cfg: QuorumPeerConfig) -> str:
    """A zoo.cfg text that `parse_zoo_cfg` (given the same myid) reads back to `cfg`.

    Settings that differ from ZooKeeper's defaults, the other keys, then the server lines
    in sid order, groups and weights, and the version if it is not 0.
    """

    def line(key: str, value: object) -> str:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return f"{escape_property(key, key=True)}={escape_property(text, key=False)}\n"

    defaults = QuorumPeerConfig(cfg.quorum_verifier)
    out = ["# zoo.cfg written by zkfle\n"]
    for key, (name, _) in _KEYS.items():
        value = getattr(cfg, name, None)
        if key == "tickTime" or (name and value != getattr(defaults, name)):
            out.append(line(key, value.word if isinstance(value, LearnerType) else value))
    out += [line(k, v) for k, v in cfg.other]
    qv = cfg.quorum_verifier
    out += [
        line(f"server.{sid}", qs.to_string(java_order=False)) for sid, qs in qv.all_members.items()
    ]
    if isinstance(qv, QuorumHierarchical):
        out += [line(f"group.{g}", ":".join(map(str, sids))) for g, sids in qv.groups.items()]
        out += [line(f"weight.{s}", w) for s, w in qv.server_weight.items()]
    if qv.version != 0:
        out.append(line("version", java_long_hex(qv.version)))
    return "".join(out)


def generate_config(
    participants: int,
    observers: int = 0,
    *,
    tick_time_ms: int = GENERATED_TICK_TIME_MS,
    init_limit: int = GENERATED_INIT_LIMIT,
    sync_limit: int = GENERATED_SYNC_LIMIT,
    host: str = "127.0.0.1",
    base_port: int = DEFAULT_BASE_PORT,
) -> QuorumPeerConfig:
    """The config of a local cluster (`zkfle --nodes N --observers M`).

    Sids 1..N are participants and N+1..N+M observers. Server s uses port base+s for
    quorum, base+1000+s for election and base+2000+s for clients (given in its server line,
    so one config serves every node). standaloneEnabled is false: even a lone participant
    runs the election. The result is what parse_zoo_cfg makes of `to_zoo_cfg` of it, so its
    config text is the one ZooKeeper would send for that file.
    """
    total = participants + observers
    if participants < 1 or observers < 0:
        raise ConfigError(f"needs at least one participant, not {participants}/{observers}")
    if base_port < 1 or base_port + 2000 + total > 0xFFFF or total >= 1000:
        raise ConfigError(f"base port {base_port} leaves no room for {total} servers")
    members = [
        QuorumServer(
            sid,
            ((host, base_port + sid),),
            ((host, base_port + 1000 + sid),),
            LearnerType.PARTICIPANT if sid <= participants else LearnerType.OBSERVER,
            (host, base_port + 2000 + sid),
        )
        for sid in range(1, total + 1)
    ]
    draft = QuorumPeerConfig(
        QuorumMaj(members),
        tick_time_ms=tick_time_ms,
        init_limit=init_limit,
        sync_limit=sync_limit,
        standalone_enabled=False,
    )
    return parse_zoo_cfg(to_zoo_cfg(draft), "<generated>")
