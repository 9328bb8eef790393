"""The one pass over a file: each record to an event (a fact, or a `log` event keeping the
line), spilled per source, and the evidence of who wrote it and when it sent each vote.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from engine.core.vote import Sid
from engine.replay.zkimport.files import records
from engine.replay.zkimport.runs import Runs
from engine.replay.zkimport.sources import (
    Causes,
    LogFile,
    Source,
    Stream,
    Tally,
    VoteKey,
    keep_first,
)
from engine.trace.zklog.layout import Record, Untimed
from engine.trace.zklog.statements import Fact, id_evidence, recognise, record_event


def _vote_key(n: dict[str, Any]) -> VoteKey | None:
    if n.get("state") != "LOOKING" or "peer_epoch" not in n:
        return None
    return (n["leader"], n["zxid"], n["election_epoch"], n["peer_epoch"])


def read_file(
    index: int, f: LogFile, runs: Runs, tallies: dict[Source, Tally], log_lines: bool = True
) -> None:
    """The one pass over a file (see the module doc); without `log_lines`, records that are
    none of the statements engine.trace.zklog knows are counted but make no event."""

    def note(text: str) -> None:
        f.note = text

    src = orjson.dumps(f.shown)[:-1]
    streams = f.streams
    seen: dict[Source, Tally] = {}
    """The tallies this file added to (a server's tally may have come from an earlier one)."""
    base = index << 32
    for item in records(f, note):
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
            stream = streams[item.prefix] = Stream(item.prefix)
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
                tally = tallies[tally_key] = Tally(example=f"{f.shown}:{item.lineno}")
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
    stream: Stream, fact: Fact, line_id: int | None, writer: Sid | None, ms: float
) -> None:
    kind = fact.kind
    if writer is not None and kind in ("recv", "sent", "election"):
        causes = stream.causes.get(writer)
        if causes is None:
            causes = stream.causes[writer] = Causes()
        if kind == "election":
            causes.election(ms)
            return
        key = _vote_key(fact.fields["n"])
        if key is None:
            return
        if kind == "sent":  # a DEBUG line: the send itself
            keep_first(stream.first_sent, (writer, key), ms)
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
    event = record_event(record, fact)
    event["src"] = f"{shown}:{record.lineno}"
    if record.exception is not None and "exception" not in event:
        event["exception"] = record.exception
    if record.more:
        event["more"] = record.more
    # orjson's bytes keep a 4 KiB buffer: copy them to their size before keeping them
    return memoryview(orjson.dumps(event)).tobytes()
