"""The real console with its cluster in a child process (issue 13, item 4): `q` ends both
with the trace complete, and a child that dies is one message on a console that stays up."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import orjson

from tests.console.terminal import ConsoleTerminal
from tests.test_live_breakpoints import eventually
from tests.test_remote import gone, last_event


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:
            continue  # ended while we looked
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def console(trace: Path) -> Iterator[tuple[ConsoleTerminal, int]]:
    """The console on a simulated cluster that has elected; the child process it runs in."""
    with ConsoleTerminal(["--sim", "--seed", "7", "--trace", str(trace)], cwd=trace.parent) as term:
        term.wait_for(r"leader n5")
        (child,) = children(term.child.pid)
        yield term, child


def test_q_ends_the_console_and_its_cluster_process_with_the_trace_complete(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "t.jsonl"
    with console(trace) as (term, child):
        assert term.quit() == 0
    assert gone(child)
    footer = last_event(trace)
    assert (footer["kind"], footer["end"]) == ("footer", "ok")


def test_a_cluster_process_that_dies_is_one_message_and_the_console_stays_up(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "t.jsonl"
    with console(trace) as (term, child):
        os.kill(child, signal.SIGKILL)
        term.wait_for(r"stopped: the cluster's process ended \(exit status -9\)")
        term.command("crash 1")
        term.wait_for(r"✗ .*the cluster's process ended")
        term.wait_for(r"leader n5")  # the last view is still shown
        assert term.quit() == 0
        eventually(lambda: f"Trace: {trace}" in term.text, "the trace printed at exit")
    assert gone(child)
    assert "format" in orjson.loads(trace.read_bytes().splitlines()[0])  # the header, kept
