"""A cluster of `zkfle node` processes on 127.0.0.1, watched through the lines they print.

Each node is `python -m engine.runtime.node --config zoo.cfg --myid N` with its own data directory
and trace. A reader thread per process stamps every line it prints with the monotonic
clock, so elections are timed from what the nodes say: a leader's "epoch E established
with a quorum" and its learners' "synced with leader L, epoch E".
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.replay.cores import ReplayError
from engine.replay.verify import verify
from tests.test_tcp import LOCAL, free_ports
from tools.reliability import Outcome

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0

_ESTABLISHED = re.compile(r"n(\d+): LEADING: epoch (\d+) established")
_SYNCED = re.compile(r"n(\d+): (?:FOLLOWING|OBSERVING): synced with leader (\d+), epoch (\d+)")


def verify_traces(traces: list[Path], where: str, outcome: Outcome) -> None:
    """Every trace re-executes identically with its invariants, and none has a torn line
    (a node writes whole lines: even SIGKILL leaves none)."""
    for trace in traces:
        try:
            result = verify(trace)
        except ReplayError as e:
            outcome.fail(f"{where}: {trace.name}: unreadable: {e}")
            continue
        if not result.ok:
            what = result.divergence.report() if result.divergence else result.violations
            outcome.fail(f"{where}: {trace.name} does not verify: {what}")
        if result.torn_line is not None:
            outcome.fail(f"{where}: {trace.name} has a torn line {result.torn_line}")
        outcome.add("traces verified")
        outcome.add("events verified", result.events)


@dataclass
class _Proc:
    sid: int
    popen: subprocess.Popen[bytes]
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: threading.Thread | None = None


class NodeCluster:
    """`n` zkfle node processes; `start()`, then watch, crash and restart them."""

    def __init__(self, work: Path, n: int = 3, tick_ms: int = 200) -> None:
        self.work = work
        self.sids = list(range(1, n + 1))
        ports = free_ports(2 * n)
        self.quorum_ports = {s: ports[2 * s - 2] for s in self.sids}
        self.election_ports = {s: ports[2 * s - 1] for s in self.sids}
        lines = [f"tickTime={tick_ms}", "initLimit=10", "syncLimit=5"]
        lines += [
            f"server.{s}={LOCAL}:{self.quorum_ports[s]}:{self.election_ports[s]}" for s in self.sids
        ]
        self.cfg = work / "zoo.cfg"
        self.cfg.write_text("\n".join(lines) + "\n")
        self.procs: dict[int, _Proc] = {}
        """The current process of each node."""
        self.history: list[_Proc] = []
        """Every process started, in order."""
        self.paused: set[int] = set()
        self.lives: dict[int, int] = dict.fromkeys(self.sids, 0)
        self._lock = threading.Lock()

    def trace(self, sid: int, life: int) -> Path:
        return self.work / f"n{sid}.{life}.jsonl"

    def start(self, sid: int) -> None:
        self.lives[sid] += 1
        popen = subprocess.Popen(
            [
                *(sys.executable, "-m", "engine.runtime.node", "--config", str(self.cfg)),
                *("--myid", str(sid), "--data-dir", str(self.work / f"n{sid}")),
                *("--trace", str(self.trace(sid, self.lives[sid])), "--seed", str(sid)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        proc = _Proc(sid, popen)
        proc.reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        proc.reader.start()
        with self._lock:
            self.procs[sid] = proc
            self.history.append(proc)
            self.paused.discard(sid)

    def start_all(self) -> float:
        t0 = time.monotonic()
        for sid in self.sids:
            self.start(sid)
        return t0

    def _read(self, proc: _Proc) -> None:
        assert proc.popen.stdout is not None
        for raw in proc.popen.stdout:
            with self._lock:
                proc.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def alive(self) -> list[int]:
        with self._lock:
            return sorted(s for s, p in self.procs.items() if p.popen.poll() is None)

    def established(self, since: float) -> tuple[int, int, float] | None:
        """(leader, epoch, when) if, by the last lines the running nodes printed, one of
        them leads an established epoch - established after `since` - and every other one
        is synced with it in that epoch; else None."""
        current: dict[int, tuple[str, int, int, float]] = {}
        with self._lock:
            running = [
                (sid, proc)
                for sid, proc in self.procs.items()
                if proc.popen.poll() is None and sid not in self.paused
            ]
            for sid, proc in running:
                for t, line in proc.lines:
                    if m := _ESTABLISHED.match(line):
                        current[sid] = ("lead", sid, int(m.group(2)), t)
                    elif m := _SYNCED.match(line):
                        current[sid] = ("sync", int(m.group(2)), int(m.group(3)), t)
                    elif not line.startswith(f"n{sid}: trace"):
                        current.pop(sid, None)  # started, decided, went LOOKING, stopped
        for sid, _ in running:
            state = current.get(sid)
            if state is None or state[0] != "lead" or state[3] < since:
                continue
            epoch = state[2]
            synced = [current.get(other) for other, _ in running if other != sid]
            if all(f is not None and f[:3] == ("sync", sid, epoch) for f in synced):
                return sid, epoch, max([state[3], *(f[3] for f in synced if f is not None)])
        return None

    def started(self) -> list[int]:
        """The running nodes whose current process has printed a line: it has imported
        zkfle, listens and elects (a node prints its first line once `TcpNode.start`
        returned)."""
        with self._lock:
            return sorted(
                sid
                for sid, proc in self.procs.items()
                if proc.popen.poll() is None and sid not in self.paused and proc.lines
            )

    def wait_started(self, deadline_s: float = DEADLINE_S) -> float:
        """Wait until every running node has started (`started`); returns when. A node
        restarted on a loaded machine may spend many seconds importing before it runs any
        of the election: time no election bound should count."""
        end = time.monotonic() + deadline_s
        while (now := time.monotonic()) < end:
            if self.started() == [s for s in self.alive() if s not in self.paused]:
                return now
            time.sleep(0.01)  # polling what the nodes printed, with a deadline
        late = sorted(set(self.alive()) - self.paused - set(self.started()))
        raise TimeoutError(
            f"{', '.join(f'n{s}' for s in late)} printed nothing within {deadline_s:.0f} s"
            " of starting (still importing: the machine starves them)"
        )

    def wait_established(
        self, since: float, deadline_s: float = DEADLINE_S
    ) -> tuple[int, int, float]:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            found = self.established(since)
            if found is not None:
                return found
            time.sleep(0.01)  # polling what the nodes printed, with a deadline
        raise TimeoutError(f"no leader established within {deadline_s:.0f} s:\n{self.output()}")

    def kill(self, sid: int) -> float:
        """SIGKILL (a crash): peers see EOF at once. Returns when it happened."""
        with self._lock:
            proc = self.procs[sid]
        t = time.monotonic()
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(DEADLINE_S)
        return t

    def pause(self, sid: int) -> None:
        """SIGSTOP: the node keeps its state and sockets but does nothing (peers see
        silence, not EOF)."""
        with self._lock:
            proc = self.procs[sid]
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGSTOP)
                self.paused.add(sid)

    def resume(self, sid: int) -> None:
        with self._lock:
            proc = self.procs[sid]
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGCONT)
            self.paused.discard(sid)

    def leaders(self) -> list[tuple[int, int, int]]:
        """(epoch, sid, life) of every leadership established, in every life of every node."""
        out = []
        with self._lock:
            for proc in self.history:
                for _, line in proc.lines:
                    if m := _ESTABLISHED.match(line):
                        out.append((int(m.group(2)), int(m.group(1)), id(proc)))
        return sorted(out)

    def stop_all(self) -> dict[int, int | None]:
        """SIGTERM every running node (a clean stop: traces get their footers); returns the
        exit codes."""
        with self._lock:
            procs = list(self.procs.values())
        for sid in sorted(self.paused):
            self.resume(sid)
        for p in procs:
            if p.popen.poll() is None:
                p.popen.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        for p in procs:
            try:
                codes[p.sid] = p.popen.wait(DEADLINE_S)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                codes[p.sid] = p.popen.wait(DEADLINE_S)
            if p.reader is not None:
                p.reader.join(DEADLINE_S)
        return codes

    def output(self) -> str:
        with self._lock:
            return "\n".join(f"{line}" for p in self.procs.values() for _, line in p.lines[-8:])
