"""`zkfle import`: ZooKeeper server logs to one zkfle trace (format 1.1, runtime `imported`).

Theory of operation
-------------------
Every file is read once, in bounded memory. Each record becomes one event - a fact
engine.trace.zklog recognised, or a `log` event keeping the line verbatim - spilled in sorted
runs of at most `RUN_EVENTS` events per *source*: a server the line names itself
(`[myid:N]`, `myid=N` in a thread name), or else the stream it came from (a file, or one
wrapper prefix in it: `zoo1_1  | `). Meanwhile each stream collects the evidence of which
server wrote it (ids the lines carry, ids the messages state, the prefix, the file name),
the timing the servers logged, and for the clock skew (engine.replay.clockskew) when each server
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

import multiprocessing
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from engine.core.vote import Sid
from engine.replay.zkimport.files import expand
from engine.replay.zkimport.runs import Runs, merged_runs
from engine.replay.zkimport.scan import read_file
from engine.replay.zkimport.servers import (
    cluster_of,
    decide_ids,
    logs_only,
    resolve_source,
    senders_of,
    servers_of,
    skew_of,
)
from engine.replay.zkimport.sources import LogFile, Source, Tally
from engine.replay.zkimport.summary import ImportSummary
from engine.trace.compressed import EncodedFile, encoder_for
from engine.trace.format import make_header

PARALLEL_BYTES = 64 << 20
"""Logs larger than this together are read by up to one process per CPU, a file each
(the trace is the same)."""
MAX_EXAMPLES = 5
"""Unplaced lines named in the summary (the counts cover all of them)."""


class LogImportError(Exception):
    """Nothing could be imported: says why (and names the files)."""


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
    `log_lines` False, only the statements engine.trace.zklog recognises become events (what
    `zkfle explain` reads; the other lines are still counted).

    Raises LogImportError when nothing at all could be imported (no file, no timestamped
    line a server could be found for), engine.core.quorum.error.ConfigError for a bad zoo.cfg."""
    files, notes = expand(paths)
    warnings: list[str] = []
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zkfle-import-") as tmp:
        runs, tallies = _read_all(files, Path(tmp), log_lines)
        for f in files:
            decide_ids(f, myid, warnings)
        logs, skipped = logs_only(files)
        notes += skipped + [f.note for f in logs if f.note]
        if not any(f.streams for f in logs):
            raise LogImportError("nothing could be imported: " + "; ".join(notes or ["no files"]))

        def place(source: Source, thread: str) -> Sid | None:
            if source[0] == "stream" and source[3] is None and thread:
                return resolve_source(files, (*source[:3], thread))
            return resolve_source(files, source)

        servers, no_server, examples = servers_of(files, tallies)
        if not servers:
            raise LogImportError(
                "nothing could be imported: no line names its server; say which with --myid"
            )
        skew = skew_of(logs, sorted(servers))
        offsets = {sid: round(k.offset_ms * 1000) for sid, k in skew.items()}  # µs
        t0 = min(
            round(tally.first_ms * 1000) - offsets.get(sid, 0)
            for source, tally in tallies.items()
            if (sid := resolve_source(files, source)) is not None
        )
        sids = set(servers) | set(senders_of(logs))
        qv, timing, assumed = cluster_of(logs, config, sids, warnings)
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
        events = _write(out_path, header, merged_runs(runs, place, offsets), t0)
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
    files: list[LogFile], directory: Path, log_lines: bool = True
) -> tuple[Runs, dict[Source, Tally]]:
    """Read every file (in parallel for big inputs); the runs and counts of all."""
    runs = Runs(directory)
    tallies: dict[Source, Tally] = {}
    workers = min(len(files), os.cpu_count() or 1)
    if workers < 2 or sum(_size(f.path) for f in files) < PARALLEL_BYTES:
        for index, f in enumerate(files):
            read_file(index, f, runs, tallies, log_lines)
        return runs, tallies
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        n = len(files)
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
    index: int, f: LogFile, directory: Path, log_lines: bool
) -> tuple[LogFile, dict[Source, Tally], list[tuple[Source, Path]]]:
    """One file in a worker process: its evidence, counts and spilled runs."""
    runs = Runs(directory, f"f{index}-")
    tallies: dict[Source, Tally] = {}
    read_file(index, f, runs, tallies, log_lines)
    runs.spill()
    return f, tallies, runs.runs


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _write(
    path: Path, header: dict[str, Any], events: Iterator[tuple[int, int, Sid, bytes]], t0: int
) -> int:
    """Header, events numbered from 1 with t_ms from t0 (both in µs), footer; written to a
    temporary name and renamed, so a failed import leaves no half trace."""
    tmp = path.with_name(path.name + ".part")
    seq = 0
    last = 0
    with open(tmp, "wb") as f:
        out = EncodedFile(f, encoder_for(path))
        out.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))
        write = out.write
        for us, _, sid, body in events:
            seq += 1
            last = us - t0
            ms, frac = divmod(last, 1000)
            write(b'{"seq":%d,"t_ms":%d.%03d,"node":%d,%b\n' % (seq, ms, frac, sid, body[1:]))
        footer = {"seq": seq + 1, "t_ms": last / 1000, "kind": "footer", "events": seq, "end": "ok"}
        out.write(orjson.dumps(footer, option=orjson.OPT_APPEND_NEWLINE))
        out.finish()
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return seq
