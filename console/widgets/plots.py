"""Provides the plots pane: each node's state over the run as a coloured strip, and the
message rate and queue depth as sparklines (`console.plots` holds the series).

It is drawn only while shown, once a frame at most, in O(nodes × width); it scrolls when
the nodes are more than the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.format import STATE_STYLES, clock_text
from console.plots import DepthSeries, RateSeries, StateHistory, sparkline
from engine.core.view import ClusterView

LABEL = 9
"""The width of the row labels (`n12`, `sends/s`)."""


class PlotsView(VerticalScroll, can_focus=True):
    """The plots pane."""

    DEFAULT_CSS = """
    PlotsView { background: $surface; scrollbar-size-vertical: 1; }
    PlotsView > Static { width: 1fr; height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.states = StateHistory()
        self.rate = RateSeries()
        self.depth = DepthSeries()
        self.body = Static("", id="plots-body")
        self._view: ClusterView | None = None

    def compose(self) -> ComposeResult:
        yield self.body

    def feed(self, batch: Iterable[Mapping[str, Any]]) -> None:
        for event in batch:
            self.states.feed(event)
            self.rate.feed(event)

    def sample(self, view: ClusterView) -> None:
        """Once a frame: the queue depth now; redraw if shown."""
        self.depth.sample(view)
        self._view = view
        if self.display and self.parent is not None and self.parent.display:
            self.body.update(self.render_plots(view, self.size.width))

    def truncate_after(self, t_ms: float) -> None:
        self.states.truncate_after(t_ms)
        self.rate.truncate_after(t_ms)
        self.depth.clear()

    def clear(self) -> None:
        self.states.clear()
        self.rate.clear()
        self.depth.clear()

    def render_plots(self, view: ClusterView, width: int) -> Text:
        """Every plot, `width` columns wide."""
        cols = max(1, width - LABEL - 1)
        now = view.t_ms
        start = self.states.first_ms if self.states.first_ms is not None else 0.0
        out = Text(no_wrap=True, overflow="ellipsis")
        span = f"{clock_text(start)} … {clock_text(now)}"
        out.append(f"{'states':<{LABEL}}{span}\n", "bold")
        for sid in view.sids:
            out.append(f"{'n' + str(sid):<{LABEL}}", "bold")
            for state in self.states.columns(sid, start, now, cols):
                if state is None:
                    out.append(" ")
                elif state == "down":
                    out.append("·", "red")
                else:
                    out.append("█", STATE_STYLES.get(state, ""))
            out.append("\n")
        out.append(" " * LABEL)
        for name in ("LOOKING", "FOLLOWING", "LEADING", "OBSERVING"):
            out.append("█", STATE_STYLES[name])
            out.append(f" {name}  ", "dim")
        out.append("· down\n", "red")
        rate = self.rate.per_second(now, cols)
        out.append(f"{'sends/s':<{LABEL}}", "bold")
        out.append(sparkline(rate), "cyan")
        out.append(f"\n{'':<{LABEL}}peak {max(rate, default=0):,.0f}/s over the last", "dim")
        out.append(f" {cols * 0.1:g}s of the run\n", "dim")
        depth = self.depth.last(cols)
        out.append(f"{'queues':<{LABEL}}", "bold")
        out.append(sparkline(depth), "magenta")
        now_depth = int(depth[-1]) if depth else 0
        out.append(f"\n{'':<{LABEL}}now {now_depth}, peak {max(depth, default=0):.0f}", "dim")
        out.append(" messages queued (receive, FLE and send queues), a sample a frame", "dim")
        return out
