"""The reconstructed cluster: the cores plus everything the console shows that is not
inside a core, rebuilt from a trace's observation events.

`ClusterState` re-executes ★ events on its `CoreReplay` and follows the rest:
QuorumCnxManager's send queues, receive queue, connections and last-sent messages;
WorkerSender's queue; the main thread's inbox of quorum packets and connection results;
messages in flight (and held); faults, paused nodes, counters. `view()` gives the same
`ClusterView` the live cluster gives, and engine.replay.fork builds a live simulation
from it.

Inferring the queues: the trace records when WorkerSender queued a notification (`send`),
when it was evicted (`drop` capacity), delivered (`deliver`) or lost (`drop`), but not the
instant a SendWorker took it off its queue. The replayer takes it off when the SendWorker
would run at once - when the message is queued while the election connection is up and
the node runs, when the connection comes up, when the node is resumed - and a message found
queued when a newer one is queued for the same peer without an eviction has left too. In
the simulator a SendWorker runs microseconds after it is woken, so the view is exact up to
that instant.

A forked trace (header `parent: {"trace": path, "seq": n}`) continues the parent's run
after its event n: its state starts from the parent's (engine.replay.parents).
"""

from __future__ import annotations

import copy
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.control import commands as c
from engine.control.predicates import CommandError
from engine.control.resolve import resolve_link
from engine.control.values import Link
from engine.core.peer.io import (
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Durable,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    Output,
    PacketReceived,
    SendPacket,
    ZabItem,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.view import (
    DELIVERED_DROP_REASONS,
    ClusterView,
    FaultView,
    MessageCounts,
    NodeView,
    QuorumCount,
    quorum_count,
    stable_leader,
)
from engine.core.vote import Sid, ToSend
from engine.replay.cores import CoreReplay, Divergence, ReplayError
from engine.replay.parents import open_trace, parent_prefix
from engine.replay.tracked import FaultInfo, Msg, NodeState
from engine.runtime.views import peer_view
from engine.trace.elections import KINDS as ELECTION_KINDS
from engine.trace.elections import ElectionTracker
from engine.trace.evidence import Evidence
from engine.trace.format import REAL_KINDS, Event, TraceError
from engine.trace.lives import RUNNING, Life, life_changes
from engine.trace.record import RecordError, durable_from, packet_from

RECV_CAPACITY = 100
"""ZK: QuorumCnxManager.RECV_CAPACITY (engine.core.cnxmanager)."""


class ClusterState:
    """The whole cluster at one seq, rebuilt from a trace's events (see the module doc)."""

    def __init__(self, header: Mapping[str, Any], path: str = "<trace>") -> None:
        self.path = path
        self.replay = CoreReplay(header, path)
        self.config = self.replay.config
        servers = header["cluster"].get("servers") or []
        initial = header.get("initial") or {}
        self.nodes: dict[Sid, NodeState] = {}
        for sid in sorted(self.replay.qv.all_members):
            server: Mapping[str, Any] = next((s for s in servers if s.get("sid") == sid), {})
            try:
                durable = durable_from(initial[str(sid)]) if str(sid) in initial else Durable()
            except (RecordError, KeyError, TypeError):
                durable = Durable()
            self.nodes[sid] = NodeState(
                sid,
                str(server.get("type", self.replay.qv.all_members[sid].learner_type.word)),
                int(server.get("weight", 1)),
                durable,
            )
        self.seq = 0
        self.t_ms = 0.0
        self.in_flight: dict[str, Msg] = {}
        """Messages on the wire (sent or transmitted, not yet delivered or dropped)."""
        self.held: dict[str, None] = {}
        """Ids of in-flight messages a `hold` fault keeps."""
        self.pending_eof: dict[tuple[Sid, Sid], None] = {}
        """(node, peer): the peer closed their quorum connection; node has not seen EOF."""
        self.faults: dict[str, FaultInfo] = {}
        self.sent = self.delivered = self.dropped = 0
        self.loopback_delivers = _version(header) >= (1, 1)
        """Format 1.1 records a `deliver` for a loopback send; before, the send was all."""
        self.max_ids = {"m": 0, "p": 0, "f": 0}
        self.divergence: Divergence | None = None
        """The first divergence met (the replay goes on with our cores' state)."""
        self.unstable_since: float | None = 0.0
        """ClusterView.unstable_since_ms: judged after each event that can change it (a
        step that changes a node's state, vote or zab phase, a boot, a stop, a pause or a
        resume), as the live cluster judges it after each."""
        self._judge = False
        self._node_views: dict[Sid, NodeView] = {}
        """The views of the nodes no event changed since `view` built them: a `break when`
        judges a view after every event, and most events change one or two nodes."""
        self._nodes: tuple[NodeView, ...] | None = None
        """The last view's nodes, kept while no node view changes."""
        self._quorum: tuple[tuple[bool, ...], QuorumCount] | None = None
        """The last view's quorum count and which nodes ran then (all it depends on)."""
        self.evidence = Evidence(self.replay.timing.election.min_notification_interval_ms)
        """Real servers' logged events (trace 1.1): what a node without a core shows."""
        timing = self.replay.timing
        self.elections = ElectionTracker(self.replay.qv, timing.sync_limit * timing.tick_time_ms)
        self._handlers: dict[str, Callable[[Event], None]] = {
            "boot": self._on_boot,
            "stop": self._on_stop,
            "step": self._on_step,
            "send": self._on_send,
            "zsend": self._on_zsend,
            "deliver": self._on_deliver,
            "zdeliver": self._on_zdeliver,
            "drop": self._on_drop,
            "conn": self._on_conn,
            "fault": self._on_fault,
            "heal": self._on_heal,
            "cmd": self._on_cmd,
            "snapshot": self._live,
            "pause": self._on_pause,
            "resume": self._on_pause,
            "state": self._on_state,
            **dict.fromkeys(REAL_KINDS, self._on_real),
        }

    # --- copying ----------------------------------------------------------------------------

    def clone(self) -> ClusterState:
        """An independent copy (checkpoints, forks); immutable parts are shared."""
        other = ClusterState.__new__(ClusterState)
        other.__dict__.update(self.__dict__)
        replay = copy.copy(self.replay)
        memo: dict[int, Any] = {
            id(self.replay.qv): self.replay.qv,
            id(self.replay.timing): self.replay.timing,
            id(self.replay.header): self.replay.header,
        }
        other.nodes = {sid: n.clone(memo) for sid, n in self.nodes.items()}
        replay.cores = {sid: n.core for sid, n in other.nodes.items() if n.core is not None}
        replay.nodes_seen = set(self.replay.nodes_seen)
        replay.data = dict(self.replay.data)
        other.replay = replay
        other.in_flight = dict(self.in_flight)
        other.held = dict(self.held)
        other.pending_eof = dict(self.pending_eof)
        other.faults = dict(self.faults)
        other.max_ids = dict(self.max_ids)
        other._node_views = dict(self._node_views)
        other.evidence = self.evidence.copy()
        other.elections = self.elections.clone()
        other._handlers = {kind: getattr(other, fn.__name__) for kind, fn in self._handlers.items()}
        return other

    # --- events -----------------------------------------------------------------------------

    def apply(self, event: Event) -> Divergence | None:
        """Apply one event; returns a divergence its step revealed, if any."""
        self.seq = event["seq"]
        t_ms = float(event["t_ms"])
        if t_ms != self.t_ms:
            self.t_ms = t_ms
            self._age_views()
        self._divergence = None
        handler = self._handlers.get(event["kind"])
        if handler is not None:
            try:
                handler(event)
            finally:  # after: a handler may build a view (`_links`)
                self._forget_views(event)
        if self._judge:
            self._judge = False
            if stable_leader(self.nodes.values()) is not None:
                self.unstable_since = None
            elif self.unstable_since is None:
                self.unstable_since = self.t_ms
        if event["kind"] in ELECTION_KINDS:
            self.elections.feed(event)
        found = self._divergence
        if found is not None and self.divergence is None:
            self.divergence = found
        return found

    _divergence: Divergence | None = None

    def _age_views(self) -> None:
        """Drop the cached views of leaders with learners: their ping ages count to now."""
        aged = [sid for sid, v in self._node_views.items() if v.learners]
        for sid in aged:
            del self._node_views[sid]
        if aged:
            self._nodes = None

    def _forget_views(self, event: Event) -> None:
        """Drop the cached views of the nodes `event` can change (all of them for a kind
        not in _TOUCHES)."""
        fields = _TOUCHES.get(event["kind"])
        if fields is None:
            self._node_views.clear()
        else:
            for field in fields:
                sid = event.get(field)
                if type(sid) is int:
                    self._node_views.pop(sid, None)
        if len(self._node_views) < len(self.nodes):
            self._nodes = None

    def _node(self, event: Event) -> NodeState:
        sid = event.get("node")
        node = self.nodes.get(sid) if type(sid) is int else None
        if node is None:
            raise ReplayError(
                self.path, event["seq"] + 1, f"seq {event['seq']}: no node {sid!r} in the cluster"
            )
        return node

    def _on_boot(self, event: Event) -> None:
        node = self._node(event)
        node.durable = self.replay._durable(event)
        node.core = self.replay.boot(node.sid, node.durable, event["seq"])
        node.new_life()
        self._live(event)

    def _on_stop(self, event: Event) -> None:
        node = self._node(event)
        self.replay.stop(node.sid)
        node.core = None
        node.new_life()
        self._live(event)
        node.last_event = str(event.get("reason", "stop"))
        if node.sid in self.evidence:  # a real server that zkfle killed
            self.evidence.stopped(node.sid, node.last_event)
        for key in [k for k in self.pending_eof if node.sid in k]:
            del self.pending_eof[key]

    def _on_step(self, event: Event) -> None:
        node = self._node(event)
        decided = node.decided
        out, divergence = self.replay.step(event)
        self._divergence = divergence
        if node.paused:
            self._live(event)
        self._judge |= node.decided != decided
        inp = event["input"]
        kind = inp.get("type")
        msg = event.get("msg")
        if kind == "receive":
            if isinstance(msg, str):
                _remove_msg(node.recv_queue, msg)
            n = inp.get("n") or {}
            node.last_event = f"recv {n.get('state')} leader={n.get('leader')} from n{n.get('sid')}"
        elif kind == "look_for_leader":
            node.look_at = None
        elif kind in _INBOX_TYPES:
            self._take_inbox(node, self.replay.last_input)
        core = node.core
        if out is None or core is None:
            return
        self._apply_output(node, core, out)

    def _take_inbox(self, node: NodeState, taken: Input | None) -> None:
        for i, queued in enumerate(node.inbox):
            if queued == taken:
                del node.inbox[i]
                break
        if isinstance(taken, LearnerConnected | LearnerConnectFailed):
            node.pending_connect = None

    def _apply_output(self, node: NodeState, core: QuorumPeer, out: Output) -> None:
        """What engine.runtime.host.Host._apply does with an output, on the reconstruction."""
        if out.persist is not None:
            node.durable = out.persist
        if out.restart_election:
            node.reset_qcm()  # a new QuorumCnxManager; peers see the connections close
        if out.sends:
            node.sendqueue.extend(out.sends)
        node.zab_out = deque(a for a in out.zab if isinstance(a, SendPacket))
        for action in out.zab:
            if isinstance(action, ConnectToLeader):
                node.pending_connect = action.leader
            elif isinstance(action, ClosePeer) and action.peer in node.zab_peers:
                node.zab_peers.discard(action.peer)
                node.closing.add(action.peer)
                peer = self.nodes.get(action.peer)
                if peer is not None and node.sid in peer.zab_peers:
                    self.pending_eof[(action.peer, node.sid)] = None
        if out.election_delay_max_ms is not None:
            # The runtime draws the delay from its rng; the following look_for_leader step
            # says when it ran. Until then: due now.
            node.look_at = self.t_ms

    def _on_send(self, event: Event) -> None:
        node = self._node(event)
        self.sent += 1
        msg_id = str(event.get("msg", ""))
        self._note_id(msg_id)
        to = event.get("to")
        if type(to) is not int:
            return
        resend = event.get("resend")
        if resend is not None:
            # SendWorker.run on a new connection: the last message again, straight out.
            last = node.last_sent.get(to)
            body = last.body if last is not None and last.msg_id == resend else None
            if body is None:
                body = self._body_of(str(resend))
            self._transmit(Msg(msg_id, node.sid, to, body))
            return
        dup = event.get("dup")
        if dup is not None:  # the network duplicated message `dup` on the wire
            self._transmit(Msg(msg_id, node.sid, to, self._body_of(str(dup))))
            return
        body = _pop_tosend(node.sendqueue, to)
        message = Msg(msg_id, node.sid, to, body)
        if to == node.sid:  # loopback (an eviction is a `drop` next)
            if self.loopback_delivers:
                self.in_flight[msg_id] = message  # until its `deliver`
            else:
                self.delivered += 1
                _offer(node.recv_queue, message)
            return
        old = node.send_queues.get(to)
        if old is not None:
            # Not evicted (that is a `drop` capacity right after): the SendWorker took it.
            self._sent_off(node, to, old)
        node.send_queues[to] = message
        if to in node.conns and node.running:
            self._sent_off(node, to, message)

    def _sent_off(self, node: NodeState, peer: Sid, message: Msg) -> None:
        """A SendWorker took `message` off the queue for `peer` and wrote it to the link."""
        if node.send_queues.get(peer) is message:
            node.send_queues[peer] = None
        node.last_sent[peer] = message
        self._transmit(message)

    def _transmit(self, message: Msg) -> None:
        src, dst = self.nodes.get(message.src), self.nodes.get(message.dst)
        message = Msg(
            message.msg_id,
            message.src,
            message.dst,
            message.body,
            src.life if src is not None else 0,
            dst.life if dst is not None else 0,
        )
        self.in_flight[message.msg_id] = message
        if any(
            f.op == "hold" and (message.src, message.dst) in f.links for f in self.faults.values()
        ):
            self.held[message.msg_id] = None

    def _body_of(self, msg_id: str) -> ToSend | ZabItem | None:
        for node in self.nodes.values():
            for m in node.last_sent.values():
                if m.msg_id == msg_id:
                    return m.body
        found = self.in_flight.get(msg_id)
        return found.body if found is not None else None

    def _on_zsend(self, event: Event) -> None:
        node = self._node(event)
        msg_id = str(event.get("msg", ""))
        self._note_id(msg_id)
        to = event.get("to")
        packet: ZabItem | None = None
        # The packet is in the sender's last step output (zsend follows that step).
        pending = node.zab_out
        while pending:
            action = pending.popleft()
            if action.to == to:
                packet = action.packet
                break
        if packet is None:
            try:
                packet = packet_from(event["packet"])
            except (RecordError, KeyError, TypeError, ValueError):
                packet = None
        if type(to) is int:
            self._transmit(Msg(msg_id, node.sid, to, packet))

    def _on_deliver(self, event: Event) -> None:
        node = self._node(event)
        self.delivered += 1
        msg_id = str(event.get("msg", ""))
        message = self._take(msg_id, event.get("from"), node.sid)
        if message is None:
            src = event.get("from")
            message = Msg(msg_id, src if type(src) is int else -1, node.sid, None)
        _offer(node.recv_queue, message)

    def _on_zdeliver(self, event: Event) -> None:
        node = self._node(event)
        message = self._take(str(event.get("msg", "")), event.get("from"), node.sid)
        if message is not None and isinstance(message.body, ZabItem):
            node.inbox.append(PacketReceived(message.src, message.body))

    def _take(self, msg_id: str, src: object, dst: Sid) -> Msg | None:
        """Take a message off the wire (or, if it never left in our inference, its queue)."""
        self.held.pop(msg_id, None)
        message = self.in_flight.pop(msg_id, None)
        if message is not None:
            return message
        sender = self.nodes.get(src) if type(src) is int else None
        if sender is not None:
            queued = sender.send_queues.get(dst)
            if queued is not None and queued.msg_id == msg_id:
                sender.send_queues[dst] = None
                sender.last_sent[dst] = queued
                return queued
        return None

    def _on_drop(self, event: Event) -> None:
        msg_id = event.get("msg")
        if not isinstance(msg_id, str):
            return
        if msg_id[:1] == "m":  # notifications only, as Recorder counts them
            self.dropped += 1
            if event.get("reason") in DELIVERED_DROP_REASONS:
                self.delivered -= 1
        node = self.nodes.get(event.get("node", -1))
        src, dst = event.get("from"), event.get("to")
        if self.in_flight.pop(msg_id, None) is not None:
            self.held.pop(msg_id, None)
            return
        sender = self.nodes.get(src) if type(src) is int else None
        if sender is not None and type(dst) is int:
            queued = sender.send_queues.get(dst)
            if queued is not None and queued.msg_id == msg_id:
                sender.send_queues[dst] = None
                return
        if node is not None:
            _remove_msg(node.recv_queue, msg_id)

    def _on_conn(self, event: Event) -> None:
        node = self._node(event)
        peer = self.nodes.get(event.get("peer", -1))
        if peer is None:
            return
        up = event.get("up") is True
        if event.get("plane") == "quorum":
            if up:
                # Leader.accept, then the learner's connect result (Host._zab_accept).
                node.zab_peers.add(peer.sid)
                if peer.alive:
                    peer.zab_peers.add(node.sid)
                    peer.inbox.append(LearnerConnected(node.sid))
            elif peer.sid in node.closing:
                node.closing.discard(peer.sid)  # our own close (ClosePeer)
            else:
                node.zab_peers.discard(peer.sid)  # EOF from the peer
                self.pending_eof.pop((node.sid, peer.sid), None)
                if node.alive:
                    node.inbox.append(Disconnected(peer.sid))
            return
        if not up:
            node.conns.discard(peer.sid)
            return
        for x, y in ((node, peer), (peer, node)):
            x.conns.add(y.sid)
            x.send_queues.setdefault(y.sid, None)
            queued = x.send_queues[y.sid]
            if queued is not None and x.running:
                self._sent_off(x, y.sid, queued)

    def _resumed(self, node: NodeState) -> None:
        for peer in sorted(node.conns):
            queued = node.send_queues.get(peer)
            if queued is not None:
                self._sent_off(node, peer, queued)

    def _on_fault(self, event: Event) -> None:
        fid = str(event.get("id"))
        links = event.get("links") or []
        self.faults[fid] = FaultInfo(
            fid,
            str(event.get("text", "")),
            str(event.get("op", "")),
            tuple((int(a), int(b)) for a, b in links if isinstance(a, int) and isinstance(b, int)),
            self.t_ms,
            tuple(int(s) for s in event.get("nodes") or () if isinstance(s, int)),
        )
        self._note_id(fid)

    def _on_heal(self, event: Event) -> None:
        ids = event.get("ids")
        for fid in ids if isinstance(ids, list) else []:
            fault = self.faults.pop(str(fid), None)
            if fault is not None and fault.op == "hold":
                self._release(set(fault.links), None)

    def _release(self, links: set[tuple[Sid, Sid]], count: int | None) -> None:
        """Held messages on these links go on their way (all, or `count` per link)."""
        released: dict[tuple[Sid, Sid], int] = {}
        for msg_id in list(self.held):
            m = self.in_flight.get(msg_id)
            if m is None:
                del self.held[msg_id]
                continue
            link = (m.src, m.dst)
            if link in links and (count is None or released.get(link, 0) < count):
                released[link] = released.get(link, 0) + 1
                del self.held[msg_id]

    def _on_cmd(self, event: Event) -> None:
        if event.get("ok") is not True:
            return
        try:
            cmd = c.parse(str(event.get("text", "")))
        except CommandError:
            return
        match cmd:
            case c.Release(link, mode):
                self._release(self._links(link), None if mode == "all" else 1)
            case c.Deliver(Link() as link):
                self._release(self._links(link), 1)
            case c.Set(sid=sid, current_epoch=ce, accepted_epoch=ae, zxid=zxid):
                node = self.nodes.get(sid)
                if node is not None and not node.alive:
                    d = node.durable
                    node.durable = Durable(
                        ce if ce is not None else d.current_epoch,
                        ae if ae is not None else d.accepted_epoch,
                        zxid if zxid is not None else d.last_zxid,
                    )
            case _:
                pass

    def _links(self, link: Link) -> set[tuple[Sid, Sid]]:
        try:
            return set(resolve_link(link, self.view(), _NoRandom()))
        except CommandError:
            return set()

    def _on_state(self, event: Event) -> None:
        node = self._node(event)
        node.last_event = f"{event.get('state')} {str(event.get('zab', '')).lower()}"

    def _on_real(self, event: Event) -> None:
        self.evidence.apply(event, self.t_ms)

    def _on_pause(self, event: Event) -> None:
        """`pause` and `resume` (1.3): what older traces show only in snapshots."""
        self._node(event)
        self._live(event)

    def _life_of(self, sid: Sid) -> Life | None:
        node = self.nodes.get(sid)
        if node is None:
            return None
        # a real server runs as its logs show (no boot event of ours says so)
        real = node.core is None and self.evidence.running(sid)
        return Life(node.alive or real, node.paused)

    def _live(self, event: Event) -> None:
        """Who runs, as `event` tells it (engine.trace.lives): a resumed node's SendWorkers
        take what waits in its send queues."""
        for sid, life in life_changes(event, self._life_of):
            node = self.nodes.get(sid)
            if node is None:
                continue  # a snapshot naming a sid not in this cluster
            resumed = node.paused and life == RUNNING and event["kind"] != "boot"
            node.alive, node.paused = life.alive, life.paused
            self._judge = True
            if resumed:
                self._resumed(node)

    def _note_id(self, ident: str) -> None:
        prefix, number = ident[:1], ident[1:]
        if prefix in self.max_ids and number.isdigit():
            self.max_ids[prefix] = max(self.max_ids[prefix], int(number))

    # --- views ------------------------------------------------------------------------------

    def view(self) -> ClusterView:
        """The cluster after the event at `seq`, in the live cluster's shape."""
        nodes = self._nodes
        if nodes is None:
            cached = self._node_views
            for sid, node in self.nodes.items():
                if sid not in cached:
                    cached[sid] = self.node_view(node)
            nodes = self._nodes = tuple(cached[sid] for sid in sorted(self.nodes))
            running = tuple(n.alive and not n.paused for n in nodes)
            if self._quorum is None or self._quorum[0] != running:
                self._quorum = (running, quorum_count(self.replay.qv, nodes))
        assert self._quorum is not None  # counted with the first nodes
        quorum = self._quorum[1]
        return ClusterView(
            t_ms=self.t_ms,
            seq=self.seq,
            nodes=nodes,
            faults=tuple(
                FaultView(f.fault_id, f.text, f.link_fault().sids) for f in self.faults.values()
            ),
            messages=MessageCounts(self.sent, self.delivered, self.dropped),
            quorum=quorum,
            unstable_since_ms=self.unstable_since,
        )

    def node_view(self, node: NodeState) -> NodeView:
        if node.core is None and node.sid in self.evidence:
            view = self.evidence.view(node.sid, node.learner_type, node.weight)
            # SIGSTOP/SIGCONT are recorded as pause/resume; the logs cannot show them
            return replace(view, paused=True) if node.paused else view
        return peer_view(
            node.sid,
            node.learner_type,
            node.weight,
            node.alive,
            node.paused,
            node.durable,
            node.last_event,
            node.core,
            recv_queue=len(node.recv_queue),
            send_queues=tuple(
                (s, 0 if m is None else 1) for s, m in sorted(node.send_queues.items())
            ),
            connections=tuple(sorted(node.conns)),
            now_ms=self.t_ms,
        )

    def held_on(self, a: Sid, b: Sid) -> list[Msg]:
        return [
            m
            for i in self.held
            if (m := self.in_flight.get(i)) is not None and m.src == a
            if m.dst == b
        ]


_TOUCHES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("boot", "stop", "step", "send", "state", "pause", "resume"), ("node",)),
    # the receiver's queue, and the sender's send queue when the message never left it in
    # our inference (_take, _on_drop)
    **dict.fromkeys(("deliver", "drop"), ("node", "from")),
    "conn": ("node", "peer"),
    # a quorum packet's way (zab_out, the wire, inbox), faults and held messages are
    # outside the node views
    **dict.fromkeys(("zsend", "zdeliver", "fault", "heal"), ()),
}
"""The fields of an event that name the nodes whose NodeView its handler can change; a
kind not here (a command, a snapshot, a real server's evidence) may change any."""

_INBOX_TYPES = frozenset(
    {"packet", "learner_connected", "learner_connect_failed", "disconnected", "write"}
)


class _NoRandom:
    """Node words that need randomness resolve to nothing in a replay."""

    def sample(self, population: Sequence[Any], k: int) -> list[Any]:
        return list(population)[:k]

    def randint(self, a: int, b: int) -> int:
        return a


def _version(header: Mapping[str, Any]) -> tuple[int, int]:
    major, _, minor = str(header.get("version", "1.0")).partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (1, 0)


def _offer(queue: deque[Msg], message: Msg) -> None:
    if len(queue) >= RECV_CAPACITY:
        queue.popleft()
    queue.append(message)


def _remove_msg(queue: deque[Msg], msg_id: str) -> None:
    if queue and queue[0].msg_id == msg_id:
        queue.popleft()
        return
    for i, m in enumerate(queue):
        if m.msg_id == msg_id:
            del queue[i]
            return


def _pop_tosend(queue: deque[ToSend], to: Sid) -> ToSend | None:
    """WorkerSender takes the head of FLE.sendqueue (its recipient is `to`)."""
    if queue and queue[0].sid == to:
        return queue.popleft()
    for i, m in enumerate(queue):
        if m.sid == to:
            del queue[i]
            return m
    return None


def replay_to(path: str | os.PathLike[str], seq: int | None = None) -> ClusterState:
    """A fresh `ClusterState` after event `seq` (the end if None), streaming."""
    trace = open_trace(path)
    try:
        return rebuild(trace.header, str(path), trace.events(1, seq))
    except TraceError as e:
        raise ReplayError.of(e) from None


def rebuild(header: Mapping[str, Any], path: str, events: Iterable[Event]) -> ClusterState:
    """The `ClusterState` of a trace (after its ancestors) once `events` are applied: what
    the live cluster judges `break when` on (engine.control.shadow.MakeShadow)."""
    state = ClusterState(header, path)
    for event in parent_prefix(path, header):
        state.apply(event)
    state.seq = 0
    for event in events:
        state.apply(event)
    return state


def iter_views(
    path: str | os.PathLike[str], seqs: Iterable[int]
) -> Iterator[tuple[int, ClusterView]]:
    """The view after each of the (ascending) seqs, in one pass."""
    wanted = sorted(set(seqs))
    trace = open_trace(path)
    state = ClusterState(trace.header, str(path))
    for event in parent_prefix(path, trace.header):
        state.apply(event)
    state.seq = 0
    i = 0
    if wanted and wanted[0] <= 0:
        yield 0, state.view()
        i = 1
    try:
        for event in trace:
            if i >= len(wanted):
                return
            state.apply(event)
            while i < len(wanted) and wanted[i] == state.seq:
                yield state.seq, state.view()
                i += 1
    except TraceError as e:
        raise ReplayError.of(e) from None


__all__ = ["ClusterState", "rebuild"]
