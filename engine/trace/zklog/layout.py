"""ZooKeeper log lines as records: each line's timestamp, level, thread and myid tag read
whatever layout and wrapper it came in, and the lines without a timestamp after it kept.

A record is a line with a date and time (once what wrappers and pasting added is taken
off) together with the lines after it that have none (a stack trace, a wrapped line).
`read_records` turns physical lines into `Record`s and `Untimed` lines (text before any
record: nothing places it in time).

Layouts read: log4j/logback's `%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m`
(ZooKeeper's conf/ since 3.4, also with an empty `[myid:]` as logback leaves it on threads
that never set it, and without the tag as 3.3 wrote), the `[%d] %p %m (%c)` of Kafka's and
Confluent's images, operators' and vendors' layouts with the logger and the thread at the
end, a second timestamp before the first (`kubectl logs --timestamps`), docker-compose
prefixes (`zoo1_1  | `), and lines that went through Markdown (quote marks, list bullets,
code fences, backslash escapes, HTML entities, no-break spaces). Pure: no files, no clocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL"})


@dataclass(slots=True)
class Record:
    """One log statement: its first line and what followed it without a timestamp."""

    lineno: int
    text: str
    """The first line as read (line end removed)."""
    ms: float
    """The timestamp in ms since the epoch; a timestamp without a zone is read as UTC."""
    at: str
    """The timestamp in ISO form with the precision written (`2026-11-26T14:00:00.123`)."""
    level: str
    thread: str
    logger: str
    """The class or logger name (`FastLeaderElection`), '' when the layout has none."""
    myid: int | None
    """The writer as the line itself says: `[myid:N]`, else `myid=N` in the thread name."""
    message: str
    prefix: str = ""
    """What a wrapper wrote before the timestamp (`zoo1_1  | `), the stream it belongs to."""
    more: int = 0
    """Continuation lines (stack frames, wrapped text)."""
    exception: str | None = None
    """The first continuation line that names an exception (`java.net.ConnectException:
    Connection refused`)."""
    tail: list[str] | None = None
    """Continuation text that is not a stack trace (a line wrapped by pasting)."""


@dataclass(frozen=True, slots=True)
class Untimed:
    """A line no timestamp places: before the first record of its stream."""

    lineno: int
    text: str


# --- numbers -------------------------------------------------------------------------------------

U64 = 1 << 64


class NotALongError(ValueError):
    """A number no Java long holds: whatever printed it, it was not ZooKeeper (and int()
    refuses more than 4300 digits, orjson more than 64 bits)."""


def java_long(text: str) -> int:
    """A decimal value ZooKeeper printed (a long or an int)."""
    value = int(text) if len(text) <= 20 else U64
    if not -(1 << 63) <= value < 1 << 63:
        raise NotALongError(text)
    return value


def sid_or_none(text: str) -> int | None:
    """A server id, or None if no server can have it."""
    try:
        return java_long(text)
    except NotALongError:
        return None


# --- lines ---------------------------------------------------------------------------------------

_TS = (
    r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[,.](\d{1,9}))?"
    r"(?: ?(Z|[+-]\d\d:?\d\d)(?![\d:]))?"
)
_STANDARD = re.compile(
    r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) (?:\[myid:(\d*)\] )?- ([A-Z]+) *"
    r"\[(.*?):([\w$.]+)@(\d+)\] - (.*)",
    re.S,
)
"""ZooKeeper's conf/ layout, the fast path: `%d{ISO8601} [myid:%X{myid}] - %-5p
[%t:%C{1}@%L] - %m` (3.4-3.9; without the tag in 3.3). The thread is matched lazily:
thread names hold `:` (`RecvWorker:3`, `127.0.0.1:2181`), messages come after `] - `."""
_TS_SEARCH = re.compile(_TS)
_SECOND_TS = re.compile(r"\]?\s*\[?" + _TS)
_MYID_TAG = re.compile(r"\[myid:(\d*)\]\s*")
_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\b:?\s*")
_THREAD_CLASS = re.compile(r"\[(.*):([\w$.]+)@(\d+)\]\s*(?:-\s+)?")
_THREAD = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\s*")
"""`[thread]`, a thread name holding one level of brackets (`[QuorumPeer[myid=1]]`)."""
_LOGGER_DASH = re.compile(r"([\w$.]+)(?::\d+)?\s+-\s+")
_TRAILING_LOGGER = re.compile(r"\s+\(((?:org|com|io|net)\.[\w$.]+)\)(?:\s+\[(.*)\])?\s*$")
_THREAD_MYID = re.compile(r"myid=(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_COMPOSE = re.compile(r"^([\w.-]+)\s+\|\s?")
_STACK = re.compile(r"^(?:\s|at |Caused by|Suppressed:|\.\.\. \d+ more)")
"""A stack trace's lines after the exception's own."""
_EXCEPTION = re.compile(r"^\s*(?:Caused by: )?((?:[\w$]+\.)*[\w$]*(?:Exception|Error|Throwable))\b")
_MARKDOWN_LEAD = re.compile(r"^\s*(?:(?:>\s?)+|[-*+]\s+|\d+[.)]\s+)")
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")
_ENTITIES = {"&gt;": ">", "&lt;": "<", "&amp;": "&", "&quot;": '"', "&#39;": "'", "&nbsp;": " "}
_ENTITY = re.compile("|".join(_ENTITIES))
_ODD_SPACE = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\ufeff]")


def unmangle(line: str) -> str:
    """Undo what pasting into Markdown, chat or a terminal does to a log line: ANSI colours,
    quote marks and list bullets in front, inline-code backticks around it, backslash
    escapes, HTML entities, no-break and zero-width spaces."""
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    if "&" in line:
        line = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], line)
    if not line[:1].isdigit():
        line = _MARKDOWN_LEAD.sub("", line, count=1)
        if line.startswith("`"):
            line = line.strip("`")
    if "\\" in line:
        line = _ESCAPED.sub(r"\1", line)
    if not line.isascii():
        line = _ZERO_WIDTH.sub("", _ODD_SPACE.sub(" ", line))
    return line


_EPOCH_CACHE: dict[str, float] = {}


def _epoch_ms(m: re.Match[str], zone_group: int) -> tuple[float, str]:
    """(ms since the epoch, ISO text) of a timestamp match (groups 1-8 of `_TS`)."""
    y, mo, d, h, mi, s, frac = m.group(1, 2, 3, 4, 5, 6, 7)
    zone = m.group(zone_group)
    key = f"{y}-{mo}-{d} {h}:{mi}:{s}{zone or ''}"
    base = _EPOCH_CACHE.get(key)
    if base is None:
        try:
            moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
        except ValueError:
            return -1.0, ""
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        base = moment.timestamp() * 1000.0
        if len(_EPOCH_CACHE) > 100_000:
            _EPOCH_CACHE.clear()
        _EPOCH_CACHE[key] = base
    at = f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    if frac:
        at += "." + frac
        base += int(frac[:3].ljust(3, "0")) + (int(frac[3:6]) / 1000 if len(frac) > 3 else 0.0)
    if zone:
        at += zone
    return base, at


def parse_line(line: str) -> Record | None:
    """The record a line starts, or None if it has no date and time."""
    m = _STANDARD.match(line) if "&" not in line and "\\" not in line else None
    if m is not None:
        date, clock, millis, tag, level, thread, logger, _, message = m.groups()
        second = f"{date} {clock}"
        base = _EPOCH_CACHE.get(second)
        if base is None:
            base = _second_ms(second)
        if base >= 0:
            myid = sid_or_none(tag) if tag else _thread_myid(thread)
            at = f"{date}T{clock}.{millis}"
            ms = base + int(millis)
            return Record(0, line, ms, at, level, thread, logger, myid, message)
    return _parse_other(line)


def _second_ms(second: str) -> float:
    """ms since the epoch of `YYYY-MM-DD HH:MM:SS` read as UTC, remembered; -1 if no date.
    The day is looked up once (a log has few days and many seconds)."""
    day = _EPOCH_CACHE.get(second[:10])
    if day is None:
        try:
            moment = datetime.strptime(second[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return -1.0
        day = moment.timestamp() * 1000.0
    h, mi, s = int(second[11:13]), int(second[14:16]), int(second[17:19])
    if h > 23 or mi > 59 or s > 59:
        return -1.0
    if len(_EPOCH_CACHE) > 100_000:
        _EPOCH_CACHE.clear()
    _EPOCH_CACHE[second[:10]] = day
    base = _EPOCH_CACHE[second] = day + ((h * 60 + mi) * 60 + s) * 1000.0
    return base


def _thread_myid(thread: str) -> int | None:
    found = _THREAD_MYID.search(thread) if "myid=" in thread else None
    return sid_or_none(found.group(1)) if found else None


_DATE_HINT = re.compile(r"\d{4}\\?-\d\d\\?-\d\d")
"""A date, as every record has one (also with Markdown's escaped dashes): lines without
one - stack frames, wrapped text - are no records, and are told so without unmangling."""


def _parse_other(line: str) -> Record | None:
    if _DATE_HINT.search(line, 0, 200) is None:
        return None
    clean = unmangle(line)
    prefix = ""
    compose = _COMPOSE.match(clean)
    if compose is not None and not clean[:4].isdigit():
        prefix, clean = compose.group(0), clean[compose.end() :]
    m = _TS_SEARCH.search(clean, 0, 160)
    if m is None:
        return None
    again = _SECOND_TS.match(clean, m.end())
    if again is not None and again.start(1) - m.end() < 4:
        m2 = _TS_SEARCH.search(clean, m.end())
        if m2 is not None:  # a wrapper's own timestamp first (kubectl logs --timestamps)
            m = m2
    # The prefix names the stream (a compose service, a pod); its own clock is no part of
    # it, nor the bracket of a `[%d]` layout.
    prefix += " ".join(_TS_SEARCH.sub("", clean[: m.start()]).split()).rstrip("[")
    ms, at = _epoch_ms(m, 8)
    if ms < 0:
        return None
    rest = clean[m.end() :].lstrip(" ]")
    myid: int | None = None
    tag = _MYID_TAG.match(rest)
    if tag is not None:
        myid = sid_or_none(tag.group(1)) if tag.group(1) else None
        rest = rest[tag.end() :]
    rest = rest.lstrip(" -")
    level = ""
    lm = _LEVEL.match(rest)
    if lm is not None:
        level = lm.group(1)
        rest = rest[lm.end() :]
    thread = logger = ""
    tc = _THREAD_CLASS.match(rest)
    if tc is not None:
        thread, logger = tc.group(1), tc.group(2)
        rest = rest[tc.end() :]
    else:
        tm = _THREAD.match(rest)
        if tm is not None:
            thread = tm.group(1)
            rest = rest[tm.end() :]
            if not level:
                lm = _LEVEL.match(rest)
                if lm is not None:
                    level, rest = lm.group(1), rest[lm.end() :]
            ld = _LOGGER_DASH.match(rest)
            if ld is not None:
                logger, rest = ld.group(1), rest[ld.end() :]
    trailing = _TRAILING_LOGGER.search(rest)
    if trailing is not None:
        logger = trailing.group(1).rsplit(".", 1)[-1]
        thread = trailing.group(2) or thread
        rest = rest[: trailing.start()]
    if myid is None:
        myid = _thread_myid(thread)
    return Record(0, line, ms, at, level, thread, logger, myid, rest.rstrip(), prefix)


def read_records(lines: Iterable[tuple[int, str]]) -> Iterator[Record | Untimed]:
    """Group numbered lines into records; a line without a timestamp belongs to the record
    before it in the same wrapper stream, or is `Untimed` if there is none. Blank lines and
    Markdown code fences are skipped. A record is yielded once its stream moves on."""
    pending: dict[str, Record] = {}
    for lineno, raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("\tat "):  # a Java stack frame, most lines after an exception
            owner = pending.get("")
            if owner is None:
                yield Untimed(lineno, line)
            else:
                owner.more += 1
            continue
        if line[:1].isdigit():
            record = parse_line(line)
        elif not line or line.isspace() or line.lstrip(" >").startswith("```"):
            continue
        else:
            record = _parse_other(line)
        if record is not None:
            record.lineno = lineno
            before = pending.get(record.prefix)
            if before is not None:
                yield before
            pending[record.prefix] = record
            continue
        prefix, body = _stream_of(line)
        owner = pending.get(prefix)
        if owner is None:
            yield Untimed(lineno, line)
            continue
        owner.more += 1
        if owner.exception is None:
            ex = _EXCEPTION.match(body)
            if ex is not None:
                owner.exception = body.strip()
                continue
        if not _STACK.match(body):
            if owner.tail is None:
                owner.tail = []
            if len(owner.tail) < 4:
                owner.tail.append(body.strip())
    for record in pending.values():
        yield record


def _stream_of(line: str) -> tuple[str, str]:
    """(wrapper prefix, the rest) of a line without a timestamp."""
    clean = unmangle(line) if not line[:1].isspace() else line
    compose = _COMPOSE.match(clean)
    if compose is not None:
        return compose.group(0), clean[compose.end() :]
    return "", clean
