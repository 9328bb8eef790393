"""Java's number and string semantics that config text depends on: Long.parseLong,
String.trim and split, Long.toHexString, InetSocketAddress.getHostString.
"""

from __future__ import annotations

import ipaddress
import re

from engine.core.vote import LONG_MAX, LONG_MIN

_DECIMAL = re.compile(r"([+-]?)0*([0-9]+)\Z", re.ASCII)
_HEX = re.compile(r"([+-]?)0*([0-9a-fA-F]+)\Z", re.ASCII)
LONG_MASK = (1 << 64) - 1


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
    return format(value & LONG_MASK, "x")


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


__all__ = [
    "java_host_string",
    "java_long_hex",
    "java_split",
    "java_trim",
    "parse_java_int",
    "parse_java_long",
]
