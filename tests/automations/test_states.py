"""Execution and step states: only the drawn edges are allowed; finished never changes."""

from __future__ import annotations

import pytest

from hookhub.automations.states import (
    ExecutionStatus,
    IllegalTransitionError,
    StepStatus,
    execution_transition,
    step_transition,
)
from hookhub.errors import ConflictError

E = ExecutionStatus
S = StepStatus


@pytest.mark.parametrize(("current", "target"), [(E.RUNNING, E.COMPLETE), (E.RUNNING, E.ERROR)])
def test_allowed_execution_edges(current: ExecutionStatus, target: ExecutionStatus) -> None:
    assert execution_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (E.RUNNING, E.RUNNING),
        (E.COMPLETE, E.RUNNING),
        (E.COMPLETE, E.ERROR),
        (E.ERROR, E.RUNNING),
        (E.ERROR, E.COMPLETE),
    ],
)
def test_illegal_execution_edges(current: ExecutionStatus, target: ExecutionStatus) -> None:
    with pytest.raises(IllegalTransitionError, match=f"a {current} execution cannot become"):
        execution_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.RUNNING),
        (S.PENDING, S.SKIPPED),
        (S.RUNNING, S.COMPLETE),
        (S.RUNNING, S.ERROR),
    ],
)
def test_allowed_step_edges(current: StepStatus, target: StepStatus) -> None:
    assert step_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.COMPLETE),
        (S.PENDING, S.ERROR),
        (S.RUNNING, S.SKIPPED),
        (S.RUNNING, S.PENDING),
        (S.COMPLETE, S.RUNNING),
        (S.ERROR, S.RUNNING),
        (S.SKIPPED, S.RUNNING),
    ],
)
def test_illegal_step_edges(current: StepStatus, target: StepStatus) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        step_transition(current, target)
    assert isinstance(raised.value, ConflictError)
