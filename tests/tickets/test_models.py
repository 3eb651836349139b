from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hookhub.tickets.models import Priority, TicketCreate, TicketUpdate


@pytest.mark.parametrize(
    ("value", "priority"),
    [
        (0, Priority.LOW),
        ("1", Priority.NORMAL),
        (" High ", Priority.HIGH),
        ("URGENT", Priority.URGENT),
    ],
)
def test_priority_from_a_number_or_a_label(value: Any, priority: Priority) -> None:
    assert TicketCreate(title="t", priority=value).priority is priority
    assert TicketUpdate(priority=value).priority is priority


@pytest.mark.parametrize("value", [4, -1, "4", "medium", True, 1.5, [1]])
def test_other_priorities_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        TicketCreate(title="t", priority=value)
    assert {error["loc"][0] for error in refused.value.errors()} == {"priority"}


def test_labels() -> None:
    assert [p.label for p in Priority] == ["Low", "Normal", "High", "Urgent"]


def test_blank_optional_fields_are_not_given() -> None:
    # What a template renders for a field the trigger did not send.
    made = TicketCreate(
        title="  t  ", team=" ", priority="", reporter_id="", reporter_name="", source_channel=""
    )
    assert made.title == "t"
    assert (made.team, made.priority, made.reporter_id, made.source_channel) == (
        None,
        None,
        None,
        None,
    )


def test_title_is_required_and_stripped() -> None:
    with pytest.raises(ValidationError):
        TicketCreate(title="   ")
