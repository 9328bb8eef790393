"""`zkfle import`: real and hand-written ZooKeeper logs to traces (engine.replay.zkimport)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.cli import main
from engine.core.quorum.parse import parse_dynamic_config
from engine.replay.player import Replayer
from engine.replay.zkimport import importer, runs
from engine.replay.zkimport.files import id_from_name
from engine.replay.zkimport.importer import LogImportError, import_logs
from engine.trace.format import VERSION, validate
from tests.zklogs import DATA, FRAGMENTS, REAL, imported, of, real_log, shift_clock


def _ordered(events: list[dict[str, Any]]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    times = [e["t_ms"] for e in events]
    assert times == sorted(times)
    assert times[0] == 0.0


# --- the real logs ------------------------------------------------------------------------------


def test_a_real_failover_becomes_a_trace(tmp_path: Path) -> None:
    summary, trace, events = imported(tmp_path, "3.8-failover")
    header = trace.header
    assert (header["version"], header["runtime"], header["transport"]) == (
        VERSION,
        "imported",
        "tcp",
    )
    assert [s["sid"] for s in header["cluster"]["servers"]] == [1, 2, 3]
    assert header["source"]["inferred_cluster"] is True
    # every timing value came from the servers' own log lines
    assert header["timing"]["tick_time_ms"] == 500
    assert (header["timing"]["init_limit"], header["timing"]["sync_limit"]) == (10, 5)
    assert header["source"]["assumed"] == []
    assert trace.complete
    _ordered(events)
    assert sorted(summary.servers) == [1, 2, 3]
    for sid in (1, 2, 3):
        assert summary.servers[sid].id_from == {"[myid:N] tags or myid=N thread names"}
        assert len(of(events, sid, "election")) == 2  # the first election, then the failover
        assert summary.servers[sid].formats.most_common(1)[0][0] == "3.6-3.9"
    assert [e["took_ms"] for e in of(events, 1, "took")] == [373, 221]
    states = [(e["state"], e.get("zab")) for e in of(events, 3, "peer_state")]
    assert states[:3] == [("LOOKING", None), ("LEADING", "ELECTION"), ("LEADING", None)]
    assert ("FOLLOWING", "BROADCAST") in states  # after its restart
    # n3 was killed: n1's connection to it broke and its restart refused n1 at first
    what = {(e["node"], e["what"], e.get("reason")) for e in events if e["kind"] == "zk"}
    assert (1, "conn_broken", None) in what
    assert (1, "conn_failed", "refused") in what
    assert (1, "follow_failed", "eof") in what
    assert (2, "quorum_formed", None) in what
    # nothing was lost: every line is an event or a continuation of one
    assert summary.lines == sum(st.lines for st in summary.servers.values())
    assert summary.events == len(events) - 1  # the footer is no event of a server
    assert summary.unplaced_no_time == summary.unplaced_no_server == 0
    assert validate(trace.path) == []


def test_same_machine_clocks_agree(tmp_path: Path) -> None:
    summary, trace, _ = imported(tmp_path, "3.8-quorum-loss")
    assert summary.skew[1].status == "reference"
    for sid in (2, 3, 4, 5):
        k = summary.skew[sid]
        assert k.status == "estimated"
        assert k.offset_ms == 0.0
        assert k.consistent
    assert trace.header["source"]["skew"]["3"]["status"] == "estimated"


def test_a_quorum_loss_shows_the_back_off(tmp_path: Path) -> None:
    summary, _, events = imported(tmp_path, "3.8-quorum-loss")
    assert sorted(summary.servers) == [1, 2, 3, 4, 5]
    assert [e["timeout_ms"] for e in of(events, 1, "fle_timeout")] == [400, 800, 1600, 3200, 6400]
    refused = [e for e in of(events, 1, "zk") if e["what"] == "conn_failed"]
    assert refused
    assert {e["reason"] for e in refused} == {"refused"}
    assert {e["peer"] for e in refused} <= {3, 4, 5}
    assert all(e["exception"].startswith("java.net.ConnectException") for e in refused)
    assert all(e["more"] > 1 for e in refused)  # the stack trace, kept as a count
    assert [e["took_ms"] for e in of(events, 1, "took")] == [641, 10004]


def test_debug_logs_give_every_vote_sent(tmp_path: Path) -> None:
    _, _, events = imported(tmp_path, "3.8-debug")
    sent = of(events, 1, "sent")
    broadcasts = [e for e in sent if not e.get("reply")]
    replies = [e for e in sent if e.get("reply")]
    assert broadcasts
    assert replies
    assert broadcasts[0]["n"] == {
        "state": "LOOKING",
        "leader": 1,
        "zxid": "0x0",
        "election_epoch": 1,
        "peer_epoch": 0,
    }
    assert {e["to"] for e in broadcasts[:3]} == {1, 2, 3}


def test_a_zoo_cfg_gives_the_cluster_and_its_timing(tmp_path: Path) -> None:
    cfg = DATA / "3.8-failover" / "zoo.cfg"
    _, trace, _ = imported(tmp_path, "3.8-failover", config=cfg)
    header = trace.header
    assert header["source"]["inferred_cluster"] is False
    qv = parse_dynamic_config(header["cluster"]["config"])
    assert qv.all_members[3].election_addr == (("127.0.0.1", 27603),)
    assert header["timing"]["tick_time_ms"] == 500


def test_a_clock_five_seconds_ahead_is_found_and_corrected(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for sid in (1, 2, 3):
        text = real_log("3.8-failover", sid)
        (logs / f"node{sid}").mkdir(parents=True)
        (logs / f"node{sid}" / "zookeeper.log").write_text(
            shift_clock(text, 5000) if sid == 2 else text
        )
    summary, _, events = imported(tmp_path, logs)
    k = summary.skew[2]
    assert k.status == "estimated"
    assert k.consistent
    assert k.offset_ms == pytest.approx(5000, abs=25)
    assert summary.skew[3].offset_ms == pytest.approx(0, abs=25)
    _ordered(events)
    # corrected: n2's first election starts before n1 hears its first vote, as it did
    n2_start = of(events, 2, "election")[0]["t_ms"]
    n1_hears_n2 = next(e for e in of(events, 1, "recv") if e["n"]["sid"] == 2)["t_ms"]
    assert n2_start < n1_hears_n2 < n2_start + 100
    # and the server's own time stays in `at`
    assert of(events, 2, "election")[0]["at"] == "2026-12-06T08:10:27.145"


# --- files as they come -------------------------------------------------------------------------


def test_rotated_and_compressed_parts_read_as_the_whole(tmp_path: Path) -> None:
    lines = real_log("3.8-quorum-loss", 1).splitlines(keepends=True)  # [myid:1] on every line
    half = len(lines) // 2
    while lines[half][:1] in ("\t", "j"):  # do not cut a stack trace
        half += 1
    split = tmp_path / "split"
    split.mkdir()
    with gzip.open(split / "zookeeper.log.1.gz", "wt") as f:
        f.write("".join(lines[:half]))
    (split / "zookeeper.log").write_text("".join(lines[half:]))
    whole = tmp_path / "whole.log"
    whole.write_text("".join(lines))
    summary, _, parts = imported(tmp_path / "a", split)
    _, _, one = imported(tmp_path / "b", whole)
    names = [str(split / "zookeeper.log"), str(split / "zookeeper.log.1.gz")]
    assert summary.servers[1].files == names  # both parts, as the directory lists them

    def content(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["kind"], e.get("at"), e.get("text"), e.get("n")) for e in events]

    assert content(parts) == content(one)


def test_a_server_lists_every_file_it_was_read_from(tmp_path: Path) -> None:
    lines = (DATA / "3.4.14" / "zookeeper-1.log").read_text().splitlines(keepends=True)
    (tmp_path / "zookeeper.log.1").write_text("".join(lines[:10]))  # every line says [myid:1]
    (tmp_path / "zookeeper.log").write_text("".join(lines[10:]))
    summary, _, _ = imported(tmp_path, tmp_path / "zookeeper.log.1", tmp_path / "zookeeper.log")
    assert summary.servers[1].files == [
        str(tmp_path / "zookeeper.log.1"),
        str(tmp_path / "zookeeper.log"),
    ]


def test_a_truncated_gz_keeps_what_came_before(tmp_path: Path) -> None:
    data = gzip.compress(real_log("3.8-failover", 1).encode())
    cut = tmp_path / "zookeeper.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    summary, _, events = imported(tmp_path, cut)
    [note] = summary.notes
    assert note.startswith(f"{cut}:")
    assert "the compressed data ends early" in note
    assert "kept what came before" in note
    assert len(events) > 50


def test_a_file_that_is_not_a_log_gets_one_line(tmp_path: Path) -> None:
    with pytest.raises(LogImportError) as info:
        imported(tmp_path, "not-a-log.txt")
    assert str(info.value) == (
        f"nothing could be imported: {DATA / 'not-a-log.txt'}: not a ZooKeeper log"
        " (no line has a log4j/logback timestamp)"
    )
    binary = tmp_path / "snapshot.0"
    binary.write_bytes(b"ZKSN\x00\x00\x00\x02" + bytes(range(256)))
    summary, _, _ = imported(tmp_path, binary, "3.3.0-server1.log")
    assert f"{binary}: not a ZooKeeper log (binary data)" in summary.notes


def test_a_directory_sums_up_the_files_that_are_not_logs(tmp_path: Path) -> None:
    shutil.copytree(DATA / "3.8-failover", tmp_path / "ensemble")
    (tmp_path / "ensemble" / "node1" / "myid").write_text("1\n")
    summary, _, _ = imported(tmp_path, tmp_path / "ensemble")
    assert summary.notes == [
        f"{tmp_path / 'ensemble'}: skipped 2 file(s) that are not ZooKeeper logs (myid, zoo.cfg)"
    ]
    assert sorted(summary.servers) == [1, 2, 3]


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(LogImportError, match=r"nope\.log: no such file or directory"):
        imported(tmp_path, tmp_path / "nope.log")
    summary, _, _ = imported(tmp_path, tmp_path / "nope.log", "3.3.0-server1.log")
    assert summary.notes == [f"{tmp_path / 'nope.log'}: no such file or directory"]


def test_a_log_that_never_names_its_server_needs_myid(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    anonymous = tmp_path / "logs" / "server.log"  # no number in its name or its directory's
    shutil.copy(DATA / "3.3.6" / "zookeeper-2.log", anonymous)
    with pytest.raises(LogImportError, match="say which with --myid"):
        imported(tmp_path, anonymous)
    summary, _, events = imported(tmp_path, anonymous, myid=2)
    assert summary.servers[2].id_from == {"--myid"}
    assert len(of(events, 2, "recv")) == 5


@pytest.mark.parametrize(
    ("name", "sid"),
    [
        ("zookeeper-3.log", 3),
        ("zoo3.out", 3),
        ("zookeeper.log.2.gz", None),  # a rotation number is no server id
        ("node4/zookeeper.log.1", 4),
        ("logs-2024-01-05/zookeeper.log", None),
        ("zookeeper_2024-01-05.log", None),
    ],
)
def test_server_ids_in_file_names(name: str, sid: int | None) -> None:
    assert id_from_name(Path(name)) == sid


# --- the hand-written fragments -----------------------------------------------------------------

EXPECTED: dict[str, tuple[list[int], str, str]] = {
    # fragment: servers, where the ids came from, notification format
    "3.3.0-server1.log": ([1], "what the lines say (My id = N, ...)", "3.3.0-3.3.1"),
    "3.3.6": ([2], "the file name 'zookeeper-2.log'", "3.3.2-3.3.6"),
    "3.4.1-all-servers.log": ([1, 2, 3], "[myid:N] tags or myid=N thread names", "3.4.0-3.4.2"),
    "3.4.5-server3.log": ([3], "[myid:N] tags or myid=N thread names", "3.4.3-3.4.5"),
    "3.4.14": ([1, 2, 3], "[myid:N] tags or myid=N thread names", "3.4.6-3.4.14"),
    "3.5.10": ([1, 3], "[myid:N] tags or myid=N thread names", "3.5"),
    "3.6.4": ([1, 2, 3], "[myid:N] tags or myid=N thread names", "3.6-3.9"),
    "3.7.2": ([1, 2, 3, 4, 5], "[myid:N] tags or myid=N thread names", "3.6-3.9"),
    "3.9.3": ([1, 2, 3], "[myid:N] tags or myid=N thread names", "3.6-3.9"),
    "docker-compose.log": ([1, 2, 3], "[myid:N] tags or myid=N thread names", "3.6-3.9"),
    "kubernetes": ([1], "[myid:N] tags or myid=N thread names", "3.6-3.9"),
    "confluent-zookeeper.log": ([2], "what the lines say (My id = N, ...)", "3.6-3.9"),
    "pasted-issue.md": ([1, 3], "[myid:N] tags or myid=N thread names", "3.6-3.9"),
}


@pytest.mark.parametrize("name", FRAGMENTS)
def test_every_release_and_wrapping_imports(tmp_path: Path, name: str) -> None:
    servers, id_from, variant = EXPECTED[name]
    summary, trace, events = imported(tmp_path, name)
    assert sorted(summary.servers) == servers
    for sid in servers:
        stats = summary.servers[sid]
        assert id_from in stats.id_from
        assert [v for v, _ in stats.formats.most_common()] == [variant]
        # the election every fragment shows: n3 leads (3.3 logs no `took`)
        assert of(events, sid, "recv")
        decided = [e["state"] for e in of(events, sid, "peer_state") if e["state"] != "LOOKING"]
        assert decided[0] == ("LEADING" if sid == 3 else "FOLLOWING")
    _ordered(events)
    assert validate(trace.path) == []


def test_a_merged_file_out_of_time_order_is_sorted(tmp_path: Path) -> None:
    """3.4.1-all-servers.log has n2's lines, then n3's, then n1's."""
    _, _, events = imported(tmp_path, "3.4.1-all-servers.log")
    assert [e["node"] for e in events[:3]] == [1, 3, 2]  # the starts, in time order
    assert [int(e["src"].rsplit(":", 1)[1]) for e in events[:3]] == [21, 11, 1]


def test_compose_output_reads_each_service_as_a_server(tmp_path: Path) -> None:
    summary, _, events = imported(tmp_path, "docker-compose.log")
    assert summary.unplaced_no_time == 3  # "Attaching to ...", the entry script's two lines
    [refused] = [e for e in of(events, 1, "zk") if e["what"] == "conn_failed"]
    assert refused["peer"] == 3
    assert refused["reason"] == "refused"
    assert refused["more"] == 3


def test_a_pasted_issue_is_read_through_its_markdown(tmp_path: Path) -> None:
    summary, _, events = imported(tmp_path, "pasted-issue.md")
    assert summary.unplaced_no_time == 4  # the prose before the first log line
    assert summary.unplaced_no_server == 1  # `[myid:]` on the main thread, two servers pasted
    assert any(e.endswith("pasted-issue.md:25: no server id") for e in summary.examples)
    # n3's ListenerHandler thread named n3 once: its unnamed line is n3's too
    assert summary.servers[3].id_from == {
        "[myid:N] tags or myid=N thread names",
        "their thread, whose other lines named the server",
    }
    assert len(of(events, 1, "recv")) == 6  # with the one the paste wrapped
    dropped = [e for e in of(events, 3, "zk") if e["what"] == "conn_dropped"]
    assert dropped == [dropped[0]]
    assert dropped[0]["peer"] == 1  # through its `--&gt;`


def test_older_releases_name_what_happened_to_a_learner(tmp_path: Path) -> None:
    _, _, events = imported(tmp_path, "3.4.14")
    zk = [(e["what"], e.get("reason"), e.get("peer")) for e in of(events, 1, "zk")]
    assert ("follow_failed", "read timed out", None) in zk
    assert ("shutdown", None, None) in zk
    assert ("conn_failed", "timed out", 2) in zk
    assert ("conn_failed", "unresolved", 3) in zk
    [shutdown] = [e for e in of(events, 1, "zk") if e["what"] == "shutdown"]
    assert shutdown["role"] == "follower"
    _, _, events = imported(tmp_path, "3.5.10")
    zk3 = {e["what"]: e for e in of(events, 3, "zk")}
    assert zk3["conn_dropped"]["peer"] == 1
    assert zk3["not_in_config"]["peer"] == 4
    assert zk3["quorum_formed"]["sids"] == [1, 3]
    reason = "Not sufficient followers synced, only synced with sids: [ 3 ]"
    assert zk3["shutdown"]["reason"] == reason


# --- the command --------------------------------------------------------------------------------


def test_zkfle_import_summarises_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["import", str(DATA / "3.8-failover"), "--trace", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"-> {out} (720 events)" in err
    assert "n1: " in err
    assert "159 other lines kept as log events" in err
    assert "clock skew from" in err
    assert f"next: zkfle replay {out}" in err


def test_zkfle_import_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["import", str(DATA / "docker-compose.log"), "--trace", str(out), "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["trace"] == str(out)
    assert report["events"] == 35
    assert report["unplaced"]["no_timestamp"] == 3
    assert sorted(report["servers"]) == ["1", "2", "3"]
    assert report["servers"]["1"]["kinds"]["recv"] == 6


def test_zkfle_import_of_nothing_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["import", str(DATA / "not-a-log.txt"), "--trace", str(out)]) == 2
    assert "not a ZooKeeper log" in capsys.readouterr().err
    assert not out.exists()
    bad_cfg = tmp_path / "zoo.cfg"
    bad_cfg.write_text("server.1=nowhere\n")
    log = str(DATA / "3.3.0-server1.log")
    assert main(["import", log, "--config", str(bad_cfg), "--trace", str(out)]) == 2
    assert "zoo.cfg" in capsys.readouterr().err


def test_import_leaves_no_half_trace_and_no_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    import_logs([DATA / "3.8-debug"], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]


@pytest.mark.parametrize("name", REAL)
def test_every_real_capture_imports_and_validates(tmp_path: Path, name: str) -> None:
    summary, trace, events = imported(tmp_path, name)
    assert summary.unplaced_no_time == summary.unplaced_no_server == 0
    _ordered(events)
    assert validate(trace.path) == []


def test_reading_files_in_parallel_gives_the_same_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big imports read a file per CPU in worker processes: the trace is byte for byte the
    one a single process writes (small runs force spilling and merging too)."""
    monkeypatch.setattr(runs, "RUN_EVENTS", 50)
    one = tmp_path / "one.jsonl"
    import_logs([DATA / "3.8-failover"], one)
    monkeypatch.setattr(importer, "PARALLEL_BYTES", 0)
    many = tmp_path / "many.jsonl"
    summary = import_logs([DATA / "3.8-failover"], many)
    assert many.read_bytes() == one.read_bytes()
    assert sorted(summary.servers) == [1, 2, 3]


def test_merging_many_runs_in_passes_gives_the_same_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more runs than the merge takes at once, a source's runs are first merged on
    disk (so the merge's memory does not grow with the logs): the trace is the same."""
    one = tmp_path / "one.jsonl"
    import_logs([DATA / "3.8-failover"], one)
    monkeypatch.setattr(runs, "RUN_EVENTS", 20)
    monkeypatch.setattr(runs, "SPILL_CHUNK", 7)
    monkeypatch.setattr(runs, "MAX_MERGE", 3)
    counts: list[int] = []
    compact = runs.Runs.compact

    def counted(self: runs.Runs) -> None:
        counts.append(len(self.runs))
        compact(self)
        counts.append(len(self.runs))
        counts.append(len({source for source, _ in self.runs}))

    monkeypatch.setattr(runs.Runs, "compact", counted)
    passes = tmp_path / "passes.jsonl"
    import_logs([DATA / "3.8-failover"], passes)
    before, after, sources = counts
    assert before > 3 * sources  # many runs per source ...
    assert after <= max(3, sources)  # ... merged down to what one merge takes (or one each)
    assert passes.read_bytes() == one.read_bytes()


def test_the_readme_session_runs_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, "Debugging a real ZooKeeper: imported logs": import, check, then replay."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Debugging a real ZooKeeper: imported logs", 1)[1]
    commands = [line.strip().split() for line in section.splitlines()[:20] if "    zkfle " in line]
    assert [c[1] for c in commands] == ["import", "check", "replay"]
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "tests" / "data" / "zklogs").symlink_to(DATA)
    monkeypatch.chdir(tmp_path)
    assert main(commands[0][1:]) == 0
    err = capsys.readouterr().err
    first = next(line for line in section.splitlines() if line.startswith("zkfle import: "))
    assert err.splitlines()[0] == first
    assert main(commands[1][1:]) == 0
    assert "no disagreement with the model" in capsys.readouterr().out
    with Replayer(tmp_path / commands[2][2]) as replay:  # the console on it: tests/console
        replay.seek(replay.total)
        assert replay.view().leader == 2
