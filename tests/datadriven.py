"""A small reader/writer for datadriven scenario files (after etcd-io/raft's testdata).

A file is a sequence of blocks:

    # comments and blank lines between blocks are kept as they are
    command args...
    ----
    expected output
    (until a blank line)

`run_file(path, handler, rewrite)` runs every command through `handler` and compares its
output with the expected text; with `rewrite` it writes the actual output back instead.
If a scenario test fails, run `pytest tests/test_scenarios.py --rewrite`, read the diff,
and only commit it if you understand what caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEPARATOR = "----"


@dataclass
class Block:
    line: int
    command: str
    expected: str
    prefix: str
    """Comments and blank lines before the command (kept on rewrite)."""


def parse(text: str, path: str = "<scenario>") -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    prefix: list[str] = []
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            prefix.append(line)
            i += 1
            continue
        start = i + 1
        command = line.strip()
        i += 1
        if i >= len(lines) or lines[i].strip() != SEPARATOR:
            raise ValueError(f"{path}:{start}: expected {SEPARATOR!r} after {command!r}")
        i += 1
        expected: list[str] = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        blocks.append(Block(start, command, "\n".join(expected), "\n".join(prefix)))
        prefix = []
    return blocks


def render(blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        head = f"{b.prefix}\n" if b.prefix else ""
        parts.append(f"{head}{b.command}\n{SEPARATOR}\n{b.expected}\n")
    return "\n".join(parts)


def run_file(path: Path, handler: Callable[[str], str], rewrite: bool) -> None:
    blocks = parse(path.read_text(), str(path))
    failures = []
    for b in blocks:
        actual = handler(b.command).rstrip("\n") or "ok"
        if rewrite:
            b.expected = actual
        elif actual != b.expected:
            failures.append(
                f"{path.name}:{b.line}: {b.command}\n"
                f"--- expected\n{b.expected}\n--- actual\n{actual}"
            )
            break  # later blocks depend on this one
    if rewrite:
        path.write_text(render(blocks))
    assert not failures, "\n\n".join(failures)
