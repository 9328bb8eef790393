"""Provides `set_virtual_size`: a line-API view's scroll range changed without a layout of
the whole screen.

Textual's `virtual_size` is a reactive that asks for a layout when it changes: every
widget of the screen is arranged again. A view whose height its CSS fixes (`1fr`, a
number of lines) has a region that does not depend on what it scrolls over, so only its
scrollbars and scroll range need updating. Under a storm the log and the diagram grow
every frame, and that layout was a fifth of the console's CPU per frame.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Set `view.virtual_size` and update its scrollbars, without a layout; only for a
    view whose own height does not follow its content (not `height: auto`)."""
    if size == view.virtual_size:
        return
    view.set_reactive(Widget.virtual_size, size)
    view._scroll_update(size)  # what a layout would do for it: scrollbars, scroll range
    view.refresh()
