"""The log files named: directories walked, compressed files opened by their magic bytes,
lines numbered, and a server id read from a file's name.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from engine.core.vote import Sid
from engine.replay.zkimport.sources import LogFile
from engine.trace.zklog.layout import Record, Untimed, read_records


def expand(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[LogFile], list[str]]:
    """The files named, directories walked (sorted, hidden files skipped); and problems
    (a path that does not exist)."""
    files: list[LogFile] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        members: list[tuple[Path, str, str | None]]
        if path.is_dir():
            members = [(p, str(p), str(given)) for p in sorted(_walk(path))]
        elif path.exists():
            members = [(path, str(given), None)]
        else:
            problems.append(f"{given}: no such file or directory")
            continue
        for p, shown, directory in members:
            real = p.resolve()
            if real not in seen:
                seen.add(real)
                files.append(LogFile(p, shown, directory))
    return files, problems


def _walk(directory: Path) -> Iterator[Path]:
    for p in directory.rglob("*"):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts):
            yield p


def _open_text(path: Path) -> IO[str]:
    """A text stream of a log, decompressed if it is gzip, bzip2 or xz (by its magic bytes,
    whatever its name); undecodable bytes become U+FFFD."""
    with open(path, "rb") as f:
        magic = f.read(6)
    opener: Callable[..., IO[str]] = open
    if magic[:2] == b"\x1f\x8b":
        opener = gzip.open
    elif magic[:3] == b"BZh":
        opener = bz2.open
    elif magic == b"\xfd7zXZ\x00":
        opener = lzma.open
    return opener(path, "rt", encoding="utf-8", errors="replace", newline="")


def records(f: LogFile, note: Callable[[str], None]) -> Iterator[Record | Untimed]:
    return read_records(_numbered(f, note))


def _numbered(f: LogFile, note: Callable[[str], None]) -> Iterator[tuple[int, str]]:
    """The lines of a file, numbered from 1; a read error ends them with a note."""
    n = 0
    try:
        with _open_text(f.path) as stream:
            first = stream.readline()
            if "\x00" in first:
                note(f"{f.shown}: not a ZooKeeper log (binary data)")
                return
            if first:
                n = 1
                yield 1, first
            for n, line in enumerate(stream, 2):
                yield n, line
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        why = "the compressed data ends early" if isinstance(e, EOFError) else str(e)
        why = why or type(e).__name__
        note(f"{f.shown}:{n + 1}: cannot read on ({why}); kept what came before")


_ROTATION = re.compile(r"(\.(\d+|gz|bz2|xz|log|out|txt|\d{4}-\d\d-\d\d(-\d\d)?))+$")


def id_from_name(path: Path) -> Sid | None:
    """A server id in a file name (`zookeeper-3.log`, `zoo3.out`) or its directory
    (`node3/zookeeper.log`), ignoring rotation suffixes (`.1`, `.2.gz`, dates); a name
    with more than one number (`logs-2024-01-05`) says nothing."""
    for name in (path.name, path.parent.name):
        numbers = re.findall(r"\d+", _ROTATION.sub("", name))
        if len(numbers) == 1:
            return int(numbers[0])
    return None
