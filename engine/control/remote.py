"""Runs a `Cluster` in a child process and drives it from the parent: `RemoteCluster`.

Why a process: in one interpreter the console's drawing (Textual, ~20 ms of CPU a frame
under a storm) holds the same interpreter lock as the node threads, and an election slows
by about what the console takes (BENCHMARKS.md, the console). In its own process the
cluster never waits for the console.

The child (`child_main`, started as `python -c`) builds the cluster from the pickled
`ClusterOptions` it reads first, then *publishes* at most PUBLISH_HZ batches a second of
what the console reads: the info, the view when it changed, the events since the last
batch (orjson, bounded by the recorder's window as `events_after` is) and the timeline
when it changed. Nothing is asked of it per frame. Requests go the other way, tagged:
commands (`execute`), `explain`, and `call` (a picklable function run on the child's
cluster, for benchmarks); one worker thread of the child runs them one at a time, as the
console's command thread does in one process.

The child closes its cluster (the trace's footer) when asked, when its input ends (the
parent exited or was killed: the pipe's EOF) or on SIGTERM; it runs in its own session, so
the terminal's Ctrl-C and hangup reach the parent only, which then closes it.

Frames on both pipes: a 4-byte big-endian length, then a pickle.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from itertools import takewhile
from queue import SimpleQueue
from typing import IO, Any

import orjson

from engine.control.cluster import Cluster, ClusterOptions, CommandResult
from engine.core.view import ClusterView
from engine.trace.elections import Election, Timeline
from engine.trace.explain.outage import Explanation
from engine.trace.recorder import RECENT_EVENTS, Event

PUBLISH_HZ = 40
"""Batches a second at most: the console draws at most 40 frames a second."""
CLOSE_WAIT_S = 60.0
"""How long closing waits for the child to finish its trace (real ZooKeeper servers take
a while to stop) before it is killed."""
START_WAIT_S = 120.0
"""How long the parent waits for the child's first batch (building a cluster of real
ZooKeeper servers on a loaded machine)."""
_HEADER = struct.Struct(">I")


class RemoteError(Exception):
    """The child could not build its cluster (the message says why), or has gone."""


def write_frame(out: IO[bytes], lock: threading.Lock, message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        out.write(_HEADER.pack(len(payload)) + payload)
        out.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream (or a cut frame)."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


# --- the child ------------------------------------------------------------------------------


class _Publisher:
    """What the child sends unasked: one batch of what changed, PUBLISH_HZ times a second."""

    def __init__(self, cluster: Cluster, send: Callable[[object], None]) -> None:
        self.cluster = cluster
        self.send = send
        self.stop = threading.Event()
        self._seq = 0
        self._view: ClusterView | None = None
        self._info: dict[str, Any] | None = None
        self._timeline: Timeline | None = None
        self.thread = threading.Thread(target=self._loop, name="Publisher", daemon=True)

    def _loop(self) -> None:
        said: set[str] = set()
        while not self.stop.wait(1.0 / PUBLISH_HZ):
            try:
                self.publish()
            except Exception as exc:  # an engine bug: said once in the log, and go on
                if (what := f"{type(exc).__name__}: {exc}") not in said:
                    said.add(what)
                    traceback.print_exc()

    def publish(self) -> None:
        cluster = self.cluster
        info = cluster.info
        view = cluster.view()
        events = cluster.events_after(self._seq)
        timeline = cluster.timeline()
        changed_view = view if view != self._view else None
        changed_info = info if info != self._info else None
        changed_timeline = timeline if timeline is not self._timeline else None
        changes = (changed_info, changed_view, changed_timeline)
        if not events and all(change is None for change in changes):
            return
        if events:
            self._seq = events[-1]["seq"]
        self._view, self._info, self._timeline = view, info, timeline
        # orjson for the events: it costs the child less than pickle (90 events of a storm:
        # 37 vs 53 us); the view's frozen dataclasses are pickled (~0.3 ms for 9 nodes)
        packed = orjson.dumps(events) if events else b""
        self.send(("batch", *changes, packed))


def _answer(cluster: Cluster, kind: str, payload: Any) -> Any:
    """Run one request on the child's cluster; what goes back."""
    if kind == "execute":
        result = cluster.execute(payload)
        return (result.ok, result.text, result.seq)
    if kind == "explain":
        return cluster.explain(payload)
    function, args = payload
    return function(cluster, *args)


def _work(cluster: Cluster, requests: SimpleQueue[Any], send: Callable[[object], None]) -> None:
    while (request := requests.get()) is not None:
        kind, tag, payload = request
        try:
            send(("answer", tag, True, _answer(cluster, kind, payload)))
        except Exception as exc:  # an engine bug answers the request, it ends nothing
            send(("answer", tag, False, f"internal error: {type(exc).__name__}: {exc}"))


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def child_main() -> None:
    """The child: build the cluster, publish, answer, close at the end of the input."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to the log file, never into the frames
    stream = sys.stdin.buffer
    lock = threading.Lock()

    def send(message: object) -> None:
        with contextlib.suppress(OSError):  # the parent has gone: the input ends too
            write_frame(out, lock, message)

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    options = read_frame(stream)
    if not isinstance(options, ClusterOptions):
        return
    try:
        cluster = Cluster(options)
    except Exception as exc:  # every reason a cluster cannot be built is said by the parent
        send(("failed", str(exc) or type(exc).__name__))
        return
    end: str | None = "aborted"
    publisher = _Publisher(cluster, send)
    requests: SimpleQueue[Any] = SimpleQueue()
    worker = threading.Thread(target=_work, args=(cluster, requests, send), name="Commands")
    worker.daemon = True
    try:
        publisher.publish()
        publisher.thread.start()
        worker.start()
        while (message := read_frame(stream)) is not None:
            if message[0] == "close":
                end = message[1]
                break
            requests.put(message)
    finally:
        requests.put(None)
        publisher.stop.set()
        if publisher.thread.is_alive():
            publisher.thread.join()
        cluster.close(end)
        send(("closed",))
        out.close()


# --- the parent -----------------------------------------------------------------------------


class RemoteCluster:
    """A `Cluster` in a child process, as the console drives one (console.backend.Backend):
    `view`, `events_after`, `timeline` and `info` are the latest batch's and never wait;
    `execute` and `explain` wait for the child's answer (or its end)."""

    def __init__(self, options: ClusterOptions) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        """The child's stderr: its last line says why it died, if it did."""
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from engine.control.remote import child_main; child_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,  # the terminal's signals are the parent's to handle
        )
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._in: IO[bytes] = self._proc.stdin
        self._out: IO[bytes] = self._proc.stdout
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._events: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self._view: ClusterView | None = None
        self._info: dict[str, Any] = {}
        self._timeline: Timeline | None = None
        self._pending: dict[int, Future[tuple[bool, Any]]] = {}
        self._tag = 0
        self._gone: str | None = None
        """Why the child is no more (set once its output ended)."""
        self._closing = False
        self._ready: Future[str | None] = Future()
        self._reader = threading.Thread(target=self._read, name="RemoteReader", daemon=True)
        self._reader.start()
        try:
            with contextlib.suppress(OSError):  # it died at once: the reader says why
                self._send(options)
            try:
                failed = self._ready.result(START_WAIT_S)
            except TimeoutError:
                failed = f"the cluster's process did not start within {START_WAIT_S:.0f} s"
        except BaseException:  # Ctrl-C while it starts
            self.close()
            raise
        if failed is not None:
            self.close()
            raise RemoteError(failed)

    # --- reading the child ----------------------------------------------------------------------

    def _read(self) -> None:
        try:
            while (message := read_frame(self._out)) is not None:
                if message[0] == "batch":
                    self._take(*message[1:])
                elif message[0] == "answer":
                    _, tag, ok, value = message
                    with self._lock:
                        future = self._pending.pop(tag, None)
                    if future is not None:
                        future.set_result((ok, value))
                elif message[0] == "failed":
                    self._ready.set_result(message[1])
        except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
            self._log_line(f"reading the cluster's process: {exc}")
        finally:
            self._ended()

    def _take(
        self,
        info: dict[str, Any] | None,
        view: ClusterView | None,
        timeline: Timeline | None,
        events: bytes,
    ) -> None:
        if info is not None:
            self._info = info
        if view is not None:
            self._view = view
        if timeline is not None:
            self._timeline = timeline
        if events:
            decoded = orjson.loads(events)
            with self._lock:
                self._events.extend(decoded)
        if not self._ready.done():
            self._ready.set_result(None)

    def _ended(self) -> None:
        """The child's output ended: say why, and answer every request still waiting."""
        try:
            status = self._proc.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._kill()
            status = self._proc.returncode
        trace = self._info.get("trace")
        reason = f"the cluster's process ended (exit status {status})"
        if (last := self._last_log_line()) is not None:
            reason += f": {last}"
        if trace:
            reason += f"; its trace: {trace}"
        with self._lock:
            self._gone = reason
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_result((False, reason))
        if not self._ready.done():
            self._ready.set_result(reason)

    def _log_line(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._log.write(text.encode() + b"\n")

    def _last_log_line(self) -> str | None:
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - 4096))
            lines = self._log.read().decode(errors="replace").strip().splitlines()
            return lines[-1].strip() if lines else None
        return None

    # --- asking the child ------------------------------------------------------------------------

    def _send(self, message: object) -> None:
        write_frame(self._in, self._write_lock, message)

    def _ask(self, kind: str, payload: object) -> tuple[bool, Any]:
        """Send one request and wait for its answer; (False, why) if the child has gone."""
        future: Future[tuple[bool, Any]] = Future()
        with self._lock:
            if self._gone is not None or self._closing:
                return False, self._gone or "the cluster is closing"
            self._tag += 1
            tag = self._tag
            self._pending[tag] = future
        try:
            self._send((kind, tag, payload))
        except (OSError, ValueError):
            pass  # the child has gone: the reader answers every request still waiting
        except BaseException:  # a request that cannot be sent (not picklable)
            with self._lock:
                self._pending.pop(tag, None)
            raise
        return future.result()

    # --- Backend --------------------------------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        gone = self._gone
        if gone is None:
            return self._info
        return self._info | {"running": False, "stop_reason": gone}

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    @property
    def trace_path(self) -> str | None:
        trace = self._info.get("trace")
        return str(trace) if trace else None

    def view(self) -> ClusterView:
        view = self._view
        assert view is not None  # the first batch came before the constructor returned
        return view

    def events_after(self, seq: int) -> list[Event]:
        with self._lock:  # from the newest: a frame asks for the few since the last
            after = list(takewhile(lambda e: e["seq"] > seq, reversed(self._events)))
        after.reverse()
        return after

    def timeline(self) -> Timeline:
        timeline = self._timeline
        assert timeline is not None
        return timeline

    def execute(self, text: str) -> CommandResult:
        ok, value = self._ask("execute", text)
        if not ok:
            return CommandResult(False, str(value))
        done, out, seq = value
        return CommandResult(done, out, seq=seq)

    def start(self) -> CommandResult:
        return self.execute("start")

    def explain(self, election: Election) -> Explanation | None:
        ok, value = self._ask("explain", election)
        if not ok:
            raise RemoteError(value)
        return value if isinstance(value, Explanation) else None

    def call(self, function: Callable[..., Any], *args: object) -> Any:
        """`function(cluster, *args)` on the child's cluster (picklable function, arguments
        and result): what a benchmark measures there."""
        ok, value = self._ask("call", (function, args))
        if not ok:
            raise RemoteError(value)
        return value

    def close(self, end: str | None = None) -> None:
        """Close the child's cluster (its trace gets its footer) and wait for it to exit;
        kill it if it does not within CLOSE_WAIT_S. Idempotent."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_result((False, "the cluster is closing"))
        with contextlib.suppress(OSError, ValueError):
            self._send(("close", end))
            self._in.close()
        self._reader.join(CLOSE_WAIT_S)
        if self._reader.is_alive():  # it does not end: its trace is lost, we do not hang
            self._kill()
            self._reader.join()
        self._out.close()
        self._log.close()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        self._proc.wait()
