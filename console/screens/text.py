"""Provides `TextScreen`, the base of the console's read-only modal screens (help, an
election's explanation): a scrolling body of rich text over the screen it was opened from."""

from __future__ import annotations

import io
from typing import ClassVar

from rich.console import Console, Group
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class TextScreen(ModalScreen[None]):
    """Scroll with the arrows, j/k, the page keys and space; subclasses add how to leave
    (a binding to `dismiss`) and the body."""

    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > VerticalScroll {
        width: 90%; max-width: 120; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "scroll(1)", show=False),
        Binding("k,up", "scroll(-1)", show=False),
        Binding("pagedown,space", "scroll(10)", show=False),
        Binding("pageup", "scroll(-10)", show=False),
    ]

    WIDTH = 120
    """Columns of `plain`."""

    def body(self) -> Group:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="text-scroll"):
            yield Static(self.body(), id="text-body")

    def redraw(self) -> None:
        self.query_one("#text-body", Static).update(self.body())

    @property
    def plain(self) -> str:
        """What the screen shows, as plain text."""
        console = Console(width=self.WIDTH, record=True, file=io.StringIO())
        console.print(self.body())
        return console.export_text()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#text-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)
