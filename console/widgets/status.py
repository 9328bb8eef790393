"""Provides the one-line widgets: the header and the replay's position bar. Each renders
from plain values the screen sets, fitted to its width."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from console.backend import BackendInfo, BreakpointLike, MarkLike
from console.format import clock_text, cluster_text
from engine.core.view import ClusterView


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
CHECK_LABEL = "check: "
"""Begins the model check's lamp."""
PATH_MIN = 12
"""The fewest cells the trace's file name is shown in (else it is left out)."""


def _lamps(lamps: Lamps, short: bool) -> Text:
    return Text.assemble(
        "safe " if short else "safety ",
        ("●", "bold green" if lamps.safe else "bold red"),
        " live " if short else "  liveness ",
        ("●", LAMP_STYLES.get(lamps.liveness, "")),
    )


class Header(Widget):
    """Mode, runtime, seed, clock, seq, faults, the serving leader and quorum, the two lamps
    (and what is wrong, if anything), a real ZooKeeper run's model check, and the trace
    file (the first thing left out when the width is short)."""

    DEFAULT_CSS = """
    Header { height: 1; background: $panel; color: $text; }
    """

    class CheckPressed(Message):
        """The model check's lamp was clicked: list what it found (`check`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: tuple[BackendInfo, ClusterView, Lamps, str] | None = None
        self._text = Text()
        self._check_cells: range = range(0)
        """Where the last rendered line shows the check lamp."""

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
        pieces: list[tuple[int, Text]] = [(0, mode)]
        if info.seed is not None:
            pieces.append((3, Text(f"seed {info.seed}")))
        pieces += [(2, Text(f"t {clock_text(view.t_ms)}")), (2, Text(f"seq {view.seq}"))]
        if info.runtime == "sim" or info.mode == "replay" or not info.running:
            run = Text(
                "▶ " if info.running else "‖ ", "bold green" if info.running else "bold yellow"
            )
            run.append(f"{info.speed:g}x")
            pieces.append((3, run))
        if extra:
            pieces.append((4, Text(extra, "bold cyan")))
        if info.divergence:
            pieces.append((1, Text(f"✗ {info.divergence}", "bold red")))
        if view.faults:
            ids = " ".join(f.fault_id for f in view.faults)
            pieces.append((3, Text.assemble(("faults ", "bold red"), ids)))
        pieces.append((1, cluster_text(view)))
        at = len(pieces)
        pieces.append((0, _lamps(lamps, short=False)))
        if info.check is not None:
            bad = not info.check.startswith("ok")
            style = LAMP_STYLES["bad" if bad else "ok"]
            # ZooKeeper's own verdict: kept before the seed (a real run's seed only
            # drives the proxy's random faults).
            pieces.append((1 if bad else 2, Text.assemble(CHECK_LABEL, (info.check, style))))
        if not lamps.safe:
            pieces.append((1, Text(lamps.safety_why, LAMP_STYLES["bad"])))
        elif lamps.liveness != "ok":
            pieces.append((4, Text(lamps.liveness_why, LAMP_STYLES[lamps.liveness])))
        used = sum(t.cell_len for _, t in pieces) + 3 * len(pieces)
        if used + PATH_MIN + 2 > width:  # short of room: `safe ● live ●`
            pieces[at] = (0, _lamps(lamps, short=True))
            used = sum(t.cell_len for _, t in pieces) + 3 * len(pieces)
        if info.trace_path:
            verb = "● " if info.mode == "live" else "▤ "
            room = max(PATH_MIN, width - used - 2)
            pieces.append(
                (
                    6,
                    Text.assemble(
                        (verb, "red" if info.mode == "live" else "cyan"),
                        short_path(info.trace_path, room),
                    ),
                )
            )
        else:
            pieces.append((6, Text("not recording", "dim")))
        return _fit(pieces, width)

    def render(self) -> Text:
        line = self.line(self.size.width)
        lamp = self._state[0].check if self._state is not None else None
        at = line.plain.find(CHECK_LABEL) if lamp else -1
        width = len(CHECK_LABEL) + len(lamp or "")
        self._check_cells = range(at, at + width) if at >= 0 else range(0)
        return line

    def on_click(self, event: events.Click) -> None:
        if event.x in self._check_cells:
            self.post_message(self.CheckPressed())


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
