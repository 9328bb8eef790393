"""The simulator's clock as events record it: `Simulation.now_rounded` skips round() when
the clock stands at an event's due time (every due is rounded when scheduled) and must
always answer what `round(now(), 3)` does - at events, and after a wait or a fork moved
the clock to a time of more than three decimals."""

from __future__ import annotations

from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime.sim import Simulation


def _sim(cluster: Cluster) -> Simulation:
    host = cluster.host
    assert isinstance(host, Simulation)
    return host


def test_now_rounded_is_round_of_now_at_every_event() -> None:
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=3, record=False)) as cluster:
        sim = _sim(cluster)
        assert cluster.start().ok
        moved = 0
        for _ in range(2000):
            before = sim.now()
            if not sim.run_one():
                break
            moved += sim.now() != before
            assert sim.now_rounded() == round(sim.now(), 3), sim.now()
        assert moved > 100  # the clock went through many event times


def test_now_rounded_rounds_a_clock_moved_between_events() -> None:
    with Cluster(ClusterOptions(nodes=3, runtime="sim", seed=3, record=False)) as cluster:
        sim = _sim(cluster)
        assert cluster.start().ok
        assert cluster.wait_stable(10_000.0)
        sim.run_until(sim.now() + 100.0004)  # a wait ends between events
        assert sim.now() != round(sim.now(), 3)
        assert sim.now_rounded() == round(sim.now(), 3)
        sim.set_clock(sim.now() + 0.12345678)  # a fork continues at its parent's time
        assert sim.now_rounded() == round(sim.now(), 3)
        assert cluster.execute("crash 1").ok  # a `stop` event recorded at that time
        stop = next(e for e in reversed(cluster.recorder.recent) if e["kind"] == "stop")
        assert stop["t_ms"] == round(sim.now(), 3)
