"""Filters over a trigger: small Mongo-like documents, validated once, evaluated purely.

A filter is a JSON object. Each key is either a dotted path into the trigger
(``body.priority``, ``event.payload.items.0.sku``: a number indexes a list) or a logical operator:

- ``{"body.priority": 2}``: a plain value means ``$eq``;
- ``{"body.priority": {"$gte": 2, "$lt": 4}}``: every operator given must hold;
- ``{"$and": [f1, f2]}``, ``{"$or": [f1, f2]}``, ``{"$not": f}`` combine whole filters;
- several keys in one object must all hold.

Field operators: ``$eq $neq $gt $gte $lt $lte $in $nin $exists $startsWith``.

Semantics, chosen to be unsurprising for JSON:

- A missing path matches only ``$exists: false``, ``$neq`` and ``$nin``.
- ``true`` is not ``1``: booleans equal only booleans. Integers and floats compare as numbers.
- ``$gt $gte $lt $lte`` compare two numbers or two strings; any other pair does not match
  (never an error at run time).
- ``$startsWith`` matches strings only.

:func:`validate` refuses unknown operators and wrongly typed operands, naming the path;
:func:`matches` never raises on a validated filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookhub.errors import InvalidInputError

#: Deeper filters are refused, so evaluation cannot exhaust the stack.
MAX_FILTER_DEPTH = 32

LOGICAL = ("$and", "$or", "$not")
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
FIELD_OPERATORS = ("$eq", "$neq", *COMPARISONS, "$in", "$nin", "$exists", "$startsWith")

_MISSING = object()


def validate(document: Any) -> None:
    """Raise :class:`InvalidInputError` listing ``[{path, message}]`` for each problem."""
    errors: list[dict[str, str]] = []
    _check_document(document, "filter", errors, depth=0)
    if errors:
        raise InvalidInputError("Invalid filter", errors=errors)


def _check_document(document: Any, path: str, errors: list[dict[str, str]], depth: int) -> None:
    if depth > MAX_FILTER_DEPTH:
        errors.append({"path": path, "message": f"nested deeper than {MAX_FILTER_DEPTH} levels"})
        return
    if not isinstance(document, Mapping):
        errors.append({"path": path, "message": "a filter must be an object"})
        return
    for key, value in document.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                errors.append({"path": where, "message": f"{key} takes a non-empty list"})
                continue
            for index, item in enumerate(value):
                _check_document(item, f"{where}.{index}", errors, depth + 1)
        elif key == "$not":
            _check_document(value, where, errors, depth + 1)
        elif key.startswith("$"):
            errors.append({"path": where, "message": f"unknown logical operator {key!r}"})
        elif not key or any(part == "" for part in key.split(".")):
            errors.append({"path": where, "message": "a path must be dot-separated names"})
        elif _is_operator_object(value):
            _check_operators(value, where, errors)


def _is_operator_object(value: Any) -> bool:
    return isinstance(value, Mapping) and any(
        isinstance(key, str) and key.startswith("$") for key in value
    )


def _check_operators(operators: Mapping[str, Any], path: str, errors: list[dict[str, str]]) -> None:
    for name, operand in operators.items():
        where = f"{path}.{name}"
        if not name.startswith("$"):
            errors.append({"path": where, "message": "operators and plain keys cannot be mixed"})
        elif name not in FIELD_OPERATORS:
            known = ", ".join(FIELD_OPERATORS)
            errors.append({"path": where, "message": f"unknown operator {name!r} ({known})"})
        elif name in ("$in", "$nin") and not isinstance(operand, list):
            errors.append({"path": where, "message": f"{name} takes a list"})
        elif name == "$exists" and not isinstance(operand, bool):
            errors.append({"path": where, "message": "$exists takes true or false"})
        elif name == "$startsWith" and not isinstance(operand, str):
            errors.append({"path": where, "message": "$startsWith takes a string"})
        elif name in COMPARISONS and not (_is_number(operand) or isinstance(operand, str)):
            errors.append({"path": where, "message": f"{name} takes a number or a string"})


def matches(document: Mapping[str, Any] | None, subject: Any) -> bool:
    """Whether ``subject`` (the trigger) satisfies ``document``; ``None`` matches everything."""
    if document is None:
        return True
    return all(_clause(key, value, subject) for key, value in document.items())


def _clause(key: str, value: Any, subject: Any) -> bool:
    if key == "$and":
        return all(matches(item, subject) for item in value)
    if key == "$or":
        return any(matches(item, subject) for item in value)
    if key == "$not":
        return not matches(value, subject)
    found = resolve(subject, key)
    if _is_operator_object(value):
        return all(_apply(name, operand, found) for name, operand in value.items())
    return _equal(found, value)


def resolve(subject: Any, path: str) -> Any:
    """The value at a dotted path, or a private sentinel when any part is missing."""
    current = subject
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else _MISSING
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def _apply(name: str, operand: Any, found: Any) -> bool:
    if name == "$exists":
        return (found is not _MISSING) is operand
    if name == "$neq":
        return not _equal(found, operand)
    if name == "$nin":
        return not any(_equal(found, item) for item in operand)
    if found is _MISSING:
        return False
    if name == "$eq":
        return _equal(found, operand)
    if name == "$in":
        return any(_equal(found, item) for item in operand)
    if name == "$startsWith":
        return isinstance(found, str) and found.startswith(operand)
    return _compare(name, found, operand)


def _compare(name: str, left: Any, right: Any) -> bool:
    comparable = (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    if not comparable:
        return False
    if name == "$gt":
        return bool(left > right)
    if name == "$gte":
        return bool(left >= right)
    if name == "$lt":
        return bool(left < right)
    return bool(left <= right)


def _equal(left: Any, right: Any) -> bool:
    if left is _MISSING:
        return False
    # Python says True == 1; JSON does not.
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
