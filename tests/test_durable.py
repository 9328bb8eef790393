"""Durable epochs and last zxid in the data directory (reference §7.4)."""

from pathlib import Path

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.peer.io import Durable
from engine.runtime.durable import DurableError, DurableStore


def test_fresh_directory_loads_zeros_and_writes_the_epoch_files(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    assert store.load() == Durable(0, 0, 0)
    assert (tmp_path / "version-2" / "currentEpoch").read_text() == "0"
    assert (tmp_path / "version-2" / "acceptedEpoch").read_text() == "0"


def test_save_then_load_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.save(Durable(3, 4, 0x300000007))
    assert DurableStore(tmp_path).load() == Durable(3, 4, 0x300000007)
    assert sorted(p.name for p in (tmp_path / "version-2").iterdir()) == [
        "acceptedEpoch",
        "currentEpoch",
        "lastZxid",
    ]


def test_accepted_epoch_below_current_epoch_refuses_to_start_ZOOKEEPER_2307(
    tmp_path: Path,
) -> None:
    DurableStore(tmp_path).save(Durable(5, 4, 0x500000001))
    with pytest.raises(DurableError, match="accepted epoch, 4, is less than the current epoch, 5"):
        DurableStore(tmp_path).load()


def test_current_epoch_older_than_last_zxid_uses_the_tmp_file_ZOOKEEPER_4269(
    tmp_path: Path,
) -> None:
    store = DurableStore(tmp_path)
    store.save(Durable(2, 2, 0x200000003))
    (tmp_path / "version-2" / "currentEpoch").write_text("1")
    (tmp_path / "version-2" / "currentEpoch.tmp").write_text("2")
    assert DurableStore(tmp_path).load() == Durable(2, 2, 0x200000003)
    assert (tmp_path / "version-2" / "currentEpoch").read_text() == "2"  # repaired
    (tmp_path / "version-2" / "currentEpoch").write_text("1")  # and no .tmp this time
    with pytest.raises(DurableError, match="current epoch, 1, is older than the last zxid"):
        DurableStore(tmp_path).load()


def test_half_written_epoch_file_is_recovered_from_tmp_or_refused(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.save(Durable(3, 3, 0x300000001))
    epoch = tmp_path / "version-2" / "acceptedEpoch"
    epoch.write_text("3x")  # torn write
    (tmp_path / "version-2" / "acceptedEpoch.tmp").write_text("3")
    assert DurableStore(tmp_path).load().accepted_epoch == 3
    (tmp_path / "version-2" / "acceptedEpoch.tmp").unlink()
    with pytest.raises(DurableError, match=r"acceptedEpoch: half-written or corrupt '3x'"):
        DurableStore(tmp_path).load()


def durable_of(c: Cluster) -> dict[int, tuple[int, int, int]]:
    return {n.sid: (n.current_epoch, n.accepted_epoch, n.last_zxid) for n in c.view().nodes}


def test_durable_state_survives_a_restart_of_the_whole_cluster(tmp_path: Path) -> None:
    def cluster() -> Cluster:
        return Cluster(
            # threaded, tick 200 ms (the default): a learner starved for 5 x 50 ms on a
            # loaded machine is dropped, and n3 may lose its quorum before the writes
            ClusterOptions(nodes=3, data_dir=tmp_path / "data", record=False)
        )

    first = cluster()
    try:
        for line in ("start", "wait until settled within 10s", "write 2"):
            assert first.execute(line).ok, line
        before = {
            n.sid: (n.current_epoch, n.accepted_epoch, n.last_zxid) for n in first.view().nodes
        }
    finally:
        first.close()
    second = cluster()
    try:
        after = {
            n.sid: (n.current_epoch, n.accepted_epoch, n.last_zxid) for n in second.view().nodes
        }
        assert after == before
        assert before[3] == (1, 1, 0x100000002)
        assert second.execute("start").ok
        assert second.execute("wait until settled within 10s").ok
        assert second.view().node(3).current_epoch == 2  # a new epoch on top of the old one
    finally:
        second.close()


def test_a_node_with_inconsistent_state_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    c = Cluster(ClusterOptions(nodes=3, runtime="sim", seed=1, record=False))
    try:
        assert c.execute("set 2 current_epoch=4 accepted_epoch=3").ok
        result = c.execute("start")
        assert not result.ok
        assert "n2 refuses to start" in result.text
        assert "accepted epoch, 3, is less than the current epoch, 4" in result.text
        assert not c.view().node(2).alive
        assert c.view().node(1).alive
    finally:
        c.close()


def _cluster(runtime: str, tmp_path: Path) -> Cluster:
    return Cluster(
        ClusterOptions(nodes=3, runtime=runtime, seed=1, record=False, data_dir=tmp_path / "data")
    )


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_one_rule_on_every_runtime_an_epoch_older_than_the_last_zxid_refuses_to_start(
    runtime: str, tmp_path: Path
) -> None:
    """QuorumPeer.loadDataBase: epoch(lastZxid) > currentEpoch without currentEpoch.tmp
    refuses to start - in the simulator as on threads (issue 17, defect 6)."""
    c = _cluster(runtime, tmp_path)
    try:
        assert c.execute("set 2 zxid=0x300000004 epoch=2").ok
        result = c.execute("start")
        assert not result.ok
        assert "n2 refuses to start" in result.text
        assert "the current epoch, 2, is older than the last zxid, 0x300000004" in result.text
        assert not c.view().node(2).alive
        assert [n.sid for n in c.view().nodes if n.alive] == [1, 3]
    finally:
        c.close()


@pytest.mark.parametrize("runtime", ["sim", "threaded"])
def test_set_after_a_refused_start_changes_only_the_fields_it_names(
    runtime: str, tmp_path: Path
) -> None:
    """Issue 17, defect 5: `set` used to start from zeros when the stored state did not
    load, so fixing the epoch of a node that refused to start lost its last zxid."""
    c = _cluster(runtime, tmp_path)
    try:
        assert c.execute("set 2 zxid=0x300000004 current_epoch=3 accepted_epoch=2").ok
        assert not c.execute("start").ok  # acceptedEpoch < currentEpoch
        result = c.execute("set 2 accepted_epoch=3")
        assert result.ok, result.text
        assert "lastZxid=0x300000004" in result.text
        n2 = c.view().node(2)
        assert (n2.current_epoch, n2.accepted_epoch, n2.last_zxid) == (3, 3, 0x300000004)
        assert c.execute("start 2").ok
        assert c.view().node(2).last_zxid == 0x300000004
    finally:
        c.close()


def test_set_on_an_unreadable_state_needs_every_field(tmp_path: Path) -> None:
    c = _cluster("threaded", tmp_path)
    try:
        (tmp_path / "data" / "n2" / "version-2").mkdir(parents=True)
        (tmp_path / "data" / "n2" / "version-2" / "lastZxid").write_text("0x1zz")
        result = c.execute("set 2 epoch=1")
        assert not result.ok
        assert "lastZxid: half-written or corrupt '0x1zz'" in result.text
        assert "give zxid= and epoch= to replace it" in result.text
        assert c.execute("set 2 epoch=1 zxid=0x100000002").ok
        assert DurableStore(tmp_path / "data" / "n2").load() == Durable(1, 1, 0x100000002)
    finally:
        c.close()
