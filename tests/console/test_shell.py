"""The shell: piped input gives a transcript and an exit status; completion comes from the
grammar; the interactive prompt runs commands and leaves on quit."""

from __future__ import annotations

import io

from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from console.backend import CommandResult
from console.shell import CommandCompleter, run_shell
from tests.console.fakes import FakeBackend


def transcript(fake: FakeBackend, commands: str) -> tuple[int, str]:
    out = io.StringIO()
    status = run_shell(fake, False, stdin=io.StringIO(commands), out=out)
    return status, out.getvalue()


def test_piped_commands_print_a_transcript_of_commands_events_and_results() -> None:
    fake = FakeBackend()
    status, text = transcript(fake, "status\ncrash leader\nwait until stable\nstatus\n")
    assert status == 0
    assert fake.executed == ["status", "crash leader", "wait until stable", "status"]
    assert fake.closed
    lines = text.splitlines()
    assert lines[0].startswith("zkfle shell: live threaded cluster of 5 nodes, seed 7")
    # the start-up election, then each command echoed with its events and result
    assert any("n5 LOOKING → LEADING leader n5 r1" in line for line in lines)
    crash = lines.index("zkfle> crash leader")
    after = "\n".join(lines[crash:])
    assert "n5 ▼ crash" in after
    assert "n4 LOOKING → LEADING leader n4 r2" in after
    assert "crashed n5" in after
    assert "stable: holds" in after
    assert lines[-2:] == [
        "Trace: traces/20261126-140000-fake.jsonl",
        "Replay it: zkfle replay traces/20261126-140000-fake.jsonl",
    ]


def test_errors_are_messages_and_set_the_exit_status() -> None:
    fake = FakeBackend()
    status, text = transcript(fake, "crash\n# comment\n\nexpect leader == 1\nhelp heal\nstatus\n")
    assert status == 1
    assert "error: crash: expected nodes" in text
    assert "error: leader == 1: did not hold" in text
    assert "heal [all|f<id>]" in text  # help, printed as is
    assert fake.executed == ["expect leader == 1", "status"]


def test_a_failing_backend_never_ends_the_session_with_a_traceback() -> None:
    fake = FakeBackend()

    def broken(text: str) -> CommandResult:
        raise RuntimeError("engine bug")

    fake.execute = broken  # type: ignore[method-assign]
    status, text = transcript(fake, "status\nquit\nstatus\n")
    assert status == 1
    assert "error: internal error: RuntimeError: engine bug" in text
    assert text.count("zkfle> status") == 1  # quit ended the session
    assert "Traceback" not in text


def test_completion_comes_from_the_grammar() -> None:
    fake = FakeBackend()
    completer = CommandCompleter(fake.view)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert "crash" in complete("cr")
    assert complete("crash n")[:5] == ["n1", "n2", "n3", "n4", "n5"]
    assert "leader" in complete("crash l")
    assert "for=" in complete("crash 3 ")
    assert "stable" in complete("wait until s")


def test_the_interactive_prompt_runs_commands_until_quit() -> None:
    fake = FakeBackend()
    with create_pipe_input() as pipe:
        pipe.send_text("crash 5\nstatus\nquit\n")
        with create_app_session(input=pipe, output=DummyOutput()):
            status = run_shell(fake, True, out=io.StringIO())
    assert status == 0
    assert fake.executed == ["crash 5", "status"]
    assert fake.closed
