"""A client write on a live cluster: hand the established leader `count` transactions and
wait until a quorum committed them, or say why it did not."""

from __future__ import annotations

import threading

from engine.control.clock import Clock
from engine.control.predicates import CommandError
from engine.core.view import ClusterView
from engine.core.vote import ServerState, zxid_hex
from engine.trace.recorder import Event

WRITE_TIMEOUT_MS = 5000.0


def client_write(clock: Clock, view: ClusterView, count: int) -> str:
    """`write count`: what the leader committed (CommandError if it did not commit all)."""
    runtime, recorder = clock.runtime, clock.recorder
    leaders = [
        n
        for n in view.nodes
        if n.alive and not n.paused and n.state == ServerState.LEADING and n.established
    ]
    if not leaders:
        raise CommandError("write: no established leader (the cluster has no quorum now)", 0)
    leader = leaders[0].sid
    outcome: list[Event] = []
    left: list[str] = []  # the state the leader went to, if it stopped leading
    done = threading.Event()

    def listen(event: Event) -> None:
        if event["kind"] == "step" and event.get("node") == leader:
            output = event["output"]
            if "committed" in output or "write_error" in output:
                outcome.append(event)
                committed = sum(len(e["output"].get("committed", ())) for e in outcome)
                if committed >= count or "write_error" in output:
                    done.set()
            if output.get("state") != "LEADING":
                left.append(str(output.get("state")))
                done.set()

    recorder.listeners.append(listen)
    try:
        committed = runtime.client_write(leader, count)
        if committed is not None:
            done.set()
        elif clock.sim:
            clock.sim_run(runtime.now() + WRITE_TIMEOUT_MS, done.is_set, cheap=True)
        else:
            done.wait(WRITE_TIMEOUT_MS / 1000.0)
    finally:
        recorder.listeners.remove(listen)
    if committed is not None:
        zxids = [zxid_hex(z) for z in committed]
    else:
        zxids = [z for e in outcome for z in e["output"].get("committed", ())]
    errors = [e["output"]["write_error"] for e in outcome if "write_error" in e["output"]]
    if errors:
        raise CommandError(f"write: {errors[0]}", 0)
    if len(zxids) < count:
        why = (
            f"it stopped leading ({left[0]}) before a quorum acked the rest"
            if left
            else f"no quorum acked the rest within {WRITE_TIMEOUT_MS / 1000.0:g} s"
        )
        raise CommandError(
            f"write: n{leader} committed {len(zxids)} of {count} transactions: {why}", 0
        )
    span = zxids[0] if count == 1 else f"{zxids[0]}..{zxids[-1]}"
    return f"n{leader} committed {count} transaction(s): {span}"
