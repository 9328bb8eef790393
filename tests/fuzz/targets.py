"""Fuzz targets: each parser zkfle applies to input it does not control, as one function of
bytes that may raise only the parser's typed error.

The same targets serve three drivers: the hypothesis tests next to this file (small, in the
suite), atheris (`tools.fuzz_atheris`, coverage-guided, the campaign) and the seeded
mutation fuzzer of `tools.campaign` (when atheris is not installed). A target raising
anything but its typed error - or an assertion of a property it checks on the way, such as
"a command's canonical text parses back to the same command" - is a finding.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from engine.control import commands
from engine.control.cluster import Cluster, ClusterOptions
from engine.control.predicates import CommandError
from engine.core.config import ConfigError, parse_zoo_cfg
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorumpacket import JuteError, QuorumStreamDecoder
from engine.core.view import ClusterView
from engine.core.vote import Notification, ServerState, ToSend
from engine.core.wire import (
    PROTOCOL_VERSION_V2,
    EndOfStreamError,
    WireError,
    build_payload,
    bytes_reader,
    decode_notification,
    drop_wildcard_addresses,
    encode_frame,
    encode_initial_message,
    encode_notification,
    read_frame,
    read_initial_message,
)
from engine.trace.format import TraceError, read_trace
from engine.trace.zklog import layout, statements


@dataclass(frozen=True)
class Target:
    """One parser under fuzzing: `run(data)` may raise only `errors`."""

    name: str
    run: Callable[[bytes], object]
    errors: tuple[type[Exception], ...]
    what: str


def reader(data: bytes, chunk: int = 1 << 30) -> Callable[[int], bytes]:
    """A `socket.recv`-like read over `data`, returning at most `chunk` bytes a call."""
    read = bytes_reader(data)
    return lambda n: read(min(n, chunk))


def text_of(data: bytes) -> str:
    """Bytes as the text a user or a file could hand us (invalid UTF-8 kept as U+FFFD)."""
    return data.decode("utf-8", "replace")


# --- the wire ------------------------------------------------------------------------------------


def notification(data: bytes) -> object:
    """WorkerReceiver's decoding of one frame's payload (any length)."""
    return decode_notification(data, 7)


def handshake(data: bytes) -> object:
    """The accepting side's reading of a connection's first bytes (InitialMessage.parse),
    then ZOOKEEPER-2164's wildcard filter; the first byte picks how TCP splits the rest."""
    chunk = data[0] + 1 if data else 1
    msg = read_initial_message(reader(data[1:], chunk))
    return drop_wildcard_addresses(msg)


def frames(data: bytes) -> object:
    """RecvWorker on a byte stream: frames until the stream ends, each payload decoded."""
    read = reader(data)
    decoded: list[Notification] = []
    while True:
        try:
            payload = read_frame(read)
        except EndOfStreamError:
            return decoded
        try:
            decoded.append(decode_notification(payload, 7))
        except WireError:
            continue  # ZOOKEEPER-3769: a malformed notification is skipped, the stream goes on


def quorum_stream(data: bytes) -> object:
    """The Zab stream decoder fed in pieces as TCP delivers them (the first byte picks the
    piece size), then the same bytes in one piece: both must cut the same items."""
    step = (data[0] if data else 0) + 1
    body = data[1:]
    pieces = QuorumStreamDecoder()
    whole = QuorumStreamDecoder()
    items = []
    try:
        for i in range(0, len(body), step):
            items += pieces.feed(body[i : i + step])
    except JuteError:
        try:
            whole.feed(body)
        except JuteError:
            return items
        raise AssertionError("fed in pieces the stream failed, fed whole it did not") from None
    assert whole.feed(body) == items, "pieces and whole cut different items"
    return items


# --- text the user writes ---------------------------------------------------------------------


@functools.cache
def sample_view() -> ClusterView:
    """A running 5-node cluster's view, to evaluate fuzzed predicates against."""
    options = ClusterOptions(nodes=5, runtime="sim", seed=1, record=False)
    with Cluster(options) as cluster:
        cluster.execute("start")
        cluster.execute("wait until stable within 5s")
        cluster.execute("crash 2")
        return cluster.view()


def command(data: bytes) -> object:
    """One command line: it parses or says why; a parsed command's canonical text parses
    back to the same command (how traces record commands); a predicate evaluates."""
    cmd = commands.parse(text_of(data))
    again = commands.parse(cmd.text)
    assert again == cmd, f"{cmd.text!r} parses back as {again.text!r}"
    predicate = getattr(cmd, "predicate", None)
    if predicate is not None:
        predicate.evaluate(sample_view())
    return cmd


def script(data: bytes) -> object:
    """A `.fle` script: every line parses, or ScriptError names every bad line."""
    return commands.parse_script(text_of(data), "fuzz.fle")


def zoo_cfg(data: bytes) -> object:
    """A zoo.cfg file, and the same text as a dynamic config (what notifications carry)."""
    text = text_of(data)
    try:
        parse_zoo_cfg(text, "fuzz.cfg", myid=1)
    finally:
        parse_dynamic_config(text)
    return None


# --- files ---------------------------------------------------------------------------------------

_SCRATCH = os.environ.get("ZKFLE_FUZZ_DIR") or None


def trace_file(data: bytes) -> object:
    """A trace file: the header is checked, every event read to the end of the file."""
    with tempfile.NamedTemporaryFile(prefix="zkfle-fuzz-", suffix=".jsonl", dir=_SCRATCH) as f:
        f.write(data)
        f.flush()
        trace = read_trace(Path(f.name))
        return sum(1 for _ in trace), trace.torn_line, trace.complete


def zk_log(data: bytes) -> object:
    """ZooKeeper log text, as `zkfle import` reads it: tolerant, so nothing may raise, and
    every fact it draws fits a trace event (orjson: integers of 64 bits at most)."""
    lines = enumerate(text_of(data).split("\n"), 1)
    facts = []
    for record in layout.read_records(lines):
        if isinstance(record, layout.Record):
            fact = statements.recognise(record)
            statements.id_evidence(record, fact)
            if fact is not None:
                orjson.dumps(fact.fields)
                facts.append(fact)
    return facts


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("notification", notification, (WireError,), "core/wire.py decode_notification"),
        Target("handshake", handshake, (WireError,), "core/wire.py read_initial_message"),
        Target("frames", frames, (WireError,), "core/wire.py read_frame"),
        Target("quorumpacket", quorum_stream, (JuteError,), "core/quorumpacket.py"),
        Target("command", command, (CommandError,), "control/commands.py parse, predicates"),
        Target("script", script, (CommandError,), "control/commands.py parse_script"),
        Target("zoocfg", zoo_cfg, (ConfigError,), "core/config.py, core/quorum/parse.py"),
        Target("trace", trace_file, (TraceError,), "trace/format.py read_trace"),
        Target("zklog", zk_log, (), "trace/zklog/ layout, statements"),
    )
}


# --- seeds and mutations -------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
_CONFIG = (
    "server.1=127.0.0.1:2888:3888:participant\n"
    "server.2=127.0.0.1:2889:3889:participant\n"
    "server.3=[::1]:2890:3890:observer;2181\nversion=100000000"
)


def _seed_notifications() -> list[bytes]:
    looking = ToSend(3, 0x100000005, 2, ServerState.LOOKING, 1, 1, _CONFIG)
    return [
        encode_notification(looking),
        build_payload(1, 3, 0x100000005, 2),  # 28 bytes, <= 3.3
        build_payload(2, 3, 0x100000005, 2, 1, 1),  # 40 bytes, 3.4.6+
        build_payload(0, 3, 5, 2, 1, 2, b"server.1=x", config_length=200),
    ]


def seeds(name: str) -> list[bytes]:
    """Valid (and nearly valid) inputs of a target: where mutations start from."""
    from tests.test_quorumpacket import sync_by_snapshot

    if name == "notification":
        return _seed_notifications()
    if name == "handshake":
        v2 = encode_initial_message(
            5, [("10.0.0.5", 3888), ("[fe80::1]", 3889), ("0.0.0.0", 1)], PROTOCOL_VERSION_V2
        )
        return [
            b"\x00" + encode_initial_message(3, [("127.0.0.1", 3888)]),
            b"\x03" + v2,
            b"\x00" + encode_initial_message(4, (), None),
        ]
    if name == "frames":
        return [b"".join(encode_frame(p) for p in _seed_notifications())]
    if name == "quorumpacket":
        return [b"\x00" + b"".join(sync_by_snapshot()), b"\x06" + b"".join(sync_by_snapshot())]
    if name == "command":
        lines = [
            "crash leader,3 for=2s",
            "partition majority|minority",
            "delay 1->* 200ms jitter=50ms",
            "wait until (n3.state == LOOKING or leaders >= 1) and not n2.alive within 1.5s",
            "expect n3.last_zxid == 0x100000001",
            'mark "after the \\"crash\\""',
            "set 3 epoch=2 zxid=0x200000003",
            "break on drop reason=partition",
            "seek @1.5s",
        ]
        return [line.encode() for line in lines]
    if name == "script":
        return [p.read_bytes() for p in sorted((REPO / "traces" / "examples").glob("*.fle"))]
    if name == "zoocfg":
        return [
            b"tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/x\n"
            b"server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889:observer\n"
            b"group.1=1:2\nweight.1=1\nweight.2=0\n",
            _CONFIG.encode(),
        ]
    if name == "trace":
        traces = sorted((REPO / "tests" / "data" / "traces").glob("*.jsonl"))
        return [p.read_bytes()[:20000] for p in traces]
    if name == "zklog":
        logs = sorted((REPO / "tests" / "data" / "zklogs").rglob("*.log"))
        return [p.read_bytes()[:20000] for p in logs]
    raise KeyError(name)


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """A few random edits of `data`: flip, set to an edge value, insert, delete, duplicate
    a span, splice in a span of another input from `pool`, truncate, insert a long number."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[min(at, len(out) - 1)] = rng.choice((0, 0x7F, 0x80, 0xFF, 0x0A, 0x3A, 0x7C))
        elif op == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and out:
            del out[at : at + rng.randint(1, 16)]
        elif op == 4 and out:
            span = out[at : at + rng.randint(1, 32)]
            out[at:at] = span
        elif op == 5 and pool:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            out[at:at] = other[start : start + rng.randint(1, 64)]
        elif op == 6:
            del out[at:]
        elif op == 7:  # a number longer than int() converts (4300 digits)
            out[at:at] = str(rng.randrange(1, 10)).encode() * rng.choice((20, 4301))
    return bytes(out)


def check(target: Target, data: bytes) -> None:
    """Run one input; the typed error is the expected way to refuse it."""
    with contextlib.suppress(*target.errors):
        target.run(data)
