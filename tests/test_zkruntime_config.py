"""`zkfle shell --runtime zookeeper --config zoo.cfg`: real servers shaped by a user's zoo.cfg.

One ensemble of Debian's ZooKeeper 3.8 (tickTime 200 ms): three participants in two groups
(hierarchical quorums: n1 and n2 in one, n3 alone in the other) and an observer, driven
through the shell with piped commands, as a user would script it. Skipped, with the reason,
where real ZooKeeper cannot run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.trace.format import read_trace
from tests.zkproxied import java_processes_in, skip_without_java

pytestmark = pytest.mark.zk

skip_without_java()

# The ports are placeholders: the runtime gives each server free ports of its own.
ZOO_CFG = """\
tickTime=200
initLimit=10
syncLimit=5
dataDir=/nonexistent/the-runtime-gives-each-server-its-own
clientPort=2181
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889
server.3=127.0.0.1:2890:3890
server.4=127.0.0.1:2891:3891:observer
group.1=1:2
group.2=3
weight.1=1
weight.2=1
weight.3=1
"""

# Under a plain majority n1 and n2 would elect without n3. With these groups a quorum needs
# a majority of the groups' weight in a majority of the groups (QuorumHierarchical), so n3
# alone in its group is needed: without it nobody may lead.
SCRIPT = """\
wait until stable within 90s
status
write 2
wait until n4.last_zxid >= 0x100000002 within 60s
crash 3
wait until n1.state == LOOKING and n2.state == LOOKING within 60s
wait 3s
status
restart 3
wait until stable within 90s
status
"""


def test_a_zoo_cfg_with_groups_and_an_observer_shapes_the_real_ensemble(tmp_path: Path) -> None:
    (tmp_path / "zoo.cfg").write_text(ZOO_CFG)
    data = tmp_path / "servers"
    trace = tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "console.cli", "shell", "--runtime", "zookeeper"]
    command += ["--config", "zoo.cfg", "--data-dir", str(data), "--trace", str(trace)]
    try:
        done = subprocess.run(
            command,
            input=SCRIPT,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=400,
            check=False,
        )
    finally:
        assert java_processes_in(data) == []
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.startswith("zkfle shell: live zookeeper 3.8"), out
    assert "cluster of 4 nodes" in out.splitlines()[0]
    statuses = [part.split("\n\n")[0] for part in out.split("zkfle> status\n")[1:]]
    assert len(statuses) == 3, out

    def line(status: str, sid: int) -> str:
        (found,) = [s for s in status.splitlines() if s.startswith(f"n{sid} ")]
        return found

    # The observer observes; what it proposes on the wire (Long.MIN_VALUE) is never shown as
    # its zxid.
    assert " OBSERVING " in line(statuses[0], 4)
    assert "-0x" not in out
    # Without n3 the two others are not a quorum: they look, and nobody leads.
    assert "no quorum: 2 up, 3 needed" in statuses[1], statuses[1]
    assert " down " in line(statuses[1], 3)
    assert "stable=yes" in statuses[2]

    # Log events carry the server's own time, so the window is taken by time, not by seq.
    events = list(read_trace(trace))
    crash = next(
        e["t_ms"]
        for e in events
        if e["kind"] == "stop" and e.get("node") == 3 and e.get("reason") == "crash"
    )
    restart = next(e["t_ms"] for e in events if e["kind"] == "cmd" and e["text"] == "restart 3")
    # (a log line's time is whole ms of the server's clock: 1 ms of slack before the kill)
    between = [e for e in events if crash - 1 < e["t_ms"] < restart]
    assert not [e for e in between if e.get("state") == "LEADING"], "a leader without n3"
    assert {e.get("node") for e in between if e["kind"] == "election"} >= {1, 2}
