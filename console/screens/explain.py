"""Provides the explanation screen: `zkfle explain` of the election selected in the
elections timeline (Enter), live or in a replay - the verdict, the critical path phase by
phase (drawn to scale), why the leader won, the causes with what changes them, and what
each node did. An outage still going on is explained again every second."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType

from console.backend import Backend, describe_exception
from console.format import clock_text
from console.screens.text import TextScreen
from engine.trace.elections import Election
from engine.trace.explain.causes import BY_ID
from engine.trace.explain.outage import Explanation, ms_text

Explain = Callable[[], "Explanation | str"]
"""Explains the election again (a string says why it cannot)."""

BAR = 24
"""Cells of the widest phase's bar."""


class ExplainScreen(TextScreen):
    """Enter on the elections timeline: scroll with the arrows, leave with Esc, q or Enter."""

    DEFAULT_CSS = """
    ExplainScreen > VerticalScroll { width: 95%; max-width: 160; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "dismiss", "Close")]

    WIDTH = 150

    def __init__(self, explain: Explain, title: str) -> None:
        super().__init__()
        self._explain = explain
        self._title = title
        self.explanation: Explanation | str = self._run()

    def _run(self) -> Explanation | str:
        try:
            return self._explain()
        except Exception as exc:  # the console outlives any engine bug
            return describe_exception(exc)

    def on_mount(self) -> None:
        x = self.explanation
        if isinstance(x, Explanation) and not x.ended:
            self.set_interval(1.0, self._again, name="explain")

    def _again(self) -> None:
        self.explanation = self._run()
        self.redraw()

    def body(self) -> Group:
        x = self.explanation
        parts: list[Text | Table] = [Text(self._title, "bold")]
        if isinstance(x, str):
            parts.append(Text(x, "yellow"))
            return Group(*parts)
        end = x.clock(x.end) if x.end is not None else "still none"
        parts.append(
            Text(
                f"outage {x.clock(x.start)} -> {end}, {ms_text(x.wall_ms)} without a leader", "dim"
            )
        )
        parts.append(Text(x.verdict + "\n"))
        parts.append(Text("critical path (the phases add up to the outage)", "bold"))
        parts.append(_path(x))
        parts.append(Text(f"\nleader: {x.why_leader}"))
        parts += [Text(line, "dim") for line in x.why_not]
        if x.causes:
            parts.append(Text("\ncauses", "bold"))
            causes = Table.grid(padding=(0, 2))
            causes.add_column(style="bold yellow", no_wrap=True)
            causes.add_column()
            for cause in x.causes:
                c = BY_ID[cause]
                causes.add_row(cause, f"{c.sentence} ({c.zookeeper}; changed by: {c.setting})")
            parts.append(causes)
        if x.unknown:
            parts.append(Text("\nunknown: " + "; ".join(x.unknown), "yellow"))
        if x.nodes:
            parts.append(Text("\nwhat each node did", "bold"))
            nodes = Table.grid(padding=(0, 2))
            nodes.add_column(style="bold cyan", no_wrap=True)
            nodes.add_column()
            for sid, lines in x.nodes:
                nodes.add_row(f"n{sid}", " · ".join(lines))
            parts.append(nodes)
        return Group(*parts)


def explainer(backend: Backend, election: Election) -> tuple[Explain, str]:
    """How to explain `election` on `backend` (again and again, while its outage goes on:
    the timeline's newest record of it), and the screen's title."""
    started = election.started_seq
    leader = f"n{election.leader}" if election.leader is not None else "no leader yet"
    title = f"election at {clock_text(election.started_ms)}: {election.status}, {leader}"
    explain = getattr(backend, "explain", None)

    def run() -> Explanation | str:
        if explain is None:
            return "this backend does not explain elections (zkfle explain TRACE does)"
        latest = next(
            (e for e in backend.timeline().elections if e.started_seq == started), election
        )
        if latest.outage is None:
            return (
                "no outage: its nodes rejoined a leader that was serving all along"
                f" (n{latest.leader}); nothing to explain"
            )
        found = explain(latest)
        if found is None:
            return (
                "its events are no longer kept by this console (it keeps the last outages);"
                " zkfle explain on the trace explains every one"
            )
        return found if isinstance(found, Explanation) else str(found)

    return run, title


def _path(x: Explanation) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for name, justify in (("node", "right"), ("phase", "left"), ("start", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("cause", no_wrap=True, style="yellow")
    table.add_column("what")
    widest = max((p.ms for p in x.phases), default=0.0) or 1.0
    for p in x.phases:
        cells = round(BAR * p.ms / widest)
        bar = Text("█" * cells or ("▏" if p.ms > 0 else ""), "red" if p.cause else "cyan")
        table.add_row(
            f"n{p.node}" if p.node is not None else "-",
            p.phase,
            x.clock(p.start),
            ms_text(p.ms),
            bar,
            p.cause or "",
            p.text,
        )
    return table
