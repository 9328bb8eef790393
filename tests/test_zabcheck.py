"""tests.zabcheck.unlogged_txns: what the kill test takes as proof that a Java server lost
txns by its own defect - a gap inside one epoch of its txn log that no snapshot covers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from engine.core.jute.records import TxnHeader
from engine.core.jute.txn import CreateTxn, TxnEntry
from engine.core.vote import make_zxid
from engine.core.zab.database import Database
from engine.runtime.zab.store import ZabStore
from engine.runtime.zookeeper.server import ZkServer
from tests.zabcheck import unlogged_txns


def logged(store: ZabStore, epoch: int, *counters: int) -> None:
    store.append(
        tuple(
            TxnEntry(
                TxnHeader(1, c, make_zxid(epoch, c), 0, 1), CreateTxn(f"/n{c}", b"", (), False, 0)
            )
            for c in counters
        )
    )


def holes(directory: Path) -> list[str]:
    return unlogged_txns(cast(ZkServer, SimpleNamespace(sid=3, data_dir=directory)))


def test_a_gap_in_one_epoch_without_a_snapshot_is_unlogged(tmp_path: Path) -> None:
    store = ZabStore(tmp_path)
    logged(store, 3, 1, 2, 3)
    assert holes(tmp_path) == []
    logged(store, 3, 9, 10)
    assert holes(tmp_path) == ["n3 logged 0x300000003 then 0x300000009"]


def test_a_new_epoch_or_a_snapshot_over_the_gap_is_no_hole(tmp_path: Path) -> None:
    store = ZabStore(tmp_path)
    logged(store, 3, 1, 2)
    logged(store, 4, 1)  # a new epoch counts from 1
    assert holes(tmp_path) == []
    store.roll_log()
    store.take_snapshot(Database.initial(b"").dump(), make_zxid(4, 5))  # a SNAP's, say
    logged(store, 4, 6, 7)
    assert holes(tmp_path) == []
