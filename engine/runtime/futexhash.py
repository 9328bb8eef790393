"""Room in Linux's futex hash for a process of thousands of threads (the threaded runtime).

Every lock a thread sleeps on is a futex, found through a hash table. Since Linux 6.16 a
threaded process gets a private table sized by its CPUs, not its threads: 16 buckets on
two CPUs. A 51-node cluster had ~5 250 threads asleep on their locks, ~330 per bucket, and
each wake-up walks its bucket under the bucket's spinlock: futex_wake alone took 23 % of
such a process's time (perf), and it spent more time in the kernel than in Python (it now
runs 4 threads per node, and up to 2 550 RecvWorkers when faults delay messages). A lock
round trip between two threads beside 5 000 sleeping ones took 46 µs with 16 buckets and
13 µs with 4 096. `widen` asks for a table of about two buckets per thread; on other
kernels and systems the request fails and nothing changes (the global table is used).
"""

from __future__ import annotations

import ctypes
import sys

PR_FUTEX_HASH = 78
"""prctl option (linux/prctl.h, 6.16)."""
PR_FUTEX_HASH_SET_SLOTS = 1
PR_FUTEX_HASH_GET_SLOTS = 2
MAX_SLOTS = 1 << 17
"""~8 MiB of buckets at most (64 bytes each), enough for ~65 000 threads."""

_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def slots() -> int:
    """The buckets of this process's private futex table (0: it has none yet - it gets one
    with its second thread - or the kernel has no private tables)."""
    if _prctl is None:
        return 0
    return max(int(_prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_GET_SLOTS, 0, 0, 0)), 0)


def widen(threads: int) -> None:
    """Make the private futex table at least ~2 buckets per thread for `threads` threads
    (a power of two; never smaller than it is)."""
    if _prctl is None:
        return
    want = 1
    while want < 2 * threads and want < MAX_SLOTS:
        want <<= 1
    if slots() >= want:
        return
    _prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, want, 0, 0)
