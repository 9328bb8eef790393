"""The shape of the code: pure cores, and an engine that never imports the console."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PURE = [
    "engine/vote.py",
    "engine/wire.py",
    "engine/quorum.py",
    "engine/election.py",
    "engine/peer.py",
    "engine/commands.py",
    "engine/predicates.py",
    "engine/record.py",
    "engine/faults.py",
    "engine/view.py",
    "engine/explain.py",
    "engine/explain_base.py",
    "engine/explain_steps.py",
    "engine/explain_logs.py",
    "engine/causes.py",
    "engine/cnxmanager.py",
]
"""Modules that must not read clocks, sleep, draw random numbers, log or use sockets."""
IMPURE = {"threading", "time", "random", "socket", "logging", "os", "asyncio", "_thread"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_cores_have_no_clock_threads_randomness_logging_or_sockets(module: str) -> None:
    roots = {name.split(".")[0] for name in imports(ROOT / module)}
    assert not roots & IMPURE, f"{module} imports {sorted(roots & IMPURE)}"


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
