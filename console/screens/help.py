"""Provides the help screen: the command language's help (generated from the grammar
table in `engine.control.commands`) and the keys of the screen it was opened from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType

from console.screens.text import TextScreen
from console.widgets import ensemble, timeline
from console.widgets.columns import Column
from engine.control.help import help_text
from engine.control.predicates import CommandError

SCREEN_HELP = (
    (
        "header",
        "mode, runtime, seed, clock, seq, faults; `leader n4 · quorum 3/5 · 2 LOOKING`:"
        " the serving leader (LEADING, its epoch established with a quorum), the running voters"
        " of all voters, and the nodes still looking (or `no quorum: 2 of 5 up, 3 needed`);"
        " the safety lamp (red once an invariant broke) and the liveness lamp (green: stable)",
    ),
    (
        "votes",
        "shown in the order FLE compares them (totalOrderPredicate, ZOOKEEPER-1419):"
        " r<round> first, then e<peer epoch>, the zxid, n<leader>; the field that decides"
        " between the best vote and the best one for another leader is underlined",
    ),
    (
        "r, e, r-1",
        "r2: election round 2 (logicalclock, a vote's electionEpoch); e1: peer epoch 1"
        " (the epoch the vote's leader is in); r-1: the vote a node has before its first"
        " election (ZooKeeper's startLeaderElection)",
    ),
    ("1/1", "currentEpoch/acceptedEpoch, the durable epochs"),
    (
        "node pane",
        "the selected node: proposal, vote, finalizing (fin) and timeout, queues (recv"
        " n/100: QuorumCnxManager's; fle: FLE's recvqueue), epochs, recvset and outofelection"
        " (rnd ep zxid ldr st: round, peer epoch, zxid, leader, state); cells that just changed"
        " are highlighted. A learner: its leader and how that synced it (DIFF, TRUNC, SNAP)."
        " A leader: its learners - type, Zab phase as the leader has it, sync mode, ping"
        " (time since the leader last heard from it: yellow past half its read timeout,"
        " syncLimit once synced; red past all of it, when the leader closes it) and synced"
        " (✓: it acknowledged NEWLEADER, its data is the leader's)",
    ),
    (
        "K F L O -",
        "LOOKING, FOLLOWING, LEADING, OBSERVING, down (narrow panes); ‖ paused;"
        " ✓ established (leader: epoch established with a quorum; learner: synced)",
    ),
    (
        "log",
        "→ sent, ← delivered, ✗ dropped (and why), ⇒ ⇐ quorum packets (zab), › a command,"
        " ▲ started, ▼ stopped, ★ mark, ✚ healed, !! an invariant broke; ⋯ N quiet events"
        " (PINGs, core steps) counted in place; v shows them",
    ),
    (
        "sequence",
        "s shows the sequence diagram in the log's place (s again: the plots; again: the"
        " log): one lane per"
        " node, one row per message between two nodes, oldest first: ├──▶ delivered, ├╌╌▶ in"
        " flight, ├──✕ dropped (the reason beside it); ◆ a state change on its lane; a lane is"
        " blank while its node is down, from ▼ crash or ‖ pause to ▲ start or ▷ resume; ┈┈ a"
        " command, fault or breakpoint hit across the lanes. ↑/↓ or a click selects a row and"
        " says the message's fields and its first 40 wire bytes; in a replay Enter seeks to it."
        " / filters it: nodes (3, n3, 1-3), a round (r2), kinds (send, drop: only the dropped,"
        " state, zab: quorum packets, note, all)",
    ),
    (
        "plots",
        "each node's state over the run, one column a slice of time (█ in the state's"
        " colour, · down), the notifications sent per second (the last 0.1 s a column) and"
        " the messages queued (receive, FLE and send queues, one sample a frame)",
    ),
    (
        "mouse",
        "a click selects a node row, a log line or a diagram row; the wheel scrolls every pane",
    ),
)
"""What the screen's words and signs mean, beside the columns of the two tables."""


class HelpScreen(TextScreen):
    """`?` or `help [command|topic]`: scroll with the arrows, leave with Esc, q or ?."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close"),
    ]

    def __init__(self, topic: str = "", keys: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.topic = topic
        self.keys = list(keys)

    def body(self) -> Group:
        try:
            commands = help_text(self.topic or None)
        except CommandError as e:
            commands = str(e)
        parts: list[Text | Table] = []
        title = f"help {self.topic}" if self.topic else "zkfle console — help"
        parts.append(Text(title, "bold"))
        if self.keys and not self.topic:
            keys = Table.grid(padding=(0, 2))
            keys.add_column(style="bold cyan", no_wrap=True)
            keys.add_column()
            for key, what in self.keys:
                keys.add_row(key, what)
            parts += [Text("\nKeys (each one runs a command you could type)", "bold"), keys]
            parts.append(
                Text(
                    "\n: opens the command line (Tab completes, ↑/↓ history, Esc leaves); "
                    "/ filters the log (or the diagram); ctrl+p lists every command.\n",
                    "dim",
                )
            )
        if not self.topic:
            parts += self._screen_help()
        parts.append(Text(commands))
        return Group(*parts)

    @staticmethod
    def _screen_help() -> list[Text | Table]:
        def table(rows: list[tuple[str, str]]) -> Table:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold cyan", no_wrap=True)
            grid.add_column()
            for name, what in rows:
                grid.add_row(name, what)
            return grid

        def columns(cols: tuple[Column, ...]) -> Table:
            return table([(c.label, c.help) for c in cols])

        return [
            Text("What the screen shows", "bold"),
            table(list(SCREEN_HELP)),
            Text("\nNodes: the ensemble strip (narrow screens leave out columns)", "bold"),
            columns(ensemble.COLUMNS),
            Text(
                "\nElections: one row per election, newest last (Tab to it, ↑/↓ select, Enter"
                " explains its outage: zkfle explain)",
                "bold",
            ),
            columns(timeline.COLUMNS),
            Text(""),
        ]
