"""A logged notification against the model's votes: parse it, compare it with a vote the
model sent, take it off the queue of what the model expects each server to see, and text
for both sides of a disagreement."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from engine.core.election import FastLeaderElection
from engine.core.vote import Notification, ServerState, Sid, ToSend, parse_zxid


def _vote_text(leader: object, zxid: object, rnd: object, epoch: object) -> str:
    return f"leader {leader} zxid {zxid} round {rnd} epoch {epoch}"


def _tosend_text(m: ToSend) -> str:
    z = f"0x{m.zxid:x}" if m.zxid >= 0 else f"-0x{-m.zxid:x}"
    return f"{m.state.name} " + _vote_text(m.leader, z, m.election_epoch, m.peer_epoch)


def logged_text(n: Mapping[str, Any]) -> str:
    return f"{n.get('state', '?')} " + _vote_text(
        n.get("leader", "?"),
        n.get("zxid", "?"),
        n.get("election_epoch", "?"),
        n.get("peer_epoch", "?"),
    )


def matches(m: ToSend, n: Mapping[str, Any]) -> bool:
    """A sent vote equals a logged one in every field the log has."""
    try:
        if n.get("leader") != m.leader or n.get("state", m.state.name) != m.state.name:
            return False
        if "zxid" in n and parse_zxid(str(n["zxid"])) != m.zxid:
            return False
        if "election_epoch" in n and n["election_epoch"] != m.election_epoch:
            return False
        return "peer_epoch" not in n or n["peer_epoch"] == m.peer_epoch
    except ValueError:
        return False


def notification(n: Mapping[str, Any]) -> Notification | None:
    try:
        state = ServerState[str(n["state"])]
        zxid = parse_zxid(str(n["zxid"]))
        return Notification(
            int(n["leader"]),
            zxid,
            int(n["election_epoch"]),
            state,
            int(n["sid"]),
            # 3.3 logs no peer epoch: its wire format (28 bytes) implies the zxid's epoch
            int(n["peer_epoch"]) if "peer_epoch" in n else zxid >> 32,
            int(n.get("version", 0)),
            None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def proposal(fle: FastLeaderElection, sid: Sid) -> ToSend:
    """What sendNotifications would send now."""
    return ToSend(
        fle.proposed_leader,
        fle.proposed_zxid,
        fle.logicalclock,
        ServerState.LOOKING,
        sid,
        fle.proposed_epoch,
    )


def take_expected(queue: deque[tuple[ToSend, bool]], n_json: Mapping[str, Any]) -> str | None:
    """Take the expected send `n_json` matches (skipping sends that may be missing);
    None if it matched, else what the model expected instead."""
    while queue:
        expected, optional = queue[0]
        if matches(expected, n_json):
            queue.popleft()
            return None
        if not optional:
            return _tosend_text(expected)
        queue.popleft()
    return "nothing (no vote sent)"
