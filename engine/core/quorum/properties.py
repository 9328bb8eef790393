"""java.util.Properties text: read as Properties.load reads it, escaped as it writes it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.core.quorum.error import ConfigError


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


__all__ = ["Property", "escape_property", "load_properties"]
