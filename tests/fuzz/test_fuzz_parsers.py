"""Every parser of outside input raises only its typed error, whatever the bytes (the suite's
small share of the reliability campaign; `python -m tools.campaign --full` runs millions).

Inputs are random bytes and random edits of valid inputs (`targets.seeds`), drawn by
hypothesis with a fixed seed so the suite stays repeatable; a finding shrinks to a small
input. Commands are also built from the language's own words, where the interesting
combinations are.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.control.commands import VERBS
from engine.control.predicates import CLUSTER_FIELDS, NODE_FIELDS, OPERATORS, STATE_WORDS
from engine.control.values import EVENT_KINDS, NODE_WORDS
from tests.fuzz import targets
from tests.fuzz.targets import TARGETS, check, mutate, seeds

EXAMPLES = {"quorumpacket": 60, "trace": 150, "zklog": 150, "zoocfg": 200, "script": 150}
"""Examples per target (default 300): a second or two each."""


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_parser_raises_only_its_typed_error(name: str) -> None:
    target = TARGETS[name]
    pool = seeds(name)
    for data in pool:
        check(target, data)

    @settings(
        max_examples=EXAMPLES.get(name, 300),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.integers(0, len(pool) - 1), st.randoms(use_true_random=False), st.binary())
    def fuzz(start: int, rng: random.Random, raw: bytes) -> None:
        check(target, mutate(pool[start], rng, pool))
        check(target, raw)

    fuzz()


WORDS = sorted(
    {w for v in VERBS for w in v.words}
    | set(NODE_WORDS)
    | {f"n{i}" for i in range(4)}
    | set(CLUSTER_FIELDS)
    | {f"n3.{f}" for f in NODE_FIELDS}
    | set(STATE_WORDS)
    | set(EVENT_KINDS)
    | {"and", "or", "not", "within", "until", "when", "on", "for=", "jitter=", "epoch=", "zxid="}
)
TOKENS = [
    *WORDS,
    *OPERATORS,
    *"()|,*=#@\"'",
    "->",
    "<->",
    "0",
    "3",
    "-1",
    "9223372036854775808",
    "0x100000002",
    "0xffffffffffffffff",
    "1e309",
    "200ms",
    "1.5s",
    "2m",
    "0.0001ms",
    "20%",
    "100.5%",
    "nan",
    "inf",
    "m12",
    "f1",
    "b2",
    "@1s",
]


@settings(max_examples=600, derandomize=True, deadline=None, database=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=12), st.lists(st.sampled_from(["", " "])))
def test_commands_from_the_language_s_own_words(words: list[str], gaps: list[str]) -> None:
    """Sequences of real tokens reach deep into the grammar: each parses (and its canonical
    text parses back to it, and its predicate evaluates) or raises CommandError."""
    text = ""
    for i, word in enumerate(words):
        text += word + (gaps[i] if i < len(gaps) else " ")
    check(TARGETS["command"], text.encode())


def test_the_trace_target_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each input is written to a scratch file for read_trace; none may outlive its input
    (one file per process used to stay in the temp directory for good)."""
    monkeypatch.setattr(targets, "_SCRATCH", str(tmp_path))
    for data in [*seeds("trace")[:2], b"", b"{not json\n"]:
        check(TARGETS["trace"], data)
    assert list(tmp_path.iterdir()) == []
