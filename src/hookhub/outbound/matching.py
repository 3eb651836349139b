"""Which subscriptions an event type reaches: exact, ``*``, or a prefix wildcard ``ticket.*``."""

from __future__ import annotations

import re

WILDCARD = "*"
#: A subscription pattern: ``*``, an event type, or an event type prefix ending in ``.*``.
PATTERN_REGEX = r"^(\*|[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*(\.\*)?)$"
_PATTERN = re.compile(PATTERN_REGEX)


def is_valid_pattern(pattern: str) -> bool:
    return _PATTERN.fullmatch(pattern) is not None


def matches(pattern: str, event_type: str) -> bool:
    """``ticket.*`` matches ``ticket.created`` and ``ticket.status.changed``, not ``ticket``."""
    if pattern == WILDCARD:
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def candidate_patterns(event_type: str) -> list[str]:
    """Every pattern that matches ``event_type``, so a store can look them up by equality.

    ``a.b.c`` gives ``a.b.c``, ``a.b.*``, ``a.*`` and ``*``.
    """
    parts = event_type.split(".")
    prefixes = [".".join(parts[:n]) + ".*" for n in range(len(parts) - 1, 0, -1)]
    return [event_type, *prefixes, WILDCARD]
