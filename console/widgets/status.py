"""Provides the one-line widgets: the header, the elections timeline and the replay's
position bar. Each renders from plain values the screen sets, fitted to its width."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from console.backend import BackendInfo, BreakpointLike, MarkLike
from console.format import Election, clock_text, ms_text
from engine.view import ClusterView


def _fit(pieces: list[tuple[int, Text]], width: int, sep: str = " │ ") -> Text:
    """Join pieces (priority, text) left to right, leaving out the least important ones
    (highest number) until the line fits `width`."""
    keep = list(pieces)
    while keep:
        line = Text(sep, "dim").join(t for _, t in keep)
        if line.cell_len <= width or len(keep) == 1:
            line.truncate(width, overflow="ellipsis")
            return line
        worst = max(range(len(keep)), key=lambda i: (keep[i][0], i))
        del keep[worst]
    return Text()


def short_path(path: str, room: int) -> str:
    """A path shortened in the middle to `room` cells (the file name is what matters)."""
    if len(path) <= room:
        return path
    name = path.rsplit("/", 1)[-1]
    if len(name) + 2 <= room:
        return "…/" + name
    return "…" + name[-(room - 1) :] if room > 1 else "…"


@dataclass(frozen=True, slots=True)
class Lamps:
    safe: bool
    safety_why: str
    liveness: str
    """ok, wait or bad."""
    liveness_why: str


LAMP_STYLES = {"ok": "bold green", "wait": "bold yellow", "bad": "bold red"}


class Header(Widget):
    """Mode, runtime, seed, clock, seq, faults, trace file and the two lamps."""

    DEFAULT_CSS = """
    Header { height: 1; background: $panel; color: $text; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: tuple[BackendInfo, ClusterView, Lamps, str] | None = None
        self._text = Text()

    def set_state(self, info: BackendInfo, view: ClusterView, lamps: Lamps, extra: str) -> None:
        state = (info, view, lamps, extra)
        if state != self._state:
            self._state = state
            self.refresh()

    @property
    def text(self) -> str:
        return self.line(self.size.width or 200).plain

    def line(self, width: int) -> Text:
        if self._state is None:
            return Text(" zkfle", "bold")
        info, view, lamps, extra = self._state
        mode = Text(
            f" {info.mode.upper()} ",
            "bold reverse " + ("cyan" if info.mode == "replay" else "green"),
        )
        mode.append(f" {info.runtime}", "bold")
        if info.seed is not None:
            mode.append(f" seed {info.seed}", "")
        clock = Text(f"t {clock_text(view.t_ms)}")
        seq = Text(f"seq {view.seq}")
        pieces: list[tuple[int, Text]] = [(0, mode), (1, clock), (1, seq)]
        if info.runtime == "sim" or info.mode == "replay":
            run = Text(
                "▶ " if info.running else "‖ ", "bold green" if info.running else "bold yellow"
            )
            run.append(f"{info.speed:g}x")
            pieces.append((2, run))
        if extra:
            pieces.append((3, Text(extra, "bold cyan")))
        if info.divergence:
            pieces.append((1, Text(f"✗ {info.divergence}", "bold red")))
        if view.faults:
            ids = " ".join(f.fault_id for f in view.faults)
            pieces.append((2, Text.assemble(("faults ", "bold red"), ids)))
        short = width < 100
        lamps_text = Text.assemble(
            "safe " if short else "safety ",
            ("●", "bold green" if lamps.safe else "bold red"),
            " live " if short else "  liveness ",
            ("●", LAMP_STYLES.get(lamps.liveness, "")),
        )
        pieces.append((0, lamps_text))
        if width >= 120:
            why = lamps.liveness_why if lamps.safe else lamps.safety_why
            pieces.append(
                (
                    4,
                    Text(
                        why,
                        LAMP_STYLES[
                            "ok"
                            if lamps.safe and lamps.liveness == "ok"
                            else "bad"
                            if not lamps.safe or lamps.liveness == "bad"
                            else "wait"
                        ],
                    ),
                )
            )
        if info.trace_path:
            verb = "● " if info.mode == "live" else "▤ "
            used = sum(t.cell_len for _, t in pieces) + 3 * len(pieces)
            room = max(12, width - used - 2)
            pieces.append(
                (
                    3,
                    Text.assemble(
                        (verb, "red" if info.mode == "live" else "cyan"),
                        short_path(info.trace_path, room),
                    ),
                )
            )
        else:
            pieces.append((5, Text("not recording", "dim")))
        return _fit(pieces, width)

    def render(self) -> Text:
        return self.line(self.size.width)


_Row = tuple[int, int, int | None, float | None, float, int, float]
"""round, leader, epoch, the leader's took_ms, the slowest took_ms, deciders, when."""


class ElectionsTimeline(Widget):
    """Who led which epoch and how long each election took (newest last)."""

    DEFAULT_CSS = """
    ElectionsTimeline { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._elections: tuple[_Row, ...] = ()

    def set_elections(self, elections: Sequence[Election]) -> None:
        rows = tuple(
            (e.round, e.leader, e.epoch, e.leader_took_ms, e.slowest_ms, len(e.took), e.t_ms)
            for e in elections
        )
        if rows != self._elections:
            self._elections = rows
            self.refresh()

    @property
    def text(self) -> str:
        return "\n".join(self.lines(self.size.width or 200, self.size.height or 1))

    def lines(self, width: int, height: int) -> list[str]:
        return [t.plain for t in self._render_lines(width, height)]

    def _render_lines(self, width: int, height: int) -> list[Text]:
        rows = self._elections
        if not rows:
            return [Text.assemble(("elections ", "bold"), ("none decided yet", "dim"))]
        if height <= 1:
            items = [self._item(r) for r in rows]
            line = Text("elections", "bold")
            shown: list[Text] = []
            room = width - line.cell_len - 1
            for item in reversed(items):
                if sum(t.cell_len + 3 for t in shown) + item.cell_len + 3 > room:
                    break
                shown.insert(0, item)
            if len(shown) < len(items):
                line.append(f" (+{len(items) - len(shown)})", "dim")
            line.append(" ")
            line.append_text(Text(" · ", "dim").join(shown))
            return [line]
        header = Text(
            f"{'at':>9} {'round':>5} {'leader':>6} {'epoch':>5} {'took':>8} {'slowest':>8} decided",
            "bold",
        )
        out = [header]
        for rnd, leader, epoch, took, slowest, count, t_ms in rows[-(height - 1) :]:
            out.append(
                Text(
                    f"{clock_text(t_ms):>9} {rnd if rnd >= 0 else '?':>5} {'n' + str(leader):>6}"
                    f" {epoch if epoch is not None else '-':>5}"
                    f" {ms_text(took):>8} {ms_text(slowest):>8} {count}"
                )
            )
        return out

    @staticmethod
    def _item(row: _Row) -> Text:
        rnd, leader, epoch, took, _slowest, _count, _t = row
        text = Text(f"r{rnd if rnd >= 0 else '?'} ")  # -1: a real server's round unknown
        text.append(f"n{leader}", "bold green")
        text.append(f" e{epoch}" if epoch is not None else " e?", "dim" if epoch is None else "")
        text.append(f" {ms_text(took)}" if took is not None else " …", "bold")
        return text

    def render(self) -> Text:
        return Text("\n").join(self._render_lines(self.size.width, self.size.height))


_Position = tuple[
    int, int, bool, float, tuple[MarkLike, ...], tuple[BreakpointLike, ...], str | None
]
"""position, total, running, speed, marks, breakpoints, why it stopped."""


class PositionBar(Widget):
    """Replay: seq/total, a bar with the marks, play state, breakpoints, why it stopped."""

    DEFAULT_CSS = """
    PositionBar { height: 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: _Position | None = None

    def set_state(
        self,
        position: int,
        total: int,
        running: bool,
        speed: float,
        marks: Sequence[MarkLike],
        breakpoints: Sequence[BreakpointLike],
        stop_reason: str | None,
    ) -> None:
        state = (position, total, running, speed, tuple(marks), tuple(breakpoints), stop_reason)
        if state != self._state:
            self._state = state
            self.refresh()

    @property
    def text(self) -> str:
        return self.line(self.size.width or 200).plain

    def line(self, width: int) -> Text:
        if self._state is None:
            return Text()
        position, total, running, speed, marks, breaks, why = self._state
        head = Text.assemble(
            ("▶ " if running else "‖ ", "bold green" if running else "bold yellow"),
            (f"seq {position}/{total}", "bold"),
            f" {speed:g}x ",
        )
        parts: list[Text] = []  # most important first; dropped from the end to fit
        if why:
            parts.append(Text.assemble((" ■ ", "bold red"), (why, "bold red")))
        if breaks:
            texts = (f"{b.id} {b.text.removeprefix('break ')}" for b in breaks)
            parts.append(Text.assemble((" breaks ", "dim"), (", ".join(texts), "yellow")))
        if marks:
            shown = " ".join(f"{m.label}@{m.seq}" for m in marks[:6])
            more = f" +{len(marks) - 6}" if len(marks) > 6 else ""
            parts.append(Text.assemble((" marks ", "dim"), (shown, "magenta"), (more, "dim")))
        while parts and head.cell_len + sum(p.cell_len for p in parts) + 10 > width:
            parts.pop()
        tail = Text().join(reversed(parts))
        room = width - head.cell_len - tail.cell_len - 1
        bar_width = max(10, min(room, max(10, width // 2)))
        line = head + self._bar(position, total, marks, bar_width) + tail
        line.truncate(width, overflow="ellipsis")
        return line

    @staticmethod
    def _bar(position: int, total: int, marks: Sequence[MarkLike], width: int) -> Text:
        cells = ["─"] * width
        styles = ["dim"] * width

        def at(seq: int) -> int:
            return 0 if total <= 0 else min(width - 1, max(0, round(seq / total * (width - 1))))

        here = at(position)
        for i in range(here):
            cells[i], styles[i] = "━", "cyan"
        for m in marks:
            i = at(m.seq)
            cells[i], styles[i] = "┃", "bold magenta"
        cells[here], styles[here] = "●", "bold cyan"
        text = Text()
        for ch, st in zip(cells, styles, strict=True):
            text.append(ch, st)
        return text

    def render(self) -> Text:
        return self.line(self.size.width)
