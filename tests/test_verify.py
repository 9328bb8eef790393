"""`zkfle verify` as a whole command: what it loads, and (engine.replay.verify) what it
reports."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from engine.core.jute.archive import Reader
from engine.core.jute.snapshot import SnapshotDump
from engine.core.peer.io import PacketReceived
from engine.replay.cores import CoreReplay, ReplayError
from engine.replay.verify import verify
from engine.trace.format import read_trace
from engine.trace.record import packet_json

ROOT = Path(__file__).resolve().parent.parent
FAILOVER = ROOT / "traces" / "examples" / "leader_failover.jsonl"

_MODULES_AFTER = """
import sys
from console.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as e:
    status = e.code
print(status)
print(" ".join(sorted(sys.modules)))
"""

NOT_FOR_VERIFY = (
    "textual",
    "rich",
    "kazoo",
    "asyncio",
    "console.app",
    "console.zktools",
    "console.explaintool",
    "engine.control.cluster",
    "engine.runtime.sim",
    "engine.runtime.threads",
    "engine.runtime.node",
    "engine.bench",
    "engine.explore",
    "multiprocessing",
)
"""What `zkfle verify` has no use for: the console, the runtimes, the benches, exploring,
worker processes."""


def modules_after(*args: str, cwd: Path = ROOT) -> tuple[str, set[str]]:
    """Run `zkfle ARGS` in a fresh interpreter: its exit status and the modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )
    lines = done.stdout.splitlines()
    return lines[-2], set(lines[-1].split())


def test_verify_imports_the_verifier_not_the_console_or_the_runtimes() -> None:
    status, modules = modules_after("verify", str(FAILOVER))
    assert status == "0"
    assert "engine.replay.verify" in modules
    assert [m for m in sorted(modules) if _under(m, NOT_FOR_VERIFY)] == []


def test_verify_help_loads_no_more_than_verify() -> None:
    status, modules = modules_after("verify", "--help")
    assert status == "0"
    assert [m for m in sorted(modules) if _under(m, NOT_FOR_VERIFY)] == []


def test_the_full_help_still_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0
    for name, help_start in [
        ("verify", "re-execute a trace"),
        ("export", "write a trace as"),
        ("import", "turn ZooKeeper server logs"),
        ("check", "model-check a real run"),
        ("explain", "why was there no leader"),
        ("node", "run one server over TCP"),
        ("bench", ""),
        ("explore", "search fault schedules"),
    ]:
        assert any(
            line.split()[:1] == [name] and help_start in line for line in done.stdout.splitlines()
        ), (name, done.stdout)


def test_another_command_after_an_option_value_named_like_one_still_parses(
    tmp_path: Path,
) -> None:
    """`--trace verify` names a file: the command is what follows it (every word that names
    a command has its parser loaded)."""
    args = ("--trace", "verify", "--sim", "--seed", "3", "run", "--json")
    status, _ = modules_after(*args, cwd=tmp_path)
    assert status == "0"
    header = orjson.loads((tmp_path / "verify").read_bytes().splitlines()[0])
    assert header["seed"] == 3


def _under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


# --- SNAP dumps: decoded once -------------------------------------------------------------------

THREADED = ROOT / "traces" / "examples" / "threaded_faults.jsonl"


def test_a_learner_gets_the_dump_its_leader_sent_without_decoding_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each SNAP dump a learner consumed was sent by a leader whose step replay had
    re-executed: the learner gets that dump (the same value) instead of decoding its hex
    again, and every output still matches."""
    dumps_in_inputs = sum(
        1
        for line in THREADED.read_bytes().splitlines()[1:]
        if b'"input":{"type":"packet"' in line and b'"type":"dump"' in line
    )
    assert dumps_in_inputs > 0

    def decode_again(cls: type[SnapshotDump], r: Reader) -> SnapshotDump:
        raise AssertionError(f"a dump decoded again at byte {r.pos}")

    monkeypatch.setattr(SnapshotDump, "read_sync", classmethod(decode_again))
    assert verify(THREADED).ok


def test_a_recorded_dump_unlike_the_one_sent_is_decoded_from_its_own_bytes() -> None:
    """A learner's recorded dump with other bytes than its leader's send is what the
    learner gets: the kept dumps never stand in for different bytes."""
    trace = read_trace(THREADED)
    replay = CoreReplay(trace.header, str(THREADED))
    for event in trace:
        inp = event.get("input") if event["kind"] == "step" else None
        if inp is not None and inp["type"] == "packet" and inp["packet"]["type"] == "dump":
            break
        replay.apply(event)
    else:
        raise AssertionError("no dump in the trace")
    sent = SnapshotDump.read_sync(Reader(bytes.fromhex(inp["packet"]["data"])))
    other = replace(sent, sessions=(*sent.sessions, (0x5EED, 30_000)))
    tampered = {**event, "input": {**inp, "packet": packet_json(other, whole=True)}}
    replay.step(tampered)
    assert isinstance(replay.last_input, PacketReceived)
    assert replay.last_input.packet == other != sent


# --- traces older than ZooKeeper's Zab in zkfle (format < 1.4) --------------------------------

OLD = ROOT / "tests" / "data" / "traces" / "failover3.jsonl"
"""Format 1.0: an election of three and a failover; its leaders and learners ran zkfle's
simplified Zab, whose leader waited otherwise once elected."""


def test_an_old_trace_is_refused_where_its_nodes_were_elected_not_called_divergent() -> None:
    """Regression: a 1.0-1.3 trace reported a DIVERGENCE at its first leader's decision
    (the pre-1.4 leader waited 500 ms, ZooKeeper's Zab leader waits a tick), which said the
    trace was wrong where only the recording zkfle was older."""
    with pytest.raises(ReplayError) as e:
        verify(OLD)
    assert e.value.line == 84
    assert "seq 83: this trace (version 1.0) was recorded when zkfle's nodes ran a" in str(e.value)
    assert "record the run again" in str(e.value)


def test_an_old_trace_still_diverges_in_its_election(tmp_path: Path) -> None:
    """What happened while every node was LOOKING is FLE, which the old cores ran as this
    one does: a changed output there is a divergence as before."""
    lines = OLD.read_bytes().splitlines(keepends=True)
    at = next(
        i
        for i, line in enumerate(lines)
        if b'"kind":"step"' in line and b'"wait_ms"' in line and b'"LOOKING"' in line
    )
    event = orjson.loads(lines[at])
    event["output"]["wait_ms"] += 1
    lines[at] = orjson.dumps(event) + b"\n"
    path = tmp_path / "old.jsonl"
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert result.divergence is not None
    assert result.divergence.seq == event["seq"]


# --- traces older than the kept epoch zxid (format < 1.5) -------------------------------------

STEPPED_DOWN = ROOT / "tests" / "data" / "traces" / "stepped_down-1.4.jsonl"
"""Format 1.4, recorded by zkfle before 1.5 (simulator, seed 7): n3 leads three nodes
(epoch 1), is cut off from n1 and n2, steps down and votes again - with its log's 0x0,
where ZooKeeper's database kept 0x100000000 (ZOOKEEPER-2845)."""


def test_an_old_trace_of_a_leader_that_stepped_down_is_refused_with_the_reason() -> None:
    """Regression: such a trace verified under the old cores; now it would diverge at the
    ex-leader's new vote, which says the trace is wrong where only its zkfle was older."""
    with pytest.raises(ReplayError) as e:
        verify(STEPPED_DOWN)
    assert e.value.line == 229
    message = str(e.value)
    assert "seq 228: this trace (version 1.4) was recorded when zkfle's nodes forgot" in message
    assert "n3 here keeps 0x100000000" in message
    assert "its log's 0x0" in message
    assert "record the run again" in message


# --- traces older than the txns' digests (format < 1.6) ---------------------------------------

UNDIGESTED = ROOT / "tests" / "data" / "traces" / "leader_failover-1.5.jsonl"
"""Format 1.5: the first 380 lines of traces/examples/leader_failover.jsonl as zkfle
recorded it before 1.6; its leader n5 proposes two writes at seq 372, without digests."""


def test_an_old_trace_whose_leader_proposes_is_refused_with_the_reason() -> None:
    """Regression: the leader's PROPOSALs now carry the tree's digest (ZOOKEEPER-3114), so
    re-executing such a trace would report its bytes as a divergence."""
    with pytest.raises(ReplayError) as e:
        verify(UNDIGESTED)
    assert e.value.line == 373
    message = str(e.value)
    assert "seq 372: this trace (version 1.5) was recorded when zkfle's leaders sent" in message
    assert "n5 here sends each with it" in message
    assert "record the run again" in message


@pytest.mark.parametrize(("trace", "refused_at"), [(STEPPED_DOWN, 228), (UNDIGESTED, 372)])
def test_an_old_trace_re_executes_up_to_where_it_is_refused(
    trace: Path, refused_at: int, tmp_path: Path
) -> None:
    """Everything before the refused step - the ex-leader's vote, the first digested
    proposal - re-executes as before: the refusal is where the cores differ, not the
    version."""
    lines = trace.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[:refused_at]))  # the header and the events before it
    result = verify(cut)
    assert result.divergence is None
    assert result.ok
    assert result.events == refused_at - 1
