"""What the node commands do to a live runtime: start, restart, crash, pause, resume,
timeout, set and reset, each acting on the nodes in a state it applies to and naming the
others."""

from __future__ import annotations

from collections.abc import Mapping

from engine.control import commands as c
from engine.control.links import Links, healed
from engine.control.predicates import CommandError
from engine.core.peer.io import Durable
from engine.core.vote import Sid, zxid_hex
from engine.runtime.durable import DurableError
from engine.runtime.protocol import Runtime

_NOTHING_TO_DO = {
    "restart": " (restart brings back crashed nodes; crash a node first to restart it)",
    "start": " (start brings up nodes that are down)",
    "resume": " (resume lets paused nodes run again)",
}
"""What a node command that found nothing to act on adds to its one line."""


class Lifecycle:
    """The node commands on `runtime`; `reset` heals the faults on `links` too.
    Each returns its answer, or raises CommandError when it has nothing to act on."""

    def __init__(self, runtime: Runtime, links: Links) -> None:
        self.runtime = runtime
        self.links = links

    def start(self, verb: str, sids: tuple[Sid, ...]) -> tuple[bool, str]:
        """start / restart: not ok if a node refuses (its stored state, say)."""
        # Only nodes that are down: DESIGN §3.4, a running node is refused, not bounced.
        sids, note = self._acting_on(verb, sids, "down")
        refused = self.runtime.boot_many(list(sids))
        started = tuple(s for s in sids if s not in refused)
        lines = [f"{verb}ed {_names(started)}{note}"] if started else [note[2:]] * bool(note)
        return not refused, "\n".join(lines + _refusals(refused))

    def crash(self, sids: tuple[Sid, ...], for_ms: float | None) -> str:
        sids, note = self._acting_on("crash", sids, "running", "paused")
        for sid in sids:
            self.runtime.crash(sid)
        if for_ms is not None:
            self.runtime.call_later(for_ms, self._restart_later, sids)
        return f"crashed {_names(sids)}{note}"

    def pause(self, sids: tuple[Sid, ...], for_ms: float | None) -> str:
        sids, note = self._acting_on("pause", sids, "running")
        for sid in sids:
            self.runtime.pause(sid)
        if for_ms is not None:
            self.runtime.call_later(for_ms, self._resume_later, sids)
        return f"paused {_names(sids)}{note}"

    def resume(self, sids: tuple[Sid, ...]) -> str:
        sids, note = self._acting_on("resume", sids, "paused")
        for sid in sids:
            self.runtime.resume(sid)
        return f"resumed {_names(sids)}{note}"

    def fire_timeouts(self, sids: tuple[Sid, ...]) -> str:
        fired = [sid for sid in sids if self.runtime.force_timeout(sid)]
        if not fired:
            raise CommandError(f"timeout: none of {_names(sids)} is waiting in lookForLeader", 0)
        return f"fired the notification timeout of {_names(tuple(fired))}"

    def set(self, cmd: c.Set) -> str:
        if cmd.sid not in self.runtime.sids:
            raise CommandError(f"set: no node {cmd.sid} in this cluster", 0)
        if self.runtime.life(cmd.sid) != "down":
            raise CommandError(
                f"set: n{cmd.sid} is running; crash it first (or set it before start)", 0
            )
        try:
            # As stored, unchecked: a state that refused to start keeps what `set` does not name.
            stored: Durable | None = self.runtime.stored(cmd.sid)
        except DurableError as e:
            if None in (cmd.current_epoch, cmd.accepted_epoch, cmd.zxid):
                raise CommandError(
                    f"set: n{cmd.sid}: {e}; give zxid= and epoch= to replace it", 0
                ) from None
            stored = None
        old = stored or Durable()
        updated = Durable(
            old.current_epoch if cmd.current_epoch is None else cmd.current_epoch,
            old.accepted_epoch if cmd.accepted_epoch is None else cmd.accepted_epoch,
            old.last_zxid if cmd.zxid is None else cmd.zxid,
        )
        self.runtime.save_durable(cmd.sid, updated)
        return f"n{cmd.sid}: {_describe_durable(updated)}"

    def reset(self) -> tuple[bool, str]:
        """Heal every network fault, resume the paused nodes and start the ones down; not
        ok if a node refuses."""
        ids = self.links.heal(None)
        done = [healed(ids)] if ids else []
        paused = tuple(s for s in self.runtime.sids if self.runtime.life(s) == "paused")
        for sid in paused:
            self.runtime.resume(sid)
        if paused:
            done.append(f"resumed {_names(paused)}")
        down = tuple(s for s in self.runtime.sids if self.runtime.life(s) == "down")
        refused = self.runtime.boot_many(list(down))
        restarted = tuple(s for s in down if s not in refused)
        if restarted:
            done.append(f"restarted {_names(restarted)}")
        lines = ["; ".join(done)] if done else []
        if not done and not refused:
            lines = ["nothing to reset: no fault, and no node paused or down"]
        return not refused, "\n".join(lines + _refusals(refused))

    def _acting_on(
        self, verb: str, sids: tuple[Sid, ...], *lives: str
    ) -> tuple[tuple[Sid, ...], str]:
        """The nodes among `sids` a node command acts on (those in one of `lives`), and a
        note naming the others by what they are; CommandError if that is all of them."""
        life = self.runtime.life
        acted = tuple(s for s in sids if life(s) in lives)
        others: dict[str, list[Sid]] = {}
        for sid in sids:
            if sid not in acted:
                others.setdefault(life(sid), []).append(sid)
        note = "; ".join(
            f"{_names(tuple(group))} {'is' if len(group) == 1 else 'are'} {what}"
            for what, group in others.items()
        )
        if not acted:
            hint = _NOTHING_TO_DO.get(verb, "")
            raise CommandError(f"{verb}: {note}{hint}", 0)
        return acted, f"; {note}" if note else ""

    def _restart_later(self, sids: tuple[Sid, ...]) -> None:
        for sid in sids:
            try:
                self.runtime.boot(sid)
            except DurableError as e:
                self.runtime.emit("cmd", text=f"restart n{sid}", ok=False, error=str(e))

    def _resume_later(self, sids: tuple[Sid, ...]) -> None:
        for sid in sids:
            self.runtime.resume(sid)


def _names(sids: tuple[Sid, ...]) -> str:
    return ", ".join(f"n{s}" for s in sids)


def _refusals(refused: Mapping[Sid, Exception]) -> list[str]:
    return [f"n{sid} refuses to start: {e}" for sid, e in sorted(refused.items())]


def _describe_durable(d: Durable) -> str:
    return (
        f"currentEpoch={d.current_epoch} acceptedEpoch={d.accepted_epoch}"
        f" lastZxid={zxid_hex(d.last_zxid)}"
    )
