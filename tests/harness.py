"""A by-hand driver for several QuorumPeer cores (after etcd-io/raft's InteractionEnv).

Messages travel as ZooKeeper's bytes through each node's QuorumCnxManager queues: the
per-peer send queue holds one message and evicts the older one, the receive queue holds
100. Nothing moves unless a command says so: `deliver 1->2` hands the head of 1's queue
for 2 to 2's receive queue, `timeout 3` fires node 3's main-thread timer, and so on. The
threads of a node (WorkerReceiver, the lookForLeader loop) are eager: after every command
each node drains its receive queue and its FLE.recvqueue before anything else happens.

`zab=off` (the default) stops a node at its decision, like ZooKeeper's FLE-only tests;
`zab=on` runs the post-election phase with packets delivered at once and in order.
"""

from __future__ import annotations

import shlex
from collections import deque
from dataclasses import dataclass, field

from engine.core.cnxmanager import Message, QuorumCnxManager
from engine.core.peer.io import (
    ClosePeer,
    ConnectToLeader,
    Disconnected,
    Durable,
    Input,
    LearnerConnected,
    LearnerConnectFailed,
    LookForLeader,
    Output,
    PacketReceived,
    Poll,
    Receive,
    SendPacket,
    Timeout,
    Timing,
    ZabItem,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.parse import parse_dynamic_config
from engine.core.quorum.verifier import QuorumVerifier
from engine.core.vote import Notification, ServerState, Sid, Vote, parse_zxid, zxid_hex
from engine.core.wire import WireError, build_payload, decode_notification, encode_notification


def describe_vote(v: Vote) -> str:
    return (
        f"leader={v.leader} zxid={zxid_hex(v.zxid)} round={v.election_epoch} epoch={v.peer_epoch}"
    )


def describe_notification(n: Notification) -> str:
    return (
        f"{n.state.name} leader={n.leader} zxid={zxid_hex(n.zxid)} "
        f"round={n.election_epoch} epoch={n.peer_epoch}"
    )


def make_verifier(
    participants: list[Sid], observers: list[Sid], groups: str = ""
) -> QuorumVerifier:
    lines = []
    for sid in sorted(participants + observers):
        kind = "observer" if sid in observers else "participant"
        lines.append(f"server.{sid}=127.0.0.1:{20000 + sid}:{21000 + sid}:{kind}")
    lines.extend(groups.split())
    lines.append("version=0")
    return parse_dynamic_config("\n".join(lines))


@dataclass
class HNode:
    sid: Sid
    peer: QuorumPeer | None = None
    qcm: QuorumCnxManager = field(init=False)
    durable: Durable = field(default_factory=Durable)
    zab_links: set[Sid] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.qcm = QuorumCnxManager(self.sid)


class Harness:
    """Several nodes of one cluster, driven one command at a time."""

    def __init__(self) -> None:
        self.nodes: dict[Sid, HNode] = {}
        self.qv: QuorumVerifier | None = None
        self.timing = Timing(tick_time_ms=100, init_limit=5, sync_limit=2)
        self.zab = False
        self.now = 0.0
        self.out: list[str] = []
        self.zab_inflight: deque[tuple[Sid, Sid, ZabItem]] = deque()
        self.steps: list[tuple[Sid, Input, Output]] = []
        """Every core step taken, for property tests."""

    # --- commands ------------------------------------------------------------------------------

    def handle(self, command: str) -> str:
        self.out = []
        words = shlex.split(command)
        verb, args = words[0], words[1:]
        getattr(self, "cmd_" + verb.replace("-", "_"))(args)
        return "\n".join(self.out)

    def cmd_cluster(self, args: list[str]) -> None:
        """cluster n=3 [observers=4,5] [zxids=1:0x5,2:0x0] [epochs=1:2] [groups="..."] [zab=on]"""
        opts = dict(a.split("=", 1) for a in args)
        self.__init__()  # type: ignore[misc]  # a new cluster replaces the old one
        n = int(opts.get("n", "3"))
        first = int(opts.get("first", "1"))
        participants = list(range(first, first + n))
        observers = [int(s) for s in opts.get("observers", "").split(",") if s]
        self.qv = make_verifier(participants, observers, opts.get("groups", ""))
        self.zab = opts.get("zab", "off") == "on"
        zxids = _pairs(opts.get("zxids", ""))
        epochs = _pairs(opts.get("epochs", ""))
        for sid in sorted(participants + observers):
            epoch = epochs.get(sid, 0)
            self.nodes[sid] = HNode(sid, durable=Durable(epoch, epoch, zxids.get(sid, 0)))

    def cmd_start(self, args: list[str]) -> None:
        for sid in self._sids(args):
            node = self.nodes[sid]
            assert self.qv is not None
            node.peer = QuorumPeer(sid, self.qv, node.durable, self.timing)
            node.qcm = QuorumCnxManager(sid)
            self._step(sid, LookForLeader())
        self._run_threads()

    def cmd_crash(self, args: list[str]) -> None:
        for sid in self._sids(args):
            node = self.nodes[sid]
            node.peer = None
            node.qcm = QuorumCnxManager(sid)
            self.out.append(f"n{sid} crashed")
            for other in sorted(node.zab_links):
                self.nodes[other].zab_links.discard(sid)
                self._step(other, Disconnected(sid))
            node.zab_links.clear()
        self._run_threads()

    def cmd_deliver(self, args: list[str]) -> None:
        for link in args:
            a, b = (int(x) for x in link.split("->"))
            self._deliver(a, b)
        self._run_threads()

    def cmd_drop(self, args: list[str]) -> None:
        for link in args:
            a, b = (int(x) for x in link.split("->"))
            message = self.nodes[a].qcm.poll_send_queue(b)
            assert message is not None, f"nothing queued on {link}"
            self.out.append(f"dropped {a}->{b} {self._describe_payload(message.payload, a)}")

    def cmd_stabilize(self, args: list[str]) -> None:
        """Deliver every queued message, link by link in sorted order, until none is left."""
        while True:
            links = self._queued_links()
            if not links:
                return
            for a, b in links:
                self._deliver(a, b)
                self._run_threads()

    def cmd_settle(self, args: list[str]) -> None:
        """Deliver everything and fire timers, earliest first, until no running node is
        electing (and, with zab=on, every running node is synced). Prints decisions and
        role changes only."""
        limit = int(args[0]) if args else 10_000
        saved, self.out = self.out, []
        for _ in range(limit):
            if self._queued_links():
                for a, b in self._queued_links():
                    self._deliver(a, b)
                    self._run_threads()
                continue
            running = [n.peer for n in self.nodes.values() if n.peer is not None]
            if all(not p.election.in_election and (not self.zab or p.established) for p in running):
                break
            timers = [
                (p.deadline, p.myid)
                for p in running
                if p.deadline is not None and (self.zab or p.election.in_election)
            ]
            if not timers:
                break
            deadline, sid = min(timers)
            self.now = max(self.now, deadline)
            self._step(sid, Timeout(self.nodes[sid].qcm.have_delivered()))
            self._run_threads()
        self.out = saved + [s for s in self.out if "decided" in s or " -> " in s or "crashed" in s]

    def cmd_relook(self, args: list[str]) -> None:
        """relook 1 - the node goes LOOKING and runs lookForLeader again, as ZooKeeper's
        FLE-only tests do by calling lookForLeader in a loop."""
        for sid in self._sids(args):
            peer = self._peer(sid)
            peer.peer_state = ServerState.LOOKING
            peer.leading = peer.learning = None
            self._step(sid, LookForLeader())
        self._run_threads()

    def cmd_setvote(self, args: list[str]) -> None:
        """setvote 1 zxid=+100 round=+100 - overwrite a decided node's currentVote."""
        peer = self._peer(int(args[0].lstrip("n")))
        opts = dict(a.split("=", 1) for a in args[1:])
        v = peer.current_vote
        zxid = v.zxid + int(opts.get("zxid", "+0"))
        peer.current_vote = Vote(
            v.leader, zxid, v.election_epoch + int(opts.get("round", "+0")), v.peer_epoch
        )

    def cmd_timeout(self, args: list[str]) -> None:
        for sid in self._sids(args):
            peer = self._peer(sid)
            assert peer.deadline is not None, f"n{sid} has no timer"
            self.now = max(self.now, peer.deadline)
            self._step(sid, Timeout(self.nodes[sid].qcm.have_delivered()))
        self._run_threads()

    def cmd_inject(self, args: list[str]) -> None:
        """inject 1->2 STATE leader=L zxid=Z round=R epoch=E [form=40] [config=TEXT]
        [config_length=N] [trailing=N] [truncate=N] - a raw message from a mock server."""
        a, b = (int(x) for x in args[0].split("->"))
        opts = dict(x.split("=", 1) for x in args[2:])
        fields = (
            ServerState[args[1]],
            int(opts.get("leader", "0")),
            parse_zxid(opts.get("zxid", "0")),
            int(opts.get("round", "1")),
            int(opts.get("epoch", "0")),
        )
        if opts.get("form") == "40":  # FLETestUtils.createMsg: read back as version 0
            payload = build_payload(*fields, version=1)
        else:
            config_length = opts.get("config_length")
            payload = build_payload(
                *fields,
                version=2,
                config=opts.get("config", self._qv().to_string()),
                config_length=None if config_length is None else int(config_length),
            )
        payload += bytes(int(opts.get("trailing", "0")))
        payload = payload[: int(opts.get("truncate", len(payload)))]
        self.nodes[b].qcm.add_to_recv_queue(Message(payload, a))
        self._run_threads()

    def cmd_state(self, args: list[str]) -> None:
        for sid in sorted(self.nodes):
            peer = self.nodes[sid].peer
            if peer is None:
                self.out.append(f"n{sid} down")
                continue
            fle = peer.election
            line = (
                f"n{sid} {peer.peer_state.name} round={fle.logicalclock} "
                f"proposal=({fle.proposed_leader},{zxid_hex(fle.proposed_zxid)},{fle.proposed_epoch})"
                f" vote={describe_vote(peer.current_vote)}"
            )
            if peer.zab_state != "ELECTION":
                line += f" zab={peer.zab_state}"
            if fle.finalizing:
                line += " finalizing"
            self.out.append(line)

    def cmd_sets(self, args: list[str]) -> None:
        """sets 3 - recvset and outofelection of node 3."""
        fle = self._peer(int(args[0].lstrip("n"))).election
        for name, votes in (("recvset", fle.recvset), ("outofelection", fle.outofelection)):
            body = ", ".join(f"{s}:{v.leader}/{v.state.name}" for s, v in sorted(votes.items()))
            self.out.append(f"{name}: {body or '-'}")

    def cmd_queues(self, args: list[str]) -> None:
        for a, b in self._queued_links():
            payload = self.nodes[a].qcm.queue_send_map[b]
            self.out.append(f"{a}->{b} queued ({len(payload)})")

    # --- machinery -----------------------------------------------------------------------------

    def _qv(self) -> QuorumVerifier:
        assert self.qv is not None
        return self.qv

    def _peer(self, sid: Sid) -> QuorumPeer:
        peer = self.nodes[sid].peer
        assert peer is not None, f"n{sid} is down"
        return peer

    def _sids(self, args: list[str]) -> list[Sid]:
        if not args or args == ["all"]:
            return sorted(self.nodes)
        return [int(a.lstrip("n")) for a in args]

    def _queued_links(self) -> list[tuple[Sid, Sid]]:
        return [
            (a, b)
            for a in sorted(self.nodes)
            for b, q in sorted(self.nodes[a].qcm.queue_send_map.items())
            if len(q) and self.nodes[a].peer is not None
        ]

    def _describe_payload(self, payload: bytes, sender: Sid) -> str:
        try:
            return describe_notification(decode_notification(payload, sender))
        except WireError as e:
            return f"malformed ({e})"

    def _deliver(self, a: Sid, b: Sid) -> None:
        message = self.nodes[a].qcm.poll_send_queue(b)
        assert message is not None, f"nothing queued on {a}->{b}"
        if self.nodes[b].peer is None:
            self.out.append(f"{a}->{b} lost (n{b} is down)")
            return
        self.out.append(f"{a}->{b} {self._describe_payload(message.payload, a)}")
        self.nodes[b].qcm.add_to_recv_queue(message)

    def _run_threads(self) -> None:
        """Let every node's WorkerReceiver and lookForLeader loop run until idle."""
        busy = True
        while busy:
            busy = False
            for sid in sorted(self.nodes):
                node = self.nodes[sid]
                if node.peer is None:
                    continue
                message = node.qcm.poll_recv_queue()
                if message is not None:
                    busy = True
                    try:
                        n = decode_notification(message.payload, message.sid)
                    except WireError as e:
                        self.out.append(f"  n{sid} skipped a message from n{message.sid}: {e}")
                        continue
                    self._step(sid, Receive(n))
                elif node.peer.election.in_election and node.peer.election.recvqueue:
                    busy = True
                    self._step(sid, Poll())
            if not busy and self.zab_inflight:
                busy = True
                a, b, packet = self.zab_inflight.popleft()
                if self.nodes[b].peer is not None and a in self.nodes[b].zab_links:
                    self._step(b, PacketReceived(a, packet))

    def _step(self, sid: Sid, event: Input) -> None:
        peer = self._peer(sid)
        before = (peer.peer_state, peer.election.get_vote(), peer.election.logicalclock)
        out = peer.step(event, self.now)
        self.steps.append((sid, event, out))
        self._report(sid, before, out)
        self._apply(sid, out)

    def _report(self, sid: Sid, before: tuple[ServerState, Vote, int], out: Output) -> None:
        peer = self._peer(sid)
        state, proposal, clock = before
        now = peer.election.get_vote()
        if (now.leader, now.zxid, now.peer_epoch) != (
            proposal.leader,
            proposal.zxid,
            proposal.peer_epoch,
        ) or clock != peer.election.logicalclock:
            self.out.append(
                f"  n{sid} round={peer.election.logicalclock} proposal=({now.leader},"
                f"{zxid_hex(now.zxid)},{now.peer_epoch})"
            )
        if out.decided is not None:
            self.out.append(f"  n{sid} decided {peer.peer_state.name} {describe_vote(out.decided)}")
        elif peer.peer_state != state:
            self.out.append(f"  n{sid} {state.name} -> {peer.peer_state.name}")
        if out.reason:
            self.out.append(f"  n{sid} {out.reason}")

    def _apply(self, sid: Sid, out: Output) -> None:
        node = self.nodes[sid]
        if out.persist is not None:
            node.durable = out.persist
        for m in out.sends:
            node.qcm.to_send(m.sid, encode_notification(m))
        if not self.zab:
            return
        for action in out.zab:
            if isinstance(action, ConnectToLeader):
                leader = self.nodes[action.leader]
                up = leader.peer is not None and leader.peer.peer_state == ServerState.LEADING
                if up:
                    node.zab_links.add(action.leader)
                    leader.zab_links.add(sid)
                    self._step(sid, LearnerConnected(action.leader))
                else:
                    self._step(sid, LearnerConnectFailed(action.leader))
            elif isinstance(action, SendPacket):
                self.zab_inflight.append((sid, action.to, action.packet))
            elif isinstance(action, ClosePeer) and action.peer in node.zab_links:
                node.zab_links.discard(action.peer)
                self.nodes[action.peer].zab_links.discard(sid)
                if self.nodes[action.peer].peer is not None:
                    self._step(action.peer, Disconnected(sid))
        if out.election_delay_max_ms is not None:
            self._step(sid, LookForLeader())


def _pairs(text: str) -> dict[Sid, int]:
    pairs = {}
    for item in filter(None, text.split(",")):
        sid, value = item.split(":")
        pairs[int(sid)] = parse_zxid(value)
    return pairs
