"""`zkfle bench election|failover|zk --plot`: election times as bars in the terminal, ours
against the floor (finalizeWait) and real ZooKeeper, one pair of bars per cluster size.

Pure text: a bar runs to the median, `─┤` carries it on to the slowest repetition, `│`
marks the floor on every bar (inside a bar too). Our own code: a bar chart is a few lines, where a
plotting library would be a dependency for one picture.
"""

from __future__ import annotations

from engine.bench.harness import JSON

WIDTH = 56
"""Columns of the longest bar."""


def _bar(span: JSON, floor_col: int, scale: float) -> str:
    median = round(span["median"] * scale)
    slowest = max(round(span["max"] * scale), median)
    cells = [" "] * (WIDTH + 1)
    for i in range(median):
        cells[i] = "█"
    for i in range(median, slowest):
        cells[i] = "─"
    if slowest > median:
        cells[slowest] = "┤"
    cells[floor_col] = "│"
    return "".join(cells)


def plot_phase(title: str, rows: list[JSON], floor_ms: float) -> list[str]:
    """The chart of one phase (`election` or `failover` rows of a bench result): per size,
    our "took" and, when measured in the same run, ZooKeeper's."""
    bars: list[tuple[str, str, JSON]] = []
    for r in rows:
        if r["took_ms"] is not None:
            bars.append((f"N={r['n']}", "ours", r["took_ms"]))
        zk = (r.get("zookeeper") or {}).get("took_max_ms")
        if zk is not None:
            bars.append(("" if bars and bars[-1][0] == f"N={r['n']}" else f"N={r['n']}", "zk", zk))
    if not bars:
        return [f"{title}: nothing to plot (no repetition became stable)"]
    top = max([floor_ms, *(span["max"] for _, _, span in bars)])
    scale = WIDTH / top
    floor_col = round(floor_ms * scale)
    lines = [f"{title} (ms; █ median, ─┤ slowest, │ floor {floor_ms:.0f} ms)"]
    for size, who, span in bars:
        lines.append(f"  {size:<6}{who:<5}{_bar(span, floor_col, scale)} {span['median']:.0f}")
    lines.append(f"  {'':<11}0{'':<{WIDTH - 1 - len(f'{top:.0f}')}}{top:.0f}")
    return lines


__all__ = ["plot_phase"]
