"""The sequence diagram's model (console.ladder) on the example traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from console.ladder import FilterError, Ladder, Row, describe, parse_filter, wire_bytes
from engine.control.cluster import Cluster, ClusterOptions
from engine.core.vote import ServerState, ToSend, parse_zxid
from engine.core.wire import encode_notification
from engine.replay.player import Replayer
from engine.replay.state import iter_views
from engine.trace.format import read_trace

EXAMPLES = Path(__file__).parents[2] / "traces" / "examples"


def events(name: str) -> list[dict[str, Any]]:
    lines = (EXAMPLES / name).read_bytes().splitlines()[1:]
    return [orjson.loads(line) for line in lines]


@pytest.mark.parametrize("name", ["fresh_election.jsonl", "threaded_faults.jsonl"])
def test_what_a_sender_queued_is_what_its_receiver_took_in(name: str) -> None:
    """Sends are matched to the sender's queued notifications first in, first out
    (WorkerSender drains sendqueue in order): every message a receiver took in carried
    the vote the diagram gave it at its send."""
    ladder = Ladder()
    at_send: dict[str, dict[str, Any]] = {}
    for event in events(name):
        ladder.feed(event)
        arrow = ladder.arrow(event.get("msg", "")) if event["kind"] == "send" else None
        if arrow is not None and arrow.fields is not None:
            at_send[arrow.msg] = dict(arrow.fields)
    received = [r.arrow for r in ladder.rows if r.arrow and r.arrow.exact]
    assert len(received) > 10
    for arrow in received:
        assert arrow.fields is not None
        sent = at_send[arrow.msg]
        assert sent == {k: v for k, v in arrow.fields.items() if k in sent}, arrow.msg


def test_every_message_between_two_nodes_is_one_row_with_its_fate() -> None:
    trace = events("lossy_links.jsonl")
    ladder = Ladder()
    for event in trace:
        ladder.feed(event)
    sent = {e["msg"] for e in trace if e["kind"] == "send" and e["node"] != e["to"]}
    drops = {e["msg"]: e["reason"] for e in trace if e["kind"] == "drop"}
    delivered = {e["msg"] for e in trace if e["kind"] == "deliver"}
    rows = {r.arrow.msg: r.arrow for r in ladder.rows if r.kind == "message" and r.arrow}
    assert set(rows) == sent
    for msg, arrow in rows.items():
        if msg in drops:
            assert (arrow.fate, arrow.reason) == ("dropped", drops[msg])
        elif msg in delivered:
            assert arrow.fate == "delivered"
        else:
            assert arrow.fate == "flight"
    assert any(a.reason == "loss" for a in rows.values())


def test_state_changes_sit_on_their_lanes() -> None:
    ladder = Ladder()
    for event in events("leader_failover.jsonl"):
        ladder.feed(event)
    assert ladder.lanes == [1, 2, 3, 4, 5]
    changes = [(r.node, r.text) for r in ladder.rows if r.kind == "state"]
    assert (5, "LOOKING → LEADING r1") in changes
    assert (5, "down: crash") in changes
    assert (4, "FOLLOWING → LOOKING r1") in changes
    assert (4, "LOOKING → LEADING r2") in changes
    assert ladder.states[4] == "LEADING"
    assert any(r.kind == "note" and r.text.startswith("› crash") for r in ladder.rows)


def test_the_window_is_bounded() -> None:
    trace = events("minority_partition.jsonl")
    ladder = Ladder(cap=50)
    for event in trace:
        ladder.feed(event)
    assert len(ladder.rows) == 50
    assert ladder.dropped_rows > 0
    assert ladder.rows[-1].seq <= trace[-1]["seq"]
    kept = {r.arrow.msg for r in ladder.rows if r.arrow}
    assert all(ladder.arrow(m) is not None for m in kept)


def test_moving_back_forgets_what_came_after() -> None:
    trace = events("leader_failover.jsonl")
    cut = trace[len(trace) // 2]["seq"]
    whole, part = Ladder(), Ladder()
    for event in trace:
        whole.feed(event)
        if event["seq"] <= cut:
            part.feed(event)
    whole.truncate_after(cut)

    def shape(rows: list[Row]) -> list[tuple[int, str, str, str]]:
        return [(r.seq, r.kind, r.text, r.arrow.fate if r.arrow else "") for r in rows]

    assert shape(list(whole.rows)) == shape(list(part.rows))
    assert whole.states == part.states


def test_the_wire_bytes_are_zookeepers() -> None:
    ladder = Ladder()
    for event in events("fresh_election.jsonl"):
        ladder.feed(event)
    arrow = next(r.arrow for r in ladder.rows if r.arrow and r.arrow.exact)
    assert arrow.fields is not None
    f = arrow.fields
    expected = encode_notification(
        ToSend(
            f["leader"],
            parse_zxid(f["zxid"]),
            f["election_epoch"],
            ServerState[f["state"]],
            arrow.dst,
            f["peer_epoch"],
        )
    )
    assert wire_bytes(arrow) == expected[:40]
    text = "\n".join(describe(arrow))
    assert f"{arrow.msg} n{arrow.src} → n{arrow.dst}" in text
    assert "0000  00 00 00 00" in text  # state LOOKING is int32 0


@pytest.mark.parametrize(
    ("text", "nodes", "round_", "kinds"),
    [
        ("", set(), None, {"message", "state", "note"}),
        ("n3", {3}, None, {"message", "state", "note"}),
        ("1,2 4-5 r2", {1, 2, 4, 5}, 2, {"message", "state", "note"}),
        ("drop zab", set(), None, {"message", "packet"}),
        ("drop", set(), None, {"message", "packet"}),
        ("all n1-n2", {1, 2}, None, {"message", "packet", "state", "note"}),
    ],
)
def test_filters(text: str, nodes: set[int], round_: int | None, kinds: set[str]) -> None:
    f = parse_filter(text)
    assert (set(f.nodes), f.round, set(f.kinds)) == (nodes, round_, kinds)


def test_drop_keeps_only_the_dropped_messages() -> None:
    ladder = Ladder()
    for event in events("lossy_links.jsonl"):
        ladder.feed(event)
    only = parse_filter("drop state")
    kept = [r for r in ladder.rows if only.passes(r)]
    assert any(r.kind == "state" for r in kept)
    arrows = [r.arrow for r in kept if r.arrow]
    assert arrows
    assert all(a.fate == "dropped" for a in arrows)
    assert {a.reason for a in arrows} >= {"loss", "capacity"}


def test_a_wrong_filter_word_is_named() -> None:
    with pytest.raises(FilterError, match="'leeder' is not a node"):
        parse_filter("n1 leeder")


def test_a_filter_keeps_what_touches_its_nodes_and_round() -> None:
    ladder = Ladder()
    for event in events("fresh_election.jsonl"):
        ladder.feed(event)
    only = parse_filter("n2 r1 send")
    kept = [r for r in ladder.rows if only.passes(r)]
    assert kept
    for row in kept:
        assert row.arrow is not None
        assert 2 in (row.arrow.src, row.arrow.dst)
        assert row.arrow.round == 1


def test_odd_events_are_skipped() -> None:
    ladder = Ladder()
    odd: list[dict[str, Any]] = [
        {},
        {"seq": "x"},
        {"seq": 1, "kind": "send", "node": 1},
        {"seq": 2, "kind": "drop"},
        {"seq": 3, "kind": "step", "node": 1, "output": {"sends": [{"to": "x"}]}},
    ]
    for event in odd:
        ladder.feed(event)
    assert list(ladder.rows) == []


def test_a_breakpoint_hit_runs_across_the_lanes() -> None:
    ladder = Ladder()
    hit = {"seq": 9, "t_ms": 1.0, "kind": "break", "id": "b2", "text": "break on drop", "at": 8}
    ladder.feed(hit)
    (row,) = ladder.rows
    assert (row.kind, row.text) == ("note", "‖ b2 halted at seq 8: break on drop")


def run_with_downs(trace: Path) -> list[dict[str, Any]]:
    """A simulated run in which n5 (the leader) crashes and restarts and n2 pauses and
    resumes twice, the second time by itself (`for=`), recorded to `trace`."""
    options = ClusterOptions(nodes=5, runtime="sim", seed=7, trace=trace)
    with Cluster(options) as cluster:
        for command in (
            "start 1-4",
            "wait 300ms",
            "start 5",
            "wait until settled within 10s",
            "crash 5",
            "pause 2",
            "wait until stable within 10s",
            "resume 2",
            "restart 5",
            "pause 2 for=500ms",
            "wait 2s",
        ):
            assert cluster.execute(command).ok, command
    return list(read_trace(trace).events())


def lives(ladder: Ladder, sid: int) -> list[tuple[int, str, bool]]:
    return [(r.seq, r.life, sid in r.down) for r in ladder.rows if r.node == sid and r.life]


def test_a_down_node_s_lane_is_down_from_its_crash_or_pause_to_its_restart_or_resume(
    tmp_path: Path,
) -> None:
    trace = run_with_downs(tmp_path / "t.jsonl")
    ladder = Ladder()
    ladder.set_lanes([1, 2, 3, 4, 5])  # as the console does, from the cluster's view
    for event in trace:
        ladder.feed(event)
    seq_of = {(e["kind"], e.get("node")): e["seq"] for e in reversed(trace)}  # the first
    boot5 = seq_of[("boot", 5)]
    stop5 = seq_of[("stop", 5)]
    boots = [e["seq"] for e in trace if e["kind"] == "boot" and e["node"] == 5]
    assert lives(ladder, 5) == [
        (boot5, "boot", False),
        (stop5, "stop", True),
        (boots[1], "boot", False),
    ]
    n2 = lives(ladder, 2)
    assert [(life, down) for _, life, down in n2] == [
        ("boot", False),
        ("pause", True),
        ("resume", False),
        ("pause", True),
        ("resume", False),  # the timed one
    ]
    # each at its own event (trace 1.3), not at the snapshot after the command or, for
    # the timed resume, at n2's next step
    pauses = [(e["seq"], e["kind"]) for e in trace if e["kind"] in ("pause", "resume")]
    assert [(seq, life) for seq, life, _ in n2[1:]] == pauses
    for row in ladder.rows:
        assert (5 in row.down) == (row.seq < boot5 or stop5 <= row.seq < boots[1]), row
        paused = any(a[0] <= row.seq < b[0] for a, b in zip(n2[1::2], n2[2::2], strict=True))
        assert (2 in row.down) == (paused or row.seq < n2[0][0]), row


def test_lanes_are_down_where_they_were_after_a_seek_or_a_step_back(tmp_path: Path) -> None:
    """A replay refills the diagram with the events before its position (a window that may
    begin mid-run) and the view there; each row's lanes are down as in the whole run."""
    path = tmp_path / "t.jsonl"
    trace = run_with_downs(path)
    whole = Ladder()
    whole.set_lanes([1, 2, 3, 4, 5])
    for event in trace:
        whole.feed(event)
    down_at = {r.seq: r.down for r in whole.rows}
    replayer = Replayer(path)
    windows = [(len(trace) * k // 8, len(trace) * (k + 4) // 8) for k in range(1, 5)]
    for first, position in windows:
        replayer.seek(trace[position - 1]["seq"])
        down = {n.sid for n in replayer.view().nodes if not n.alive}
        before = trace[:first]
        last = max(i for i, e in enumerate(before) if e["kind"] == "snapshot")
        part = Ladder()
        part.set_lanes([1, 2, 3, 4, 5])
        part.refill(trace[first:position], down, before[last:])
        # (a lane whose state the window does not say shows its first state row too)
        common = [r for r in part.rows if r.seq in down_at]
        assert len(common) > len(part.rows) * 0.9
        assert [(r.seq, r.down) for r in common] == [(r.seq, down_at[r.seq]) for r in common]
    cut = trace[len(trace) // 2]["seq"]
    whole.truncate_after(cut)
    assert whole.down == down_at[whole.rows[-1].seq]


def test_a_refilled_window_has_each_lane_once(tmp_path: Path) -> None:
    """A seek in a replay refills the diagram: its lanes were drawn twice (n1 n1 n2 n2 ...)."""
    trace = run_with_downs(tmp_path / "t.jsonl")
    ladder = Ladder()
    ladder.set_lanes([1, 2, 3, 4, 5])
    ladder.refill(trace[:100], {5}, [])
    assert ladder.lanes == [1, 2, 3, 4, 5]
    ladder.clear()
    ladder.feed(trace[0])
    assert ladder.lanes == [trace[0]["node"]]


def test_a_fork_s_lanes_run_from_its_first_snapshot() -> None:
    ladder = Ladder()
    ladder.set_lanes([1, 2, 3])
    nodes = [{"sid": s, "alive": s != 3, "paused": s == 2} for s in (1, 2, 3)]
    ladder.feed({"seq": 1, "t_ms": 0.0, "kind": "snapshot", "nodes": nodes, "stable": False})
    ladder.feed({"seq": 2, "t_ms": 0.0, "kind": "cmd", "text": "run", "ok": True})
    assert ladder.rows[-1].down == {2, 3}
    assert ladder.states[1] == "?"


@pytest.mark.parametrize(
    "name",
    [
        "threaded_faults.jsonl",
        "leader_failover.jsonl",
        "late_joiner.jsonl",
        "minority_partition.jsonl",
        "1.3",
    ],
)
def test_the_diagram_and_the_replay_agree_who_is_down(name: str, tmp_path: Path) -> None:
    """Each row's down lanes are the nodes the replayed cluster shows not running (not
    started, crashed or paused) after that row's event: in traces before 1.3 (pauses in
    snapshots, timed resumes at a step) and in a 1.3 run (pause and resume events)."""
    path = tmp_path / "t.jsonl" if name == "1.3" else EXAMPLES / name
    trace = run_with_downs(path) if name == "1.3" else events(name)
    ladder = Ladder(cap=len(trace))
    ladder.set_lanes(sorted({e["node"] for e in trace if e["kind"] == "boot"}))
    for event in trace:
        ladder.feed(event)
    down_at = {r.seq: r.down for r in ladder.rows}
    views = dict(iter_views(path, [e["seq"] for e in trace]))
    replayed = {
        seq: {n.sid for n in view.nodes if not n.alive or n.paused} for seq, view in views.items()
    }
    assert len(set(down_at.values())) > 2  # lanes go down and come back
    assert down_at == {seq: replayed[seq] for seq in down_at}
    # and in a window that begins mid-run, as a seek refills it (see ClusterScreen._refill)
    replayer = Replayer(path)
    for k in range(1, 6):
        first, position = len(trace) * k // 8, len(trace) * (k + 3) // 8
        replayer.seek(trace[position - 1]["seq"])
        down = {n.sid for n in replayer.view().nodes if not n.alive}
        before = trace[:first]
        last = max((i for i, e in enumerate(before) if e["kind"] == "snapshot"), default=0)
        part = Ladder(cap=len(trace))
        part.set_lanes(ladder.lanes)
        part.refill(trace[first:position], down, before[last:])
        assert part.rows
        assert {r.seq: r.down for r in part.rows} == {r.seq: replayed[r.seq] for r in part.rows}
