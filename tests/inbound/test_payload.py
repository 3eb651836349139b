"""The body after verification: media types, JSON, schema errors, JSON paths (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.inbound import payload
from hookhub.inbound.payload import PayloadError, UnsupportedTypeError

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "priority": {"type": "integer", "maximum": 3},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),
        ("", ""),
        (None, ""),
    ],
)
def test_media_type(header: str | None, expected: str) -> None:
    assert payload.media_type(header) == expected


@pytest.mark.parametrize(
    ("media", "allowed"),
    [
        ("application/json", ["application/json"]),
        ("application/vnd.github+json", ["application/json"]),
        ("text/plain", ["text/*"]),
        ("image/png", ["*/*"]),
        (
            "application/x-www-form-urlencoded",
            ["application/json", "application/x-www-form-urlencoded"],
        ),
    ],
)
def test_allowed_media_types(media: str, allowed: list[str]) -> None:
    payload.check_media_type(media, allowed)


@pytest.mark.parametrize(
    ("media", "allowed"),
    [
        ("text/plain", ["application/json"]),
        ("", ["application/json"]),
        ("application/jsonx", ["application/json"]),
        ("textual/plain", ["text/*"]),
    ],
)
def test_refused_media_types(media: str, allowed: list[str]) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        payload.check_media_type(media, allowed)
    assert caught.value.status_code == 415
    assert caught.value.errors
    assert caught.value.errors[0]["path"] == "headers.content-type"


@pytest.mark.parametrize("body", [b"", b"{", b"{'a': 1}", b"\xff\xfe", b"[1,]"])
def test_malformed_json(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        payload.parse_json(body)
    assert caught.value.status_code == 400
    assert caught.value.message == payload.INVALID_JSON


def test_schema_errors_list_every_problem_with_its_path() -> None:
    validator = payload.compile_schema(SCHEMA)
    errors = payload.schema_errors(validator, {"priority": 9, "tags": ["a", 2]})
    assert errors == [
        {"path": "body", "message": "'title' is a required property"},
        {"path": "body.priority", "message": "9 is greater than the maximum of 3"},
        {"path": "body.tags.1", "message": "2 is not of type 'string'"},
    ]
    assert payload.schema_errors(validator, {"title": "ok", "priority": 2}) == []
    with pytest.raises(PayloadError) as caught:
        payload.check_schema(validator, ["not", "an", "object"])
    assert caught.value.message == payload.INVALID_PAYLOAD


def test_schema_errors_are_capped() -> None:
    validator = payload.compile_schema({"type": "array", "items": {"type": "string"}})
    errors = payload.schema_errors(validator, list(range(500)))
    assert len(errors) == payload.MAX_LISTED_ERRORS


#: Schemas the quick validator takes, each with values on both sides of every keyword.
AGREEING: list[tuple[dict[str, Any], list[Any]]] = [
    (SCHEMA, [{"title": "a"}, {"title": ""}, {"title": "a", "priority": 3.0}, {"priority": 1}]),
    ({"type": "integer"}, [1, 1.0, 1.5, True, 10**30, "1", None]),
    ({"type": "string", "maxLength": 2}, ["ab", "abc", "é€", "💩💩", "💩💩💩"]),
    ({"uniqueItems": True}, [[1, 1.0], [1, True], [0, False], [{"a": 1}, {"a": 1.0}]]),
    ({"enum": [1, "a", None]}, [1.0, True, None, "a", "b"]),
    ({"unevaluatedProperties": False, "properties": {"a": {}}}, [{"a": 1}, {"b": 1}]),
    ({"prefixItems": [{"type": "string"}], "items": {"type": "number"}}, [["a", 1], [1, 1]]),
    ({"if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}, [{"a": 1}, {}]),
    ({"contains": {"type": "string"}, "minContains": 2}, [["a"], ["a", "b"], []]),
    ({"dependentRequired": {"a": ["b"]}}, [{"a": 1}, {"a": 1, "b": 2}]),
]


@pytest.mark.parametrize(("schema", "values"), AGREEING)
def test_the_quick_validator_gives_the_full_validators_answers(
    schema: dict[str, Any], values: list[Any]
) -> None:
    validator = payload.compile_schema(schema)
    assert validator.quick is not None  # otherwise this would compare the full one with itself
    alone = payload.SchemaValidator(validator.full)
    for value in values:
        assert payload.schema_errors(validator, value) == payload.schema_errors(alone, value)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        # The quick validator does exact decimal arithmetic and would take 19.99; the full
        # one works in floats and refuses it. Endpoints keep the answer they always had.
        ({"multipleOf": 0.01}, 19.99),
        # The quick validator does not check formats unless asked; the full one does.
        ({"format": "email"}, "not-an-email"),
        ({"properties": {"a": {"format": "email"}}}, {"a": "not-an-email"}),
    ],
)
def test_keywords_the_libraries_judge_differently_go_to_the_full_validator(
    schema: dict[str, Any], value: Any
) -> None:
    errors = payload.schema_errors(payload.compile_schema(schema), value)
    assert errors
    assert all(error["path"].startswith("body") for error in errors)


def test_a_schema_never_makes_the_quick_validator_fetch_anything() -> None:
    validator = payload.compile_schema({"$ref": "https://example.com/schema.json"})
    assert validator.quick is None


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("update_id", ("update_id",)),
        ("$.update_id", ("update_id",)),
        ("data.object.id", ("data", "object", "id")),
        ("$.items[0].id", ("items", 0, "id")),
        ("$.a-b_c[12]", ("a-b_c", 12)),
    ],
)
def test_parse_path(path: str, steps: tuple[str | int, ...]) -> None:
    assert payload.parse_path(path) == steps


@pytest.mark.parametrize("path", ["", "$", "a..b", ".a", "a[x]", "a b", "a.[0]"])
def test_parse_path_refuses(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        payload.parse_path(path)


def test_lookup() -> None:
    value = {"data": {"items": [{"id": 7}], "name": "x"}}
    assert payload.lookup(value, ("data", "items", 0, "id")) == 7
    assert payload.lookup(value, ("data", "items", 1, "id")) is None
    assert payload.lookup(value, ("data", "name", "x")) is None
    assert payload.lookup(None, ("a",)) is None
    assert payload.lookup([1], ("0",)) is None
