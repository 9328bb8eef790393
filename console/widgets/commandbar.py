"""Provides the command line: `:` commands with completion, inline help and history, and
the `/` filter of the message log, in one input with a hint line under it.

Completion, help and validation all come from `engine.control` (the one grammar table, VERBS):
Tab completes what the parser says may come next (verbs, node ids and words, options,
predicate fields...), a second Tab cycles through the candidates; the hint line shows the
usage of the verb being typed, the candidates, or the last error or result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from console.history import CommandHistory
from engine.control.commands import VERBS, Verb
from engine.control.complete import Completion, complete
from engine.core.view import ClusterView

Mode = Literal["command", "filter"]

_VERB_FORMS: dict[str, list[Verb]] = {}
for _verb in VERBS:
    for _word in (_verb.words[0], *_verb.aliases):
        _VERB_FORMS.setdefault(_word, []).append(_verb)


def verb_for(text: str) -> Verb | None:
    """The verb form being typed in `text` (`wait until` over `wait`), or None."""
    words = text.strip().lower().split()
    if not words or words[0] not in _VERB_FORMS:
        return None
    forms = _VERB_FORMS[words[0]]
    for form in forms:
        if len(form.words) > 1 and len(words) > 1 and words[1] == form.words[1]:
            return form
    plain = [f for f in forms if len(f.words) == 1]
    return plain[0] if plain else forms[0]


def apply_completion(value: str, cursor: int, c: Completion) -> tuple[str, int]:
    """The input's value and cursor after inserting completion `c` at the cursor."""
    before, after = value[:cursor], value[cursor:]
    text = c.text
    if not after and _ends_token(text):
        text += " "
    new_before = before[: len(before) - c.replace] + text
    return new_before + after, len(new_before)


def _ends_token(text: str) -> bool:
    return not text.endswith(("=", ".", "->", "<->", ",", "|"))


def common_prefix(words: list[str]) -> str:
    """The longest common start of `words` (character by character)."""
    if not words:
        return ""
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


OPENING_KEYS = {"colon": "command", "slash": "filter"}
"""Keys that open the command line, and the screen actions they run."""


def forward_late_key(widget: Widget, event: events.Key) -> None:
    """Route keys typed fast after `:` (or `/`) to the command line.

    Keys typed (or sent by a terminal) right after `:` are queued to the old focus before
    the screen's binding moves the focus; they would be lost, or worse, run single-key
    commands. So `:` and `/` open the command line as soon as they reach `widget`, and
    keys that reach `widget` after that go into the input. Call it from the `on_key` of
    every widget that can have the focus besides the input.
    """
    try:
        screen = widget.screen
    except Exception:
        return
    if screen.focused is widget and event.key in OPENING_KEYS:
        # Open the command line here and now, so that the keys queued behind this one
        # (to this widget) find the focus moved; the screen's binding would come too late.
        action = OPENING_KEYS[event.key]
        if screen.check_action(action, ()):
            event.stop()
            event.prevent_default()
            getattr(screen, f"action_{action}")()
        return
    focused = screen.focused
    if not isinstance(focused, CommandInput) or focused is widget:
        return
    event.stop()
    event.prevent_default()
    focused.take_key(event)


class CommandSuggester(Suggester):
    """Ghost text: the rest of the only possible completion (→ accepts it)."""

    def __init__(self, view: Callable[[], ClusterView | None]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._view = view

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(" "):
            return None
        try:
            found = complete(value, self._view())
        except Exception:
            return None
        if len(found) != 1 or found[0].replace == 0:
            return None
        return value[: len(value) - found[0].replace] + found[0].text


@dataclass
class _Cycle:
    base: str
    cursor: int
    options: list[Completion]
    index: int
    applied: str


class CommandInput(Input):
    """The input of the command bar (Tab completes, up/down walk the history)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False, priority=True),
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("escape", "leave", "Leave", show=True),
    ]

    class Left(Message):
        """Escape was pressed: the command line lets go of the focus."""

    class Entered(Message):
        """Enter was pressed on this line, in this mode (the input is already empty)."""

        def __init__(self, text: str, mode: Mode) -> None:
            super().__init__()
            self.text = text
            self.mode = mode

    class Completed(Message):
        """Tab found these completions (shown in the hint line)."""

        def __init__(self, options: list[Completion], chosen: int | None) -> None:
            super().__init__()
            self.options = options
            self.chosen = chosen

    def __init__(
        self,
        view: Callable[[], ClusterView | None],
        history: CommandHistory,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(
            placeholder="press : for a command, / to filter, ? for help",
            suggester=CommandSuggester(view),
            id=id,
            select_on_focus=False,
        )
        self.view_source = view
        self.history = history
        self.mode: Mode = "command"
        self._cycle: _Cycle | None = None
        self.spent = False
        """Enter was pressed and the screen has not yet let go of the line: keys typed in
        the same burst are already queued here, so `:` or `/` among them opens a new line
        at once (else they would be typed onto the old one, and lost when it closes)."""
        self.reopen: Callable[[Mode], None] | None = None

    async def action_submit(self) -> None:
        """Input's Enter binding runs only after the keys queued behind it were typed in:
        Enter is taken in `_on_key` instead, in its place among them."""

    def submit(self) -> None:
        """Enter: the line is taken and emptied now, not when the screen hears of it."""
        text, mode = self.value, self.mode
        self.spent = True
        with self.prevent(Input.Changed):
            self.value = ""
        self.post_message(self.Entered(text, mode))

    def _reopens(self, key: str) -> bool:
        """`:` or `/` right after Enter opens a new line (see `spent`)."""
        if not (self.spent and key in OPENING_KEYS and self.reopen is not None):
            return False
        self.reopen("command" if key == "colon" else "filter")
        return True

    def take_key(self, event: events.Key) -> None:
        """A key typed for this line that another widget received (`forward_late_key`)."""
        if self._reopens(event.key):
            return
        if event.is_printable and event.character:
            self.insert_text_at_cursor(event.character)
        elif event.key == "enter":
            self.submit()

    async def _on_key(self, event: events.Key) -> None:
        if self._reopens(event.key) or event.key == "enter":
            event.stop()
            event.prevent_default()
            if event.key == "enter":
                self.submit()
            return
        await super()._on_key(event)

    def action_leave(self) -> None:
        self.post_message(self.Left())

    def action_history(self, step: int) -> None:
        if self.mode != "command":
            return
        line = self.history.previous(self.value) if step < 0 else self.history.next()
        if line is not None:
            self._set(line, len(line))

    def action_complete(self) -> None:
        if self.mode != "command":
            return
        cycle = self._cycle
        if cycle is not None and self.value == cycle.applied and len(cycle.options) > 1:
            cycle.index = (cycle.index + 1) % len(cycle.options)
            value, cursor = apply_completion(cycle.base, cycle.cursor, cycle.options[cycle.index])
            cycle.applied = value
            self._set(value, cursor)
            self.post_message(self.Completed(cycle.options, cycle.index))
            return
        try:
            options = complete(self.value[: self.cursor_position], self.view_source())
        except Exception:
            options = []
        self._cycle = None
        if not options:
            self.post_message(self.Completed([], None))
            return
        if len(options) == 1:
            value, cursor = apply_completion(self.value, self.cursor_position, options[0])
            self._set(value, cursor)
            self.post_message(self.Completed(options, 0))
            return
        same = [o for o in options if o.replace == options[0].replace]
        prefix = common_prefix([o.text for o in same])
        start, start_cursor = self.value, self.cursor_position
        applied = start
        if len(prefix) > options[0].replace:
            before, after = start[:start_cursor], start[start_cursor:]
            before = before[: len(before) - options[0].replace] + prefix
            applied = before + after
            self._set(applied, len(before))
        self._cycle = _Cycle(start, start_cursor, options, -1, applied)
        self.post_message(self.Completed(options, None))

    def _set(self, value: str, cursor: int) -> None:
        with self.prevent(Input.Changed):
            self.value = value
        self.cursor_position = cursor
        self.post_message(self.Changed(self, value))

    def reset_cycle(self) -> None:
        if self._cycle is not None and self.value != self._cycle.applied:
            self._cycle = None


class CommandBar(Vertical):
    """The command line with its prompt and the hint line under it."""

    DEFAULT_CSS = """
    CommandBar { height: auto; }
    CommandBar > Horizontal { height: 1; }
    CommandBar #prompt { width: 2; color: $accent; text-style: bold; }
    CommandBar Input { border: none; height: 1; padding: 0; background: $surface; }
    CommandBar Input:focus { border: none; background: $boost; }
    CommandBar #hint { height: auto; padding: 0 1; color: $text-muted; }
    CommandBar #hint.-error { color: $error; }
    """

    class Submitted(Message):
        """A command line or a filter was entered."""

        def __init__(self, text: str, mode: Mode) -> None:
            super().__init__()
            self.text = text
            self.mode = mode

    class FilterChanged(Message):
        def __init__(self, pattern: str) -> None:
            super().__init__()
            self.pattern = pattern

    def __init__(
        self, view: Callable[[], ClusterView | None], history: CommandHistory, *, id: str
    ) -> None:
        super().__init__(id=id)
        self.input = CommandInput(view, history, id="command-input")
        self.input.reopen = self.open
        self.hint = Static("", id="hint", markup=False)
        self.prompt = Label(":", id="prompt")
        self._status: Text | None = None
        self._error = False
        self._idle = "press : for a command, / to filter, ? for help"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self.prompt
            yield self.input
        yield self.hint

    @property
    def mode(self) -> Mode:
        return self.input.mode

    def open(self, mode: Mode, text: str = "") -> None:
        """Focus the input in `mode` with `text` typed."""
        self.input.spent = False
        self.input.mode = mode
        self.prompt.update(":" if mode == "command" else "/")
        self.input.placeholder = (
            "a command (Tab completes, ↑ history, Esc leaves)"
            if mode == "command"
            else "filter the log: words that must appear, !word to hide (Esc clears)"
        )
        with self.input.prevent(Input.Changed):
            self.input.value = text
        self.input.cursor_position = len(text)
        # At once, not via focus() (which waits for the message queue): keys typed right
        # after `:` are already queued and must reach the input, not the single-key bindings.
        self.screen.set_focus(self.input)
        self._inline_help(text)

    def close(self) -> None:
        self.input.spent = False
        self.input.mode = "command"
        self.prompt.update(":")
        with self.input.prevent(Input.Changed):
            self.input.value = ""
        self.input.placeholder = self._idle
        self.input.history.reset()

    def set_trace(self, path: str | None, replaying: bool) -> None:
        """Name the trace in the idle command line (the header may lack the room)."""
        if replaying:
            where = f"replaying {path} · " if path else ""
        else:
            where = f"● recording to {path} · " if path else "not recording · "
        idle = where + "press : for a command, / to filter, ? for help"
        if idle != self._idle:
            self._idle = idle
            if not self.input.has_focus:
                self.input.placeholder = idle

    # --- the hint line ----------------------------------------------------------------------

    def say(self, text: str | Text, error: bool = False) -> None:
        """Show a result or an error under the command line (until the next one, or Esc).
        A result of several lines (`status`, `faults`, `breaks`) shows them one under the
        other, up to a third of the screen."""
        body = text if isinstance(text, Text) else Text(text)
        lines = list(body.split("\n", allow_blank=True))
        room = max(3, self.app.size.height // 3)
        if len(lines) > room:
            more = len(lines) - room + 1
            lines = [*lines[: room - 1], Text(f"… {more} more lines in the message log", "dim")]
        self._status = Text("\n  ").join(lines)  # under the first line's ✓ or ✗
        self._error = error
        self._show(self._status, error)

    def _show(self, text: Text, error: bool = False) -> None:
        self.hint.set_class(error, "-error")
        self.hint.update(text)

    @property
    def hint_text(self) -> str:
        return str(self.hint.render())

    def _inline_help(self, value: str) -> None:
        if self.input.mode == "filter":
            return
        verb = verb_for(value)
        if verb is None:
            if self._status is not None:
                self._show(self._status, self._error)
            return
        self._show(Text.assemble((verb.usage, "bold"), "  ", (verb.summary, "dim")))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.input.reset_cycle()
        if self.input.mode == "filter":
            self.post_message(self.FilterChanged(event.value))
        else:
            self._inline_help(event.value)

    def on_command_input_entered(self, event: CommandInput.Entered) -> None:
        event.stop()
        if event.mode == "command":
            self.input.history.add(event.text)
        self.post_message(self.Submitted(event.text, event.mode))

    @property
    def is_open(self) -> bool:
        """The line is focused and not spent: the user is typing on it."""
        return self.input.has_focus and not self.input.spent

    def on_command_input_completed(self, event: CommandInput.Completed) -> None:
        event.stop()
        if not event.options:
            self._show(Text("nothing to complete here", "dim"))
            return
        if len(event.options) == 1 and event.chosen == 0:
            self._inline_help(self.input.value)
            return
        text = Text()
        for i, option in enumerate(event.options):
            style = "reverse" if i == event.chosen else "bold"
            text.append(option.text, style)
            if option.meta and len(event.options) <= 4:
                text.append(f" {option.meta}", "dim")
            text.append("  ")
        self._show(text)
