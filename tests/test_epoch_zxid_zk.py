"""ZOOKEEPER-2845 on real Apache ZooKeeper 3.8: the scenario of tests/test_epoch_zxid.py run
on five Java servers, read with srvr, and held to the same rule - a leader shows its new
epoch's zxid once established, keeps it after losing its quorum and is elected again
with it, over followers of its epoch holding the previous epoch's zxid.

Needs java and Debian's `zookeeper` package; skipped otherwise (with the reason). Every
JVM is killed by pid and the proxy stopped at the end (tests.zkproxied.ProxiedEnsemble).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.vote import make_zxid
from engine.runtime.zookeeper.server import ZkSettings
from tests.successor import leader_by_vote
from tests.zabcheck import srvr_zxid
from tests.zkproxied import ProxiedEnsemble, skip_without_java, wait_until

pytestmark = pytest.mark.zk

skip_without_java()

JAVA_DEADLINE_S = 90.0
"""JVMs start slowly on a loaded machine; every wait on them is bounded by this."""
SETTINGS = ZkSettings(tick_time_ms=200, init_limit=10, sync_limit=5)
EPOCH = [make_zxid(e, 0) for e in range(4)]


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[ProxiedEnsemble]:
    ens = ProxiedEnsemble(tmp_path / "ensemble", (1, 2, 3, 4, 5), SETTINGS)
    try:
        ens.proxy.start()
        yield ens
    finally:
        ens.close()


def srvr(ens: ProxiedEnsemble, sids: tuple[int, ...]) -> dict[int, tuple[str | None, int | None]]:
    """Each server's mode and srvr's Zxid (None while it does not serve)."""
    seen: dict[int, tuple[str | None, int | None]] = {}
    for sid in sids:
        seen[sid] = (ens.servers[sid].mode(), srvr_zxid(ens.servers[sid]))
    return seen


def serving(ens: ProxiedEnsemble, sids: tuple[int, ...], leader_zxid: int) -> bool:
    """One leader showing `leader_zxid`, every other server of `sids` following."""
    seen = srvr(ens, sids)
    modes = [mode for mode, _ in seen.values()]
    leads = [zxid for mode, zxid in seen.values() if mode == "leader"]
    return modes.count("follower") == len(sids) - 1 and leads == [leader_zxid]


def wait_serving(ens: ProxiedEnsemble, sids: tuple[int, ...], leader_zxid: int) -> None:
    wait_until(
        lambda: serving(ens, sids, leader_zxid),
        lambda: f"{sids} served by a leader at {leader_zxid:#x}: {srvr(ens, sids)}",
        JAVA_DEADLINE_S,
    )


def test_a_java_leader_that_lost_its_quorum_is_elected_again_with_its_epoch_zxid(
    ensemble: ProxiedEnsemble,
) -> None:
    ens = ensemble
    for sid in (1, 4, 5):
        ens.servers[sid].start()
    wait_serving(ens, (1, 4, 5), EPOCH[1])
    ens.servers[3].start()
    wait_serving(ens, (1, 3, 4, 5), EPOCH[1])
    ens.servers[2].start()
    wait_serving(ens, (1, 2, 3, 4, 5), EPOCH[1])
    # n1 and n4 established epoch 1 with n5: 0x0; n3 and n2 synced late by SNAP.
    assert {sid: zxid for sid, (_, zxid) in srvr(ens, (1, 2, 3, 4)).items()} == {
        1: EPOCH[0],
        2: EPOCH[1],
        3: EPOCH[1],
        4: EPOCH[0],
    }

    ens.servers[5].stop(kill=True)
    wait_serving(ens, (1, 2, 3, 4), EPOCH[2])
    seen = srvr(ens, (1, 2, 3, 4))
    # n3's vote is the best (0x100000000, sid 3), but n2's beats a quorum of the rest too
    # (n1, n4 at 0x0): voters that hear of n5's loss first may elect n2 within finalizeWait,
    # as ZooKeeper's do (tests.successor.may_lead_next). Whichever leads keeps the rule.
    lead = next(sid for sid, (mode, _) in seen.items() if mode == "leader")
    assert lead in (2, 3), seen
    assert seen[lead] == ("leader", EPOCH[2])
    epoch2 = {sid: zxid for sid, (_, zxid) in seen.items()}
    assert {epoch2[sid] for sid in (1, 2, 3, 4) if sid != lead} <= {EPOCH[1], EPOCH[2]}

    for sid in {1, 2, 3} - {lead}:
        ens.servers[sid].stop(kill=True)
    wait_until(
        lambda: ens.servers[lead].mode() not in ("leader", "follower"),
        lambda: f"n{lead} stepped down: {srvr(ens, (lead, 4))}",
        JAVA_DEADLINE_S,
    )
    ens.servers[1].start()
    wait_serving(ens, (1, lead, 4), EPOCH[3])
    leader = leader_by_vote({sid: epoch2[sid] or 0 for sid in (1, lead, 4)})
    assert srvr(ens, (leader,))[leader] == ("leader", EPOCH[3])
