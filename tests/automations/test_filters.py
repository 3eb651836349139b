"""Filters: validation names the path of each problem; evaluation is pure and never raises."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.automations.filters import MAX_FILTER_DEPTH, matches, resolve, validate
from hookhub.errors import InvalidInputError

TRIGGER: dict[str, Any] = {
    "body": {
        "title": "Login not working",
        "priority": 2,
        "ratio": 0.5,
        "urgent": True,
        "team": "support",
        "tags": ["auth", "web"],
        "items": [{"sku": "A-1"}, {"sku": "B-2"}],
        "nothing": None,
    },
    "method": "POST",
    "endpoint": {"id": "01J", "slug": "discord-ticket", "name": "Discord"},
}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, True),
        ({}, True),
        # Implicit $eq, and $eq / $neq.
        ({"body.priority": 2}, True),
        ({"body.priority": 3}, False),
        ({"body.priority": 2.0}, True),
        ({"body.urgent": True}, True),
        ({"body.urgent": 1}, False),
        ({"body.priority": True}, False),
        ({"body.tags": ["auth", "web"]}, True),
        ({"endpoint": {"id": "01J", "slug": "discord-ticket", "name": "Discord"}}, True),
        ({"body.nothing": None}, True),
        ({"body.missing": None}, False),
        ({"body.priority": {"$eq": 2}}, True),
        ({"body.priority": {"$neq": 2}}, False),
        ({"body.missing": {"$neq": 2}}, True),
        # Comparisons: numbers with numbers, strings with strings, nothing else.
        ({"body.priority": {"$gte": 2}}, True),
        ({"body.priority": {"$gt": 2}}, False),
        ({"body.priority": {"$lt": 3, "$gte": 1}}, True),
        ({"body.priority": {"$lte": 1.5}}, False),
        ({"body.ratio": {"$lt": 1}}, True),
        ({"body.team": {"$gt": "sales"}}, True),
        ({"body.team": {"$gt": 1}}, False),
        ({"body.priority": {"$gt": "1"}}, False),
        ({"body.urgent": {"$gt": 0}}, False),
        ({"body.missing": {"$gt": 0}}, False),
        # Membership.
        ({"body.team": {"$in": ["support", "billing"]}}, True),
        ({"body.team": {"$in": []}}, False),
        ({"body.team": {"$nin": ["support"]}}, False),
        ({"body.missing": {"$nin": ["support"]}}, True),
        ({"body.urgent": {"$in": [1]}}, False),
        # Existence.
        ({"body.nothing": {"$exists": True}}, True),
        ({"body.missing": {"$exists": False}}, True),
        ({"body.title": {"$exists": False}}, False),
        # Prefixes.
        ({"body.title": {"$startsWith": "Login"}}, True),
        ({"body.title": {"$startsWith": "login"}}, False),
        ({"body.priority": {"$startsWith": "2"}}, False),
        # Lists by index.
        ({"body.items.1.sku": "B-2"}, True),
        ({"body.items.5.sku": {"$exists": False}}, True),
        ({"body.tags.0": "auth"}, True),
        ({"body.title.0": "L"}, False),
        # Several keys: all must hold.
        ({"body.priority": 2, "method": "POST"}, True),
        ({"body.priority": 2, "method": "GET"}, False),
        # Logic.
        ({"$and": [{"body.priority": {"$gte": 2}}, {"body.team": "support"}]}, True),
        ({"$and": [{"body.priority": {"$gte": 2}}, {"body.team": "sales"}]}, False),
        ({"$or": [{"body.priority": 3}, {"body.team": "support"}]}, True),
        ({"$or": [{"body.priority": 3}, {"body.team": "sales"}]}, False),
        ({"$not": {"body.team": "support"}}, False),
        ({"$not": {"$or": [{"body.priority": 3}, {"body.urgent": False}]}}, True),
        (
            {"$or": [{"$and": [{"body.urgent": True}, {"body.priority": {"$gte": 2}}]}]},
            True,
        ),
    ],
)
def test_matches(document: dict[str, Any] | None, expected: bool) -> None:
    if document is not None:
        validate(document)
    assert matches(document, TRIGGER) is expected


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        ({"body.priority": {"$gtx": 2}}, "filter.body.priority.$gtx", "unknown operator '$gtx'"),
        ({"body.priority": {"$regex": "x"}}, "filter.body.priority.$regex", "unknown operator"),
        ({"body.priority": {"$eq": 2, "plain": 1}}, "filter.body.priority.plain", "mixed"),
        ({"body.team": {"$in": "support"}}, "filter.body.team.$in", "takes a list"),
        ({"body.team": {"$nin": 3}}, "filter.body.team.$nin", "takes a list"),
        ({"body.team": {"$exists": 1}}, "filter.body.team.$exists", "true or false"),
        ({"body.team": {"$startsWith": 1}}, "filter.body.team.$startsWith", "takes a string"),
        ({"body.team": {"$gt": [1]}}, "filter.body.team.$gt", "number or a string"),
        ({"body.team": {"$gt": True}}, "filter.body.team.$gt", "number or a string"),
        ({"$xor": []}, "filter.$xor", "unknown logical operator"),
        ({"$and": []}, "filter.$and", "non-empty list"),
        ({"$or": {"a": 1}}, "filter.$or", "non-empty list"),
        ({"$and": [{"a": {"$bad": 1}}]}, "filter.$and.0.a.$bad", "unknown operator"),
        ({"$not": [1]}, "filter.$not", "must be an object"),
        ({"$or": [3]}, "filter.$or.0", "must be an object"),
        ({"body..x": 1}, "filter.body..x", "dot-separated"),
        ({"": 1}, "filter.", "dot-separated"),
        ([1], "filter", "must be an object"),
    ],
)
def test_validation_names_the_path(document: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate(document)
    assert raised.value.errors is not None
    [error] = raised.value.errors
    assert error["path"] == path
    assert message in error["message"]


def test_validation_lists_every_problem() -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate({"a": {"$x": 1}, "b": {"$in": 2}, "$or": [{"c": {"$y": 1}}]})
    assert raised.value.errors is not None
    assert [e["path"] for e in raised.value.errors] == [
        "filter.a.$x",
        "filter.b.$in",
        "filter.$or.0.c.$y",
    ]


def test_too_deep_a_filter_is_refused() -> None:
    document: dict[str, Any] = {"a": 1}
    for _ in range(MAX_FILTER_DEPTH + 1):
        document = {"$not": document}
    with pytest.raises(InvalidInputError) as raised:
        validate(document)
    assert raised.value.errors is not None
    assert "nested deeper" in raised.value.errors[0]["message"]


def test_matching_mismatched_shapes_never_raises() -> None:
    document = {"body.title.x.y": {"$gt": 1}, "method.0": "P", "body.tags.x": 1}
    validate(document)
    assert matches(document, TRIGGER) is False
    assert matches({"a": 1}, "not a mapping") is False
    assert matches({"a": {"$exists": False}}, None) is True


def test_resolve() -> None:
    assert resolve(TRIGGER, "body.items.0.sku") == "A-1"
    assert resolve(TRIGGER, "endpoint.slug") == "discord-ticket"
    assert resolve(TRIGGER, "body.nothing") is None
