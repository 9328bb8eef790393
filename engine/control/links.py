"""What the link commands do to a live runtime: the network faults (partition, isolate,
block, hold, delay, loss, dup, reorder) with the book of their ids, expiry and healing,
and the release, drop and deliver of held messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.control import commands as c
from engine.control.predicates import CommandError
from engine.control.resolve import Rng, chosen, resolve_link, resolve_nodes, resolve_partition
from engine.control.values import Link, MessageId, Nodes
from engine.core.view import ClusterView
from engine.core.vote import Sid
from engine.runtime.faults import LinkFault
from engine.runtime.protocol import Runtime


class Links:
    """The links between the nodes of `runtime`; node words are resolved on `view()` with
    `rng`. A fault is recorded as a `fault` event with its id, and its end as a `heal`
    event."""

    def __init__(self, runtime: Runtime, view: Callable[[], ClusterView], rng: Rng) -> None:
        self.runtime = runtime
        self._view = view
        self._rng = rng
        self.counter = 0
        """The number of the last fault id given (f1, f2, ...)."""

    def fault(self, cmd: c.Command) -> str:
        """A fault command: `fN: <the command, with the sids its node words chose>`."""
        match cmd:
            case c.Partition(groups, for_ms):
                parts = resolve_partition(groups, self._view(), self._rng)
                links = {(a, b) for g in parts for h in parts if g != h for a in g for b in h}
                return self._add(
                    replace(cmd, groups=tuple(Nodes(g) for g in parts)),
                    "block",
                    links,
                    for_ms,
                    nodes={s for g in parts for s in g},
                )
            case c.Isolate(nodes, for_ms):
                sids = resolve_nodes(nodes, self._view(), self._rng)
                every = self.runtime.sids
                links = {
                    (a, b) for a in every for b in every if a != b and (a in sids or b in sids)
                }
                return self._add(
                    replace(cmd, nodes=chosen(nodes, sids)), "block", links, for_ms, nodes=set(sids)
                )
            case c.Block(link, for_ms) | c.Hold(link, for_ms):
                ends, links = self._named(link)
                return self._add(replace(cmd, link=ends), cmd.verb, links, for_ms)
            case c.Delay(link, ms, jitter_ms, for_ms):
                ends, links = self._named(link)
                return self._add(
                    replace(cmd, link=ends),
                    "delay",
                    links,
                    for_ms,
                    delay_ms=ms,
                    jitter_ms=jitter_ms,
                )
            case (
                c.Loss(link, pct, for_ms) | c.Dup(link, pct, for_ms) | c.Reorder(link, pct, for_ms)
            ):
                ends, links = self._named(link)
                return self._add(
                    replace(cmd, link=ends), cmd.verb, links, for_ms, probability=pct / 100
                )
        raise AssertionError(cmd)

    def heal(self, fid: str | None) -> list[str]:
        """Take fault `fid` (every fault if None) off the network; the ids healed."""
        if fid is None:
            removed = self.runtime.clear_faults()
        else:
            one = self.runtime.remove_fault(fid)
            if one is None:
                raise CommandError(f"heal: no active fault {fid} (see `faults`)", 0)
            removed = [one]
        ids = [f.fault_id for f in removed]
        if ids:
            self._healed(ids, removed)
        return ids

    def continue_faults(self, counter: int, faults: list[LinkFault]) -> None:
        """Continue a run's faults (a fork): the next id after `counter`, these active."""
        self.counter = max(self.counter, counter)
        for fault in faults:
            self.runtime.add_fault(fault)
            if fault.expires_ms is not None:
                self.runtime.call_at(fault.expires_ms, self._expire, fault.fault_id)

    def release(self, link: Link, mode: str) -> str:
        limit = None if mode == "all" else 1
        ends, pairs = self._named(link)
        released = sum(self.runtime.release(a, b, limit) for a, b in sorted(pairs))
        return f"released {released} held message(s) on {ends}"

    def drop_or_deliver(self, cmd: c.Command, target: Link | MessageId, deliver: bool) -> str:
        verb = "delivered" if deliver else "dropped"
        if isinstance(target, MessageId):
            msg_id = str(target)
            done = (self.runtime.deliver_message if deliver else self.runtime.drop_message)(msg_id)
            if not done:
                raise CommandError(
                    f"{cmd.verb}: {msg_id} is not on the wire (already delivered, dropped, or"
                    " still in a send queue)",
                    0,
                )
            return f"{verb} {msg_id}"
        n = 0
        ends, pairs = self._named(target)
        for a, b in sorted(pairs):
            n += self.runtime.release(a, b, 1) if deliver else self.runtime.discard_held(a, b, 1)
        if n == 0:
            raise CommandError(f"{cmd.verb}: no held message on {ends} (use `hold` first)", 0)
        return f"{verb} {n} message(s) on {ends}"

    def _named(self, link: Link) -> tuple[Link, set[tuple[Sid, Sid]]]:
        """`link` written with the sids its node words chose (what a result echoes and
        `faults` lists), and the directed links it names."""
        view = self._view()
        src, dst = (resolve_nodes(end, view, self._rng) for end in (link.src, link.dst))
        named = Link(chosen(link.src, src), chosen(link.dst, dst), link.both)
        return named, set(resolve_link(named, view, self._rng))

    def _add(
        self,
        cmd: c.Command,
        kind: str,
        links: set[tuple[Sid, Sid]],
        for_ms: float | None,
        nodes: set[Sid] | None = None,
        **params: float,
    ) -> str:
        """Put the fault `cmd` names on `links`; it heals by itself after `for_ms`."""
        self.counter += 1
        fid = f"f{self.counter}"
        expires = None if for_ms is None else self.runtime.now() + for_ms
        fault = LinkFault(
            fid,
            kind,
            frozenset(links),
            cmd.text,
            expires_ms=expires,
            nodes=frozenset(nodes or ()),
            **params,
        )
        self.runtime.add_fault(fault)
        self.runtime.emit(
            "fault",
            id=fid,
            text=cmd.text,
            op=kind,
            links=sorted([a, b] for a, b in links),
            nodes=list(fault.sids),
        )
        if for_ms is not None:
            self.runtime.call_later(for_ms, self._expire, fid)
        return f"{fid}: {cmd.text}"

    def _expire(self, fid: str) -> None:
        fault = self.runtime.remove_fault(fid)
        if fault is not None:
            self._healed([fault.fault_id], [fault])

    def _healed(self, ids: list[str], faults: list[LinkFault]) -> None:
        self.runtime.emit("heal", ids=ids)
        for fault in faults:
            if fault.kind == "hold":
                for a, b in sorted(fault.links):
                    self.runtime.release(a, b)
        self.runtime.resume_streams()
        # Queued notifications wait for the next connectOne; nodes retry on their own.


def healed(ids: list[str]) -> str:
    """What `heal` (and `reset`) say of the faults they healed."""
    return f"healed {', '.join(ids)}" if ids else "no active network fault"
