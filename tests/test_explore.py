"""`zkfle explore`: schedules, goals, delta debugging, the command line, and identical
outcomes whatever the backend (one process, local processes, a local Dask cluster)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.explore import backends
from engine.explore.goals import FIND, NOTIFICATIONS_ABOVE, Goals
from engine.explore.run import TAIL, Outcome, Spec, execute, explore_one, prepare, schedule
from engine.explore.search import Tally, settle
from engine.explore.shrink import ddmin, shrink

ZKFLE = [sys.executable, "-m", "console.cli"]
ROOT = Path(__file__).parent.parent


def zkfle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*ZKFLE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


# --- schedules ---------------------------------------------------------------------------------


def test_a_schedule_is_a_function_of_its_seed_and_ends_healed() -> None:
    spec = Spec(nodes=5)
    sids = prepare(spec)
    assert schedule(spec, 11, sids) == schedule(spec, 11, sids)
    assert schedule(spec, 11, sids) != schedule(spec, 12, sids)
    assert tuple(schedule(spec, 11, sids)[-2:]) == TAIL


def test_schedules_cut_links_one_way_and_through_a_bridge() -> None:
    """One-way partitions (`block A->B`, A and B covering every server) and bridges
    (`block A<->B` leaving exactly one server outside, talking to both) both occur."""
    spec = Spec(nodes=5, steps=20)
    sids = prepare(spec)
    one_way = bridges = 0
    for seed in range(40):
        for line in schedule(spec, seed, sids):
            if not line.startswith("block ") or "," not in line:
                continue
            ends = line.split()[1]
            arrow = "<->" if "<->" in ends else "->"
            a, b = (set(map(int, side.split(","))) for side in ends.split(arrow))
            assert not a & b, line
            if arrow == "->" and a | b == set(sids):
                one_way += 1
            if arrow == "<->" and len(set(sids) - (a | b)) == 1:
                bridges += 1
    assert one_way > 0
    assert bridges > 0


# --- delta debugging ---------------------------------------------------------------------------


def test_ddmin_finds_the_two_lines_that_matter() -> None:
    lines = tuple(f"line {i}" for i in range(16))
    runs: list[tuple[str, ...]] = []

    def test(candidate: tuple[str, ...]) -> tuple[str, ...] | None:
        runs.append(candidate)
        return candidate if {"line 3", "line 12"} <= set(candidate) else None

    assert ddmin(lines, test) == ("line 3", "line 12")
    assert len(runs) < 60


def test_ddmin_ends_when_what_a_candidate_ran_is_longer_than_the_candidate() -> None:
    """A `find` run appends its `expect` line: taking that as progress looped for ever."""
    lines = ("start", "crash 1", "wait 1s", "restart 1", "wait 1s", "expect P")

    def test(candidate: tuple[str, ...]) -> tuple[str, ...] | None:
        ran = tuple(x for x in candidate if x != "expect P")
        return (*ran, "expect P") if "crash 1" in ran else None

    assert ddmin(lines, test) == ("crash 1", "expect P")


def test_shrink_drops_options_the_goal_does_not_need() -> None:
    lines = ("start", "crash 2 for=300ms", "delay 1->2 5ms jitter=3ms", "wait 1s")

    def test(candidate: tuple[str, ...]) -> tuple[str, ...] | None:
        return candidate if any(x.startswith("crash 2") for x in candidate) else None

    assert shrink(lines, test).lines == ("crash 2",)


# --- runs and goals ----------------------------------------------------------------------------


def test_a_find_run_stops_where_the_predicate_holds_and_its_lines_reproduce_it() -> None:
    spec = Spec(nodes=3, goals=Goals(find="n2.logicalclock > 1"))
    sids = prepare(spec)
    found = next(
        o for o in (explore_one(spec, i, sids) for i in range(30)) if o.hits and o.hits[0].goal
    )
    assert found.hits[0].goal == FIND
    assert found.lines[-1] == "expect n2.logicalclock > 1"
    again = execute(spec, found.seed, list(found.lines))
    assert again.lines == found.lines
    assert [h.goal for h in again.hits] == [FIND]


def test_verify_re_executes_every_runs_trace() -> None:
    spec = Spec(nodes=3, steps=6, verify=True)
    sids = prepare(spec)
    for index in range(3):
        outcome = explore_one(spec, index, sids)
        assert outcome.events > 0
        assert not outcome.hits, outcome.hits


@pytest.mark.parametrize(
    ("find", "fewest"), [("n2.logicalclock > 1", 2), ("n5.logicalclock > 1", 5)]
)
def test_shrinking_tries_fewer_nodes_down_to_those_the_finding_names(
    tmp_path: Path, find: str, fewest: int
) -> None:
    """Issue 12's closing note: shrinking kept the exploration's N. A finding that needs
    no more servers is saved on the fewest it still shows on (never fewer than its goal
    names), and the saved script and seed reproduce it there."""
    spec = Spec(nodes=5, goals=Goals(find=find))
    sids = prepare(spec)
    tally = Tally()
    tally.add(next(o for o in (explore_one(spec, i, sids) for i in range(40)) if o.hits))
    finding = tally.ordered()[0]
    settle(finding, spec, tmp_path)
    assert finding.reproduced
    assert finding.nodes is not None
    assert fewest <= finding.nodes <= 5
    assert (finding.nodes < 5) == (fewest < 5)  # n5 needs five: fewer are not tried
    assert finding.to_json()["nodes"] == finding.nodes
    again = execute(replace(spec, nodes=finding.nodes), finding.first.seed, list(finding.lines))
    assert [h.goal for h in again.hits] == [FIND]
    assert f"on {finding.nodes} nodes" in (tmp_path / "find.fle").read_text()


# --- the command line --------------------------------------------------------------------------


def test_explore_finds_shrinks_saves_and_prints_a_reproduction(tmp_path: Path) -> None:
    out = tmp_path / "found"
    r = zkfle(
        "explore", "--nodes", "3", "--runs", "4", "--jobs", "1", "--steps", "6",
        "--notifications-above", "40", "--json", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    summary = orjson.loads(r.stdout)
    assert summary["runs"] == 4
    found = {f["goal"]: f for f in summary["findings"]}
    f = found[NOTIFICATIONS_ABOVE]
    assert f["reproduced"] is True
    assert f["shrunk_lines"] < f["lines"]
    script = Path(f["script"])
    assert script.parent == out
    assert Path(f["trace"]).exists()
    assert f["reproduce"][0] == f"zkfle replay {f['trace']}"
    # The printed one-liner, run as printed, shows the same thing.
    args = f["reproduce"][1].split()[1:]
    assert args[:4] == ["run", "--sim", "--seed", str(f["seed"])]
    run = zkfle(*args, "--json", "--no-trace", cwd=tmp_path)
    assert orjson.loads(run.stdout)["messages"]["sent"] > 40, run.stderr
    assert zkfle("verify", f["trace"], cwd=tmp_path).returncode == 0


def test_explore_finding_nothing_exits_0_and_says_so(tmp_path: Path) -> None:
    r = zkfle("explore", "--nodes", "3", "--runs", "2", "--steps", "0", "--jobs", "1",
              cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "nothing found" in r.stdout
    assert "2/2 runs" in r.stderr  # plain progress lines off a terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--find", "n9.state == LEADING"], "n9"),
        (["--find", "leader =="], "expected"),
        (["--slower-than", "soon"], "--slower-than: expected a duration like 5s"),
        (["--config", "missing.cfg"], "missing.cfg"),
        (["--nodes", "1"], "at least 2 servers"),
        (["--runs", "0"], "--runs and --jobs must be at least 1"),
        (["--scheduler", "localhost"], "expected an address like tcp://127.0.0.1:8786"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    r = zkfle("explore", "--runs", "1", "--jobs", "1", *args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("zkfle explore:")]
    assert len(errors) == 1, r.stderr
    assert message in errors[0]


# --- backends ----------------------------------------------------------------------------------


def _by_index(outcomes: Any) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: o.index)


def test_outcomes_are_identical_in_one_process_on_local_processes_and_on_dask() -> None:
    distributed = pytest.importorskip(
        "distributed", reason="the cluster extra is missing: pip install 'zkfle[cluster]'"
    )
    spec = Spec(nodes=3, steps=8, seed=5, goals=Goals(slower_than_ms=1000.0, rounds_above=2))
    sids = prepare(spec)
    indices = range(8)
    one = _by_index(backends.local(spec, indices, sids, jobs=1))
    forked = _by_index(backends.local(spec, indices, sids, jobs=2, start="fork"))
    spawned = _by_index(backends.local(spec, indices, sids, jobs=2, start="spawn"))
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
    ):
        on_dask = _by_index(backends.dask(spec, indices, sids, cluster.scheduler_address))
    assert [o.index for o in one] == list(indices)
    assert one == forked == spawned == on_dask
    assert any(o.hits for o in one)  # the goals were reached somewhere: hits compared too


def test_workers_are_forked_unless_this_process_runs_other_threads() -> None:
    """A forked worker has zkfle imported at once; a process with other threads spawns
    them instead (a fork would copy locks those threads may hold)."""
    code = "from engine.explore import backends; print(backends.start_method())"
    alone = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert alone.stdout.strip() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="other")
    other.start()
    try:
        assert backends.start_method() == "spawn"
    finally:
        stop.set()
        other.join(timeout=10)
    assert not other.is_alive()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip(
        "distributed", reason="the cluster extra is missing: pip install 'zkfle[cluster]'"
    )
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = zkfle("explore", "--runs", "1", "--scheduler", f"tcp://127.0.0.1:{port}", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in r.stderr


def test_chunks_cover_every_run_once_in_order_and_shrink_to_one_at_the_end() -> None:
    """Guided self-scheduling: a worker takes up to CHUNK runs while many are left, one at a
    time at the end, so no worker idles while another finishes a whole chunk."""
    for runs, jobs in [(1000, 2), (37, 2), (5, 4), (1, 2), (0, 2)]:
        cut = backends.chunks(range(runs), jobs)
        assert [i for chunk in cut for i in chunk] == list(range(runs))
        sizes = [len(chunk) for chunk in cut]
        assert all(1 <= size <= backends.CHUNK for size in sizes)
        assert sizes == sorted(sizes, reverse=True)
        assert sizes[-jobs:] == [1] * min(jobs, runs)
    assert len(backends.chunks(range(1000), 2)) < 1000 // 4  # few round trips


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_collector_is_as_it_was_after_an_exploration_even_one_left_early(jobs: int) -> None:
    spec = Spec(nodes=3, steps=2, seed=1)
    sids = prepare(spec)
    before = gc.get_threshold(), gc.get_freeze_count()
    runs = backends.local(spec, range(4), sids, jobs=jobs, start="fork")
    next(runs)
    assert gc.get_threshold()[0] == backends.YOUNG  # exploring
    runs.close()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    assert len(list(backends.local(spec, range(4), sids, jobs=jobs, start="fork"))) == 4
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
