"""The tolerant ZooKeeper log reader (engine.trace.zklog): every release's notification line, the
layouts and wrappers logs arrive in, and each statement it recognises. The lines are
written from ZooKeeper's log statements at the release tags named in each case."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.trace.zklog.layout import Record, Untimed, parse_line, read_records, unmangle
from engine.trace.zklog.statements import Fact, id_evidence, recognise

PEER = "QuorumPeer[myid=1](plain=0.0.0.0:2181)(secure=disabled)"
STD = f"2026-11-26 14:00:00,123 [myid:1] - INFO  [{PEER}:QuorumPeer@1455] - "


def std(
    message: str,
    at: str = "2023-02-11 08:30:01,314",
    tag: str = "[myid:2] ",
    thread: str = "main:QuorumPeer@1438",
    level: str = "INFO ",
) -> str:
    """A line of ZooKeeper's conf/ layout: %d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m"""
    return f"{at} {tag}- {level} [{thread}] - {message}"


def record(line: str) -> Record:
    got = parse_line(line)
    assert got is not None, line
    return got


def fact(message: str, prefix: str = STD) -> Fact:
    got = recognise(record(prefix + message))
    assert got is not None, message
    return got


def records(text: str) -> list[Record | Untimed]:
    return list(read_records(enumerate(text.splitlines(), 1)))


# --- notifications, release by release ---------------------------------------------------------

NOTIFICATIONS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "3.3.0-3.3.1",  # lookForLeader: leader, zxid, round, myid, my state, n.state, n.sid
        "Notification: 3, 4294967298, 2, 1, LOOKING, FOLLOWING, 3",
        {"sid": 3, "state": "FOLLOWING", "leader": 3, "zxid": "0x100000002", "election_epoch": 2},
        "LOOKING",
    ),
    (
        "3.3.2-3.3.6",
        "Notification: 3 (n.leader), 4294967298 (n.zxid), 2 (n.round), LOOKING (n.state), "
        "3 (n.sid), FOLLOWING (my state)",
        {"sid": 3, "state": "LOOKING", "leader": 3, "zxid": "0x100000002", "election_epoch": 2},
        "FOLLOWING",
    ),
    (
        "3.4.0-3.4.2",
        "Notification: 3 (n.leader), -1 (n.zxid), 2 (n.round), LOOKING (n.state), 2 (n.sid), "
        "1 (n.peerEPoch), LOOKING (my state)",
        {
            "sid": 2,
            "state": "LOOKING",
            "leader": 3,
            "zxid": "-0x1",
            "election_epoch": 2,
            "peer_epoch": 1,
        },
        "LOOKING",
    ),
    (
        "3.4.3-3.4.5",
        "Notification: 3 (n.leader), 0x100000002 (n.zxid), 0xa (n.round), LEADING (n.state), "
        "3 (n.sid), 0x1 (n.peerEPoch), LOOKING (my state)",
        {
            "sid": 3,
            "state": "LEADING",
            "leader": 3,
            "zxid": "0x100000002",
            "election_epoch": 10,
            "peer_epoch": 1,
        },
        "LOOKING",
    ),
    (
        "3.4.6-3.4.14",  # Notification.toString(), then my state
        "Notification: 2 (message format version), 1 (n.leader), 0x0 (n.zxid), 0x1 (n.round), "
        "LOOKING (n.state), 1 (n.sid), 0x0 (n.peerEpoch) LOOKING (my state)",
        {
            "sid": 1,
            "state": "LOOKING",
            "leader": 1,
            "zxid": "0x0",
            "election_epoch": 1,
            "peer_epoch": 0,
            "version": 2,
        },
        "LOOKING",
    ),
    (
        "3.5",  # the config version glued on after "(my state)"
        "Notification: 2 (message format version), 5 (n.leader), 0x200000007 (n.zxid), 0x3 "
        "(n.round), FOLLOWING (n.state), 4 (n.sid), 0x2 (n.peerEPoch), LOOKING (my state)"
        "100000000 (n.config version)",
        {
            "sid": 4,
            "state": "FOLLOWING",
            "leader": 5,
            "zxid": "0x200000007",
            "election_epoch": 3,
            "peer_epoch": 2,
            "version": 2,
            "config_version": "0x100000000",
        },
        "LOOKING",
    ),
    (
        "3.6-3.9",
        "Notification: my state:LEADING; n.sid:2, n.state:LOOKING, n.leader:2, n.round:0x1, "
        "n.peerEpoch:0x0, n.zxid:0xffffffffffffffff, message format version:0x2, "
        "n.config version:0x0",
        {
            "sid": 2,
            "state": "LOOKING",
            "leader": 2,
            "zxid": "-0x1",
            "election_epoch": 1,
            "peer_epoch": 0,
            "version": 2,
            "config_version": "0x0",
        },
        "LEADING",
    ),
]


@pytest.mark.parametrize(
    ("variant", "message", "n", "my_state"), NOTIFICATIONS, ids=[v[0] for v in NOTIFICATIONS]
)
def test_every_releases_notification_line(
    variant: str, message: str, n: dict[str, Any], my_state: str
) -> None:
    got = fact(message)
    assert got.kind == "recv"
    assert got.fields == {"my_state": my_state, "n": n}
    assert got.variant == variant


def test_3_3_0s_notification_names_the_server_that_logged_it() -> None:
    got = fact("Notification: 3, 0, 1, 2, LOOKING, LOOKING, 3")
    assert got.myid == 2
    assert got.fields["n"]["sid"] == 3


@pytest.mark.parametrize(
    "message",
    [
        "Notification: my state:LOOKING; n.sid:2, n.state:CONFUSED, n.leader:2",  # bad state
        "Notification: 3 (n.leader), 0x0 (n.zxid)",  # cut short
        "Notification: 1, 2, 3",
        "Notification: my state:LOOKING; n.sid:two, n.state:LOOKING, n.leader:2, n.round:0x1, "
        "n.peerEpoch:0x0, n.zxid:0x0",
    ],
)
def test_a_notification_that_does_not_parse_is_not_a_fact(message: str) -> None:
    assert recognise(record(STD + message)) is None


# --- the other statements ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind", "fields"),
    [
        ("New election. My id =  1, Proposed zxid = 4294967296", "election",
         {"proposal": {"leader": 1, "zxid": "0x100000000"}}),
        ("New election. My id =  1, proposed zxid=0x100000000", "election",
         {"proposal": {"leader": 1, "zxid": "0x100000000"}}),
        ("New election. My id = 3, proposed zxid=0x0", "election",
         {"proposal": {"leader": 3, "zxid": "0x0"}}),
        ("Notification time out: 400", "fle_timeout", {"timeout_ms": 400}),
        ("Notification time out: 60000 ms", "fle_timeout", {"timeout_ms": 60000}),
        ("LOOKING", "peer_state", {"state": "LOOKING"}),
        ("OBSERVING", "peer_state", {"state": "OBSERVING"}),
        ("PeerState set to LOOKING", "peer_state", {"state": "LOOKING"}),
        ("Peer state changed: following", "peer_state", {"state": "FOLLOWING", "zab": "ELECTION"}),
        ("Peer state changed: leading - broadcast", "peer_state",
         {"state": "LEADING", "zab": "BROADCAST"}),
        ("Peer state changed: following - synchronization - diff", "peer_state",
         {"state": "FOLLOWING", "zab": "SYNCHRONIZATION", "sync": "DIFF"}),
        ("FOLLOWING - LEADER ELECTION TOOK - 221", "took", {"state": "FOLLOWING", "took_ms": 221}),
        ("LEADING - LEADER ELECTION TOOK - 474 MS", "took", {"state": "LEADING", "took_ms": 474}),
        ("Getting a diff from the leader 0x100000003", "zk",
         {"what": "sync", "mode": "DIFF", "zxid": "0x100000003"}),
        ("Getting a snapshot from leader", "zk", {"what": "sync", "mode": "SNAP"}),
        ("Getting a snapshot from leader 0x200000000", "zk",
         {"what": "sync", "mode": "SNAP", "zxid": "0x200000000"}),
        ("Truncating log to get in sync with the leader 0x100000009", "zk",
         {"what": "sync", "mode": "TRUNC", "zxid": "0x100000009"}),
        ("Follower sid: 4 not in the current config 100000000", "zk",
         {"what": "not_in_config", "peer": 4}),
        ("Follower sid: 1 : info : 10.0.0.1:2888:3888:participant", "zk",
         {"what": "learner_info", "peer": 1, "server": "10.0.0.1:2888:3888:participant"}),
        ("Have quorum of supporters, sids: [ [1, 3],[1, 3] ]; starting up and setting last "
         "processed zxid: 0x100000000", "zk",
         {"what": "quorum_formed", "sids": [1, 3], "zxid": "0x100000000"}),
        ("Have quorum of supporters; starting up and setting last processed zxid: 4294967296",
         "zk", {"what": "quorum_formed", "zxid": "0x100000000"}),
        ("Proposed leader epoch 0x2 is less than our accepted epoch 0x3", "zk",
         {"what": "epoch_mismatch", "leader_epoch": 2, "accepted_epoch": 3}),
        ("NEWLEADER ACK from sid: 2 is from a different epoch - current 0x300000000 received "
         "0x200000000", "zk",
         {"what": "epoch_mismatch", "peer": 2, "zxid": "0x300000000", "peer_zxid": "0x200000000"}),
        ("Starting quorum peer, myid=3", "zk", {"what": "start"}),
        ("Starting quorum peer", "zk", {"what": "start"}),
        ("Successfully connected to leader, using address: /127.0.0.1:27503", "zk",
         {"what": "leader_connected", "address": "/127.0.0.1:27503"}),
        ("Disconnected from leader (with address: /127.0.0.1:27503). Was connected for 1745ms. "
         "Sync state: true", "zk",
         {"what": "leader_disconnected", "address": "/127.0.0.1:27503", "connected_ms": 1745,
          "synced": True}),
        ("tickTime set to 2000", "zk", {"what": "setting", "key": "tick_time_ms", "value": 2000}),
        ("syncLimit set to 5", "zk", {"what": "setting", "key": "sync_limit", "value": 5}),
        ("zookeeper.fastleader.maxNotificationInterval = 60000 ms", "zk",
         {"what": "setting", "key": "max_notification_interval_ms", "value": 60000}),
        ("zookeeper.fastleader.minNotificationInterval=200", "zk",
         {"what": "setting", "key": "min_notification_interval_ms", "value": 200}),
        ("Shutdown called. For the reason Not sufficient followers synced, only synced with "
         "sids: [ 3 ]", "zk",
         {"what": "shutdown", "role": "leader",
          "reason": "Not sufficient followers synced, only synced with sids: [ 3 ]"}),
        ("shutdown Follower", "zk", {"what": "shutdown", "role": "follower"}),
        ("Sending Notification: 3 (n.leader), 0x0 (n.zxid), 0x2 (n.round), 1 (recipient), "
         "2 (myid), 0x1 (n.peerEpoch) ", "sent",
         {"to": 1, "n": {"state": "LOOKING", "leader": 3, "zxid": "0x0", "election_epoch": 2,
                         "peer_epoch": 1}}),
        ("Sending new notification. My id =2 recipient=3 zxid=0x0 leader=2 config version = 0",
         "sent", {"to": 3, "n": {"leader": 2, "zxid": "0x0"}, "reply": True}),
    ],
)  # fmt: skip
def test_each_statement_the_reader_knows(message: str, kind: str, fields: dict[str, Any]) -> None:
    got = fact(message)
    assert (got.kind, got.fields) == (kind, fields)


def test_connection_failures_say_why_from_the_exception_after_them() -> None:
    """QuorumCnxManager logs the failure, then the exception's stack trace."""
    reasons = {
        "java.net.ConnectException: Connection refused": "refused",
        "java.net.SocketTimeoutException: connect timed out": "timed out",
        "java.nio.channels.UnresolvedAddressException": "unresolved",
        "java.net.UnknownHostException: zk-3": "unresolved",
        "java.net.NoRouteToHostException: No route to host": "no route",
    }
    for exception, reason in reasons.items():
        text = (
            f"{STD}Cannot open channel to 3 at election address zk-3/10.0.0.3:3888\n"
            f"{exception}\n\tat java.net.Socket.connect(Socket.java:589)\n"
        )
        [rec] = records(text)
        assert isinstance(rec, Record)
        assert (rec.exception, rec.more) == (exception, 2)
        got = recognise(rec)
        assert got is not None
        assert got.fields == {
            "what": "conn_failed",
            "peer": 3,
            "reason": reason,
            "address": "zk-3/10.0.0.3:3888",
        }


def test_a_follower_that_loses_its_leader_says_how() -> None:
    cases = {
        "java.net.SocketTimeoutException: Read timed out": "read timed out",
        "java.io.EOFException": "eof",
        "java.net.SocketException: Connection reset": "reset",
    }
    for exception, reason in cases.items():
        [rec] = records(f"{STD}Exception when following the leader\n{exception}\n")
        assert isinstance(rec, Record)
        assert recognise(rec) == Fact(
            "zk", {"what": "follow_failed", "reason": reason, "exception": exception}
        )
    [rec] = records(
        f"{STD}Exception when following the leader\n"
        "java.io.IOException: Leaders epoch, 1 is less than accepted epoch, 2\n"
    )
    assert isinstance(rec, Record)
    got = recognise(rec)
    assert got is not None
    assert got.fields["reason"] == "epoch mismatch"
    assert (got.fields["leader_epoch"], got.fields["accepted_epoch"]) == (1, 2)


def test_before_3_6_a_shutdown_names_its_role_and_reason_in_the_exception() -> None:
    [follower] = records(f"{STD}shutdown called\njava.lang.Exception: shutdown Follower\n")
    [leader] = records(
        f"{STD}Shutdown called\n"
        "java.lang.Exception: shutdown Leader! reason: Not sufficient followers synced\n"
    )
    assert isinstance(follower, Record)
    assert isinstance(leader, Record)
    assert recognise(follower) == Fact("zk", {"what": "shutdown", "role": "follower"})
    assert recognise(leader) == Fact(
        "zk",
        {"what": "shutdown", "role": "leader", "reason": "Not sufficient followers synced"},
    )


def test_shutting_down_is_the_leaders_only_when_the_leader_logs_it() -> None:
    line = "2026-11-26 14:00:00,123 [myid:1] - INFO  [QuorumPeer[myid=1]:{}@817] - Shutting down"
    assert recognise(record(line.format("Leader"))) == Fact(
        "zk", {"what": "shutdown", "role": "leader"}
    )
    assert recognise(record(line.format("RequestThrottler"))) is None


def test_the_smaller_sid_rule_names_both_ends_in_every_release() -> None:
    new = fact("Have smaller server identifier, so dropping the connection: (myId:3 --> sid:1)")
    old = fact("Have smaller server identifier, so dropping the connection: (1, 3)")
    for got in (new, old):
        assert got.fields == {"what": "conn_dropped", "peer": 1, "reason": "smaller sid"}
        assert got.myid == 3


def test_a_broken_connection_without_ids_takes_the_peer_from_the_thread() -> None:
    """3.3.0 logs `Connection broken: ` and the exception; RecvWorker's name has the peer."""
    thread = "RecvWorker:2:QuorumCnxManager$RecvWorker@658"
    line = std("Connection broken: ", tag="", thread=thread, level="WARN ")
    assert recognise(record(line)) == Fact("zk", {"what": "conn_broken", "peer": 2})


def test_an_unknown_line_is_no_fact() -> None:
    assert recognise(record(STD + "Reading configuration from: /conf/zoo.cfg")) is None
    assert recognise(record(STD + "")) is None


# --- layouts and wrappers ----------------------------------------------------------------------


def test_the_standard_layout_and_its_fields() -> None:
    rec = record(STD + "LOOKING")
    assert rec.ms == 1795701600123.0  # 2026-11-26T14:00:00.123 read as UTC
    assert rec.at == "2026-11-26T14:00:00.123"
    assert (rec.level, rec.logger, rec.myid, rec.message) == ("INFO", "QuorumPeer", 1, "LOOKING")
    assert rec.thread == "QuorumPeer[myid=1](plain=0.0.0.0:2181)(secure=disabled)"


def test_without_the_myid_tag_the_thread_name_names_the_server() -> None:
    receiver = "WorkerReceiver[myid=2]:FastLeaderElection$Messenger$WorkerReceiver@391"
    no_tag = record(std("x", tag="", thread=receiver))
    empty_tag = record(std("x", tag="[myid:] ", thread=receiver))
    peer_thread = record(std("x", tag="", thread="RecvWorker:3:QuorumCnxManager$RecvWorker@1402"))
    assert (no_tag.myid, empty_tag.myid, peer_thread.myid) == (2, 2, None)


QP = "(org.apache.zookeeper.server.quorum.QuorumPeer)"


@pytest.mark.parametrize(
    ("line", "prefix"),
    [
        (std("LOOKING"), ""),
        ("zoo2_1  | " + std("LOOKING"), "zoo2_1  | "),
        ("\x1b[36mzoo2_1  |\x1b[0m " + std("LOOKING"), "zoo2_1  | "),
        ("zk-2  | " + std("LOOKING"), "zk-2  | "),
        ("2024-03-01T10:00:05.657000412Z 2023-02-11 08:30:01,314 INFO LOOKING "
         f"{QP} [QuorumPeer[myid=2](plain=0.0.0.0:2181)(secure=disabled)]", ""),
        (f"[2023-02-11 08:30:01,314] INFO LOOKING {QP}", ""),
        ("2023-02-11T08:30:01.314 [QuorumPeer[myid=2]] INFO  o.a.z.s.q.QuorumPeer - LOOKING", ""),
        ("> " + std("LOOKING"), ""),
        ("> > " + std("LOOKING"), ""),
        ("- `" + std("LOOKING") + "`", ""),
        ("* " + std("LOOKING"), ""),
        (std("LOOKING").replace("[", "\\[").replace("]", "\\]"), ""),
        (std("LOOKING").replace("- INFO", "-\u00a0INFO"), ""),
    ],
)  # fmt: skip
def test_layouts_wrappers_and_pasting_all_read_the_same(line: str, prefix: str) -> None:
    rec = record(line)
    assert rec.message == "LOOKING"
    assert rec.prefix == prefix
    assert rec.at == "2023-02-11T08:30:01.314"
    assert rec.level == "INFO"
    assert rec.myid in (2, None)


def test_a_vendor_layout_gives_the_thread_and_logger_at_the_end() -> None:
    rec = record(
        "2024-03-01 10:00:05,604 INFO Notification: my state:LOOKING; n.sid:2, n.state:LOOKING, "
        "n.leader:2, n.round:0x1, n.peerEpoch:0x0, n.zxid:0x0, message format version:0x2, "
        "n.config version:0x0 (org.apache.zookeeper.server.quorum.FastLeaderElection$Messenger"
        "$WorkerReceiver) [WorkerReceiver[myid=1]]"
    )
    assert rec.myid == 1
    assert rec.thread == "WorkerReceiver[myid=1]"
    assert rec.logger == "FastLeaderElection$Messenger$WorkerReceiver"
    assert recognise(rec) is not None


def test_html_entities_and_escapes_are_undone() -> None:
    assert unmangle("(myId:3 --&gt; sid:1)") == "(myId:3 --> sid:1)"
    assert unmangle("zoo1\\_1 \\[myid:1\\]") == "zoo1_1 [myid:1]"
    assert unmangle("a\u200bb\u00a0c") == "ab c"


def test_timestamps_with_a_zone_are_read_in_utc() -> None:
    utc = record(f"2026-11-26T14:00:00.123Z INFO LOOKING {QP}")
    plus = record(f"2026-11-26T15:00:00.123+01:00 INFO LOOKING {QP}")
    assert utc.ms == plus.ms == 1795701600123.0
    assert plus.at == "2026-11-26T15:00:00.123+01:00"


def test_a_date_that_is_no_date_starts_no_record() -> None:
    assert parse_line("2026-13-45 99:00:00,123 - INFO  [main:X@1] - LOOKING") is None


# --- records -----------------------------------------------------------------------------------


def test_stack_traces_belong_to_their_line_and_lines_before_any_record_are_untimed() -> None:
    frame = "\tat java.base/java.io.DataInputStream.readInt(DataInputStream.java:386)"
    broken = "Connection broken for id 3, my id = 1"
    lines = [
        "ZooKeeper JMX enabled by default",
        "Using config: /conf/zoo.cfg",
        std(broken, tag="", thread="RecvWorker:3:QuorumCnxManager$RecvWorker@1402", level="WARN "),
        "java.io.EOFException",
        frame,
        frame,
        "",
        std("Exception when following the leader", thread=f"{PEER}:Follower@128", level="WARN "),
        "java.io.EOFException",
        frame,
        "Caused by: java.net.SocketException: Socket closed",
        "\t... 4 more",
    ]
    text = "\n".join(lines)
    got = records(text)
    assert got[:2] == [
        Untimed(1, "ZooKeeper JMX enabled by default"),
        Untimed(2, "Using config: /conf/zoo.cfg"),
    ]
    broken_record, follow = got[2], got[3]
    assert isinstance(broken_record, Record)
    assert isinstance(follow, Record)
    assert (broken_record.lineno, broken_record.more) == (3, 3)
    assert broken_record.exception == "java.io.EOFException"
    assert (follow.lineno, follow.more, follow.exception) == (8, 4, "java.io.EOFException")
    assert recognise(broken_record) == Fact(
        "zk", {"what": "conn_broken", "peer": 3, "exception": "java.io.EOFException"}, myid=1
    )


def test_continuations_follow_their_own_wrapper_stream() -> None:
    refused = "java.net.ConnectException: Connection refused (Connection refused)"
    lines = [
        "zoo1_1  | " + std("Cannot open channel to 3 at election address zoo3/172.18.0.4:3888"),
        "zoo2_1  | " + std("LOOKING"),
        "zoo1_1  | " + refused,
        "zoo1_1  | \tat java.base/java.net.PlainSocketImpl.socketConnect(Native Method)",
        "zoo3_1  | ZooKeeper JMX enabled by default",
    ]
    got = records("\n".join(lines))
    by_prefix = {r.prefix: r for r in got if isinstance(r, Record)}
    assert by_prefix["zoo1_1  | "].more == 2
    assert by_prefix["zoo1_1  | "].exception == refused
    assert by_prefix["zoo2_1  | "].more == 0
    assert [u.lineno for u in got if isinstance(u, Untimed)] == [5]


def test_a_line_wrapped_by_pasting_is_read_joined() -> None:
    text = (
        "2025-09-14 21:03:41,472 [myid:1] - INFO  [WorkerReceiver[myid=1]:FastLeaderElection@390]"
        " - Notification: my state:LOOKING; n.sid:2, n.state:LOOKING, n.leader:2, n.round:0x1\n"
        "n.peerEpoch:0x0, n.zxid:0x0, message format version:0x2, n.config version:0x0\n"
    )
    [rec] = records(text)
    assert isinstance(rec, Record)
    got = recognise(rec)
    assert got is not None
    assert got.kind == "recv"
    assert got.fields["n"]["peer_epoch"] == 0


def test_code_fences_and_blank_lines_are_skipped() -> None:
    got = records("```\n\n2026-11-26 14:00:00,123 [myid:1] - INFO  [T:X@1] - LOOKING\n```\n")
    assert len(got) == 1
    assert isinstance(got[0], Record)


# --- who wrote it -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "myid"),
    [
        ("New election. My id =  3, proposed zxid=0x0", 3),
        ("Starting quorum peer, myid=2", 2),
        ("Connection broken for id 3, my id = 1", 1),
        ("Send worker leaving thread id 3 my id = 1", 1),
        ("Have smaller server identifier, so dropping the connection: (myId:4 --> sid:2)", 4),
        ("Have smaller server identifier, so dropping the connection: (2, 4)", 4),
        ("1 is accepting connections now, my election bind port: /127.0.0.1:27601", 1),
        ("Notification: my state:LOOKING; n.sid:2, n.state:LOOKING, n.leader:2, n.round:0x1, "
         "n.peerEpoch:0x0, n.zxid:0x0", None),
        ("Reading configuration from: /conf/zoo.cfg", None),
    ],
)  # fmt: skip
def test_what_the_lines_say_about_their_writer(message: str, myid: int | None) -> None:
    rec = record("2026-12-06 08:10:20,642 - INFO  [main:X@1] - " + message)
    assert id_evidence(rec, recognise(rec)) == myid


@given(st.text(max_size=300))
def test_no_line_makes_the_reader_fail(text: str) -> None:
    for item in read_records(enumerate(text.splitlines(), 1)):
        if isinstance(item, Record):
            recognise(item)


@given(st.text(alphabet="0123456789-:,. [](){}=<>xTZ+", max_size=80))
def test_no_timestamp_like_line_makes_the_reader_fail(text: str) -> None:
    rec = parse_line("2026-11-26 14:00:00,123 " + text)
    if rec is not None:
        recognise(rec)
