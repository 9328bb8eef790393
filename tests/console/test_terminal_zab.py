"""The real console in a pseudo-terminal shows Zab: a leader's learners (type, phase, sync
mode, ping age, synced), a learner's leader and sync, live and in a replay scrubbed back
and forth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.console.terminal import ConsoleTerminal

EXAMPLES = Path(__file__).resolve().parents[2] / "traces" / "examples"


def row(sid: int, phase: str, sync: str, synced: str) -> str:
    """A row of the learners table (any ping age)."""
    return rf"n{sid} +follower +{phase} +{sync} +\d+ms +{synced}"


@pytest.mark.parametrize("runtime", [["--sim"], []], ids=["sim", "threads"])
def test_the_leader_shows_its_learners_and_a_follower_its_sync(
    tmp_path: Path, runtime: list[str]
) -> None:
    args = [*runtime, "--seed", "7", "--trace", str(tmp_path / "t.jsonl")]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(r"leader n5")
        # n1, selected first, follows n5: by DIFF of the empty history if it synced before
        # the epoch was established, by SNAP at the epoch's zxid after (as from ZooKeeper)
        term.wait_for(r"leader +n5 +synced by (DIFF|SNAP)")
        term.press("down", "down", "down", "down")
        term.wait_for(r"node n5")
        term.wait_for(r"learners \(4\)")
        for sid in (1, 2, 3, 4):
            term.wait_for(row(sid, "BROADCAST", "(DIFF|SNAP)", "✓"))
        term.command("crash 2")
        term.wait_for(r"learners \(3\)")
        assert term.quit() == 0


def test_a_replay_shows_the_learners_at_the_point_scrubbed_to(tmp_path: Path) -> None:
    trace = tmp_path / "failover.jsonl"
    shutil.copyfile(EXAMPLES / "leader_failover.jsonl", trace)
    with ConsoleTerminal(["replay", str(trace)], cwd=tmp_path) as term:
        term.wait_for(r" REPLAY ")
        term.press("down", "down", "down", "down")
        term.wait_for(r"node n5")
        term.command("seek 330")  # n5 leads: n1 not yet synced, the others syncing
        term.wait_for(r"seq 330/\d+")
        term.wait_for(r"n1 +follower +DISCOVERY +- +\d+ms +-")
        term.wait_for(row(2, "SYNCHRONIZATION", "DIFF", "-"))
        term.command("seek 430")
        term.wait_for(r"seq 430/\d+")
        for sid in (1, 2, 3, 4):
            term.wait_for(row(sid, "BROADCAST", "DIFF", "✓"))
        term.command("seek 330")  # and back
        term.wait_for(r"seq 330/\d+")
        term.wait_for(r"n1 +follower +DISCOVERY +- +\d+ms +-")
        assert term.quit() == 0
