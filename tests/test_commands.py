"""The one command language (DESIGN §4): every verb's good and bad forms, canonical text,
scripts, node words resolved against ClusterViews, help and completion from the one
grammar table, and properties (canonical text re-parses; nothing but CommandError escapes)."""

# ruff: noqa: E501  (the case tables keep one case per line)

from __future__ import annotations

import contextlib
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.control import commands as c
from engine.control import values
from engine.control.commands import VERBS, Command, parse, parse_script
from engine.control.complete import complete
from engine.control.help import TOPICS, help_text
from engine.control.predicates import CommandError, parse_predicate
from engine.control.resolve import resolve_link, resolve_nodes, resolve_partition
from engine.control.values import (
    ALL,
    BREAKPOINT,
    COUNT,
    DURATION,
    EPOCH,
    EVENT,
    EVENT_KINDS,
    FAULT,
    FILE,
    GROUPS,
    JITTER,
    LABEL,
    LINK,
    MODE,
    NODE_WORDS,
    PERCENT,
    PREDICATE,
    SEEK,
    SPEED,
    STAR,
    TARGET,
    ZXID,
    EventFilter,
    Instant,
    Kind,
    Link,
    MessageId,
    Nodes,
)
from engine.core.view import ClusterView, FaultView, NodeView
from engine.core.vote import LONG_MAX, ServerState, Vote

K, F, L, OBS = (
    ServerState.LOOKING,
    ServerState.FOLLOWING,
    ServerState.LEADING,
    ServerState.OBSERVING,
)


def sids(*s: int) -> Nodes:
    return Nodes(tuple(s))


def word(w: str) -> Nodes:
    return Nodes(words=(w,))


def link(src: Nodes, dst: Nodes, both: bool = False) -> Link:
    return Link(src, dst, both)


# --- good forms ----------------------------------------------------------------------------------

GOOD: list[tuple[str, Command, str]] = [
    ("start", c.Start(), "start"),
    ("start all", c.Start(ALL), "start"),
    ("START n3,1,2", c.Start(sids(1, 2, 3)), "start 1,2,3"),
    ("crash leader", c.Crash(word("leader")), "crash leader"),
    ("kill n3 for=2s", c.Crash(sids(3), for_ms=2000), "crash 3 for=2s"),
    ("crash 1, 3 ,2", c.Crash(sids(1, 2, 3)), "crash 1,2,3"),
    ("crash 2 3", c.Crash(sids(2, 3)), "crash 2,3"),
    ("kill n1 n3 for=1s", c.Crash(sids(1, 3), for_ms=1000), "crash 1,3 for=1s"),
    ("crash 1-3", c.Crash(sids(1, 2, 3)), "crash 1,2,3"),
    ("crash 1-3,5", c.Crash(sids(1, 2, 3, 5)), "crash 1,2,3,5"),
    ("crash n2-n4 leader 7", c.Crash(Nodes((2, 3, 4, 7), ("leader",))), "crash leader,2,3,4,7"),
    ("restart 4-4", c.Restart(sids(4)), "restart 4"),
    ("isolate 1 2", c.Isolate(sids(1, 2)), "isolate 1,2"),
    ("block 1-3->4", c.Block(Link(sids(1, 2, 3), sids(4))), "block 1,2,3->4"),
    ("crash 2,2", c.Crash(sids(2)), "crash 2"),
    ("restart minority", c.Restart(word("minority")), "restart minority"),
    ("crash 3,leader", c.Crash(Nodes((3,), ("leader",))), "crash leader,3"),
    ("crash leader,1,followers,n1", c.Crash(Nodes((1,), ("leader", "followers"))), "crash leader,followers,1"),
    ("block leader,2->*", c.Block(link(Nodes((2,), ("leader",)), STAR)), "block leader,2->*"),
    ("pause followers for=1500", c.Pause(word("followers"), 1500), "pause followers for=1.5s"),
    ("resume all", c.Resume(ALL), "resume all"),
    ("timeout looking", c.Timeout(word("looking")), "timeout looking"),
    ("write", c.Write(), "write"),
    ("write 3", c.Write(3), "write 3"),
    ("set 3 zxid=0x100000002 epoch=1", c.Set(3, 0x100000002, 1, 1), "set 3 zxid=0x100000002 epoch=1"),
    ("set n2 current_epoch=2 accepted_epoch=2", c.Set(2, None, 2, 2), "set 2 epoch=2"),
    ("set 2 accepted_epoch=3 zxid=17", c.Set(2, 17, None, 3), "set 2 zxid=0x11 accepted_epoch=3"),
    ("set 2 current_epoch=3 accepted_epoch=2", c.Set(2, None, 3, 2), "set 2 current_epoch=3 accepted_epoch=2"),
    ("status", c.Status(), "status"),
    ("check", c.Check(), "check"),
    ("partition 1,2|3,4,5", c.Partition((sids(1, 2), sids(3, 4, 5))), "partition 1,2|3,4,5"),
    ("partition 1, 2 | 3", c.Partition((sids(1, 2), sids(3))), "partition 1,2|3"),
    ("partition 1 2|3-5", c.Partition((sids(1, 2), sids(3, 4, 5))), "partition 1,2|3,4,5"),
    ("partition majority|minority for=10s", c.Partition((word("majority"), word("minority")), 10_000), "partition majority|minority for=10s"),
    ("partition leader", c.Partition((word("leader"),)), "partition leader"),
    ("isolate 3", c.Isolate(sids(3)), "isolate 3"),
    ("block 1->2", c.Block(link(sids(1), sids(2))), "block 1->2"),
    ("block n1 <-> n2", c.Block(link(sids(1), sids(2), True)), "block 1<->2"),
    ("block 1->*", c.Block(link(sids(1), STAR)), "block 1->*"),
    ("block *->3 for=1m", c.Block(link(STAR, sids(3)), 60_000), "block *->3 for=1m"),
    ("block *", c.Block(link(STAR, STAR, True)), "block *"),
    ("block *->*", c.Block(link(STAR, STAR, True)), "block *"),
    ("block leader<->followers", c.Block(link(word("leader"), word("followers"), True)), "block leader<->followers"),
    ("block 1,2->3", c.Block(link(sids(1, 2), sids(3))), "block 1,2->3"),
    ("delay 1<->* 50ms jitter=10ms", c.Delay(link(sids(1), STAR, True), 50, 10), "delay 1<->* 50ms jitter=10ms"),
    ("delay 1->2 200", c.Delay(link(sids(1), sids(2)), 200), "delay 1->2 200ms"),
    ("delay 1->2 1.5s jitter=0", c.Delay(link(sids(1), sids(2)), 1500), "delay 1->2 1.5s"),
    ("delay 1->2 0.25ms for=2m", c.Delay(link(sids(1), sids(2)), 0.25, for_ms=120_000), "delay 1->2 0.25ms for=2m"),
    ("loss *->3 20%", c.Loss(link(STAR, sids(3)), 20), "loss *->3 20%"),
    ("loss 1->2 12.5% for=5s", c.Loss(link(sids(1), sids(2)), 12.5, 5000), "loss 1->2 12.5% for=5s"),
    ("loss 1->2 0%", c.Loss(link(sids(1), sids(2)), 0), "loss 1->2 0%"),
    ("dup 1->2 100%", c.Dup(link(sids(1), sids(2)), 100), "dup 1->2 100%"),
    ("reorder * 30%", c.Reorder(link(STAR, STAR, True), 30), "reorder * 30%"),
    ("heal", c.Heal(), "heal"),
    ("heal all", c.Heal(), "heal"),
    ("heal F12", c.Heal(12), "heal f12"),
    ("faults", c.Faults(), "faults"),
    ("reset", c.Reset(), "reset"),
    ("hold 1->*", c.Hold(link(sids(1), STAR)), "hold 1->*"),
    ("release 1->*", c.Release(link(sids(1), STAR)), "release 1->*"),
    ("release 1->* ALL", c.Release(link(sids(1), STAR)), "release 1->*"),
    ("release 1->* next", c.Release(link(sids(1), STAR), "next"), "release 1->* next"),
    ("drop m42", c.Drop(MessageId(42)), "drop m42"),
    ("drop 1->2", c.Drop(link(sids(1), sids(2))), "drop 1->2"),
    ("deliver M7", c.Deliver(MessageId(7)), "deliver m7"),
    ("wait 500", c.Wait(500), "wait 500ms"),
    ("wait 90000", c.Wait(90_000), "wait 90s"),
    ("wait 0.5m", c.Wait(30_000), "wait 30s"),
    ("wait until stable", c.WaitUntil(parse_predicate("stable")), "wait until stable"),
    ("wait until stable within 10s", c.WaitUntil(parse_predicate("stable")), "wait until stable"),
    ("Wait Until leader==5 WITHIN 2s", c.WaitUntil(parse_predicate("leader == 5"), 2000), "wait until leader == 5 within 2s"),
    ("expect n3.state == looking", c.Expect(parse_predicate("n3.state == LOOKING")), "expect n3.state == LOOKING"),
    ("expect leader == 5 within 2s", c.Expect(parse_predicate("leader == 5"), 2000), "expect leader == 5 within 2s"),
    ("mark", c.Mark(), "mark"),
    ("mark before crash", c.Mark("before crash"), "mark before crash"),
    ('mark "a  b"', c.Mark("a  b"), 'mark "a  b"'),
    ('mark "x=1"', c.Mark("x=1"), 'mark "x=1"'),
    ("run", c.Run(), "run"),
    ("continue", c.Run(), "run"),
    ("halt", c.Halt(), "halt"),
    ("step", c.Step(), "step"),
    ("step 10", c.Step(10), "step 10"),
    ("speed 2", c.Speed(2), "speed 2x"),
    ("speed 0.5X", c.Speed(0.5), "speed 0.5x"),
    ("seek 120", c.Seek(120), "seek 120"),
    ("seek @1.5s", c.Seek(Instant(1500)), "seek @1.5s"),
    ("seek @0", c.Seek(Instant(0)), "seek @0ms"),
    # the clock as the header shows it past a minute (issue 17)
    ("seek @1m25s", c.Seek(Instant(85_000)), "seek @85s"),
    ("seek @3m04.5s", c.Seek(Instant(184_500)), "seek @184.5s"),
    ("seek @85s", c.Seek(Instant(85_000)), "seek @85s"),
    ("seek @200ms", c.Seek(Instant(200)), "seek @200ms"),
    ("wait 1m30s", c.Wait(90_000), "wait 90s"),
    ("seek before-crash", c.Seek("before-crash"), "seek before-crash"),
    ('seek "12"', c.Seek("12"), 'seek "12"'),
    ("break when n3.state == LEADING", c.BreakWhen(parse_predicate("n3.state == LEADING")), "break when n3.state == LEADING"),
    ("break on send", c.BreakOn(EventFilter("send")), "break on send"),
    ("break on send to=3 from=n1", c.BreakOn(EventFilter("send", src=1, dst=3)), "break on send from=1 to=3"),
    ("break on state state=leading", c.BreakOn(EventFilter("state", state=L)), "break on state state=LEADING"),
    ("break on decide node=2 leader=5", c.BreakOn(EventFilter("decide", node=2, leader=5)), "break on decide node=2 leader=5"),
    ("break on timeout node=4", c.BreakOn(EventFilter("timeout", node=4)), "break on timeout node=4"),
    ("record", c.Record(), "record"),
    ('replay "my trace.jsonl"', c.Replay("my trace.jsonl"), 'replay "my trace.jsonl"'),
    ("help", c.Help(), "help"),
    ("help kill", c.Help("crash"), "help crash"),
    ("help predicates", c.Help("predicates"), "help predicates"),
    ("quit", c.Quit(), "quit"),
    ("fork", c.Fork(), "fork"),
    ("breaks", c.Breaks(), "breaks"),
    ("unbreak", c.Unbreak(), "unbreak"),
    ("unbreak B2", c.Unbreak(2), "unbreak b2"),
    ("clear b2", c.Unbreak(2), "unbreak b2"),
    ("break on violation node=2", c.BreakOn(EventFilter("violation", node=2)), "break on violation node=2"),
    ("exit", c.Quit(), "quit"),
    ("crash 1   # the leader, probably", c.Crash(sids(1)), "crash 1"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "command", "canonical"), GOOD)
def test_good_forms_parse_and_print_canonically(
    text: str, command: Command, canonical: str
) -> None:
    assert parse(text) == command
    assert command.text == str(command) == canonical
    assert parse(canonical) == command


def test_every_verb_has_good_forms() -> None:
    covered = {type(cmd) for _, cmd, _ in GOOD}
    assert covered == {v.cls for v in VERBS}


def test_commands_are_immutable_values_that_know_their_verb() -> None:
    cmd = parse("kill 3 for=1s")
    with pytest.raises(AttributeError):
        cmd.nodes = ALL  # type: ignore[attr-defined]
    assert cmd.verb == "crash"
    assert parse("wait until stable").verb == "wait until"
    assert not parse("restart 3").is_fault
    assert {v.name for v in VERBS if v.is_fault} == {
        "partition", "isolate", "block", "delay", "loss", "dup", "reorder", "hold",
    }  # fmt: skip
    assert not cmd.is_fault  # a crash gets no fault id: for= restarts the node
    assert hash(parse("crash 1,2")) == hash(parse("crash 2,1"))


# --- bad forms -----------------------------------------------------------------------------------

NODES_EXPECTED = "expected nodes (a sid like 3 or n3, a list 1,2 or 1 2, a range 1-3, or one of leader, followers"
LINK_EXPECTED = "expected a link (1->2 one way, 1<->2 both ways"
DUR_EXPECTED = "expected a duration like 200ms, 1.5s or 2m"

BAD: list[tuple[str, str, int]] = [
    ("", "expected a command (try help) at column 1, got end of line", 1),
    ("   # only a comment", "expected a command (try help) at column 4", 4),
    ("crsh 1", 'unknown command "crsh" at column 1; did you mean crash?', 1),
    ("frobnicate", 'unknown command "frobnicate" at column 1; try help', 1),
    ("3", 'unknown command "3"', 1),
    ("->", 'expected a command (try help) at column 1, got "->"', 1),
    ("crash x", f'crash: {NODES_EXPECTED}, observers, looking, all, majority, minority, one, random; they mix: leader,3 or 1-3 5) at column 7, got "x"', 7),
    ("crash", f"crash: {NODES_EXPECTED}", 6),
    ("crash 1 x", 'crash: expected for=<dur> or end of line at column 9, got "x"', 9),
    ("crash 1,", "crash: expected a sid like 3 or n3, a range like 1-3 or a node word at column 9, got end of line", 9),
    ("crash 1,leder", 'expected a sid like 3 or n3, a range like 1-3 or a node word at column 9, got "leder"; did you mean leader?', 9),
    ("crash leader,*", 'expected a sid like 3 or n3, a range like 1-3 or a node word at column 14, got "*"', 14),
    ("crash 3-1", 'crash: a range runs upwards, like 1-3 at column 7, got "3-1"', 7),
    ("crash 1-1001", 'crash: a range names at most 1000 nodes at column 7, got "1-1001"', 7),
    ("crash 1-3 -", 'crash: expected for=<dur> or end of line at column 11, got "-"', 11),
    ("crash n99999999999999999999", NODES_EXPECTED, 7),
    ('crash "1"', 'at column 7, got "1"', 7),
    ("crash 1 for=0", "crash: a duration must be positive at column 13, got \"0\"", 13),
    ("crash 1 for=1s for=2s", "crash: for= is given twice at column 16", 16),
    ("crash 1 jitter=1s", 'crash: expected for=<dur> or end of line at column 9, got "jitter"', 9),
    ("crash 1 for=", f"crash: {DUR_EXPECTED}", 13),
    ("crash 1 for 2s", 'expected for=<dur> or end of line at column 9, got "for"', 9),
    ("restart 1 for=2s", 'restart: expected end of line at column 11, got "for"', 11),
    ("start |", f'start: {NODES_EXPECTED}, observers, looking, all, majority, minority, one, random; they mix: leader,3 or 1-3 5) at column 7, got "|"', 7),
    ("resume", f"resume: {NODES_EXPECTED}", 7),
    ("write 0", 'write: a count must be between 1 and 1000000 at column 7, got "0"', 7),
    ("write -1", 'write: expected a count like 3 at column 7, got "-1"', 7),
    ("write 2 3", 'write: expected end of line at column 9, got "3"', 9),
    ("set 3", "set: expected zxid=<zxid> or epoch=<epoch> or current_epoch=<epoch> or accepted_epoch=<epoch> at column 6", 6),
    ("set leader epoch=1", 'set: expected a sid like 3 or n3 at column 5, got "leader"', 5),
    ("set 3 zxid=-1", 'set: expected a zxid like 0x100000002 or 42 at column 12, got "-1"', 12),
    ("set 3 zxid=0xZZ", "set: expected a zxid", 12),
    ("set 3 epoch=4294967296", 'set: an epoch (32 bits of a zxid) must be between 0 and 4294967295 at column 13, got "4294967296"', 13),
    ("set 3 epoch=1 current_epoch=2", "set: current_epoch= repeats an earlier option at column 15", 15),
    ("set 3 color=red", 'set: expected zxid=<zxid>, epoch=<epoch>, current_epoch=<epoch>, accepted_epoch=<epoch> or end of line at column 7, got "color"', 7),
    ("partition", "partition: expected groups of nodes separated by | (like 1,2|3,4,5 or majority) at column 10", 10),
    ("partition 1,2|", "partition: expected nodes", 15),
    ("partition 1,2|2,3", "partition: node 2 is in two groups at column 15", 15),
    ("isolate *", "isolate: expected nodes", 9),
    ("block", f"block: {LINK_EXPECTED}", 6),
    ("block 1", "block: expected -> or <-> (a link is written 1->2 or 1<->2) at column 8, got end of line", 8),
    ("block 1-2", "block: expected -> or <-> (a link is written 1->2 or 1<->2) at column 10, got end of line", 10),
    ("block 1 2->3", 'block: expected -> or <-> (a link is written 1->2 or 1<->2) at column 9, got "2"', 9),
    ("block 1<-2", 'block: expected -> or <-> (a link is written 1->2 or 1<->2) at column 8, got "<"', 8),
    ("block 1->", "block: expected a node, a list of nodes or * after the arrow at column 10", 10),
    ("block 3->n3", "block: a link joins two different nodes, not 3 and 3 at column 10", 10),
    ("delay 1->2", f"delay: {DUR_EXPECTED} (a bare number is ms) at column 11, got end of line", 11),
    ("delay 1->2 fast", f'delay: {DUR_EXPECTED}', 12),
    ("delay 1->2 0ms", 'delay: a duration must be positive at column 12, got "0ms"', 12),
    ("delay 1->2 -5ms", f"delay: {DUR_EXPECTED}", 12),
    ("delay 1->2 5h", f'delay: {DUR_EXPECTED}', 12),
    ("delay 1->2 20000m", 'delay: a duration must be at most 1000000s at column 12, got "20000m"', 12),
    ("delay 1->2 5ms jitter=x", f"delay: {DUR_EXPECTED}", 23),
    ("delay 1->2 5ms color=red", 'delay: expected jitter=<dur>, for=<dur> or end of line at column 16, got "color"', 16),
    ("loss 1->2", "loss: expected a percentage like 20% at column 10, got end of line", 10),
    ("loss 1->2 20", 'loss: expected a percentage like 20% at column 11, got "20"', 11),
    ("loss 1->2 150%", 'loss: a percentage must be between 0% and 100% at column 11, got "150%"', 11),
    ("dup 1->2 100.5%", "dup: a percentage must be between 0% and 100%", 10),
    ("reorder 1->2 x%", "reorder: expected a percentage like 20%", 14),
    ("heal x", 'heal: expected all or a fault id like f3 at column 6, got "x"', 6),
    ("heal 3", 'heal: expected all or a fault id like f3 at column 6, got "3"; did you mean f3?', 6),
    ("heal f1 f2", 'heal: expected end of line at column 9, got "f2"', 9),
    ("release 1->2 some", 'release: expected all or next at column 14, got "some"', 14),
    ("drop", "drop: expected a link like 1->2 or a message id like m42 at column 5", 5),
    ("drop m", 'drop: expected a link like 1->2 or a message id like m42 at column 6, got "m"', 6),
    ("deliver 1", "deliver: expected -> or <-> (a link is written 1->2 or 1<->2) at column 10", 10),
    ("wait", f"wait: {DUR_EXPECTED} (a bare number is ms) at column 5, got end of line", 5),
    ("wait 0", 'wait: a duration must be positive at column 6, got "0"', 6),
    ("wait 0.0001", "wait: a duration must be positive", 6),
    ("wait until", "wait until: expected a predicate (stable, leader == 5", 11),
    ("wait until stable foo", 'wait until: expected and, or, within <dur> or end of line at column 19, got "foo"', 19),
    ("wait until stable within", f"wait until: {DUR_EXPECTED}", 25),
    ("wait until stable within 1s 2s", 'wait until: expected end of line at column 29, got "2s"', 29),
    ("wait until n3.bogus == 1", 'wait until: unknown field "bogus" of n3 at column 12; fields are alive', 12),
    ("wait until n3.state < LOOKING", "wait until: states compare with == or != only, not < at column 21", 21),
    ("expect", "expect: expected a predicate", 7),
    ("expect leaders", "expect: expected a comparison (== != < <= > >=) after leaders at column 15", 15),
    ("expect (stable", 'expect: expected and, or or ")" at column 15, got end of line', 15),
    ("expect stable)", 'expect: expected and, or, within <dur> or end of line at column 14, got ")"', 14),
    ("mark x=1", 'mark: expected end of line at column 6, got "x"', 6),
    ("mark a | b", 'mark: expected end of line at column 8, got "|"', 8),
    ("step 0", 'step: a count must be between 1 and 1000000 at column 6, got "0"', 6),
    ("step many", 'step: expected a count like 3 at column 6, got "many"', 6),
    ("run fast", 'run: expected end of line at column 5, got "fast"', 5),
    ("halt 3", 'halt: expected end of line at column 6, got "3"', 6),
    ("status n1", 'status: expected end of line at column 8, got "n1"', 8),
    ("check n1", 'check: expected end of line at column 7, got "n1"', 7),
    ("faults all", 'faults: expected end of line at column 8, got "all"', 8),
    ("reset f1", 'reset: expected end of line at column 7, got "f1"', 7),
    ("timeout", f"timeout: {NODES_EXPECTED}", 8),
    ("pause 1 for=-1s", f"pause: {DUR_EXPECTED}", 13),
    ("isolate 1->2", 'isolate: expected for=<dur> or end of line at column 10, got "->"', 10),
    ("hold 1", "hold: expected -> or <->", 7),
    ("speed", "speed: expected a speed like 2 or 0.5x at column 6", 6),
    ("speed 0", 'speed: a speed must be between 0.001x and 1000x at column 7, got "0"', 7),
    ("speed 2000x", "speed: a speed must be between 0.001x and 1000x", 7),
    ("speed fast", "speed: expected a speed like 2 or 0.5x", 7),
    ("seek", "seek: expected a seq like 120, a time like @1.5s or @1m25s, or a mark at column 5", 5),
    ("seek @soon", 'seek: expected a time like @1m25s, @1.5s or @200ms at column 6, got "@soon"', 6),
    ("seek @1m5ms", 'seek: expected a time like @1m25s, @1.5s or @200ms at column 6, got "@1m5ms"', 6),
    ("seek 1 2", 'seek: expected end of line at column 8, got "2"', 8),
    ("break", "break: expected when or on at column 6, got end of line", 6),
    ("break at 3", 'break: expected when or on at column 7, got "at"', 7),
    ("break when", "break when: expected a predicate", 11),
    ("break on", "break on: expected an event kind (send, deliver, drop, state, decide, timeout, violation) at column 9", 9),
    ("break on sends", 'break on: expected an event kind', 10),
    ("break on send state=LEADING", 'break on: expected a filter of send events (from=, to=) given once at column 15, got "state"', 15),
    ("break on send from=1 from=2", "break on: expected a filter of send events (from=, to=) given once at column 22", 22),
    ("break on state state=BORED", 'break on: expected a state (LOOKING, FOLLOWING, LEADING, OBSERVING) at column 22, got "BORED"', 22),
    ("break on send from=x", 'break on: expected a sid like 3 or n3 at column 20, got "x"', 20),
    ("break on send 3", 'break on: expected end of line at column 15, got "3"', 15),
    ("replay", "replay: expected a file name at column 7, got end of line", 7),
    ("record a", 'record: expected end of line at column 8, got "a"', 8),
    ("help me", 'help: expected a command or a topic (nodes, links, predicates, events, values, causes) at column 6, got "me"', 6),
    ("quit now", 'quit: expected end of line at column 6, got "now"', 6),
    ("fork 3", 'fork: expected end of line at column 6, got "3"', 6),
    ("unbreak x", 'unbreak: expected all or a breakpoint id like b2 at column 9, got "x"', 9),
    (
        "clear 1",
        'unbreak: expected all or a breakpoint id like b2 at column 7, got "1"; did you mean b1?',
        7,
    ),
    ("breaks b1", 'breaks: expected end of line at column 8, got "b1"', 8),
    ("crash 1 ! 2", 'unexpected character "!" at column 9', 9),
    ('mark "open', "unterminated string at column 6", 6),
]  # fmt: skip


NEAREST = [
    ("crash leeder", 'got "leeder"; did you mean leader?', "crash leader"),
    ("crash 2 folowers", 'got "folowers"; did you mean followers?', "crash 2 followers"),
    ("crash leader fro=1s", 'got "fro"; did you mean for?', "crash leader for=1s"),
    ("wait until stabel", 'got "stabel"; did you mean stable?', "wait until stable"),
    ("wait until synched", 'got "synched"; did you mean synced?', "wait until synced"),
    ("wait untl stable", 'wait: unknown form "wait untl" at column 6; did you mean wait until?',
     "wait until stable"),
    ("break whne stable", 'got "whne"; did you mean when?', "break when stable"),
    ("break on dorp", 'got "dorp"; did you mean drop?', "break on drop"),
    ("break on send form=1", 'got "form"; did you mean from?', "break on send from=1"),
    ("break on state state=LEDING", 'got "LEDING"; did you mean LEADING?',
     "break on state state=LEADING"),
    ("expect n1.stat == LOOKING", 'unknown field "stat" of n1 at column 8; did you mean n1.state?',
     "expect n1.state == LOOKING"),
    ("expect n1.state == lokking", 'got "lokking"; did you mean LOOKING?',
     "expect n1.state == LOOKING"),
    ("help crsh", 'got "crsh"; did you mean crash?', "help crash"),
    ("partiton 1|2", 'unknown command "partiton" at column 1; did you mean partition?',
     "partition 1|2"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message", "fixed"), NEAREST)
def test_a_wrong_word_gets_one_line_with_the_nearest_valid_spelling(
    text: str, message: str, fixed: str
) -> None:
    with pytest.raises(CommandError) as info:
        parse(text)
    assert message in info.value.message
    assert "\n" not in str(info.value)
    parse(fixed)  # what it proposes is valid where the wrong word stood


@pytest.mark.parametrize(("text", "message", "column"), BAD)
def test_bad_forms_say_what_was_expected_and_where(text: str, message: str, column: int) -> None:
    with pytest.raises(CommandError) as info:
        parse(text)
    assert message in info.value.message
    assert info.value.column == column
    assert str(info.value) == info.value.message


def test_every_verb_has_bad_forms() -> None:
    def verb_of(text: str) -> str:
        words = text.split()
        return words[0] if words else ""

    assert {v.words[0] for v in VERBS} <= {verb_of(t) for t, _, _ in BAD}


# --- scripts -------------------------------------------------------------------------------------

SCRIPT = """\ufeff# leader-crash.fle: the old leader's sid loses to a higher zxid
set 1 zxid=0x100000005 epoch=1

set 2 zxid=0x100000003 epoch=1   # trailing comment
start
wait until stable within 5s
expect leader == 1
   crash leader
\twait until leaders == 1 and not n1.alive
"""


def test_scripts_skip_blanks_and_comments_and_keep_line_numbers() -> None:
    lines = parse_script(SCRIPT, "leader-crash.fle")
    assert [(ln.line, ln.command.text) for ln in lines] == [
        (2, "set 1 zxid=0x100000005 epoch=1"),
        (4, "set 2 zxid=0x100000003 epoch=1"),
        (5, "start"),
        (6, "wait until stable within 5s"),
        (7, "expect leader == 1"),
        (8, "crash leader"),
        (9, "wait until leaders == 1 and not n1.alive"),
    ]
    assert parse_script("", "empty.fle") == ()
    assert parse_script("crash 1\r\nrestart 1\r\n")[1].command == c.Restart(sids(1))


@pytest.mark.parametrize(
    ("script", "where", "message"),
    [
        ("start\n\ncrash x\n", "s.fle:3:7", "crash: expected nodes (a sid like 3 or n3"),
        ("# c\nwait until n3.bogus == 1", "s.fle:2:12", 'unknown field "bogus" of n3'),
        ("start\nfoo", "s.fle:2:1", 'unknown command "foo"'),
        ('mark "x', "s.fle:1:6", "unterminated string"),
    ],
)
def test_script_errors_name_path_line_and_column(script: str, where: str, message: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_script(script, "s.fle")
    err = info.value
    assert str(err).startswith(f"{where}: ")
    assert message in str(err)
    assert (err.path, err.line, err.column) == ("s.fle", *map(int, where.split(":")[1:]))


# --- resolving node words ------------------------------------------------------------------------


def node(sid: int, state: ServerState | None, **kw: Any) -> NodeView:
    return NodeView(
        sid, kw.pop("learner_type", "participant"), alive=state is not None, state=state, **kw
    )


# n2 crashed, n3 a paused follower, n4 LOOKING, n5 the leader, n6 an observer
MIXED = ClusterView(
    nodes=(
        node(1, F),
        node(2, None),
        node(3, F, paused=True),
        node(4, K),
        node(5, L, established=True, current_vote=Vote(5, 0)),
        node(6, OBS, learner_type="observer"),
    )
)
NO_LEADER = ClusterView(nodes=(node(1, K), node(2, K), node(3, L, paused=True)))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("leader", (5,)),
        ("followers", (1,)),
        ("looking", (4,)),
        ("observers", (6,)),
        ("all", (1, 2, 3, 4, 5, 6)),
        ("2,6", (2, 6)),
    ],
)
def test_state_words_read_the_running_cluster(spec: str, expected: tuple[int, ...]) -> None:
    """Crashed and paused nodes are not leaders or followers; observers never count."""
    nodes = parse(f"crash {spec}").nodes  # type: ignore[attr-defined]
    assert resolve_nodes(nodes, MIXED, random.Random(1)) == expected


RUNNING = ClusterView(
    nodes=(*(node(s, F) for s in (1, 2, 3, 4)), node(5, L), node(6, OBS, learner_type="observer"))
)


def test_majority_is_a_smallest_majority_of_participants_chosen_by_the_rng() -> None:
    seen = set()
    for seed in range(30):
        majority = resolve_nodes(word("majority"), RUNNING, random.Random(seed))
        minority = resolve_nodes(word("minority"), RUNNING, random.Random(seed))
        assert len(majority) == 3
        assert len(minority) == 2
        assert set(majority) | set(minority) <= {1, 2, 3, 4, 5}
        assert list(majority) == sorted(majority)
        assert majority == resolve_nodes(word("majority"), RUNNING, random.Random(seed))
        seen.add(majority)
    assert len(seen) > 1
    four = ClusterView(nodes=tuple(node(s, F) for s in (1, 2, 3, 4)))
    assert len(resolve_nodes(word("majority"), four, random.Random(0))) == 3
    assert len(resolve_nodes(word("minority"), four, random.Random(0))) == 1


def test_majority_and_minority_are_drawn_from_the_running_participants() -> None:
    """Issue 17: crashing a "majority" that included crashed or paused nodes was no test of
    anything. In MIXED only n1, n4 and n5 run (n2 down, n3 paused, n6 an observer)."""
    for seed in range(10):
        assert resolve_nodes(word("majority"), MIXED, random.Random(seed)) == (1, 4, 5)
        assert set(resolve_nodes(word("minority"), MIXED, random.Random(seed))) < {1, 4, 5}
    one_up = ClusterView(nodes=(node(1, F), node(2, None), node(3, K, paused=True)))
    with pytest.raises(CommandError, match="it needs 2 running participants, 1 free"):
        resolve_nodes(word("majority"), one_up, random.Random(0))


def test_words_and_sids_mix_and_a_word_picks_among_the_nodes_not_named() -> None:
    assert resolve_nodes(parse("crash leader,3").nodes, MIXED, random.Random(0)) == (3, 5)  # type: ignore[attr-defined]
    for seed in range(10):
        got = resolve_nodes(Nodes((1,), ("minority",)), RUNNING, random.Random(seed))
        assert 1 in got
        assert len(got) == 3  # n1 and a largest minority (2) of the others


def test_one_and_random_pick_from_every_configured_node() -> None:
    sizes = set()
    for seed in range(40):
        one = resolve_nodes(word("one"), MIXED, random.Random(seed))
        some = resolve_nodes(word("random"), MIXED, random.Random(seed))
        assert len(one) == 1
        assert set(one) <= set(MIXED.sids)
        assert 1 <= len(some) <= 6
        assert set(some) <= set(MIXED.sids)
        sizes.add(len(some))
    assert len(sizes) > 2


@pytest.mark.parametrize(
    ("spec", "view", "message"),
    [
        (sids(9), MIXED, "no node 9 in this cluster (sids: 1, 2, 3, 4, 5, 6)"),
        (sids(1, 7), NO_LEADER, "no node 7 in this cluster (sids: 1, 2, 3)"),
        (word("leader"), NO_LEADER, '"leader" names no node: no running node is LEADING'),
        (word("followers"), NO_LEADER, "no running node is FOLLOWING"),
        (word("looking"), ClusterView(nodes=(node(1, F),)), "no live node is LOOKING"),
        (word("observers"), NO_LEADER, "the cluster has no observers"),
        (word("minority"), ClusterView(nodes=(node(1, F), node(2, L))), '"minority" names no node'),
        (word("all"), ClusterView(), '"all" names no node'),
        (word("one"), ClusterView(), '"one" names no node'),
        (word("random"), ClusterView(), '"random" names no node'),
    ],
)
def test_resolving_names_what_is_missing(spec: Nodes, view: ClusterView, message: str) -> None:
    with pytest.raises(CommandError) as info:
        resolve_nodes(spec, view, random.Random(0))
    assert message in info.value.message


def test_resolution_errors_point_at_the_nodes() -> None:
    cmd = parse("crash    leader")
    with pytest.raises(CommandError) as info:
        resolve_nodes(cmd.nodes, NO_LEADER, random.Random(0))  # type: ignore[attr-defined]
    assert info.value.column == 10


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("1->2", [(1, 2)]),
        ("1<->2", [(1, 2), (2, 1)]),
        ("5->*", [(5, s) for s in (1, 2, 3, 4, 6)]),
        ("*->1", [(s, 1) for s in (2, 3, 4, 5, 6)]),
        ("1,2<->3", [(1, 3), (2, 3), (3, 1), (3, 2)]),
        ("leader->followers", [(5, 1)]),
        ("observers<->leader", [(5, 6), (6, 5)]),
        ("*", [(a, b) for a in range(1, 7) for b in range(1, 7) if a != b]),
    ],
)
def test_links_resolve_to_directed_pairs(text: str, pairs: list[tuple[int, int]]) -> None:
    block = parse(f"block {text}")
    assert resolve_link(block.link, MIXED, random.Random(0)) == tuple(pairs)  # type: ignore[attr-defined]


def test_a_links_drawn_ends_are_disjoint() -> None:
    """`block majority->minority` drew its minority from every running participant, so it
    overlapped the majority and cut fewer links than the split it names (closing note of
    issue 12): the far end draws among the nodes the near end left, as a partition does."""
    for seed in range(30):
        pairs = resolve_link(parse("block majority->minority").link, RUNNING, random.Random(seed))  # type: ignore[attr-defined]
        majority = {a for a, _ in pairs}
        minority = {b for _, b in pairs}
        assert len(majority) == 3
        assert len(minority) == 2
        assert not majority & minority
        assert len(pairs) == 6  # every link from the majority to the minority
        both = resolve_link(parse("block 1<->one").link, RUNNING, random.Random(seed))  # type: ignore[attr-defined]
        assert len(both) == 2  # `one` is never n1 itself
    # The far end's other words still name what they name, and a near end naming every
    # node leaves the far end's draw alone.
    assert len(resolve_link(parse("block majority->*").link, RUNNING, random.Random(0))) == 3 * 5  # type: ignore[attr-defined]
    assert len(resolve_link(parse("block *->majority").link, RUNNING, random.Random(0))) == 3 * 5  # type: ignore[attr-defined]


def test_a_link_with_no_two_different_nodes_is_an_error() -> None:
    with pytest.raises(CommandError, match="link leader->5 joins no two different nodes"):
        resolve_link(parse("block leader->5").link, MIXED, random.Random(0))  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="no node 8"):
        resolve_link(parse("block 1->8").link, MIXED, random.Random(0))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("1,2|3,4,5", [(1, 2), (3, 4, 5), (6,)]),
        ("1,2", [(1, 2), (3, 4, 5, 6)]),
        ("leader", [(5,), (1, 2, 3, 4, 6)]),
        ("1|2|3", [(1,), (2,), (3,), (4, 5, 6)]),
    ],
)
def test_partition_groups_and_the_rest(text: str, groups: list[tuple[int, ...]]) -> None:
    cmd = parse(f"partition {text}")
    assert resolve_partition(cmd.groups, MIXED, random.Random(0)) == tuple(groups)  # type: ignore[attr-defined]


def test_partition_words_pick_disjoint_groups() -> None:
    for seed in range(20):
        majority, minority, rest = resolve_partition(
            (word("majority"), word("minority")), RUNNING, random.Random(seed)
        )
        assert len(majority) == 3
        assert len(minority) == 2
        assert rest == (6,)
        assert sorted(majority + minority) == [1, 2, 3, 4, 5]
    four = ClusterView(nodes=tuple(node(s, F) for s in (1, 2, 3, 4)))
    majority, minority = resolve_partition(
        (word("majority"), word("minority")), four, random.Random(0)
    )
    assert sorted(majority + minority) == [1, 2, 3, 4]  # complementary: the running split


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ((word("all"),), "a partition needs two groups"),
        ((word("leader"), sids(5)), "node 5 is in two groups"),
        (
            (word("majority"), word("majority")),
            '"majority" names no node: it needs 3 running participants, 0 free',
        ),
        (
            (word("majority"), word("minority")),
            '"minority" names no node: it needs 2 running participants, 0 free',
        ),
    ],
)
def test_bad_partitions(groups: tuple[Nodes, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        resolve_partition(groups, MIXED, random.Random(0))


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_help_is_generated_for_every_verb(verb: c.Verb) -> None:
    example = parse(verb.example)
    assert type(example) is verb.cls
    assert example.text == verb.example, "examples are written canonically"
    detail = help_text(verb.words[0])
    assert verb.usage in detail
    assert verb.summary in detail
    assert verb.example in detail
    overview = help_text()
    assert f"  {verb.synopsis} " in overview
    assert verb.summary in overview
    assert overview.index(verb.group) < overview.index(verb.summary)
    for opt in verb.opts:
        assert f"{opt.key}={opt.kind.metavar}" in detail
        assert opt.doc in detail


def test_help_topics_and_aliases() -> None:
    assert "alias: kill" in help_text("kill")
    assert help_text("KILL") == help_text("crash")
    assert all(f"  {w} " in help_text("nodes") for w in NODE_WORDS)
    assert "n3.<field>" in help_text("predicates")
    assert "recvset.size" in help_text("predicates")
    assert "send [from=] [to=]" in help_text("events")
    assert "<dur>" in help_text("values")
    assert "1<->2" in help_text("links")
    with pytest.raises(CommandError, match='help: no command or topic "nope"'):
        help_text("nope")


def test_help_takes_every_topic_it_explains() -> None:
    """The parser's topic words (commands.TOPIC_NAMES) and help's texts (help.TOPICS) are
    two lists since the command language was split: they must name the same topics."""
    assert tuple(TOPICS) == c.TOPIC_NAMES
    for topic in TOPICS:
        assert parse(f"help {topic}") == c.Help(topic)


def test_usage_lines_show_arguments_and_options() -> None:
    usage = {v.name: v.usage for v in VERBS}
    assert usage["delay"] == "delay <link> <dur> [jitter=<dur>] [for=<dur>]"
    assert usage["wait until"] == "wait until <pred> [within <dur>]"
    assert usage["start"] == "start [<nodes>]"
    assert usage["heal"] == "heal [all|f<id>]"
    assert usage["set"].startswith("set <sid> [zxid=<zxid>] [epoch=<epoch>]")


# --- completion ----------------------------------------------------------------------------------

VIEW = ClusterView(
    nodes=(node(1, F), node(2, None), node(3, L, paused=True)),
    faults=(FaultView("f1", "block 1->2"), FaultView("f4", "loss * 20%")),
)


def texts(before: str, view: ClusterView | None = VIEW) -> list[str]:
    return [x.text for x in complete(before, view)]


def test_completion_offers_verbs_and_aliases() -> None:
    assert texts("")[:3] == ["start", "crash", "restart"]
    assert "kill" in texts("")
    assert texts("re") == ["restart", "resume", "reorder", "reset", "release", "record", "replay"]
    (crash,) = complete("  CR", None)
    assert (crash.text, crash.replace) == ("crash", 2)
    assert crash.meta.startswith("Crash nodes")


def test_completion_offers_node_ids_with_their_state_and_node_words() -> None:
    got = complete("crash ", VIEW)
    assert [(x.text, x.meta) for x in got[:3]] == [
        ("n1", "FOLLOWING"),
        ("n2", "down"),
        ("n3", "paused LEADING"),
    ]
    assert [x.text for x in got[3:]] == list(NODE_WORDS)
    assert texts("crash 1") == ["1"]
    assert texts("crash 1,") == ["n1", "n2", "n3", *NODE_WORDS]
    assert texts("crash m") == ["majority", "minority"]
    assert texts("crash ", None) == list(NODE_WORDS)
    # a list goes on after a space, a range or a word, as after a comma
    assert texts("crash 1 ") == ["n1", "n2", "n3", *NODE_WORDS, "for="]
    assert texts("crash 1-2 le") == ["leader"]


def test_completion_offers_option_keys_not_yet_given() -> None:
    assert texts("crash 1 for=1s ") == []
    assert texts("delay 1->2 5ms ") == ["jitter=", "for="]
    assert texts("delay 1->2 5ms jitter=1ms ") == ["for="]
    assert texts("set 3 ") == ["zxid=", "epoch=", "current_epoch=", "accepted_epoch="]
    assert texts("restart 1 ") == ["n1", "n2", "n3", *NODE_WORDS]  # more nodes, no option


def test_completion_follows_link_syntax() -> None:
    assert texts("block 1") == ["1", "->", "<->"]
    assert [(x.text, x.replace) for x in complete("block 1-")] == [("->", 1)]
    assert texts("block 1->") == ["n1", "n2", "n3", *NODE_WORDS, "*"]
    assert texts("block *") == ["->", "<->", "for="]
    assert texts("block 1 ") == ["->", "<->"]


def test_completion_of_values() -> None:
    assert texts("delay 1->2 ") == ["200ms", "1s", "5s"]
    assert texts("delay 1->2 25") == ["25ms", "25s", "25m"]
    assert texts("loss * 5") == ["5%"]
    assert texts("heal ") == ["all", "f1", "f4"]
    assert texts("release 1->2 ") == ["all", "next"]
    assert texts("break ") == ["when", "on"]
    assert texts("break on ") == [
        "send",
        "deliver",
        "drop",
        "state",
        "decide",
        "timeout",
        "violation",
    ]
    assert texts("break on violation ") == ["node="]
    assert texts("break on state ") == ["node=", "state="]
    assert texts("break on state state=lea") == ["LEADING"]
    assert "predicates" in texts("help ")
    assert "kill" in texts("help k")


def test_completion_of_predicates() -> None:
    assert texts("wait ") == ["until", "200ms", "1s", "5s"]
    assert texts("wait until ") == [
        "stable",
        "settled",
        "synced",
        "leader",
        "leaders",
        "looking",
        "not",
        "n1.",
        "n2.",
        "n3.",
    ]
    assert texts("wait until n2") == ["n2."]
    assert texts("wait until sy") == ["synced"]
    assert texts("expect n2.vote.") == [
        "n2.vote.leader",
        "n2.vote.zxid",
        "n2.vote.election_epoch",
        "n2.vote.peer_epoch",
    ]
    assert texts("expect n2.state ") == ["==", "!=", "<", "<=", ">", ">="]
    assert texts("expect n2.state == ") == ["LOOKING", "FOLLOWING", "LEADING", "OBSERVING", "DOWN"]
    assert texts("expect leader == ") == ["n1", "n2", "n3"]
    assert texts("wait until stable ") == ["and", "or", "within"]
    assert texts("break when stable ") == ["and", "or"]
    assert texts("wait until not (") == [
        "stable",
        "settled",
        "synced",
        "leader",
        "leaders",
        "looking",
        "not",
        "n1.",
        "n2.",
        "n3.",
    ]


@pytest.mark.parametrize(
    "text", ["crash 1 # ", 'record "tr', "crash x ", "frob ", "crash 1 for=2s 3"]
)
def test_no_completion_inside_comments_strings_or_after_an_error(text: str) -> None:
    assert complete(text, VIEW) == []


# --- properties ----------------------------------------------------------------------------------

SID = st.integers(0, LONG_MAX)
NODES = st.one_of(
    st.sampled_from(list(NODE_WORDS)).map(word),
    st.lists(SID, min_size=1, max_size=4).map(lambda xs: Nodes(tuple(sorted(set(xs))))),
)
END = st.one_of(NODES, st.just(STAR))


@st.composite
def links(draw: st.DrawFn) -> Link:
    src, dst = draw(END), draw(END)
    assume(not (len(src.sids) == 1 and src.sids == dst.sids))
    return Link(src, dst, draw(st.booleans()) or (src == STAR and dst == STAR))


def milli(lo: int, hi: int) -> st.SearchStrategy[float]:
    """Values written with up to three decimals, as the parser stores them."""
    return st.integers(lo, hi).map(lambda n: float(Decimal(n) / 1000))


@st.composite
def groups(draw: st.DrawFn) -> tuple[Nodes, ...]:
    gs = draw(st.lists(NODES, min_size=1, max_size=4))
    explicit = [s for g in gs for s in g.sids]
    assume(len(explicit) == len(set(explicit)))
    return tuple(gs)


@st.composite
def events(draw: st.DrawFn) -> EventFilter:
    kind = draw(st.sampled_from(list(EVENT_KINDS)))
    values: dict[str, Any] = {}
    for key in EVENT_KINDS[kind][1]:
        field = {"from": "src", "to": "dst"}.get(key, key)
        value = st.sampled_from(list(ServerState)) if key == "state" else SID
        values[field] = draw(st.none() | value)
    return EventFilter(kind, **values)


PRINTABLE = st.text(st.characters(min_codepoint=32, exclude_characters="\x7f"), max_size=12)
PREDICATES = st.sampled_from(
    ["stable", "leader == 5", "n3.state == LOOKING", "not n1.alive or leaders > 1 and looking == 0",
     "n3.last_zxid >= 0x100000001", "(stable or n2.paused) and n4.vote.leader == n5.vote.leader"]
).map(parse_predicate)  # fmt: skip

KIND_VALUES: dict[Kind, st.SearchStrategy[Any]] = {
    values.NODES: NODES,
    values.SID: SID,
    LINK: links(),
    TARGET: st.one_of(links(), st.integers(0, 10**18 - 1).map(MessageId)),
    GROUPS: groups(),
    DURATION: milli(1, 10**12),
    JITTER: milli(0, 10**12),
    PERCENT: milli(0, 100_000),
    COUNT: st.integers(1, 1_000_000),
    EPOCH: st.integers(0, 2**32 - 1),
    ZXID: st.integers(0, LONG_MAX),
    SPEED: milli(1, 1_000_000),
    PREDICATE: PREDICATES,
    FAULT: st.none() | st.integers(0, 10**9 - 1),
    BREAKPOINT: st.none() | st.integers(0, 10**9 - 1),
    MODE: st.sampled_from(["all", "next"]),
    LABEL: PRINTABLE,
    FILE: PRINTABLE,
    SEEK: st.one_of(st.integers(0, 10**18 - 1), milli(0, 10**12).map(Instant), PRINTABLE),
    EVENT: events(),
    c.TOPIC: st.sampled_from([v.words[0] for v in VERBS] + list(TOPICS)),
}


@st.composite
def commands(draw: st.DrawFn) -> Command:
    verb = draw(st.sampled_from(VERBS))
    values: dict[str, Any] = {}
    for arg in verb.args:
        if not (arg.optional or arg.keyword) or draw(st.booleans()):
            values[arg.name] = draw(KIND_VALUES[arg.kind])
    for opt in verb.opts:
        if len(opt.fields) == 1 and draw(st.booleans()):
            values[opt.fields[0]] = draw(KIND_VALUES[opt.kind])
    assume(values.keys() & {"zxid", "current_epoch", "accepted_epoch"} or verb.name != "set")
    return verb.cls(**values)


@given(commands())
def test_canonical_text_reparses_to_an_equal_command(cmd: Command) -> None:
    again = parse(cmd.text)
    assert again == cmd
    assert again.text == cmd.text


VOCABULARY = st.sampled_from(
    ["crash", "kill", "wait", "until", "within", "break", "on", "when", "set", "delay", "partition",
     "block", "seek", "mark", "help", "leader", "majority", "n3", "3", "1,2", "|", "->", "<->", "*",
     "(", ")", "not", "and", "n3.state", "==", "<", "LOOKING", "for=", "jitter=", "epoch=", "zxid=",
     "0x1", "5ms", "1.5s", "20%", "m4", "f2", "@1s", '"q"', "#", "=", "x", "send", "from=1", ""]
)  # fmt: skip


@given(st.one_of(st.text(max_size=40), st.lists(VOCABULARY, max_size=8).map(" ".join)))
def test_arbitrary_text_never_raises_anything_but_CommandError(text: str) -> None:
    with contextlib.suppress(CommandError):
        cmd = parse(text)
        assert parse(cmd.text) == cmd
    with contextlib.suppress(CommandError):
        parse_script(text + "\n" + text, "p.fle")
    for item in complete(text, VIEW):
        assert 0 <= item.replace <= len(text)


def test_every_bad_line_of_a_script_is_reported_not_only_the_first() -> None:
    with pytest.raises(c.ScriptError) as info:
        parse_script("start\ncrash x\n# fine\nfoo\nwait until n3.bogus == 1\nstatus\n", "s.fle")
    assert [line.split(": ")[0] for line in str(info.value).splitlines()] == [
        "s.fle:2:7",
        "s.fle:4:1",
        "s.fle:5:12",
    ]
    assert [e.line for e in info.value.errors] == [2, 4, 5]
