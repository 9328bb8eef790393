"""Provides the help screen: the command language's help (generated from the grammar
table in `engine.commands`) and the keys of the screen it was opened from."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import ClassVar

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.commands import CommandError, help_text


class HelpScreen(ModalScreen[None]):
    """`?` or `help [command|topic]`: scroll with the arrows, leave with Esc, q or ?."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 120; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close"),
        Binding("j,down", "scroll(1)", show=False),
        Binding("k,up", "scroll(-1)", show=False),
        Binding("pagedown,space", "scroll(10)", show=False),
        Binding("pageup", "scroll(-10)", show=False),
    ]

    def __init__(self, topic: str = "", keys: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.topic = topic
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Static(self.body(), id="help-body")

    @property
    def plain(self) -> str:
        """The help as plain text."""
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(self.body())
        return console.export_text()

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
                    "/ filters the log; ctrl+p lists every command.\n",
                    "dim",
                )
            )
        parts.append(Text(commands))
        return Group(*parts)

    def action_scroll(self, lines: int) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        scroll.scroll_relative(y=lines, animate=False)
