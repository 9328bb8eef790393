"""A large threaded cluster keeps what it built out of the cyclic GC's full collections
while it runs (issue 13): at N = 51 three full collections fell inside each election,
50-190 ms each with every node thread waiting for the GIL, and found nothing to collect."""

from __future__ import annotations

import gc

from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime.threads import LARGE_CLUSTER


def test_a_large_cluster_freezes_what_it_built_until_it_stops() -> None:
    assert gc.get_freeze_count() == 0
    with Cluster(ClusterOptions(nodes=LARGE_CLUSTER, record=False)) as cluster:
        assert gc.get_freeze_count() > 0  # the cluster is built (its thread pool too)
        assert cluster.execute("start").ok
        assert cluster.execute("wait until stable within 60s").ok
    assert gc.get_freeze_count() == 0


def test_a_small_cluster_leaves_the_collector_alone() -> None:
    with Cluster(ClusterOptions(nodes=3, record=False)) as cluster:
        assert cluster.execute("start").ok
        assert gc.get_freeze_count() == 0
