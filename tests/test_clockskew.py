"""Clock skew from send/receive pairs (engine.replay.clockskew)."""

from __future__ import annotations

import pytest

from engine.replay.clockskew import NOISE_MS, SkewEstimator


def test_no_pairs_leave_every_clock_unknown() -> None:
    skew = SkewEstimator().estimate([1, 2])
    assert [k.status for k in skew.values()] == ["unknown", "unknown"]
    assert all(k.offset_ms == 0.0 for k in skew.values())


def test_clocks_that_agree_within_the_delays_are_not_corrected() -> None:
    est = SkewEstimator()
    est.pair(1, 1000.0, 2, 1003.0)  # 3 ms on the wire
    est.pair(2, 2000.0, 1, 2002.0)
    skew = est.estimate([1, 2])
    assert skew[1].status == "reference"
    assert skew[2].offset_ms == 0.0
    assert skew[2].lo_ms == -2.0 - NOISE_MS
    assert skew[2].hi_ms == 3.0 + NOISE_MS
    assert skew[2].pairs == 2


def test_a_clock_five_seconds_ahead_is_found_from_both_directions() -> None:
    est = SkewEstimator()
    for t in (0.0, 100.0, 250.0):
        est.pair(1, t, 2, t + 5000.0 + 2.0)  # n2's clock is 5 s ahead; 2 ms delays
        est.pair(2, t + 5000.0, 1, t + 3.0)
    k = est.estimate([1, 2])[2]
    assert k.status == "estimated"
    assert k.via == 1
    assert k.consistent
    assert k.lo_ms is not None
    assert k.hi_ms is not None
    assert k.lo_ms <= 5000.0 <= k.hi_ms
    assert k.offset_ms == pytest.approx(5000.0, abs=NOISE_MS + 3.0)


def test_one_direction_bounds_only_one_side() -> None:
    est = SkewEstimator()
    est.pair(1, 1000.0, 2, 400.0)  # received before it was sent: n2 is behind
    k = est.estimate([1, 2])[2]
    assert k.lo_ms is None
    assert k.hi_ms == -600.0 + NOISE_MS
    assert k.offset_ms == k.hi_ms  # the smallest correction that makes the pair causal


def test_offsets_chain_through_a_server_with_pairs_to_both() -> None:
    est = SkewEstimator()
    est.pair(1, 0.0, 2, 1000.0 + 1.0)  # n2 +1000
    est.pair(2, 1000.0, 1, 1.0)
    est.pair(2, 2000.0, 3, 2000.0 - 3000.0 + 1.0)  # n3 is 3 s behind n2: -2000
    est.pair(3, -1000.0, 2, 2000.0 + 1.0)
    skew = est.estimate([1, 2, 3])
    assert skew[3].via == 2
    assert skew[3].offset_ms == pytest.approx(-2000.0, abs=2 * NOISE_MS + 2.0)


def test_contradicting_pairs_are_flagged() -> None:
    est = SkewEstimator()
    est.pair(1, 0.0, 2, -500.0)  # n2 behind by 500 or more
    est.pair(2, 0.0, 1, -500.0)  # ... and n1 behind n2 by 500 or more
    k = est.estimate([1, 2])[2]
    assert not k.consistent
    assert k.offset_ms == 0.0  # the middle of the empty interval


def test_pairs_that_contradict_by_a_loaded_machines_log_delay_still_agree() -> None:
    """Three servers on one clock, one just resumed from SIGSTOP: its loopback copy of a
    vote was logged 19 ms after n1 logged receiving the vote (lo 14, hi 10)."""
    est = SkewEstimator()
    est.pair(1, 1000.0, 2, 1005.0)
    est.pair(2, 2019.0, 1, 2000.0)
    k = est.estimate([1, 2])[2]
    assert k.consistent
    assert (k.lo_ms, k.hi_ms) == (14.0, 10.0)
    assert k.offset_ms == 12.0  # the middle, as for any empty interval
    est.pair(2, 3045.0, 1, 3000.0)  # 45 ms before it was sent: more than the slack
    assert not est.estimate([1, 2])[2].consistent
