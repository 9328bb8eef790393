"""The real console in a pseudo-terminal: what a person sees after launching `zkfle`."""

from __future__ import annotations

from pathlib import Path

from tests.console.terminal import ConsoleTerminal


def test_the_console_elects_a_leader_shows_it_and_quits_cleanly(tmp_path: Path) -> None:
    args = ["--sim", "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"LEADING")
        term.wait_for(r"leader n5")
        assert term.quit() == 0
    assert (tmp_path / "t.jsonl").stat().st_size > 0
