"""The `r` key in the real console (issue 17, defect 9): it restarted running nodes too."""

from __future__ import annotations

from pathlib import Path

from tests.console.terminal import ConsoleTerminal


def test_r_on_a_running_node_says_it_is_running_and_on_a_crashed_one_restarts_it(
    tmp_path: Path,
) -> None:
    args = ["--sim", "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"leader n5")
        term.press("r")  # the selected node, n1, runs
        term.wait_for(r"restart: n1 is running")
        term.command("crash 1")
        term.wait_for(r"crashed n1")
        term.press("r")
        term.wait_for(r"restarted n1")
        term.wait_for(r"leader n5")
        assert term.quit() == 0
