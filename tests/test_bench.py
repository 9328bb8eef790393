"""`zkfle bench` (engine.bench): every mode runs end to end with tiny parameters.

Smoke tests only: timed targets are what the benchmark reports, never assertions here
(HACKING). What is asserted is the shape of the results, that the measurements describe
what happened (a leader, an established quorum, a verified trace), and that real
ZooKeeper's figures are read from its measuring script when there is one - a stand-in
script here, so that no JVM starts in the tests.
"""

from __future__ import annotations

import argparse
import pstats
from pathlib import Path
from typing import Any

import orjson
import pytest

from console import bench as console_bench
from engine.bench import cli, zab, zk
from engine.bench.plot import plot_phase
from engine.bench.probe import StabilityProbe
from engine.bench.verify import make_trace
from engine.control.cluster import Cluster, ClusterOptions
from engine.runtime.zookeeper.server import java_missing


def run_bench(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    parser = argparse.ArgumentParser(prog="zkfle")
    cli.add_bench_parser(parser.add_subparsers(dest="command"))
    status = console_bench.cmd_bench(parser.parse_args(["bench", *argv]))
    out = capsys.readouterr().out
    return status, orjson.loads(out) if "--json" in argv else out


FAST = ("--reps", "1", "--idle-wait", "0", "--quiet")


def test_election_reports_took_stable_and_messages(capsys: pytest.CaptureFixture[str]) -> None:
    status, result = run_bench(capsys, "election", "--sizes", "3", *FAST, "--json")
    assert status == 0
    assert result["bench"] == "election"
    assert result["floor_ms"] == 200.0
    (row,) = result["election"]
    assert (row["n"], row["reps"], row["ok"], row["leaders"]) == (3, 1, 1, [3])
    assert row["took_ms"]["median"] >= 200.0  # a decision waits finalizeWait at least
    assert row["stable_ms"]["median"] >= row["took_ms"]["median"] - 1.0
    assert row["took_floor_ratio"] == round(row["took_ms"]["median"] / 200.0, 2)
    assert row["messages"]["sent_to_peers"]["median"] >= 6  # everybody told the others
    assert "zookeeper" not in row
    assert result["machine"]["nproc"] >= 1


SUCCESSOR = (
    "the crashed leader's successor is n1 or n2, whichever holds the larger zxid: under"
    " Zab a follower that synced after the epoch was established holds the epoch's zxid,"
    " one of the establishing quorum does not, so which it is depends on the race"
)


def test_failover_over_tcp_runs_our_nodes_on_loopback_sockets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(
        capsys, "failover", "--sizes", "3", *FAST, "--transport", "tcp", "--json"
    )
    assert status == 0
    assert result["transport"] == "tcp"
    (first,) = result["election"]
    (after,) = result["failover"]
    assert (first["ok"], first["leaders"], after["ok"]) == (1, [3], 1)
    assert after["leaders"] in ([1], [2]), SUCCESSOR
    assert first["took_ms"]["median"] >= 200.0
    status, out = run_bench(capsys, "election", "--sizes", "3", *FAST, "--transport", "tcp")
    assert "election: threaded, TCP over loopback, no trace" in out


def test_failover_elects_another_leader(capsys: pytest.CaptureFixture[str]) -> None:
    status, result = run_bench(capsys, "failover", "--sizes", "3", *FAST, "--json")
    assert status == 0
    (first,) = result["election"]
    (after,) = result["failover"]
    assert first["leaders"] == [3]
    assert after["leaders"] in ([1], [2]), SUCCESSOR
    assert after["ok"] == 1
    assert after["took_ms"]["median"] >= 200.0


def test_the_text_table_names_the_floor_and_the_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = run_bench(capsys, "election", "--sizes", "3", *FAST)
    assert status == 0
    assert "floor 200 ms" in out
    assert "x floor" in out
    assert "ours/ZK" in out
    assert any(line.split()[:1] == ["3"] for line in out.splitlines())


def test_plot_draws_each_phase_after_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(capsys, "failover", "--sizes", "3", *FAST, "--plot")
    assert status == 0
    table, _, charts = out.partition("election: took (ms;")
    assert "x floor" in table
    assert "failover: took (ms;" in charts
    bars = [line for line in charts.splitlines() if line.lstrip().startswith("N=3")]
    assert len(bars) == 2  # one bar per phase; no ZooKeeper in this run
    assert all("█" in bar and "│" in bar for bar in bars)


def span(median: float, slowest: float) -> dict[str, float]:
    return {"median": median, "min": median, "max": slowest}


def test_a_bar_runs_to_its_median_and_on_to_its_slowest_on_one_scale() -> None:
    rows = [
        {"n": 3, "took_ms": span(210.0, 230.0), "zookeeper": {"took_max_ms": span(600.0, 800.0)}},
        {"n": 5, "took_ms": span(400.0, 400.0)},
    ]
    title, ours3, zk3, ours5, axis = plot_phase("election: took", rows, 200.0)
    assert "floor 200 ms" in title
    assert ours3.split()[:2] == ["N=3", "ours"]
    assert zk3.split()[0] == "zk"
    assert ours5.split()[:2] == ["N=5", "ours"]
    width = len(axis)  # 800 ms, the slowest of all, is the last column
    for line, median, slowest in ((ours3, 210, 230), (zk3, 600, 800), (ours5, 400, 400)):
        bar = line[13:]
        assert bar.count("█") + bar.count("│") in range(
            round(median / 800 * 56), round(median / 800 * 56) + 2
        )
        assert bar.rstrip().endswith(str(median))
        assert ("┤" in bar) == (slowest > median)
    floor_col = 13 + round(200 / 800 * 56)
    assert {line[floor_col] for line in (ours3, zk3, ours5)} == {"│"}
    assert axis.rstrip().endswith("800")
    assert width <= 13 + 57


def test_nothing_to_plot_is_said() -> None:
    assert plot_phase("failover: took", [{"n": 3, "took_ms": None}], 200.0) == [
        "failover: took: nothing to plot (no repetition became stable)"
    ]


def test_sim_counts_five_node_elections(capsys: pytest.CaptureFixture[str]) -> None:
    status, result = run_bench(capsys, "sim", "--seconds", "0.05", "--json")
    assert status == 0
    assert result["elections"] >= 1
    assert result["failed"] == 0
    assert result["nodes"] == 5
    assert result["events_per_election"] > 100
    assert result["virtual_ms"]["min"] >= 200.0


def test_explore_measures_runs_per_core_on_the_same_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(
        capsys, "explore", "--runs", "4", "--nodes", "3", "--jobs", "1,2", "--json"
    )
    assert status == 0
    assert result["identical_outcomes"] is True
    assert [r["jobs"] for r in result["rows"]] == [1, 2]
    assert result["rows"][0]["scaling"] == 1.0
    assert all(r["runs_per_s"] > 0 and r["cpu_s"] > 0 for r in result["rows"])
    # The machine's own ceiling, measured beside: one process is the unit.
    assert [r["ceiling"] > 0 for r in result["rows"]] == [True, True]
    assert result["rows"][0]["ceiling"] == 1.0
    assert result["start_method"] in ("fork", "spawn")
    # The same runs in independent processes side by side: their outcomes are compared
    # too (identical_outcomes), and their throughput is the workload's own ceiling.
    two = result["rows"][1]
    assert two["apart_runs_per_s"] > 0
    assert two["apart_runs_per_cpu_s"] > 0
    assert result["rows"][0]["apart"] == 1.0
    assert two["steal_pct"] is None or 0 <= two["steal_pct"] <= 100


def test_verify_re_executes_a_generated_trace(capsys: pytest.CaptureFixture[str]) -> None:
    status, result = run_bench(capsys, "verify", "--events", "1500", "--json")
    assert status == 0
    assert result["timed"]["ok"]
    assert result["events"] >= 1500
    assert result["peak_traced_bytes_full"] >= result["peak_traced_bytes_quarter"] > 0


def test_sim_reports_every_repetition_with_the_load_before_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(capsys, "sim", "--seconds", "0.02", "--reps", "2", "--json")
    assert status == 0
    assert len(result["reps"]) == 2
    for rep in result["reps"]:
        assert rep["elections"] >= 1
        assert rep["elections_per_cpu_s"] > 0
        assert rep["loadavg"] >= 0
        assert "busy" in rep
    span = result["per_cpu_s"]
    assert span["n"] == 2
    assert span["min"] <= span["median"] <= span["max"]
    assert result["elections"] == sum(rep["elections"] for rep in result["reps"])


def test_sim_prints_the_load_and_the_median_with_its_spread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = run_bench(capsys, "sim", "--seconds", "0.02", "--reps", "2")
    assert status == 0
    assert out.startswith("machine: ")
    assert out.count("load ") >= 3  # the machine's, and one before each repetition
    assert "median [min-max]" in out


def test_verify_reports_bytes_per_event_plain_gzip_and_zstandard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(capsys, "verify", "--events", "1500", "--reps", "2", "--json")
    assert status == 0
    assert result["ok"]
    assert len(result["reps"]) == 2
    rows = {row["format"]: row for row in result["formats"]}
    assert list(rows) == ["jsonl", "jsonl.gz", "jsonl.zst"]
    assert all(row["ok"] for row in rows.values())
    assert rows["jsonl"]["bytes"] == result["trace_bytes"]
    for packed in ("jsonl.gz", "jsonl.zst"):
        assert 0 < rows[packed]["bytes_per_event"] < rows["jsonl"]["bytes_per_event"] / 4


def test_a_bench_that_cannot_measure_says_why_and_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="zkfle")
    cli.add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "verify", "--events", "10", "--formats", "jsonl.bz2"])
    assert console_bench.cmd_bench(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "zkfle bench verify: unknown trace format 'jsonl.bz2'" in captured.err


def test_verify_takes_an_existing_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "given.jsonl"
    written = make_trace(trace, 800, nodes=3)
    status, result = run_bench(capsys, "verify", "--trace", str(trace), "--json")
    assert status == 0
    assert result["events"] == written
    assert result["timed"]["events"] == written


def test_import_generates_imports_and_checks_real_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(capsys, "import", "--gib", "0.004", "--quiet", "--json")
    assert status == 0
    quarter, full = result["import"]
    assert full["bytes"] > 3 * quarter["bytes"]
    assert full["events"] > 3 * quarter["events"]
    assert full["peak_rss_mib"] > 0
    assert result["check"]["events"] == full["events"] + 1  # and the footer
    assert result["check"]["disagreements"] == 0
    # explain of the same logs: the 3.8 capture's two outages, once per copy of it
    small, whole = result["explain"]
    assert whole["bytes"] == full["bytes"]
    assert whole["outages"] > 3 * small["outages"] > 0
    assert result["explain_s_per_gib"] > 0
    live = result["live_explain"]
    assert 0 < live["median_ms"] <= live["max_ms"]
    assert live["phases"] >= 4


def test_import_takes_existing_logs(capsys: pytest.CaptureFixture[str]) -> None:
    logs = Path(__file__).parent / "data" / "zklogs" / "3.8-failover"
    status, result = run_bench(capsys, "import", "--logs", str(logs), "--quiet", "--json")
    assert status == 0
    [run] = result["import"]
    assert run["events"] == 720
    assert result["memory_growth_4x_logs"] is None
    [explained] = result["explain"]
    assert explained["outages"] == 2


def test_recording_compares_with_and_without_a_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(
        capsys, "recording", "--sizes", "3", *FAST, "--sim-elections", "2", "--json"
    )
    assert status == 0
    (row,) = result["threaded"]
    assert row["took_ms"]["no_trace"]["n"] == 1
    assert row["took_ms"]["trace"]["n"] == 1
    assert isinstance(row["took_cost"], float)
    assert result["sim"]["elections"] == 2
    assert result["sim"]["cpu_s_trace"] > 0


@pytest.mark.parametrize("where", ["its own", "the console's"])
def test_console_counts_frames_under_a_storm(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    profile = tmp_path / "ui.prof"
    status, result = run_bench(
        capsys,
        "console",
        *("--seconds", "0.5", "--nodes", "3", "--reps", "2", "--profile", str(profile)),
        *(["--in-process"] if where == "the console's" else []),
        "--json",
    )
    assert status == 0
    if not result["available"]:
        pytest.skip(result["reason"])
    assert result["cluster_process"] == where  # the elections measured where it ran
    own = where == "its own"  # then what the traffic between the processes costs
    assert (result["publisher_cpu_fraction"] is not None) == own
    assert (result["reader_cpu_fraction"] is not None) == own
    assert result["frames"] >= 1
    assert result["storm_events"] > 0
    assert 0 < result["frame_p50_ms"] <= result["frame_p99_ms"]
    # two pairs of elections, one of each pair with the console drawing
    assert result["took_ms_drawing"]["n"] == result["took_ms_stopped"]["n"] == 2
    assert len(result["took_ratios"]) == 2
    assert result["took_ratio"]["min"] <= result["took_ratio"]["median"]
    # the load before each pair and before the storm (issue 13, item 6)
    assert len(result["load_before_pairs"]) == 2
    assert all(load >= 0 for load in [*result["load_before_pairs"], result["load_before_storm"]])
    # the UI thread's profile of the storm, readable by pstats
    assert "poll" in pstats.Stats(str(profile)).get_stats_profile().func_profiles


@pytest.mark.zk
@pytest.mark.skipif(java_missing() is not None, reason=f"real ZooKeeper: {java_missing()}")
def test_zk_figures_come_from_real_zookeeper_in_the_same_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, result = run_bench(capsys, "zk", "--sizes", "3", *FAST, "--json")
    assert status == 0
    assert str(result["zookeeper"]["zookeeper"]).startswith("3.")
    (first,) = result["election"]
    (after,) = result["failover"]
    took = first["zookeeper"]["took_max_ms"]["median"]
    assert 0 < first["zookeeper"]["took_leader_ms"]["median"] <= took
    assert first["took_zk_ratio"] == round(first["took_ms"]["median"] / took, 2)
    assert first["zookeeper"]["sent"]["median"] >= 2  # the proxy carried their notifications
    wall = after["zookeeper"]["wall_ms"]["median"]
    assert wall > 0
    assert after["stable_zk_ratio"] == round(after["stable_ms"]["median"] / wall, 2)


def test_without_zookeeper_ours_are_still_measured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zk, "java_missing", lambda: "no `java` on PATH")
    status, result = run_bench(capsys, "election", "--sizes", "3", *FAST, "--zk", "--json")
    assert status == 0
    assert result["zookeeper_note"] == "real ZooKeeper cannot run here: no `java` on PATH"
    assert result["election"][0]["ok"] == 1
    assert "zookeeper" not in result["election"][0]
    status, out = run_bench(capsys, "election", "--sizes", "3", *FAST, "--zk")
    assert status == 0
    assert "ZooKeeper not measured: real ZooKeeper cannot run here: no `java` on PATH" in out


def test_the_probe_sees_stability_when_the_cluster_view_does() -> None:
    """The instant the probe reports is the first at which ClusterView.stable holds."""
    options = ClusterOptions(nodes=5, runtime="sim", seed=11, record=False)
    with Cluster(options) as cluster:
        probe = StabilityProbe(cluster.recorder)
        cluster.recorder.listeners.append(probe)
        probe.arm()
        cluster.start()
        assert cluster.wait_for(probe.done.is_set, 10_000)
        assert probe.leader == 5
        assert cluster.view().stable
        assert cluster.host.stable_leader() == 5
        assert probe.t_stable == cluster.host.now()
        assert probe.elapsed_ms is not None
        assert probe.elapsed_ms >= 200.0
        assert cluster.wait_until(lambda v: v.settled, 10_000)
        probe.arm(not_leader=5)
        cluster.execute("crash 5")
        assert cluster.wait_for(probe.done.is_set, 10_000)
        assert probe.leader == 4  # settled: every follower has the new epoch
        assert cluster.host.stable_leader() == 4


def test_proxy_times_frames_direct_and_through_the_proxy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--reps 0` leaves out the real ZooKeeper ensembles (no JVM in the tests)."""
    status, result = run_bench(
        capsys, "proxy", "--frames", "40", "--reps", "0", "--quiet", "--json"
    )
    assert status == 0
    for plane in ("election", "quorum"):
        row = result["frames"][plane]
        assert row["direct_us"]["n"] == row["proxied_us"]["n"] == 40
        assert row["proxied_us"]["min"] > 0
        assert isinstance(row["added_ms"], float)
    assert result["election"] == {"skipped": "--reps 0"}
    assert result["targets"] == {"added_ms": 1.0, "failover_ratio": 1.1}
    status, text = run_bench(capsys, "proxy", "--frames", "8", "--reps", "0", "--quiet")
    assert status == 0
    assert "one-way latency per frame" in text
    assert text.count(" ms\n") >= 2  # "added +0.0xx ms" for both planes
    assert "election: skipped (--reps 0)" in text


def test_bad_sizes_are_refused() -> None:
    parser = argparse.ArgumentParser(prog="zkfle")
    cli.add_bench_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "election", "--sizes", "3,x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "election", "--sizes", "0"])


PROCESSES = ("client", "leader", "talker", "other")
ZAB_FIGURES = (
    "zkfle_leader_writes_per_s",
    "java_leader_writes_per_s",
    "zkfle_leader_writes_per_cpu_s",
    "java_leader_writes_per_cpu_s",
    "zkfle_leader_snap_ms",
    "zkfle_learner_snap_ms",
    "java_leader_snap_ms",
    "standalone_sync_writes_per_s",
    "standalone_nosync_writes_per_s",
)
CPU_PER_WRITE = (  # a process may use less than a clock tick of CPU in a short run
    *(f"{name}_cpu_us_{what}" for name in ("zkfle_leader", "java_leader") for what in PROCESSES),
    *(f"standalone_{s}_cpu_us_{what}" for s in ("sync", "nosync") for what in PROCESSES[:2]),
)


@pytest.mark.zk
@pytest.mark.skipif(java_missing() is not None, reason=f"real ZooKeeper: {java_missing()}")
def test_zab_bench_measures_a_zkfle_leader_and_java_in_the_same_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ("--writes", "100", "--snap-znodes", "100", "--znode-bytes", "64", "--reps", "1")
    status, result = run_bench(capsys, "zab", *argv, "--quiet", "--json")
    assert status == 0
    assert str(result["zookeeper"]).startswith("3.")
    for figure in ZAB_FIGURES:
        assert result["results"][figure]["n"] == 1, figure
        assert result["results"][figure]["median"] > 0, figure
    for cpu in CPU_PER_WRITE:
        assert result["results"][cpu]["n"] == 1, cpu
        assert result["results"][cpu]["median"] >= 0, cpu
    assert result["results"]["zkfle_leader_cpu_us_client"]["median"] > 0  # this process wrote


def test_zab_bench_without_java_says_so_and_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zab, "java_missing", lambda: "no `java` on PATH")
    parser = argparse.ArgumentParser(prog="zkfle")
    cli.add_bench_parser(parser.add_subparsers(dest="command"))
    assert console_bench.cmd_bench(parser.parse_args(["bench", "zab", "--quiet"])) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "zkfle bench zab: nothing to measure against without real ZooKeeper: no `java` on PATH\n"
    )
