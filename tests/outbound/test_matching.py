import pytest

from hookhub.outbound.matching import candidate_patterns, is_valid_pattern, matches


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("ticket.created", "ticket.created", True),
        ("ticket.created", "ticket.updated", False),
        ("*", "anything.at.all", True),
        ("ticket.*", "ticket.created", True),
        ("ticket.*", "ticket.status.changed", True),
        ("ticket.*", "ticket", False),
        ("ticket.*", "tickets.created", False),
    ],
)
def test_matches(pattern: str, event_type: str, expected: bool) -> None:
    assert matches(pattern, event_type) is expected


def test_candidates_are_exactly_the_matching_patterns() -> None:
    candidates = candidate_patterns("a.b.c")
    assert candidates == ["a.b.c", "a.b.*", "a.*", "*"]
    assert all(matches(p, "a.b.c") for p in candidates)


@pytest.mark.parametrize("pattern", ["*", "user.created", "ticket.*", "a-b.c_d.*"])
def test_valid_patterns(pattern: str) -> None:
    assert is_valid_pattern(pattern)


@pytest.mark.parametrize("pattern", ["", "ticket*", "*.created", "a..b", "a.*.b", "has space"])
def test_invalid_patterns(pattern: str) -> None:
    assert not is_valid_pattern(pattern)
