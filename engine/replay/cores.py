"""Re-execution on fresh cores: the ★ events of a trace (`boot`, `stop`, `step`) fed to
new `QuorumPeer`s, each output compared with the recorded one.

A trace records every input each node's core consumed and every output it produced
(DESIGN §2.3). Replay rebuilds a `QuorumPeer` at each `boot` event (from the header's
config and timing and the event's durable state), forgets it at `stop`, and feeds it the
input of each of its `step` events at the step's `t_ms`; the output it returns, in the
trace's JSON form (`engine.trace.record.output_json`), must equal the recorded one. The
first mismatch is a `Divergence`. Nothing else is needed to re-execute - a node's Zab
data (snapshot, txn log) is what the durable actions of its core's outputs left, which
`stop` keeps for the next `boot` - so a trace of the free-running threaded runtime
replays exactly on one thread: steps of different nodes interleave, but per node they
are in consumption order, and each core only sees its own.

On top of `CoreReplay`: `engine.replay.verify.verify` streams a file through it (`zkfle verify`),
`engine.replay.state.ClusterState` rebuilds what the console shows around the cores, and
`engine.replay.player.Replayer` moves through a trace in time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine.core.election import ElectionConfig
from engine.core.jute.records import QuorumPacket
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.txn import TxnEntry
from engine.core.peer.io import (
    Durable,
    Input,
    Output,
    PacketReceived,
    SendPacket,
    Timing,
    ZabData,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.error import ConfigError
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Sid, zxid_hex
from engine.core.zab.learner import INFORM, PROPOSAL
from engine.trace.format import (
    DIGEST_SINCE,
    EPOCH_ZXID_SINCE,
    PACKETS_SINCE,
    Event,
    TraceError,
)
from engine.trace.record import DUMP, RecordError, durable_from, input_from, output_json

INPUT_CACHE = 4096
"""Decoded inputs kept for reuse while replaying."""
DUMPS_KEPT = 8
"""SNAP dumps sent by replayed leaders, kept by their bytes for the learners that get them."""


class ReplayError(Exception):
    """A trace that cannot be replayed: names the file, the 1-based line and the problem
    (an unreadable or invalid file, a step for a node that never booted, a missing parent)."""

    def __init__(self, path: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message

    @classmethod
    def of(cls, e: TraceError) -> ReplayError:
        return cls(e.path, e.line, e.message)


# --- divergences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """The first step whose re-executed output differs from the recorded one."""

    path: str
    seq: int
    node: Sid
    t_ms: float
    input: Mapping[str, Any]
    expected: Mapping[str, Any]
    actual: Mapping[str, Any]

    @property
    def line(self) -> int:
        return self.seq + 1

    @property
    def differences(self) -> list[str]:
        return json_diff(self.expected, self.actual, "output")

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: divergence at seq {self.seq} on n{self.node}"

    def report(self) -> str:
        """Several lines: where, the input, both outputs and what differs."""
        dumps = _dumps_text
        lines = [
            f"{self.path}:{self.line}: DIVERGENCE at seq {self.seq} on n{self.node}"
            f" (t={self.t_ms:.3f} ms)",
            f"  input:    {dumps(self.input)}",
            f"  expected: {dumps(self.expected)}",
            f"  actual:   {dumps(self.actual)}",
            "  differences:",
        ]
        lines += [f"    {d}" for d in self.differences]
        return "\n".join(lines)


def _dumps_text(value: object) -> str:
    return orjson.dumps(value).decode()


def json_diff(expected: object, actual: object, path: str = "") -> list[str]:
    """What differs between two JSON values, one line per difference, by path
    (`output.sends[0].to: expected [1,2,3], actual [1,2]`)."""
    out: list[str] = []
    _diff(expected, actual, path, out)
    return out


def _diff(expected: object, actual: object, path: str, out: list[str]) -> None:
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        keys = [*expected, *(k for k in actual if k not in expected)]
        for key in keys:
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: expected {_dumps_text(expected[key])}, actual (absent)")
            elif key not in expected:
                out.append(f"{sub}: expected (absent), actual {_dumps_text(actual[key])}")
            else:
                _diff(expected[key], actual[key], sub, out)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(
                f"{path}: expected {len(expected)} item(s), actual {len(actual)}: "
                f"expected {_dumps_text(expected)}, actual {_dumps_text(actual)}"
            )
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _diff(e, a, f"{path}[{i}]", out)
        return
    if expected != actual or (
        type(expected) is not type(actual) and not _numbers(expected, actual)
    ):
        out.append(f"{path}: expected {_dumps_text(expected)}, actual {_dumps_text(actual)}")


def _numbers(a: object, b: object) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float)


# --- the cores -----------------------------------------------------------------------------------


def timing_from_header(header: Mapping[str, Any], path: str = "<trace>") -> Timing:
    """The `Timing` the cores of a trace ran with (header `timing`)."""
    t = header.get("timing")
    try:
        if not isinstance(t, Mapping):
            raise TypeError("not an object")
        return Timing(
            tick_time_ms=int(t["tick_time_ms"]),
            init_limit=int(t["init_limit"]),
            sync_limit=int(t["sync_limit"]),
            election=ElectionConfig(
                int(t.get("finalize_wait_ms", 200)),
                int(t.get("min_notification_interval_ms", 200)),
                int(t.get("max_notification_interval_ms", 60_000)),
            ),
            zab_leader=t.get("zab_leader", False) is True,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ReplayError(path, 1, f"the header's timing is not usable: {e}") from None


def _verifier_from_header(header: Mapping[str, Any], path: str) -> QuorumVerifier:
    try:
        return parse_dynamic_config(str(header["cluster"]["config"]))
    except (ConfigError, KeyError, TypeError) as e:
        raise ReplayError(path, 1, f"the header's cluster.config is not usable: {e}") from None


class CoreReplay:
    """Re-executes the ★ events of one trace on `QuorumPeer` cores."""

    def __init__(self, header: Mapping[str, Any], path: str = "<trace>") -> None:
        self.header = header
        self.path = path
        self.config: str = str(header["cluster"]["config"])
        self.qv = _verifier_from_header(header, path)
        self.timing = timing_from_header(header, path)
        version = str(header.get("version", "1.0"))
        recorded = tuple(int(x) for x in version.split("."))
        self._old_packets = recorded < PACKETS_SINCE
        """The trace predates ZooKeeper's packets: its Zab steps cannot be re-executed."""
        self._old_epoch_zxid = recorded < EPOCH_ZXID_SINCE
        """The trace's cores forgot a leader's epoch zxid when its leadership ended."""
        self._old_digest = recorded < DIGEST_SINCE
        """The trace's leaders sent their txns without the tree's digest."""
        self.cores: dict[Sid, QuorumPeer] = {}
        self.data: dict[Sid, ZabData] = {}
        """The Zab data each stopped node left on its disk: its core's at the stop (the
        runtime's copy followed the same actions), which its next boot starts from."""
        self.steps = 0
        self.nodes_seen: set[Sid] = set()
        self._inputs: dict[Any, Input] = {}
        self._dumps: dict[bytes, SnapshotDump] = {}
        """The last dumps replayed leaders sent, by their bytes (`output_json` keeps them):
        a learner whose recorded dump has the same bytes gets that dump instead of decoding
        it again - the same value, since jute decodes a dump's encoding to the dump (the
        codec round-trips, tests/test_jute.py); it was the largest cost of verifying a trace
        with writes (BENCHMARKS.md). Clones share it: a value depends only on its key."""
        self.last_input: Input | None = None
        """The input of the last `step` (decoded)."""

    def boot(self, sid: Sid, durable: Durable, seq: int) -> QuorumPeer:
        try:
            core = QuorumPeer(sid, self.qv, durable, self.timing, self.data.get(sid))
        except Exception as e:  # PeerError: not in the config
            raise ReplayError(self.path, seq + 1, f"seq {seq}: cannot boot n{sid}: {e}") from None
        self.cores[sid] = core
        self.nodes_seen.add(sid)
        return core

    def stop(self, sid: Sid) -> None:
        core = self.cores.pop(sid, None)
        if core is not None:
            self.data[sid] = core.data

    def apply(self, event: Event) -> Divergence | None:
        """Re-execute one event (only ★ kinds do anything); a mismatch is returned."""
        kind = event["kind"]
        if kind == "step":
            return self.step(event)[1]
        if kind == "boot":
            self.boot(self._sid(event), self._durable(event), event["seq"])
        elif kind == "stop":
            self.stop(self._sid(event))
        return None

    def _sid(self, event: Event) -> Sid:
        sid = event.get("node")
        if type(sid) is not int:
            raise ReplayError(
                self.path, event["seq"] + 1, f"seq {event['seq']}: 'node' must be a sid"
            )
        return sid

    def _durable(self, event: Event) -> Durable:
        try:
            return durable_from(event["durable"])
        except (RecordError, KeyError, TypeError) as e:
            raise ReplayError(
                self.path, event["seq"] + 1, f"seq {event['seq']}: bad durable state: {e}"
            ) from None

    def step(self, event: Event) -> tuple[Output | None, Divergence | None]:
        """Re-execute one `step` event: the core's output and, if it differs, the divergence."""
        seq = event["seq"]
        sid = event["node"]
        core = self.cores.get(sid)
        if core is None:
            raise ReplayError(
                self.path,
                seq + 1,
                f"seq {seq}: step for n{sid}, which is not running (no boot event before it)",
            )
        inp = self.last_input = self._input(event["input"], seq)
        now = event["t_ms"]
        self.steps += 1
        try:
            out = core.step(inp, now)
        except Exception as e:  # the recorded core took this input; ours cannot
            actual: Mapping[str, Any] = {"error": f"{type(e).__name__}: {e}"}
            return None, self._divergence(event, actual)
        dumps = self._dumps
        actual = output_json(out, self.config, dumps)
        while len(dumps) > DUMPS_KEPT:
            del dumps[next(iter(dumps))]  # the oldest
        if actual != event["output"]:
            if self._old_packets and _elected(event["output"], actual):
                # Once elected, the recorded node ran zkfle's simplified Zab (its leader
                # waited otherwise, for one): not a divergence of this trace's FLE.
                raise self._predates_zab(seq)
            if self._old_epoch_zxid and core.processed_zxid is not None:
                raise self._predates_epoch_zxid(seq, core)
            if self._old_digest and _sends_digests(out):
                raise self._predates_digest(seq, core)
            return out, self._divergence(event, actual)
        return out, None

    def _recorded_when(self, seq: int, then: str) -> ReplayError:
        """The trace stops at `seq`: its zkfle differed from this one as `then` says."""
        version = self.header.get("version")
        return ReplayError(
            self.path,
            seq + 1,
            f"seq {seq}: this trace (version {version}) was recorded when {then}",
        )

    def _predates_zab(self, seq: int) -> ReplayError:
        since = ".".join(map(str, PACKETS_SINCE))
        return self._recorded_when(
            seq,
            f"zkfle's nodes ran a simplified Zab once elected, and this zkfle runs ZooKeeper's "
            f"(traces carry it since {since}): its post-election steps cannot be re-executed; "
            f"record the run again",
        )

    def _predates_epoch_zxid(self, seq: int, core: QuorumPeer) -> ReplayError:
        since = ".".join(map(str, EPOCH_ZXID_SINCE))
        kept = zxid_hex(core.last_logged_zxid())
        return self._recorded_when(
            seq,
            f"zkfle's nodes forgot a leader's epoch zxid once its leadership ended; n{core.myid} "
            f"here keeps {kept} in its database and votes with it, as ZooKeeper does "
            f"(Leader.startZkServer, ZOOKEEPER-2845; traces carry it since {since}), where the "
            f"recording took its log's {zxid_hex(core.durable.last_zxid)}: the trace cannot be "
            f"re-executed from here; record the run again",
        )

    def _predates_digest(self, seq: int, core: QuorumPeer) -> ReplayError:
        since = ".".join(map(str, DIGEST_SINCE))
        return self._recorded_when(
            seq,
            f"zkfle's leaders sent their txns without the tree's digest; n{core.myid} here "
            f"sends each with it, as ZooKeeper does (ZOOKEEPER-3114; traces carry it since "
            f"{since}): the trace cannot be re-executed from here; record the run again",
        )

    def _input(self, d: Any, seq: int) -> Input:
        """The decoded input, from a cache: most inputs recur (a broadcast is received by
        every voter, polls and timeouts have no or one field); packets carry txns and are
        decoded each time."""
        try:
            kind = d["type"]
            if kind == "receive":
                key: Any = tuple(d["n"].items())
            elif kind == "timeout":
                key = (kind, d.get("have_delivered"))
            elif kind in ("poll", "look_for_leader"):
                key = kind
            elif kind == "packet" and self._old_packets:
                raise self._predates_zab(seq)
            elif kind == "packet":
                return self._dump_sent(d) or input_from(d, self.config)
            else:
                return input_from(d, self.config)
            found = self._inputs.get(key)
            if found is None:
                found = input_from(d, self.config)
                if len(self._inputs) >= INPUT_CACHE:
                    self._inputs.clear()
                self._inputs[key] = found
            return found
        except (RecordError, AttributeError, KeyError, TypeError) as e:
            raise ReplayError(self.path, seq + 1, f"seq {seq}: bad step input: {e}") from None

    def _dump_sent(self, d: Any) -> Input | None:
        """A SNAP dump with the bytes of one a replayed leader sent, as that dump (None
        for anything else: `input_from` decodes it, or says what is wrong)."""
        packet = d["packet"]
        data = packet.get("data")
        if packet.get("type") != DUMP or type(data) is not str or type(d["from"]) is not int:
            return None
        try:
            dump = self._dumps.get(bytes.fromhex(data))
        except ValueError:
            return None
        return PacketReceived(d["from"], dump) if dump is not None else None

    def _divergence(self, event: Event, actual: Mapping[str, Any]) -> Divergence:
        expected = event["output"]
        return Divergence(
            self.path,
            event["seq"],
            event["node"],
            float(event["t_ms"]),
            event["input"],
            expected if isinstance(expected, Mapping) else {"(recorded)": expected},
            actual,
        )


__all__ = ["CoreReplay", "Divergence", "ReplayError", "json_diff", "timing_from_header"]


def _elected(recorded: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    """Either output is a node's past its election (what pre-1.4 cores did differently)."""
    return any(out.get("state", "LOOKING") != "LOOKING" for out in (recorded, actual))


def _sends_digests(out: Output) -> bool:
    """The step sends a txn carrying the tree's digest (what pre-1.6 leaders did not)."""
    for action in out.zab:
        if isinstance(action, SendPacket) and isinstance(action.packet, QuorumPacket):
            qp = action.packet
            if qp.type in (PROPOSAL, INFORM) and TxnEntry.decode(qp.data or b"").digest is not None:
                return True
    return False
