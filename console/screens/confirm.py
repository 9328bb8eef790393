"""Provides the confirmation box: a yes/no question before something that cannot be undone."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """A question answered with y or Enter (yes), n or Esc (no); dismissed with the answer."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: auto; max-width: 90%; height: auto;
        border: round $warning; background: $surface; padding: 0 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, "bold"), id="question")
            if self.detail:
                yield Static(Text(self.detail, "dim"), id="detail")
            yield Static(Text.assemble(("y", "bold"), "/Enter yes   ", ("n", "bold"), "/Esc no"))

    @property
    def plain(self) -> str:
        return "\n".join(filter(None, (self.question, self.detail)))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
