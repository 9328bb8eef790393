"""`zkfle check`: did a real ZooKeeper run do what FastLeaderElection says it should?

Theory of operation
-------------------
For each real server of a trace a model - engine.core.election.FastLeaderElection, the pure
core that implements ZooKeeper's algorithm - is fed what that server logged, in the order
it logged it (the trace's order, which is each server's own timestamps):

* `zk` start: the process (re)started; a new election object, `logicalclock` 0.
* `election` (New election): lookForLeader began, and its first poll with it. The model
  starts the round when it knows the initial vote, which the server's own loopback copy
  of its first broadcast carries (round and peer epoch; the zxid is also in the line).
  Notifications that arrive before wait in the model's `recvqueue`, and timeouts logged
  before are applied then, as the server took them.
* `recv`: WorkerReceiver decoded a notification. The model's `worker_receiver` takes it;
  while the model runs lookForLeader its main thread polls it at once (the real thread
  waits in `recvqueue.poll`, so it takes a queued notification within a millisecond).
* `fle_timeout`: the poll timed out; the line gives the new, doubled timeout.
* finalizeWait: once the model's proposal has a quorum it waits `finalize_wait_ms` for a
  better vote before it decides.
* `peer_state` out of LOOKING: the server decided (QuorumPeer.setPeerState).
* `sent`: a vote the server was seen sending (a DEBUG `Sending Notification` line, or a
  recording proxy's event).

Timeouts come from the trace, not from the model's own clock. Each wait (the notification
timeout, or the finalize wait) ends either in a poll that returned a notification or in a
timeout, and the server's log says which - but not always in order: its threads log
independently, a loopback copy lags its send by up to ~100 ms on a busy machine (a fresh
server's first one, longer than the first poll), and 3.6+ logs `Notification time out`
after re-broadcasting. So a notification the server logged after `TOLERANCE_MS` before the
end of the model's wait is held until the server's own evidence decides: a re-broadcast of
the current vote or a `Notification time out` line (the wait timed out first), a decision
(`peer_state`, or a `my state` other than LOOKING: the finalize wait ran out), or a
loopback copy of a new vote (the server polled them). Without evidence for `LATE_MS` after
the wait's end, the model's rule stands: a notification logged later than `TOLERANCE_MS`
after it came too late. Whether a timed-out poll re-broadcast or called connectAll
(haveDelivered) is not logged: the model assumes a re-broadcast and does not insist on
seeing it.

Disagreements, each with the node, the step (inputs fed to that node's model so far), the
trace seq, and the model's value against the real one:

* `decision` - the server decided and the model had not, or decided otherwise (state;
  leader where the logs show it); or the model decided while the server went on LOOKING.
* `sent` - the vote the server sent (its loopback copy, or a `sent` event) is not the
  next one the model sent to that recipient.
* `my_state` - a notification's `my state` is not the model's state.
* `round` - a new election's round is not the model's logicalclock + 1.
* `timeout` - the logged timeout is not the model's back-off, or the server timed out
  while the model, with a quorum, was in its finalize wait.
* `vote` - another server received this server's decided vote naming another leader.

After a disagreement the node's model follows the server's evidence (its state, its
round) and is checked again from its next election, so one difference is reported once.
The model is ZooKeeper 3.8/3.9's algorithm; servers of 3.4 and older decided by slightly
different rules (ZOOKEEPER-1514, -1732, -1818), and 3.3 logs no peer epoch.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from engine.core.quorum.error import ConfigError
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.vote import Notification, ServerState, Sid, Vote, parse_zxid
from engine.replay.cores import ReplayError, timing_from_header
from engine.replay.zkcheck.model import MAX_EXPECTED, NodeModel
from engine.replay.zkcheck.notifications import (
    logged_text,
    matches,
    notification,
    proposal,
    take_expected,
)
from engine.replay.zkcheck.report import CheckReport, Disagreement
from engine.trace.format import REAL_KINDS, Event, TraceError, read_trace

TOLERANCE_MS = 20.0
"""Slack between a server's log timestamps and the instants its threads acted (a line is
stamped when it is logged; threads hand over through queues)."""
LATE_MS = 1000.0
"""How long after a wait's end the server's evidence may take to say how the wait ended
(threads log late on a busy machine); after that the model's own timing decides."""
RACE_MS = 1.0
"""A log timestamp's resolution: a notification line and a state change this close may
have raced inside WorkerReceiver (see `_just_left`)."""


class CheckError(Exception):
    """The trace cannot be checked (unreadable, or nothing in it to check)."""


class Checker:
    """Feeds a trace's real-server events to per-server models (see the module doc)."""

    def __init__(self, header: Mapping[str, Any], path: str = "<trace>") -> None:
        self.path = path
        try:
            self.qv = parse_dynamic_config(str(header["cluster"]["config"]))
            timing = timing_from_header(header, path)
        except (KeyError, TypeError, ConfigError, ReplayError) as e:
            raise CheckError(f"{path}: the header's cluster or timing is not usable: {e}") from None
        self.config = timing.election
        self.models: dict[Sid, NodeModel] = {}
        self.disagreements: list[Disagreement] = []
        self.events = 0
        self.real_events = 0

    # --- helpers ---------------------------------------------------------------------------

    def _model(self, sid: Sid) -> NodeModel:
        model = self.models.get(sid)
        if model is None:
            model = self.models[sid] = NodeModel(sid, self.qv, self.config)
        return model

    def _disagree(
        self, model: NodeModel, event: Event, what: str, expected: str, real: str
    ) -> None:
        self.disagreements.append(
            Disagreement(
                model.sid,
                int(event.get("seq", 0)),
                model.report.steps,
                what,
                expected,
                real,
                str(event.get("src", "")),
                str(event.get("at", "")),
            )
        )
        self._desync(model)

    def _desync(self, model: NodeModel) -> None:
        """Stop checking this server until its next election starts."""
        model.in_sync = model.clock_known = model.started = False
        model.decided = None
        model.timeouts_ahead = 0
        model.loopback.clear()
        model.sent.clear()
        model.fle.sendqueue.clear()

    # --- the events ------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        self.events += 1
        kind = event.get("kind")
        if kind not in REAL_KINDS:
            return
        sid = event.get("node")
        if type(sid) is not int:
            return
        self.real_events += 1
        model = self._model(sid)
        t = float(event.get("t_ms", 0.0))
        if model.held and t > model.held_deadline + LATE_MS:
            self._release(model, "late")
        if kind == "recv":
            self._recv(model, event, t)
        elif kind == "election":
            self._release(model, "polled")
            self._election(model, event)
        elif kind == "fle_timeout":
            self._timeout(model, event, t)
        elif kind == "peer_state":
            self._peer_state(model, event, t)
        elif kind == "sent":
            self._sent(model, event, t)
        elif kind == "zk" and event.get("what") == "start":
            model.restart()

    def finish(self) -> None:
        """The trace ended: held notifications are taken; a model decision the server never
        logged is not a disagreement (the log may simply end) but it is noted."""
        for model in self.models.values():
            self._release(model, "late")
            if model.decided is not None:
                model.report.unchecked.append("the last decision (the trace ends first)")

    # --- waits -----------------------------------------------------------------------------

    def _waiting(self, model: NodeModel) -> bool:
        return model.started and model.in_sync

    def _time_out(self, model: NodeModel, t: float, optional: bool) -> None:
        """The model's current wait ran out (finalizing: it decides)."""
        fle = model.fle
        at = model.deadline
        model.report.steps += 1
        vote = fle.timed_out(have_delivered=True)
        if vote is not None:
            self._decided(model, vote, at)
        else:
            model.take_sends(optional=optional)
            model.last_poll = max(at, min(t, at + TOLERANCE_MS))

    def _release(self, model: NodeModel, why: str) -> None:
        """Process the held notifications: the server polled them (`polled`), or its wait
        ran out first (`timed out`: already applied), or no evidence came in time (`late`:
        the model's timing decides)."""
        held, model.held = model.held, []
        for i, (event, n, n_json, t) in enumerate(held):
            if (
                why == "late"
                and i == 0
                and self._waiting(model)
                and t > model.deadline + TOLERANCE_MS
            ):
                self._time_out(model, t, optional=True)
            self._take(model, event, n, n_json, t)

    def _decided(self, model: NodeModel, vote: Vote, t: float) -> None:
        model.host.current_vote = vote
        model.decided = vote
        model.decided_at = t
        model.started = False
        model.report.decisions += 1
        model.fle.sendqueue.clear()

    def _server_decided(self, model: NodeModel, t: float) -> None:
        """The server shows at `t` that it decided: a finalize wait ran out then. A held
        notification was polled inside that wait - which restarts it (lookForLeader's
        finalize loop polls finalizeWait again after a vote that is not better) - unless
        the wait had run out before it came, or restarting the wait then would have put the
        decision after `t`."""
        held, model.held = model.held, []
        for event, n, n_json, t_n in held:
            fle = model.fle
            if (
                self._waiting(model)
                and fle.finalizing
                and (
                    t_n > model.deadline + TOLERANCE_MS
                    or t_n + fle.config.finalize_wait_ms > t + TOLERANCE_MS
                )
            ):
                self._time_out(model, t_n, optional=True)
            self._take(model, event, n, n_json, t_n)
        if self._waiting(model) and model.fle.finalizing:
            self._time_out(model, t, optional=True)

    def _still_looking(self, model: NodeModel, event: Event, t: float) -> None:
        """The server shows it is LOOKING at `t`: a model decision before that is wrong."""
        decided = model.decided
        if decided is not None and t > model.decided_at + TOLERANCE_MS:
            self._disagree(
                model,
                event,
                "decision",
                f"{model.host.peer_state.name} for n{decided.leader} round"
                f" {decided.election_epoch} at t={model.decided_at:.1f}",
                "still LOOKING",
            )
            model.host.peer_state = ServerState.LOOKING

    # --- notifications ---------------------------------------------------------------------

    def _recv(self, model: NodeModel, event: Event, t: float) -> None:
        n_json = event.get("n")
        if not isinstance(n_json, Mapping):
            return
        n = notification(n_json)
        if n is None:
            return
        my_state = event.get("my_state", "LOOKING")
        if my_state != "LOOKING":
            if n.sid != model.sid and n.state == ServerState.LOOKING:
                model.straddler = (n, str(my_state), t)
            self._server_decided(model, t)  # its setPeerState line may come a moment later
        elif n.sid == model.sid and n.state == ServerState.LOOKING:
            self._broadcast(model, event, n_json, t)
        elif self._waiting(model) and (model.held or t >= model.deadline - TOLERANCE_MS):
            if not model.held:
                model.held_deadline = model.deadline
            model.held.append((event, n, n_json, t))
            return
        self._take(model, event, n, n_json, t)

    def _broadcast(
        self, model: NodeModel, event: Event, n_json: Mapping[str, Any], t: float
    ) -> None:
        """The server sent `n_json` (its loopback copy, or a `sent` event): resolve held
        notifications by it, and start a pending election with it."""
        if model.pending_zxid is not None and n_json.get("leader") == model.sid:
            self._start(model, event, n_json)
            return
        if not self._waiting(model):
            return
        fle = model.fle
        rebroadcast = (
            not fle.finalizing
            and not model.loopback
            and t >= model.deadline - TOLERANCE_MS
            and matches(proposal(fle, model.sid), n_json)
        )
        if rebroadcast:
            # The wait timed out and the server re-broadcast its vote; the `Notification
            # time out` line follows (lookForLeader logs it after sendNotifications).
            self._time_out(model, t, optional=False)
            model.timeouts_ahead += 1
            self._release(model, "timed out")
        else:
            self._release(model, "polled")

    def _take(
        self, model: NodeModel, event: Event, n: Notification, n_json: Mapping[str, Any], t: float
    ) -> None:
        """WorkerReceiver took `n`; lookForLeader polls it at once."""
        my_state = str(event.get("my_state", ""))
        if my_state == "LOOKING":
            self._still_looking(model, event, t)
        if (
            model.in_sync
            and model.pending_zxid is None
            and model.decided is None
            and my_state != model.host.peer_state.name
            and not _just_left(model, my_state, t)
        ):
            self._disagree(model, event, "my_state", model.host.peer_state.name, my_state)
        if n.sid == model.sid and n.state == ServerState.LOOKING:
            self._loopback(model, event, n_json, t)
        elif n.sid != model.sid and n.state != ServerState.LOOKING:
            self._check_vote(n, event)
        model.report.steps += 1
        if not model.in_sync and my_state in ServerState.__members__:
            model.host.peer_state = ServerState[my_state]
        model.fle.worker_receiver(n)
        # WorkerReceiver's answers: logged (at DEBUG) only while decided, so they may be
        # missing from the evidence.
        model.take_sends(optional=True)
        self._poll(model, t)

    def _poll(self, model: NodeModel, t: float) -> None:
        """lookForLeader's main thread takes what waits in `recvqueue` at `t`."""
        fle = model.fle
        while self._waiting(model) and fle.recvqueue:
            model.report.steps += 1
            vote = fle.poll()
            model.last_poll = t
            model.take_sends()
            if vote is not None:
                self._decided(model, vote, t)

    def _loopback(
        self, model: NodeModel, event: Event, n_json: Mapping[str, Any], t: float
    ) -> None:
        """Our own vote came back: it must be the next vote the model sent itself."""
        if not model.in_sync:
            return
        expected = take_expected(model.loopback, n_json)
        if expected is not None and self._straddled(model, t):
            expected = take_expected(model.loopback, n_json)
        if expected is None:
            model.report.sends_checked += 1
        else:
            self._disagree(model, event, "sent", expected, logged_text(n_json))

    def _sent(self, model: NodeModel, event: Event, t: float) -> None:
        to, n_json = event.get("to"), event.get("n")
        if type(to) is not int or not isinstance(n_json, Mapping):
            return
        self._broadcast(model, event, n_json, t)
        if not model.in_sync:
            return
        queue = model.sent.setdefault(to, deque(maxlen=MAX_EXPECTED))
        expected = take_expected(queue, n_json)
        if expected is not None and self._straddled(model, t):
            expected = take_expected(queue, n_json)
        if expected is None:
            model.report.sends_checked += 1
        else:
            self._disagree(model, event, "sent", f"{expected} to n{to}", logged_text(n_json))

    def _straddled(self, model: NodeModel, t: float) -> bool:
        """The server sent a vote the model did not: if a LOOKING peer's notification was
        logged with the state the server left within RACE_MS of it, WorkerReceiver's second
        read of the state (for its branch) may have seen LOOKING and queued it after all
        (FastLeaderElection.WorkerReceiver.run reads getPeerState() twice) - only what the
        server sent next tells. The model takes it now; True if it did."""
        straddler, model.straddler = model.straddler, None
        left = model.left
        if straddler is None or left is None or not self._waiting(model):
            return False
        n, my_state, t_n = straddler
        if left[0] != my_state or abs(left[1] - t_n) > RACE_MS:
            return False
        model.report.steps += 1
        model.fle.worker_receiver(n)
        model.take_sends(optional=True)
        self._poll(model, t)
        return True

    def _check_vote(self, n: Notification, event: Event) -> None:
        """Another server heard `n.sid`'s decided vote: it names the leader the model chose."""
        other = self.models.get(n.sid)
        if other is None or not other.in_sync or other.vote_reported:
            return
        if other.host.peer_state != n.state or other.started or other.decided is not None:
            return
        if other.host.current_vote.leader != n.leader:
            other.vote_reported = True
            self._disagree(
                other,
                event,
                "vote",
                f"{other.host.peer_state.name} for n{other.host.current_vote.leader}",
                f"{n.state.name} for n{n.leader} (as n{event.get('node')} received it)",
            )

    # --- elections, timeouts, decisions ----------------------------------------------------

    def _election(self, model: NodeModel, event: Event) -> None:
        if model.decided is not None:
            self._still_looking(model, event, float(event.get("t_ms", 0.0)))
        model.decided = None
        proposal = event.get("proposal")
        try:
            zxid = parse_zxid(str(proposal["zxid"])) if isinstance(proposal, Mapping) else None
        except (KeyError, ValueError):
            zxid = None
        if zxid is None:
            model.report.unchecked.append(f"seq {event.get('seq')}: an election without a zxid")
            return
        model.pending_zxid = zxid
        model.pending_at = float(event.get("t_ms", 0.0))
        model.pending_timeouts.clear()
        model.started = False
        model.host.peer_state = ServerState.LOOKING
        model.real_state = ServerState.LOOKING
        model.loopback.clear()
        model.fle.sendqueue.clear()

    def _start(self, model: NodeModel, event: Event, n_json: Mapping[str, Any]) -> None:
        """lookForLeader's prologue, now that the first broadcast shows the initial vote."""
        zxid = model.pending_zxid
        assert zxid is not None
        rnd, epoch = n_json.get("election_epoch"), n_json.get("peer_epoch", 0)
        if type(rnd) is not int or type(epoch) is not int:
            return
        model.pending_zxid = None
        if model.clock_known and model.fle.logicalclock + 1 != rnd:
            self._disagree(model, event, "round", str(model.fle.logicalclock + 1), str(rnd))
        model.fle.logicalclock = rnd - 1
        model.host.epoch = epoch
        model.host.zxid = zxid
        model.host.peer_state = ServerState.LOOKING
        model.fle.look_for_leader()
        model.report.steps += 1
        model.report.elections += 1
        model.started = model.in_sync = model.clock_known = True
        model.decided = None
        model.last_poll = model.pending_at
        model.loopback.clear()
        model.take_sends()
        # What WorkerReceiver queued before lookForLeader began is polled right after the
        # first sendNotifications, before that broadcast's loopback copy has made its way
        # back through WorkerSender and WorkerReceiver (which answers it, as any LOOKING
        # notification of an older round, with the vote of the round the poll moved to).
        self._poll(model, model.last_poll)
        # The first poll began at `New election` (lookForLeader), but a fresh server's
        # first message through WorkerSender and WorkerReceiver can take longer than that
        # poll (minNotificationInterval): the timeouts logged before the loopback copy came
        # are applied now.
        early, model.pending_timeouts = model.pending_timeouts, []
        for timeout, t in early:
            self._timeout(model, timeout, t)

    def _timeout(self, model: NodeModel, event: Event, t: float) -> None:
        value = event.get("timeout_ms")
        self._still_looking(model, event, t)
        if model.pending_zxid is not None:
            model.pending_timeouts.append((event, t))
            return
        if not self._waiting(model):
            return
        fle = model.fle
        if model.timeouts_ahead:
            model.timeouts_ahead -= 1  # taken already, at its re-broadcast
        elif fle.finalizing:
            self._disagree(
                model,
                event,
                "timeout",
                f"finalize wait of {fle.config.finalize_wait_ms} ms (a quorum agrees with"
                f" n{fle.proposed_leader}), then a decision",
                f"notification timeout, next {value} ms",
            )
            return
        else:
            self._time_out(model, t, optional=True)
            self._release(model, "timed out")
        if isinstance(value, int) and value != fle.not_timeout:
            expected = f"next {fle.not_timeout} ms"
            self._disagree(model, event, "timeout", expected, f"next {value} ms")

    def _peer_state(self, model: NodeModel, event: Event, t: float) -> None:
        name = str(event.get("state", ""))
        if name not in ServerState.__members__:
            return
        state = ServerState[name]
        before, model.real_state = model.real_state, state
        if before != state:
            model.left = (before.name, t)
        if state == ServerState.LOOKING or before == state:
            self._release(model, "polled")
            if state == ServerState.LOOKING and model.decided is None:
                model.host.peer_state = ServerState.LOOKING
            return
        # The server decided (setPeerState, or QuorumPeer.run entering its new state).
        self._server_decided(model, t)
        decided = model.decided
        if not model.in_sync:
            model.host.peer_state = state
            model.report.unchecked.append(f"seq {event.get('seq')}: a decision ({name})")
            return
        model.report.checked_decisions += 1
        model.vote_reported = False
        if decided is None:
            fle = model.fle
            self._disagree(
                model,
                event,
                "decision",
                f"still LOOKING (proposal n{fle.proposed_leader} round {fle.logicalclock},"
                f" {len(fle.recvset)} votes in recvset)",
                name,
            )
            model.host.peer_state = state
            return
        model.decided = None
        expected = model.host.peer_state
        real_leader = model.sid if state == ServerState.LEADING else None
        if expected != state or (real_leader is not None and decided.leader != real_leader):
            self._disagree(
                model,
                event,
                "decision",
                f"{expected.name} for n{decided.leader} round {decided.election_epoch}",
                name + (f" (leader n{real_leader})" if real_leader is not None else ""),
            )
            model.host.peer_state = state


def _just_left(model: NodeModel, my_state: str, t: float) -> bool:
    """`my_state` is the state the server left a moment before `t`: WorkerReceiver reads
    the state once for its `Notification:` line and again to choose its branch, and the
    main thread's setPeerState can come in between (FastLeaderElection.WorkerReceiver.run)."""
    left = model.left
    return left is not None and left[0] == my_state and t - left[1] <= RACE_MS


def check(path: str | os.PathLike[str]) -> CheckReport:
    """Check a trace; raises CheckError when it cannot be read or has nothing to check."""
    try:
        trace = read_trace(path)
        checker = Checker(trace.header, str(path))
        t0 = time.perf_counter()
        for event in trace:
            checker.feed(event)
        checker.finish()
        seconds = time.perf_counter() - t0
    except TraceError as e:
        raise CheckError(str(e)) from None
    if checker.real_events == 0:
        raise CheckError(
            f"{path}: nothing to check: the trace has no real-server events (recv,"
            " election, peer_state ...); import server logs with `zkfle import` first"
        )
    return CheckReport(
        str(path),
        checker.events,
        seconds,
        {sid: m.report for sid, m in checker.models.items()},
        checker.disagreements,
        list(trace.notes),
    )
