"""Execution and step states, with the only transitions allowed between them (pure).

::

    execution:  running ──every step complete──> complete
                   ╰────a step failed, or interrupted──> error

    step:       pending ──> running ──> complete
                   │           ╰──────> error
                   ╰──────────────────> skipped   (an earlier step failed)

A finished execution or step never changes again: history is written once.
"""

from __future__ import annotations

from enum import StrEnum

from hookhub.errors import ConflictError


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"
    SKIPPED = "skipped"


class IllegalTransitionError(ConflictError):
    """An execution or a step was asked to move between states with no edge between them."""


_EXECUTION_EDGES: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    ExecutionStatus.RUNNING: frozenset({ExecutionStatus.COMPLETE, ExecutionStatus.ERROR}),
    ExecutionStatus.COMPLETE: frozenset(),
    ExecutionStatus.ERROR: frozenset(),
}

_STEP_EDGES: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED}),
    StepStatus.RUNNING: frozenset({StepStatus.COMPLETE, StepStatus.ERROR}),
    StepStatus.COMPLETE: frozenset(),
    StepStatus.ERROR: frozenset(),
    StepStatus.SKIPPED: frozenset(),
}


def execution_transition(current: ExecutionStatus, target: ExecutionStatus) -> ExecutionStatus:
    if target not in _EXECUTION_EDGES[current]:
        raise IllegalTransitionError(f"a {current} execution cannot become {target}")
    return target


def step_transition(current: StepStatus, target: StepStatus) -> StepStatus:
    if target not in _STEP_EDGES[current]:
        raise IllegalTransitionError(f"a {current} step cannot become {target}")
    return target
