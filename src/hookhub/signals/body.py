"""The body of a ``POST /xc``, decoded by its content type into a checked signal (pure).

Accepted, so that what a trading tool can send works and nothing else is guessed at:

- ``text/plain``, or no ``Content-Type`` at all: the body is the connection string;
- ``application/json``: either a JSON string holding the connection string
  (``"code=K strategy_id=S ..."``), or a JSON object whose keys are the connection string's
  keys and whose values are all strings (``{"code": "K", "amount": "0.05", ...}``; a JSON
  number is refused, as a float it may already have lost digits). Duplicate keys in the
  object are errors, as in a string.

The only charset accepted is UTF-8 (``us-ascii``, its subset, too). Any other type is
:class:`~hookhub.errors.UnsupportedMediaTypeError`; a body that is not UTF-8 or not JSON is a
:class:`~hookhub.errors.SignalParseError` naming ``body``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from hookhub.errors import SignalParseError, UnsupportedMediaTypeError
from hookhub.signals.parser import (
    ECHO_CHARS,
    INVALID_SIGNAL,
    Parsed,
    check_fields,
    check_signal,
)

TEXT = "text/plain"
JSON = "application/json"
MEDIA_TYPES = (TEXT, JSON)
CHARSETS = ("utf-8", "utf8", "us-ascii")
UNSUPPORTED = "Content-Type must be text/plain or application/json"


class _NotJson(ValueError):
    """A JSON constant (``NaN``, ``Infinity``) or another value JSON itself does not allow."""


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, lower-case; raises for anything refused."""
    if content_type is None or not content_type.strip():
        return TEXT
    kind, *parameters = (part.strip() for part in content_type.split(";"))
    kind = kind.lower()
    if kind not in MEDIA_TYPES:
        raise UnsupportedMediaTypeError(UNSUPPORTED)
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in CHARSETS:
            raise UnsupportedMediaTypeError("the only charset accepted is utf-8")
    return kind


def _body_error(message: str) -> SignalParseError:
    return SignalParseError(INVALID_SIGNAL, errors=[{"path": "body", "message": message}])


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


class _Object(list[tuple[str, Any]]):
    """A JSON object as its pairs in order, so duplicate keys reach the checks."""


def check_body(body: bytes, content_type: str | None, *, exchanges: Collection[str]) -> Parsed:
    """Decode and check a ``/xc`` body.

    Raises :class:`UnsupportedMediaTypeError` for a refused type and :class:`SignalParseError`
    for a body that cannot be read at all; field problems are in the returned
    :class:`~hookhub.signals.parser.Parsed` (see :meth:`~hookhub.signals.parser.Parsed.result`).
    """
    kind = media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _body_error("must be UTF-8 text") from None
    if kind == TEXT:
        return check_signal(text, exchanges=exchanges)
    try:
        document = json.loads(text, object_pairs_hook=_Object, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and _NotJson are ValueErrors
        raise _body_error("must be valid JSON") from None
    if isinstance(document, str):
        return check_signal(document, exchanges=exchanges)
    if isinstance(document, _Object):
        return _check_object(document, exchanges)
    raise _body_error("must be a JSON string or a JSON object of strings")


def _check_object(items: _Object, exchanges: Collection[str]) -> Parsed:
    not_strings = {key for key, value in items if not isinstance(value, str)}
    parsed = check_fields(
        [(key, value) for key, value in items if isinstance(value, str)], exchanges=exchanges
    )
    if not not_strings:
        return parsed
    errors = [
        {"path": key[:ECHO_CHARS], "message": "must be a string"} for key in sorted(not_strings)
    ]
    # A key whose value was not a string is not also "required".
    errors += [
        error
        for error in parsed.errors
        if not (error["path"] in not_strings and error["message"] == "required")
    ]
    return Parsed(code=parsed.code, signal=None, errors=errors)
