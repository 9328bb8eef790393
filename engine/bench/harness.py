"""What every bench mode shares: the machine it ran on and how busy it was, statistics,
the targets of DESIGN §6 and the floor, options, progress lines.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.election import FINALIZE_WAIT_MS

FLOOR_MS = float(FINALIZE_WAIT_MS)
"""The floor of an election: one finalizeWait (plus a message round, which we neglect)."""
TARGETS = {
    "election_floor_ratio": 1.2,
    "failover_ms": 260.0,
    "n51_ms": 2000.0,
    "sim_elections_per_s": 300.0,
    "verify_events_per_s": 100_000.0,
    "recording_cost": 0.10,
    "console_redraws_per_s": 15.0,
}
"""DESIGN §6."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class BenchError(Exception):
    """A bench cannot measure what it was asked to (said on stderr, exit status 1)."""


JSON = dict[str, Any]


# --- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> JSON:
    """What the numbers were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {
        "nproc": usable,
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "switch_interval_s": sys.getswitchinterval(),
    }


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


def cpu_busy(interval_s: float = 0.25) -> float | None:
    """The fraction of all CPUs busy over `interval_s` (None where /proc/stat is missing)."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(interval_s)
    after = _cpu_times()
    if after is None or after[0] == before[0]:
        return None
    return round(1.0 - (after[1] - before[1]) / (after[0] - before[0]), 3)


def wait_idle(threshold: float, max_wait_s: float) -> float | None:
    """Wait (at most `max_wait_s`) until at most `threshold` of the CPUs are busy (on a
    shared host); returns the last busy fraction seen."""
    if max_wait_s <= 0:
        return None
    deadline = time.monotonic() + max_wait_s
    busy = cpu_busy()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        time.sleep(0.5)
        busy = cpu_busy()
    return busy


# --- statistics -------------------------------------------------------------------------------


def summary(values: Sequence[float | None]) -> JSON | None:
    """median, min, max and count of the values that are not None."""
    got = [float(v) for v in values if v is not None]
    if not got:
        return None
    return {
        "median": round(statistics.median(got), 1),
        "min": round(min(got), 1),
        "max": round(max(got), 1),
        "n": len(got),
    }


def ratio(a: JSON | None, b: JSON | float | None, key: str = "median") -> float | None:
    if a is None or b is None:
        return None
    den = b if isinstance(b, float) else b.get(key)
    num = a.get(key)
    if not num or not den:
        return None
    return round(float(num) / float(den), 2)


def fmt_span(s: JSON | None) -> str:
    if s is None:
        return "-"
    return f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"


def fmt_num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


# --- election and failover --------------------------------------------------------------------


@dataclass
class Options:
    sizes: list[int] = field(default_factory=lambda: [3, 5, 7, 9, 51])
    reps: int = 5
    within_ms: float = 60_000.0
    idle_threshold: float = 0.25
    idle_wait_s: float = 20.0
    zk: bool = False
    transport: str = "memory"
    quiet: bool = False


def progress_log(opts: Options) -> Callable[[str], None]:
    def log(text: str) -> None:
        if not opts.quiet:
            print(text, file=sys.stderr, flush=True)

    return log


def print_machine(m: JSON) -> None:
    print(
        f"machine: {m['nproc']} CPU(s), {m['cpu']}, {m['implementation']} {m['python']},"
        f" load {m['loadavg']}"
    )


__all__ = ["FLOOR_MS", "BenchError", "Options", "machine"]
