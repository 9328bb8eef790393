"""The real console in a pseudo-terminal: what a person sees after launching `zkfle`."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.replay import verify
from tests.console.terminal import ConsoleTerminal

EXAMPLES = Path(__file__).resolve().parents[2] / "traces" / "examples"


def test_the_console_elects_a_leader_shows_it_and_quits_cleanly(tmp_path: Path) -> None:
    args = ["--sim", "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"LEADING")
        term.wait_for(r"leader n5")
        assert term.quit() == 0
    assert (tmp_path / "t.jsonl").stat().st_size > 0


def _clock_and_seq(term: ConsoleTerminal) -> tuple[float, int]:
    """The header's clock (in seconds) and seq."""
    m = term.wait_for(r"│ t (?:(\d+)m)?([\d.]+)s │ seq (\d+) │")
    return int(m[1] or 0) * 60 + float(m[2]), int(m[3])


def test_a_fork_of_a_replay_runs_with_space_and_q_goes_back_to_the_replay(
    tmp_path: Path,
) -> None:
    # Issue 17, defect 1: after `f`, space said "running" while time and seq stood still.
    trace = tmp_path / "failover.jsonl"
    shutil.copyfile(EXAMPLES / "leader_failover.jsonl", trace)
    with ConsoleTerminal(["replay", str(trace)], cwd=tmp_path) as term:
        term.wait_for(r" REPLAY ")
        term.command("seek 300")
        term.wait_for(r"seq 300/\d+")
        term.press("f")
        term.wait_for(r" LIVE .*‖ 1x")  # the fork waits, halted, at its step
        t0, seq0 = _clock_and_seq(term)
        term.press(" ")
        term.wait_for(r" LIVE .*▶ 1x")
        term.wait_until(
            lambda _: _clock_and_seq(term)[0] > t0 + 0.5 and _clock_and_seq(term)[1] > seq0,
            "the fork's clock and seq to advance",
        )
        term.press("q")
        term.wait_for(r" REPLAY .*seq 300 ")
        term.wait_for(r"closed the fork; its trace:")
        assert term.quit() == 0
    forks = list((tmp_path / "traces").glob("*-fork.jsonl"))
    assert len(forks) == 1
    assert verify(forks[0]).ok
