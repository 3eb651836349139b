"""Ticket states and the moves between them (pure).

::

    open ──> in_progress ──> resolved ──> closed
     │ ^──────────┘ │    ^      │ (reopen)
     │              │    │      v
     ├──────────────┼────┘    open
     └──────────────┴──────────> closed

``open``, ``in_progress`` and ``resolved`` may be closed at any time (a duplicate, won't fix);
an ``in_progress`` ticket may go back to ``open`` (unassigned again); a ``resolved`` one may be
reopened. ``closed`` is final: a closed problem that comes back is a new ticket.
"""

from __future__ import annotations

from enum import StrEnum

from hookhub.errors import ConflictError


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


ALLOWED: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset(
        {TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, TicketStatus.CLOSED}
    ),
    TicketStatus.IN_PROGRESS: frozenset(
        {TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED}
    ),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


class IllegalTicketTransition(ConflictError):
    """A ticket was asked to move between states with no edge between them (HTTP 409)."""


def transition(current: TicketStatus, target: TicketStatus) -> TicketStatus:
    """``target`` when the move is allowed; :class:`IllegalTicketTransition` otherwise."""
    if target not in ALLOWED[current]:
        raise IllegalTicketTransition(f"a {current} ticket cannot become {target}")
    return target
