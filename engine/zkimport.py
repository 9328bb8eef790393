"""`zkfle import`: ZooKeeper server logs to one zkfle trace (format 1.1, runtime `imported`).

Theory of operation
-------------------
Logs are read twice, so that memory stays flat whatever their size:

1. *Scan.* Every file is read once. Each stream - a file, or one wrapper prefix inside it
   (`zoo1_1  | `) - collects the evidence of which server wrote it (ids from `[myid:N]`
   tags and `myid=N` thread names, ids the messages state, the prefix, the file name),
   the timing settings the servers logged, and for the clock skew (engine.clockskew) when
   each server sent each vote and when the others first received it. A server's loopback
   copy of its vote shows that it sent it, but can be logged ~100 ms late (WorkerReceiver
   decodes in order, and slowly while the JVM warms up); the send itself followed what
   caused it at once: the `New election` line (lookForLeader logs it just before
   sendNotifications), or the notification whose vote it adopted. So the send time is
   that cause's time, which can only be early: the skew bounds stay safe.
2. *Events.* Every file is read again; each record becomes one event - a fact
   engine.zklog recognised, or a `log` event keeping the line verbatim - on the server's
   clock corrected for its skew. Events are sorted in runs of `RUN_EVENTS` (spilled to
   temporary files) and the runs are merged into the trace, numbered in time order; ties
   keep the order of the files and lines.

A stream that names several servers line by line (several servers' lines in one file) is
split by those names; its lines that name none are placed by their thread when the thread
belongs to one server, and otherwise counted as unplaced, like lines without a timestamp.
Nothing here is fatal: a file that is not a log, a truncated `.gz`, undecodable bytes are
reported with the file and line and the rest is read.
"""

from __future__ import annotations

import bz2
import gzip
import heapq
import lzma
import os
import re
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from engine.clockskew import Skew, SkewEstimator
from engine.config import load_zoo_cfg
from engine.election import (
    FINALIZE_WAIT_MS,
    MAX_NOTIFICATION_INTERVAL_MS,
    MIN_NOTIFICATION_INTERVAL_MS,
)
from engine.quorum import QuorumMaj, QuorumServer, QuorumVerifier
from engine.trace import make_header
from engine.vote import LearnerType, Sid
from engine.zklog import Fact, Record, Untimed, id_evidence, read_records, recognise

RUN_EVENTS = 200_000
"""Events sorted in memory at a time; more are spilled to sorted runs on disk."""
MAX_EXAMPLES = 5
"""Unplaced lines named in the summary (the counts cover all of them)."""
ASSUMED_TIMING = {"tick_time_ms": 2000, "init_limit": 10, "sync_limit": 5}
"""zoo_sample.cfg's values, for logs that never say theirs and no --config; the header
lists such values under `source.assumed`."""

VoteKey = tuple[int, str, int, int]
"""(leader, zxid, round, peer epoch) of a LOOKING notification."""


class LogImportError(Exception):
    """Nothing could be imported: says why (and names the files)."""


@dataclass(slots=True)
class _Causes:
    """What a server logged, in its current election, that makes it broadcast: the
    election's start, and the first notification carrying each vote and each round."""

    election_ms: float | None = None
    by_vote: dict[VoteKey, float] = field(default_factory=dict)
    by_round: dict[int, float] = field(default_factory=dict)

    def election(self, ms: float) -> None:
        self.election_ms = ms
        self.by_vote.clear()
        self.by_round.clear()

    def heard(self, key: VoteKey, ms: float) -> None:
        self.by_vote.setdefault(key, ms)
        self.by_round.setdefault(key[2], ms)

    def of(self, sid: Sid, key: VoteKey, loopback_ms: float) -> float:
        """When `sid` decided to send `key` (at the latest at its loopback copy): our own
        vote at the election's start, or in a later round when a notification of that
        round arrived; another's vote when we first heard it (others echoing our own vote
        are no cause)."""
        if key[0] == sid:
            found = [self.election_ms, self.by_round.get(key[2])]
        else:
            found = [self.by_vote.get(key)]
        return max((t for t in found if t is not None and t <= loopback_ms), default=loopback_ms)


@dataclass(slots=True)
class _Stream:
    """One file, or one wrapper prefix within a file: evidence gathered by the scan."""

    prefix: str
    explicit: Counter[int] = field(default_factory=Counter)
    """Ids the lines carry themselves ([myid:N], myid=N in the thread name)."""
    stated: Counter[int] = field(default_factory=Counter)
    """Ids the messages state (My id = N, (sid, myid) pairs, ...)."""
    threads: dict[str, Counter[int]] = field(default_factory=dict)
    first_recv: dict[tuple[Sid, Sid, VoteKey], float] = field(default_factory=dict)
    """(receiver, sender, vote) -> when the vote was first logged received (LOOKING only)."""
    first_sent: dict[tuple[Sid, VoteKey], float] = field(default_factory=dict)
    """(sender, vote) -> when the sender first sent it."""
    causes: dict[Sid, _Causes] = field(default_factory=dict)
    settings: dict[str, set[int]] = field(default_factory=dict)
    observing: set[int | None] = field(default_factory=set)
    """Line ids of lines saying OBSERVING."""
    # what the scan decided
    sid: Sid | None = None
    id_from: str = ""
    by_thread: dict[str, Sid] = field(default_factory=dict)

    def server(self, line_id: int | None) -> Sid | None:
        return line_id if line_id is not None else self.sid

    @property
    def provisional(self) -> Sid | None:
        """The server the stream's lines seem to be from so far (during the scan)."""
        for ids in (self.explicit, self.stated):
            if len(ids) == 1:
                return next(iter(ids))
        return None


@dataclass(slots=True)
class _File:
    path: Path
    shown: str
    """The name the summary and `src` use: the path as given (directories joined)."""
    directory: str | None = None
    """The directory named on the command line that this file was found in."""
    lines: int = 0
    untimed: int = 0
    note: str = ""
    streams: dict[str, _Stream] = field(default_factory=dict)


@dataclass(slots=True)
class ServerStats:
    lines: int = 0
    events: int = 0
    unknown: int = 0
    """Records kept verbatim as `log` events."""
    continuation: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    id_from: set[str] = field(default_factory=set)

    def json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "events": self.events,
            "unknown": self.unknown,
            "continuation_lines": self.continuation,
            "kinds": dict(sorted(self.kinds.items())),
            "formats": [v for v, _ in self.formats.most_common()],
            "files": self.files,
            "id_from": sorted(self.id_from),
        }


@dataclass(slots=True)
class ImportSummary:
    """What an import read and wrote (printed on stderr, or as JSON with --json)."""

    trace: Path
    files: list[_File]
    servers: dict[Sid, ServerStats]
    skew: dict[Sid, Skew]
    events: int
    unplaced_no_time: int
    unplaced_no_server: int
    examples: list[str]
    notes: list[str]
    """One line per file that is not a log or could not be read to its end."""
    warnings: list[str]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def json(self) -> dict[str, Any]:
        return {
            "trace": str(self.trace),
            "lines": self.lines,
            "events": self.events,
            "unknown": sum(s.unknown for s in self.servers.values()),
            "unplaced": {
                "no_timestamp": self.unplaced_no_time,
                "no_server": self.unplaced_no_server,
                "examples": self.examples,
            },
            "files": [
                {
                    "path": f.shown,
                    "lines": f.lines,
                    "servers": sorted({s.sid for s in f.streams.values() if s.sid is not None}),
                }
                for f in self.files
            ],
            "servers": {str(s): st.json() for s, st in sorted(self.servers.items())},
            "skew": {str(s): k.json() for s, k in sorted(self.skew.items())},
            "notes": self.notes,
            "warnings": self.warnings,
        }

    def text(self) -> str:
        """The summary for people (stderr)."""
        out = [
            f"zkfle import: {len(self.files)} file(s), {self.lines} lines -> {self.trace}"
            f" ({self.events} events)"
        ]
        out += [f"  {note}" for note in self.notes]
        for sid, st in sorted(self.servers.items()):
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(st.kinds.items()) if k != "log")
            out.append(
                f"  n{sid}: {', '.join(st.files)} (id from {'; '.join(sorted(st.id_from))}):"
                f" {st.lines} lines, {st.events} events ({kinds or 'none recognised'}),"
                f" {st.unknown} other lines kept as log events"
            )
            if st.formats:
                variants = " / ".join(v for v, _ in st.formats.most_common())
                out.append(f"      notifications as ZooKeeper {variants} prints them")
        out.append("  " + _skew_text(self.skew))
        if self.unplaced_no_time or self.unplaced_no_server:
            out.append(
                f"  unplaced: {self.unplaced_no_time} line(s) without a timestamp,"
                f" {self.unplaced_no_server} without a server id"
                + (f" (first: {'; '.join(self.examples)})" if self.examples else "")
            )
        out += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(out)


def _skew_text(skew: dict[Sid, Skew]) -> str:
    pairs = sum(k.pairs for k in skew.values())
    if not pairs:
        return "clock skew: unknown (no vote was logged both sent and received)"
    parts = []
    for sid, k in sorted(skew.items()):
        if k.status == "reference":
            parts.append(f"n{sid} reference")
        elif k.status == "unknown":
            parts.append(f"n{sid} unknown")
        else:
            lo = "-inf" if k.lo_ms is None else f"{k.lo_ms:+.1f}"
            hi = "+inf" if k.hi_ms is None else f"{k.hi_ms:+.1f}"
            bad = "" if k.consistent else " (inconsistent pairs)"
            parts.append(f"n{sid} {k.offset_ms:+.1f} ms [{lo}, {hi}]{bad}")
    return f"clock skew from {pairs} send/receive pairs: " + "; ".join(parts)


# --- files ---------------------------------------------------------------------------------------


def expand(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[_File], list[str]]:
    """The files named, directories walked (sorted, hidden files skipped); and problems
    (a path that does not exist)."""
    files: list[_File] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        members: list[tuple[Path, str, str | None]]
        if path.is_dir():
            members = [(p, str(p), str(given)) for p in sorted(_walk(path))]
        elif path.exists():
            members = [(path, str(given), None)]
        else:
            problems.append(f"{given}: no such file or directory")
            continue
        for p, shown, directory in members:
            real = p.resolve()
            if real not in seen:
                seen.add(real)
                files.append(_File(p, shown, directory))
    return files, problems


def _walk(directory: Path) -> Iterator[Path]:
    for p in directory.rglob("*"):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts):
            yield p


def _open_text(path: Path) -> IO[str]:
    """A text stream of a log, decompressed if it is gzip, bzip2 or xz (by its magic bytes,
    whatever its name); undecodable bytes become U+FFFD."""
    with open(path, "rb") as f:
        magic = f.read(6)
    opener: Callable[..., IO[str]] = open
    if magic[:2] == b"\x1f\x8b":
        opener = gzip.open
    elif magic[:3] == b"BZh":
        opener = bz2.open
    elif magic == b"\xfd7zXZ\x00":
        opener = lzma.open
    return opener(path, "rt", encoding="utf-8", errors="replace", newline="")


def _records(f: _File, note: Callable[[str], None]) -> Iterator[Record | Untimed]:
    return read_records(_numbered(f, note))


def _numbered(f: _File, note: Callable[[str], None]) -> Iterator[tuple[int, str]]:
    """The lines of a file, numbered from 1; a read error ends them with a note."""
    n = 0
    try:
        with _open_text(f.path) as stream:
            for n, line in enumerate(stream, 1):
                if n == 1 and "\x00" in line:
                    note(f"{f.shown}: not a ZooKeeper log (binary data)")
                    return
                yield n, line
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        why = "the compressed data ends early" if isinstance(e, EOFError) else str(e)
        note(
            f"{f.shown}:{n + 1}: cannot read on ({why or type(e).__name__}); kept what came before"
        )


_ROTATION = re.compile(r"(\.(\d+|gz|bz2|xz|log|out|txt|\d{4}-\d\d-\d\d(-\d\d)?))+$")


def id_from_name(path: Path) -> Sid | None:
    """A server id in a file name (`zookeeper-3.log`, `zoo3.out`) or its directory
    (`node3/zookeeper.log`), ignoring rotation suffixes (`.1`, `.2.gz`, dates); a name
    with more than one number (`logs-2024-01-05`) says nothing."""
    for name in (path.name, path.parent.name):
        numbers = re.findall(r"\d+", _ROTATION.sub("", name))
        if len(numbers) == 1:
            return int(numbers[0])
    return None


# --- the scan ------------------------------------------------------------------------------------


def _vote_key(n: dict[str, Any]) -> VoteKey | None:
    if n.get("state") != "LOOKING" or "peer_epoch" not in n:
        return None
    return (n["leader"], n["zxid"], n["election_epoch"], n["peer_epoch"])


def _scan(f: _File) -> None:
    """Pass 1 over one file (see the module doc)."""

    def note(text: str) -> None:
        f.note = text

    for item in _records(f, note):
        if isinstance(item, Untimed):
            f.untimed += 1
            f.lines = max(f.lines, item.lineno)
            continue
        f.lines = max(f.lines, item.lineno + item.more)
        stream = f.streams.get(item.prefix)
        if stream is None:
            stream = f.streams[item.prefix] = _Stream(item.prefix)
        line_id = item.myid
        if line_id is not None:
            stream.explicit[line_id] += 1
            stream.threads.setdefault(item.thread, Counter())[line_id] += 1
        fact = recognise(item)
        stated = id_evidence(item, fact)
        if stated is not None:
            stream.stated[stated] += 1
        if fact is not None:
            writer = line_id if line_id is not None else stream.provisional
            _scan_fact(stream, fact, line_id, writer, item.ms)
    if not f.streams and not f.note:
        f.note = (
            f"{f.shown}: not a ZooKeeper log (no line has a log4j/logback timestamp)"
            if f.lines
            else f"{f.shown}: empty"
        )


def _scan_fact(
    stream: _Stream, fact: Fact, line_id: int | None, writer: Sid | None, ms: float
) -> None:
    kind = fact.kind
    if writer is not None and kind in ("recv", "sent", "election"):
        causes = stream.causes.get(writer)
        if causes is None:
            causes = stream.causes[writer] = _Causes()
        if kind == "election":
            causes.election(ms)
            return
        key = _vote_key(fact.fields["n"])
        if key is None:
            return
        if kind == "sent":  # a DEBUG line: the send itself
            _keep_first(stream.first_sent, (writer, key), ms)
            return
        sender = fact.fields["n"]["sid"]
        if sender != writer:
            stream.first_recv.setdefault((writer, sender, key), ms)
            causes.heard(key, ms)
        elif (writer, key) not in stream.first_sent:
            stream.first_sent[(writer, key)] = causes.of(writer, key, ms)
    elif kind == "zk" and fact.fields["what"] == "setting":
        stream.settings.setdefault(fact.fields["key"], set()).add(fact.fields["value"])
    elif kind == "peer_state" and fact.fields["state"] == "OBSERVING":
        stream.observing.add(line_id)


def _decide_ids(f: _File, myid: Sid | None, warnings: list[str]) -> None:
    """Which server each stream of a file is; for a stream that names several, how its
    unnamed lines are placed."""
    by_name = id_from_name(f.path)
    for stream in f.streams.values():
        named = sorted(stream.explicit)
        if len(named) > 1:
            stream.id_from = "the lines' own [myid:N] or thread names"
            for thread, ids in stream.threads.items():
                if len(ids) == 1:
                    stream.by_thread[thread] = next(iter(ids))
        elif named:
            stream.sid, stream.id_from = named[0], "[myid:N] tags or myid=N thread names"
        elif stream.stated:
            sid = max(stream.stated.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            stream.sid, stream.id_from = sid, "what the lines say (My id = N, ...)"
            if len(stream.stated) > 1:
                warnings.append(
                    f"{f.shown}: the lines name servers {sorted(stream.stated)}; took n{sid}"
                    " (--myid says otherwise)"
                )
        elif myid is not None:
            stream.sid, stream.id_from = myid, "--myid"
        elif re.search(r"\d", stream.prefix):
            stream.sid = int(re.findall(r"\d+", stream.prefix)[0])
            stream.id_from = f"the prefix {stream.prefix.strip()!r}"
        elif by_name is not None:
            stream.sid, stream.id_from = by_name, f"the file name {f.path.name!r}"


def _place(stream: _Stream, record: Record, fact: Fact | None) -> Sid | None:
    """The server a record belongs to, as the scan decided."""
    if record.myid is not None:
        return record.myid
    if stream.sid is not None:
        return stream.sid
    if fact is not None and fact.myid is not None:
        return fact.myid
    return stream.by_thread.get(record.thread)


def _skew(files: list[_File], servers: list[Sid]) -> dict[Sid, Skew]:
    """Offsets from every vote a server sent (see the module doc) that another server
    logged receiving from it."""
    sent: dict[tuple[Sid, VoteKey], float] = {}
    received: dict[tuple[Sid, Sid, VoteKey], float] = {}
    for f in files:
        for stream in f.streams.values():
            for key3, ms in stream.first_recv.items():
                _keep_first(received, key3, ms)
            for key2, ms in stream.first_sent.items():
                _keep_first(sent, key2, ms)
    estimator = SkewEstimator()
    for (receiver, sender, key), ms in sorted(received.items()):
        sent_ms = sent.get((sender, key))
        if sent_ms is not None:
            estimator.pair(sender, sent_ms, receiver, ms)
    return estimator.estimate(servers)


def _keep_first(table: dict[Any, float], key: Any, ms: float) -> None:
    old = table.get(key)
    if old is None or ms < old:
        table[key] = ms


# --- the cluster ---------------------------------------------------------------------------------


def _cluster(
    files: list[_File], config: Path | None, sids: set[Sid], warnings: list[str]
) -> tuple[QuorumVerifier, dict[str, int], list[str]]:
    """The verifier and timing for the header: from zoo.cfg if given, else inferred (the
    sids seen, OBSERVING servers as observers, the settings the servers logged); values no
    source gives are ZooKeeper's defaults or zoo_sample.cfg's, listed as assumed."""
    logged: dict[str, set[int]] = {}
    observers: set[Sid] = set()
    for f in files:
        for stream in f.streams.values():
            for key, values in stream.settings.items():
                logged.setdefault(key, set()).update(values)
            observers.update(s for s in map(stream.server, stream.observing) if s is not None)
    timing = {
        **ASSUMED_TIMING,
        "finalize_wait_ms": FINALIZE_WAIT_MS,
        "min_notification_interval_ms": MIN_NOTIFICATION_INTERVAL_MS,
        "max_notification_interval_ms": MAX_NOTIFICATION_INTERVAL_MS,
    }
    assumed = sorted(set(timing) - {"finalize_wait_ms"})
    if config is not None:
        cfg = load_zoo_cfg(str(config))
        qv = cfg.quorum_verifier
        timing["tick_time_ms"] = cfg.tick_time_ms
        timing["init_limit"] = max(cfg.init_limit, 1)
        timing["sync_limit"] = max(cfg.sync_limit, 1)
        assumed = [k for k in assumed if k not in ASSUMED_TIMING]
        missing = sorted(sids - set(qv.all_members))
        if missing:
            warnings.append(
                f"{config} has no server line for {', '.join(f'n{s}' for s in missing)},"
                " whose logs were read"
            )
    else:
        # The logs do not give the servers' addresses: the header says `unknown`.
        qv = QuorumMaj(
            QuorumServer(
                sid,
                (("unknown", 1),),
                (("unknown", 2),),
                LearnerType.OBSERVER if sid in observers else LearnerType.PARTICIPANT,
            )
            for sid in sorted(sids)
        )
    for key, values in sorted(logged.items()):
        if key in assumed:
            timing[key] = min(values)
            assumed.remove(key)
            if len(values) > 1:
                warnings.append(f"the servers logged different {key}: {sorted(values)}")
    return qv, timing, assumed


# --- events --------------------------------------------------------------------------------------


def _event(record: Record, fact: Fact | None, sid: Sid, src: str) -> dict[str, Any]:
    if fact is None:
        event: dict[str, Any] = {"kind": "log", "node": sid, "at": record.at, "src": src}
        if record.level:
            event["level"] = record.level
        event["text"] = record.text
    else:
        event = {"kind": fact.kind, "node": sid, "at": record.at, "src": src, **fact.fields}
    if record.exception is not None and "exception" not in event:
        event["exception"] = record.exception
    if record.more:
        event["more"] = record.more
    return event


class _Runs:
    """Sorts events by (time, file, line) in bounded memory: runs of RUN_EVENTS events
    sorted in memory and spilled to temporary files, merged at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.batch: list[tuple[float, int, int, bytes]] = []
        self.runs: list[Path] = []

    def add(self, ms: float, file: int, line: int, event: dict[str, Any]) -> None:
        self.batch.append((ms, file, line, orjson.dumps(event)))
        if len(self.batch) >= RUN_EVENTS:
            self._spill()

    def _spill(self) -> None:
        self.batch.sort(key=lambda e: e[:3])
        path = self.directory / f"run{len(self.runs)}.bin"
        with open(path, "wb") as out:
            for ms, file, line, body in self.batch:
                out.write(b"%r\t%d\t%d\t%b\n" % (ms, file, line, body))
        self.runs.append(path)
        self.batch = []

    def merged(self) -> Iterator[tuple[float, bytes]]:
        if not self.runs:
            self.batch.sort(key=lambda e: e[:3])
            for ms, _, _, body in self.batch:
                yield ms, body
            return
        if self.batch:
            self._spill()
        for key, body in heapq.merge(*(self._read(p) for p in self.runs)):
            yield key[0], body

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[tuple[float, int, int], bytes]]:
        with open(path, "rb") as f:
            for line in f:
                ms, file, lineno, body = line.rstrip(b"\n").split(b"\t", 3)
                yield (float(ms), int(file), int(lineno)), body


@dataclass(slots=True)
class _Placed:
    """Pass 2's tallies."""

    servers: dict[Sid, ServerStats] = field(default_factory=dict)
    no_server: int = 0
    examples: list[str] = field(default_factory=list)
    t0: float | None = None


def _place_all(files: list[_File], skew: dict[Sid, Skew], runs: _Runs) -> _Placed:
    """Pass 2: every record of every file becomes an event in `runs`."""
    placed = _Placed()
    servers = placed.servers
    for index, f in enumerate(files):
        for item in _records(f, lambda _note: None):
            if isinstance(item, Untimed):
                continue
            stream = f.streams[item.prefix]
            fact = recognise(item)
            sid = _place(stream, item, fact)
            if sid is None:
                placed.no_server += 1 + item.more
                if len(placed.examples) < MAX_EXAMPLES:
                    placed.examples.append(f"{f.shown}:{item.lineno}: no server id")
                continue
            stats = servers.get(sid)
            if stats is None:
                stats = servers[sid] = ServerStats()
            if f.shown not in stats.files:
                stats.files.append(f.shown)
            stats.id_from.add(stream.id_from or "the line itself")
            stats.lines += 1 + item.more
            stats.continuation += item.more
            stats.events += 1
            stats.kinds[fact.kind if fact is not None else "log"] += 1
            if fact is None:
                stats.unknown += 1
            elif fact.variant:
                stats.formats[fact.variant] += 1
            ms = item.ms - skew[sid].offset_ms if sid in skew else item.ms
            if placed.t0 is None or ms < placed.t0:
                placed.t0 = ms
            event = _event(item, fact, sid, f"{f.shown}:{item.lineno}")
            runs.add(ms, index, item.lineno, event)
    return placed


# --- the whole import ----------------------------------------------------------------------------


def import_logs(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    config: Path | None = None,
    myid: Sid | None = None,
    label: str = "import",
) -> ImportSummary:
    """Read the logs named (files or directories) and write one trace to `out`.

    Raises LogImportError when nothing at all could be imported (no file, no timestamped
    line a server could be found for), engine.quorum.ConfigError for a bad zoo.cfg."""
    files, notes = expand(paths)
    warnings: list[str] = []
    for f in files:
        _scan(f)
        _decide_ids(f, myid, warnings)
    files, skipped = _logs_only(files)
    notes += skipped + [f.note for f in files if f.note]
    if not any(f.streams for f in files):
        raise LogImportError("nothing could be imported: " + "; ".join(notes or ["no files"]))
    servers = sorted(
        {s.sid for f in files for s in f.streams.values() if s.sid is not None}
        | {sid for f in files for s in f.streams.values() for sid in s.explicit}
    )
    skew = _skew(files, servers)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zkfle-import-") as tmp:
        runs = _Runs(Path(tmp))
        placed = _place_all(files, skew, runs)
        if placed.t0 is None:
            raise LogImportError(
                "nothing could be imported: no line names its server; say which with --myid"
            )
        sids = set(placed.servers) | set(servers) | set(_senders(files))
        qv, timing, assumed = _cluster(files, config, sids, warnings)
        header = make_header(
            config=qv.to_string(),
            servers=[
                {"sid": s, "type": qs.learner_type.word, "weight": qv.weight(s)}
                for s, qs in sorted(qv.all_members.items())
            ],
            timing=timing,
            initial={},
            runtime="imported",
            transport="tcp",
            seed=None,
            label=label,
            created=datetime.fromtimestamp(placed.t0 / 1000.0, UTC),
        )
        header["source"] = {
            "files": [f.shown for f in files],
            "servers": {
                str(s): {"files": st.files, "id_from": sorted(st.id_from)}
                for s, st in sorted(placed.servers.items())
            },
            "skew": {str(s): k.json() for s, k in sorted(skew.items())},
            "inferred_cluster": config is None,
            "assumed": assumed,
        }
        events = _write(out_path, header, runs.merged(), placed.t0)
    untimed = [
        f"{f.shown}: {f.untimed} line(s) before its first timestamp" for f in files if f.untimed
    ]
    return ImportSummary(
        trace=out_path,
        files=files,
        servers=placed.servers,
        skew={s: k for s, k in skew.items() if s in placed.servers},
        events=events,
        unplaced_no_time=sum(f.untimed for f in files),
        unplaced_no_server=placed.no_server,
        examples=untimed[:MAX_EXAMPLES] + placed.examples,
        notes=notes,
        warnings=warnings,
    )


def _logs_only(files: list[_File]) -> tuple[list[_File], list[str]]:
    """The files that are logs; files found in a directory that are not (configs,
    snapshots) are summed up in one line per directory - a file named on its own keeps the
    line that says what it is."""
    skipped: dict[str, list[_File]] = {}
    for f in files:
        if f.directory is not None and not f.streams:
            skipped.setdefault(f.directory, []).append(f)
    lines = []
    for directory, others in skipped.items():
        names = ", ".join(Path(o.shown).name for o in others[:4])
        more = f" and {len(others) - 4} more" if len(others) > 4 else ""
        lines.append(
            f"{directory}: skipped {len(others)} file(s) that are not ZooKeeper logs"
            f" ({names}{more})"
        )
    return [f for f in files if f.directory is None or f.streams], lines


def _senders(files: list[_File]) -> Iterator[Sid]:
    """Servers the logs heard from without reading their own log."""
    for f in files:
        for stream in f.streams.values():
            for _, sender, _ in stream.first_recv:
                if 0 < sender < 1 << 31:
                    yield sender


def _write(
    path: Path, header: dict[str, Any], events: Iterator[tuple[float, bytes]], t0: float
) -> int:
    """Header, events numbered from 1 with t_ms from t0, footer; written to a temporary
    name and renamed, so a failed import leaves no half trace."""
    tmp = path.with_name(path.name + ".part")
    seq = 0
    last_t = 0.0
    with open(tmp, "wb") as out:
        out.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))
        write = out.write
        for ms, body in events:
            seq += 1
            last_t = round(ms - t0, 3)
            write(b'{"seq":%d,"t_ms":%r,%b\n' % (seq, last_t, body[1:]))
        footer = {"seq": seq + 1, "t_ms": last_t, "kind": "footer", "events": seq, "end": "ok"}
        out.write(orjson.dumps(footer, option=orjson.OPT_APPEND_NEWLINE))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return seq
