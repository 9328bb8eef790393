"""Provides table columns that fit a width, and table lines (as Text, or as strips drawn
cell by cell: `RowCells`): for the ensemble strip and the elections timeline. Each column
is as wide as its widest value, so a value (a zxid) is never cut; when the width is short,
the least needed columns are left out instead, and one flexible column takes what is
left. Each column says what it shows, for `?`."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from console.widgets.strips import fitted, line_segments, text_key

FLEX_MIN = 8
"""The flexible column is left out when fewer cells than this are left for it."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    """The narrowest it gets (values that are wider widen it)."""
    drop: int = 0
    """Left out when short of width: the highest first; 0 never."""
    help: str = ""
    """What it shows, for `?`."""
    flex: bool = False
    """Takes the width the others leave (and is cut to it)."""


def fit(columns: Sequence[Column], width: int, widths: Mapping[str, int]) -> list[Column]:
    """The columns that fit in `width` (each takes its width plus a space on either side),
    as wide as `widths` (the widest value of each) asks."""
    cols = [
        replace(c, width=max(c.width, len(c.label), widths.get(c.key, 0)))
        for c in columns
        if not c.flex
    ]
    flex = next((c for c in columns if c.flex), None)
    used = sum(c.width + 2 for c in cols)
    while used > width:
        droppable = [c for c in cols if c.drop]
        if not droppable:
            break
        worst = max(reversed(droppable), key=lambda c: c.drop)
        cols.remove(worst)
        used -= worst.width + 2
    if flex is not None and width - used - 2 >= FLEX_MIN:
        kept = {c.key for c in cols}
        at = sum(1 for c in columns[: list(columns).index(flex)] if c.key in kept)
        cols.insert(at, replace(flex, width=width - used - 2))
    return cols


def cell(value: Text | None, width: int, right: bool = False) -> Text:
    """One cell: the value cut or padded to `width`, a space on either side."""
    text = value.copy() if value is not None else Text()
    if right and text.cell_len < width:
        text = Text(" " * (width - text.cell_len)) + text
    text.truncate(width, overflow="ellipsis", pad=True)
    return Text.assemble(" ", text, " ")


def row(values: Mapping[str, Text], columns: Sequence[Column], right: Collection[str] = ()) -> Text:
    """One line of the table: each column's value in its cell (`right`: keys right-aligned)."""
    return Text("").join(cell(values.get(c.key), c.width, c.key in right) for c in columns)


def header(columns: Sequence[Column], right: Collection[str] = ()) -> Text:
    return row({c.key: Text(c.label) for c in columns}, columns, right)


CELL_CACHE = 4096
"""Cells kept by a `RowCells` (a storm's ensemble uses a few hundred); beyond, it starts over."""


class RowCells:
    """Table lines drawn cell by cell, each cell's segments kept by what it shows: a node
    that changed changes two or three of its row's sixteen cells, and making the whole row
    into one Text (copying, cutting and joining every cell) cost more than drawing it.
    A line is what `to_strip` draws of `row(values, columns, right)`."""

    def __init__(self) -> None:
        self._cells: dict[Hashable, list[Segment]] = {}

    def strip(
        self,
        values: Mapping[str, Text],
        columns: Sequence[Column],
        style: Style,
        console: Console,
        width: int,
        right: Collection[str] = (),
    ) -> Strip:
        segments: list[Segment] = []
        cells = self._cells
        for c in columns:
            value = values.get(c.key)
            aligned = c.key in right
            key = (None if value is None else text_key(value), c.width, aligned, style)
            drawn = cells.get(key)
            if drawn is None:
                if len(cells) >= CELL_CACHE:
                    cells.clear()
                drawn = cells[key] = line_segments(cell(value, c.width, aligned), style, console)
            segments += drawn
        return fitted(segments, style, width)
