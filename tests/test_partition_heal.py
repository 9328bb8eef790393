"""A partitioned minority rejoins when its backed-off notification timer fires (issue 17,
defect 7), as real ZooKeeper 3.8 does.

Measured on Debian's ZooKeeper 3.8.0 with `python -m tests.zkpartition` (5 servers, tickTime
200, `1,2 | 3,4,5` for 30 s through a proxy that drops the traffic between the groups): the
minority lost its leader after syncLimit ticks, backed its notification timeout off to
25.6 s, and came back 22-25 s after the heal - or 37-49 s for the node whose wait the
other's LOOKING broadcast re-armed. Nothing tells a LOOKING node that a partition healed:
lookForLeader speaks again only when `recvqueue.poll(notTimeout)` times out, and the
established ensemble answers only LOOKING notifications. The simulator shows the same.
"""

from __future__ import annotations

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.trace.invariants import liveness_bound_ms
from engine.trace.record import timing_json


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_a_minority_rejoins_when_its_backed_off_timer_fires_after_a_30s_partition(
    seed: int,
) -> None:
    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=seed, record=False)) as c:
        for line in ("start", "wait until settled within 5s", "partition 1,2|3,4,5", "wait 30s"):
            assert c.execute(line).ok, line
        minority = [c.host.nodes[sid] for sid in (1, 2)]
        backoff = [n.core.election.not_timeout for n in minority if n.core is not None]
        due = [n.deadline for n in minority if n.deadline is not None]
        assert len(backoff) == len(due) == 2  # both LOOKING, each with its timer armed
        assert min(backoff) >= 12_800  # 200 ms doubled at every timeout since ~1 s in
        assert c.execute("heal").ok
        healed = c.view().t_ms

        first = c.execute("wait until n1.state == FOLLOWING or n2.state == FOLLOWING within 2m")
        assert first.ok, first.text
        # Nothing reached the minority before a timer of its own fired; then it took only
        # the replies of the established ensemble (no new election, no finalize wait).
        assert min(due) <= c.view().t_ms < min(due) + 50

        bound = liveness_bound_ms(timing_json(c.timing), max(backoff), looking=2)
        settled = c.execute(f"wait until settled within {int(healed + bound - c.view().t_ms)}ms")
        assert settled.ok, settled.text
        assert c.view().leader == 5  # the majority's leader, never disturbed
    assert [str(v) for v in c.violations] == []
