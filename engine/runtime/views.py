"""What a runtime shows of its nodes: one node's `NodeView` from its core and what surrounds
it (live or replayed), and the body of the trace's `snapshot` event.
"""

from __future__ import annotations

from typing import Any

from engine.core.peer.io import Durable, ZabState
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.view import ClusterView, LearnerView, NodeView
from engine.core.vote import Sid, zxid_hex
from engine.trace.record import vote_json


def peer_view(
    sid: Sid,
    learner_type: str,
    weight: int,
    alive: bool,
    paused: bool,
    durable: Durable,
    last_event: str,
    core: QuorumPeer | None,
    *,
    recv_queue: int,
    send_queues: tuple[tuple[Sid, int], ...],
    connections: tuple[Sid, ...],
    now_ms: float,
) -> NodeView:
    """One node's NodeView from its core and what surrounds it (live or replayed), at
    `now_ms` on the runtime's clock (a leader's learners' ping ages count to it)."""
    if core is None:
        return NodeView(
            sid=sid,
            learner_type=learner_type,
            weight=weight,
            alive=alive,
            paused=paused,
            current_epoch=durable.current_epoch,
            accepted_epoch=durable.accepted_epoch,
            last_zxid=durable.last_zxid,
            last_event=last_event,
        )
    fle = core.election
    return NodeView(
        sid=sid,
        learner_type=learner_type,
        weight=weight,
        alive=alive,
        paused=paused,
        state=core.peer_state,
        logicalclock=fle.logicalclock,
        proposal=fle.get_vote(),
        current_vote=core.current_vote,
        finalizing=fle.finalizing,
        not_timeout_ms=fle.not_timeout,
        recvset=tuple(sorted(fle.recvset.items())),
        outofelection=tuple(sorted(fle.outofelection.items())),
        fle_recvqueue=len(fle.recvqueue),
        recv_queue=recv_queue,
        send_queues=send_queues,
        connections=connections,
        zab_phase=core.zab_state,
        established=core.zab_state == ZabState.BROADCAST,
        current_epoch=core.durable.current_epoch,
        accepted_epoch=core.durable.accepted_epoch,
        last_zxid=core.last_logged_zxid(),
        sync_mode=core.sync_mode,
        learners=core.zab_learners(now_ms),
        digest_mismatches=core.digest_mismatches,
        last_event=last_event,
        election_started_ms=core.election_started_ms,
        election_took_ms=core.election_took_ms,
    )


def learners_json(learners: tuple[LearnerView, ...]) -> list[dict[str, Any]]:
    """A leader's learners as `zkfle run --json` and `zkfle node`'s status give them; a
    field a real server's log did not give is left out."""
    out = []
    for lv in learners:
        d: dict[str, Any] = {
            "sid": lv.sid,
            "type": lv.learner_type,
            "zab": lv.zab_phase,
            "sync_mode": lv.sync_mode,
            "ping_age_ms": None if lv.ping_age_ms is None else round(lv.ping_age_ms, 3),
            "synced": lv.synced,
        }
        out.append({k: v for k, v in d.items() if k not in lv.unknown})
    return out


def snapshot_json(view: ClusterView) -> dict[str, Any]:
    """The `snapshot` event body: a summary of every node plus stability."""
    nodes = []
    for n in view.nodes:
        d: dict[str, Any] = {"sid": n.sid, "alive": n.alive, "paused": n.paused}
        if n.state is not None:
            d["state"] = n.state.name
            d["logicalclock"] = n.logicalclock
            if n.current_vote is not None:
                d["vote"] = vote_json(n.current_vote)
            d["established"] = n.established
        d["current_epoch"] = n.current_epoch
        d["last_zxid"] = zxid_hex(n.last_zxid)
        nodes.append(d)
    return {"nodes": nodes, "stable": view.stable, "leader": view.leader}
