"""Quorum verifiers, quorum servers, and the config text that travels with every vote.

ZooKeeper's `QuorumPeer.QuorumServer`, `flexible.QuorumMaj`, `flexible.QuorumHierarchical`,
`SyncedLearnerTracker` and the dynamic-config parser (`QuorumPeer.configFromString` →
`QuorumPeerConfig.parseDynamicConfig`, backward-compatibility mode off), reference §6.

Byte-for-byte fidelity of `QuorumVerifier.to_string()` matters because that text is what a
version-2 notification carries (reference §1.5, §6.4). Java prints the members in the
iteration order of a `java.util.HashMap<Long, …>`, whose contents were inserted in the
iteration order of the `java.util.Properties` (a `ConcurrentHashMap<String, …>`) they were
parsed from. Both orders are emulated here (`hashmap_order`, `properties_order`), so a
verifier remembers the order its members were inserted in: parsers pass the order Java's
Properties iterates, and verifiers built in code use the order they are given. Checked
against ZooKeeper 3.8.0 on OpenJDK 17, including HashMap buckets that turn into red-black
trees. Known approximations: a Properties bin of 9+ colliding keys (never seen with real
configs) stays a list; two addresses of one multi-address server with the same host are
ordered by port; named IPv6 zones are printed expanded whatever the interfaces are.

Where ZooKeeper would throw an unchecked exception on bad input (a non-numeric `server.x`,
a port out of range, a grouped server without a weight, a config without participants)
these functions raise `ConfigError`: config text arrives from the wire and must never crash
a node (reference §1.5, ZOOKEEPER-3769).
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from engine.vote import LONG_MAX, LONG_MIN, LearnerType, Sid


class ConfigError(Exception):
    """Bad configuration: a zoo.cfg, a myid file, or config text received in a notification.

    `str()` names the place first: `zoo.cfg:7: server.3: election port missing in "…"`.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        place = self.path or ""
        if self.line is not None:
            place = f"{place}:{self.line}" if place else f"line {self.line}"
        return ": ".join([p for p in (place, self.key) if p] + [self.message])

    def located(self, *, path: str | None = None, line: int | None = None) -> ConfigError:
        """The same error with a place filled in where it had none."""
        return ConfigError(
            self.message,
            path=self.path or path,
            line=self.line if self.line is not None else line,
            key=self.key,
        )


# --- Java number and string semantics ------------------------------------------------------

_DECIMAL = re.compile(r"([+-]?)0*([0-9]+)\Z", re.ASCII)
_HEX = re.compile(r"([+-]?)0*([0-9a-fA-F]+)\Z", re.ASCII)
_LONG_MASK = (1 << 64) - 1


def parse_java_long(text: str, radix: int = 10) -> int | None:
    """Java's Long.parseLong (ASCII digits only); None where Java throws NumberFormatException."""
    match = (_HEX if radix == 16 else _DECIMAL).match(text)
    if match is None or len(match[2]) > 20:  # also keeps int() far from its digit limit
        return None
    value = int(match[1] + match[2], radix)
    return value if LONG_MIN <= value <= LONG_MAX else None


def parse_java_int(text: str) -> int | None:
    """Java's Integer.parseInt (ASCII digits only); None where Java throws."""
    value = parse_java_long(text)
    return value if value is not None and -(1 << 31) <= value < 1 << 31 else None


_JAVA_BLANKS = "".join(map(chr, range(33)))


def java_trim(text: str) -> str:
    """Java's String.trim: strips every char <= U+0020 (not Unicode whitespace)."""
    return text.strip(_JAVA_BLANKS)


def java_split(text: str, sep: str) -> list[str]:
    """Java's String.split(sep) for a one-character separator: trailing empty strings are
    dropped, but a text without the separator comes back whole (even when empty)."""
    parts = text.split(sep)
    if len(parts) == 1:
        return parts
    while parts and not parts[-1]:
        parts.pop()
    return parts


def java_long_hex(value: int) -> str:
    """Java's Long.toHexString: two's complement, lower case, no prefix."""
    return format(value & _LONG_MASK, "x")


def _ipv4_literal(host: str) -> str | None:
    """An IPv4 literal as Java's InetAddress reads it (IPAddressUtil.textToNumericFormatV4):
    1 to 4 decimal parts, the last one filling the remaining bytes ("127.1" is 127.0.0.1)."""
    if not 0 < len(host) <= 15:
        return None
    parts = host.split(".")
    if len(parts) > 4 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    values = [int(p) for p in parts]
    tail_bits = 8 * (5 - len(parts))
    if any(v > 0xFF for v in values[:-1]) or values[-1] >= 1 << tail_bits:
        return None
    number = values[-1]
    for i, v in enumerate(values[:-1]):
        number |= v << (24 - 8 * i)
    return ".".join(str((number >> s) & 0xFF) for s in (24, 16, 8, 0))


def _ipv6_literal(host: str) -> str | None:
    """An IPv6 literal in Java's getHostAddress form: eight groups, no zero compression;
    IPv4-mapped addresses become IPv4 (Java turns them into Inet4Address)."""
    addr, pct, zone = host.partition("%")
    if pct and not zone:
        return None
    try:
        ip = ipaddress.IPv6Address(addr)
    except ValueError:
        return None
    if ip.ipv4_mapped is not None:
        return None if pct else str(ip.ipv4_mapped)
    text = ":".join(f"{(int(ip) >> (112 - 16 * i)) & 0xFFFF:x}" for i in range(8))
    if pct:
        text += "%" + (str(int(zone)) if zone.isascii() and zone.isdigit() else zone)
    return text


def java_host_string(host: str) -> str:
    """What InetSocketAddress.getHostString() returns for a host as written in a config.

    IP literals are normalised the way Java parses them; names stay as written (Java keeps
    the given name whether or not it resolves; we never resolve). An empty host is Java's
    loopback, "localhost".
    """
    if not host:
        return "localhost"
    if host[0] in "0123456789abcdefABCDEF:":
        return _ipv4_literal(host) or _ipv6_literal(host) or host
    return host


# --- Java collection iteration order ---------------------------------------------------------


def _long_hash(key: int) -> int:
    """HashMap.hash(Long): Long.hashCode folded, then spread (h ^ h >>> 16), as unsigned 32-bit."""
    u = key & _LONG_MASK
    h = (u ^ (u >> 32)) & 0xFFFFFFFF
    return h ^ (h >> 16)


class _TreeNode:
    """A node of a red-black tree bin (HashMap.TreeNode), ordered by (hash as a Java int, key)."""

    __slots__ = ("key", "left", "order", "parent", "red", "right")

    def __init__(self, key: int) -> None:
        h = _long_hash(key)
        self.key = key
        self.order = (h - (1 << 32) if h >= 1 << 31 else h, key)
        self.left: _TreeNode | None = None
        self.right: _TreeNode | None = None
        self.parent: _TreeNode | None = None
        self.red = False


def _rotate(root: _TreeNode, p: _TreeNode, left: bool) -> _TreeNode:
    """Rotate `p` down to the left (or right); returns the root, which is kept black."""
    c = p.right if left else p.left
    if c is None:
        return root
    inner = c.left if left else c.right
    if left:
        p.right = inner
    else:
        p.left = inner
    if inner is not None:
        inner.parent = p
    c.parent = pp = p.parent
    if pp is None:
        root, c.red = c, False
    elif pp.left is p:
        pp.left = c
    else:
        pp.right = c
    if left:
        c.left = p
    else:
        c.right = p
    p.parent = c
    return root


def _tree_insert(root: _TreeNode | None, x: _TreeNode) -> tuple[_TreeNode, _TreeNode | None]:
    """Insert `x` (red-black insertion as in CLRS); returns the new root and x's parent."""
    if root is None:
        return x, None
    p = root
    while True:
        child = p.left if x.order < p.order else p.right
        if child is None:
            break
        p = child
    x.parent = p
    if x.order < p.order:
        p.left = x
    else:
        p.right = x
    parent, x.red = p, True
    xp: _TreeNode | None
    xpp: _TreeNode | None
    while (xp := x.parent) is not None and xp.red and (xpp := xp.parent) is not None:
        on_left = xp is xpp.left
        uncle = xpp.right if on_left else xpp.left
        if uncle is not None and uncle.red:
            uncle.red = xp.red = False
            xpp.red, x = True, xpp
            continue
        if x is (xp.right if on_left else xp.left):
            x = xp
            root = _rotate(root, x, left=on_left)
            xp = x.parent
            xpp = xp.parent if xp is not None else None
        if xp is not None:
            xp.red = False
            if xpp is not None:
                xpp.red = True
                root = _rotate(root, xpp, left=not on_left)
    root.red = False
    return root, parent


def _treeify(keys: list[int]) -> tuple[list[int], _TreeNode]:
    """HashMap.TreeNode.treeify: a tree of the bin, whose root moves to the front."""
    root: _TreeNode | None = None
    for key in keys:
        root, _ = _tree_insert(root, _TreeNode(key))
    assert root is not None
    return [root.key, *(k for k in keys if k != root.key)], root


def hashmap_order(keys: Iterable[int]) -> list[int]:
    """The iteration order of a java.util.HashMap<Long, …> after putting `keys` in order.

    Buckets in index order. A bucket is a list in insertion order until it holds 9 keys:
    then the table doubles if it has fewer than 64 buckets (HashMap.treeifyBin), else the
    bucket becomes a red-black tree whose root is moved to the front and whose new keys
    go right after their parent. The table starts at 16 buckets and doubles when
    size > 0.75 × capacity; a resize keeps the order within each half of a bucket and
    turns halves of 6 or fewer keys back into lists. Re-putting a key keeps its place.
    """
    cap = 16
    bins: dict[int, tuple[list[int], _TreeNode | None]] = {}
    size = 0
    seen: set[int] = set()

    def resize() -> None:
        nonlocal cap, bins
        grown: dict[int, tuple[list[int], _TreeNode | None]] = {}
        for index, (order, root) in bins.items():
            halves = [[k for k in order if not _long_hash(k) & cap]]
            halves.append([k for k in order if _long_hash(k) & cap])
            for half, at in zip(halves, (index, index + cap), strict=True):
                if not half:
                    continue
                if root is None or len(half) <= 6:  # TreeNode.split: untreeify
                    grown[at] = (half, None)
                elif len(half) == len(order):
                    grown[at] = (order, root)  # the whole tree moves unchanged
                else:
                    grown[at] = _treeify(half)
        cap, bins = cap * 2, grown

    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        index = _long_hash(key) & (cap - 1)
        order, root = bins.setdefault(index, ([], None))
        if root is not None:  # HashMap.TreeNode.putTreeVal
            node = _TreeNode(key)
            root, parent = _tree_insert(root, node)
            assert parent is not None
            order.insert(order.index(parent.key) + 1, key)
            order.remove(root.key)
            order.insert(0, root.key)
            bins[index] = (order, root)
        else:
            order.append(key)
            if len(order) >= 9:  # HashMap.treeifyBin
                if cap < 64:
                    resize()
                else:
                    bins[index] = _treeify(order)
        size += 1
        if size > cap * 3 // 4:
            resize()
    return [k for index in sorted(bins) for k in bins[index][0]]


def _string_hash(text: str) -> int:
    """ConcurrentHashMap.spread(String.hashCode()) over UTF-16 code units."""
    h = 0
    units = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return (h ^ (h >> 16)) & 0x7FFFFFFF


def properties_order(keys: Iterable[str]) -> list[str]:
    """The iteration order of a java.util.Properties after putting `keys` in order.

    Since Java 9 Properties is backed by a ConcurrentHashMap created with capacity 8: a
    table of 16 bins, each bin appending new keys at its tail, which doubles once the size
    reaches 0.75 × capacity. A resize (ConcurrentHashMap.transfer) moves the longest tail
    run of a bin that lands in one half as is and puts the other nodes in front of their
    half in reverse order. Re-putting a key keeps its place.
    """
    n = 16
    bins: list[list[tuple[int, str]]] = [[] for _ in range(n)]
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        h = _string_hash(key)
        bins[h & (n - 1)].append((h, key))
        while len(seen) >= n * 3 // 4:
            grown: list[list[tuple[int, str]]] = [[] for _ in range(2 * n)]
            for i, nodes in enumerate(bins):
                if not nodes:
                    continue
                last_run = len(nodes) - 1
                while last_run > 0 and (nodes[last_run - 1][0] & n) == (nodes[-1][0] & n):
                    last_run -= 1
                lo = [] if nodes[-1][0] & n else nodes[last_run:]
                hi = nodes[last_run:] if nodes[-1][0] & n else []
                for node in nodes[:last_run]:
                    (hi if node[0] & n else lo).insert(0, node)
                grown[i], grown[i + n] = lo, hi
            bins, n = grown, 2 * n
    return [key for nodes in bins for _, key in nodes]


# --- java.util.Properties text -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Property:
    """One `key=value` entry of a Properties text; `line` is where its logical line starts."""

    key: str
    value: str
    line: int


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_BLANKS = " \t\f"
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _unescape(text: str, line: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        i += 1
        if c != "\\" or i == len(text):
            out.append(c)
            continue
        c = text[i]
        i += 1
        if c == "u":
            digits = text[i : i + 4]
            if len(digits) < 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ConfigError(r"malformed \uxxxx escape", line=line)
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(_ESCAPES.get(c, c))
    return "".join(out)


def _odd_trailing_backslashes(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def load_properties(text: str) -> list[Property]:
    """Java's Properties.load(Reader): every entry in file order, duplicates included.

    `#`/`!` comment lines, blank lines, `\\` line continuations, keys ended by `=`, `:` or
    whitespace, and the escapes `\\t \\n \\r \\f \\uXXXX`. A malformed `\\u` escape is a
    ConfigError (Java throws IllegalArgumentException).
    """
    lines = _NEWLINE.split(text)
    if lines and not lines[-1]:
        lines.pop()
    entries: list[Property] = []
    i = 0
    while i < len(lines):
        number, logical = i + 1, lines[i].lstrip(_BLANKS)
        i += 1
        if not logical or logical[0] in "#!":
            continue
        while _odd_trailing_backslashes(logical):
            logical = logical[:-1]
            if i == len(lines):
                break
            logical += lines[i].lstrip(_BLANKS)
            i += 1
        key_end, value_start, has_sep, escaped = 0, len(logical), False, False
        while key_end < len(logical):
            c = logical[key_end]
            if not escaped and c in "=:":
                value_start, has_sep = key_end + 1, True
                break
            if not escaped and c in _BLANKS:
                value_start = key_end + 1
                break
            escaped = c == "\\" and not escaped
            key_end += 1
        while value_start < len(logical):
            c = logical[value_start]
            if c not in _BLANKS:
                if has_sep or c not in "=:":
                    break
                has_sep = True
            value_start += 1
        entries.append(
            Property(
                _unescape(logical[:key_end], number),
                _unescape(logical[value_start:], number),
                number,
            )
        )
    return entries


def escape_property(text: str, *, key: bool) -> str:
    """Escape a key or value so that `load_properties` reads it back (after
    Properties.saveConvert, but ':' '=' '#' '!' are escaped in keys only, where they
    matter). Characters outside printable ASCII become \\uXXXX, so the text is ISO-8859-1."""
    out: list[str] = []
    for i, c in enumerate(text):
        if c == "\\":
            out.append("\\\\")
        elif c == " ":
            out.append("\\ " if key or i == 0 else " ")
        elif c in "\t\n\r\f":
            out.append("\\" + "tnrf"["\t\n\r\f".index(c)])
        elif key and c in "=:#!":
            out.append("\\" + c)
        elif " " < c <= "~":
            out.append(c)
        else:
            units = c.encode("utf-16-be", "surrogatepass")
            out.extend(f"\\u{units[j] << 8 | units[j + 1]:04X}" for j in range(0, len(units), 2))
    return "".join(out)


# --- QuorumServer ------------------------------------------------------------------------------

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


# --- quorum verifiers ----------------------------------------------------------------------------


def _java_half(value: int) -> int:
    """Java's `value / 2` on longs: truncates towards zero."""
    return value // 2 if value >= 0 else -(-value // 2)


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


# --- parsing config text -------------------------------------------------------------------------


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


__all__ = [
    "Address",
    "ConfigError",
    "Property",
    "QuorumHierarchical",
    "QuorumMaj",
    "QuorumServer",
    "QuorumVerifier",
    "SyncedLearnerTracker",
    "escape_property",
    "hashmap_order",
    "java_host_string",
    "java_long_hex",
    "java_split",
    "java_trim",
    "load_properties",
    "parse_dynamic_config",
    "parse_java_int",
    "parse_java_long",
    "properties_order",
    "verifier_from_properties",
]
