"""Trace files: one run as JSON Lines (format `zkfle-trace`, version MAJOR.MINOR).

Line 1 is the header (cluster, timing, initial durable state); every further line is one
event with a dense global `seq`, a time `t_ms` and a `kind`; the last line of a finished
run is a `footer`. The format is specified in `traces/README.md` and `traces/schema.json`.

Writing (`TraceWriter`): one complete line per event, serialised with orjson. Lines are
buffered and handed to the kernel (`os.write`) at most `max_delay_ms` after they were
written, when the buffer holds `max_buffer_bytes`, at once for rare events that matter most
in a post-mortem (commands, faults, crashes, invariants, the footer), and on `flush()`.
A killed process therefore loses at most the last few milliseconds of an active run, and
nothing if its runtime calls `flush()` when it goes idle. Whatever reached the kernel
survives the process; `close()` (or `flush(fsync=True)`) also survives a power cut, unless
the writer is not `durable`: a simulated run's trace is made again, byte for byte, from its
seed and commands, and an fsync at each close waits ~2 ms on the disk here, a fifth of a
short simulated election. Such a writer also replaces a file already at its path instead
of truncating it (see `_replace`).

Reading (`read_trace`): the header is read and checked at once; events are streamed (the
file is re-read on every iteration, so memory stays flat on any size). Problems raise
`TraceError(path, line, message)`. A torn last line - what a crash in the middle of a write
leaves - is not an error: it is reported in `Trace.torn_line` and everything before it is
kept. A reader of this MAJOR version ignores unknown fields and unknown kinds, refuses
another MAJOR and notes a newer MINOR.
"""

from __future__ import annotations

import os
import platform
import re
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import IO, Any, TypeAlias

import orjson

from engine.trace.compressed import CorruptTraceError, encoder_for, open_trace_file

Event: TypeAlias = dict[str, Any]
"""One decoded line (the header or an event)."""

FORMAT_NAME = "zkfle-trace"
VERSION = "1.6"
MAJOR, MINOR = 1, 6
"""1.1 added the kinds of real servers' evidence (recv, sent, election, fle_timeout,
peer_state, took, zk, log) and the runtime `imported`, and ends every message: a loopback
send has its `deliver`, a `dup` copy is a message of its own. A 1.1 reader reads 1.0 files
(their loopback sends count as delivered at once). 1.2 added `break`: where a breakpoint
halted the run (an observation: a 1.1 reader skips it). 1.3 added `pause` and `resume`: a
node stopped consuming and went on (before, only a `cmd` and the next `snapshot` said so).
1.4: learner<->leader packets are ZooKeeper's (a jute QuorumPacket's type name, zxid,
`data` in hex; SNAP's `dump`) and a step's Zab output names the data made durable (`log`,
`snapshot`, `truncate`); 1.3 traces read as before, but their post-election steps - the
packets of zkfle's earlier simplified Zab - cannot be re-executed (`PACKETS_SINCE`).
1.5: no new field; a node's vote and ACKEPOCH carry its database's zxid, which keeps a
leader's new-epoch zxid after its leadership ends (ZOOKEEPER-2845) where older cores took
the log's: older traces diverge there (`EPOCH_ZXID_SINCE`). 1.6: no new field; a leader's
PROPOSAL and INFORM carry the tree's digest after the txn (ZOOKEEPER-3114), so their
bytes differ from older traces' (`DIGEST_SINCE`)."""
PACKETS_SINCE = (1, 4)
"""The first version whose learner<->leader packets are ZooKeeper's (replay refuses older ones)."""
EPOCH_ZXID_SINCE = (1, 5)
"""The first version whose cores keep a leader's epoch zxid in memory after its leadership."""
DIGEST_SINCE = (1, 6)
"""The first version whose leaders' txns carry the tree's digest (TxnDigest)."""

REPLAY_KINDS = frozenset({"boot", "stop", "step"})
"""★ kinds: what replay re-executes. Adding one needs a new MAJOR version."""

REAL_KINDS = frozenset(
    {"recv", "sent", "election", "fle_timeout", "peer_state", "took", "zk", "log"}
)
"""Kinds that carry a real server's evidence (1.1): what it logged, stamped `at` with its
own clock and, when imported, `src` (file:line)."""

HEADER_FIELDS = ("format", "version", "runtime", "transport", "seed", "cluster", "timing")
"""What a reader needs from the header (the schema also asks for the informational ones)."""

EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "boot": ("node", "durable"),
    "stop": ("node", "reason"),
    "step": ("node", "input", "output"),
    "send": ("node", "msg", "to"),
    "zsend": ("node", "msg", "to", "packet"),
    "drop": ("node", "reason"),
    "deliver": ("node", "msg", "from"),
    "zdeliver": ("node", "msg", "from"),
    "state": ("node", "state"),
    "cmd": ("text", "ok"),
    "fault": ("id", "text", "op"),
    "heal": ("ids",),
    "conn": ("node", "peer", "up", "plane"),
    "mark": ("label",),
    "snapshot": ("nodes", "stable"),
    "invariant": ("name", "ok"),
    "break": ("id", "text", "at"),
    "pause": ("node",),
    "resume": ("node",),
    "footer": ("events", "end"),
    # 1.1: what a real server logged (zkfle import) or was seen doing
    "recv": ("node", "n", "my_state"),
    "sent": ("node", "to", "n"),
    "election": ("node", "proposal"),
    "fle_timeout": ("node", "timeout_ms"),
    "peer_state": ("node", "state"),
    "took": ("node", "state", "took_ms"),
    "zk": ("node", "what"),
    "log": ("node", "text"),
}
"""Fields every event of a known kind must have, besides `seq`, `t_ms` and `kind`."""
_REQUIRED_SETS = {kind: frozenset(fields) for kind, fields in EVENT_FIELDS.items()}

URGENT_KINDS = frozenset(
    {"cmd", "fault", "heal", "mark", "stop", "pause", "resume", "invariant", "break", "footer"}
)
"""Rare events a writer hands to the kernel at once: they matter most after a crash."""

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "traces" / "schema.json"


class TraceError(Exception):
    """A trace file that cannot be read: names the file, the 1-based line and the problem."""

    def __init__(self, path: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


# --- writing ------------------------------------------------------------------------------------


class TraceWriter:
    """Appends events to a new trace file, one complete line each (thread-safe).

    `write` checks that `seq` continues densely from the previous event. It costs about
    1 µs per event measured apart (2-3x that inside a simulation, whose caches it shares:
    BENCHMARKS.md); with `max_delay_ms=0` every line goes to the kernel as it is written,
    one write(2) each (about 2.5 µs per event); otherwise see the module docstring. A
    runtime that can go idle should call `flush()` from a periodic tick so that the last
    events of a quiet run reach the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: Mapping[str, Any],
        *,
        max_delay_ms: float = 5.0,
        max_buffer_bytes: int = 1 << 16,
        durable: bool = True,
    ) -> None:
        if header.get("format") != FORMAT_NAME or "version" not in header:
            raise ValueError(f"a trace header needs format {FORMAT_NAME!r} and a version")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._max_delay_s = max_delay_ms / 1000.0
        self._max_bytes = max_buffer_bytes
        self._durable = durable
        self._lock = threading.Lock()
        # One bytearray, not a list of lines: keeping thousands of orjson's bytes objects
        # alive costs ~2 µs per line in allocations, extending a bytearray ~0.05 µs.
        self._pending = bytearray()
        self._oldest = 0.0  # monotonic() of the oldest pending line
        self._next_seq = 1
        self._encoder = encoder_for(self.path)
        """For `.jsonl.gz` and `.jsonl.zst`: every flush is compressed and sync-flushed."""
        if not durable:
            _replace(self.path)
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644
        )
        self._flushed = 0
        """Bytes handed to the kernel so far (of a compressed trace, before compression)."""
        self._write_all(orjson.dumps(dict(header), option=orjson.OPT_APPEND_NEWLINE))

    @property
    def size(self) -> int:
        """Bytes written so far, header included (some may still wait in the buffer);
        of a compressed trace, before compression."""
        # Summed when asked (only a rotating writer asks, once an event) rather than
        # counted on every write.
        with self._lock:
            return self._flushed + len(self._pending)

    @property
    def next_seq(self) -> int:
        """The `seq` the next event must carry."""
        return self._next_seq

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, event: Mapping[str, Any]) -> None:
        """Append one event (a mapping with `seq`, `t_ms`, `kind`, ...)."""
        line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        # acquire/release rather than `with`: a with-statement's __enter__ and __exit__
        # calls were a fifth of this method, which a simulated election calls ~350 times.
        lock = self._lock
        lock.acquire()
        try:
            seq = event.get("seq")
            if seq != self._next_seq or self._fd is None:
                raise ValueError(self._refusal(seq))
            self._next_seq += 1
            pending = self._pending
            now = monotonic()
            if not pending:
                self._oldest = now
            pending += line
            if (
                len(pending) >= self._max_bytes
                or now - self._oldest >= self._max_delay_s
                or event.get("kind") in URGENT_KINDS
            ):
                self._flush_locked()
        finally:
            lock.release()

    def _refusal(self, seq: object) -> str:
        if self._fd is None:
            return f"{self.path}: write after close"
        return f"{self.path}: event seq {seq!r}, expected {self._next_seq}"

    def footer_event(self, t_ms: float, end: str = "ok") -> Event:
        """The footer that would close the trace now (`end`: ok, violation, aborted, or
        rotated: the run goes on in another file)."""
        n = self._next_seq
        return {"seq": n, "t_ms": t_ms, "kind": "footer", "events": n - 1, "end": end}

    def flush(self, *, fsync: bool = False) -> None:
        """Hand every written line to the kernel (and to the disk with `fsync`)."""
        with self._lock:
            if self._fd is None:
                return
            self._flush_locked()
            if fsync:
                os.fsync(self._fd)

    def close(self, footer: Mapping[str, Any] | None = None) -> None:
        """Write `footer` (if any: see `footer_event`), flush, fsync (if `durable`) and
        close. Idempotent."""
        if self._fd is None:
            return
        if footer is not None:
            if footer.get("kind") != "footer":
                raise ValueError(f"{self.path}: close() wants a footer event, got {footer!r}")
            self.write(footer)
        with self._lock:
            if self._fd is None:
                return
            try:
                self._flush_locked()
                if self._encoder is not None:
                    self._write_raw(self._encoder.finish())
                if self._durable:
                    os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush_locked(self) -> None:
        if self._pending:
            self._write_all(self._pending)
            self._pending.clear()

    def _write_all(self, data: bytes | bytearray) -> None:
        self._flushed += len(data)
        if self._encoder is not None:
            data = self._encoder.encode(data)
        self._write_raw(data)

    def _write_raw(self, data: bytes | bytearray) -> None:
        assert self._fd is not None
        written = os.write(self._fd, data)
        while written < len(data):  # a short write (a signal, a full disk): write the rest
            data = data[written:]
            written = os.write(self._fd, data)


def _replace(path: Path) -> None:
    """Unlink a regular file at `path`, so that the writer's O_CREAT makes a new one.

    Truncating the old file instead cost a short simulated run (~350 events, ~100 KB) a
    quarter to a third of what recording it cost in CPU, on ext4: the truncation frees the
    old blocks, and closing a file truncated to nothing makes ext4 start writing it back at
    once (its `auto_da_alloc` heuristic for rewritten files), in the writer's process - the
    next run over the same path then waits for that write. A new file's pages wait in the
    page cache. A reader of the old file keeps reading it whole. A symbolic link stays and
    is written through, as before; where unlinking fails, the file is truncated as before."""
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


_NAMES_A_SEQ = frozenset({"break", "invariant"})
"""Kinds whose `at` is the seq of an event before them (traces/README.md)."""


class RotatingTraceWriter:
    """A TraceWriter that goes on in a new file once the current one holds `max_bytes`.

    Part 2 of `run.jsonl` is `run.part2.jsonl` (of `run.jsonl.zst`, `run.part2.jsonl.zst`),
    and so on. A part ends with a footer whose
    `end` is "rotated" and whose `next` names the next part; the next part's header is the
    run's, with `parent` naming the part before it and its last seq - the header of a fork
    (traces/README.md), so that replaying or verifying a part replays the parts before it
    first, and nothing needs a new kind of event. Each part counts its events from seq 1.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: Mapping[str, Any],
        max_bytes: int,
        durable: bool = True,
    ) -> None:
        self.first = Path(path)
        self.header = dict(header)
        self.max_bytes = max_bytes
        self.durable = durable
        self.parts = 1
        self.writer = TraceWriter(path, header, durable=durable)
        self._offset = 0
        """Events in the parts before this one: the run's seq minus the part's."""

    @property
    def path(self) -> Path:
        """The part being written."""
        return self.writer.path

    @property
    def closed(self) -> bool:
        return self.writer.closed

    def write(self, event: Mapping[str, Any]) -> None:
        # A break or a violation names, as `at`, the seq of the event it follows: it stays
        # in that event's part, so that the part's marks point into the part.
        if self.writer.size >= self.max_bytes and event["kind"] not in _NAMES_A_SEQ:
            self._rotate(float(event["t_ms"]))
        if self._offset:
            event = {**event, "seq": event["seq"] - self._offset}
            if event["kind"] in _NAMES_A_SEQ and isinstance(event.get("at"), int):
                event["at"] -= self._offset
        self.writer.write(event)

    def _rotate(self, t_ms: float) -> None:
        self.parts += 1
        stem, dot, suffix = self.first.name.partition(".")
        name = f"{stem}.part{self.parts}{dot}{suffix}"
        last = self.writer.next_seq - 1
        footer = {**self.writer.footer_event(t_ms, "rotated"), "next": name}
        previous = self.writer.path
        self.writer.close(footer)
        self._offset += last
        header = {**self.header, "parent": {"trace": previous.name, "seq": last}}
        self.writer = TraceWriter(self.first.with_name(name), header, durable=self.durable)

    def footer_event(self, t_ms: float, end: str = "ok") -> Event:
        return self.writer.footer_event(t_ms, end)

    def flush(self, *, fsync: bool = False) -> None:
        self.writer.flush(fsync=fsync)

    def close(self, footer: Mapping[str, Any] | None = None) -> None:
        self.writer.close(footer)


def make_header(
    *,
    config: str,
    servers: Sequence[Mapping[str, Any]],
    timing: Mapping[str, Any],
    initial: Mapping[str, Mapping[str, Any]],
    runtime: str,
    transport: str,
    seed: int | None,
    label: str,
    created: datetime,
    parent: Mapping[str, Any] | None = None,
    tool_version: str = "0.1.0",
    python: str | None = None,
) -> Event:
    """A header of this VERSION. `config` is `QuorumVerifier.to_string()`; `servers` are
    `{"sid", "type", "weight"}`; `initial` maps sid strings to durable states in the trace
    form (`engine.trace.record.durable_json`); `created` is written as UTC."""
    stamp = created.astimezone(UTC) if created.tzinfo else created
    return {
        "format": FORMAT_NAME,
        "version": VERSION,
        "tool": {"name": "zkfle", "version": tool_version},
        "python": python or platform.python_version(),
        "runtime": runtime,
        "transport": transport,
        "seed": seed,
        "label": label,
        "created": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "parent": dict(parent) if parent is not None else None,
        "cluster": {"config": config, "servers": [dict(s) for s in servers]},
        "timing": dict(timing),
        "initial": {str(k): dict(v) for k, v in initial.items()},
    }


TRACE_DIR_ENV = "ZKFLE_TRACE_DIR"
"""Environment variable naming the default trace directory (else `traces`)."""


def default_trace_path(
    label: str, now: datetime, directory: str | os.PathLike[str] | None = None
) -> Path:
    """`traces/<yyyymmdd-HHMMSS>-<label>.jsonl`, with `-2`, `-3`, ... if it already exists.

    The directory is `directory`, else $ZKFLE_TRACE_DIR, else `traces`. The label is
    reduced to letters, digits, `_` and `-` so that it is a safe file name.
    """
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-") or "run"
    stem = f"{now.strftime('%Y%m%d-%H%M%S')}-{safe}"
    base = Path(directory if directory is not None else os.environ.get(TRACE_DIR_ENV, "traces"))
    path = base / f"{stem}.jsonl"
    n = 2
    while path.exists():
        path = base / f"{stem}-{n}.jsonl"
        n += 1
    return path


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TornLine:
    """The unreadable last line a crash mid-write leaves (the text is shortened)."""

    line: int
    text: str


class Trace:
    """A trace file opened for reading: the checked header, then events on iteration.

    Every iteration re-reads the file from line 2 and yields one dict per event, checked
    for a dense `seq`, a numeric `t_ms`, a `kind` and the fields of its kind. After an
    iteration ran to the end, `torn_line` and `footer` describe how the file ended.
    """

    def __init__(self, path: Path, header: Event, version: tuple[int, int], notes: list[str]):
        self.path = path
        self.header = header
        self.version = version
        self.notes = notes
        """Things a reader should tell the user (newer minor version, torn line, no footer)."""
        self.torn_line: TornLine | None = None
        self.footer: Event | None = None

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    @property
    def complete(self) -> bool:
        """The last iteration found a footer (the run ended normally)."""
        return self.footer is not None

    def events(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Event]:
        """The events with from_seq <= seq <= to_seq (the whole file is still checked up
        to `to_seq`, since a seq is only known to be right if every line before it is)."""
        path = self.path
        loads = orjson.loads
        required = _REQUIRED_SETS
        expected = 1
        lineno = 1
        footer: Event | None = None
        try:
            f: IO[bytes] = open_trace_file(path)
        except OSError as e:
            raise TraceError(path, 0, f"cannot open: {e.strerror or e}") from None
        with f:
            try:
                f.readline()  # the header, checked by read_trace
                for raw in f:
                    lineno += 1
                    try:
                        event = loads(raw)
                    except orjson.JSONDecodeError as e:
                        if not f.read(1):  # nothing after it: the last line, torn by a crash
                            if raw.strip():
                                self._torn(lineno, raw)
                            break
                        problem = "empty line"
                        if raw.strip():
                            problem = f"bad JSON at column {e.pos + 1}: {e.msg}"
                        raise TraceError(path, lineno, problem) from None
                    if type(event) is not dict:
                        raise TraceError(path, lineno, "an event must be a JSON object")
                    seq = event.get("seq")
                    if seq != expected or type(seq) is not int:
                        raise TraceError(path, lineno, _seq_problem(seq, expected))
                    if footer is not None:
                        problem = f"event after the footer (seq {footer['seq']})"
                        raise TraceError(path, lineno, problem)
                    kind = event.get("kind")
                    if type(kind) is not str:
                        raise TraceError(path, lineno, f"seq {seq}: 'kind' must be a string")
                    t_ms = event.get("t_ms")
                    if type(t_ms) is not float and type(t_ms) is not int:
                        raise TraceError(path, lineno, f"seq {seq}: 't_ms' must be a number")
                    fields = required.get(kind)
                    if fields is not None and not event.keys() >= fields:
                        missing = ", ".join(sorted(fields - event.keys()))
                        raise TraceError(path, lineno, f"seq {seq}: {kind} event lacks {missing}")
                    if kind == "footer":
                        if event["events"] != seq - 1:
                            says = f"footer says {event['events']} events"
                            raise TraceError(path, lineno, f"{says}, the file has {seq - 1}")
                        footer = event
                    expected += 1
                    if to_seq is not None and seq > to_seq:
                        return  # not at the end: torn_line and footer stay as they were
                    if seq >= from_seq:
                        yield event
            except CorruptTraceError as e:  # a compressed file's data is damaged
                raise TraceError(path, lineno + 1, str(e)) from None
        self.footer = footer
        if footer is None:
            self._note(f"no footer: the run did not finish (last seq {expected - 1})")

    def _torn(self, lineno: int, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\n")
        if len(text) > 120:
            text = text[:120] + "..."
        self.torn_line = TornLine(lineno, text)
        self._note(f"line {lineno} is torn (the writer was killed mid-line); kept lines before it")

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)


NOT_A_TRACE = "not a zkfle trace"
MAX_HEADER_BYTES = 1 << 24
"""Far more than any header (its config text lists every server)."""
_HEADER_START = orjson.dumps({"format": FORMAT_NAME})[:-1]
"""How every header a TraceWriter writes begins: only such a line can be a torn header."""


def _seq_problem(seq: object, expected: int) -> str:
    if seq is None:
        return f"event without 'seq' (expected {expected})"
    if type(seq) is not int:
        return f"'seq' must be an integer, got {seq!r}"
    return f"seq {seq} where {expected} was expected (seq must count 1, 2, 3, ... without gaps)"


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Open a trace: read and check its header now; iterate the result for the events."""
    p = Path(path)
    try:
        with open_trace_file(p) as f:
            raw = f.readline(MAX_HEADER_BYTES)  # a file without newlines is not read whole
            rest = f.read(1)
    except OSError as e:
        raise TraceError(p, 0, f"cannot read: {e.strerror or e}") from None
    if not raw.strip():
        raise TraceError(p, 1, "empty file: no header line")
    try:
        header = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        start = re.sub(rb"\s", b"", raw[:64])[: len(_HEADER_START)]
        if not _HEADER_START.startswith(start):
            raise TraceError(p, 1, f"{NOT_A_TRACE}: line 1 is not a trace header") from None
        torn = " (torn: the writer was killed while writing it)" if not rest else ""
        raise TraceError(p, 1, f"bad JSON in the header{torn}: {e}") from None
    if type(header) is dict and "format" not in header and "seq" in header:
        raise TraceError(p, 1, "the header is missing: line 1 is an event")
    if type(header) is not dict or "format" not in header:
        raise TraceError(p, 1, f"{NOT_A_TRACE}: line 1 is not a trace header")
    if header.get("format") != FORMAT_NAME:
        raise TraceError(
            p, 1, f"{NOT_A_TRACE}: format is {header.get('format')!r}, not {FORMAT_NAME!r}"
        )
    version = _parse_version(p, header.get("version"))
    notes: list[str] = []
    if version[0] != MAJOR:
        raise TraceError(
            p,
            1,
            f"trace format version {header['version']} cannot be read by this zkfle, which "
            f"reads version {MAJOR}.x; open it with a zkfle that reads version {version[0]}",
        )
    if version[1] > MINOR:
        notes.append(
            f"trace format version {header['version']} is newer than this reader's {VERSION}: "
            "fields and kinds it does not know are ignored"
        )
    missing = [name for name in HEADER_FIELDS if name not in header]
    if missing:
        raise TraceError(p, 1, f"the header lacks {', '.join(missing)}")
    cluster = header["cluster"]
    if type(cluster) is not dict or "config" not in cluster or "servers" not in cluster:
        raise TraceError(p, 1, "the header's cluster must have config and servers")
    return Trace(p, header, version, notes)


def iter_events(path: str | os.PathLike[str]) -> Iterator[Event]:
    """Shortcut: the events of a trace file, streamed."""
    return iter(read_trace(path))


def _parse_version(path: Path, value: object) -> tuple[int, int]:
    # Bounded: int() refuses more than 4300 digits, and no version has ten.
    m = re.fullmatch(r"([0-9]{1,9})\.([0-9]{1,9})", value) if isinstance(value, str) else None
    if m is None:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:40] + "..."
        raise TraceError(path, 1, f'version must be "MAJOR.MINOR", got {shown}')
    return int(m.group(1)), int(m.group(2))


# --- schema validation ------------------------------------------------------------------------


def load_schema() -> Event:
    """The JSON Schema (draft 2020-12) of one trace line, from traces/schema.json."""
    schema: Event = orjson.loads(SCHEMA_PATH.read_bytes())
    return schema


def validate(path: str | os.PathLike[str]) -> list[str]:
    """Check every line of a trace against the JSON Schema; returns `path:line: problem`
    strings (empty when valid). Needs `jsonschema` (a test dependency). Lines the reader
    cannot parse at all are reported as the reader's TraceError message."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    problems: list[str] = []

    def check(line: int, obj: Event) -> None:
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(line)"
            problems.append(f"{path}:{line}: {where}: {err.message}")

    try:
        trace = read_trace(path)
        check(1, trace.header)
        for lineno, event in enumerate(trace, start=2):
            check(lineno, event)
    except TraceError as e:
        problems.append(str(e))
    return problems
