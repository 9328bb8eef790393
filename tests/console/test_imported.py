"""The console replaying an imported trace of real ZooKeeper servers: every panel the logs
can fill is filled, the rest says unknown."""

from __future__ import annotations

from pathlib import Path

from console.app import ZkfleApp
from engine.replay.player import Replayer
from engine.replay.zkimport.importer import import_logs
from tests.console.conftest import cell, cluster_screen, enter_command, wait_for
from tests.zklogs import DATA


async def test_the_console_shows_what_real_servers_logged(tmp_path: Path) -> None:
    path = tmp_path / "failover.jsonl"
    import_logs([DATA / "3.8-failover"], path)
    replay = Replayer(path)
    try:
        async with ZkfleApp(replay).run_test(size=(140, 45)) as pilot:
            screen = cluster_screen(pilot)
            await wait_for(pilot, lambda: "REPLAY" in screen.header.text, "the replay header")
            assert "imported" in screen.header.text
            await enter_command(pilot, f"seek {replay.total}")
            await wait_for(pilot, lambda: replay.position == replay.total, "the end")
            await wait_for(pilot, lambda: cell(screen, 2, "state") == "LEADING")
            assert cell(screen, 1, "state") == "FOLLOWING"
            assert cell(screen, 1, "lc") == "2"
            assert cell(screen, 1, "vote") == "r2 e2 n2"
            assert cell(screen, 3, "vote") == "r? e? n2"  # only the leader is known
            for column in ("recvset", "rq", "fq", "sq"):
                assert cell(screen, 1, column) == "?"
            assert cell(screen, 1, "epoch") == "1/?"
            detail = screen.detail.plain
            assert "n1 FOLLOWING  from its log" in detail
            assert "finalizing unknown" in detail
            assert "recv unknown" in detail
            assert "unknown (the log does not show it)" in detail
            assert "last took  221ms" in detail
            await wait_for(pilot, lambda: "n2" in screen.timeline.text, "the elections")
            assert "n3" in screen.timeline.text
            shown = "\n".join(line.plain for line in screen.log_view.shown)
            assert "n3 ⇠ n2 LEADING r2 e2 0x0 n2" in shown
            assert " INFO " not in shown  # the other log lines wait behind `v`
            quiet = "\n".join(line.plain for line in screen.log_view.quiet)
            assert " INFO Reading configuration from" in quiet
            await pilot.press("f")  # fork: refused with a reason, the console stays
            await wait_for(pilot, lambda: "fork:" in screen.bar.hint_text, "the refusal")
            assert "no cores to continue from" in screen.bar.hint_text
    finally:
        replay.close()
