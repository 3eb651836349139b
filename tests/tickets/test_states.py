from __future__ import annotations

import itertools

import pytest

from hookhub.errors import ConflictError
from hookhub.tickets.states import ALLOWED, IllegalTicketTransition, TicketStatus, transition

OPEN, IN_PROGRESS, RESOLVED, CLOSED = TicketStatus

LEGAL = {
    (OPEN, IN_PROGRESS),
    (OPEN, RESOLVED),
    (OPEN, CLOSED),
    (IN_PROGRESS, OPEN),
    (IN_PROGRESS, RESOLVED),
    (IN_PROGRESS, CLOSED),
    (RESOLVED, OPEN),
    (RESOLVED, CLOSED),
}


@pytest.mark.parametrize(("current", "target"), sorted(itertools.product(TicketStatus, repeat=2)))
def test_every_move_is_allowed_or_refused_with_409(
    current: TicketStatus, target: TicketStatus
) -> None:
    if (current, target) in LEGAL:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTicketTransition) as refused:
            transition(current, target)
        assert refused.value.message == f"a {current} ticket cannot become {target}"
        assert isinstance(refused.value, ConflictError)
        assert refused.value.status_code == 409


def test_closed_is_final_and_every_state_is_listed() -> None:
    assert ALLOWED[CLOSED] == frozenset()
    assert set(ALLOWED) == set(TicketStatus)
    assert [s.value for s in TicketStatus] == ["open", "in_progress", "resolved", "closed"]
