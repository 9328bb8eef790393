"""What the Cluster facade (engine.control.cluster) asks of a runtime, and nothing more.

Three runtimes answer it: `Host`'s two (threads on the wall clock, the simulator in
virtual time), which run our own cores, and real ZooKeeper servers behind the recording
proxy (engine.runtime.zookeeper.runtime), which run Java. The facade parses commands,
keeps the trace, judges stability and waits; everything that touches a node goes through
these methods, so a runtime that cannot do something (force a real server's notification
timeout) says so with `RefusedError` instead of the facade reaching into its insides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from engine.core.peer.io import Durable
from engine.core.view import ClusterView
from engine.core.vote import Sid
from engine.runtime.faults import LinkFault
from engine.trace.recorder import Recorder

Life = Literal["running", "paused", "down"]


class RefusedError(Exception):
    """The runtime cannot do what a command asks; the message says why, in one line."""


class UnavailableError(Exception):
    """The runtime cannot run on this machine at all (no java, no ZooKeeper jars)."""


class Runtime(Protocol):
    kind: str
    """"threaded", "sim" or "zookeeper" (the trace header's `runtime`)."""
    recorder: Recorder

    @property
    def sids(self) -> list[Sid]: ...

    def now(self) -> float:
        """The runtime's clock in ms (virtual in the simulator)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the trace header says of the runtime beyond its kind (a real server's
        version)."""
        ...

    def emit(self, kind: str, node: Sid | None = None, **fields: Any) -> None: ...
    def call_at(self, t_ms: float, fn: Callable[..., None], *args: Any) -> None: ...
    def call_later(self, delay_ms: float, fn: Callable[..., None], *args: Any) -> None: ...

    # --- life --------------------------------------------------------------------------------

    def life(self, sid: Sid) -> Life: ...
    def boot(self, sid: Sid) -> None: ...
    def boot_many(self, sids: list[Sid]) -> Mapping[Sid, Exception]:
        """Start these nodes; the ones that refused, with why (the others start)."""
        ...

    def crash(self, sid: Sid) -> None: ...
    def pause(self, sid: Sid) -> None: ...
    def resume(self, sid: Sid) -> None: ...

    # --- durable state of a node that is down -----------------------------------------------

    def stored(self, sid: Sid) -> Durable | None:
        """What the node would start from, as stored (DurableError if unreadable)."""
        ...

    def save_durable(self, sid: Sid, durable: Durable) -> None:
        """Store a down node's state (`set`); RefusedError for what cannot be stored."""
        ...

    def show_durable(self, sid: Sid, durable: Durable) -> None:
        """What views show for the node while it is down."""
        ...

    # --- commands on running nodes ------------------------------------------------------------

    def force_timeout(self, sid: Sid) -> bool:
        """Fire the node's notification timeout now (`timeout`); False if it is not waiting
        in lookForLeader. RefusedError if the runtime cannot."""
        ...

    def client_write(self, sid: Sid, count: int) -> list[int] | None:
        """Submit `count` writes to `sid`. A runtime whose writes complete at once returns
        the committed zxids (RefusedError if they failed); one whose cores commit later
        returns None and records `committed`/`write_error` in the node's step outputs."""
        ...

    # --- the network ----------------------------------------------------------------------------

    def add_fault(self, fault: LinkFault) -> None: ...
    def remove_fault(self, fault_id: str) -> LinkFault | None: ...
    def clear_faults(self) -> list[LinkFault]: ...
    def release(self, a: Sid, b: Sid, count: int | None = None) -> int: ...
    def discard_held(self, a: Sid, b: Sid, count: int | None = None) -> int: ...
    def resume_streams(self) -> int: ...
    def drop_message(self, msg_id: str) -> bool: ...
    def deliver_message(self, msg_id: str) -> bool: ...

    # --- observation and the end --------------------------------------------------------------

    def view(self) -> ClusterView: ...
    def stable_leader(self) -> Sid | None: ...
    def notes(self) -> list[str]:
        """Lines `status` adds about the runtime itself (none for our own cores)."""
        ...

    def stop(self) -> None:
        """Stop everything the runtime runs (threads, processes, sockets); idempotent."""
        ...
