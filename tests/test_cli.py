"""`zkfle run`: the JSON result of DESIGN §4 and the exit statuses 0, 1 and 2."""

from pathlib import Path

import orjson
import pytest

from console.cli import main

SIM = ["run", "--sim", "--seed", "1", "--nodes", "3"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_json_is_the_object_of_the_design(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "r.jsonl"
    status, out, _ = run(capsys, *SIM, "--json", "--trace", str(trace))
    assert status == 0
    result = orjson.loads(out)
    assert set(result) == {
        "stable",
        "leader",
        "elapsed_ms",
        "nodes",
        "serving_leader",
        "quorum",
        "messages",
        "trace",
        "failures",
        "violations",
    }
    assert result["stable"] is True
    assert result["leader"] == 3
    assert 200 <= result["elapsed_ms"] < 400  # one finalize wait, in virtual time
    assert result["trace"] == str(trace)
    assert trace.exists()
    assert result["violations"] == []
    assert result["failures"] == []
    assert result["serving_leader"] == 3
    assert result["quorum"] == {"up": 3, "needed": 2}
    m = result["messages"]
    assert set(m) == {"sent", "delivered", "dropped", "in_flight"}
    assert m["sent"] == m["delivered"] + m["dropped"] + m["in_flight"]
    assert m["sent"] > 0
    assert [n["sid"] for n in result["nodes"]] == [1, 2, 3]
    leader = result["nodes"][2]
    assert leader["state"] == "LEADING"
    assert leader["type"] == "participant"
    assert leader["vote"] == {"leader": 3, "zxid": "0x0", "election_epoch": 1, "peer_epoch": 1}
    # srvr's Zxid: the epoch's once established (Leader.startZkServer), none logged yet
    assert (leader["current_epoch"], leader["accepted_epoch"], leader["last_zxid"]) == (
        1,
        1,
        "0x100000000",
    )
    assert {n["leader"] for n in result["nodes"]} == {3}


def test_a_failed_expect_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = tmp_path / "s.fle"
    script.write_text("start\nwait until stable within 5s\nexpect leader == 1\n")
    status, out, _ = run(capsys, *SIM, "--no-trace", "--script", str(script))
    assert status == 1
    assert "leader == 1: did not hold" in out


def test_a_wait_that_times_out_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = tmp_path / "s.fle"
    script.write_text("start 1\nwait until stable within 2s\n")  # one of three: no quorum
    status, _, _ = run(capsys, *SIM, "--no-trace", "--script", str(script))
    assert status == 1


def test_failed_checks_name_file_line_predicate_and_seq_on_stderr_and_in_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 17: CI needs to know which check failed, where, and where in the trace."""
    script = tmp_path / "s.fle"
    script.write_text(
        "start 1,2\nwait until stable within 5s\nexpect leader == 1\n"
        "crash 2\nwait until stable within 1s\nexpect n1.alive\n"
    )
    trace = tmp_path / "t.jsonl"
    status, out, err = run(capsys, *SIM, "--json", "--trace", str(trace), "--script", str(script))
    assert status == 1
    failures = orjson.loads(out)["failures"]
    assert [(f["file"], f["line"], f["predicate"]) for f in failures] == [
        (str(script), 3, "leader == 1"),
        (str(script), 5, "stable"),
    ]
    cmds = {e["seq"]: e for e in map(orjson.loads, trace.read_bytes().splitlines()[1:])}
    assert [cmds[f["seq"]]["text"] for f in failures] == [
        "expect leader == 1",
        "wait until stable within 1s",
    ]
    assert err.splitlines() == [
        f"{script}:3: expect: leader == 1: did not hold (seq {failures[0]['seq']})",
        f"{script}:5: wait until: stable: did not hold within 1s (seq {failures[1]['seq']})",
    ]


def test_a_bad_script_line_exits_2_names_the_place_and_runs_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "s.fle"
    script.write_text("start\n# fine so far\ncrash x\nwait 1s\nexpect leader = 3\n")
    trace = tmp_path / "never.jsonl"
    status, out, err = run(capsys, *SIM, "--script", str(script), "--trace", str(trace))
    assert status == 2
    lines = err.splitlines()
    assert lines[0].startswith(f"zkfle: {script}:3:7: crash: expected")
    assert lines[1].startswith(f"zkfle: {script}:5:15: expect: ")  # every bad line
    assert len(lines) == 2
    assert out == ""
    assert not trace.exists()


def test_bad_arguments_exit_2_with_one_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "run", "--config", str(tmp_path / "missing.cfg"), "--no-trace")
    assert status == 2
    assert "missing.cfg" in err
    bad = tmp_path / "zoo.cfg"
    bad.write_text("tickTime=2000\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888\n")
    status, _, err = run(capsys, "run", "--config", str(bad), "--no-trace")
    assert status == 2
    assert "zoo.cfg:4" in err
    assert "server.1" in err
    status, _, err = run(capsys, "run", "--nodes", "0", "--no-trace")
    assert status == 2
    assert "--nodes" in err


def test_a_bad_flag_is_named_not_a_line_of_a_generated_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for flag in ("--tick", "--init-limit", "--sync-limit"):
        status, _, err = run(capsys, *SIM, "--no-trace", flag, "0")
        assert status == 2
        assert err == f"zkfle: {flag} must be at least 1, not 0\n"


def test_run_ignores_the_hosts_myid_every_server_is_ours(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A zoo.cfg copied from a real server names its dataDir, whose myid says which server
    that host is; zkfle runs all of them, so it must not care (it used to refuse 9)."""
    (tmp_path / "myid").write_text("9\n")
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(
        f"tickTime=200\ninitLimit=5\nsyncLimit=2\ndataDir={tmp_path}\n"
        + "".join(f"server.{s}=127.0.0.1:{2887 + s}:{3887 + s}\n" for s in (1, 2, 3))
    )
    status, out, err = run(capsys, "run", "--sim", "--no-trace", "--json", "--config", str(cfg))
    assert (status, err) == (0, "")
    assert orjson.loads(out)["leader"] == 3


def test_two_servers_with_one_address_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(
        "tickTime=200\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\n"
        "server.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3889\n"
    )
    status, _, err = run(capsys, "run", "--sim", "--no-trace", "--config", str(cfg))
    assert status == 2
    assert err == (
        f"zkfle: {cfg}:6: server.3: 127.0.0.1:3889, its election address, is already the"
        " election address of server.2 (line 5): every server needs addresses of its own\n"
    )


def test_run_without_a_script_names_its_failed_wait(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, *SIM, "--no-trace", "--json", "--within", "100")
    assert status == 1  # one finalize wait (200 ms) is longer than 100 ms
    (failure,) = orjson.loads(out)["failures"]
    assert (failure["file"], failure["line"], failure["predicate"]) == (None, None, "stable")
    assert (
        err == f"zkfle run: wait until: stable: did not hold within 100ms (seq {failure['seq']})\n"
    )


def test_cluster_options_before_the_command_count_as_after_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`zkfle --nodes 3 --sim run` ran five threaded nodes: the command's own defaults
    replaced what was given before it. An option given after the command still wins."""
    options = ["--nodes", "3", "--sim", "--seed", "1", "--no-trace"]
    status, before, _ = run(capsys, *options, "run", "--json")
    assert status == 0
    status, after, _ = run(capsys, "run", *options, "--json")
    assert before == after  # the same simulated run, to the microsecond
    result = orjson.loads(before)
    assert len(result["nodes"]) == 3
    assert result["trace"] is None
    status, out, _ = run(capsys, "--nodes", "3", "run", "--nodes", "4", "--sim", "--json")
    assert len(orjson.loads(out)["nodes"]) == 4
