"""JSON forms of the core's values: what the trace stores at the core boundary.

Every `QuorumPeer.step` is recorded as its input and output in these forms; replay decodes
the input, steps a fresh core and compares the encoded output with the recorded one. Field
names follow ZooKeeper's (`leader`, `zxid` as "0x..." hex, `election_epoch`, `peer_epoch`,
`state`, `sid`). A notification's config text is omitted when it equals the cluster's
config text in the trace header (nearly always), so traces stay small.
"""

from __future__ import annotations

import zlib
from typing import Any

from engine.core.jute.archive import JuteError, Reader, Writer
from engine.core.jute.records import Id
from engine.core.peer.io import (
    ClientWrite,
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Durable,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    LookForLeader,
    Output,
    PacketReceived,
    Poll,
    QuorumPacket,
    Receive,
    SendPacket,
    SnapshotDump,
    Timeout,
    Timing,
    ZabAction,
    ZabItem,
    ZabProgress,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorumpacket import PACKET_TYPES, packet_name
from engine.core.vote import Notification, ServerState, ToSend, Vote, parse_zxid, zxid_hex
from engine.core.zab.learner import LogTxns, TakeSnapshot, TruncateLog

JSON = dict[str, Any]


class RecordError(ValueError):
    """A recorded value does not have the expected shape (names the field)."""


# Every step of every node is encoded (the online checker reads it even without a trace
# file), so the encoders below avoid the slow parts of the obvious code: Enum.name (a
# descriptor call) and formatting the same few zxids over and over.
_STATE_NAME = {state: state.name for state in ServerState}
_LOOKING = ServerState.LOOKING
_ZXID_HEX: dict[int, str] = {}
_ZXID_HEX_MAX = 4096


def _hex(zxid: int) -> str:
    """zxid_hex, remembered (a run sees few distinct zxids; writes add some)."""
    text = _ZXID_HEX.get(zxid)
    if text is None:
        if len(_ZXID_HEX) >= _ZXID_HEX_MAX:
            _ZXID_HEX.clear()
        text = _ZXID_HEX[zxid] = zxid_hex(zxid)
    return text


def vote_json(v: Vote) -> JSON:
    d: JSON = {
        "leader": v.leader,
        "zxid": _hex(v.zxid),
        "election_epoch": v.election_epoch,
        "peer_epoch": v.peer_epoch,
    }
    if v.state != _LOOKING:
        d["state"] = _STATE_NAME[v.state]
    if v.version:
        d["version"] = v.version
    return d


def notification_json(n: Notification, config: str) -> JSON:
    d: JSON = {
        "sid": n.sid,
        "state": _STATE_NAME[n.state],
        "leader": n.leader,
        "zxid": _hex(n.zxid),
        "election_epoch": n.election_epoch,
        "peer_epoch": n.peer_epoch,
        "version": n.version,
    }
    if n.config is not None and n.config != config:
        d["config"] = n.config
    return d


def notification_from(d: JSON, config: str) -> Notification:
    version = _int(d, "version")
    return Notification(
        _int(d, "leader"),
        _zxid(d, "zxid"),
        _int(d, "election_epoch"),
        _state(d["state"]),
        _int(d, "sid"),
        _int(d, "peer_epoch"),
        version,
        d.get("config", config) if version > 1 else None,
    )


def durable_json(d: Durable) -> JSON:
    return {
        "current_epoch": d.current_epoch,
        "accepted_epoch": d.accepted_epoch,
        "last_zxid": _hex(d.last_zxid),
    }


def durable_from(d: JSON) -> Durable:
    return Durable(_int(d, "current_epoch"), _int(d, "accepted_epoch"), _zxid(d, "last_zxid"))


_PACKET_TYPE = {name: number for number, name in PACKET_TYPES.items()}
DUMP = "dump"
"""The `type` of SNAP's database dump on the learner<->leader stream."""


def packet_json(
    p: ZabItem, *, whole: bool = False, dumps: dict[bytes, SnapshotDump] | None = None
) -> JSON:
    """A packet as its type's name (Leader.java's), zxid, `data` in hex (absent when null)
    and `auth` ([scheme, id] pairs, absent when null). SNAP's dump is its size and CRC-32
    - or with `whole` its bytes in hex: a step's input carries them (a replayed learner
    needs them), sends and `zsend` events the summary. A dump's bytes are kept in `dumps`
    (replay's: see `engine.replay.cores.CoreReplay`)."""
    if isinstance(p, SnapshotDump):
        w = Writer()
        p.write_sync(w)
        raw = bytes(w)
        if dumps is not None:
            dumps[raw] = p
        if whole:
            return {"type": DUMP, "data": raw.hex()}
        return {"type": DUMP, "size": len(raw), "crc": f"{zlib.crc32(raw):08x}"}
    d: JSON = {"type": packet_name(p.type), "zxid": _hex(p.zxid)}
    if p.data is not None:
        d["data"] = p.data.hex()
    if p.authinfo is not None:
        d["auth"] = [[i.scheme, i.id] for i in p.authinfo]
    return d


def packet_from(d: JSON) -> ZabItem:
    """The item `packet_json(..., whole=True)` wrote (RecordError if it is not one)."""
    name = d["type"]
    if not isinstance(name, str):
        raise RecordError(f"packet type must be a name, got {name!r}")
    data = d.get("data")
    if data is not None and not isinstance(data, str):
        raise RecordError(f"packet data must be hex, got {data!r}")
    try:
        raw = bytes.fromhex(data) if data is not None else None
    except ValueError as e:
        raise RecordError(f"packet data is not hex: {e}") from None
    if name == DUMP:
        if raw is None:
            raise RecordError("a dump without its bytes (only a summary was recorded)")
        try:
            r = Reader(raw)
            dump = SnapshotDump.read_sync(r)
            r.end("dump")
        except JuteError as e:
            raise RecordError(f"dump: {e}") from None
        return dump
    number = _PACKET_TYPE.get(name)
    if number is None:
        if not name.startswith("UNKNOWN") or not name[7:].lstrip("-").isdigit():
            raise RecordError(f"unknown packet type {name!r}")
        number = int(name[7:])
    auth = d.get("auth")
    authinfo = None
    if auth is not None:
        if not isinstance(auth, list) or not all(
            isinstance(a, list) and len(a) == 2 and all(isinstance(x, str | None) for x in a)
            for a in auth
        ):
            raise RecordError(f"packet auth must be [scheme, id] pairs, got {auth!r}")
        authinfo = tuple(Id(a[0], a[1]) for a in auth)
    return QuorumPacket(number, _zxid(d, "zxid"), raw, authinfo)


_POLL_JSON: JSON = {"type": "poll"}


def input_json(event: Input, config: str) -> JSON:
    """The recorded form of a core input (its `type` names the ZooKeeper action)."""
    kind = type(event)
    if kind is Receive:
        return {"type": "receive", "n": notification_json(event.n, config)}  # type: ignore[union-attr]
    if kind is Poll:
        return dict(_POLL_JSON)
    match event:
        case LookForLeader():
            return {"type": "look_for_leader"}
        case Receive(n):
            return {"type": "receive", "n": notification_json(n, config)}
        case Poll():
            return {"type": "poll"}
        case Timeout(have_delivered, forced):
            if forced:
                return {"type": "timeout", "have_delivered": have_delivered, "forced": True}
            return {"type": "timeout", "have_delivered": have_delivered}
        case LearnerConnected(leader):
            return {"type": "learner_connected", "leader": leader}
        case LearnerConnectFailed(leader):
            return {"type": "learner_connect_failed", "leader": leader}
        case PacketReceived(peer, packet):
            return {"type": "packet", "from": peer, "packet": packet_json(packet, whole=True)}
        case Disconnected(peer):
            return {"type": "disconnected", "peer": peer}
        case ZabProgress():
            return zab_progress_json(event)
        case ClientWrite(count):
            return {"type": "write", "count": count}
    raise AssertionError(event)


def zab_progress_json(p: ZabProgress) -> JSON:
    d: JSON = {"type": "zab", "leader": p.leader, "zab": p.zab}
    if p.sync_mode is not None:
        d["sync_mode"] = p.sync_mode
    d.update(
        accepted_epoch=p.accepted_epoch, current_epoch=p.current_epoch, last_zxid=_hex(p.last_zxid)
    )
    if p.ended is not None:
        d["ended"] = p.ended
    return d


def _zab_progress_from(d: JSON) -> ZabProgress:
    sync_mode, ended = d.get("sync_mode"), d.get("ended")
    if not isinstance(d["zab"], str) or not isinstance(sync_mode, str | None):
        raise RecordError(
            f"zab phase and sync mode must be strings, got {d['zab']!r}, {sync_mode!r}"
        )
    if not isinstance(ended, str | None):
        raise RecordError(f"field 'ended' must be a string, got {ended!r}")
    return ZabProgress(
        _int(d, "leader"),
        d["zab"],
        sync_mode,
        _int(d, "accepted_epoch"),
        _int(d, "current_epoch"),
        _zxid(d, "last_zxid"),
        ended,
    )


def input_from(d: JSON, config: str) -> Input:
    kind = d.get("type")
    try:
        match kind:
            case "look_for_leader":
                return LookForLeader()
            case "receive":
                return Receive(notification_from(d["n"], config))
            case "poll":
                return Poll()
            case "timeout":
                return Timeout(bool(d["have_delivered"]), bool(d.get("forced", False)))
            case "learner_connected":
                return LearnerConnected(_int(d, "leader"))
            case "learner_connect_failed":
                return LearnerConnectFailed(_int(d, "leader"))
            case "packet":
                return PacketReceived(_int(d, "from"), packet_from(d["packet"]))
            case "disconnected":
                return Disconnected(_int(d, "peer"))
            case "zab":
                return _zab_progress_from(d)
            case "write":
                return ClientWrite(_int(d, "count"))
    except (KeyError, TypeError) as e:
        raise RecordError(f"input {kind!r}: missing or bad field {e}") from None
    raise RecordError(f"unknown input type {kind!r}")


def _sends_json(sends: tuple[ToSend, ...], config: str) -> list[JSON]:
    """Notifications grouped by body: a broadcast is one entry with its recipients."""
    groups: list[JSON] = []
    index: dict[tuple[object, ...], list[int]] = {}
    last_key: tuple[object, ...] | None = None
    to: list[int] = []
    for m in sends:
        key = (m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch, m.config)
        if key != last_key:  # a broadcast is a run of one key: look it up once
            found = index.get(key)
            if found is None:
                found = index[key] = []
                group: JSON = {
                    "to": found,
                    "state": _STATE_NAME[m.state],
                    "leader": m.leader,
                    "zxid": _hex(m.zxid),
                    "election_epoch": m.election_epoch,
                    "peer_epoch": m.peer_epoch,
                }
                if m.config != config:
                    group["config"] = m.config
                groups.append(group)
            to, last_key = found, key
        to.append(m.sid)
    return groups


def _zab_json(action: ZabAction, dumps: dict[bytes, SnapshotDump] | None) -> JSON:
    match action:
        case SendPacket(to, packet):
            return {"send": to, "packet": packet_json(packet, dumps=dumps)}
        case ConnectToLeader(leader):
            return {"connect": leader}
        case ClosePeer(peer, reason):
            return {"close": peer} if reason is None else {"close": peer, "reason": reason}
        case LogTxns(entries):
            return {"log": [_hex(e.zxid) for e in entries]}
        case TakeSnapshot(dump, zxid):
            return {"snapshot": _hex(zxid), "nodes": len(dump.nodes)}
        case TruncateLog(zxid):
            return {"truncate": _hex(zxid)}
    raise AssertionError(action)


def output_json(out: Output, config: str, dumps: dict[bytes, SnapshotDump] | None = None) -> JSON:
    """The recorded form of a core output; empty parts are left out. The bytes of each
    SNAP dump sent are kept in `dumps` (see `packet_json`)."""
    d: JSON = {"state": _STATE_NAME[out.state]}
    if out.sends:
        d["sends"] = _sends_json(out.sends, config)
    if out.connect_all:
        d["connect_all"] = True
    if out.zab:
        d["zab"] = [_zab_json(a, dumps) for a in out.zab]
    if out.persist is not None:
        d["persist"] = durable_json(out.persist)
    wait_ms = out.wait_ms
    if wait_ms is not None:
        d["wait_ms"] = round(wait_ms, 3)
    if out.decided is not None:
        d["decided"] = vote_json(out.decided)
    if out.reason is not None:
        d["reason"] = out.reason
    if out.election_delay_max_ms is not None:
        d["election_delay_max_ms"] = out.election_delay_max_ms
    if out.restart_election:
        d["restart_election"] = True
    if out.committed:
        d["committed"] = [_hex(z) for z in out.committed]
    if out.write_error is not None:
        d["write_error"] = out.write_error
    return d


def _int(d: JSON, key: str) -> int:
    value = d[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"field {key!r} must be an integer, got {value!r}")
    return value


def _zxid(d: JSON, key: str, default: str | None = None) -> int:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise RecordError(f'field {key!r} must be a zxid string like "0x1", got {value!r}')
    try:
        return parse_zxid(value)
    except ValueError as e:
        raise RecordError(f"field {key!r}: {e}") from None


def _state(name: object) -> ServerState:
    try:
        return ServerState[str(name)]
    except KeyError:
        raise RecordError(f"unknown server state {name!r}") from None


def state_signature(core: QuorumPeer) -> tuple[Any, ...]:
    """What a `state` event reports; one is recorded whenever it changes."""
    fle = core.election
    return (
        core.peer_state,
        core.zab_state,
        fle.logicalclock,
        (fle.proposed_leader, fle.proposed_zxid, fle.proposed_epoch),
        core.current_vote,
        core.durable,
    )


def state_fields(core: QuorumPeer, out: Output) -> JSON:
    """The body of a `state` event (traces/README.md): the node after a step, with recvset
    and outofelection when the step decided."""
    fle = core.election
    durable = core.durable
    fields: JSON = {
        "state": core.peer_state.name,
        "zab": core.zab_state,
        "logicalclock": fle.logicalclock,
        "proposal": {
            "leader": fle.proposed_leader,
            "zxid": zxid_hex(fle.proposed_zxid),
            "peer_epoch": fle.proposed_epoch,
        },
        "vote": vote_json(core.current_vote),
        "current_epoch": durable.current_epoch,
        "accepted_epoch": durable.accepted_epoch,
        "last_zxid": zxid_hex(core.last_logged_zxid()),
    }
    if out.decided is not None:
        fields["recvset"] = {str(s): vote_json(v) for s, v in sorted(fle.recvset.items())}
        fields["outofelection"] = {
            str(s): vote_json(v) for s, v in sorted(fle.outofelection.items())
        }
        fields["took_ms"] = round(core.election_took_ms or 0.0, 3)
    if out.reason:
        fields["reason"] = out.reason
    return fields


def timing_json(t: Timing) -> JSON:
    """The header's `timing` (engine.replay.cores.timing_from_header reads it back);
    `zab_leader` only when set, so traces of runtimes without it read as before."""
    d: JSON = {
        "tick_time_ms": t.tick_time_ms,
        "init_limit": t.init_limit,
        "sync_limit": t.sync_limit,
        "finalize_wait_ms": t.election.finalize_wait_ms,
        "min_notification_interval_ms": t.election.min_notification_interval_ms,
        "max_notification_interval_ms": t.election.max_notification_interval_ms,
    }
    if t.zab_leader:
        d["zab_leader"] = True
    return d
