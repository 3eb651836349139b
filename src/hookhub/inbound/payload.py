"""The body of an incoming request after it is verified: media type, JSON, schema, id path.

Pure functions over bytes and values. Nothing here runs before verification: the route calls
these only once the raw body's signature is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator

from hookhub.errors import HookhubError

INVALID_JSON = "Malformed JSON body"
#: Seed 002's answer to a body its schema refuses.
INVALID_PAYLOAD = "Invalid payload"
UNSUPPORTED_TYPE = "Unsupported content type"
NUL_ESCAPE = b"\\u0000"
NUL_MESSAGE = "NUL characters (\\u0000) are not accepted"
#: Problems listed in one answer at most: a huge wrong body must not make a huge answer.
MAX_LISTED_ERRORS = 50
#: Where every error path starts, as in the rest of the API's validation errors (``body.name``).
BODY = "body"

_PATH_STEP = re.compile(r"\.?([A-Za-z0-9_\-]+)|\[(\d+)\]")
#: Keywords on which the quick validator and the full one may judge a value differently:
#: regular expressions (ECMA-262 against Python's ``re``), formats (each library checks its
#: own set), ``multipleOf`` with fractions (exact decimals against floats), references and
#: declared dialects. A schema using any of them is checked by the full validator alone.
_FULL_ONLY_KEYWORDS = frozenset(
    {
        "format",
        "pattern",
        "patternProperties",
        "multipleOf",
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
        "$schema",
        "$vocabulary",
    }
)


class PayloadError(HookhubError):
    """The body is unacceptable: not JSON, or not what the endpoint's schema allows."""

    status_code = 400


class UnsupportedTypeError(HookhubError):
    status_code = 415


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``; missing → ``""``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_media_type(media: str, allowed: list[str]) -> None:
    """Raise :class:`UnsupportedTypeError` unless ``media`` is one of ``allowed``.

    ``allowed`` may hold ``*/*`` or ``type/*``. A JSON endpoint also takes ``+json`` types.
    """
    for pattern in allowed:
        if pattern in ("*/*", media):
            return
        if pattern.endswith("/*") and media.startswith(pattern[:-1]):
            return
        if pattern == "application/json" and is_json(media):
            return
    shown = media or "none"
    raise UnsupportedTypeError(
        UNSUPPORTED_TYPE,
        errors=[
            {"path": "headers.content-type", "message": f"{shown}; expected {', '.join(allowed)}"}
        ],
    )


def parse_json(body: bytes) -> Any:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(INVALID_JSON, errors=[{"path": BODY, "message": str(exc)}]) from None
    # PostgreSQL's JSON and text types cannot hold NUL, so such a body could not be stored;
    # refused on both databases alike.
    if NUL_ESCAPE in body:
        raise PayloadError(INVALID_JSON, errors=[{"path": BODY, "message": NUL_MESSAGE}])
    return parsed


def without_nul(text: str) -> str:
    """``text`` with NUL replaced (U+FFFD), so PostgreSQL can store it."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


@dataclass(frozen=True)
class SchemaValidator:
    """An endpoint's compiled schema: a quick yes for valid values, the full account otherwise.

    ``full`` (the ``jsonschema`` package) judges every value and explains each problem; it
    walks a valid body in about 45 µs, a tenth of the whole request's cost. ``quick``
    (``jsonschema-rs``) answers "valid" in under a microsecond; it is only built for schemas
    whose keywords both libraries judge alike, and only its "valid" is taken: anything else
    goes to ``full``, so the answer and its errors are the same as with ``full`` alone.
    """

    full: Draft202012Validator
    quick: jsonschema_rs.Validator | None = None


def compile_schema(schema: dict[str, Any]) -> SchemaValidator:
    """A validator for a schema already checked at creation (``check_schema``)."""
    full = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    quick = None
    if not any(key in _FULL_ONLY_KEYWORDS for key in _keys(schema)):
        try:
            # Offline: a schema never makes hookhub fetch anything.
            quick = jsonschema_rs.Draft202012Validator(schema, offline=True)
        except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError):
            quick = None
    return SchemaValidator(full, quick)


def _keys(value: Any) -> Iterator[str]:
    """Every object key anywhere in ``value`` (property names too: erring on the safe side)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def is_valid_quickly(validator: SchemaValidator, value: Any) -> bool:
    if validator.quick is None:
        return False
    try:
        return bool(validator.quick.is_valid(value))
    except (ValueError, TypeError, OverflowError):
        return False  # a value the quick validator cannot take: the full one decides


def schema_errors(validator: SchemaValidator, value: Any) -> list[dict[str, str]]:
    """Every problem with ``value``, as ``{path, message}`` sorted by path (at most a cap)."""
    if is_valid_quickly(validator, value):
        return []
    found = []
    for error in validator.full.iter_errors(value):
        path = ".".join([BODY, *(str(part) for part in error.absolute_path)])
        found.append({"path": path, "message": error.message})
    found.sort(key=lambda item: (item["path"], item["message"]))
    return found[:MAX_LISTED_ERRORS]


def check_schema(validator: SchemaValidator, value: Any) -> None:
    errors = schema_errors(validator, value)
    if errors:
        raise PayloadError(INVALID_PAYLOAD, errors=errors)


def parse_path(path: str) -> tuple[str | int, ...]:
    """``$.data.items[0].id`` (``$.`` optional) → ``("data", "items", 0, "id")``.

    Raises ``ValueError`` naming the problem when the path is not of that form.
    """
    text = path.strip()
    rest = text[1:].removeprefix(".") if text.startswith("$") else text
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _PATH_STEP.match(rest, position)
        if match is None or (position == 0 and rest.startswith(".")):
            raise ValueError(f"bad JSON path {path!r} at character {position + 1}")
        name, index = match.groups()
        steps.append(int(index) if index is not None else name)
        position = match.end()
    if not steps:
        raise ValueError(f"JSON path {path!r} names nothing")
    return tuple(steps)


def lookup(value: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in parsed JSON, or ``None`` when any step is missing."""
    for step in path:
        in_list = isinstance(step, int) and isinstance(value, list) and step < len(value)
        in_object = isinstance(step, str) and isinstance(value, Mapping) and step in value
        if not (in_list or in_object):
            return None
        value = value[step]
    return value
