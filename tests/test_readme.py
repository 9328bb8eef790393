"""Every example in the README runs as shown (issue 17, defect 8).

The examples are read from README.md, never copied here: the `.fle` script block (saved
under the name its first line gives), each command line of the indented shell blocks (run
with the installed `zkfle` in a temp dir, with a deadline), the `zkfle run --json` block
(the shape of the real output), the ```pycon sessions (run as doctests, output compared),
and the first session, typed into the real console in a pseudo-terminal. Synopsis lines
(`zkfle export FILE --format a|b [--from SEQ]`) run in every form they show. A command line
of a kind no test here runs fails `test_every_shell_example_is_run`.
"""

from __future__ import annotations

import doctest
import io
import itertools
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.history import HISTORY_ENV
from engine.trace.format import TRACE_DIR_ENV
from tests.console.terminal import ConsoleTerminal

README = Path(__file__).resolve().parent.parent / "README.md"
ZKFLE = Path(sys.executable).with_name("zkfle")
DEADLINE_S = 120.0
"""Every command gets this long (a threaded cluster on a loaded machine)."""
NOT_RUN = {
    "install": "creates a venv and installs the package: what the test run itself needs",
    "ci": "runs this very suite (.ci/run)",
    "output": "what a command printed (`zkfle import: ...`), shown beside the command",
    "import": "run with its section's session by test_zkimport.py::test_the_readme_session_*",
    "check": "run with its section's session by test_zkimport.py::test_the_readme_session_*",
    "explain": "run with its section's session by test_explain_cli.py::test_the_readme_session_*",
}
"""Kinds of command lines that are not run here, and why."""


@dataclass(frozen=True)
class Block:
    """A code block of README.md: `lang` is "" for an indented one."""

    lang: str
    text: str
    line: int
    """1-based line of its first line in README.md."""


def readme() -> str:
    return README.read_text(encoding="utf-8")


def code_blocks(text: str) -> list[Block]:
    """Fenced (```lang) blocks and indented (4 spaces after a blank line) ones."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            out.append(Block(line[3:].strip(), "\n".join(lines[i + 1 : end]) + "\n", i + 2))
            i = end + 1
        elif line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and lines[end].startswith("    "):
                end += 1
            body = "\n".join(x[4:] for x in lines[i:end]) + "\n"
            out.append(Block("", body, i + 1))
            i = end
        else:
            i += 1
    return out


@dataclass(frozen=True)
class Shell:
    """One line of an indented block: the command and its `# comment`."""

    command: str
    comment: str
    line: int

    @property
    def kind(self) -> str:
        words = self.command.split()
        if self.command.startswith("python3 -m venv"):
            return "install"
        if words[0] == ".ci/run":
            return "ci"
        if words[0] in ("zkfle", ".venv/bin/zkfle"):
            if len(words) > 1 and words[1].endswith(":"):
                return "output"
            verb = words[1] if len(words) > 1 and not words[1].startswith("-") else "console"
            return verb
        return "console-input"  # what the first session types into the console

    @property
    def args(self) -> list[str]:
        """The arguments after `zkfle`."""
        return shlex.split(self.command)[1:]


def shell_blocks() -> list[list[Shell]]:
    """The lines of each indented block."""
    out = []
    for block in code_blocks(readme()):
        if block.lang:
            continue
        lines = []
        for offset, raw in enumerate(block.text.splitlines()):
            command, _, comment = raw.partition("  #")
            if command.strip():
                lines.append(Shell(command.strip(), comment.strip(), block.line + offset))
        out.append(lines)
    return out


def shell_lines() -> list[Shell]:
    return [line for block in shell_blocks() for line in block]


def examples(kind: str) -> list[Shell]:
    return [s for s in shell_lines() if s.kind == kind]


def zkfle(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZKFLE), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded."""
    assert result.returncode == 0, (
        f"{result.args}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result.stdout


def script_block() -> tuple[str, str]:
    """(file name, text) of the README's script: its first line names the file."""
    (block,) = [b for b in code_blocks(readme()) if b.text.startswith("# ") and ".fle" in b.text]
    name = re.match(r"# (\S+\.fle):", block.text)
    assert name, f"README.md:{block.line}: the script's first line names no .fle file"
    return name.group(1), block.text


def the_run(where: str) -> Shell:
    """The one `zkfle run` line of the README that contains `where`."""
    (line,) = [s for s in examples("run") if where in s.command]
    return line


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory holding the README's script, as a reader would have it. Traces
    go to traces/ there, as the README says (not to the suite's ZKFLE_TRACE_DIR)."""
    work = tmp_path / "work"
    work.mkdir()
    name, text = script_block()
    (work / name).write_text(text, encoding="utf-8")
    monkeypatch.delenv(TRACE_DIR_ENV, raising=False)
    monkeypatch.setenv(HISTORY_ENV, str(tmp_path / "history"))
    return work


# --- the coverage of the examples ------------------------------------------------------------


def test_every_shell_example_is_run() -> None:
    """The tests below run these lines; anything else must be a kind NOT_RUN says why."""
    run = [s.command for s in examples("run")]
    assert sorted(run) == sorted(
        [the_run("--script").command, the_run("--json").command, "zkfle run"]
    )
    assert len(examples("shell")) == len(examples("verify")) == len(examples("export")) == 1
    assert len(synopses("replay")) == 1
    (session,) = [b for b in shell_blocks() if b[0].kind == "console"]
    assert [s.kind for s in session[1:-1]] == ["console-input"] * (len(session) - 2)
    assert len(examples("explore")) == 2
    assert len(examples("bench")) == 1
    known = {"run", "shell", "verify", "export", "replay", "console", "console-input"}
    known |= {"explore", "bench"}
    unknown = [s for s in shell_lines() if s.kind not in known | set(NOT_RUN)]
    assert [f"README.md:{s.line}: {s.command}" for s in unknown] == []


def test_the_explore_examples_run_as_shown(workdir: Path) -> None:
    """The slow-election search finds, shrinks and saves one; the JSON one prints a summary."""
    slow, find = examples("explore")
    r = zkfle(slow.args, workdir)
    assert r.returncode == 1, r.stderr
    assert "found slower-than" in r.stdout
    (script,) = (workdir / "traces").glob("*-explore/slower-than.fle")
    assert f"--script {script.relative_to(workdir)}" in r.stdout
    r = zkfle(find.args, workdir)
    assert r.returncode in (0, 1), r.stderr
    summary = json.loads(r.stdout)
    assert summary["runs"] == 20
    assert all(f["reproduced"] for f in summary["findings"])


def test_the_bench_example_plots_as_shown(workdir: Path) -> None:
    """As shown, but without waiting for a quieter machine before each repetition (the
    suite keeps it busy): the wait changes when a figure is taken, not what it means."""
    (bench,) = examples("bench")
    r = zkfle([*bench.args, "--idle-wait", "0"], workdir)
    assert r.returncode == 0, r.stderr
    table, _, charts = r.stdout.partition("election: took (ms;")
    assert "failover: crash the leader" in table
    assert [line.split()[0] for line in charts.splitlines() if "ours" in line] == ["N=3", "N=5"] * 2


def synopses(kind: str) -> list[Shell]:
    """The lines of `kind` written with placeholders (FILE)."""
    return [s for s in examples(kind) if "FILE" in s.args]


# --- scripts and `zkfle run` -------------------------------------------------------------------


def test_the_script_example_runs_as_shown(workdir: Path) -> None:
    example = the_run("--script")
    out = ok(zkfle(example.args, workdir))
    trace = example.args[example.args.index("--trace") + 1]
    assert (workdir / trace).stat().st_size > 0
    assert f"trace: {trace}" in out
    assert ok(zkfle(["verify", trace], workdir)).startswith(f"{trace}: OK")


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8, 13, 21, 34, 55])
def test_the_script_example_holds_for_any_seed(workdir: Path, seed: int) -> None:
    """Issue 17 saw it fail at seeds 7 and 2: a follower still syncing after `stable`."""
    args = the_run("--script").args
    args[args.index("--seed") + 1] = str(seed)
    ok(zkfle(args, workdir))


def test_the_script_example_holds_on_threads(workdir: Path) -> None:
    args = the_run("--script").args
    sim = args.index("--sim")
    del args[sim : sim + 3]  # --sim --seed S
    assert "--seed" not in args
    ok(zkfle(args, workdir))


def test_a_wrong_script_line_is_reported_as_shown(workdir: Path) -> None:
    prose = " ".join(readme().split())
    m = re.search(
        r"A wrong line, say `(?P<wrong>[^`]+)` on line (?P<n>\d+), is reported as "
        r"`(?P<message>[^`]+?) \.\.\.` on stderr; nothing runs, and the exit status is (?P<rc>\d)",
        prose,
    )
    assert m, "README: the sentence about a wrong script line"
    name, text = script_block()
    lines = text.splitlines()
    n = int(m["n"])
    assert lines[n - 1].split()[0] == m["wrong"].split()[0], "the same verb, mistyped"
    lines[n - 1] = m["wrong"]
    (workdir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    example = the_run("--script")
    result = zkfle(example.args, workdir)
    assert result.returncode == int(m["rc"]), result.stdout + result.stderr
    assert m["message"] in result.stderr
    trace = workdir / example.args[example.args.index("--trace") + 1]
    assert result.stdout == ""  # nothing ran ...
    assert not trace.exists()  # ... or was recorded


def test_a_plain_run_prints_the_leader(workdir: Path) -> None:
    (plain,) = [s for s in examples("run") if s.args == ["run"]]
    assert "leader" in plain.comment
    out = ok(zkfle(plain.args, workdir))
    assert re.search(r"\bleader[= ]n?\d+\b", out), out
    assert re.search(r"^trace: traces/\d{8}-\d{6}-run\.jsonl ", out, re.MULTILINE), out


def shown_json() -> Any:
    """The README's JSON block, its `...` elisions dropped."""
    (block,) = [b for b in code_blocks(readme()) if b.lang == "json"]
    return json.loads(re.sub(r",\s*\.\.\.", "", block.text))


def assert_shape(shown: Any, got: Any, where: str = "$") -> None:
    """`got` has every field `shown` has, each of the same JSON type (recursively; a
    list's first shown element describes every element)."""
    if isinstance(shown, dict):
        assert isinstance(got, dict), f"{where}: {got!r} is not an object"
        missing = sorted(set(shown) - set(got))
        assert not missing, f"{where}: the README shows {missing}, the output has not"
        for key, value in shown.items():
            assert_shape(value, got[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(got, list), f"{where}: {got!r} is not a list"
        if shown:
            assert got, f"{where}: empty"
            for i, item in enumerate(got):
                assert_shape(shown[0], item, f"{where}[{i}]")
    else:
        assert type(got) is type(shown), f"{where}: {got!r} where the README shows {shown!r}"


def test_run_json_has_the_shape_shown(workdir: Path) -> None:
    example = the_run("--json")
    got = json.loads(ok(zkfle(example.args, workdir)))
    assert_shape(shown_json(), got)
    nodes = int(example.args[example.args.index("--nodes") + 1])
    observers = int(example.args[example.args.index("--observers") + 1])
    types = [n["type"] for n in got["nodes"]]
    assert types == ["participant"] * nodes + ["observer"] * observers
    assert got["stable"] is True


def test_the_shell_example_runs(workdir: Path) -> None:
    (example,) = examples("shell")
    out = ok(zkfle(example.args, workdir, stdin="wait until stable within 10s\nstatus\n"))
    assert "stable: holds" in out
    nodes = int(example.args[example.args.index("--nodes") + 1])
    assert f"{nodes} nodes" in out.splitlines()[0]  # the shell's greeting


# --- verify, export, replay -----------------------------------------------------------------


def expand(args: list[str], values: dict[str, str]) -> list[list[str]]:
    """Every form a synopsis shows: `a|b|c` one each, `[--opt VALUE]` groups all absent or
    all present, placeholders (FILE, SEQ) from `values`."""
    words: list[str] = []
    optional: list[list[str]] = []
    group: list[str] | None = None
    for word in args:
        if word.startswith("["):
            group = []
            word = word[1:]
        target = group if group is not None else words
        closing = word.endswith("]")
        target.append(word.rstrip("]"))
        if closing and group is not None:
            optional.append(group)
            group = None
    forms = []
    for with_options in (False, True) if optional else (False,):
        base = words + [w for g in optional for w in g] if with_options else words
        choices = [w.split("|") for w in base]
        for combo in itertools.product(*choices):
            forms.append([values.get(w, w) for w in combo])
    return forms


def test_expand_reads_synopses() -> None:
    assert expand(["x", "FILE", "--f", "a|b", "[--n", "SEQ]"], {"FILE": "t", "SEQ": "3"}) == [
        ["x", "t", "--f", "a"],
        ["x", "t", "--f", "b"],
        ["x", "t", "--f", "a", "--n", "3"],
        ["x", "t", "--f", "b", "--n", "3"],
    ]


@pytest.fixture
def trace(workdir: Path) -> str:
    """The trace the README's script example records."""
    example = the_run("--script")
    ok(zkfle(example.args, workdir))
    return example.args[example.args.index("--trace") + 1]


def test_verify_and_export_run_in_every_form_shown(workdir: Path, trace: str) -> None:
    lines = examples("verify") + examples("export")
    assert [s.kind for s in lines] == ["verify", "export"]
    ran = 0
    for line in lines:
        for args in expand(line.args, {"FILE": trace, "SEQ": "20"}):
            out = ok(zkfle(args, workdir))
            assert out.strip(), args
            ran += 1
    assert ran == 1 + 3 * 2  # verify; three formats, with and without --from/--to


def test_replay_opens_the_trace(workdir: Path, trace: str) -> None:
    (example,) = synopses("replay")
    with ConsoleTerminal(expand(example.args, {"FILE": trace})[0], cwd=workdir) as term:
        term.wait_for(r"REPLAY")
        assert term.quit() == 0


def test_the_first_session_runs_as_shown(workdir: Path) -> None:
    """Launch the console, type each line, and check what its comment says happens."""
    (session,) = [b for b in shell_blocks() if b[0].kind == "console"]
    launch, *typed, replay = session
    assert (launch.args, replay.kind) == ([], "replay")
    leaders: list[str] = []
    with ConsoleTerminal(launch.args, cwd=workdir) as term:
        expect_on_screen(term, launch.comment, leaders)
        for line in typed:
            if line.command == "q":
                assert term.quit() == 0
                printed = re.search(r"Trace: (\S+?\.jsonl)", term.text)
                assert printed, term.text
                path = printed[1]
            else:
                assert line.command.startswith(":"), line
                term.command(line.command[1:])
                result = term.wait_for(r"^ ([✓✗] .*)$")[1]
                assert result.startswith("✓"), f"README.md:{line.line}: {result}"
                expect_on_screen(term, line.comment, leaders)
    shown = replay.args[1]
    assert re.fullmatch(shown.replace("<time>", r"\d{8}-\d{6}"), path), (shown, path)
    with ConsoleTerminal([replay.args[0], path], cwd=workdir) as term:
        term.wait_for(r"REPLAY")
        assert term.quit() == 0


def expect_on_screen(term: ConsoleTerminal, comment: str, leaders: list[str]) -> None:
    """What a first-session comment promises, on the screen; `leaders` are the leaders seen
    so far, newest last."""
    if m := re.search(r"watch n(\d+) become leader", comment):
        term.wait_for(rf"leader n{m[1]}\b")
        leaders.append(m[1])
    if "a new leader takes over" in comment:
        others = "|".join(str(sid) for sid in range(1, 6) if str(sid) not in leaders)
        leaders.append(term.wait_for(rf"leader n({others})\b")[1])
    if m := re.search(r"n(\d+) comes back and follows the new leader", comment):
        term.wait_for(rf"^ n{m[1]} +FOLLOWING")
        term.wait_for(rf"leader n{leaders[-1]}\b")


# --- the Python API ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", [b for b in code_blocks(readme()) if b.lang == "pycon"], ids=lambda b: f"line{b.line}"
)
def test_the_python_sessions_run_as_shown(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(block.text, {}, "README", str(README), block.line)
    report = io.StringIO()
    runner = doctest.DocTestRunner(verbose=False)
    runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


def test_the_python_examples_are_sessions() -> None:
    """A ```python block would run unchecked: examples show their output (```pycon)."""
    assert [b.line for b in code_blocks(readme()) if b.lang == "python"] == []
