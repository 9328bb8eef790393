"""Property tests at cluster level: hypothesis writes fault scripts for the simulator.

A script is a list of lines from a small grammar of faults (crash/restart, pause/resume,
partition, isolate, one-way block, loss, dup, delay with jitter, reorder, hold/release,
early notification timeouts, writes and waits), drawn for a 3- or 5-node cluster (with or
without an observer) and a seed. `tests.chaos.run_script` runs it, resets, and checks
safety (online checker + CrossNodeChecker) and liveness (stable within
`chaos.liveness_bound`, then a write commits). When a property fails, hypothesis shrinks
the script - fewer lines, smaller numbers - and prints the minimal failing one with its
seed; `run_script(TOPOLOGIES[name], seed, lines)` replays it.

Failures of the known engine bugs (`chaos.KNOWN_BUGS`) are tolerated exactly when the run
shows their precondition; `test_zab_stream_known_bug_shrinks_to_a_minimal_script` shows
what shrinking makes of one of them (strict xfail until the bug is fixed).

Examples are bounded and derandomized (the suite is fast and the same on every machine).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from engine.core.vote import make_zxid
from tests.chaos import TOPOLOGIES, RunResult, Topology, run_script

SMALL = ["three", "five", "three+2obs"]


def _line(topology: Topology) -> st.SearchStrategy[str]:
    sids = topology.sids
    sid = st.sampled_from(sids)
    some = st.lists(sid, min_size=1, max_size=max(1, len(sids) // 2), unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    )
    who = st.one_of(st.just("leader"), sid.map(str))
    link = st.one_of(
        st.just("*"),
        st.just("leader<->*"),
        st.tuples(sid, sid, st.sampled_from(["->", "<->"]))
        .filter(lambda t: t[0] != t[1])
        .map(lambda t: f"{t[0]}{t[2]}{t[1]}"),
    )
    one_way = st.tuples(sid, sid).filter(lambda t: t[0] != t[1]).map(lambda t: f"{t[0]}->{t[1]}")
    ms = st.integers(1, 30).map(lambda n: n * 100)
    pct = st.sampled_from([10, 30, 50, 100])
    group = st.permutations(sids).flatmap(
        lambda p: st.integers(1, len(p) - 1).map(
            lambda k: ",".join(map(str, sorted(p[:k]))) + "|" + ",".join(map(str, sorted(p[k:])))
        )
    )
    return st.one_of(
        st.builds("crash {}".format, who),
        st.builds("crash {} for={}ms".format, who, ms),
        st.builds("restart {}".format, some),
        st.builds("pause {}".format, some),
        st.builds("pause {} for={}ms".format, who, ms),
        st.builds("resume {}".format, some),
        st.builds("partition {}".format, group),
        st.builds("isolate {}".format, who),
        st.builds("block {}".format, one_way),
        st.builds("loss {} {}%".format, link, pct),
        st.builds("dup {} {}%".format, link, pct),
        st.builds("delay {} {}ms jitter={}ms".format, link, ms, st.integers(0, 200)),
        st.builds("reorder {} {}%".format, link, pct),
        st.builds("hold {}".format, link),
        st.builds("release {} all".format, link),
        st.builds("timeout {}".format, some),
        st.builds("write {}".format, st.integers(1, 3)),
        st.builds("wait {}ms".format, ms),
        st.just("heal"),
        st.just("wait until stable within 8s"),
    )


@st.composite
def scenarios(draw: st.DrawFn, max_lines: int = 10) -> tuple[str, int, list[str]]:
    name = draw(st.sampled_from(SMALL))
    topology = TOPOLOGIES[name]
    seed = draw(st.integers(0, 2**16))
    body = draw(st.lists(_line(topology), max_size=max_lines))
    settle = draw(st.booleans())
    script = ["start", *(["wait until stable within 8s"] if settle else []), *body]
    return name, seed, script


def _run(name: str, seed: int, script: list[str]) -> RunResult:
    with tempfile.TemporaryDirectory() as tmp:
        return run_script(TOPOLOGIES[name], seed, script, workdir=Path(tmp))


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios())
def test_any_fault_script_is_safe_and_heals(scenario: tuple[str, int, list[str]]) -> None:
    name, seed, script = scenario
    result = _run(name, seed, script)
    event(f"{name}: {'known bug tolerated' if result.known else 'clean'}")
    assert result.ok, result.report()


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(
    n=st.sampled_from([3, 5, 7]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_timely_lossless_start_elects_the_best_vote(n: int, seed: int, data: st.DataObject) -> None:
    """No faults: everyone follows max(currentEpoch, lastZxid, sid) (totalOrderPredicate)."""
    lines = []
    best = (-1, -1, -1)
    for sid in range(1, n + 1):
        epoch = data.draw(st.integers(0, 3), label=f"n{sid}.epoch")
        zepoch = data.draw(st.integers(0, epoch), label=f"n{sid}.zxid epoch")
        counter = data.draw(st.integers(0, 3), label=f"n{sid}.zxid counter")
        zxid = make_zxid(zepoch, counter) if zepoch or counter else 0
        lines.append(f"set {sid} epoch={epoch} zxid={zxid:#x}")
        best = max(best, (epoch, zxid, sid))
    lines += ["start", "wait until stable within 8s", f"expect leader == {best[2]}"]
    result = _run(f"{'three' if n == 3 else 'five' if n == 5 else 'seven'}", seed, lines)
    failed = [text for text, ok, _ in result.executed if not ok]
    assert not failed, result.report()
    assert result.ok, result.report()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate, Phase.shrink],
)
@given(
    seed=st.integers(0, 2**8),
    body=st.lists(
        st.sampled_from(
            [
                "write 3",
                "delay 3->* 300ms jitter=290ms",
                "dup 3->* 50%",
                "wait 1s",
                "crash 3",
                "heal",
                "wait until stable within 8s",
            ]
        ),
        max_size=8,
    ),
)
def test_zab_stream_faults_break_no_property(seed: int, body: list[str]) -> None:
    """The same properties, without any known-bug allowance, over a grammar of faults on
    the learner<->leader streams (jittered delays, duplicates, crashes): the regression
    test of the Zab-stream bug this grammar used to shrink to a few lines."""
    result = _run("three", seed, ["start", "wait until settled within 8s", *body])
    assert not result.all_failures, result.report()
