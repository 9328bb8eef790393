"""ZooKeeper's own log statements of releases 3.3 to 3.9 as facts: `recognise` says
which one a record is (each recogniser names the Java class and method that logs it), and
`id_evidence` which server a record names as its writer (the `[myid:N]` tag, `myid=N` in
a thread name, `My id = N`, the `(a, b)` pairs of connection lines). A record that is
none of them is kept verbatim by the importer as a `log` event. Pure: no files, no clocks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core.vote import zxid_hex
from engine.trace.zklog.layout import U64, NotALongError, Record, java_long, sid_or_none

Fields = dict[str, Any]

STATES = ("LOOKING", "FOLLOWING", "LEADING", "OBSERVING")


@dataclass(frozen=True, slots=True)
class Fact:
    """What a recognised record says: a trace event kind and its fields, plus what the
    statement tells about its writer (not event fields)."""

    kind: str
    fields: Fields
    myid: int | None = None
    """The writer's id when the statement names it (`New election. My id = 1`)."""
    variant: str | None = None
    """Which releases print a notification this way (`3.6-3.9`, `3.4.6-3.4.14`, ...)."""


# --- values --------------------------------------------------------------------------------------


def _hex(text: str) -> int:
    """A Long.toHexString value (two's complement, `0x` optional)."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits.lstrip("0")) > 16:
        raise NotALongError(text)
    value = int(digits, 16)
    return value - U64 if value >= 1 << 63 else value


def _number(text: str) -> int:
    """A value ZooKeeper printed in decimal, or in hex with `0x`."""
    return _hex(text) if text[:2] in ("0x", "0X") else java_long(text)


def _state(text: str) -> str | None:
    word = text.strip().upper()
    return word if word in STATES else None


# --- recognisers ---------------------------------------------------------------------------------
# Each takes the record's message (and the record) and returns a Fact or None.

_LABELLED = re.compile(
    r"([^\s()]+) \((message format version|n\.leader|n\.zxid|n\.round|n\.state|n\.sid|"
    r"n\.peerE[Pp]och|my state|n\.config version)\)"
)
_KEYED = re.compile(
    r"(my state|n\.\w+|message format version|n\.config version):(\S+?)[;,]?(?=\s|$)"
)
_NOTIFICATION_LABELS = {
    "n.leader": "leader",
    "n.zxid": "zxid",
    "n.round": "election_epoch",
    "n.state": "state",
    "n.sid": "sid",
    "n.peerEpoch": "peer_epoch",
    "n.peerEPoch": "peer_epoch",
    "message format version": "version",
    "n.config version": "config_version",
    "my state": "my_state",
}


def _notification(message: str, record: Record) -> Fact | None:
    """FastLeaderElection's printNotification (3.3-3.5) and WorkerReceiver.run (3.6+):
    the notification a server received, with the state it was in."""
    body = message[len("Notification:") :].strip()
    if body.startswith("my state:"):
        pairs = dict(_KEYED.findall(body))  # 3.6+: hex numbers with 0x
        labelled = {_NOTIFICATION_LABELS.get(k, k): v for k, v in pairs.items()}
        hex_numbers, variant = True, "3.6-3.9"
    elif "(n.leader)" in body:
        labelled = {_NOTIFICATION_LABELS[k]: v for v, k in _LABELLED.findall(body)}
        hex_numbers = "0x" in body  # 3.4.3+ prints zxid, round and epoch in hex
        variant = _labelled_variant(body, "version" in labelled, hex_numbers)
    else:
        return _notification_3_3_0(body)
    try:
        n: Fields = {
            "sid": java_long(labelled["sid"]),
            "state": _state(labelled["state"]),
            "leader": java_long(labelled["leader"]),
        }
        number = _hex if hex_numbers else _number
        n["zxid"] = zxid_hex(number(labelled["zxid"]))
        n["election_epoch"] = number(labelled["election_epoch"])
        if "peer_epoch" in labelled:
            n["peer_epoch"] = number(labelled["peer_epoch"])
        if "version" in labelled:
            n["version"] = _hex(labelled["version"])
        if "config_version" in labelled:
            n["config_version"] = zxid_hex(_hex(labelled["config_version"]))
        my_state = _state(labelled["my_state"])
    except (KeyError, ValueError):
        return None
    if n["state"] is None or my_state is None:
        return None
    return Fact("recv", {"my_state": my_state, "n": n}, variant=variant)


def _labelled_variant(body: str, has_version: bool, hex_numbers: bool) -> str:
    """Which releases print the labelled form this way (printNotification's history)."""
    if has_version:
        return "3.5" if "(n.peerEPoch)" in body else "3.4.6-3.4.14"
    if hex_numbers:
        return "3.4.3-3.4.5"
    return "3.4.0-3.4.2" if "(n.peerEPoch)" in body else "3.3.2-3.3.6"


def _notification_3_3_0(body: str) -> Fact | None:
    """3.3.0-3.3.1: `leader, zxid, round, myid, my state, n.state, n.sid`, decimal."""
    parts = [p.strip() for p in body.split(",")]
    if len(parts) != 7:
        return None
    try:
        leader, zxid, rnd, myid, sid = (java_long(parts[i]) for i in (0, 1, 2, 3, 6))
    except ValueError:
        return None
    my_state, state = _state(parts[4]), _state(parts[5])
    if my_state is None or state is None:
        return None
    n: Fields = {"sid": sid, "state": state, "leader": leader, "zxid": zxid_hex(zxid)}
    n["election_epoch"] = rnd
    return Fact("recv", {"my_state": my_state, "n": n}, myid=myid, variant="3.3.0-3.3.1")


_SENDING = re.compile(
    r"Sending Notification: (-?\d+) \(n\.leader\), (0x[0-9a-f]+|-?\d+) \(n\.zxid\), "
    r"(0x[0-9a-f]+|-?\d+) \(n\.round\), (\d+) \(recipient\), (\d+) \(myid\), "
    r"(0x[0-9a-f]+|-?\d+) \(n\.peerEpoch\)"
)


_SENDING_REPLY = re.compile(
    r"Sending new notification\. My id =\s*(\d+) recipient=(\d+) zxid=0x([0-9a-f]+) leader=(-?\d+)"
)


def _sending(message: str, record: Record) -> Fact | None:
    """FastLeaderElection.sendNotifications at DEBUG (3.4+): one line per recipient."""
    m = _SENDING.match(message)
    if m is None:
        return None
    leader, zxid, rnd, to, myid, epoch = m.groups()
    n: Fields = {"state": "LOOKING", "leader": java_long(leader), "zxid": zxid_hex(_number(zxid))}
    n["election_epoch"] = _number(rnd)
    n["peer_epoch"] = _number(epoch)
    return Fact("sent", {"to": java_long(to), "n": n}, myid=java_long(myid))


def _sending_reply(message: str, record: Record) -> Fact | None:
    """WorkerReceiver at DEBUG: a decided server answers a LOOKING peer (the line names
    neither the state nor the round it sends)."""
    m = _SENDING_REPLY.match(message)
    if m is None:
        return None
    myid, to, zxid, leader = m.groups()
    n: Fields = {"leader": java_long(leader), "zxid": zxid_hex(_hex(zxid))}
    return Fact("sent", {"to": java_long(to), "n": n, "reply": True}, myid=java_long(myid))


_NEW_ELECTION = re.compile(
    r"New election\. My id =\s+(-?\d+), [Pp]roposed zxid ?= ?(0x[0-9a-f]+|-?\d+)"
)


def _new_election(message: str, record: Record) -> Fact | None:
    """FastLeaderElection.lookForLeader: a new round with the server's initial vote."""
    m = _NEW_ELECTION.match(message)
    if m is None:
        return None
    myid = java_long(m.group(1))
    proposal = {"leader": myid, "zxid": zxid_hex(_number(m.group(2)))}
    return Fact("election", {"proposal": proposal}, myid=myid)


_TIME_OUT = re.compile(r"Notification time out: (\d+)")


def _time_out(message: str, record: Record) -> Fact | None:
    """FastLeaderElection.lookForLeader: a poll found nothing; the new (doubled) timeout."""
    m = _TIME_OUT.match(message)
    return Fact("fle_timeout", {"timeout_ms": java_long(m.group(1))}) if m else None


_ZAB = {"discovery": "DISCOVERY", "synchronization": "SYNCHRONIZATION", "broadcast": "BROADCAST"}
_SYNC = {"diff": "DIFF", "snap": "SNAP", "trunc": "TRUNC"}


def _peer_state_changed(message: str, record: Record) -> Fact | None:
    """QuorumPeer.setPeerState/setZabState/setSyncMode (3.5+): `following - synchronization
    - diff`."""
    if not message.startswith("Peer state changed: "):
        return None
    parts = [p.strip() for p in message[len("Peer state changed: ") :].split(" - ")]
    state = _state(parts[0])
    if state is None:
        return None
    fields: Fields = {"state": state}
    fields["zab"] = _ZAB.get(parts[1], parts[1].upper()) if len(parts) > 1 else "ELECTION"
    if len(parts) > 2:
        fields["sync"] = _SYNC.get(parts[2], parts[2].upper())
    return Fact("peer_state", fields)


def _state_line(message: str, record: Record) -> Fact | None:
    """QuorumPeer.run's main loop names the state it enters (`LOOKING`, `FOLLOWING`, ...);
    Follower/Leader then say how long the election took (3.4+)."""
    if message in STATES:
        return Fact("peer_state", {"state": message})
    m = _TOOK.match(message)
    if m is None:
        return None
    return Fact("took", {"state": m.group(1), "took_ms": java_long(m.group(2))})


_TOOK = re.compile(r"(FOLLOWING|LEADING|OBSERVING) - LEADER ELECTION TOOK - (\d+)")


def _peer_state_set(message: str, record: Record) -> Fact | None:
    """QuorumPeer.updateServerState (3.5+) logs going back to LOOKING at WARN."""
    if message.startswith("PeerState set to LOOKING"):
        return Fact("peer_state", {"state": "LOOKING"})
    return None


_SYNC_LINE = re.compile(
    r"(?:Getting a (diff|snapshot) from (?:the )?leader|Truncating log to get in sync with "
    r"the leader)(?: (0x[0-9a-f]+))?"
)


def _sync(message: str, record: Record) -> Fact | None:
    """Learner.syncWithLeader: how the leader brings this learner up to date (DIFF, SNAP or
    TRUNC, and the zxid it syncs to; 3.3 names no zxid for a snapshot)."""
    m = _SYNC_LINE.match(message)
    if m is None:
        return None
    mode = {"diff": "DIFF", "snapshot": "SNAP", None: "TRUNC"}[m.group(1)]
    fields: Fields = {"what": "sync", "mode": mode}
    if m.group(2):
        fields["zxid"] = zxid_hex(_hex(m.group(2)))
    return Fact("zk", fields)


_CANNOT_OPEN = re.compile(r"Cannot open (?:secure )?channel to (\d+) at election address (\S+)")


def _connect_reason(exception: str | None) -> str:
    """Why a connection attempt failed, from the exception ZooKeeper logged with it."""
    if exception is None:
        return "unknown"
    text = exception.lower()
    if "refused" in text:
        return "refused"
    if "timed out" in text or "timeout" in text:
        return "timed out"
    if "unresolved" in text or "unknownhost" in text:
        return "unresolved"
    if "noroutetohost" in text or "no route" in text:
        return "no route"
    return "error"


def _cannot_open(message: str, record: Record) -> Fact | None:
    """QuorumCnxManager.initiateConnection (connectOne before 3.5): an election connection
    to a peer failed; the exception after it says why (refused, timed out, unresolved)."""
    m = _CANNOT_OPEN.match(message)
    if m is None:
        return None
    reason = _connect_reason(record.exception)
    fields: Fields = {"what": "conn_failed", "peer": java_long(m.group(1)), "reason": reason}
    fields["address"] = m.group(2)
    return Fact("zk", fields)


_SMALLER = re.compile(
    r"Have smaller server identifier, so dropping the\s*connection: "
    r"\((?:myId:(\d+) --> sid:(\d+)|(\d+), (\d+))\)"
)
_QUORUM = re.compile(
    r"Have quorum of supporters(?:, sids: \[\s*(.*?)\s*\])?; starting up and setting last "
    r"processed zxid: (0x[0-9a-f]+|\d+)"
)


def _smaller(message: str, record: Record) -> Fact | None:
    """QuorumCnxManager.handleConnection: a connection from a smaller sid is dropped (and
    made again the other way)."""
    m = _SMALLER.match(message)
    if m is None:
        return None
    # 3.5+ names (myId --> sid); before, the pair is (sid, myid).
    if m.group(1) is not None:
        myid, peer = java_long(m.group(1)), java_long(m.group(2))
    else:
        peer, myid = java_long(m.group(3)), java_long(m.group(4))
    fields: Fields = {"what": "conn_dropped", "peer": peer, "reason": "smaller sid"}
    return Fact("zk", fields, myid=myid)


def _quorum(message: str, record: Record) -> Fact | None:
    """Leader.waitForNewLeaderAck: a quorum acknowledged NEWLEADER; the leader serves."""
    m = _QUORUM.match(message)
    if m is None:
        return None
    fields: Fields = {"what": "quorum_formed"}
    if m.group(1) is not None:  # 3.4.6+ names the supporters
        fields["sids"] = sorted({java_long(s) for s in re.findall(r"\d+", m.group(1))})
    fields["zxid"] = zxid_hex(_number(m.group(2)))
    return Fact("zk", fields)


_BROKEN = re.compile(r"Connection broken(?: for id (\d+), my id = (\d+))?")
_WORKER_PEER = re.compile(r"(?:Recv|Send)Worker:(\d+)")


def _connection(message: str, record: Record) -> Fact | None:
    """QuorumCnxManager.RecvWorker.run: an election connection to a peer broke (3.3.0 names
    neither end: the RecvWorker thread's name holds the peer)."""
    m = _BROKEN.match(message)
    if m is None:
        return None
    fields: Fields = {"what": "conn_broken"}
    peer = m.group(1) or next(iter(_WORKER_PEER.findall(record.thread)), None)
    if peer is not None:
        fields["peer"] = java_long(peer)
    if record.exception:
        fields["exception"] = record.exception
    return Fact("zk", fields, myid=java_long(m.group(2)) if m.group(2) else None)


def _shutdown(message: str, record: Record) -> Fact | None:
    """Follower/Observer.shutdown (`shutdown called` with an exception naming the role
    before 3.6, `shutdown Follower` since) and Leader.shutdown (`Shutdown called` with the
    reason in the exception before 3.6, `Shutdown called. For the reason X` since)."""
    low = message.lower()
    if low.startswith("shutdown called") and not message.startswith("Shutdown called"):
        role = _role_from(record.exception)
        return Fact("zk", {"what": "shutdown", "role": role} if role else {"what": "shutdown"})
    for role in ("Follower", "Observer"):
        if message == f"shutdown {role}":
            return Fact("zk", {"what": "shutdown", "role": role.lower()})
    if message.startswith("Shutdown called"):
        fields: Fields = {"what": "shutdown", "role": "leader"}
        reason = message.partition("For the reason ")[2]
        if not reason and record.exception and "reason:" in record.exception:
            reason = record.exception.partition("reason:")[2]
        if reason.strip():
            fields["reason"] = reason.strip()
        return Fact("zk", fields)
    if message == "Shutting down" and record.logger.endswith("Leader"):
        return Fact("zk", {"what": "shutdown", "role": "leader"})
    return None


def _role_from(exception: str | None) -> str | None:
    if exception:
        for role in ("Follower", "Observer", "Leader"):
            if f"shutdown {role}" in exception:
                return role.lower()
    return None


_NOT_IN_CONFIG = re.compile(r"Follower sid: (\d+) not in the current config (\S+)")
_FOLLOWER_INFO = re.compile(r"Follower sid: (\d+) : info : (\S+)")


def _follower_sid(message: str, record: Record) -> Fact | None:
    """LearnerHandler.run (3.5+): a learner the leader's config does not know; and the
    learner's own server line, which gives its addresses."""
    m = _NOT_IN_CONFIG.match(message)
    if m is not None:
        return Fact("zk", {"what": "not_in_config", "peer": java_long(m.group(1))})
    m = _FOLLOWER_INFO.match(message)
    if m is not None:
        return Fact(
            "zk", {"what": "learner_info", "peer": java_long(m.group(1)), "server": m.group(2)}
        )
    return None


_PROPOSED_EPOCH = re.compile(r"Proposed leader epoch (\S+) is less than our accepted epoch (\S+)")
_LEADERS_EPOCH = re.compile(r"Leaders epoch, (\d+) is less than accepted epoch, (\d+)")
_NEWLEADER_ACK = re.compile(
    r"NEWLEADER ACK from sid: (\d+) is from a different epoch - current 0x([0-9a-f]+) "
    r"rece?ie?ved 0x([0-9a-f]+)"
)


def _epoch_text(text: str) -> int:
    """ZxidUtils.zxidToString `epoch:counter` hex, or a number; the epoch."""
    head = text.split(":")[0].strip(",")
    return _hex(head) if not head.startswith("-") else java_long(head)


def _proposed(message: str, record: Record) -> Fact | None:
    """Follower.followLeader: the elected leader proposes an epoch below ours (3.4+)."""
    m = _PROPOSED_EPOCH.match(message)
    if m is None:
        return None
    try:
        fields = {"what": "epoch_mismatch", "leader_epoch": _epoch_text(m.group(1))}
        fields["accepted_epoch"] = _epoch_text(m.group(2))
    except ValueError:
        return None
    return Fact("zk", fields)


def _newleader(message: str, record: Record) -> Fact | None:
    """Leader.processAck: a learner acknowledged NEWLEADER of another epoch."""
    m = _NEWLEADER_ACK.match(message)
    if m is None:
        return None
    fields: Fields = {"what": "epoch_mismatch", "peer": java_long(m.group(1))}
    fields["zxid"] = zxid_hex(_hex(m.group(2)))
    fields["peer_zxid"] = zxid_hex(_hex(m.group(3)))
    return Fact("zk", fields)


def _exception_when(message: str, record: Record) -> Fact | None:
    """Follower.followLeader / Observer.observeLeader: the learner lost its leader (EOF,
    a read timeout after syncLimit ticks, a reset, an epoch it refuses)."""
    if not message.startswith(("Exception when following", "Exception when observing")):
        return None
    fields: Fields = {"what": "follow_failed", "reason": _follow_reason(record.exception)}
    if record.exception:
        fields["exception"] = record.exception
        m = _LEADERS_EPOCH.search(record.exception)
        if m is not None:
            fields["leader_epoch"], fields["accepted_epoch"] = (
                java_long(m.group(1)),
                java_long(m.group(2)),
            )
    return Fact("zk", fields)


def _follow_reason(exception: str | None) -> str:
    if exception is None:
        return "unknown"
    text = exception.lower()
    if "eofexception" in text:
        return "eof"
    if "read timed out" in text or "sockettimeout" in text:
        return "read timed out"
    if "reset" in text:
        return "reset"
    if "epoch" in text:
        return "epoch mismatch"
    if "refused" in text:
        return "refused"
    return "error"


_STARTING = re.compile(r"Starting quorum peer(?:, myid=(\d+))?\s*$")


def _starting(message: str, record: Record) -> Fact | None:
    """QuorumPeerMain.runFromConfig: the server process (re)started."""
    m = _STARTING.match(message)
    if m is None:
        return None
    return Fact("zk", {"what": "start"}, myid=java_long(m.group(1)) if m.group(1) else None)


_CONNECTED = re.compile(r"Successfully connected to leader, using address: (\S+)")
_CONNECT_FAILED = re.compile(
    r"Unexpected exception, (?:connectToLeader exceeded\. |retries exceeded\. )?"
    r"tries=(\d+),.*connecting to (\S+)"
)
_DISCONNECTED = re.compile(
    r"Disconnected from leader \(with address: (\S+)\)\. Was connected for (\d+)ms\. "
    r"Sync state: (\w+)"
)


def _learner(message: str, record: Record) -> Fact | None:
    """Learner.connectToLeader (3.6+ names the address it reached; every version logs the
    failed tries) and Follower.followLeader's goodbye (3.6+)."""
    m = _CONNECTED.match(message)
    if m is not None:
        return Fact("zk", {"what": "leader_connected", "address": m.group(1)})
    m = _CONNECT_FAILED.match(message)
    if m is not None:
        fields: Fields = {"what": "leader_connect_failed", "tries": java_long(m.group(1))}
        fields["address"] = m.group(2)
        fields["reason"] = _connect_reason(record.exception)
        return Fact("zk", fields)
    m = _DISCONNECTED.match(message)
    if m is not None:
        fields = {"what": "leader_disconnected", "address": m.group(1)}
        fields["connected_ms"] = java_long(m.group(2))
        fields["synced"] = m.group(3) == "true"
        return Fact("zk", fields)
    return None


_INIT_LIMIT_TIMEOUT = re.compile(
    r"Timeout while waiting for (?:epoch from quorum|epoch to be acked by quorum|NEWLEADER to be"
    r" acked by quorum)"
)


def _lead_failed(message: str, record: Record) -> Fact | None:
    """QuorumPeer.run, case LEADING: lead() ended by an exception. Those this reader knows
    are the leader's waits for a quorum of followers, each initLimit ticks long
    (Leader.getEpochToPropose, waitForEpochAck, waitForNewLeaderAck: 3.4+)."""
    if message != "Unexpected exception" or record.exception is None:
        return None
    m = _INIT_LIMIT_TIMEOUT.search(record.exception)
    return Fact("zk", {"what": "lead_failed", "reason": m.group(0)}) if m else None


_SETTING = re.compile(r"(tickTime|initLimit|syncLimit) set to (\d+)")
_FLE_SETTING = re.compile(r"zookeeper\.fastleader\.(min|max)NotificationInterval ?= ?(\d+)")
_SETTING_KEYS = {
    "tickTime": "tick_time_ms",
    "initLimit": "init_limit",
    "syncLimit": "sync_limit",
    "min": "min_notification_interval_ms",
    "max": "max_notification_interval_ms",
}


def _setting(message: str, record: Record) -> Fact | None:
    """QuorumPeer's setters and FastLeaderElection's static block log the timing in use."""
    m = _SETTING.match(message) or _FLE_SETTING.match(message)
    if m is None:
        return None
    key = _SETTING_KEYS[m.group(1)]
    return Fact("zk", {"what": "setting", "key": key, "value": java_long(m.group(2))})


_Recogniser = Callable[[str, Record], Fact | None]
_BY_FIRST_WORD: dict[str, tuple[_Recogniser, ...]] = {
    "Notification:": (_notification,),
    "Notification": (_time_out,),
    "Sending": (_sending, _sending_reply),
    "New": (_new_election,),
    "Peer": (_peer_state_changed,),
    "PeerState": (_peer_state_set,),
    "LOOKING": (_state_line,),
    "FOLLOWING": (_state_line,),
    "LEADING": (_state_line,),
    "OBSERVING": (_state_line,),
    "Getting": (_sync,),
    "Truncating": (_sync,),
    "Cannot": (_cannot_open,),
    "Have": (_smaller, _quorum),
    "Connection": (_connection,),
    "shutdown": (_shutdown,),
    "Shutdown": (_shutdown,),
    "Shutting": (_shutdown,),
    "Follower": (_follower_sid,),
    "Proposed": (_proposed,),
    "NEWLEADER": (_newleader,),
    "Exception": (_exception_when,),
    "Starting": (_starting,),
    "Successfully": (_learner,),
    "Unexpected": (_learner, _lead_failed),
    "Disconnected": (_learner,),
    "tickTime": (_setting,),
    "initLimit": (_setting,),
    "syncLimit": (_setting,),
    "zookeeper.fastleader.minNotificationInterval": (_setting,),
    "zookeeper.fastleader.maxNotificationInterval": (_setting,),
}


def recognise(record: Record) -> Fact | None:
    """The fact a record states, or None when it is none of ZooKeeper's statements this
    reader knows (a line wrapped by pasting is retried joined)."""
    try:
        fact = _recognise(record.message, record)
        if fact is None and record.tail:
            fact = _recognise(" ".join([record.message, *record.tail]), record)
            if fact is None:
                fact = _recognise("".join([record.message, *record.tail]), record)
    except NotALongError:
        return None  # numbers ZooKeeper cannot print: not its statement
    return fact


def _recognise(message: str, record: Record) -> Fact | None:
    word = message.partition(" ")[0]
    recognisers = _BY_FIRST_WORD.get(word)
    if recognisers is None:
        if not word.startswith("zookeeper."):
            return None
        recognisers = _BY_FIRST_WORD.get(word.partition("=")[0], ())
    for recogniser in recognisers:
        fact = recogniser(message, record)
        if fact is not None:
            return fact
    return None


# --- who wrote it ------------------------------------------------------------------------------

_MY_ID_IS = re.compile(r"(?:my id = |myId: ?|My id = +|myid=)(\d+)")
_ACCEPTING = re.compile(r"(\d+) is accepting connections now")


def id_evidence(record: Record, fact: Fact | None) -> int | None:
    """The server a record says wrote it, beyond its own tag and thread name: `My id = N`
    (FastLeaderElection), `myid=N` (QuorumPeerMain), `my id = N` and `(sid, myid)` pairs
    (QuorumCnxManager), `N is accepting connections now` (3.8+)."""
    if fact is not None:
        return fact.myid
    message = record.message
    if "y id" in message or "yId" in message or "myid=" in message:
        m = _MY_ID_IS.search(message)
        if m is not None:
            return sid_or_none(m.group(1))
    if "accepting connections" in message:
        m = _ACCEPTING.match(message)
        if m is not None:
            return sid_or_none(m.group(1))
    return None


def record_event(record: Record, fact: Fact | None) -> dict[str, Any]:
    """A record as a trace event's own fields (without seq, time, node and `src`): the
    fact's kind and fields, or a `log` event keeping the line verbatim."""
    if fact is None:
        event: dict[str, Any] = {"kind": "log", "at": record.at}
        if record.level:
            event["level"] = record.level
        event["text"] = record.text
    else:
        event = {"kind": fact.kind, "at": record.at, **fact.fields}
    return event
