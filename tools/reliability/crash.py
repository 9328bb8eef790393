"""Crash consistency: kill -9 at random points while a cluster records its trace and writes
its epoch files, and while a node writes nothing but epoch files.

After every kill:

* the trace keeps every complete line: each is JSON, the first the header, the others
  events with seq 1, 2, 3, ...; what follows the last newline is a torn tail;
* `zkfle verify` (engine.replay.verify) re-executes it identically and reports a torn tail
  as such - checked on the file as the kill left it, and on a copy cut at a random byte of
  its last lines (a tear that a kill cannot make, since the writer hands whole lines to
  the kernel, but a power cut can); a file cut inside its header is refused clearly;
* every node's data directory loads as a restart would (engine.runtime.durable, ZOOKEEPER-2307 and
  ZOOKEEPER-4269 semantics) or refuses to with a message that names the directory;
* a node restarted from what was loaded never goes back: its epochs and zxid only grow.

    python -m tools.reliability.crash epoch-writer DIR    # the child of the epoch kills
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from engine.core.peer.io import Durable
from engine.core.vote import make_zxid, zxid_epoch
from engine.replay.cores import ReplayError
from engine.replay.verify import verify
from engine.runtime.durable import DurableError, DurableStore
from tools.reliability import Outcome

ZKFLE = Path(sys.executable).parent / "zkfle"
REPO = Path(__file__).resolve().parents[2]

ROUNDS = 40
SCRIPT = (
    "start\nwait until stable within 60s\n"
    + (
        "write 3\ncrash leader\nwait until stable within 60s\nrestart all\n"
        "wait until settled within 60s\nwrite 1\n"
    )
    * ROUNDS
)
"""What the recorded cluster does until it is killed: failovers and writes, so that the
trace grows steadily and every node's epoch files are rewritten at each election."""

KILL_DEADLINE_S = 60.0


def _kill(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL; False if it had already exited (then it was not killed mid-run)."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=KILL_DEADLINE_S)
    return True


# --- traces --------------------------------------------------------------------------------------


def trace_kill(n: int, rng: random.Random, work: Path, outcome: Outcome) -> None:
    """Run a recorded 3-node threaded cluster; kill it once its trace holds a random number
    of bytes (0 to 256 KiB; small sizes now and then, to kill it inside its header)."""
    run = work / f"trace-{n}"
    run.mkdir()
    script = run / "failovers.fle"
    script.write_text(SCRIPT)
    trace = run / "run.jsonl"
    size = rng.choice((0, 64, 512)) if rng.random() < 0.1 else rng.randint(1024, 256 * 1024)
    proc = subprocess.Popen(
        [
            *(str(ZKFLE), "run", "--nodes", "3", "--tick", "50", "--script", str(script)),
            *("--trace", str(trace), "--data-dir", str(run / "data")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=run,
    )
    deadline = time.monotonic() + KILL_DEADLINE_S
    while proc.poll() is None and time.monotonic() < deadline:
        if trace.exists() and trace.stat().st_size >= size:
            break
        time.sleep(0.002)  # polling the file's size: the kill point is a size, not a time
    if not _kill(proc):
        outcome.add("ended before the kill")
        return
    outcome.add("trace kills")
    check_trace(trace, f"kill {n} at {size} bytes", outcome)
    raw = trace.read_bytes() if trace.exists() else b""
    if raw:
        cut = run / "cut.jsonl"
        cut.write_bytes(raw[: rng.randint(max(0, len(raw) - 4096), len(raw))])
        check_trace(cut, f"kill {n}, cut copy", outcome)
    for node in sorted((run / "data").glob("n*")):
        check_data_dir(node, f"kill {n}: {node.name}", outcome)


def check_trace(path: Path, where: str, outcome: Outcome) -> None:
    """Every complete line is kept and readable; verify re-executes it and names a torn tail."""
    raw = path.read_bytes() if path.exists() else b""
    *lines, tail = raw.split(b"\n")
    if tail and _is_object(tail):
        # Cut just before its newline, the last event is whole: it is read as an event,
        # not reported torn (traces/README.md: a torn line is truncated JSON).
        lines.append(tail)
        tail = b""
    for i, line in enumerate(lines, 1):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            outcome.fail(f"{where}: {path}:{i}: a complete line is not JSON: {line[:80]!r}")
            return
        if i > 1 and obj.get("seq") != i - 1:
            outcome.fail(f"{where}: {path}:{i}: seq {obj.get('seq')}, expected {i - 1}")
            return
    try:
        result = verify(path)
    except ReplayError as e:
        # Only a file with no complete header line may be refused.
        if lines:
            outcome.fail(f"{where}: verify refused a trace with a complete header: {e}")
        elif raw and "torn" not in str(e):
            outcome.fail(f"{where}: a torn header is refused without saying so: {e}")
        else:
            outcome.add("header torn or empty")
        return
    if not result.ok:
        what = result.divergence.report() if result.divergence else result.violations
        outcome.fail(f"{where}: {path} does not verify: {what}")
    if tail and result.torn_line != len(lines) + 1:
        outcome.fail(f"{where}: torn tail at line {len(lines) + 1}, verify said {result.torn_line}")
    if tail:
        outcome.add("torn tails reported")
    outcome.add("traces verified")
    outcome.add("events verified", result.events)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def check_data_dir(node_dir: Path, where: str, outcome: Outcome) -> Durable | None:
    """A restart's load: the state, or a refusal that names the directory."""
    try:
        durable = DurableStore(node_dir).load()
    except DurableError as e:
        if str(node_dir) not in str(e):
            outcome.fail(f"{where}: refusal does not name the directory: {e}")
        outcome.add("epoch refusals")
        outcome.notes.append(f"{where}: refused: {e}")
        return None
    outcome.add("data dirs loaded")
    return durable


# --- epoch files -------------------------------------------------------------------------------


def epoch_writer(data_dir: Path) -> int:
    """A node that only writes epochs: from what a restart loads, go on as elections and
    writes would - acceptedEpoch, then currentEpoch (ZK: Learner.registerWithLeader, then
    NEWLEADER), then three zxids of the new epoch - until killed."""
    store = DurableStore(data_dir)
    try:
        state = store.load()
    except DurableError as e:
        print(f"refused: {e}", flush=True)
        return 3
    print("ready", flush=True)
    while True:
        epoch = state.current_epoch + 1
        for step in (
            Durable(state.current_epoch, epoch, state.last_zxid),
            Durable(epoch, epoch, state.last_zxid),
            *(Durable(epoch, epoch, make_zxid(epoch, k)) for k in (1, 2, 3)),
        ):
            store.save(step, state)
            state = step


def epoch_kills(count: int, rng: random.Random, work: Path, outcome: Outcome) -> None:
    """Kill the epoch writer `count` times, each at a random moment after it started, and
    restart it from what it left."""
    data = work / "epochs"
    last: Durable | None = None
    for n in range(count):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.reliability.crash", "epoch-writer", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline().decode().strip()
        if first != "ready":
            _kill(proc)
            outcome.fail(f"epoch kill {n}: the writer did not start: {first}")
            return
        time.sleep(rng.uniform(0.0, 0.05))  # the kill point: a random moment of writing
        _kill(proc)
        proc.stdout.close()
        outcome.add("epoch kills")
        state = check_data_dir(data, f"epoch kill {n}", outcome)
        if state is None:
            return
        if state.accepted_epoch - state.current_epoch not in (0, 1):
            outcome.fail(f"epoch kill {n}: loaded {state}: acceptedEpoch ran ahead")
        if zxid_epoch(state.last_zxid) > state.current_epoch:
            outcome.fail(f"epoch kill {n}: loaded {state}: a zxid newer than currentEpoch")
        if last is not None and (
            state.current_epoch < last.current_epoch
            or state.accepted_epoch < last.accepted_epoch
            or state.last_zxid < last.last_zxid
        ):
            outcome.fail(f"epoch kill {n}: went back from {last} to {state}")
        last = state
    outcome.counts["final epoch"] = last.current_epoch if last else 0


def run(
    trace_count: int, epoch_count: int, seed: int = 1, work: Path | None = None, workers: int = 1
) -> Outcome:
    """The epoch kills on one thread, the trace kills on `workers` others (each kill waits
    on its child process most of the time); every kill draws from a random generator of its
    own, so the kill points do not depend on the order the threads run in."""
    outcome = Outcome("crash consistency (kill -9)")
    with tempfile.TemporaryDirectory(prefix="zkfle-crash-") as tmp:
        root = work or Path(tmp)
        pool = ThreadPoolExecutor(workers + 1)
        try:
            rng = random.Random(f"crash:{seed}:epochs")
            jobs = [pool.submit(epoch_kills, epoch_count, rng, root, outcome)]
            for n in range(trace_count):
                rng = random.Random(f"crash:{seed}:trace:{n}")
                jobs.append(pool.submit(trace_kill, n, rng, root, outcome))
            for job in jobs:
                job.result()
        finally:
            pool.shutdown(cancel_futures=True)  # stopped early: no new kill starts
    return outcome


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "epoch-writer":
        sys.exit(epoch_writer(Path(sys.argv[2])))
    sys.exit("usage: python -m tools.reliability.crash epoch-writer DIR")
