"""A threaded cluster widens Linux's private futex table to its thread count (issue 13).

Since Linux 6.16 a process's private futex table is sized by its CPUs: 16 buckets on two.
A 51-node cluster's ~5 250 sleeping threads then shared 16 buckets, every wake-up walked
hundreds of waiters (futex_wake 23 % of the process's time) and N = 51 spent more time in
the kernel than in Python; N = 101 (20 506 threads) took 29 s to build its thread pool.
"""

from __future__ import annotations

import threading

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime import futexhash


def _private_tables() -> bool:
    """Whether this kernel gives threaded processes a private futex table (Linux >= 6.16)."""
    thread = threading.Thread(target=lambda: None)  # a process gets one with its 2nd thread
    thread.start()
    thread.join()
    return futexhash.slots() > 0


def test_a_threaded_cluster_has_about_two_futex_buckets_per_thread() -> None:
    if not _private_tables():
        pytest.skip("this kernel has no private futex tables (Linux < 6.16): nothing to widen")
    nodes = 16
    # what the runtime may run: 4 workers per node and both RecvWorkers of every connection
    threads = 4 * nodes + 2 * (nodes * (nodes - 1) // 2)
    with Cluster(ClusterOptions(nodes=nodes, record=False)) as cluster:
        assert len(cluster.host.nodes) == nodes
        assert futexhash.slots() >= 2 * threads


def test_widen_never_shrinks_the_table() -> None:
    if not _private_tables():
        pytest.skip("this kernel has no private futex tables (Linux < 6.16): nothing to widen")
    futexhash.widen(3000)
    wide = futexhash.slots()
    assert wide >= 6000
    futexhash.widen(10)
    assert futexhash.slots() == wide
