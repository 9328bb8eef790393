"""The real console in a pseudo-terminal: what a person sees after launching `zkfle`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from engine.replay.verify import verify
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


def timeline_rows(screen: str) -> list[str]:
    """The rows of the elections timeline as the screen shows them (under its heading)."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("─elections"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith((":", " :", " ‖", " ▶")):
            break
        rows.append(line)
    return rows


def test_crash_all_then_restart_all_gives_the_new_election_its_own_row(tmp_path: Path) -> None:
    # Issue 17, defect 2: n5 wins round 1 again after `restart all`; the timeline keyed
    # elections by (leader, round), so the second election overwrote the first one's row.
    args = ["--sim", "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"leader n5")
        term.wait_until(lambda s: len(timeline_rows(s)) == 1, "the first election's row")
        term.command("crash all")
        term.wait_for(r"crashed n1, n2, n3, n4, n5")
        term.command("restart all")
        term.wait_for(r"restarted n1, n2, n3, n4, n5")

        def won_by_n5(screen: str) -> list[str]:
            return [r for r in timeline_rows(screen) if "n5" in r and "looking" not in r]

        screen = term.wait_until(
            lambda s: len(won_by_n5(s)) == 2, "a row for each of the two elections n5 won"
        )
        assert len(timeline_rows(screen)) == 2
        first, second = timeline_rows(screen)
        assert "start" in first
        assert "quorum lost" in second  # the outage began when the crashes took the quorum
        assert term.quit() == 0


def test_a_healthy_cluster_still_shows_its_election_after_30_s(tmp_path: Path) -> None:
    # Issue 17, defect 10: the leader's PINGs (and the core steps they cause) filled the
    # log's cap within ~20 s at 5 nodes and pushed the election's lines out.
    args = ["--sim", "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"n5 LOOKING → LEADING")
        term.command("speed 25x")
        term.wait_for(r"▶ 25x")
        term.wait_for(r"t (3\d|[4-9]\d)\.\d{3}s", timeout=60)  # 30 s of simulated time
        screen = term.wait_for(r"n5 LOOKING → LEADING").string
        assert re.search(r"n\d LOOKING → FOLLOWING", screen)
        assert re.search(r"⋯ [\d,]+ quiet events", screen)
        assert term.quit() == 0


def test_a_person_crashes_the_leader_by_keys_and_sees_the_next_one_elected(
    tmp_path: Path,
) -> None:
    """Issue 14, item 7: `zkfle` as launched (threads), the leader crashed by keys - its
    sid to select its row, then `c` - the new leader on screen, and `q` quits cleanly:
    exit status 0, and the trace closed with its footer, which the console writes only
    once every node thread has stopped."""
    trace = tmp_path / "t.jsonl"
    with ConsoleTerminal(["--trace", str(trace)], cwd=tmp_path) as term:
        old = int(term.wait_for(r"leader n(\d+)")[1])
        term.press(str(old))
        term.wait_for(rf"^ n{old} .*LEADING")  # its row
        term.press("c")
        term.wait_for(rf"crashed n{old}\b")
        term.wait_for(rf"^ n{old} +down")
        new = int(term.wait_for(rf"leader n(?!{old}\b)(\d+)")[1])
        assert new != old
        term.wait_for(rf"^ n{new} .*LEADING")
        assert term.quit() == 0
    last = json.loads(trace.read_text(encoding="utf-8").splitlines()[-1])
    assert (last["kind"], last["end"]) == ("footer", "ok")


def test_a_break_halts_the_threads_and_the_console_says_which_event_hit(tmp_path: Path) -> None:
    """Issue 14, item 2, as a person sees it: `break on state state=LEADING` on threads, a
    crash of the leader, the header's ‖ and the line naming the breakpoint and event."""
    with ConsoleTerminal(["--no-trace", "--nodes", "3"], cwd=tmp_path) as term:
        old = int(term.wait_for(r"leader n(\d+)")[1])
        term.command("break on state state=LEADING")
        term.wait_for(r"b1: break on state state=LEADING")
        term.command(f"crash {old}")
        term.wait_for(r"‖ stopped: b1: on state state=LEADING at seq \d+ \(n\d+ LEADING round")
        term.wait_for(r" LIVE .*‖ ")
        term.command("clear")
        term.wait_for(r"removed 1 breakpoint")
        term.command("continue")
        term.wait_for(r" LIVE (?!.*‖ )")
        assert term.quit() == 0


def test_commands_typed_in_one_burst_all_run_in_order(tmp_path: Path) -> None:
    """`:write 1⏎:write 2⏎:status⏎` sent at once, as a fast typist or a paste sends them:
    every line runs. The keys behind an Enter were typed onto the line being submitted (so
    only the first ran, or none: `write 1:write 2:status`) before the screen let go of it."""
    args = ["--sim", "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"leader n5")
        term.child.send(":write 1\r:write 2\r:status\r")
        term.wait_for(r"✓ t=[\d.]+s seq=\d+ stable=yes")  # status, the last, ran
        assert "✗" not in term.text, term.text
        assert term.quit() == 0
    # and both writes before it, in order: their command events in the trace
    lines = (tmp_path / "t.jsonl").read_bytes().splitlines()[1:]
    events = [json.loads(line) for line in lines if line.startswith(b"{")]
    ran = [e["text"] for e in events if e.get("kind") == "cmd"]
    assert ran[-3:] == ["write 1", "write 2", "status"], ran  # after the console's start
