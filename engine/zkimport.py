"""`zkfle import`: ZooKeeper server logs to one zkfle trace (format 1.1, runtime `imported`).

Theory of operation
-------------------
Every file is read once, in bounded memory. Each record becomes one event - a fact
engine.zklog recognised, or a `log` event keeping the line verbatim - spilled in sorted
runs of at most `RUN_EVENTS` events per *source*: a server the line names itself
(`[myid:N]`, `myid=N` in a thread name), or else the stream it came from (a file, or one
wrapper prefix in it: `zoo1_1  | `). Meanwhile each stream collects the evidence of which
server wrote it (ids the lines carry, ids the messages state, the prefix, the file name),
the timing the servers logged, and for the clock skew (engine.clockskew) when each server
sent each vote and when the others first received it. A server's loopback copy of its
vote shows that it sent it, but can be logged ~100 ms late (WorkerReceiver decodes in
order, slowly while the JVM warms up); the send itself followed what caused it at once:
the `New election` line (lookForLeader logs it just before sendNotifications), or the
notification whose vote it adopted. So the send time is that cause's time, which can only
be early: the skew bounds stay safe.

Then every source is resolved to its server, every server's offset is known, and the runs
are merged into the trace: a server's clock differs from the reference by a constant, so
runs sorted on its own clock stay sorted on the corrected one. Events are numbered in
time order; ties keep the order of the files and lines.

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
import multiprocessing
import operator
import os
import re
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
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
PARALLEL_BYTES = 64 << 20
"""Logs larger than this together are read by up to one process per CPU, a file each
(the trace is the same)."""
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


Source = tuple[Any, ...]
"""Where events wait to be placed: ("sid", N) for lines naming server N, ("stream", file,
prefix, thread or None) for the others."""


@dataclass(slots=True)
class _Tally:
    """Counts of one source (a thread of a stream, or a server named by its lines)."""

    events: int = 0
    """Records, one line each."""
    unknown: int = 0
    continuation: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    """Recognised facts by kind."""
    formats: Counter[str] = field(default_factory=Counter)
    files: dict[str, None] = field(default_factory=dict)
    first_ms: float = float("inf")
    example: str = ""

    def add(self, other: _Tally) -> None:
        """Count `other` too (the same source in another file)."""
        self.events += other.events
        self.unknown += other.unknown
        self.continuation += other.continuation
        self.kinds.update(other.kinds)
        self.formats.update(other.formats)
        self.files.update(other.files)
        self.first_ms = min(self.first_ms, other.first_ms)
        self.example = min(self.example, other.example) if self.example else other.example


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
            first = stream.readline()
            if "\x00" in first:
                note(f"{f.shown}: not a ZooKeeper log (binary data)")
                return
            if first:
                n = 1
                yield 1, first
            for n, line in enumerate(stream, 2):
                yield n, line
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        why = "the compressed data ends early" if isinstance(e, EOFError) else str(e)
        why = why or type(e).__name__
        note(f"{f.shown}:{n + 1}: cannot read on ({why}); kept what came before")


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


def _read(
    index: int, f: _File, runs: _Runs, tallies: dict[Source, _Tally], log_lines: bool = True
) -> None:
    """The one pass over a file (see the module doc); without `log_lines`, records that are
    none of the statements engine.zklog knows are counted but make no event."""

    def note(text: str) -> None:
        f.note = text

    src = orjson.dumps(f.shown)[:-1]
    streams = f.streams
    seen: dict[Source, _Tally] = {}
    """The tallies this file added to (a server's tally may have come from an earlier one)."""
    base = index << 32
    for item in _records(f, note):
        if isinstance(item, Untimed):
            f.untimed += 1
            if item.lineno > f.lines:
                f.lines = item.lineno
            continue
        end = item.lineno + item.more
        if end > f.lines:
            f.lines = end
        stream = streams.get(item.prefix)
        if stream is None:
            stream = streams[item.prefix] = _Stream(item.prefix)
        line_id = item.myid
        if line_id is not None:
            stream.explicit[line_id] += 1
            threads = stream.threads.get(item.thread)
            if threads is None:
                threads = stream.threads[item.thread] = Counter()
            threads[line_id] += 1
            source: Source = ("sid", line_id)
            tally_key: Source = source
            thread = ""
        else:
            # A stream that named several servers so far keeps its unnamed lines apart by
            # thread, the only way left to place them.
            thread = item.thread.replace("\t", " ")
            source = ("stream", index, item.prefix, thread if len(stream.explicit) > 1 else None)
            tally_key = ("stream", index, item.prefix, thread)
        fact = recognise(item)
        if line_id is None:  # what the message says only counts where the line says nothing
            stated = id_evidence(item, fact)
            if stated is not None:
                stream.stated[stated] += 1
        tally = seen.get(tally_key)
        if tally is None:
            tally = tallies.get(tally_key)
            if tally is None:
                tally = tallies[tally_key] = _Tally(example=f"{f.shown}:{item.lineno}")
            seen[tally_key] = tally
        tally.events += 1
        tally.continuation += item.more
        if fact is None:
            tally.unknown += 1
        else:
            writer = line_id if line_id is not None else stream.provisional
            _scan_fact(stream, fact, line_id, writer, item.ms)
            tally.kinds[fact.kind] += 1
            if fact.variant:
                tally.formats[fact.variant] += 1
        if item.ms < tally.first_ms:
            tally.first_ms = item.ms
        if fact is None and not log_lines:
            continue
        event = _event(item, fact, f.shown, src)
        runs.add(source, (round(item.ms * 1000), base | item.lineno, thread, event))
    for tally in seen.values():
        tally.files[f.shown] = None
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
            stream.id_from = "their thread, whose other lines named the server"
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


def _resolve(files: list[_File], source: Source) -> Sid | None:
    """The server a source's lines belong to, as the evidence decided."""
    if source[0] == "sid":
        return int(source[1])
    _, index, prefix, thread = source
    stream = files[index].streams[prefix]
    if stream.sid is not None:
        return stream.sid
    return stream.by_thread.get(thread) if thread is not None else None


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


def _event(record: Record, fact: Fact | None, shown: str, src: bytes) -> bytes:
    """An event as JSON without its seq, time and node (the merge adds them); `src` is the
    file's name `shown` as a JSON string without its closing quote."""
    if fact is None and record.exception is None and not record.more:
        # Most lines: written directly (orjson.dumps of a dict costs three times as much).
        level = b',"level":"%b"' % record.level.encode() if record.level else b""
        text = orjson.dumps(record.text)
        return b'{"kind":"log","at":"%b","src":%b:%d"%b,"text":%b}' % (
            record.at.encode(),
            src,
            record.lineno,
            level,
            text,
        )
    if fact is None:
        event: dict[str, Any] = {"kind": "log", "at": record.at}
        if record.level:
            event["level"] = record.level
        event["text"] = record.text
    else:
        event = {"kind": fact.kind, "at": record.at, **fact.fields}
    event["src"] = f"{shown}:{record.lineno}"
    if record.exception is not None and "exception" not in event:
        event["exception"] = record.exception
    if record.more:
        event["more"] = record.more
    # orjson's bytes keep a 4 KiB buffer: copy them to their size before keeping them
    return memoryview(orjson.dumps(event)).tobytes()


_Spilled = tuple[int, int, str, bytes]
"""(µs on the server's own clock, order (file << 32 | line), thread, event JSON)."""


class _Runs:
    """Events per source, sorted by (time, file, line) in bounded memory: at most
    RUN_EVENTS are kept, then sorted and spilled to one temporary file per source."""

    def __init__(self, directory: Path, name: str = "run") -> None:
        self.directory = directory
        self.name = name
        self.batch: dict[Source, list[_Spilled]] = {}
        self.size = 0
        self.runs: list[tuple[Source, Path]] = []

    def add(self, source: Source, event: _Spilled) -> None:
        events = self.batch.get(source)
        if events is None:
            events = self.batch[source] = []
        events.append(event)
        self.size += 1
        if self.size >= RUN_EVENTS:
            self.spill()

    def spill(self) -> None:
        for source, events in self.batch.items():
            events.sort(key=_ORDER)
            path = self.directory / f"{self.name}{len(self.runs)}.bin"
            with open(path, "wb") as out:
                write = out.write
                for us, order, thread, body in events:
                    write(b"%d\t%d\t%b\t%b\n" % (us, order, thread.encode(), body))
            self.runs.append((source, path))
        self.batch = {}
        self.size = 0

    @staticmethod
    def read(path: Path) -> Iterator[_Spilled]:
        with open(path, "rb") as f:
            for line in f:
                us, order, thread, body = line[:-1].split(b"\t", 3)
                yield int(us), int(order), thread.decode(), body


_ORDER = operator.itemgetter(0, 1)


def _merged(
    runs: _Runs, place: Callable[[Source, str], Sid | None], offsets: dict[Sid, int]
) -> Iterator[tuple[int, int, Sid, bytes]]:
    """Every placed event on the corrected clock, in time order: runs of one server shift
    by one offset and stay sorted; a run whose lines are placed thread by thread (a stream
    naming several servers before it split) is placed and sorted in memory."""
    runs.spill()

    def shifted(source: Source, path: Path) -> Iterator[tuple[int, int, Sid, bytes]]:
        whole = place(source, "")
        if whole is not None:
            offset = offsets.get(whole, 0)
            for us, order, _, body in runs.read(path):
                yield us - offset, order, whole, body
        elif source[0] == "stream":
            placed = []
            for us, order, thread, body in runs.read(path):
                sid = place(source, thread)
                if sid is not None:
                    placed.append((us - offsets.get(sid, 0), order, sid, body))
            placed.sort(key=_ORDER)
            yield from placed

    return heapq.merge(*(shifted(source, path) for source, path in runs.runs))


# --- the whole import ----------------------------------------------------------------------------


def import_logs(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    config: Path | None = None,
    myid: Sid | None = None,
    label: str = "import",
    log_lines: bool = True,
) -> ImportSummary:
    """Read the logs named (files or directories) and write one trace to `out`; with
    `log_lines` False, only the statements engine.zklog recognises become events (what
    `zkfle explain` reads; the other lines are still counted).

    Raises LogImportError when nothing at all could be imported (no file, no timestamped
    line a server could be found for), engine.quorum.ConfigError for a bad zoo.cfg."""
    files, notes = expand(paths)
    warnings: list[str] = []
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zkfle-import-") as tmp:
        runs, tallies = _read_all(files, Path(tmp), log_lines)
        for f in files:
            _decide_ids(f, myid, warnings)
        logs, skipped = _logs_only(files)
        notes += skipped + [f.note for f in logs if f.note]
        if not any(f.streams for f in logs):
            raise LogImportError("nothing could be imported: " + "; ".join(notes or ["no files"]))

        def place(source: Source, thread: str) -> Sid | None:
            if source[0] == "stream" and source[3] is None and thread:
                return _resolve(files, (*source[:3], thread))
            return _resolve(files, source)

        servers, no_server, examples = _servers(files, tallies)
        if not servers:
            raise LogImportError(
                "nothing could be imported: no line names its server; say which with --myid"
            )
        skew = _skew(logs, sorted(servers))
        offsets = {sid: round(k.offset_ms * 1000) for sid, k in skew.items()}  # µs
        t0 = min(
            round(tally.first_ms * 1000) - offsets.get(sid, 0)
            for source, tally in tallies.items()
            if (sid := _resolve(files, source)) is not None
        )
        sids = set(servers) | set(_senders(logs))
        qv, timing, assumed = _cluster(logs, config, sids, warnings)
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
            created=datetime.fromtimestamp(t0 / 1e6, UTC),
        )
        header["source"] = {
            "files": [f.shown for f in logs],
            "servers": {
                str(s): {"files": st.files, "id_from": sorted(st.id_from)}
                for s, st in sorted(servers.items())
            },
            "skew": {str(s): k.json() for s, k in sorted(skew.items())},
            "inferred_cluster": config is None,
            "assumed": assumed,
        }
        events = _write(out_path, header, _merged(runs, place, offsets), t0)
    untimed = [f"{f.shown}: {f.untimed} line(s) before its first timestamp" for f in logs]
    untimed = [u for u, f in zip(untimed, logs, strict=True) if f.untimed]
    return ImportSummary(
        trace=out_path,
        files=logs,
        servers=servers,
        skew={s: k for s, k in skew.items() if s in servers},
        events=events,
        unplaced_no_time=sum(f.untimed for f in logs),
        unplaced_no_server=no_server,
        examples=untimed[:MAX_EXAMPLES] + examples[:MAX_EXAMPLES],
        notes=notes,
        warnings=warnings,
    )


def _read_all(
    files: list[_File], directory: Path, log_lines: bool = True
) -> tuple[_Runs, dict[Source, _Tally]]:
    """Read every file (in parallel for big inputs); the runs and counts of all."""
    runs = _Runs(directory)
    tallies: dict[Source, _Tally] = {}
    workers = min(len(files), os.cpu_count() or 1)
    if workers < 2 or sum(_size(f.path) for f in files) < PARALLEL_BYTES:
        for index, f in enumerate(files):
            _read(index, f, runs, tallies, log_lines)
        return runs, tallies
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    n = len(files)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        done = pool.map(_read_one, range(n), files, [directory] * n, [log_lines] * n)
        for index, (f, file_tallies, file_runs) in enumerate(done):
            files[index] = f  # the copy the worker filled with its evidence
            runs.runs += file_runs
            for source, tally in file_tallies.items():
                if source in tallies:
                    tallies[source].add(tally)
                else:
                    tallies[source] = tally
    return runs, tallies


def _read_one(
    index: int, f: _File, directory: Path, log_lines: bool
) -> tuple[_File, dict[Source, _Tally], list[tuple[Source, Path]]]:
    """One file in a worker process: its evidence, counts and spilled runs."""
    runs = _Runs(directory, f"f{index}-")
    tallies: dict[Source, _Tally] = {}
    _read(index, f, runs, tallies, log_lines)
    runs.spill()
    return f, tallies, runs.runs


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _servers(
    files: list[_File], tallies: dict[Source, _Tally]
) -> tuple[dict[Sid, ServerStats], int, list[str]]:
    """Every source's counts summed per server it resolved to; lines of sources that did
    not resolve are unplaced (with an example each)."""
    servers: dict[Sid, ServerStats] = {}
    no_server = 0
    examples = []
    for source, tally in tallies.items():
        sid = _resolve(files, source)
        if sid is None:
            no_server += tally.events + tally.continuation
            examples.append(f"{tally.example}: no server id")
            continue
        stats = servers.get(sid)
        if stats is None:
            stats = servers[sid] = ServerStats()
        for name in tally.files:
            if name not in stats.files:
                stats.files.append(name)
        if source[0] == "sid":
            stats.id_from.add("[myid:N] tags or myid=N thread names")
        else:
            stream = files[source[1]].streams[source[2]]
            stats.id_from.add(stream.id_from)
        stats.lines += tally.events + tally.continuation
        stats.events += tally.events
        stats.unknown += tally.unknown
        stats.continuation += tally.continuation
        stats.kinds.update(tally.kinds)
        if tally.unknown:
            stats.kinds["log"] += tally.unknown
        stats.formats.update(tally.formats)
    return servers, no_server, sorted(examples)


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
    path: Path, header: dict[str, Any], events: Iterator[tuple[int, int, Sid, bytes]], t0: int
) -> int:
    """Header, events numbered from 1 with t_ms from t0 (both in µs), footer; written to a
    temporary name and renamed, so a failed import leaves no half trace."""
    tmp = path.with_name(path.name + ".part")
    seq = 0
    last = 0
    with open(tmp, "wb") as out:
        out.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))
        write = out.write
        for us, _, sid, body in events:
            seq += 1
            last = us - t0
            ms, frac = divmod(last, 1000)
            write(b'{"seq":%d,"t_ms":%d.%03d,"node":%d,%b\n' % (seq, ms, frac, sid, body[1:]))
        footer = {"seq": seq + 1, "t_ms": last / 1000, "kind": "footer", "events": seq, "end": "ok"}
        out.write(orjson.dumps(footer, option=orjson.OPT_APPEND_NEWLINE))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return seq
