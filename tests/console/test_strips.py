"""The console's lines drawn by console.widgets.strips are cell for cell what Rich's
`Text.render` draws (issue 13, item 4: the styles it combines are kept between lines, and
a kept combination must never stand for another)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.strip import Strip

from console.widgets.columns import Column, RowCells, fit, row
from console.widgets.strips import fitted, line_segments, to_strip

STYLES = ["", "dim", "bold", "bold red", "reverse", "underline", "dim italic", "not-a-style"]
PARSED = [Style(color="cyan"), Style(bgcolor="yellow", bold=True), Style(link="x")]
BASES = [Style(), Style(color="white", bgcolor="rgb(20,20,40)"), Style(dim=True, color="red")]

CONSOLE = Console(width=200)


def cells(segments: list[Segment]) -> list[tuple[str, Style | None]]:
    """Each character with the style it is drawn in (how the pieces are cut aside)."""
    return [(ch, s.style) for s in segments for ch in s.text]


def by_rich(text: Text, base: Style) -> list[Segment]:
    """What the console drew before: Text.render, each piece over the base style."""
    return [
        Segment(s.text, base + s.style if s.style else base)
        for s in text.render(CONSOLE)
        if s.text != "\n"
    ]


style: st.SearchStrategy[str | Style] = st.sampled_from([*STYLES, *PARSED])


@st.composite
def texts(draw: st.DrawFn) -> Text:
    plain = draw(st.text(alphabet="ab ✓⋯\n", max_size=12))
    at = st.integers(0, len(plain))  # Rich keeps spans within the text
    spans = draw(
        st.lists(
            st.tuples(at, at, style).map(lambda t: Span(min(t[0], t[1]), max(t[0], t[1]), t[2])),
            max_size=6,
        )
    )
    return Text(plain, draw(style), spans=spans)


@settings(max_examples=400, deadline=None)
@given(texts(), st.sampled_from(BASES))
def test_a_line_is_drawn_as_rich_draws_it(text: Text, base: Style) -> None:
    assert cells(line_segments(text, base, CONSOLE)) == cells(by_rich(text, base))
    # and again, from the kept combinations
    assert cells(line_segments(text, base, CONSOLE)) == cells(by_rich(text, base))


def test_a_line_is_cut_or_padded_to_its_width() -> None:
    text = Text.assemble(("  42 ", "dim"), ("n1", "bold"), " sends ", ("NOTIFICATION", "cyan"))
    base = BASES[1]
    for width in (0, 5, 10, len(text.plain), 60):
        strip = to_strip(text, base, CONSOLE, width)
        expected = Strip(by_rich(text, base)).crop_extend(0, width, base)
        assert strip.cell_length == width
        assert cells(list(strip)) == cells(list(expected))


def test_a_table_line_drawn_cell_by_cell_is_the_line_of_its_row() -> None:
    """The ensemble's rows are drawn cell by cell, each cell's segments kept (RowCells):
    drawn again with a cell changed, kept cells and all, a line is what the row's Text
    draws."""
    columns = [
        Column("sid", "sid", 3),
        Column("state", "state", 9, drop=2),
        Column("zxid", "zxid", 6),
        Column("last", "last event", 10, flex=True),
    ]
    values = {
        "sid": Text("n1", "bold"),
        "state": Text.assemble(("LOOK", "yellow"), ("ING", "bold yellow")),
        "zxid": Text("0x100000002"),
        "last": Text("sent NOTIFICATION to n2 and n3", "dim"),
    }
    drawn = RowCells()
    for width in (80, 30, 12):
        cols = fit(columns, width, {k: t.cell_len for k, t in values.items()})
        for state in ("LOOKING", "FOLLOWING", "LOOKING"):
            values["state"] = Text(state, "bold cyan")
            for right in ((), ("zxid",)):
                for base in BASES:
                    strip = drawn.strip(values, cols, base, CONSOLE, width, right)
                    line = to_strip(row(values, cols, right), base, CONSOLE, width)
                    assert cells(list(strip)) == cells(list(line))


def test_segments_are_cut_or_padded_to_a_width_as_textual_does() -> None:
    """`fitted` pads a line that fits without cropping it first (five times faster): the
    same cells as Strip.crop_extend, for lines shorter, as long as and longer than the
    width, wide characters cut in half included."""
    base = BASES[1]
    text = Text.assemble(("  42 ", "dim"), ("n1 ✓ 漢字", "bold"), " sends ", ("NOTE", "cyan"))
    segments = line_segments(text, base, CONSOLE)
    for width in range(0, text.cell_len + 4):
        strip = fitted(segments, base, width)
        assert strip.cell_length == width
        assert cells(list(strip)) == cells(list(Strip(segments).crop_extend(0, width, base)))
