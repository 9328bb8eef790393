"""The shape of the code: floors that import only downwards, no import circle, a console
that uses the engine's public modules only, pure cores, and deterministic engine code.

The module graph is read from the AST of every file of engine/ and console/. An edge is
any `import` or `from ... import` statement, wherever it stands: at module level, inside
a function (it runs when the function does) and inside `if TYPE_CHECKING:` (it ties the
two modules' meanings together even if it never runs) - a circle hidden in either is
still a circle. `from package import name` is an edge to the submodule when `name` is
one, else to the package. The implicit import of a module's parent packages is not an
edge: package `__init__.py` files import nothing (tested below), so it cannot close one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FLOORS = {
    "engine.core": 1,
    "engine.trace": 2,
    "engine.runtime": 3,
    "engine.control": 4,
    "engine.replay": 5,
    "engine.bench": 6,
    "engine.explore": 6,
    "console": 7,
}
"""Each package's floor: a module may import from its own floor and the floors below."""

PURE = [
    *sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "engine" / "core").rglob("*.py")
        if p.name not in ("__init__.py", "config.py")
    ),
    "engine/control/breakpoints.py",
    "engine/control/commands.py",
    "engine/control/complete.py",
    "engine/control/gate.py",
    "engine/control/help.py",
    "engine/control/lifecycle.py",
    "engine/control/links.py",
    "engine/control/predicates.py",
    "engine/control/report.py",
    "engine/control/resolve.py",
    "engine/control/values.py",
    "engine/trace/lives.py",
    "engine/trace/record.py",
    "engine/trace/zklog/layout.py",
    "engine/trace/zklog/statements.py",
    "engine/runtime/faults.py",
    "engine/runtime/views.py",
    *sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "engine" / "trace" / "explain").rglob("*.py")
        if p.name != "__init__.py"
    ),
]
"""Modules that must not read clocks, sleep, draw random numbers, log or use sockets."""
IMPURE = {"threading", "time", "random", "socket", "logging", "os", "asyncio", "_thread"}
FILES = ["engine/core/config.py"]
"""Core modules that read the files they are given (zoo.cfg, myid): `os` only."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p for top in ("engine", "console") for p in sorted((ROOT / top).rglob("*.py"))
}


def imports(path: Path) -> set[str]:
    """Every module name an import statement of `path` names (its own or another's)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def edges(name: str) -> Iterator[tuple[str, int]]:
    """The modules of ours `name` imports, with the line of each import."""
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}:{node.lineno}: a relative import"
            assert node.module is not None
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target in MODULES:
                yield target, node.lineno


GRAPH = {name: sorted({t for t, _ in edges(name)}) for name in MODULES}


def floor(name: str) -> int:
    return max((f for p, f in FLOORS.items() if name == p or name.startswith(p + ".")), default=0)


def test_every_module_is_on_a_floor() -> None:
    homeless = [n for n in MODULES if floor(n) == 0 and n != "engine"]
    assert not homeless, f"modules outside the floors {sorted(FLOORS)}: {homeless}"


def test_no_import_runs_up_a_floor() -> None:
    """core imports nothing else of ours; trace the core; runtime the core and the trace;
    control those three; replay those four; bench all of the engine; the console anything."""
    upward = [
        f"{name}:{line} (floor {floor(name)}) imports {target} (floor {floor(target)})"
        for name in MODULES
        for target, line in edges(name)
        if floor(target) > floor(name)
    ]
    assert not upward, "\n".join(upward)


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_in_engine_or_console() -> None:
    assert strongly_connected(GRAPH) == []


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"], "e": ["a"]}
    assert strongly_connected(graph) == [["a", "b", "c"], ["d"]]


def test_package_init_files_import_nothing() -> None:
    """A package's __init__ only names its public modules, so importing any module never
    runs another of its package (and the parents' implicit imports close no circle)."""
    for path in MODULES.values():
        if path.name == "__init__.py":
            assert not imports(path), f"{path.relative_to(ROOT)} imports {sorted(imports(path))}"


def public(package: str) -> list[str]:
    tree = ast.parse(MODULES[package].read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names: list[str] = ast.literal_eval(node.value)
            return names
    return []


def test_every_engine_package_names_its_public_modules() -> None:
    for name, path in MODULES.items():
        if name.startswith("engine") and path.name == "__init__.py":
            named = public(name)
            assert named, f"{path.relative_to(ROOT)} names no public module (__all__)"
            missing = [m for m in named if f"{name}.{m}" not in MODULES]
            assert not missing, f"{path.relative_to(ROOT)} names modules it has not: {missing}"


def test_the_console_uses_the_engines_public_modules_only() -> None:
    """Every engine module the console imports is named public by each package above it,
    and nothing imported from the engine, or read off an engine module, starts with _."""
    problems: list[str] = []
    for name, path in MODULES.items():
        if not name.startswith("console"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
                assert node.module is not None
                for target, _ in [(node.module, 0)] + [
                    (f"{node.module}.{a.name}", 0)
                    for a in node.names
                    if f"{node.module}.{a.name}" in MODULES
                ]:
                    parts = target.split(".")
                    for i in range(1, len(parts)):
                        package, leaf = ".".join(parts[:i]), parts[i]
                        if leaf not in public(package):
                            problems.append(f"{name}:{node.lineno}: {package}.{leaf} is not public")
                for a in node.names:
                    if a.name.startswith("_"):
                        problems.append(f"{name}:{node.lineno}: imports {node.module}.{a.name}")
                    if f"{node.module}.{a.name}" in MODULES:
                        aliases.add(a.asname or a.name)
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("engine") for a in node.names
            ):
                problems.append(f"{name}:{node.lineno}: import engine... (use from ... import)")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
            ):
                problems.append(f"{name}:{node.lineno}: reads {node.value.id}.{node.attr}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_every_file_says_its_purpose_first() -> None:
    for path in MODULES.values():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{path.relative_to(ROOT)} has no module docstring"


MAX_LINES = 800
"""Issue 9: a module past this has outgrown one purpose; split it along its seams."""


def test_no_module_is_longer_than_800_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in MODULES.values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("module", PURE)
def test_pure_cores_have_no_clock_threads_randomness_logging_or_sockets(module: str) -> None:
    roots = {name.split(".")[0] for name in imports(ROOT / module)}
    assert not roots & IMPURE, f"{module} imports {sorted(roots & IMPURE)}"


@pytest.mark.parametrize("module", FILES)
def test_core_modules_that_read_files_use_nothing_else_impure(module: str) -> None:
    roots = {name.split(".")[0] for name in imports(ROOT / module)}
    assert not roots & (IMPURE - {"os"}), f"{module} imports {sorted(roots & IMPURE)}"


def test_the_core_is_pure_or_reads_files_only() -> None:
    core = {str(p.relative_to(ROOT)) for p in (ROOT / "engine" / "core").rglob("*.py")}
    listed = {*PURE, *FILES}
    assert {c for c in core if not c.endswith("__init__.py")} <= listed


def test_the_engine_never_imports_the_console() -> None:
    for path in sorted((ROOT / "engine").rglob("*.py")):
        bad = {m for m in imports(path) if m == "console" or m.startswith("console.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        assert "importlib" not in imports(path), f"{path.relative_to(ROOT)} imports modules by name"


def test_engine_code_never_uses_hash_or_the_global_random() -> None:
    """Determinism: salted hash() and the module-level random change between runs (hash()
    is fine inside __hash__, which only serves dicts and sets)."""
    for path in sorted((ROOT / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text())
        allowed = {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef) and f.name == "__hash__"
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and id(node) not in allowed
            ):
                assert node.func.id != "hash", f"{path.name}:{node.lineno} calls hash()"
            global_random = (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
                and node.attr != "Random"
            )
            line = getattr(node, "lineno", 0)
            assert not global_random, f"{path.name}:{line} uses the global random"


def test_a_cluster_of_our_cores_loads_no_zookeeper_client() -> None:
    """kazoo and asyncio serve the zookeeper runtime alone: the facade imports it when such a
    cluster is made, so `zkfle run --sim` and every explored run start without them."""
    code = (
        "import sys\n"
        "from engine.control.cluster import Cluster, ClusterOptions\n"
        "with Cluster(ClusterOptions(nodes=3, runtime='sim', record=False)) as cluster:\n"
        "    cluster.start()\n"
        "    assert cluster.wait_stable(10_000.0)\n"
        "print(sorted(m for m in ('kazoo', 'asyncio', 'engine.runtime.zookeeper.runtime')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
