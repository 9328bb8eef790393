"""One `server.N` entry (ZK: QuorumPeer.QuorumServer): its addresses, type and text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.core.quorum.error import ConfigError
from engine.core.quorum.java import java_host_string, java_split, java_trim, parse_java_int
from engine.core.vote import LearnerType, Sid

Address = tuple[str, int]
"""(host, port); hosts are kept in Java's getHostString form (see java_host_string)."""


def _delimited(host: str) -> str:
    """QuorumServer.delimitedHostString: IPv6 hosts in brackets."""
    return f"[{host}]" if ":" in host else host


def _host_and_port(text: str) -> list[str]:
    """ConfigUtils.getHostAndPort: split on ':' except inside a leading [IPv6] literal.
    (As in Java, the character after ']' is skipped without being checked.)"""
    if not text.startswith("["):
        return java_split(text, ":")
    close = text.find("]")
    if close < 0:
        raise ConfigError(f"\"{text}\" starts with '[' but has no matching ']'")
    if close + 2 == len(text):
        raise ConfigError(f'"{text}" has no port after the colon')
    if close + 2 < len(text):
        return [text[1:close], *java_split(text[close + 2 :], ":")]
    return [text.replace("[", "").replace("]", "")]


def _port(text: str, what: str) -> int:
    value = parse_java_int(text)
    if value is None:
        raise ConfigError(f'{what} "{text}" is not a number')
    if not 0 <= value <= 0xFFFF:  # InetSocketAddress: "port out of range"
        raise ConfigError(f"{what} {value} is out of range 0-65535")
    return value


def _learner_type(text: str) -> LearnerType:
    word = java_trim(text).lower()
    if word == "participant":
        return LearnerType.PARTICIPANT
    if word == "observer":
        return LearnerType.OBSERVER
    raise ConfigError(f'unrecognised peer type "{text}" (expected participant or observer)')


_FORMAT = "host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]"


@dataclass(frozen=True)
class QuorumServer:
    """One `server.N` entry (ZK: QuorumPeer.QuorumServer).

    `addr` (quorum addresses) and `election_addr` hold one address each unless the
    multi-address feature is on; they are index-aligned, in the order written. Hosts are
    normalised to Java's getHostString form on construction. `==` compares every field;
    `equals` is ZooKeeper's equality (address sets, client address, type; host names
    compared case-insensitively where Java would compare resolved IPs).
    """

    id: Sid
    addr: tuple[Address, ...]
    election_addr: tuple[Address, ...]
    learner_type: LearnerType = LearnerType.PARTICIPANT
    client_addr: Address | None = None
    is_client_addr_from_static: bool = False
    """The client address came from zoo.cfg's clientPort, so to_string() leaves it out."""

    def __post_init__(self) -> None:
        key = f"server.{self.id}"
        if not self.addr or len(self.addr) != len(self.election_addr):
            raise ConfigError("needs as many election addresses as quorum addresses", key=key)
        client = [self.client_addr] if self.client_addr is not None else []
        for _, port in (*self.addr, *self.election_addr, *client):
            if not 0 <= port <= 0xFFFF:
                raise ConfigError(f"port {port} is out of range 0-65535", key=key)
        for name in ("addr", "election_addr"):
            norm = tuple((java_host_string(h), p) for h, p in getattr(self, name))
            if len({(h.lower(), p) for h, p in norm}) != len(norm):
                raise ConfigError("the same address is listed twice", key=key)
            object.__setattr__(self, name, norm)
        if self.client_addr is not None:
            host, port = self.client_addr
            object.__setattr__(self, "client_addr", (java_host_string(host), port))

    @classmethod
    def parse(cls, sid: Sid, text: str, *, multi_address: bool = False) -> QuorumServer:
        """Parse the value of a `server.N` line (ZK: QuorumServer(long, String), 3.8/3.9).

        `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`;
        several `|`-separated addresses only with `multi_address` (ZooKeeper's
        zookeeper.multiAddress.enabled). The text is not trimmed, as in ZooKeeper.
        """
        try:
            return cls._parse(sid, text, multi_address)
        except ConfigError as e:
            raise ConfigError(e.message, key=f"server.{sid}") from None

    @classmethod
    def _parse(cls, sid: Sid, text: str, multi_address: bool) -> QuorumServer:
        server_client = java_split(text, ";")
        if not server_client:
            raise ConfigError(f'"{text}" has no address (expected {_FORMAT})')
        if len(server_client) > 2:
            raise ConfigError(
                f'more than one ";" in "{text}" (expected {_FORMAT}; '
                "a secure client port needs ZooKeeper 3.10)"
            )
        client: Address | None = None
        if len(server_client) == 2:
            parts = _host_and_port(server_client[1])
            if len(parts) > 2:
                raise ConfigError(f'client address "{server_client[1]}" is not [host:]port')
            host = parts[0] if len(parts) == 2 else "0.0.0.0"
            client = (host, _port(parts[-1], "client port"))
        addresses = java_split(server_client[0], "|")
        if len(addresses) > 1 and not multi_address:
            raise ConfigError(
                f'several "|"-separated addresses in "{text}" but the multi-address '
                "feature is disabled (multiAddress.enabled)"
            )
        addr: list[Address] = []
        election: list[Address] = []
        types: set[LearnerType] = set()
        for address in addresses:
            parts = _host_and_port(address)
            if len(parts) == 1:
                raise ConfigError(f'quorum and election ports missing in "{address}"')
            if len(parts) == 2:
                raise ConfigError(f'election port missing in "{address}"')
            if len(parts) > 4:
                raise ConfigError(
                    f'too many ":"-separated fields in "{address}" (expected {_FORMAT}; '
                    "IPv6 hosts go in [brackets])"
                )
            quorum_port = _port(parts[1], "quorum port")
            election_port = _port(parts[2], "election port")
            if quorum_port == election_port:
                raise ConfigError(
                    f'quorum and election port must differ in "{address}" (both {quorum_port})'
                )
            addr.append((parts[0], quorum_port))
            election.append((parts[0], election_port))
            if len(parts) == 4:
                types.add(_learner_type(parts[3]))
        if len(types) > 1:
            raise ConfigError(f'the addresses of "{text}" disagree on participant/observer')
        learner_type = types.pop() if types else LearnerType.PARTICIPANT
        return cls(sid, tuple(addr), tuple(election), learner_type, client)

    def to_string(self, *, java_order: bool = True) -> str:
        """ZooKeeper's QuorumServer.toString(), e.g. `127.0.0.1:1234:1236:participant;0.0.0.0:1237`.

        Java sorts the quorum and the election addresses by host, each list on its own,
        and pairs them by position; `java_order=False` keeps the order they were given in.
        """
        addrs = sorted(self.addr) if java_order else self.addr
        eaddrs = sorted(self.election_addr) if java_order else self.election_addr
        text = "|".join(
            f"{_delimited(h)}:{p}:{ep}" for (h, p), (_, ep) in zip(addrs, eaddrs, strict=True)
        )
        text += ":" + self.learner_type.word
        if self.client_addr is not None and not self.is_client_addr_from_static:
            text += f";{_delimited(self.client_addr[0])}:{self.client_addr[1]}"
        return text

    def equals(self, other: QuorumServer) -> bool:
        """ZK: QuorumServer.equals."""

        def norm(addrs: Iterable[Address]) -> frozenset[Address]:
            return frozenset((h.lower(), p) for h, p in addrs)

        def client(qs: QuorumServer) -> Address | None:
            return (
                None if qs.client_addr is None else (qs.client_addr[0].lower(), qs.client_addr[1])
            )

        return (
            self.id == other.id
            and self.learner_type == other.learner_type
            and norm(self.addr) == norm(other.addr)
            and norm(self.election_addr) == norm(other.election_addr)
            and client(self) == client(other)
        )


__all__ = ["Address", "QuorumServer"]
