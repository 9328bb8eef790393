"""`zkfle explain` on real servers' logs (issue 16): the real ZooKeeper 3.8 captures of
tests/data/zklogs, every log format the reader takes, and fragments written here from
ZooKeeper's own log statements (FastLeaderElection, QuorumPeer, Follower, Leader, Learner,
QuorumCnxManager) for the causes only real servers show: a leader frozen by a GC pause,
an unresolvable peer with connectOne blocked for cnxTimeout, churning connections, clocks
that cannot be compared, a slow SNAP, a log that is missing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.replay.explainfile import ExplainReport, explain_inputs
from engine.replay.zkimport.importer import import_logs
from engine.trace.explain.outage import Explanation
from engine.trace.format import read_trace

ZKLOGS = Path(__file__).resolve().parent / "data" / "zklogs"


def adds_up(x: Explanation) -> None:
    assert sum(p.ms for p in x.phases) == pytest.approx(x.wall_ms, abs=1e-6)
    for a, b in zip(x.phases, x.phases[1:], strict=False):
        assert b.start == pytest.approx(a.end, abs=1e-6)


def named(x: Explanation, cause: str) -> list[str]:
    return [p.text for p in x.phases if p.cause == cause]


# --- fragments, written from ZooKeeper's log statements ----------------------------------------


@dataclass
class Server:
    """One server's log lines in the layout of ZooKeeper 3.8's conf/logback.xml (or 3.4's
    log4j.properties, which prints notifications in the labelled form)."""

    sid: int
    base: datetime
    release: str = "3.8"
    lines: list[tuple[float, str]] = field(default_factory=list)

    def log(
        self, ms: float, text: str, level: str = "INFO", where: str = "", more: Iterable[str] = ()
    ) -> None:
        t = self.base + timedelta(milliseconds=ms)
        thread = (
            where
            or f"QuorumPeer[myid={self.sid}](plain=0.0.0.0:2181)(secure=disabled):QuorumPeer@917"
        )
        stamp = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
        self.lines.append((ms, f"{stamp} [myid:{self.sid}] - {level:<5} [{thread}] - {text}"))
        for extra in more:
            self.lines.append((ms, extra))

    def write(self, directory: Path) -> Path:
        path = directory / f"node{self.sid}" / "zookeeper.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.lines, key=lambda x: x[0])
        path.write_text("".join(line + "\n" for _, line in ordered), encoding="utf-8")
        return path

    # FastLeaderElection.Messenger.WorkerReceiver (3.6+) / printNotification (3.4.6+)
    def recv(self, ms: float, sid: int, leader: int, rnd: int, epoch: int, zxid: int,
             state: str = "LOOKING", mine: str = "LOOKING") -> None:  # fmt: skip
        where = f"WorkerReceiver[myid={self.sid}]:FastLeaderElection$Messenger$WorkerReceiver@391"
        if self.release == "3.4":
            text = (
                f"Notification: 2 (message format version), {leader} (n.leader), 0x{zxid:x}"
                f" (n.zxid), 0x{rnd:x} (n.round), {state} (n.state), {sid} (n.sid), 0x{epoch:x}"
                f" (n.peerEpoch) {mine} (my state)"
            )
            where = f"WorkerReceiver[myid={self.sid}]:FastLeaderElection@595"
        else:
            text = (
                f"Notification: my state:{mine}; n.sid:{sid}, n.state:{state}, n.leader:{leader},"
                f" n.round:0x{rnd:x}, n.peerEpoch:0x{epoch:x}, n.zxid:0x{zxid:x}, message"
                " format version:0x2, n.config version:0x0"
            )
        self.log(ms, text, where=where)

    def election(self, ms: float, zxid: int) -> None:  # FastLeaderElection.lookForLeader
        self.log(ms, "LOOKING")
        self.log(ms + 1, f"New election. My id = {self.sid}, proposed zxid=0x{zxid:x}")

    def state(self, ms: float, words: str) -> None:  # QuorumPeer.setPeerState / setZabState
        self.log(ms, f"Peer state changed: {words}")

    def took(self, ms: float, state: str, took: int) -> None:  # Follower/Leader.lead
        self.log(ms, f"{state} - LEADER ELECTION TOOK - {took} MS")

    def read_timeout(self, ms: float) -> None:  # Follower.followLeader
        frame = "\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)"
        self.log(ms, "Exception when following the leader", "WARN",
                 more=["java.net.SocketTimeoutException: Read timed out", frame])  # fmt: skip

    def cannot_open(self, ms: float, peer: int, address: str, exception: str) -> None:
        where = f"WorkerSender[myid={self.sid}]:QuorumCnxManager@584"
        self.log(ms, f"Cannot open channel to {peer} at election address {address}", "WARN",
                 where=where, more=[exception])  # fmt: skip

    def quorum(self, ms: float, sids: list[int], zxid: int) -> None:  # Leader.lead
        self.log(ms, f"Have quorum of supporters, sids: [{sids}]; starting up and setting last"
                     f" processed zxid: 0x{zxid:x}")  # fmt: skip


def serving(servers: list[Server], leader: int) -> None:
    """The fragment begins with `leader` serving: its followers in broadcast (3.4 logs no
    zab phase: its leader serves from `Have quorum of supporters`)."""
    lead = next(s for s in servers if s.sid == leader)
    for s in servers:
        if s.release == "3.4":
            s.log(0, "LEADING" if s is lead else "FOLLOWING")
        elif s is not lead:
            s.state(0, "following - broadcast")
    lead.quorum(5, sorted(s.sid for s in servers), 0x100000000)
    if lead.release != "3.4":
        lead.state(6, "leading - broadcast")


def serving_with_limits(servers: list[Server], leader: int, tick_ms: int) -> None:
    """As `serving`, after each server logged its timing (syncLimit 5, initLimit 10)."""
    for s in servers:
        s.log(-10, f"tickTime set to {tick_ms}", where="main:QuorumPeer@1985")
        s.log(-10, "syncLimit set to 5", where="main:QuorumPeer@2011")
        s.log(-10, "initLimit set to 10", where="main:QuorumPeer@1998")
    serving(servers, leader)


def n2_elected(n1: Server, n2: Server, ms: float, rnd: int, zxid1: int, zxid2: int) -> None:
    """Round `rnd` from `ms`: n1 and n2 vote for themselves, n1 adopts n2's better vote
    and tells n2, which then has a quorum {1, 2}."""
    n1.recv(ms, 1, 1, rnd, 1, zxid1)
    n2.recv(ms + 2, 2, 2, rnd, 1, zxid2)
    n2.recv(ms + 3, 1, 1, rnd, 1, zxid1)
    n1.recv(ms + 5, 2, 2, rnd, 1, zxid2)  # better: n1 adopts n2's vote
    n1.recv(ms + 7, 1, 2, rnd, 1, zxid2)
    n2.recv(ms + 10, 1, 2, rnd, 1, zxid2)  # quorum {1, 2} for n2


def explain_fragment(tmp_path: Path, servers: list[Server], *skip: int) -> ExplainReport:
    logs = tmp_path / "logs"
    for s in servers:
        if s.sid not in skip:
            s.write(logs)
    return explain_inputs([logs])


BASE = datetime(2026, 3, 9, 7, 5, 0)


def gc_pause(release: str = "3.8", snap_ms: float | None = None) -> list[Server]:
    """Leader n3 freezes in a GC pause at 07:05:03.1; n1 and n2 hear nothing and leave it
    after syncLimit (5 x 2000 ms); n2 has the higher zxid and leads, syncing n1 by DIFF
    (or by a SNAP that takes `snap_ms`)."""
    n1, n2, n3 = (Server(s, BASE, release) for s in (1, 2, 3))
    serving_with_limits([n1, n2, n3], 3, 2000)
    n1.read_timeout(13_100)
    n2.read_timeout(13_104)
    n1.state(13_102, "looking")
    n1.election(13_103, 0x100000005)
    n2.state(13_106, "looking")
    n2.election(13_107, 0x100000007)
    n2_elected(n1, n2, 13_110, 2, 0x100000005, 0x100000007)
    n2.state(13_321, "leading")
    n2.took(13_330, "LEADING", 224)
    n2.state(13_331, "leading - discovery")
    n1.state(13_322, "following")
    n1.took(13_335, "FOLLOWING", 232)
    n1.state(13_336, "following - discovery")
    n1.state(13_400, "following - synchronization")
    learner = "QuorumPeer[myid=1]:Learner@565"
    if snap_ms is None:
        n1.log(13_401, "Getting a diff from the leader 0x100000007", where=learner)
    else:
        n1.log(13_401, "Getting a snapshot from leader 0x1000a2f31", where=learner)
        n1.state(13_402, "following - synchronization - snap")
    n2.state(13_402, "leading - synchronization")
    synced = 13_402 + (snap_ms or 878)
    n2.quorum(synced, [1, 2], 0x200000000)
    n2.state(synced + 20, "leading - broadcast")
    n1.state(synced + 22, "following - broadcast")
    return [n1, n2, n3]


def test_a_gc_paused_leader_is_left_after_synclimit_and_the_silence_counts(tmp_path: Path) -> None:
    report = explain_fragment(tmp_path, gc_pause())
    x = report.explanations[-1]
    adds_up(x)
    assert x.leader == 2
    # the outage began when the leader fell silent, syncLimit before the first follower's
    # read timeout (n1's, 4 ms before the one that took the leader's quorum: issue 16)
    assert x.start_at == "2026-03-09T07:05:03.100"
    assert x.wall_ms == pytest.approx(11_200, abs=1)
    assert x.verdict.startswith("No leader for 11.20 s.")
    assert "(highest zxid)" in x.verdict
    assert x.causes[0] == "leader-lost-sync-timeout"
    (detection,) = named(x, "leader-lost-sync-timeout")
    assert "syncLimit (5 x 2000 ms): Read timed out at 07:05:13.10" in detection
    assert [p.phase for p in x.phases][-2:] == ["discovery", "sync"]
    # what each server's log shows it did, a state logged in several lines said once
    n2 = dict(x.nodes)[2]
    assert n2[:3] == (
        "07:05:13.104 follow failed read timed out",
        "07:05:13.106 LOOKING election",
        "07:05:13.108 new election, zxid 0x100000007",
    )
    assert n2[-1] == "07:05:14.300 LEADING broadcast"
    assert sum("LEADING synchronization" in line for line in n2) == 1


def test_a_partial_log_names_what_is_missing(tmp_path: Path) -> None:
    # only the new leader's log: n1's vote reached it, but when and why n1 sent it is unknown
    report = explain_fragment(tmp_path, gc_pause(), 1, 3)
    x = report.explanations[-1]
    adds_up(x)
    assert "unknown" in x.causes
    assert any("n1's log is missing" in t for t in named(x, "unknown"))
    assert "n1's log" in x.unknown


def test_peer_unreachable_unresolvable_and_timed_out_connects_block_for_cnxtimeout(
    tmp_path: Path,
) -> None:
    # 3.4: connectOne is synchronous (ZOOKEEPER-3756): n1's connect to the dead pod of n3
    # times out after cnxTimeout (5 s) before its vote can go to n2
    n1, n2, n3 = (Server(s, BASE, "3.4") for s in (1, 2, 3))
    serving([n1, n2, n3], 3)
    n1.read_timeout(13_100)
    n2.read_timeout(13_101)
    n1.election(13_103, 0x100000005)
    n2.election(13_104, 0x100000003)
    n1.recv(13_106, 1, 1, 2, 1, 0x100000005)
    n2.recv(13_107, 2, 2, 2, 1, 0x100000003)
    n1.cannot_open(18_110, 3, "zk-3:3888", "java.nio.channels.UnresolvedAddressException")
    n1.cannot_open(
        23_115, 3, "zk-3/10.0.3.13:3888", "java.net.SocketTimeoutException: connect timed out"
    )
    n2.recv(23_130, 1, 1, 2, 1, 0x100000005)  # better: n2 adopts n1
    n2.recv(23_132, 2, 1, 2, 1, 0x100000005)
    n1.recv(23_133, 2, 1, 2, 1, 0x100000005)
    n1.log(23_334, "LEADING", where="QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:QuorumPeer@922")
    n1.took(23_340, "LEADING", 10237)
    n2.log(23_335, "FOLLOWING", where="QuorumPeer[myid=2]/0:0:0:0:0:0:0:0:2181:QuorumPeer@922")
    n1.quorum(23_500, [1, 2], 0x200000000)
    report = explain_fragment(tmp_path, [n1, n2, n3])
    x = report.explanations[-1]
    adds_up(x)
    assert x.leader == 1
    texts = named(x, "peer-unreachable")
    assert texts
    assert "up to cnxTimeout (ZOOKEEPER-3756)" in texts[0]
    assert "to n3 failed meanwhile (timed out, unresolved)" in texts[0]
    assert "unresolved" in " ".join(x.nodes[0][1])


def test_clocks_that_cannot_be_compared_are_named(tmp_path: Path) -> None:
    # n1's excerpt has no copy of its own votes: only n2's votes are logged at both ends, so
    # the offset between their clocks is bounded on one side only
    servers = gc_pause()
    n1 = servers[0]
    n1.lines = [(ms, line) for ms, line in n1.lines if "n.sid:1," not in line]
    report = explain_fragment(tmp_path, servers)
    x = report.explanations[-1]
    adds_up(x)
    assert "clock-skew" in x.causes
    assert any("n2's clock offset bounded on one side only" in t for t in named(x, "clock-skew"))


def test_connection_churn_the_smaller_sid_keeps_dropping(tmp_path: Path) -> None:
    servers = gc_pause()
    n1 = servers[0]
    where = "QuorumConnectionThread-[myid=1]-2:QuorumCnxManager@514"
    for ms in (13_111, 13_113, 13_114):
        n1.log(
            ms,
            "Have smaller server identifier, so dropping the connection: (myId:1 --> sid:2)",
            where=where,
        )
    report = explain_fragment(tmp_path, servers)
    x = report.explanations[-1]
    adds_up(x)
    assert "connection-churn" in x.causes
    (churn,) = named(x, "connection-churn")
    assert "dropped and made again 3 times" in churn


def test_sync_slow_a_large_snapshot(tmp_path: Path) -> None:
    report = explain_fragment(tmp_path, gc_pause(snap_ms=10_878))
    x = report.explanations[-1]
    adds_up(x)
    assert x.causes[0] == "sync-slow"
    texts = " ".join(named(x, "sync-slow"))
    assert "SNAP to n1" in texts
    assert "of initLimit's 20.00 s" in texts


def attempt_gives_up(says_sync_state: bool, newleader: bool = False, late: int = 0) -> list[Server]:
    """n3, the leader, dies at 1 s (EOF); n1 and n2 elect n2 (tickTime 100, initLimit 10),
    but n2's LEADERINFO does not reach n1: n2 gives up waiting for n1's epoch ack at
    2.225 and looks again; n1 reads nothing for initLimit ticks (Learner.connectToLeader's
    socket timeout until it is synced), goes LOOKING at 2.232 and takes n2's new vote
    before its `New election` line; n1's answer gives n2 its quorum. With `newleader`, n2
    gave up waiting for NEWLEADER acks instead (Leader.lead's shutdown reason); `late`
    ms more and n1 takes n2's vote only after its election began."""
    n1, n2, n3 = (Server(s, BASE) for s in (1, 2, 3))
    serving_with_limits([n1, n2, n3], 3, 100)
    eof = ["java.io.EOFException", "\tat java.base/java.io.DataInputStream.readInt"]
    for s, ms in ((n2, 1000), (n1, 1002)):
        s.log(ms, "Exception when following the leader", "WARN", more=eof)
        s.state(ms + 1, "looking")
        s.election(ms + 2, 0x100000000)
    z = 0x100000000
    n2_elected(n1, n2, 1007, 2, z, z)
    n1.state(1215, "following")
    n1.took(1216, "FOLLOWING", 211)
    n1.state(1217, "following - discovery")
    n2.state(1218, "leading")
    n2.took(1219, "LEADING", 215)
    n2.state(1220, "leading - discovery")
    timeout = (
        "java.lang.InterruptedException: Timeout while waiting for epoch to be acked by quorum"
    )
    reason = "Forcing shutdown"
    if newleader:
        reason = "Waiting for a quorum of followers, only synced with sids: [ 2 ]"
    else:
        n2.log(2225, "Unexpected exception", "WARN", more=[timeout, "\tat org.apache.Leader"])
    n2.log(2225, "Shutting down", where="QuorumPeer[myid=2]:Leader@813")
    n2.log(2225, f"Shutdown called. For the reason {reason}", where="Q:Leader@819")
    n2.state(2225, "looking")
    n2.election(2226, z)
    n2.recv(2227, 2, 2, 3, 1, z)
    n1.read_timeout(2231)
    if says_sync_state:  # 3.6+
        n1.log(2232, "Disconnected from leader (with address: /127.0.0.1:2888). Was connected"
                     " for 1000ms. Sync state: false")  # fmt: skip
    n1.state(2232, "looking")
    n1.recv(2232 + late, 2, 2, 3, 1, z)  # queued as LOOKING, taken once the election begins
    n1.election(2233, z)
    n1.recv(2235, 1, 2, 3, 1, z)
    n2.recv(2236, 1, 2, 3, 1, z)  # quorum {1, 2} for n2
    n1.state(2434, "following")
    n1.state(2435, "following - discovery")
    n2.state(2436, "leading")
    n2.state(2437, "leading - discovery")
    n2.state(2460, "leading - synchronization")
    n1.log(
        2461, "Getting a diff from the leader 0x100000000", where="QuorumPeer[myid=1]:Learner@565"
    )
    n2.quorum(2470, [1, 2], 0x200000000)
    n2.state(2480, "leading - broadcast")
    n1.state(2481, "following - broadcast")
    return [n1, n2, n3]


@pytest.mark.parametrize("says_sync_state", [True, False], ids=["3.6+", "zab-phase"])
def test_a_learner_not_synced_within_initlimit_is_init_limit_expired(
    tmp_path: Path, says_sync_state: bool
) -> None:
    """A learner's read timeout before it is synced is initLimit's, not syncLimit's: its
    attempt to follow from its decision to the timeout is a restart, init-limit-expired
    (3.6+ says `Sync state: false`; 3.5 shows the zab phase it was in)."""
    x = explain_fragment(tmp_path, attempt_gives_up(says_sync_state)).explanations[-1]
    adds_up(x)
    assert x.leader == 2
    assert "leader-lost-sync-timeout" not in x.causes
    (restart,) = [p for p in x.phases if p.cause == "init-limit-expired"]
    assert (restart.node, restart.phase) == (1, "restart")
    assert restart.start == pytest.approx(x.start + 215)  # from n1's first decision
    assert restart.text == (
        "n1 heard nothing from its new leader for initLimit (10 x 100 ms) before it was"
        " synced: Read timed out at 07:05:02.231"
    )


@pytest.mark.parametrize(
    ("newleader", "reason"),
    [
        (False, "Timeout while waiting for epoch to be acked by quorum"),
        (True, "Waiting for a quorum of followers, only synced with sids: [ 2 ]"),
    ],
    ids=["epoch-ack", "newleader-ack"],
)
def test_a_leader_without_a_synced_quorum_within_initlimit_is_init_limit_expired(
    tmp_path: Path, newleader: bool, reason: str
) -> None:
    """Leader.lead gives up after initLimit ticks without a quorum: the epoch, the epoch
    acks (QuorumPeer.run's `Unexpected exception`), or the NEWLEADER acks (its shutdown
    reason). Its attempt from its decision is a restart, init-limit-expired."""
    servers = attempt_gives_up(True, newleader=newleader, late=2)
    x = explain_fragment(tmp_path, servers).explanations[-1]
    adds_up(x)
    assert x.leader == 2
    (restart,) = [p for p in x.phases if p.cause == "init-limit-expired"]
    assert (restart.node, restart.phase) == (2, "restart")
    assert restart.start == pytest.approx(x.start + 218)  # from n2's first decision
    assert restart.text == (
        f"leader n2 waited initLimit (10 x 100 ms) for a quorum of followers: {reason}"
    )


# --- the real captures ---------------------------------------------------------------------------


def measured(trace: Path, begin: str, leader: int) -> float:
    """From the first line of kind `begin` (zk `what`) after the first leader served, to
    `leader` logging broadcast: the outage as the logs show it."""
    events = list(read_trace(trace))
    served = next(
        e["seq"] for e in events if e["kind"] == "peer_state" and e.get("zab") == "BROADCAST"
    )
    start = next(e for e in events if e["seq"] > served and e.get("what") == begin)
    end = next(
        e
        for e in events
        if e["seq"] > start["seq"]
        and e["kind"] == "peer_state"
        and e["node"] == leader
        and e.get("zab") == "BROADCAST"
    )
    return float(end["t_ms"] - start["t_ms"])


def last_outage(tmp_path: Path, capture: str, leader: int) -> tuple[Explanation, float]:
    """A real capture's last outage explained, and its wall time as the logs show it (from
    the first follower losing its leader to `leader` in broadcast)."""
    report = explain_inputs([ZKLOGS / capture])
    assert report.ended_with_leader
    x = report.explanations[-1]
    adds_up(x)
    trace = tmp_path / f"{capture}.jsonl"
    import_logs([ZKLOGS / capture], trace)
    return x, measured(trace, "follow_failed", leader)


def test_the_real_failover_leader_killed_eof_election_sync(tmp_path: Path) -> None:
    x, wall = last_outage(tmp_path, "3.8-failover", 2)
    assert abs(x.wall_ms - wall) <= 0.05 * wall
    assert x.leader == 2
    assert x.causes[0] == "leader-lost-connection"
    assert [p.phase for p in x.phases] == ["detection", "round", "decision", "discovery", "sync"]
    decision = x.phases[2]
    assert decision.ms == pytest.approx(200, abs=5)  # finalizeWait
    assert "EOF" in x.phases[0].text
    assert "n1's connection refused at first" in x.phases[3].text
    assert "DIFF to n1" in x.phases[4].text


def test_a_killed_leader_s_outage_begins_at_the_first_eof(tmp_path: Path) -> None:
    """Issue 16: n3 was killed; n1 read EOF at once, n2 (frozen) 101 ms later, which took
    n3's quorum. The outage began at n1's EOF: n2's late reading is its detection, on the
    critical path, and the path adds up to the wall time the logs show."""
    x, wall = last_outage(tmp_path, "3.8-kill-late-follower", 2)
    assert x.wall_ms == pytest.approx(wall, abs=1)
    assert x.start_at == "2026-12-06T14:41:38.038"
    assert x.verdict.startswith(
        "No leader for 549 ms. It began at 14:41:38.038: n1 lost its leader n3 (eof),"
        " its quorum gone 101 ms later"
    )
    assert x.causes == ("leader-lost-connection",)
    detection = x.phases[0]
    assert (detection.node, detection.phase, detection.start) == (2, "detection", x.start)
    assert detection.ms == pytest.approx(117, abs=1)
    assert "at 14:41:38.139, 100 ms after the outage began" in detection.text


def test_the_real_quorum_loss_waits_for_a_third_server(tmp_path: Path) -> None:
    report = explain_inputs([ZKLOGS / "3.8-quorum-loss"])
    x = report.explanations[-1]
    adds_up(x)
    assert x.leader == 2
    assert x.causes[0] == "no-quorum"
    down = named(x, "no-quorum")
    assert down == ["n4 was not running; 2 of 5 voters were up, 3 needed"]
    # after n4 started, its start-up took the rest: it is on the path, not n1's back-off
    assert any("n4 started at" in p.text and p.phase == "down" for p in x.phases)


def test_the_real_debug_capture(tmp_path: Path) -> None:
    report = explain_inputs([ZKLOGS / "3.8-debug"])
    assert report.ended_with_leader
    for x in report.explanations:
        adds_up(x)
    assert report.explanations[-1].leader == 3


# --- every format the reader takes ---------------------------------------------------------------

FRAGMENTS = {
    "3.3.0-server1.log": (3, False),
    "3.3.6": (3, False),
    "3.4.1-all-servers.log": (3, True),
    "3.4.5-server3.log": (3, True),
    "3.4.14": (3, True),
    "3.5.10": (3, True),  # its zab phase lines show n3 established
    "3.6.4": (2, True),  # these three render a whole capture: its last outage
    "3.7.2": (2, True),
    "3.9.3": (2, True),
    "docker-compose.log": (3, True),
    "kubernetes": (3, True),
    "confluent-zookeeper.log": (3, True),
    "pasted-issue.md": (3, True),
}
"""Each fragment of tests/data/zklogs (the first election of the failover capture in an older
release's statements, or a wrapper), the leader it shows decided, and whether its lines show
the decision's votes (3.3's begin after them: their first line that shows a server alive is
its decision)."""


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_every_log_format_is_explained_as_far_as_it_goes(name: str) -> None:
    report = explain_inputs([ZKLOGS / name])
    assert report.explanations
    for x in report.explanations:
        adds_up(x)
        assert x.verdict.startswith("No leader for")
    last = report.explanations[-1]
    leader, votes = FRAGMENTS[name]
    shown = " ".join(p.text for p in last.phases)
    # who was decided on, and what the logs lack, is said
    assert f"n{leader}" in shown
    if last.ended:
        assert last.leader == leader
        assert [p.phase for p in last.phases][-1] == "sync"
    else:
        assert "the logs do not show" in last.phases[-1].text
        assert last.phases[-1].cause == "unknown"
    if votes:  # the election is there: the votes, finalizeWait, the decision
        assert any(p.phase == "decision" for p in last.phases)


RENDERED = {"3.6.4": "3.8-failover", "3.7.2": "3.8-quorum-loss", "3.9.3": "3.8-kill-late-follower"}
"""Fragments that render a real 3.8 capture in another release's statements and layout."""


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_a_capture_in_another_release_s_statements_explains_the_same(name: str) -> None:
    """3.6/3.7 print `Notification time out: 400` and `...NotificationInterval=200` where
    3.8/3.9 add ` ms`; the line numbers, the years and the lines kept differ (so the traces
    begin at other lines). What explain says does not."""

    def said(report: ExplainReport) -> list[tuple[object, ...]]:
        return [
            (
                x.wall_ms,
                x.leader,
                x.causes,
                x.verdict,
                x.why_leader,
                x.why_not,
                *((p.node, p.phase, p.start - x.start, p.ms, p.cause, p.text) for p in x.phases),
            )
            for x in report.explanations
        ]

    assert said(explain_inputs([ZKLOGS / name])) == said(explain_inputs([ZKLOGS / RENDERED[name]]))


def test_the_real_partitioned_start_waits_on_peers_that_refuse(tmp_path: Path) -> None:
    """3.8-partitioned-start: three servers start behind a partition at the proxy, which
    refuses their connects to each other; each looks alone, its notification timeout
    backing off, until the heal. Peers whose own logs show them running refused it: its
    waits are theirs (peer-unreachable), not the back-off's, even where a wait logged no
    new refusal (ZooKeeper did not retry within it)."""
    report = explain_inputs([ZKLOGS / "3.8-partitioned-start"])
    (x,) = report.explanations
    adds_up(x)
    assert x.leader == 3
    assert x.causes[0] == "peer-unreachable"
    waits = [p for p in x.phases if p.phase == "wait"]
    assert [p.cause for p in waits] == ["peer-unreachable", "peer-unreachable"]
    assert "its connections to n1, n2 failed (refused)" in waits[0].text
    assert "failed" not in waits[1].text  # no attempt logged in it
    assert all(
        "n1, n2 ran (by their logs) but could not be reached since its election began" in p.text
        for p in waits
    )


def test_the_real_slow_snapshot_is_sync_slow_with_its_span(tmp_path: Path) -> None:
    """3.8-sync-slow: n3 is killed; n2 leads and syncs n1 with a SNAP across a link that
    delays what n2 sends by 800 ms. Discovery and sync take 1.71 s of initLimit's 3 s:
    sync-slow, with the spans the leader logged (leading - discovery, - synchronization,
    - broadcast)."""
    x = explain_inputs([ZKLOGS / "3.8-sync-slow"]).explanations[-1]
    adds_up(x)
    assert x.leader == 2
    assert x.causes[0] == "sync-slow"
    discovery, sync = x.phases[-2:]
    assert (discovery.phase, discovery.cause, discovery.ms) == ("discovery", "sync-slow", 839)
    assert (sync.phase, sync.cause, sync.ms) == ("sync", "sync-slow", 874)
    assert "SNAP to n1" in sync.text
    assert "1.71 s of initLimit's 3.00 s" in sync.text


def test_the_real_leaderinfo_slower_than_initlimit_is_init_limit_expired(tmp_path: Path) -> None:
    """3.8-init-limit: n3 is killed; n1 and n2 elect n2, whose LEADERINFO crosses a link
    that delays it by 1.5 s, more than initLimit (10 x 100 ms): n1 reads nothing for
    initLimit ticks and n2 gives up waiting for n1's epoch ack (QuorumPeer.run's
    `Unexpected exception` with Leader.waitForEpochAck's `Timeout while waiting for epoch
    to be acked by quorum`); both look again and n2 leads at the second attempt. The
    attempt from n2's first decision to its giving up is a restart, init-limit-expired."""
    x = explain_inputs([ZKLOGS / "3.8-init-limit"]).explanations[-1]
    adds_up(x)
    assert x.leader == 2
    assert "init-limit-expired" in x.causes
    (restart,) = [p for p in x.phases if p.cause == "init-limit-expired"]
    assert (restart.node, restart.phase, round(restart.ms)) == (2, "restart", 1117)
    assert restart.text == (
        "leader n2 waited initLimit (10 x 100 ms) for a quorum of followers: Timeout while"
        " waiting for epoch to be acked by quorum"
    )
    # the attempt began at n2's first decision, after which it decided again
    phases = [p.phase for p in x.phases]
    assert phases[phases.index("restart") - 1] == "decision"
    assert phases.count("decision") == 2
    assert (
        "19:46:20.197 lead failed Timeout while waiting for epoch to be acked by quorum"
        in (dict(x.nodes)[2])
    )
