from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from engine.trace.format import TRACE_DIR_ENV

# No time limit per example: speed is for benchmarks, and a loaded machine must not turn a
# slow example into a failure (hypothesis's default deadline is 200 ms).
settings.register_profile("zkfle", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("zkfle")


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
