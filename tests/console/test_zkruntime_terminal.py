"""The real console in a pseudo-terminal on three real ZooKeeper servers
(`zkfle --runtime zookeeper`): a leader shows, the header names the runtime and its version,
and quitting leaves no JVM behind.

Needs java and Debian's `zookeeper` package; skipped otherwise (with the reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime.zookeeper.server import java_missing, zookeeper_version
from engine.trace.format import read_trace
from tests.console.terminal import ConsoleTerminal
from tests.zkproxied import java_processes_in

pytestmark = pytest.mark.zk

MISSING = java_missing()
if MISSING is not None:
    pytest.skip(f"real ZooKeeper cannot run here: {MISSING}", allow_module_level=True)

JAVA_DEADLINE_S = 90.0


def test_the_console_on_real_servers_shows_a_leader_and_leaves_no_java(tmp_path: Path) -> None:
    data = tmp_path / "servers"
    trace = tmp_path / "t.jsonl"
    args = ["--runtime", "zookeeper", "--nodes", "3", "--tick", "200"]
    args += ["--data-dir", str(data), "--trace", str(trace)]
    with ConsoleTerminal(args, cwd=tmp_path) as term:
        term.wait_for(rf"zookeeper {zookeeper_version()}")
        term.wait_for(r"LEADING", JAVA_DEADLINE_S)
        term.wait_for(r"leader n\d", JAVA_DEADLINE_S)
        # the live model check of what the servers logged (issue 10)
        term.wait_for(r"check: ok \(\d+ events\)")
        assert len(java_processes_in(data)) == 3
        term.command("crash leader")
        term.wait_for(r"crashed n\d")
        assert term.quit() == 0
    assert java_processes_in(data) == []
    assert read_trace(trace).header["runtime"] == "zookeeper"
