"""Sliding-window counters, fed the time: what passes, what waits and for how long."""

from __future__ import annotations

import pytest

from hookhub.inbound.window import SWEEP_INTERVAL_S, SlidingWindows

MINUTE_S = 60.0
#: A moment that is the start of a minute window.
T0 = 6_000.0


def hits(windows: SlidingWindows, count: int, *, at: float, limit: int = 3) -> list[bool]:
    return [windows.hit("k", limit, MINUTE_S, at) is None for _ in range(count)]


def test_the_limit_passes_and_the_next_hit_waits() -> None:
    windows = SlidingWindows()
    assert hits(windows, 4, at=T0 + 10) == [True, True, True, False]


def test_the_previous_window_still_counts_for_the_part_the_sliding_window_covers() -> None:
    windows = SlidingWindows()
    assert hits(windows, 4, at=T0 + 59) == [True, True, True, False]
    # 15 s into the next window, 45 s of the previous one are still inside the sliding
    # window: 3 x 0.75 = 2.25 counted, so one hit passes (3.25 > 3 would not)...
    assert hits(windows, 2, at=T0 + MINUTE_S + 15) == [False, False]
    # ...once the weight is down to 2/3: 3 x (2/3) + 1 = 3.
    assert hits(windows, 2, at=T0 + MINUTE_S + 20) == [True, False]


def test_a_boundary_does_not_double_the_budget() -> None:
    windows = SlidingWindows()
    assert hits(windows, 3, at=T0 + 59.9) == [True, True, True]
    assert hits(windows, 3, at=T0 + MINUTE_S + 0.1) == [False, False, False]


def test_after_two_quiet_windows_the_whole_budget_is_back() -> None:
    windows = SlidingWindows()
    hits(windows, 3, at=T0 + 30)
    assert hits(windows, 4, at=T0 + 2 * MINUTE_S + 1) == [True, True, True, False]


def test_the_wait_is_until_a_hit_would_pass() -> None:
    windows = SlidingWindows()
    hits(windows, 3, at=T0 + 30)
    wait_s = windows.hit("k", 3, MINUTE_S, T0 + 30)
    assert wait_s is not None
    # The three hits fill this window; the next one passes once 1/3 of the next window has
    # gone by (3 x 2/3 + 1 = 3): at T0 + 80, 50 s from now.
    assert wait_s == pytest.approx(50.0)
    assert windows.hit("k", 3, MINUTE_S, T0 + 30 + wait_s - 0.01) is not None
    assert windows.hit("k", 3, MINUTE_S, T0 + 30 + wait_s) is None


def test_the_wait_while_the_previous_window_slides_out() -> None:
    windows = SlidingWindows()
    hits(windows, 3, at=T0 + 50)
    hits(windows, 1, at=T0 + MINUTE_S + 30)  # 3 x 0.5 + 1 = 2.5: passes
    wait_s = windows.hit("k", 3, MINUTE_S, T0 + MINUTE_S + 30)
    # Room for one more once 3 x w + 1 + 1 <= 3, w = 1/3: at 40 s into the window.
    assert wait_s == pytest.approx(10.0)


def test_refused_hits_do_not_count() -> None:
    windows = SlidingWindows()
    hits(windows, 3, at=T0 + 30)
    assert hits(windows, 100, at=T0 + 40) == [False] * 100
    assert hits(windows, 1, at=T0 + MINUTE_S + 20) == [True]


def test_keys_and_rates_have_their_own_counts() -> None:
    windows = SlidingWindows()
    assert windows.hit("a", 1, MINUTE_S, T0) is None
    assert windows.hit("a", 1, MINUTE_S, T0) is not None
    assert windows.hit("b", 1, MINUTE_S, T0) is None
    # The same key with another window length starts over (the endpoint's rate changed).
    assert windows.hit("a", 1, 1.0, T0) is None


def test_a_zero_limit_lets_nothing_pass() -> None:
    windows = SlidingWindows()
    assert windows.hit("k", 0, MINUTE_S, T0) == MINUTE_S


def test_keys_whose_windows_have_passed_are_forgotten() -> None:
    windows = SlidingWindows()
    for index in range(100):
        windows.hit(f"client-{index}", 3, 1.0, T0)
    assert len(windows) == 100
    later = T0 + SWEEP_INTERVAL_S
    windows.hit("newcomer", 3, 1.0, later)
    assert len(windows) == 1
