"""One exception tree for hookhub; the HTTP layer maps it to status codes in one place.

::

    HookhubError                    base of everything hookhub raises on purpose
    ├── ConfigError                 a setting is missing, malformed or too weak (start-up)
    ├── AuthError                   missing or wrong credentials (HTTP 401)
    ├── VerificationError           an incoming webhook failed its scheme (HTTP 401; in
    │                               hookhub.inbound.verification, with a private ``reason``)
    ├── NotFoundError               the named row does not exist (HTTP 404)
    ├── ConflictError               the request contradicts stored state (HTTP 409)
    ├── InvalidInputError           well-formed but unacceptable input (HTTP 422)
    │   ├── SignalParseError        a /xc connection string with bad fields (HTTP 400)
    │   └── TemplateError           an automation template is malformed, undefined or unsafe
    ├── PayloadTooLargeError        a body over the configured limit (HTTP 413)
    ├── UnsupportedMediaTypeError   a body in a content type the endpoint refuses (HTTP 415)
    ├── RateLimitedError            too many requests; ``retry_after_s`` says when (HTTP 429)
    ├── StoreError                  the database refused or is unreachable (HTTP 503)
    │   └── SchemaOutdatedError     the database schema is behind the code
    └── BusError                    the bus is unreachable (publishing did not reach it)

Messages are safe to show to a caller: they never contain a secret, a stack trace or a
connection string with its password. Details for operators go to the log.
"""

from __future__ import annotations

from typing import Any


class HookhubError(Exception):
    """Base of every error hookhub raises on purpose."""

    status_code = 500

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class ConfigError(HookhubError):
    """A setting is missing, malformed or too weak; raised before anything starts."""


class AuthError(HookhubError):
    status_code = 401


class NotFoundError(HookhubError):
    status_code = 404


class ConflictError(HookhubError):
    status_code = 409


class InvalidInputError(HookhubError):
    status_code = 422


class MalformedJsonError(InvalidInputError):
    """A body that should be JSON does not parse."""

    status_code = 400


class TemplateError(InvalidInputError):
    """An automation template cannot be rendered: bad syntax, an undefined value, a value that
    is not JSON, or an attempt the sandbox refused. At creation this refuses the automation
    (422); at run time it fails the step that holds the template."""


class PayloadTooLargeError(HookhubError):
    status_code = 413


class UnsupportedMediaTypeError(HookhubError):
    status_code = 415


class RateLimitedError(HookhubError):
    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SignalParseError(InvalidInputError):
    """A ``/xc`` connection string that breaks the grammar; ``errors`` names every bad field."""

    status_code = 400


class StoreError(HookhubError):
    status_code = 503


class SchemaOutdatedError(StoreError):
    """The database has not been migrated to the revision this code needs."""


class BusError(HookhubError):
    status_code = 503
