"""What a live cluster says of itself from a view: the `status` and `faults` commands' texts
and the `zkfle run --json` object (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.control.modelcheck import CheckSummary
from engine.core.view import ClusterView, LearnerView, NodeView, leadership_text, messages_text
from engine.core.vote import ServerState, zxid_hex
from engine.runtime.views import learners_json
from engine.trace.record import vote_json

_LEARNING = (ServerState.FOLLOWING, ServerState.OBSERVING)


def status_text(view: ClusterView, check: CheckSummary | None, notes: list[str]) -> str:
    """`status`: one line per node, the faults, the live check's lamp and the runtime's
    `notes`."""
    lines = [
        f"t={view.t_ms / 1000:.3f}s seq={view.seq} {leadership_text(view)}",
        messages_text(view.messages),
    ]
    for n in view.nodes:
        if not n.alive:
            lines.append(
                f"n{n.sid:<3} down       epoch={n.current_epoch} zxid={zxid_hex(n.last_zxid)}"
            )
            continue
        vote = n.current_vote
        state = n.state.name if n.state is not None else "-"
        flag = " paused" if n.paused else ""
        lines.append(
            f"n{n.sid:<3} {state:<10} round={n.shown('logicalclock', str(n.logicalclock))}"
            f" vote={vote.leader if vote else '-'}"
            f" zab={n.shown('zab_phase', n.zab_phase.lower())}"
            f" epoch={n.shown('current_epoch', str(n.current_epoch))}"
            f" zxid={n.shown('last_zxid', zxid_hex(n.last_zxid))}{flag}"
            + (f" sync={n.shown('sync_mode', n.sync_mode or '-')}" if n.state in _LEARNING else "")
            + (f" digest-mismatches={n.digest_mismatches}" if n.digest_mismatches else "")
        )
        if n.state == ServerState.LEADING:
            lines += [f"     learner {learner_text(lv)}" for lv in n.learners]
    if view.faults:
        lines.append("faults: " + "; ".join(f"{f.fault_id} {f.text}" for f in view.faults))
    if check is not None:
        lines.append(f"check: {check.lamp}")
    return "\n".join(lines + notes)


def learner_text(lv: LearnerView) -> str:
    """A leader's learner in `status`: `n1 follower zab=broadcast sync=SNAP ping=14ms
    synced=yes` (`?` for what a real server's log does not give)."""

    def shown(field: str, text: str) -> str:
        return "?" if field in lv.unknown else text

    age = "-" if lv.ping_age_ms is None else f"{lv.ping_age_ms:.0f}ms"
    return (
        f"n{lv.sid} {lv.learner_type} zab={shown('zab_phase', lv.zab_phase.lower())}"
        f" sync={shown('sync_mode', lv.sync_mode or '-')} ping={shown('ping_age_ms', age)}"
        f" synced={shown('synced', 'yes' if lv.synced else 'no')}"
    )


def faults_text(view: ClusterView) -> str:
    """`faults`: the network faults, then the nodes paused and down."""
    lines = [f"{f.fault_id}  {f.text}" for f in view.faults]
    lines += [f"n{n.sid}  paused" for n in view.nodes if n.paused]
    lines += [f"n{n.sid}  down" for n in view.nodes if not n.alive]
    return "\n".join(lines) or "no active faults"


def zab_json(n: NodeView) -> dict[str, Any]:
    """A running node's Zab in `zkfle run --json`: its phase; a learner's sync mode, a
    leader's learners (null or left out where a real server's log does not say)."""
    d: dict[str, Any] = {"zab": None if "zab_phase" in n.unknown else n.zab_phase or None}
    if n.state in _LEARNING:
        d["sync_mode"] = None if "sync_mode" in n.unknown else n.sync_mode
    elif n.state == ServerState.LEADING:
        d["learners"] = learners_json(n.learners)
    return d


def result_json(
    view: ClusterView,
    elapsed_ms: float,
    failures: Iterable[Mapping[str, Any]],
    trace: str | None,
    violations: Iterable[object],
    check: CheckSummary | None,
) -> dict[str, Any]:
    """The `zkfle run --json` object; `failures` are the failed checks of the script (file,
    line, predicate, seq)."""
    nodes = []
    for n in view.nodes:
        d: dict[str, Any] = {
            "sid": n.sid,
            "type": n.learner_type,
            "alive": n.alive,
            "state": n.state.name if n.state is not None and n.alive else None,
            "leader": n.current_vote.leader
            if n.current_vote and n.state not in (None, ServerState.LOOKING)
            else None,
            "logicalclock": n.logicalclock,
            "vote": vote_json(n.current_vote) if n.current_vote else None,
            "current_epoch": n.current_epoch,
            "accepted_epoch": n.accepted_epoch,
            "last_zxid": zxid_hex(n.last_zxid),
        }
        if d["vote"] is not None:
            d["vote"] = {
                k: d["vote"][k] for k in ("leader", "zxid", "election_epoch", "peer_epoch")
            }
        if n.paused:
            d["paused"] = True
        if n.alive and n.state is not None:
            d |= zab_json(n)
        nodes.append(d)
    m, q = view.messages, view.quorum
    return {
        "stable": view.stable,
        "leader": view.leader,
        "elapsed_ms": round(elapsed_ms, 1),
        "nodes": nodes,
        "serving_leader": view.serving_leader,
        "quorum": {"up": q.up, "needed": q.needed} if q is not None else None,
        "messages": {
            "sent": m.sent,
            "delivered": m.delivered,
            "dropped": m.dropped,
            "in_flight": m.in_flight,
        },
        "trace": trace,
        "failures": list(failures),
        "violations": [str(v) for v in violations],
    } | ({"check": check.json()} if check else {})
