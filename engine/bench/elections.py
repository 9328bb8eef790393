"""`zkfle bench election` and `failover` (and `zk`): fresh threaded clusters per size -
ZooKeeper's "took" and the time until stable, then the leader crashed and the time until
a new one is stable.
"""

from __future__ import annotations

from engine.bench.harness import (
    FLOOR_MS,
    JSON,
    TARGETS,
    Options,
    fmt_num,
    fmt_span,
    machine,
    print_machine,
    progress_log,
    ratio,
    summary,
    wait_idle,
)
from engine.bench.plot import plot_phase
from engine.bench.probe import Sample, election_rep
from engine.bench.zk import run_zookeeper, zk_phase


def _phase_result(n: int, samples: list[Sample], zk: JSON | None) -> JSON:
    ok = [s for s in samples if s.ok]
    took = summary([s.took_ms for s in ok])
    stable = summary([s.stable_ms for s in ok])
    res: JSON = {
        "n": n,
        "reps": len(samples),
        "ok": len(ok),
        "took_ms": took,
        "stable_ms": stable,
        "took_floor_ratio": ratio(took, FLOOR_MS),
        "stable_floor_ratio": ratio(stable, FLOOR_MS),
        "leaders": [s.leader for s in samples],
        "messages": {
            "sent": summary([s.sent for s in ok]),
            "sent_to_peers": summary([s.sent_to_peers for s in ok]),
            "delivered": summary([s.delivered for s in ok]),
            "dropped": summary([s.dropped for s in ok]),
        },
        "cpu_busy_before": summary([s.busy_before for s in samples]),
        "build_ms": summary([s.build_ms for s in samples]),
    }
    if zk is not None:
        res["zookeeper"] = zk
        res["took_zk_ratio"] = ratio(took, zk.get("took_max_ms"))
        res["stable_zk_ratio"] = ratio(stable, zk.get("wall_ms"))
    return res


def bench_elections(opts: Options, failover: bool) -> JSON:
    """`election` (and `failover`): fresh threaded clusters, per size, `reps` each."""
    log = progress_log(opts)
    zk: JSON | None = None
    zk_note: str | None = None
    if opts.zk:
        zk_sizes = [n for n in opts.sizes if n <= 9]
        if zk_sizes:
            zk, zk_note = run_zookeeper(
                zk_sizes,
                opts.reps,
                within_ms=opts.within_ms,
                idle_threshold=opts.idle_threshold,
                idle_wait_s=opts.idle_wait_s,
                log=log,
            )
            if zk_note:
                log(f"ZooKeeper: not measured: {zk_note}")
    elections: list[JSON] = []
    failovers: list[JSON] = []
    for n in opts.sizes:
        firsts: list[Sample] = []
        seconds: list[Sample] = []
        for rep in range(opts.reps):
            busy = wait_idle(opts.idle_threshold, opts.idle_wait_s)
            first, second = election_rep(
                n,
                within_ms=opts.within_ms,
                failover=failover,
                busy=busy,
                transport=opts.transport,
            )
            firsts.append(first)
            if second is not None:
                seconds.append(second)
            log(
                f"N={n} rep={rep} took={first.took_ms} stable={first.stable_ms} "
                f"leader={first.leader} sent={first.sent} dropped={first.dropped}"
                + (
                    f" | failover {second.stable_ms} took={second.took_ms}"
                    if second is not None
                    else ""
                )
                + (f" busy={busy}" if busy is not None else "")
            )
        elections.append(_phase_result(n, firsts, zk_phase(zk, n, "initial")))
        if failover:
            failovers.append(_phase_result(n, seconds, zk_phase(zk, n, "failover")))
    result: JSON = {
        "bench": "failover" if failover else "election",
        "runtime": "threaded",
        "transport": opts.transport,
        "trace": False,
        "floor_ms": FLOOR_MS,
        "machine": machine(),
        "zookeeper": None if zk is None else zk["meta"],
        "zookeeper_note": zk_note,
        "election": elections,
    }
    if failover:
        result["failover"] = failovers
    return result


def _print_phase(title: str, rows: list[JSON], time_label: str) -> None:
    print(title)
    print(
        f"  {'N':>3}  {'took median [min-max] ms':<28}{'x floor':>8}  "
        f"{time_label + ' median [min-max] ms':<32}{'sent(peers)':>12}{'deliv':>7}{'drop':>6}"
        f"  {'ZooKeeper took ms':<26}{'ours/ZK':>8}"
    )
    for r in rows:
        m = r["messages"]
        zk = r.get("zookeeper") or {}
        sent = m["sent_to_peers"]["median"] if m["sent_to_peers"] else None
        deliv = m["delivered"]["median"] if m["delivered"] else None
        drop = m["dropped"]["median"] if m["dropped"] else None
        print(
            f"  {r['n']:>3}  {fmt_span(r['took_ms']):<28}{fmt_num(r['took_floor_ratio']):>8}  "
            f"{fmt_span(r['stable_ms']):<32}{fmt_num(sent, '{:.0f}'):>12}"
            f"{fmt_num(deliv, '{:.0f}'):>7}{fmt_num(drop, '{:.0f}'):>6}"
            f"  {fmt_span(zk.get('took_max_ms')):<26}{fmt_num(r.get('took_zk_ratio')):>8}"
            + ("" if r["ok"] == r["reps"] else f"  ({r['reps'] - r['ok']} did not stabilise)")
        )
    builds = [f"N={r['n']} {r['build_ms']['median']:.0f} ms" for r in rows if r.get("build_ms")]
    if builds:
        print("  cluster built before start (thread pool included): " + ", ".join(builds))


_TRANSPORTS = {"memory": "in-memory", "tcp": "TCP over loopback"}


def print_elections(result: JSON) -> None:
    print_machine(result["machine"])
    if result.get("zookeeper_note"):
        print(f"ZooKeeper not measured: {result['zookeeper_note']}")
    _print_phase(
        f"election: threaded, {_TRANSPORTS[result['transport']]}, no trace;"
        f" floor {FLOOR_MS:.0f} ms (finalizeWait)",
        result["election"],
        "boot->stable",
    )
    if "failover" in result:
        print()
        _print_phase(
            f"failover: crash the leader of a settled cluster; target "
            f"{TARGETS['failover_ms']:.0f} ms crash->stable",
            result["failover"],
            "crash->stable",
        )
    print(
        "took = ZooKeeper's 'LEADER ELECTION TOOK' (lookForLeader start -> decision), max over"
        " nodes; stable = one leader established with a quorum, all following it"
    )


def print_elections_plot(result: JSON) -> None:
    """The table, then each phase as bars (`--plot`)."""
    print_elections(result)
    for phase in ("election", "failover"):
        if phase in result:
            print()
            print("\n".join(plot_phase(f"{phase}: took", result[phase], FLOOR_MS)))


__all__ = ["bench_elections"]
