"""Who is who: the server each stream's lines belong to, the servers' clock offsets, the
cluster and timing of the header, and the counts per server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from engine.core.config import load_zoo_cfg
from engine.core.election import (
    FINALIZE_WAIT_MS,
    MAX_NOTIFICATION_INTERVAL_MS,
    MIN_NOTIFICATION_INTERVAL_MS,
)
from engine.core.quorum.majority import QuorumMaj
from engine.core.quorum.server import QuorumServer
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import LearnerType, Sid
from engine.replay.clockskew import Skew, SkewEstimator
from engine.replay.zkimport.files import id_from_name
from engine.replay.zkimport.sources import LogFile, Source, Tally, VoteKey, keep_first
from engine.replay.zkimport.summary import ServerStats

ASSUMED_TIMING = {"tick_time_ms": 2000, "init_limit": 10, "sync_limit": 5}
"""zoo_sample.cfg's values, for logs that never say theirs and no --config; the header
lists such values under `source.assumed`."""


def decide_ids(f: LogFile, myid: Sid | None, warnings: list[str]) -> None:
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


def resolve_source(files: list[LogFile], source: Source) -> Sid | None:
    """The server a source's lines belong to, as the evidence decided."""
    if source[0] == "sid":
        return int(source[1])
    _, index, prefix, thread = source
    stream = files[index].streams[prefix]
    if stream.sid is not None:
        return stream.sid
    return stream.by_thread.get(thread) if thread is not None else None


def skew_of(files: list[LogFile], servers: list[Sid]) -> dict[Sid, Skew]:
    """Offsets from every vote a server sent (see the module doc) that another server
    logged receiving from it."""
    sent: dict[tuple[Sid, VoteKey], float] = {}
    received: dict[tuple[Sid, Sid, VoteKey], float] = {}
    for f in files:
        for stream in f.streams.values():
            for key3, ms in stream.first_recv.items():
                keep_first(received, key3, ms)
            for key2, ms in stream.first_sent.items():
                keep_first(sent, key2, ms)
    estimator = SkewEstimator()
    for (receiver, sender, key), ms in sorted(received.items()):
        sent_ms = sent.get((sender, key))
        if sent_ms is not None:
            estimator.pair(sender, sent_ms, receiver, ms)
    return estimator.estimate(servers)


# --- the cluster ---------------------------------------------------------------------------------


def cluster_of(
    files: list[LogFile], config: Path | None, sids: set[Sid], warnings: list[str]
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


def servers_of(
    files: list[LogFile], tallies: dict[Source, Tally]
) -> tuple[dict[Sid, ServerStats], int, list[str]]:
    """Every source's counts summed per server it resolved to; lines of sources that did
    not resolve are unplaced (with an example each)."""
    servers: dict[Sid, ServerStats] = {}
    no_server = 0
    examples = []
    for source, tally in tallies.items():
        sid = resolve_source(files, source)
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


def logs_only(files: list[LogFile]) -> tuple[list[LogFile], list[str]]:
    """The files that are logs; files found in a directory that are not (configs,
    snapshots) are summed up in one line per directory - a file named on its own keeps the
    line that says what it is."""
    skipped: dict[str, list[LogFile]] = {}
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


def senders_of(files: list[LogFile]) -> Iterator[Sid]:
    """Servers the logs heard from without reading their own log."""
    for f in files:
        for stream in f.streams.values():
            for _, sender, _ in stream.first_recv:
                if 0 < sender < 1 << 31:
                    yield sender
