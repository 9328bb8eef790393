"""Regenerate the realistic fixture traces here: `python -m tests.data.traces.make_traces`.

A deliberately tiny, deterministic driver of real QuorumPeer cores (not the project's
simulator): fixed per-link delays, no faults, every step recorded in the trace format with
engine.trace.record's JSON forms and written by TraceWriter. It exists so that the trace reader,
exporters and invariant checker are tested on what real cores do, independently of the
runtimes. The small violating traces next to it are written by hand.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from engine.core.peer.io import ClientWrite, ClosePeer, ConnectToLeader, Disconnected, Durable, Input, LearnerConnected, LearnerConnectFailed, LookForLeader, Output, PacketReceived, Poll, ZabItem, Receive, SendPacket, Timeout, Timing
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.parse import parse_dynamic_config
from engine.trace.record import durable_json, input_json, output_json, packet_json, vote_json
from engine.trace.format import TraceWriter, make_header
from engine.core.vote import ServerState, Sid, ToSend, zxid_hex

HERE = Path(__file__).parent
CREATED = datetime(2026, 11, 26, 14, 0, 0, tzinfo=UTC)


class MiniSim:
    def __init__(self, path: Path, n: int, label: str) -> None:
        lines = [
            f"server.{s}=127.0.0.1:{20000 + s}:{21000 + s}:participant" for s in range(1, n + 1)
        ]
        self.qv = parse_dynamic_config("\n".join([*lines, "version=0"]))
        self.config = self.qv.to_string()
        self.timing = Timing(tick_time_ms=100, init_limit=5, sync_limit=2)
        self.sids = list(range(1, n + 1))
        self.durable = {s: Durable() for s in self.sids}
        self.peers: dict[Sid, QuorumPeer | None] = dict.fromkeys(self.sids)
        self.links: set[tuple[Sid, Sid]] = set()
        self.timer_gen = dict.fromkeys(self.sids, 0)
        self.last_state: dict[Sid, dict[str, Any]] = {}
        self.now = 0.0
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.counter = self.msgs = self.packets = 0
        e = self.timing.election
        header = make_header(
            config=self.config,
            servers=[{"sid": s, "type": "participant", "weight": 1} for s in self.sids],
            timing={
                "tick_time_ms": self.timing.tick_time_ms,
                "init_limit": self.timing.init_limit,
                "sync_limit": self.timing.sync_limit,
                "finalize_wait_ms": e.finalize_wait_ms,
                "min_notification_interval_ms": e.min_notification_interval_ms,
                "max_notification_interval_ms": e.max_notification_interval_ms,
            },
            initial={str(s): durable_json(self.durable[s]) for s in self.sids},
            runtime="sim",
            transport="memory",
            seed=7,
            label=label,
            created=CREATED,
            python="3.11.7",
        )
        self.w = TraceWriter(path, header)
        self.was_stable = False

    # --- recording ------------------------------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        self.w.write(
            {"seq": self.w.next_seq, "t_ms": round(float(self.now), 3), "kind": kind, **fields}
        )

    def at(self, delay: float, fn: Callable[[], None]) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (self.now + delay, self.counter, fn))

    def run_until(self, t: float) -> None:
        while self.heap and self.heap[0][0] <= t:
            when, _, fn = heapq.heappop(self.heap)
            self.now = when
            fn()
            self.check_stable()
        self.now = t

    def cmd(self, text: str, fn: Callable[[], None]) -> None:
        self.emit("cmd", text=text, ok=True)
        fn()
        self.snapshot()

    def snapshot(self) -> None:
        nodes = []
        for s in self.sids:
            p = self.peers[s]
            nodes.append(
                {
                    "sid": s,
                    "alive": p is not None,
                    "paused": False,
                    "state": p.peer_state.name if p else None,
                    "logicalclock": p.election.logicalclock if p else 0,
                    "vote": vote_json(p.current_vote) if p else None,
                    "current_epoch": self.durable[s].current_epoch,
                    "last_zxid": zxid_hex(self.durable[s].last_zxid),
                    "established": bool(p and p.established),
                }
            )
        leader = self.stable_leader()
        self.emit("snapshot", nodes=nodes, stable=leader is not None, leader=leader)

    def stable_leader(self) -> Sid | None:
        live = [p for p in self.peers.values() if p is not None]
        leaders = [p for p in live if p.peer_state == ServerState.LEADING]
        if len(leaders) != 1 or not leaders[0].established:
            return None
        lead = leaders[0].myid
        ok = all(
            p.peer_state != ServerState.LOOKING and p.current_vote.leader == lead for p in live
        )
        return lead if ok else None

    def check_stable(self) -> None:
        stable = self.stable_leader() is not None
        if stable and not self.was_stable:
            self.snapshot()
        self.was_stable = stable

    def record_state(self, sid: Sid) -> None:
        p = self.peers[sid]
        assert p is not None
        fle = p.election
        d = self.durable[sid]
        state: dict[str, Any] = {
            "state": p.peer_state.name,
            "zab": p.zab_state,
            "logicalclock": fle.logicalclock,
            "proposal": {
                "leader": fle.proposed_leader,
                "zxid": zxid_hex(fle.proposed_zxid),
                "peer_epoch": fle.proposed_epoch,
            },
            "vote": vote_json(p.current_vote),
            "current_epoch": d.current_epoch,
            "accepted_epoch": d.accepted_epoch,
            "last_zxid": zxid_hex(d.last_zxid),
        }
        before = self.last_state.get(sid)
        if state == before:
            return
        self.last_state[sid] = state
        if before is not None and before["state"] == "LOOKING" and state["state"] != "LOOKING":
            state = dict(state)
            state["recvset"] = {str(s): vote_json(v) for s, v in sorted(fle.recvset.items())}
            state["outofelection"] = {
                str(s): vote_json(v) for s, v in sorted(fle.outofelection.items())
            }
        self.emit("state", node=sid, **state)

    # --- nodes ----------------------------------------------------------------------------------

    def boot(self, sid: Sid) -> None:
        self.peers[sid] = QuorumPeer(sid, self.qv, self.durable[sid], self.timing)
        self.last_state.pop(sid, None)
        self.emit("boot", node=sid, durable=durable_json(self.durable[sid]))
        self.record_state(sid)
        self.step(sid, LookForLeader())

    def boot_all(self) -> None:
        for sid in self.sids:
            self.boot(sid)

    def crash(self, sid: Sid) -> None:
        self.emit("stop", node=sid, reason="crash")
        self.peers[sid] = None
        self.timer_gen[sid] += 1
        for a, b in sorted(self.links):
            if sid in (a, b):
                self.links.discard((a, b))
                other = b if a == sid else a
                self.emit("conn", node=other, peer=sid, up=False, plane="quorum")
                self.at(0.5, partial(self.step_if_alive, other, Disconnected(sid)))

    def step_if_alive(self, sid: Sid, event: Input, msg: str | None = None) -> None:
        if self.peers[sid] is not None:
            self.step(sid, event, msg)

    def step(self, sid: Sid, event: Input, msg: str | None = None) -> None:
        p = self.peers[sid]
        assert p is not None
        out = p.step(event, self.now)
        fields: dict[str, Any] = {"node": sid}
        if msg is not None:
            fields["msg"] = msg
        fields["input"] = input_json(event, self.config)
        fields["output"] = output_json(out, self.config)
        self.emit("step", **fields)
        if out.persist is not None:
            self.durable[sid] = out.persist
        self.record_state(sid)
        self.apply(sid, event, out)
        fle = p.election
        while self.peers[sid] is p and fle.in_election and fle.recvqueue:
            self.step(sid, Poll())

    def apply(self, sid: Sid, event: Input, out: Output) -> None:
        for m in out.sends:
            self.send(sid, m)
        for action in out.zab:
            if isinstance(action, ConnectToLeader):
                self.at(1.0, partial(self.connect, sid, action.leader))
            elif isinstance(action, SendPacket):
                self.send_packet(sid, action.to, action.packet)
            elif isinstance(action, ClosePeer):
                self.close(sid, action.peer)
        if not isinstance(event, Receive):
            self.timer_gen[sid] += 1
            if out.wait_ms is not None:
                gen = self.timer_gen[sid]
                self.at(out.wait_ms, lambda: self.timeout(sid, gen))
        if out.election_delay_max_ms is not None:
            self.at(0.0, lambda: self.step_if_alive(sid, LookForLeader()))

    def timeout(self, sid: Sid, gen: int) -> None:
        if self.peers[sid] is not None and self.timer_gen[sid] == gen:
            self.step(sid, Timeout(True))

    def delay(self, a: Sid, b: Sid) -> float:
        return 0.0 if a == b else 1.0 + (a * 7 + b * 3) % 4

    def send(self, sid: Sid, m: ToSend) -> None:
        self.msgs += 1
        mid = f"m{self.msgs}"
        self.emit("send", node=sid, msg=mid, to=m.sid)

        def arrive() -> None:
            if self.peers[m.sid] is None:
                self.emit("drop", node=m.sid, msg=mid, to=m.sid, reason="crash", **{"from": sid})
                return
            self.emit("deliver", node=m.sid, msg=mid, **{"from": sid})
            self.step(m.sid, Receive(m.received_from(sid)), mid)

        self.at(self.delay(sid, m.sid), arrive)

    def connect(self, sid: Sid, leader: Sid) -> None:
        if self.peers[sid] is None:
            return
        lp = self.peers[leader]
        if lp is not None and lp.peer_state == ServerState.LEADING:
            self.links.add((min(sid, leader), max(sid, leader)))
            self.emit("conn", node=sid, peer=leader, up=True, plane="quorum")
            self.emit("conn", node=leader, peer=sid, up=True, plane="quorum")
            self.step(sid, LearnerConnected(leader))
        else:
            self.step(sid, LearnerConnectFailed(leader))

    def send_packet(self, sid: Sid, to: Sid, packet: ZabItem) -> None:
        self.packets += 1
        pid = f"p{self.packets}"
        self.emit("zsend", node=sid, msg=pid, to=to, packet=packet_json(packet))
        link = (min(sid, to), max(sid, to))

        def arrive() -> None:
            if link not in self.links or self.peers[to] is None:
                self.emit("drop", node=to, msg=pid, to=to, reason="crash", **{"from": sid})
                return
            self.emit("zdeliver", node=to, msg=pid, **{"from": sid})
            self.step(to, PacketReceived(sid, packet), pid)

        self.at(self.delay(sid, to), arrive)

    def close(self, sid: Sid, peer: Sid) -> None:
        link = (min(sid, peer), max(sid, peer))
        if link in self.links:
            self.links.discard(link)
            self.emit("conn", node=sid, peer=peer, up=False, plane="quorum")
            self.at(0.5, lambda: self.step_if_alive(peer, Disconnected(sid)))

    def finish(self) -> None:
        self.snapshot()
        self.w.close(self.w.footer_event(round(float(self.now), 3)))


def failover3() -> None:
    """Three nodes elect n3, commit two writes, lose n3, elect n2, and take n3 back."""
    sim = MiniSim(HERE / "failover3.jsonl", 3, "failover3")
    sim.cmd("start", sim.boot_all)
    sim.run_until(600)
    sim.cmd("write 2", partial(sim.step, 3, ClientWrite(2)))
    sim.run_until(700)
    sim.cmd("crash 3", lambda: sim.crash(3))
    sim.run_until(1500)
    sim.cmd("restart 3", lambda: sim.boot(3))
    sim.run_until(2100)
    sim.emit("mark", label="n3 is back")
    sim.finish()


# --- hand-made traces that break one invariant each ----------------------------------------------


class Hand:
    """Writes a short trace event by event; `state` fills the fields a state event needs."""

    def __init__(self, name: str, label: str, n: int = 3) -> None:
        lines = [
            f"server.{s}=127.0.0.1:{20000 + s}:{21000 + s}:participant" for s in range(1, n + 1)
        ]
        self.sids = list(range(1, n + 1))
        header = make_header(
            config="\n".join([*lines, "version=0"]),
            servers=[{"sid": s, "type": "participant", "weight": 1} for s in self.sids],
            timing={
                "tick_time_ms": 100,
                "init_limit": 5,
                "sync_limit": 2,
                "finalize_wait_ms": 200,
                "min_notification_interval_ms": 200,
                "max_notification_interval_ms": 60000,
            },
            initial={str(s): durable_json(Durable()) for s in self.sids},
            runtime="sim",
            transport="memory",
            seed=None,
            label=label,
            created=CREATED,
            python="3.11.7",
        )
        self.w = TraceWriter(HERE / name, header)
        self.t = 0.0

    def emit(self, t: float, kind: str, **fields: Any) -> int:
        seq = self.w.next_seq
        self.t = max(self.t, t)
        self.w.write({"seq": seq, "t_ms": float(t), "kind": kind, **fields})
        return seq

    def boot_all(self, t: float = 0.0) -> None:
        for s in self.sids:
            self.emit(t, "boot", node=s, durable=durable_json(Durable()))

    def state(
        self,
        t: float,
        sid: Sid,
        state: str,
        lc: int,
        *,
        leader: Sid,
        zab: str = "ELECTION",
        epoch: int = 0,
        proposal: tuple[Sid, int, int] | None = None,
        recvset: dict[Sid, Sid] | None = None,
        outofelection: dict[Sid, tuple[Sid, str]] | None = None,
    ) -> int:
        """`recvset` maps voter -> leader (LOOKING votes in round `lc`); `outofelection`
        maps sid -> (leader, state)."""
        p_leader, p_zxid, p_epoch = proposal or (leader, 0, epoch)
        fields: dict[str, Any] = {
            "node": sid,
            "state": state,
            "zab": zab,
            "logicalclock": lc,
            "proposal": {"leader": p_leader, "zxid": zxid_hex(p_zxid), "peer_epoch": p_epoch},
            "vote": {"leader": leader, "zxid": "0x0", "election_epoch": lc, "peer_epoch": epoch},
            "current_epoch": epoch,
            "accepted_epoch": epoch,
            "last_zxid": "0x0",
        }
        if recvset is not None or outofelection is not None:
            fields["recvset"] = {
                str(s): {"leader": v, "zxid": "0x0", "election_epoch": lc, "peer_epoch": 0}
                for s, v in sorted((recvset or {}).items())
            }
            fields["outofelection"] = {
                str(s): {
                    "leader": v,
                    "zxid": "0x0",
                    "election_epoch": lc,
                    "peer_epoch": epoch,
                    "state": st,
                    "version": 2,
                }
                for s, (v, st) in sorted((outofelection or {}).items())
            }
        return self.emit(t, "state", **fields)

    def lead(self, t: float, sid: Sid, lc: int, epoch: int, voters: list[Sid]) -> int:
        """sid decides LEADING with `voters` for it, then establishes `epoch`; returns the
        seq of the BROADCAST state event."""
        self.state(
            t, sid, "LEADING", lc, leader=sid, zab="DISCOVERY", recvset=dict.fromkeys(voters, sid)
        )
        return self.state(t + 10, sid, "LEADING", lc, leader=sid, zab="BROADCAST", epoch=epoch)

    def close(self, end: str = "violation") -> None:
        self.w.close(self.w.footer_event(self.t, end))


def violations() -> None:
    h = Hand("at_most_one_leader.jsonl", "AtMostOneLeaderPerEpoch: n2 establishes epoch 1 after n3")
    h.boot_all()
    h.lead(200, 3, 1, 1, [1, 3])
    h.emit(300, "mark", label="n2 also gets a quorum and establishes epoch 1")
    h.lead(300, 2, 1, 1, [1, 2])  # seq 8: the violation
    h.close()

    h = Hand("leader_quorum.jsonl", "LeaderHasQuorum: n3 leads with its own vote only")
    h.boot_all()
    h.state(200, 3, "LEADING", 1, leader=3, zab="DISCOVERY", recvset={1: 1, 2: 2, 3: 3})  # seq 4
    h.close()

    h = Hand("logicalclock.jsonl", "LogicalClockMonotonic: n1's round goes from 2 back to 1")
    h.boot_all()
    h.state(0, 1, "LOOKING", 1, leader=1)
    h.state(5, 1, "LOOKING", 2, leader=1)
    # Allowed: n2 adopts round 1 of an established ensemble (ZK: receivedFollowingNotification).
    h.state(6, 2, "LOOKING", 4, leader=2)
    h.state(7, 2, "FOLLOWING", 1, leader=3, outofelection={1: (3, "FOLLOWING"), 3: (3, "LEADING")})
    # Allowed: a restarted election object starts again at 0 (QuorumPeer.startLeaderElection).
    h.state(8, 3, "LOOKING", 3, leader=3)
    h.emit(
        9,
        "step",
        node=3,
        input={"type": "poll"},
        output={"state": "LOOKING", "restart_election": True},
    )
    h.state(9, 3, "LOOKING", 0, leader=3)
    h.state(10, 1, "LOOKING", 1, leader=1)  # seq 11: the violation
    h.close()

    h = Hand("proposal.jsonl", "ProposalMonotonic: n1 switches from n3 to n2 within round 1")
    h.boot_all()
    h.state(0, 1, "LOOKING", 1, leader=1, proposal=(1, 0, 0))
    h.state(2, 1, "LOOKING", 1, leader=1, proposal=(3, 0, 0))
    h.state(4, 1, "LOOKING", 1, leader=1, proposal=(2, 0, 0))  # seq 6: the violation
    h.state(6, 1, "LOOKING", 2, leader=1, proposal=(1, 0, 0))  # a new round may start lower
    h.state(7, 1, "LOOKING", 2, leader=1, proposal=(1, 0x100000000, 0))  # higher zxid: better
    h.close()

    h = Hand("leader_epoch.jsonl", "LeaderEpochIncreases: n1 followed epoch 2, then leads epoch 2")
    h.boot_all()
    h.state(100, 1, "FOLLOWING", 1, leader=3, zab="BROADCAST", epoch=2)
    h.emit(500, "stop", node=3, reason="crash")
    h.state(510, 1, "LOOKING", 1, leader=3, epoch=2)
    h.state(520, 1, "LOOKING", 2, leader=1, epoch=2)
    h.emit(
        700, "boot", node=3, durable={"current_epoch": 2, "accepted_epoch": 2, "last_zxid": "0x0"}
    )
    h.lead(720, 1, 2, 2, [1, 2])  # seq 10: the violation
    h.close()

    h = Hand("elected_within.jsonl", "ElectedWithin: healed at 200 ms, no leader 6.3 s later")
    h.boot_all()  # calm: everything runs, nothing is broken; every node LOOKING
    h.emit(
        100, "fault", id="f1", text="isolate 1", op="block", links=[[1, 2], [1, 3], [2, 1], [3, 1]]
    )
    h.emit(
        150,
        "step",
        node=2,
        input={"type": "timeout", "have_delivered": True},
        output={"state": "LOOKING", "wait_ms": 400.0},
    )  # n2 backs off to 400 ms
    h.emit(200, "heal", ids=["f1"])  # seq 6: calm again; bound 5000 + 3 × 400 -> 6400 ms
    for t in range(1200, 5501, 1000):
        h.emit(
            t,
            "step",
            node=3,
            input={"type": "timeout", "have_delivered": True},
            output={"state": "LOOKING", "wait_ms": 1000.0},
        )  # back-offs reached after the heal do not move the bound
    h.emit(6500, "mark", label="past the bound")  # seq 12: the violation
    h.close()

    h = Hand("bad_middle_line.jsonl", "line 4 is not JSON")
    h.boot_all()
    h.close("aborted")
    lines = (HERE / "bad_middle_line.jsonl").read_text().splitlines(keepends=True)
    lines[3] = lines[3][:40] + "\n"
    (HERE / "bad_middle_line.jsonl").write_text("".join(lines))

    h = Hand("torn_last_line.jsonl", "killed while writing line 6")
    h.boot_all()
    h.emit(1, "mark", label="the last complete event")
    h.emit(2, "mark", label="torn")
    h.w.flush()
    text = (HERE / "torn_last_line.jsonl").read_text()
    (HERE / "torn_last_line.jsonl").write_text(text[: text.rindex("torn") - 12])


if __name__ == "__main__":
    failover3()
    violations()
