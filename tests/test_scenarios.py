"""Scenario transcripts (tests/scenarios/*.txt) run through the by-hand harness."""

from pathlib import Path

import pytest

from tests.datadriven import run_file
from tests.harness import Harness

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.txt"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path, request: pytest.FixtureRequest) -> None:
    run_file(path, Harness().handle, rewrite=request.config.getoption("--rewrite"))
