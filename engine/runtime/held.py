"""Messages a Host keeps off their way or puts back on it: held by a `hold` fault until
released or discarded, learner<->leader streams stalled until a heal, one message dropped
or delivered now by the user, and a forked run's messages in flight.
"""

from __future__ import annotations

from collections import deque

from engine.core.vote import Sid
from engine.runtime.electionplane import ElectionPlane
from engine.runtime.hosted import Envelope
from engine.runtime.zabplane import ZabPlane


class HeldMessages(ElectionPlane, ZabPlane):
    """What the user and the faults do to messages on both planes' wire."""

    # --- held messages --------------------------------------------------------------------

    def release(self, a: Sid, b: Sid, count: int | None = None) -> int:
        """Let held messages on a->b go (all, or the first `count`)."""
        return self._drain(a, b, count, quorum_only=False)

    def _drain(self, a: Sid, b: Sid, count: int | None, quorum_only: bool) -> int:
        """Send held messages on a->b on their way in order (the first `count`, or all; only
        learner<->leader packets, and only while the link is open, if `quorum_only`). A
        packet leaves the queue when its arrival is scheduled, both under net_lock, so one
        that `_transmit` queues behind it meanwhile arrives after it."""
        moved = 0
        while count is None or moved < count:
            with self.net_lock:
                if quorum_only and (self.faults.blocked(a, b) or self.faults.held(a, b)):
                    break
                queue = self.held.get((a, b), deque())
                env = next(
                    (e for e in queue if not quorum_only or not isinstance(e.payload, bytes)),
                    None,
                )
                if env is None:
                    break
                queue.remove(env)
                stream = not isinstance(env.payload, bytes)
                if stream:  # takes only net_lock (again) and the runtime timer lock
                    self._schedule_arrival(env, "quorum", 0.0)
            if not stream:  # a notification's RecvWorker is woken: outside net_lock
                self._schedule_arrival(env, "election", 0.0)
            moved += 1
        return moved

    def discard_held(self, a: Sid, b: Sid, count: int | None = None) -> int:
        """Drop held messages on a->b (all, or the first `count`), as the user asked. A
        packet cannot be taken out of a TCP stream: dropping a learner<->leader packet
        breaks that connection (both ends see EOF)."""
        with self.net_lock:
            queue = self.held.get((a, b), deque())
            n = len(queue) if count is None else min(count, len(queue))
            envs = [queue.popleft() for _ in range(n)]
        for env in envs:
            self._drop(env.src, env.msg_id, "user", env.src, env.dst)
            if not isinstance(env.payload, bytes):  # a learner<->leader packet
                self._zab_closed(self.nodes[env.src], env.dst)
                self._zab_closed(self.nodes[env.dst], env.src)
        return n

    def resume_streams(self) -> int:
        """Learner<->leader streams stalled by a partition or a hold go on, in order, on
        every link that is open again (after a heal); returns how many packets moved."""
        with self.net_lock:
            links = list(self.held)
        return sum(self._drain(a, b, None, quorum_only=True) for a, b in links)

    # --- one message, by id ---------------------------------------------------------------

    def take_message(self, msg_id: str) -> list[Envelope]:
        """Take a message (every copy) off the wire - held or in flight - for the user to
        drop or deliver now; [] if it is in neither place."""
        with self.net_lock:
            found = self.in_flight.pop(msg_id, [])
            if found:
                self.cancelled[msg_id] = self.cancelled.get(msg_id, 0) + len(found)
            for queue in self.held.values():
                for env in [e for e in queue if e.msg_id == msg_id]:
                    queue.remove(env)
                    found.append(env)
        return found

    def drop_message(self, msg_id: str) -> bool:
        """The user drops one message; a learner<->leader packet breaks its connection."""
        envs = self.take_message(msg_id)
        for env in envs:
            self._drop(env.src, env.msg_id, "user", env.src, env.dst)
            if not isinstance(env.payload, bytes):  # a learner<->leader packet
                self._zab_closed(self.nodes[env.src], env.dst)
                self._zab_closed(self.nodes[env.dst], env.src)
        return bool(envs)

    def deliver_message(self, msg_id: str) -> bool:
        """The user delivers one message now (in order on its link for a stream)."""
        envs = self.take_message(msg_id)
        for env in envs:
            if not isinstance(env.payload, bytes):  # a learner<->leader packet
                self._zab_arrive(env)
            else:
                self._arrive(env)
        return bool(envs)

    # --- continuing a run from a replayed state (engine.replay.fork) ----------------------

    def put_in_flight(self, env: Envelope, plane: str) -> None:
        """A message that was on the wire arrives after a fresh latency; a loopback one,
        caught between its `send` and its `deliver`, is delivered now."""
        if env.src == env.dst and isinstance(env.payload, bytes):
            node = self.nodes[env.dst]
            with node.lock:
                self._loopback(node, env.msg_id, env.payload)
            return
        self._schedule_arrival(env, plane, 0.0)
