"""A large threaded cluster keeps what it built out of the cyclic GC's full collections
while it runs (issue 13): at N = 51 three full collections fell inside each election,
50-190 ms each with every node thread waiting for the GIL, and found nothing to collect."""

from __future__ import annotations

import gc

from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime.interpreter import FULL_COLLECTION_EVERY, LARGE_CLUSTER


def test_a_large_cluster_freezes_what_it_built_until_it_stops() -> None:
    assert gc.get_freeze_count() == 0
    with Cluster(ClusterOptions(nodes=LARGE_CLUSTER, record=False)) as cluster:
        assert gc.get_freeze_count() > 0  # the cluster is built (its thread pool too)
        assert cluster.execute("start").ok
        assert cluster.execute("wait until stable within 60s").ok
    assert gc.get_freeze_count() == 0


def test_a_large_cluster_makes_full_collections_rare_until_it_stops() -> None:
    """After freeze() the objects made since (the connections' workers) still met two full
    collections in each N = 51 election, preempted on a busy machine holding the GIL for
    up to 650 ms; the young generations are collected as before."""
    before = gc.get_threshold()
    with Cluster(ClusterOptions(nodes=LARGE_CLUSTER, record=False)) as cluster:
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert full >= FULL_COLLECTION_EVERY > before[2]
        assert cluster.execute("start").ok
    assert gc.get_threshold() == before


def test_a_small_cluster_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    with Cluster(ClusterOptions(nodes=3, record=False)) as cluster:
        assert cluster.execute("start").ok
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before
