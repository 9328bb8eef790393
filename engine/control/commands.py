"""The one command language: TUI command line, shell, `*.fle` scripts and traces (DESIGN §4).

A command is a verb, then its targets, then `key=value` options; `#` starts a comment:

    nodes     3 | n3 | 1,2,5 | 1 2 5 | 1-3 | leader followers observers looking all majority
              minority one random | mixed: leader,3 or 1-3 5 (in a link, commas only)
    link      1->2 (one way) | 1<->2 (both ways) | ends may be node words or * (1->*, leader<->*)
    duration  200ms | 1.5s | 2m | a bare number is milliseconds
    percent   20% | 12.5%
    zxid      0x100000002 | 4294967298
    predicate see engine.control.predicates: stable, leader == 5, n3.state == LOOKING, ...

This module holds the commands - one immutable class per verb form - and the grammar table
`VERBS`: each entry lists the verb's arguments and options as `Kind`s (engine.control.values:
how a value is written, parsed, printed and completed), its summary, example and help group.
`parse` turns one line into a `Command` and `Command.text` prints it back canonically: the
text re-parses to an equal command, which is how traces record commands and replay repeats
them. `parse_script` reads a script file.

The same table drives `engine.control.help` and `engine.control.complete` (and the console's
command palette). Parsing needs no cluster; node words are resolved against a `ClusterView`
by engine.control.resolve. Executing commands is the Cluster facade's job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.control.predicates import CommandError, Cursor, Predicate, nearest
from engine.control.values import (
    ALL,
    BREAKPOINT,
    COUNT,
    DURATION,
    EPOCH,
    EVENT,
    FAULT,
    FILE,
    GROUPS,
    JITTER,
    LABEL,
    LINK,
    MODE,
    NODE_WORDS,
    NODES,
    PERCENT,
    PREDICATE,
    SEEK,
    SID,
    SPEED,
    TARGET,
    ZXID,
    EventFilter,
    Instant,
    Kind,
    Link,
    MessageId,
    Nodes,
    read_choice,
    show_ms,
)
from engine.core.vote import Sid

DEFAULT_WAIT_MS = 10_000.0
"""How long `wait until` waits when no `within` is given."""


TOPIC_NAMES = ("nodes", "links", "predicates", "events", "values", "causes")
"""The help topics besides the commands (engine.control.help.TOPICS explains each)."""


def topic_words() -> dict[str, str]:
    """What `help` takes: every verb, its aliases and the topics."""
    return {**{v.words[0]: v.words[0] for v in VERBS}, **ALIASES, **{t: t for t in TOPIC_NAMES}}


TOPIC: Kind = Kind(
    "<command|topic>",
    "a command or a topic (" + ", ".join(TOPIC_NAMES) + ")",
    lambda cur: read_choice(cur, TOPIC, topic_words()),
    hints=("topic",),
)

# --- commands ------------------------------------------------------------------------------------
# One class per verb form; what each means is in its `VERBS` entry (and so in its docstring).


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: immutable, compared by value; `text` is its canonical spelling."""

    @property
    def verb(self) -> str:
        """The canonical verb, e.g. `crash` for `kill` or `wait until`."""
        return _SPECS[type(self)].name

    @property
    def is_fault(self) -> bool:
        """A fault the executor gives an id `f<n>`; it may expire by itself (`for=`)."""
        return _SPECS[type(self)].is_fault

    @property
    def text(self) -> str:
        return _SPECS[type(self)].format(self)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Start(Command):
    nodes: Nodes = ALL


@dataclass(frozen=True, slots=True)
class Crash(Command):
    nodes: Nodes
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Restart(Command):
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Pause(Command):
    nodes: Nodes
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Resume(Command):
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Timeout(Command):
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Write(Command):
    count: int = 1


@dataclass(frozen=True, slots=True)
class Set(Command):
    sid: Sid
    zxid: int | None = None
    current_epoch: int | None = None
    accepted_epoch: int | None = None


@dataclass(frozen=True, slots=True)
class Status(Command):
    pass


@dataclass(frozen=True, slots=True)
class Check(Command):
    pass


@dataclass(frozen=True, slots=True)
class Partition(Command):
    groups: tuple[Nodes, ...]
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Isolate(Command):
    nodes: Nodes
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Block(Command):
    link: Link
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Delay(Command):
    link: Link
    ms: float
    jitter_ms: float = 0.0
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Loss(Command):
    link: Link
    percent: float
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Dup(Command):
    link: Link
    percent: float
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Reorder(Command):
    link: Link
    percent: float
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Heal(Command):
    fault: int | None = None
    """The fault's number (`heal f3` → 3), None for all."""


@dataclass(frozen=True, slots=True)
class Faults(Command):
    pass


@dataclass(frozen=True, slots=True)
class Reset(Command):
    pass


@dataclass(frozen=True, slots=True)
class Hold(Command):
    link: Link
    for_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Release(Command):
    link: Link
    mode: str = "all"


@dataclass(frozen=True, slots=True)
class Drop(Command):
    target: Link | MessageId


@dataclass(frozen=True, slots=True)
class Deliver(Command):
    target: Link | MessageId


@dataclass(frozen=True, slots=True)
class Wait(Command):
    ms: float


@dataclass(frozen=True, slots=True)
class WaitUntil(Command):
    predicate: Predicate
    within_ms: float = DEFAULT_WAIT_MS


@dataclass(frozen=True, slots=True)
class Expect(Command):
    predicate: Predicate
    within_ms: float | None = None
    """None: the predicate must hold now."""


@dataclass(frozen=True, slots=True)
class Mark(Command):
    label: str = ""


@dataclass(frozen=True, slots=True)
class Run(Command):
    pass


@dataclass(frozen=True, slots=True)
class Halt(Command):
    pass


@dataclass(frozen=True, slots=True)
class Step(Command):
    count: int = 1


@dataclass(frozen=True, slots=True)
class Speed(Command):
    factor: float


@dataclass(frozen=True, slots=True)
class Seek(Command):
    target: int | Instant | str
    """A seq, a time on the run's clock, or a mark's label."""


@dataclass(frozen=True, slots=True)
class BreakWhen(Command):
    predicate: Predicate


@dataclass(frozen=True, slots=True)
class BreakOn(Command):
    event: EventFilter


@dataclass(frozen=True, slots=True)
class Breaks(Command):
    pass


@dataclass(frozen=True, slots=True)
class Unbreak(Command):
    breakpoint: int | None = None
    """The breakpoint's number (`unbreak b2` → 2), None for all."""


@dataclass(frozen=True, slots=True)
class Record(Command):
    pass


@dataclass(frozen=True, slots=True)
class Replay(Command):
    file: str


@dataclass(frozen=True, slots=True)
class Help(Command):
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Quit(Command):
    pass


@dataclass(frozen=True, slots=True)
class Fork(Command):
    pass


# --- the grammar table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """A positional argument, stored in the command's field `name`."""

    name: str
    kind: Kind
    optional: bool = False
    keyword: str = ""
    """Written `keyword <value>` (and then always optional), like `within 5s`."""


@dataclass(frozen=True)
class Opt:
    """A `key=value` option setting the command's `fields` (`epoch=` sets two)."""

    key: str
    kind: Kind
    doc: str
    fields: tuple[str, ...]


FOR = Opt(
    "for", DURATION, "heal by itself after this long (heal f<id> ends it sooner)", ("for_ms",)
)
CRASH_FOR = Opt("for", DURATION, "restart by itself after this long", ("for_ms",))
PAUSE_FOR = Opt(
    "for", DURATION, "resume by itself after this long (resume ends it sooner)", ("for_ms",)
)


@dataclass(frozen=True)
class Verb:
    """One form of one verb: how it is parsed, printed and explained."""

    words: tuple[str, ...]
    cls: type[Command]
    group: str
    summary: str
    example: str
    args: tuple[Arg, ...] = ()
    opts: tuple[Opt, ...] = ()
    aliases: tuple[str, ...] = ()
    needs_option: bool = False

    @property
    def name(self) -> str:
        return " ".join(self.words)

    @property
    def is_fault(self) -> bool:
        return FOR in self.opts

    @property
    def synopsis(self) -> str:
        """Verb and arguments, with `[options]` for the options."""
        return " ".join([self.name, *map(_arg_usage, self.args)] + ["[options]"] * bool(self.opts))

    @property
    def usage(self) -> str:
        opts = [f"[{o.key}={o.kind.metavar}]" for o in self.opts]
        return " ".join([self.name, *map(_arg_usage, self.args), *opts])

    def parse(self, cur: Cursor) -> Command:
        values: dict[str, Any] = {}
        for arg in self.args:
            if arg.keyword:
                cur.hint(f"word:{arg.keyword}")
                if not cur.is_word(arg.keyword):
                    continue
                cur.take()
            elif arg.optional:
                cur.hint(*arg.kind.hints)
                if cur.at_end() or cur.at_option():
                    continue
            values[arg.name] = arg.kind.parse(cur)
        seen: list[Opt] = []
        while True:
            cur.hint(f"opt:{self.name}")
            if cur.at_end():
                break
            key = cur.peek()
            opt = next((o for o in self.opts if o.key == key.text.lower()), None)
            if opt is None or not cur.at_option():
                near = [o.key for o in self.opts if o not in seen]
                if any(a.kind is NODES for a in self.args):
                    near += NODE_WORDS
                raise cur.expected(self._what_next(values, seen), near=near)
            if opt in seen:
                raise cur.problem(f"{opt.key}= is given twice", key)
            cur.take()  # the key
            cur.take()  # =
            value = opt.kind.parse(cur)
            for name in opt.fields:
                if name in values:
                    raise cur.problem(f"{opt.key}= repeats an earlier option", key)
                values[name] = value
            seen.append(opt)
        if self.needs_option and not seen:
            raise cur.expected(" or ".join(f"{o.key}={o.kind.metavar}" for o in self.opts))
        return self.cls(**values)

    def _what_next(self, values: dict[str, Any], seen: list[Opt]) -> str:
        more = [
            f"{a.keyword} {a.kind.metavar}" for a in self.args if a.keyword and a.name not in values
        ]
        # a predicate is still open if nothing was parsed after it
        pred_open = not seen and not any(a.keyword and a.name in values for a in self.args)
        if pred_open and any(a.kind is PREDICATE for a in self.args):
            more[:0] = ["and", "or"]
        more += [f"{o.key}={o.kind.metavar}" for o in self.opts if o not in seen]
        return ", ".join(more) + " or end of line" if more else "end of line"

    def format(self, cmd: Command) -> str:
        defaults = {f.name: f.default for f in dataclasses.fields(cmd)}
        parts = list(self.words)
        for arg in self.args:
            value = getattr(cmd, arg.name)
            if (arg.optional or arg.keyword) and value == defaults[arg.name]:
                continue
            parts += [arg.keyword] * bool(arg.keyword) + [arg.kind.show(value)]
        done: set[str] = set()
        for opt in self.opts:
            values = {getattr(cmd, name) for name in opt.fields}
            value = getattr(cmd, opt.fields[0])
            if (
                done.isdisjoint(opt.fields)
                and len(values) == 1
                and value != defaults[opt.fields[0]]
            ):
                parts.append(f"{opt.key}={opt.kind.show(value)}")
                done.update(opt.fields)
        return " ".join(parts)


def _arg_usage(arg: Arg) -> str:
    text = f"{arg.keyword} {arg.kind.metavar}" if arg.keyword else arg.kind.metavar
    return f"[{text}]" if arg.optional or arg.keyword else text


def _epoch_opt(key: str, doc: str, *fields: str) -> Opt:
    return Opt(key, EPOCH, doc, fields or (key,))


_C, _F, _M, _S, _R, _U = (
    "Cluster",
    "Faults",
    "Messages",
    "Scripts",
    "Simulation and replay",
    "Console",
)
GROUPS_ORDER = (_C, _F, _M, _S, _R, _U)
"""The help groups, in the order help and the palette show them."""

# fmt: off
VERBS: tuple[Verb, ...] = (
    Verb(("start",), Start, _C, "Start nodes (all by default); scripts begin with all stopped",
         "start 1,2,3", (Arg("nodes", NODES, optional=True),)),
    Verb(("crash",), Crash, _C, "Crash nodes: threads stop, volatile state is lost, peers see EOF",
         "crash leader", (Arg("nodes", NODES),), (CRASH_FOR,), aliases=("kill",)),
    Verb(("restart",), Restart, _C, "Restart crashed nodes from their durable epochs and zxid",
         "restart 3", (Arg("nodes", NODES),)),
    Verb(("pause",), Pause, _C, "Freeze nodes: they stop consuming, queues fill, peers wait",
         "pause followers for=2s", (Arg("nodes", NODES),), (PAUSE_FOR,)),
    Verb(("resume",), Resume, _C, "Let paused nodes run again", "resume all",
         (Arg("nodes", NODES),)),
    Verb(("timeout",), Timeout, _C, "Fire the notification timeout of nodes in lookForLeader now",
         "timeout 3", (Arg("nodes", NODES),)),
    Verb(("write",), Write, _C, "Commit n transactions through the leader (raises last_zxid)",
         "write 3", (Arg("count", COUNT, optional=True),)),
    Verb(("set",), Set, _C, "Set a stopped node's durable zxid and epochs (epoch= sets both)",
         "set 3 zxid=0x100000002 epoch=1", (Arg("sid", SID),),
         (Opt("zxid", ZXID, "last logged zxid", ("zxid",)),
          _epoch_opt("epoch", "currentEpoch and acceptedEpoch", "current_epoch", "accepted_epoch"),
          _epoch_opt("current_epoch", "currentEpoch"),
          _epoch_opt("accepted_epoch", "acceptedEpoch")), needs_option=True),
    Verb(("status",), Status, _C, "Show the ensemble and every node", "status"),
    Verb(("check",), Check, _C,
         "List where a real ZooKeeper run disagreed with the election model, as it goes",
         "check"),
    Verb(("partition",), Partition, _F,
         "Cut the cluster into groups; the nodes not named form one more group",
         "partition 1,2|3,4,5", (Arg("groups", GROUPS),), (FOR,)),
    Verb(("isolate",), Isolate, _F, "Cut every link of each node, both ways", "isolate leader",
         (Arg("nodes", NODES),), (FOR,)),
    Verb(("block",), Block, _F,
         "Cut a link (-> one way, <-> both): notifications are dropped, learner streams stall",
         "block 1->2",
         (Arg("link", LINK),), (FOR,)),
    Verb(("delay",), Delay, _F, "Delay every message on a link, with optional random jitter",
         "delay 1<->* 50ms jitter=10ms", (Arg("link", LINK), Arg("ms", DURATION)),
         (Opt("jitter", JITTER, "add up to this much random delay", ("jitter_ms",)), FOR)),
    Verb(("loss",), Loss, _F, "Lose this share of the messages on a link", "loss *->3 20%",
         (Arg("link", LINK), Arg("percent", PERCENT)), (FOR,)),
    Verb(("dup",), Dup, _F, "Duplicate this share of the messages on a link", "dup 1->2 10%",
         (Arg("link", LINK), Arg("percent", PERCENT)), (FOR,)),
    Verb(("reorder",), Reorder, _F, "Reorder this share of the messages on a link", "reorder * 30%",
         (Arg("link", LINK), Arg("percent", PERCENT)), (FOR,)),
    Verb(("heal",), Heal, _F, "End one fault by its id, or every fault", "heal f2",
         (Arg("fault", FAULT, optional=True),)),
    Verb(("faults",), Faults, _F, "List the active faults with their ids", "faults"),
    Verb(("reset",), Reset, _F, "Heal every fault, resume paused nodes and restart crashed ones",
         "reset"),
    Verb(("hold",), Hold, _M, "Hold the messages on a link in flight until released", "hold 1->*",
         (Arg("link", LINK),), (FOR,)),
    Verb(("release",), Release, _M, "Release a link's held messages: all, or the next one",
         "release 1->* next", (Arg("link", LINK), Arg("mode", MODE, optional=True))),
    Verb(("drop",), Drop, _M, "Drop one message: by id, or the next held one on a link", "drop m42",
         (Arg("target", TARGET),)),
    Verb(("deliver",), Deliver, _M,
         "Deliver one message now: by id, or the next held one on a link", "deliver 1->3",
         (Arg("target", TARGET),)),
    Verb(("wait",), Wait, _S, "Let the cluster run for a while", "wait 500ms",
         (Arg("ms", DURATION),)),
    Verb(("wait", "until"), WaitUntil, _S,
         f"Wait until a predicate holds (fails after {show_ms(DEFAULT_WAIT_MS)} by default)",
         "wait until stable within 5s",
         (Arg("predicate", PREDICATE), Arg("within_ms", DURATION, keyword="within"))),
    Verb(("expect",), Expect, _S, "Fail unless a predicate holds now (or within a time)",
         "expect leader == 5 within 2s",
         (Arg("predicate", PREDICATE), Arg("within_ms", DURATION, keyword="within"))),
    Verb(("mark",), Mark, _S, "Bookmark this moment in the trace", "mark before crash",
         (Arg("label", LABEL, optional=True),)),
    Verb(("run",), Run, _R, "Let the cluster run on (after halt or a break), or play the replay",
         "run", aliases=("continue",)),
    Verb(("halt",), Halt, _R, "Halt the cluster (every node thread, and the clock) or the replay",
         "halt"),
    Verb(("step",), Step, _R, "Go on n events, then halt (live: the run's own, not commands)",
         "step 10", (Arg("count", COUNT, optional=True),)),
    Verb(("speed",), Speed, _R, "Set the simulation or replay speed", "speed 0.5x",
         (Arg("factor", SPEED),)),
    Verb(("seek",), Seek, _R, "Go to a seq, a time @t, a mark, start or end (replay)", "seek @1.5s",
         (Arg("target", SEEK),)),
    Verb(("break", "when"), BreakWhen, _R,
         "Halt the run after the event that makes a predicate true",
         "break when n3.state == LEADING", (Arg("predicate", PREDICATE),)),
    Verb(("break", "on"), BreakOn, _R, "Halt the run after the next matching event",
         "break on send from=1 to=3", (Arg("event", EVENT),)),
    Verb(("breaks",), Breaks, _R, "List the breakpoints with their ids", "breaks"),
    Verb(("unbreak",), Unbreak, _R, "Remove one breakpoint by its id, or all", "unbreak b2",
         (Arg("breakpoint", BREAKPOINT, optional=True),), aliases=("clear",)),
    Verb(("record",), Record, _R,
         "Say which trace file the run is recorded to (--trace chose it at the start)", "record"),
    Verb(("replay",), Replay, _R, "Replay a trace deterministically", "replay traces/split.jsonl",
         (Arg("file", FILE),)),
    Verb(("fork",), Fork, _R, "Continue a replay from this point as a live simulated cluster",
         "fork"),
    Verb(("help",), Help, _U, "Show every command, or one command or topic in detail", "help crash",
         (Arg("topic", TOPIC, optional=True),)),
    Verb(("quit",), Quit, _U, "Leave the console", "quit", aliases=("exit",)),
)
# fmt: on
"""Every command form, in help order."""

_SPECS: dict[type[Command], Verb] = {v.cls: v for v in VERBS}
for _v in VERBS:
    _v.cls.__doc__ = f"`{_v.usage}`: {_v.summary}. Example: `{_v.example}`."
FORMS: dict[str, list[Verb]] = {}
for _v in VERBS:
    FORMS.setdefault(_v.words[0], []).append(_v)
del _v
ALIASES = {alias: v.words[0] for v in VERBS for alias in v.aliases}

# --- parsing -------------------------------------------------------------------------------------


def parse(text: str) -> Command:
    """Parse one command line; CommandError says what was expected and where."""
    return read_command(Cursor(text))


def read_command(cur: Cursor) -> Command:
    tok = cur.peek()
    if tok.kind != "word":
        raise cur.expected("a command (try help)", "verb")
    word = ALIASES.get(tok.text.lower(), tok.text.lower())
    forms = FORMS.get(word)
    if forms is None:
        close = nearest(word, [*FORMS, *ALIASES])
        raise cur.problem(
            f'unknown command "{tok.text}"', tok, f"did you mean {close}?" if close else "try help"
        )
    cur.take()
    cur.verb = word
    subforms = [f for f in forms if len(f.words) > 1]
    for form in subforms:
        cur.hint(f"word:{form.words[1]}")
        if cur.is_word(form.words[1]):
            cur.take()
            cur.verb = form.name
            return form.parse(cur)
    plain = [f for f in forms if len(f.words) == 1]
    second = [f.words[1] for f in subforms]
    if not plain:
        raise cur.expected(" or ".join(second), near=second)
    at = cur.peek()
    try:
        return plain[0].parse(cur)
    except CommandError as e:
        # `wait untl stable`: the second word of another form, misspelt
        guess = nearest(at.text, second) if at.kind == "word" else None
        if guess is None or e.column != at.col:
            raise
        note = f"did you mean {word} {guess}?"
        raise cur.problem(f'unknown form "{word} {at.text}"', at, note) from None


@dataclass(frozen=True, slots=True)
class ScriptLine:
    """One command of a script and the line it came from (1-based)."""

    line: int
    command: Command


class ScriptError(CommandError):
    """Every bad line of a script: one `path:line:column: message` per line of str(); the
    first one's place is the error's own."""

    def __init__(self, errors: Sequence[CommandError]) -> None:
        first = errors[0]
        super().__init__(first.message, first.column, path=first.path, line=first.line)
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return "\n".join(CommandError.__str__(e) for e in self.errors)


def parse_script(text: str, path: str = "<script>") -> tuple[ScriptLine, ...]:
    """Parse a `.fle` script: one command per line, blank lines and `#` comments skipped.

    Bad lines raise ScriptError, which names every one as `path:line:column: message`."""
    lines = []
    errors = []
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        try:
            cur = Cursor(line)
            if not cur.at_end():
                lines.append(ScriptLine(number, read_command(cur)))
        except CommandError as e:
            errors.append(CommandError(e.message, e.column, path=path, line=number))
    if errors:
        raise ScriptError(errors)
    return tuple(lines)


__all__ = [
    "DEFAULT_WAIT_MS",
    "GROUPS_ORDER",
    "VERBS",
    "Block",
    "BreakOn",
    "BreakWhen",
    "Check",
    "Command",
    "Crash",
    "Delay",
    "Deliver",
    "Drop",
    "Dup",
    "Expect",
    "Faults",
    "Halt",
    "Heal",
    "Help",
    "Hold",
    "Isolate",
    "Loss",
    "Mark",
    "Partition",
    "Pause",
    "Quit",
    "Record",
    "Release",
    "Reorder",
    "Replay",
    "Reset",
    "Restart",
    "Resume",
    "Run",
    "ScriptError",
    "ScriptLine",
    "Seek",
    "Set",
    "Speed",
    "Start",
    "Status",
    "Step",
    "Timeout",
    "Verb",
    "Wait",
    "WaitUntil",
    "Write",
    "parse",
    "parse_script",
]
