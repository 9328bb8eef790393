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
        "messages",
        "trace",
        "violations",
    }
    assert result["stable"] is True
    assert result["leader"] == 3
    assert 200 <= result["elapsed_ms"] < 400  # one finalize wait, in virtual time
    assert result["trace"] == str(trace)
    assert trace.exists()
    assert result["violations"] == []
    assert set(result["messages"]) == {"sent", "delivered", "dropped"}
    assert [n["sid"] for n in result["nodes"]] == [1, 2, 3]
    leader = result["nodes"][2]
    assert leader["state"] == "LEADING"
    assert leader["type"] == "participant"
    assert leader["vote"] == {"leader": 3, "zxid": "0x0", "election_epoch": 1, "peer_epoch": 1}
    assert (leader["current_epoch"], leader["accepted_epoch"], leader["last_zxid"]) == (1, 1, "0x0")
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


def test_a_bad_script_line_exits_2_names_the_place_and_runs_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "s.fle"
    script.write_text("start\n# fine so far\ncrash x\n")
    trace = tmp_path / "never.jsonl"
    status, out, err = run(capsys, *SIM, "--script", str(script), "--trace", str(trace))
    assert status == 2
    assert f"{script}:3:7: crash: expected" in err
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
