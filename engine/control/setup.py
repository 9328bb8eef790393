"""Building what a cluster runs on from its options: the config, the timing, the durable
stores, the runtime and the trace header (engine.control.cluster.ClusterOptions' fields).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.core.config import ConfigError, QuorumPeerConfig, generate_config, load_zoo_cfg
from engine.core.election import ElectionConfig
from engine.core.peer.io import Durable, Timing
from engine.core.vote import Sid
from engine.runtime.durable import DurableError, DurableStore, MemoryStore, Store
from engine.runtime.protocol import Runtime
from engine.runtime.sim import Simulation
from engine.runtime.threads import ThreadedRuntime
from engine.trace.format import make_header
from engine.trace.record import durable_json, timing_json
from engine.trace.recorder import Event, Recorder


def load_config(
    config: Path | None,
    nodes: int,
    observers: int,
    tick_ms: int | None,
    init_limit: int | None,
    sync_limit: int | None,
) -> QuorumPeerConfig:
    """The zoo.cfg `config`, or a generated cluster of `nodes` and `observers`, with the
    limits the command line gives in place of its own."""
    overrides: dict[str, Any] = {}
    for flag, name, value in (
        ("--tick", "tick_time_ms", tick_ms),
        ("--init-limit", "init_limit", init_limit),
        ("--sync-limit", "sync_limit", sync_limit),
    ):
        if value is not None:
            if value < 1:  # every cluster of ours elects: ZooKeeper needs them positive
                raise ConfigError(f"{flag} must be at least 1, not {value}")
            overrides[name] = value
    if config is not None:
        # Every server is ours: no dataDir/myid of this host says which one "we" are.
        cfg = load_zoo_cfg(str(config), read_myid=False)
        return replace(cfg, **overrides) if overrides else cfg
    return _generated_config(nodes, observers, tuple(sorted(overrides.items())))


def timing_of(config: QuorumPeerConfig) -> Timing:
    return Timing(
        tick_time_ms=config.tick_time_ms,
        init_limit=config.init_limit,
        sync_limit=config.sync_limit,
        election=ElectionConfig(),
    )


def make_runtime(
    kind: str,
    config: QuorumPeerConfig,
    timing: Timing,
    recorder: Recorder,
    seed: int,
    data_dir: Path | None,
    initial: Mapping[Sid, Durable],
) -> tuple[Runtime, Path | None]:
    """The runtime `kind` ("threaded", "sim" or "zookeeper") of `config`'s servers, and the
    temporary directory made for their data when `data_dir` is None (the caller removes it)."""
    qv = config.quorum_verifier
    sids = sorted(qv.all_members)
    if kind == "sim":
        stores: dict[Sid, Store] = {s: MemoryStore(initial.get(s)) for s in sids}
        return Simulation(qv, timing, stores, recorder, seed), None
    tmp = None
    root = data_dir
    if root is None:
        root = tmp = Path(tempfile.mkdtemp(prefix="zkfle-zk-" if kind == "zookeeper" else "zkfle-"))
    if kind == "zookeeper":
        # Imported here: it brings kazoo and asyncio, which a simulated or threaded
        # cluster (every `zkfle run --sim`, every explored run) never uses.
        from engine.runtime.zookeeper.runtime import ZooKeeperRuntime

        try:
            return ZooKeeperRuntime(qv, timing, recorder, seed, Path(root), initial), tmp
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    stores = {}
    for sid in sids:
        store = DurableStore(Path(root) / f"n{sid}")
        if sid in initial:
            store.save(initial[sid])
        stores[sid] = store
    return ThreadedRuntime(qv, timing, stores, recorder, seed), tmp


def stored_durables(runtime: Runtime) -> dict[Sid, Durable]:
    """What each server starts from: its stored state (empty if unreadable: a start will
    say why)."""
    found: dict[Sid, Durable] = {}
    for sid in runtime.sids:
        try:
            found[sid] = runtime.stored(sid) or Durable()
        except DurableError:
            found[sid] = Durable()
    return found


def trace_header(
    config: QuorumPeerConfig,
    timing: Timing,
    initial: Mapping[Sid, Durable],
    runtime: Runtime,
    kind: str,
    transport: str,
    seed: int,
    label: str,
    parent: dict[str, Any] | None,
) -> Event:
    """The header of the run's trace: what it runs, from which state, seeded how."""
    qv = config.quorum_verifier
    servers: list[Mapping[str, Any]] = [
        {"sid": sid, "type": qs.learner_type.word, "weight": _weight(config, sid)}
        for sid, qs in sorted(qv.all_members.items())
    ]
    return (
        make_header(
            config=qv.to_string(),
            servers=servers,
            timing=timing_json(timing),
            initial={str(sid): durable_json(d) for sid, d in initial.items()},
            runtime=kind,
            # Real servers speak ZooKeeper's protocol over TCP, through the proxy.
            transport="tcp" if kind == "zookeeper" else transport,
            seed=seed,
            label=label,
            created=datetime.now(UTC),
            parent=parent,
        )
        | runtime.describe()
    )


@functools.lru_cache(maxsize=32)
def _generated_config(
    nodes: int, observers: int, overrides: tuple[tuple[str, Any], ...]
) -> QuorumPeerConfig:
    """generate_config, once per shape (it writes a zoo.cfg text and parses it back)."""
    return generate_config(nodes, observers, **dict(overrides))


def _weight(cfg: QuorumPeerConfig, sid: Sid) -> int:
    try:
        return cfg.quorum_verifier.weight(sid)
    except KeyError:
        return 0
