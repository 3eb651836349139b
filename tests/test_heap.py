"""The collector tuning a started server applies once."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hookhub import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settle_freezes_what_is_alive_and_raises_the_young_threshold() -> None:
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (
        heap.YOUNG_THRESHOLD,
        heap.MIDDLE_THRESHOLD,
        heap.OLD_THRESHOLD,
    )
