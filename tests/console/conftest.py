"""Console test helpers: an isolated history file, and waiting on the UI with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.history import HISTORY_ENV
from console.screens.cluster import ClusterScreen
from engine.control.cluster import Cluster, ClusterOptions


@pytest.fixture(autouse=True)
def history_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own command history file (never the user's)."""
    path = tmp_path / "state" / "history"
    monkeypatch.setenv(HISTORY_ENV, str(path))
    return path


@pytest.fixture
def sim_cluster() -> Iterator[Cluster]:
    """Five nodes on the simulator (seed 1) with n5 leading, not recording."""
    cluster = Cluster(ClusterOptions(nodes=5, runtime="sim", seed=1, record=False))
    try:
        cluster.start()
        assert cluster.wait_stable(10_000)
        yield cluster
    finally:
        cluster.close()


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], what: str = "", timeout: float = 30.0
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


async def enter_command(pilot: Pilot[Any], text: str) -> None:
    """`:` + the text + Enter, with the text inserted at once (typing key by key costs a
    Pilot round trip per key; the tests that are about typing press every key)."""
    await pilot.press("colon")
    screen = cluster_screen(pilot)
    assert screen.typing
    screen.bar.input.insert_text_at_cursor(text)
    await pilot.press("enter")


def cluster_screen(pilot: Pilot[Any]) -> ClusterScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ClusterScreen), f"the current screen is {screen!r}"
    return screen


def cell(screen: ClusterScreen, sid: int, column: str) -> str:
    """The text of one cell of the ensemble strip."""
    return screen.ensemble.get_cell(sid, column).plain


def log_text(screen: ClusterScreen) -> str:
    return "\n".join(line.plain for line in screen.log_view.lines)
