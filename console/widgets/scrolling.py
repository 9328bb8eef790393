"""Provides what keeps a growing line-API view cheap: `set_virtual_size` (its scroll range
changed without a layout of the whole screen), `SteadyScrollView` (its scrollbar drawn
again only when it looks different) and `PassStyled` (its base style worked out once a
painting pass, not once a line).

Textual's `virtual_size` is a reactive that asks for a layout when it changes: every
widget of the screen is arranged again. A view whose height its CSS fixes (`1fr`, a
number of lines) has a region that does not depend on what it scrolls over, so only its
scrollbars and scroll range need updating. Under a storm the log and the diagram grow
every frame, and that layout was a fifth of the console's CPU per frame.

Their scrollbars were then drawn again every frame too (Textual repaints a scrollbar at
every change of the range or the position), a scrollbar as tall as the view, which cost
as much as the log's own lines; over a window of 2 000 lines the thumb moves by a visible
eighth of a cell only every few frames.
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Set `view.virtual_size` and update its scrollbars, without a layout; only for a
    view whose own height does not follow its content (not `height: auto`)."""
    if size == view.virtual_size:
        return
    view.set_reactive(Widget.virtual_size, size)
    view._scroll_update(size)  # what a layout would do for it: scrollbars, scroll range
    view.refresh()


class SteadyScrollBar(ScrollBar):
    """A vertical scrollbar that draws its lines again only when they would differ."""

    def __init__(self, thickness: int) -> None:
        super().__init__(vertical=True, name="vertical", thickness=thickness)
        self._drawn: tuple[object, list[Strip]] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        key = (crop, self.size, self._bar())
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, super().render_lines(crop))
        return self._drawn[1]

    def _bar(self) -> object:
        """What the bar draws: its cells as ScrollBarRender makes them (or what stands for
        a bar it does not draw itself)."""
        bar = self.render()
        if not isinstance(bar, ScrollBarRender):
            return bar
        style = bar.style if isinstance(bar.style, Style) else Style.parse(str(bar.style))
        if style.bgcolor is None or style.color is None:
            return (bar.window_size, bar.virtual_size, bar.position, str(style))
        cells = ScrollBarRender.render_bar(
            size=self.size.height,
            window_size=bar.window_size,
            virtual_size=bar.virtual_size,
            position=bar.position,
            thickness=self.size.width,
            back_color=style.bgcolor,
            bar_color=style.color,
        )
        return tuple(cells.segments)


class PassStyled(Widget):
    """A line-API widget whose `line_style` (its `rich_style`) is worked out once for each
    pass of Textual's painting. `rich_style` walks every ancestor's styles at each read;
    read once per line, it was a tenth of the console's frame under a storm (every line
    of the log is painted again when it scrolls)."""

    _pass_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None

    @property
    def line_style(self) -> Style:
        """The widget's `rich_style` (the one of this pass while painting)."""
        style = self._pass_style
        return self.rich_style if style is None else style


class SteadyScrollView(PassStyled, ScrollView):
    """A line-API view whose vertical scrollbar is a `SteadyScrollBar`."""

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        # Widget.vertical_scrollbar, with the scrollbar made of our class
        if self._vertical_scrollbar is None:
            bar = SteadyScrollBar(self.scrollbar_size_vertical)
            bar.display = False
            self._vertical_scrollbar = bar
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar
