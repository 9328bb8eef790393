"""Pilot tests of the live console on a scripted backend: what the screen shows for given
views and events, what typed commands and keys execute, and that nothing crashes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.command import Hit

from console.app import CommandsProvider, ZkfleApp, exit_message
from console.backend import CommandResult
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.widgets.commandbar import CommandInput
from console.widgets.ensemble import EnsembleTable
from console.widgets.log import LOG_CAP
from tests.console.conftest import cell, cluster_screen, enter_command, log_text, wait_for
from tests.console.fakes import FakeBackend, FakeReplay, recorded_failover


async def test_starts_on_a_backend_and_shows_the_leader() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(80, 24)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        assert cell(screen, 5, "state") == "LEADING"
        assert [cell(screen, s, "state") for s in (1, 2, 3, 4)] == ["FOLLOWING"] * 4
        header = screen.header.text
        assert "LIVE  threaded" in header
        assert "seq 60" in header
        assert "leader n5 · quorum 5/5" in header
        wide = screen.header.line(160).plain
        assert "seed 7" in wide
        assert "fake.jsonl" in wide
        assert "r1 n5 e1" in screen.timeline.text
        assert "n5 LOOKING → LEADING leader n5 r1" in log_text(screen)
        # the detail pane shows the selected node (n1) with its recvset
        assert screen.ensemble.selected_sid == 1
        assert screen.detail.border_title == "node n1"


async def test_space_halts_and_runs_a_threaded_cluster_and_n_steps_it() -> None:
    """README: space runs/halts the cluster, on threads too; a halted one steps with n."""
    fake = FakeBackend(runtime="threaded")
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None, "the first view")
        await pilot.press("space")
        await wait_for(pilot, lambda: fake.executed == ["halt"], "halt")
        await pilot.press("n", "N")
        await wait_for(pilot, lambda: fake.executed[1:] == ["step", "step 10"], "two steps")
        await pilot.press("space")
        await wait_for(pilot, lambda: fake.executed[3:] == ["run"], "run")
        await pilot.press("plus")  # a speed is the simulator's and a replay's only
        assert fake.executed[4:] == []


async def test_typed_crash_executes_and_the_new_view_shows_the_failover() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(80, 24)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("colon", *"crash 5", "enter")
        await wait_for(pilot, lambda: cell(screen, 4, "state") == "LEADING", "n4 leading")
        assert fake.executed == ["crash 5"]
        assert cell(screen, 5, "state") == "down"
        assert "✓ crashed n5" in screen.bar.hint_text
        log = log_text(screen)
        assert "› crash 5  crashed n5" in log
        assert "n5 ▼ crash" in log
        assert "n4 LOOKING → LEADING leader n4 r2" in log
        await wait_for(pilot, lambda: "r2 n4 e2" in screen.timeline.text, "the second election")
        # the typed command went to the history, the input is empty and unfocused again
        assert screen.history.entries[-1] == "crash 5"
        assert screen.bar.input.value == ""
        assert not screen.typing


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("crash", "crash: expected nodes"),
        ("explode 3", 'unknown command "explode"'),
        ("partition 1,2|2,3", "node 2 is in two groups"),
    ],
)
async def test_a_bad_command_shows_the_error_and_calls_nothing(typed: str, message: str) -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.pause()
        before = fake.view()
        await pilot.press("colon", *typed, "enter")
        await wait_for(pilot, lambda: "✗" in screen.bar.hint_text, "the error")
        assert message in screen.bar.hint_text
        assert fake.executed == []
        assert fake.view() == before
        # the command line is empty again (issue 17); the line is in the history to be fixed
        assert screen.bar.input.value == ""
        assert not screen.typing
        await pilot.press("colon", "up")
        assert screen.bar.input.value == typed


async def test_a_command_the_backend_refuses_changes_nothing_and_says_why() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "crash 9")
        await wait_for(pilot, lambda: fake.executed == ["crash 9"], "the command")
        await wait_for(pilot, lambda: "no node 9" in screen.bar.hint_text, "the error")
        assert cell(screen, 5, "state") == "LEADING"
        assert "› crash 9  no node 9 in this cluster" in log_text(screen)


async def test_a_result_of_several_lines_is_shown_line_by_line_until_esc() -> None:
    # Issue 17: `status`, `faults`, `breaks` showed only their first line under the prompt.
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await enter_command(pilot, "status")
        await wait_for(pilot, lambda: fake.executed == ["status"], "the command")
        nodes = fake.status_text().splitlines()[1:]  # a line per node, after a summary
        await wait_for(pilot, lambda: nodes[-1] in screen.bar.hint_text, "the last line")
        shown = screen.bar.hint_text.splitlines()
        assert shown[0].startswith("✓ t=")
        assert [line.strip() for line in shown[1:]] == [line.strip() for line in nodes]
        await pilot.press("escape")
        assert screen.bar.hint_text == ""
        # a result longer than a third of the screen is cut, and says where the rest is
        lines = "\n".join(f"line {i}" for i in range(40))
        screen.show_result("status", CommandResult(True, lines))
        await pilot.pause()
        shown = screen.bar.hint_text.splitlines()
        assert len(shown) == 10
        assert shown[0] == "✓ line 0"
        assert shown[-1].strip() == "… 31 more lines in the message log"


async def test_completion_offers_verbs_node_ids_and_words() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 30)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("colon", "c", "r", "tab")
        assert screen.bar.input.value == "crash "
        assert "crash <nodes> [for=<dur>]" in screen.bar.hint_text
        await pilot.press("tab")
        hint = screen.bar.hint_text
        for word in ("n1", "n5", "leader", "followers", "majority"):
            assert word in hint
        # a second Tab cycles through the candidates
        await pilot.press("tab")
        assert screen.bar.input.value == "crash n1 "
        await pilot.press("tab")
        assert screen.bar.input.value == "crash n2 "
        # Tab extends a common prefix, then lists what is left
        await pilot.press(*("backspace" for _ in "n2 "), "l", "e", "tab")
        assert screen.bar.input.value == "crash leader "
        await pilot.press("f", "o", "r", "tab")
        assert screen.bar.input.value == "crash leader for="
        assert fake.executed == []


async def test_history_is_kept_across_runs(history_file: Path) -> None:
    async with ZkfleApp(FakeBackend()).run_test() as pilot:
        await enter_command(pilot, "status")
        await enter_command(pilot, "mark one")
        await wait_for(pilot, lambda: history_file.exists(), "the history file")
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test() as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("colon", "up")
        assert screen.bar.input.value == "mark one"
        await pilot.press("up")
        assert screen.bar.input.value == "status"
        await pilot.press("down", "down")
        assert screen.bar.input.value == ""
        # up with a prefix only walks the lines that start with it
        await pilot.press("s", "up")
        assert screen.bar.input.value == "status"


async def test_keys_act_on_the_selected_node() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("down", "down")
        assert screen.ensemble.selected_sid == 3
        await pilot.press("c")
        await wait_for(pilot, lambda: cell(screen, 3, "state") == "down", "n3 down")
        await pilot.press("r")
        await wait_for(pilot, lambda: cell(screen, 3, "state") == "FOLLOWING", "n3 back")
        await pilot.press("p")
        await wait_for(pilot, lambda: "paused" in cell(screen, 3, "flags"), "n3 paused")
        await pilot.press("p")
        await wait_for(pilot, lambda: "paused" not in cell(screen, 3, "flags"), "n3 resumed")
        await pilot.press("i")
        await wait_for(pilot, lambda: "f2" in cell(screen, 3, "flags"), "n3 isolated")
        assert cell(screen, 3, "state") == "LOOKING"
        await pilot.press("i")
        await wait_for(pilot, lambda: cell(screen, 3, "state") == "FOLLOWING", "n3 healed")
        await pilot.press("5", "m")
        await wait_for(pilot, lambda: len(fake.executed) == 7, "seven commands")
        assert screen.ensemble.selected_sid == 5
        assert fake.executed == [
            "crash 3",
            "restart 3",
            "pause 3",
            "resume 3",
            "isolate 3",
            "heal f2",
            "mark",
        ]


async def test_message_keys_act_on_the_message_selected_in_the_log() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("x")  # nothing selected in the log yet
        assert "select a message in the log first" in screen.bar.hint_text
        await pilot.press("l")
        assert screen.focused is screen.log_view
        sends = [line for line in screen.log_view.shown if line.kind == "send"]
        last_send = sends[-1]
        index = screen.log_view.shown.index(last_send)
        await pilot.press(*["up"] * (len(screen.log_view.shown) - index))
        assert screen.log_view.selected is last_send
        assert f"x drop {last_send.msg}" in screen.bar.hint_text
        await pilot.press("x", "d", "h")
        await wait_for(pilot, lambda: len(fake.executed) == 3, "three commands")
        src, dst = last_send.link or (0, 0)
        assert fake.executed == [
            f"drop {last_send.msg}",
            f"deliver {last_send.msg}",
            f"hold {src}->{dst}",
        ]
        assert "not in flight" in log_text(screen)


async def test_single_keys_are_off_while_the_command_line_has_the_focus() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test() as pilot:
        screen = cluster_screen(pilot)
        await pilot.press("colon", "c", "r", "p", "question_mark", "q", "space", "slash")
        assert screen.bar.input.value == "crp?q /"
        assert isinstance(screen.focused, CommandInput)
        assert not isinstance(pilot.app.screen, HelpScreen)
        assert screen.check_action("crash", ()) is False
        await pilot.press("escape")
        assert isinstance(screen.focused, EnsembleTable)
        assert screen.bar.input.value == ""
        assert fake.executed == []
        assert screen.check_action("crash", ()) is True


async def test_keys_typed_at_once_after_colon_all_reach_the_command_line() -> None:
    """A paste, or fast typing: the keys after `:` are queued before the focus moves."""
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await pilot.pause()
        driver = pilot.app._driver
        assert driver is not None
        for char in ":pause 1,2":
            key = {":": "colon", " ": "space", ",": "comma"}.get(char, char)
            event = events.Key(key, char)
            event.set_sender(pilot.app)
            driver.send_message(event)
        await wait_for(pilot, lambda: screen.bar.input.value == "pause 1,2", "the typed text")
        await pilot.press("enter")
        await wait_for(pilot, lambda: fake.executed == ["pause 1,2"], "only the typed command")
        await pilot.press("escape", "colon", "escape", "c")  # after Esc keys act again
        await wait_for(pilot, lambda: fake.executed[-1:] == ["crash 1"], "the key")


async def test_question_mark_opens_help_generated_from_the_grammar() -> None:
    async with ZkfleApp(FakeBackend()).run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        body = pilot.app.screen.plain
        assert "partition <groups> [options]" in body
        assert "Cut the cluster into groups" in body
        assert "Crash" in body  # the keys
        await pilot.press("escape")
        screen = cluster_screen(pilot)
        await enter_command(pilot, "help heal")
        assert isinstance(pilot.app.screen, HelpScreen)
        body = pilot.app.screen.plain
        assert "heal [all|f<id>]" in body
        await pilot.press("q")
        assert cluster_screen(pilot) is screen


async def test_slash_filters_the_log_and_escape_clears_it() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.log_view.lines, "log lines")
        await pilot.press("slash", *"took")
        shown = [line.plain for line in screen.log_view.shown]
        assert len(shown) == 5
        assert all("took" in line for line in shown)
        assert screen.log_view.border_title == "messages /took"
        await pilot.press("enter")
        assert not screen.typing
        assert len(screen.log_view.shown) == 5
        await pilot.press("slash", "escape")
        assert len(screen.log_view.shown) == len(screen.log_view.lines)
        await pilot.press("slash", *"!send !deliver")
        kinds = {line.kind for line in screen.log_view.shown}
        assert kinds == {"state", "boot"}


async def test_lines_that_come_after_a_filter_or_v_obey_them() -> None:
    """The filter and `v` apply to what arrives later, not only to what was there."""
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        log = screen.log_view
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the election")
        await pilot.press("slash", *"!deliver", "enter")
        before = len(log.shown)
        fake.storm(40)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the storm")
        assert [line.kind for line in log.shown[before:]] == ["send"] * 40
        assert all(line.kind != "deliver" for line in log.shown)
        await pilot.press("slash", "escape", "v")
        fake.heartbeats(3)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the PINGs")
        assert [line.kind for line in log.shown[-3:]] == ["zsend", "zdeliver", "step"]
        assert "PING" in log.shown[-3].plain


async def test_backend_failures_are_messages_and_the_console_recovers() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test() as pilot:
        screen = cluster_screen(pilot)
        await pilot.pause()
        fake.fail = RuntimeError("the engine fell over")
        await wait_for(pilot, lambda: "the engine fell over" in screen.bar.hint_text, "error")
        assert "RuntimeError" in screen.bar.hint_text
        fake.fail = None
        await pilot.press("c")  # still responsive; n1 is selected
        await wait_for(pilot, lambda: cell(screen, 1, "state") == "down", "n1 down")

        def broken(text: str) -> CommandResult:
            raise KeyError(text)

        fake.execute = broken  # type: ignore[method-assign]
        await enter_command(pilot, "status")
        await wait_for(pilot, lambda: "internal error: KeyError" in screen.bar.hint_text)
        assert pilot.app.is_running


async def test_odd_events_and_views_are_shown_not_fatal() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(120, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None)
        for odd in (
            {"kind": "state", "node": "x", "vote": 5, "took_ms": "slow"},
            {"kind": "drop", "from": None, "msg": 3},
            {"kind": "invariant", "ok": False},
            {"kind": "from-the-future", "node": 2, "answer": 42},
            {"kind": "step", "node": 1, "input": [], "output": {"sends": [1, {"to": "x"}]}},
        ):
            fake.emit(**odd)
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the odd events")
        text = log_text(screen)
        assert "n2 from-the-future {'answer': 42}" in text
        assert "dropped: ?" in text
        assert "!! ? violated" in text
        assert pilot.app.is_running
        assert "display:" not in screen.bar.hint_text


async def test_layouts_render_at_80x24_and_160x50() -> None:
    for size, wide in (((80, 24), False), ((160, 50), True)):
        fake = FakeBackend()
        async with ZkfleApp(fake).run_test(size=size) as pilot:
            screen = cluster_screen(pilot)
            await wait_for(pilot, lambda: cluster_screen(pilot).cluster_view is not None)
            await pilot.pause()
            for widget in (screen.header, screen.ensemble, screen.detail, screen.log_view):
                assert widget.region.height > 0, widget
                assert widget.region.width > 0, widget
                assert widget.region.right <= size[0]
            # all five nodes are visible in the strip
            assert screen.ensemble.region.height >= 6
            assert ("sendq" in screen.ensemble.columns) == wide
            assert screen.log_view.region.height >= (8 if not wide else 30)
            assert ("leader  epoch  round     took" in screen.timeline.text) or not wide
            svg = pilot.app.export_screenshot()
            assert "LEADING" in svg


async def test_a_message_storm_on_nine_nodes_is_capped_and_coalesced() -> None:
    fake = FakeBackend(9)
    async with ZkfleApp(fake).run_test(size=(120, 40)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: screen.cluster_view is not None)
        calls = fake.view_calls
        fake.storm(20_000)  # 40k events arrive between two frames
        await wait_for(pilot, lambda: screen.last_seq == len(fake.events), "the storm seen")
        assert fake.view_calls - calls < 10  # one view per frame, not per event
        assert len(screen.log_view.lines) <= LOG_CAP + LOG_CAP // 4
        assert screen.log_view.lines[-1].seq == len(fake.events)
        await enter_command(pilot, "crash 9")
        await wait_for(pilot, lambda: cell(screen, 9, "state") == "down", "still responsive")


async def test_lamps_follow_invariants_and_stability() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(160, 30)) as pilot:
        screen = cluster_screen(pilot)
        await wait_for(pilot, lambda: "leader n5" in screen.header.text)
        for sid in (5, 4, 3):
            fake.execute(f"crash {sid}")
        await wait_for(pilot, lambda: "electing" in screen.header.text, "liveness waiting")
        fake.emit(
            "invariant", name="LeaderHasQuorum", ok=False, detail="n2 led alone", at=3, node=2
        )
        await wait_for(pilot, lambda: "LeaderHasQuorum at seq" in screen.header.text)
        assert "!! LeaderHasQuorum violated: n2 led alone" in log_text(screen)


async def test_the_palette_offers_the_commands() -> None:
    fake = FakeBackend()
    async with ZkfleApp(fake).run_test(size=(100, 30)) as pilot:
        screen = cluster_screen(pilot)
        provider = CommandsProvider(screen, None)
        hits = [hit async for hit in provider.search("partition")]
        assert isinstance(hits[0], Hit)
        assert "partition" in str(hits[0].match_display)
        discovered = [hit async for hit in provider.discover()]
        assert len(discovered) > 30
        await pilot.press("ctrl+p")
        await pilot.press(*"faults")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: fake.executed == ["faults"], "faults from the palette")
        await pilot.press("ctrl+p", *"isolate")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.bar.input.value == "isolate ", "isolate typed")


async def test_replay_on_the_command_line_asks_before_it_stops_the_live_cluster() -> None:
    # Issue 17: `replay FILE` on a live console asks first; nothing is lost on "no".
    fake = FakeBackend()
    opened: list[FakeReplay] = []

    def opener(path: str) -> FakeReplay:
        if path == "bad.jsonl":
            raise ValueError("bad.jsonl:3: not JSON")
        opened.append(FakeReplay(recorded_failover(), path))
        return opened[-1]

    app = ZkfleApp(fake, open_replay=opener)
    async with app.run_test(size=(100, 30)) as pilot:
        live = cluster_screen(pilot)
        await enter_command(pilot, "replay bad.jsonl")  # a bad file: no question, a reason
        await wait_for(pilot, lambda: "bad.jsonl:3: not JSON" in live.bar.hint_text)
        assert pilot.app.screen is live
        await enter_command(pilot, "replay traces/x.jsonl")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
        question = pilot.app.screen
        assert isinstance(question, ConfirmScreen)
        assert "Stop the live cluster and replay traces/x.jsonl?" in question.plain
        assert "traces/20261126-140000-fake.jsonl" in question.plain  # where its trace is
        await pilot.press("escape")  # no
        await wait_for(pilot, lambda: pilot.app.screen is live, "back on the live cluster")
        await wait_for(pilot, lambda: "not opened" in live.bar.hint_text)
        assert not fake.closed
        assert opened[0].closed  # the replay that was not wanted
        await enter_command(pilot, "replay traces/x.jsonl")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
        await pilot.press("enter")  # yes
        await wait_for(pilot, lambda: pilot.app.screen is not live, "the replay screen")
        replay = cluster_screen(pilot)
        assert replay.replay
        assert replay.backend is opened[-1]
        await wait_for(pilot, lambda: "REPLAY" in replay.header.text)
        await wait_for(pilot, lambda: fake.closed, "the live cluster stopped")
        await wait_for(pilot, lambda: "closed the live cluster" in replay.bar.hint_text)
        assert live not in pilot.app.screen_stack


async def test_quit_closes_every_backend_and_names_the_traces() -> None:
    fake = FakeBackend()
    app = ZkfleApp(fake)
    async with app.run_test() as pilot:
        await enter_command(pilot, "quit")
        await wait_for(pilot, lambda: not pilot.app.is_running, "exit")
    traces = app.close_backends()
    assert fake.closed
    assert traces == ["traces/20261126-140000-fake.jsonl"]
    assert exit_message(traces) == (
        "Trace: traces/20261126-140000-fake.jsonl\n"
        "Replay it: zkfle replay traces/20261126-140000-fake.jsonl"
    )
