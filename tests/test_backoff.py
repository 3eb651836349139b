"""Reconnect backoff: a pure function of the attempt and an injected random draw."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from hookhub.backoff import DEFAULT_BASE_S, DEFAULT_CAP_S, backoff_delay_s


def always(value: float) -> Callable[[], float]:
    return lambda: value


def test_ceiling_doubles_with_each_attempt() -> None:
    delays = [backoff_delay_s(n, base_s=0.1, cap_s=100.0, rand=always(1.0)) for n in range(6)]

    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])


def test_ceiling_is_capped() -> None:
    assert backoff_delay_s(5, base_s=0.1, cap_s=2.0, rand=always(1.0)) == 2.0
    assert backoff_delay_s(6, base_s=0.1, cap_s=2.0, rand=always(1.0)) == 2.0


def test_a_very_long_outage_stays_at_the_cap() -> None:
    for attempt in (64, 1_000, 10**9):
        assert backoff_delay_s(attempt, rand=always(1.0)) == DEFAULT_CAP_S


def test_defaults_start_at_the_base() -> None:
    assert backoff_delay_s(0, rand=always(1.0)) == DEFAULT_BASE_S


def test_jitter_draw_of_zero_means_no_wait() -> None:
    assert [backoff_delay_s(n, rand=always(0.0)) for n in range(10)] == [0.0] * 10


def test_jitter_scales_the_ceiling() -> None:
    assert backoff_delay_s(3, base_s=0.1, cap_s=5.0, rand=always(0.5)) == pytest.approx(0.4)
    assert backoff_delay_s(30, base_s=0.1, cap_s=5.0, rand=always(0.25)) == pytest.approx(1.25)


def test_random_delays_stay_between_zero_and_the_ceiling() -> None:
    draw = random.Random(20240601).random
    for attempt in range(40):
        ceiling = min(DEFAULT_CAP_S, DEFAULT_BASE_S * 2**attempt)
        for _ in range(50):
            assert 0.0 <= backoff_delay_s(attempt, rand=draw) <= ceiling


def test_default_draw_is_random_and_bounded() -> None:
    delays = {backoff_delay_s(4) for _ in range(100)}

    assert len(delays) > 1
    assert all(0.0 <= delay <= 1.6 for delay in delays)


def test_never_negative() -> None:
    for attempt in range(100):
        for draw in (0.0, 1e-12, 0.5, 1.0):
            assert backoff_delay_s(attempt, rand=always(draw)) >= 0.0
    assert backoff_delay_s(3, base_s=0.0, cap_s=0.0, rand=always(1.0)) == 0.0


@pytest.mark.parametrize(
    ("attempt", "base_s", "cap_s"),
    [(-1, 0.1, 5.0), (0, -0.1, 5.0), (0, 0.1, -5.0)],
)
def test_negative_inputs_are_refused(attempt: int, base_s: float, cap_s: float) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        backoff_delay_s(attempt, base_s=base_s, cap_s=cap_s, rand=always(1.0))
