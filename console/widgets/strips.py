"""Provides `to_strip`: one line of Rich `Text` as a Textual `Strip` over a base style, as
`Text.render` draws it, with the styles it combines kept from line to line.

Every line the console paints (the log's, the ensemble's and the timeline's rows, the
sequence diagram's) goes through here. `Text.render` combines the styles of the spans over
each piece of a line and adds the widget's style, with a cache that lives for one call:
under a storm, when every line of the log is new each frame, that combining was most of
the cost of a line. Here a combination is made once per console and kept.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial
from itertools import pairwise
from weakref import WeakKeyDictionary

from rich.console import Console
from rich.segment import Segment
from rich.style import Style, StyleType
from rich.text import Text
from textual.strip import Strip

STYLE_CACHE = 4096
"""Combinations kept per console (a storm uses a few hundred); beyond, it starts over."""

_Key = tuple[Style, StyleType, tuple[StyleType, ...]]
_combined: WeakKeyDictionary[Console, dict[_Key, Style]] = WeakKeyDictionary()


def text_key(text: Text) -> Hashable:
    """What `text` draws, as a value (equal for two texts drawn alike)."""
    t = text
    return (t.plain, tuple(t.spans), t.style, t.justify, t.overflow, t.no_wrap, t.end, t.tab_size)


def to_strip(text: Text, style: Style, console: Console, width: int) -> Strip:
    """`text` (one line) on `width` cells, over `style`."""
    return fitted(line_segments(text, style, console), style, width)


def fitted(segments: list[Segment], style: Style, width: int) -> Strip:
    """`segments` on `width` cells: cut, or padded with `style`. What
    `Strip(segments).crop_extend(0, width, style)` gives; a line that fits (most) is only
    padded, five times faster than cropping it to its own length first."""
    length = sum(segment.cell_length for segment in segments)
    if length > width:
        return Strip(segments).crop_extend(0, width, style)
    if length < width:
        segments = [*segments, Segment(" " * (width - length), style)]
    return Strip(segments, width)


def line_segments(text: Text, base: Style, console: Console) -> list[Segment]:
    """The segments of `text.render(console)` (without newlines), each over `base`.

    As Text.render: a text without spans has no style of its own (its `style` counts only
    with spans), and each piece between two span boundaries has the text's style and those
    of the spans over it, in the order they were added."""
    plain, spans = text.plain, text.spans
    if "\n" in plain:  # not one line: Text.render's own way, its newlines left out
        return [
            Segment(s.text, base + s.style if s.style else base)
            for s in text.render(console)
            if s.text != "\n"
        ]
    if not spans:
        return [Segment(plain, base)] if plain else []
    cache = _combined.get(console)
    if cache is None or len(cache) > STYLE_CACHE:
        cache = _combined[console] = {}
    get_style = partial(console.get_style, default=Style.null())
    end = len(plain)
    cuts = sorted({0, end, *(min(s.start, end) for s in spans), *(min(s.end, end) for s in spans)})
    head = text.style
    segments = []
    for start, stop in pairwise(cuts):
        over = tuple(s.style for s in spans if s.start <= start < s.end)
        key = (base, head, over)
        combined = cache.get(key)
        if combined is None:
            combined = cache[key] = base + Style.combine(map(get_style, (head, *over)))
        segments.append(Segment(plain[start:stop], combined))
    return segments
