"""The named causes `zkfle explain` gives for the time an ensemble spent without a leader.

One catalogue: each cause has an id (what `--json` and the phases carry), one sentence, the
ZooKeeper code path or JIRA that explains it, and the setting that changes it. `help causes`
(the command language's help) and the README's table print it; engine.trace.explain attaches the
ids to the phases of an outage's critical path. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cause:
    id: str
    sentence: str
    zookeeper: str
    """The code path or JIRA that explains it."""
    setting: str
    """What changes it."""


CAUSES: tuple[Cause, ...] = (
    Cause(
        "no-quorum",
        "Fewer voters were running (or could reach each other) than a quorum needs, so no"
        " election could finish until one more came.",
        "FastLeaderElection.lookForLeader: getVoteTracker(...).hasAllQuorums()"
        " (QuorumMaj.containsQuorum)",
        "start the missing servers; the server.N lines of zoo.cfg",
    ),
    Cause(
        "peer-unreachable",
        "A peer could not be reached: the connection was refused, timed out or its name did"
        " not resolve; before 3.6 each timed-out attempt blocked connectOne for cnxTimeout"
        " (ZOOKEEPER-3756), and a LOOKING server whose every send queue stays full only"
        " calls connectAll.",
        "QuorumCnxManager.connectOne/initiateConnection (Cannot open channel to N);"
        " Learner.connectToLeader; lookForLeader's haveDelivered()/connectAll()",
        "cnxTimeout (zookeeper.cnxTimeout, 5000 ms); the peer's address and DNS",
    ),
    Cause(
        "notification-backoff",
        "A LOOKING server that heard nothing doubled its notification timeout (200 ms up to"
        " maxNotificationInterval) and spoke again only when that wait ran out.",
        "FastLeaderElection.lookForLeader: notTimeout = min(notTimeout * 2,"
        " maxNotificationInterval)",
        "zookeeper.fastleader.maxNotificationInterval (JVM property, default 60000 ms)",
    ),
    Cause(
        "leader-lost-sync-timeout",
        "A follower heard nothing from its leader (a pause, a GC, a cut link) and gave it up"
        " only after its socket timeout: syncLimit ticks, initLimit ticks while syncing.",
        "Learner.readPacket with SO_TIMEOUT tickTime * syncLimit; Follower.followLeader",
        "syncLimit and tickTime (initLimit while syncing)",
    ),
    Cause(
        "leader-lost-connection",
        "The connection to the leader closed (EOF, a reset: the leader's process died or"
        " shut down), so its followers went LOOKING at once.",
        "Follower.followLeader: EOFException / SocketException end followLeader",
        "none: a closed connection is noticed at once",
    ),
    Cause(
        "quorum-lost",
        "The leader's synced followers no longer formed a quorum at a tick, so it stepped"
        " down (or it was cut off from them).",
        "Leader.lead: 'Not sufficient followers synced', checked every tick",
        "syncLimit (how long a silent follower still counts); the ensemble size",
    ),
    Cause(
        "round-restart",
        "The election began again in a new round - a higher round arrived, or an attempt to"
        " lead or follow failed - so the votes were collected again.",
        "lookForLeader: n.electionEpoch > logicalclock clears recvset; QuorumPeer.run"
        " re-enters lookForLeader after lead()/followLeader() end",
        "whatever ended the failed attempt (see the phase before it)",
    ),
    Cause(
        "late-better-vote",
        "A better vote (higher epoch, zxid or sid) arrived after a quorum had agreed on"
        " another one, so the servers switched and waited again.",
        "lookForLeader's finalize loop: a better notification is put back and the election"
        " goes on (totalOrderPredicate, ZOOKEEPER-1419)",
        "start the servers together; a slow or late server with the best vote always wins",
    ),
    Cause(
        "sync-slow",
        "Discovery and synchronisation with the new leader took a large part of initLimit"
        " (a big SNAP, a slow disk or link).",
        "LearnerHandler.syncFollower (DIFF/TRUNC/SNAP); Leader.waitForEpochAck,"
        " waitForNewLeaderAck",
        "initLimit x tickTime; snapCount and the size of the data tree",
    ),
    Cause(
        "init-limit-expired",
        "The new leader did not get a quorum of followers within initLimit ticks (or a"
        " learner heard nothing from it for initLimit ticks before it was synced), gave up"
        " and went LOOKING again.",
        "Leader.getEpochToPropose / waitForEpochAck / waitForNewLeaderAck: 'Timeout while"
        " waiting for epoch from quorum', 'Waiting for a quorum of followers, only synced"
        " with sids'; Learner.connectToLeader's SO_TIMEOUT tickTime * initLimit until synced",
        "initLimit x tickTime; zookeeper.leader.maxTimeToWaitForEpoch (ZOOKEEPER-3109)",
    ),
    Cause(
        "epoch-mismatch",
        "A learner refused the leader's epoch because it had accepted a higher one (or an"
        " ack came from another epoch), and went LOOKING again.",
        "Learner.registerWithLeader / Follower.followLeader: 'Leaders epoch, X is less than"
        " accepted epoch, Y'; Leader.processAck: 'NEWLEADER ACK ... from a different epoch'",
        "the acceptedEpoch and currentEpoch files in dataDir/version-2",
    ),
    Cause(
        "connection-churn",
        "Election connections were dropped and made again: only the connection opened by the"
        " larger sid survives, so the smaller sid's attempts are dropped and dialled back.",
        "QuorumCnxManager.handleConnection: 'Have smaller server identifier, so dropping the"
        " connection' (ZOOKEEPER-2164 when it never settles)",
        "no setting; real server addresses in the server.N lines (not 0.0.0.0)",
    ),
    Cause(
        "clock-skew",
        "The servers' clocks disagree or cannot be compared, so the times this explanation"
        " puts side by side across servers are uncertain.",
        "(not ZooKeeper: each server stamps its own log lines; zkfle import estimates the"
        " offsets from votes logged at both ends)",
        "NTP on the servers; logs of every server (more votes to compare)",
    ),
    Cause(
        "unknown",
        "The evidence cannot show why this time passed; the phase names what is missing.",
        "-",
        "the INFO logs of every server (DEBUG for FastLeaderElection shows every vote sent)",
    ),
)

BY_ID = {c.id: c for c in CAUSES}


def causes_help() -> str:
    """The catalogue for `help causes`."""
    width = max(len(c.id) for c in CAUSES)
    lines = ["Causes zkfle explain names (in --json: each phase's `cause`):"]
    for c in CAUSES:
        lines.append(f"  {c.id:<{width}}  {c.sentence}")
        pad = " " * (width + 4)
        lines.append(f"{pad}ZooKeeper: {c.zookeeper}")
        lines.append(f"{pad}changed by: {c.setting}")
    return "\n".join(lines)


def causes_table() -> str:
    """The catalogue as the README's Markdown table."""
    rows = ["| cause | what happened | ZooKeeper | what changes it |", "|---|---|---|---|"]
    rows += [f"| `{c.id}` | {c.sentence} | {c.zookeeper} | {c.setting} |" for c in CAUSES]
    return "\n".join(rows)
