from pathlib import Path

import pytest

from engine.trace.format import TRACE_DIR_ENV


@pytest.fixture(autouse=True)
def trace_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Traces a test does not name go to its temp dir, never into the repository."""
    path = tmp_path / "traces"
    monkeypatch.setenv(TRACE_DIR_ENV, str(path))
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite",
        action="store_true",
        help="rewrite the expected output of scenario transcripts (review the diff!)",
    )
