"""Traces written and read compressed (`.jsonl.gz`, `.jsonl.zst`): every reader of traces
takes them as it takes a plain one, as a stream (engine/trace/compressed.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.control.cluster import Cluster, ClusterOptions
from engine.replay.export import export_lines
from engine.replay.index import TraceIndex
from engine.replay.player import Replayer
from engine.replay.verify import verify
from engine.replay.zkcheck.checker import check
from engine.replay.zkimport.importer import import_logs
from engine.trace.format import Event, RotatingTraceWriter, TraceError, read_trace
from tests.zklogs import DATA

SUFFIXES = [("jsonl.gz", b"\x1f\x8b"), ("jsonl.zst", b"\x28\xb5\x2f\xfd")]
SCENARIO = (
    "start",
    "wait until stable within 10s",
    "crash leader",
    "wait until stable within 10s",
    "write 2",
    "restart all",
    "wait until settled within 10s",
)


def _record(path: Path, seed: int = 5) -> None:
    with Cluster(ClusterOptions(nodes=5, runtime="sim", seed=seed, trace=path)) as cluster:
        for command in SCENARIO:
            assert cluster.execute(command).ok, command


def _events(path: Path) -> list[Event]:
    return list(read_trace(path))


@pytest.mark.parametrize(("suffix", "magic"), SUFFIXES)
def test_a_run_recorded_compressed_is_the_plain_run_and_verifies(
    tmp_path: Path, suffix: str, magic: bytes
) -> None:
    plain, packed = tmp_path / "run.jsonl", tmp_path / f"run.{suffix}"
    _record(plain)
    _record(packed)
    assert packed.read_bytes().startswith(magic)
    assert packed.stat().st_size * 4 < plain.stat().st_size
    trace = read_trace(packed)
    events = list(trace)
    assert events == _events(plain)
    assert trace.complete
    assert trace.notes == []
    result = verify(packed)
    assert result.ok
    assert result.events == len(events)


@pytest.mark.parametrize(("suffix", "magic"), SUFFIXES)
def test_replay_reads_any_event_of_a_compressed_trace_forwards_and_back(
    tmp_path: Path, suffix: str, magic: bytes
) -> None:
    path = tmp_path / f"run.{suffix}"
    _record(path)
    events = _events(path)
    index = TraceIndex(str(path), read_trace(path))
    index.open()
    try:
        last = len(events)
        assert list(index.read(last - 2, last)) == events[-3:]
        assert list(index.read(3, 4)) == events[2:4]  # backwards: decoded again from the start
        assert list(index.stream(1, last)) == events
    finally:
        index.close()


@pytest.mark.parametrize(("suffix", "magic"), SUFFIXES)
def test_the_replayer_seeks_a_compressed_trace_as_the_plain_one(
    tmp_path: Path, suffix: str, magic: bytes
) -> None:
    plain, packed = tmp_path / "run.jsonl", tmp_path / f"run.{suffix}"
    _record(plain)
    _record(packed)
    views = []
    for path in (plain, packed):
        replayer = Replayer(str(path))
        try:
            end = replayer.seek(10**9)
            at_end = replayer.view()
            replayer.seek(end // 3)
            early = replayer.view()
            replayer.seek(end)
            assert replayer.view() == at_end
            views.append((end, early, at_end))
        finally:
            replayer.close()
    assert views[0] == views[1]
    assert views[0][2].leader is not None


@pytest.mark.parametrize(("suffix", "magic"), SUFFIXES)
def test_export_reads_a_compressed_trace(tmp_path: Path, suffix: str, magic: bytes) -> None:
    plain, packed = tmp_path / "run.jsonl", tmp_path / f"run.{suffix}"
    _record(plain)
    _record(packed)
    for fmt in ("text", "mermaid"):
        assert list(export_lines(read_trace(packed), fmt)) == list(
            export_lines(read_trace(plain), fmt)
        )


@pytest.mark.parametrize(("suffix", "magic"), SUFFIXES)
def test_a_compressed_trace_cut_short_keeps_every_complete_line(
    tmp_path: Path, suffix: str, magic: bytes
) -> None:
    """What a killed writer leaves: the stream ends without its trailer, perhaps in the
    middle of a block. Everything decoded before the cut is read; nothing raises."""
    whole = tmp_path / f"run.{suffix}"
    _record(whole)
    events = _events(whole)
    data = whole.read_bytes()
    for keep in (len(data) - 8, len(data) * 2 // 3, len(data) // 3):
        cut = tmp_path / f"cut{keep}.{suffix}"
        cut.write_bytes(data[:keep])
        trace = read_trace(cut)
        got = list(trace)
        assert got == events[: len(got)]
        if keep < len(data) - 8:  # (the last 8 bytes of a gzip file are only its trailer)
            assert 0 < len(got) < len(events)
            assert not trace.complete
            assert any("no footer" in note for note in trace.notes)


def test_damaged_compressed_data_is_a_trace_error_that_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl.zst"
    _record(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError) as e:
        list(read_trace(path))
    assert str(e.value).startswith(f"{path}:")
    assert "corrupt compressed data near byte" in e.value.message


def test_a_plain_name_reads_by_content_and_a_wrong_suffix_does_not_matter(
    tmp_path: Path,
) -> None:
    packed = tmp_path / "run.jsonl.gz"
    _record(packed)
    renamed = tmp_path / "renamed.jsonl"
    shutil.copy(packed, renamed)
    assert _events(renamed) == _events(packed)


def test_a_rotated_compressed_trace_keeps_its_suffix_in_every_part(tmp_path: Path) -> None:
    first = tmp_path / "run.jsonl.zst"
    options = ClusterOptions(nodes=5, runtime="sim", seed=5, trace=first, trace_max_bytes=20_000)
    with Cluster(options) as cluster:
        for command in SCENARIO:
            assert cluster.execute(command).ok, command
        assert isinstance(cluster.writer, RotatingTraceWriter)
        parts = cluster.writer.parts
    assert parts >= 2
    second = tmp_path / "run.part2.jsonl.zst"
    assert second.read_bytes().startswith(b"\x28\xb5\x2f\xfd")
    assert read_trace(first).header["parent"] is None
    assert read_trace(second).header["parent"]["trace"] == first.name
    assert verify(second).ok


@pytest.mark.parametrize(("suffix", "magic"), SUFFIXES)
def test_import_writes_a_compressed_trace_that_check_reads(
    tmp_path: Path, suffix: str, magic: bytes
) -> None:
    plain, packed = tmp_path / "real.jsonl", tmp_path / f"real.{suffix}"
    import_logs([DATA / "3.8-failover"], plain)
    import_logs([DATA / "3.8-failover"], packed)
    assert packed.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([plain.name, packed.name])
    assert _events(packed) == _events(plain)
    report = check(packed)
    assert report.events == check(plain).events > 0
    assert report.ok == check(plain).ok
