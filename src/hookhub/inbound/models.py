"""What the incoming-endpoint API and the config file take and give.

An endpoint is one URL, ``/hooks/{slug}``, with its own verification, payload schema, rate
limit and dedupe. The same model describes an endpoint in the TOML config
(:class:`EndpointConfig`) and in the admin API (:class:`EndpointCreate`), so both are checked
the same way: the scheme must exist, the JSON Schema must be a valid Draft 2020-12 schema, the
rate limit must parse.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import limits
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hookhub.events import UtcDatetime
from hookhub.inbound.verification import DEFAULT_TOLERANCE_S, SCHEMES
from hookhub.signing import WHSEC_PREFIX

#: URL-safe: lower-case letters, digits, ``-`` and ``_``, starting with a letter or digit.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
MAX_SLUG_CHARS = 100
#: Seed 002: 100 requests a minute per webhook per client IP.
DEFAULT_RATE_LIMIT = "100/minute"
#: Hookdeck's and the issue's dedupe window.
DEFAULT_DEDUPE_WINDOW_S = 24 * 3600.0
MAX_DEDUPE_WINDOW_S = 30 * 24 * 3600.0
MAX_TOLERANCE_S = 24 * 3600.0
MIN_SECRET_CHARS = 8
#: Characters of a secret shown by the API: enough to tell two apart, never enough to matter.
SECRET_SHOWN_CHARS = 4
MAX_SECRET_CHARS = 255
JSON_CONTENT_TYPE = "application/json"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class ManagedBy(StrEnum):
    """Where an endpoint is defined. Config-defined ones change only in the config file."""

    API = "api"
    CONFIG = "config"


class Verdict(StrEnum):
    """What became of one incoming request, as the request history records it."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNVERIFIED = "unverified"
    UNSUPPORTED_TYPE = "unsupported_type"
    INVALID = "invalid"


def _known_scheme(value: str | None) -> str | None:
    # Looked up at validation time, so a scheme added to SCHEMES needs no change here.
    if value is not None and value not in SCHEMES:
        raise ValueError(f"unknown scheme {value!r}; known: {', '.join(sorted(SCHEMES))}")
    return value


def _draft_2020_12(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        raise ValueError(
            f"not a valid JSON Schema (Draft 2020-12) at {where}: {exc.message}"
        ) from None
    return value


def _rate_limit(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        limits.parse(value)
    except ValueError:
        raise ValueError("must read like '100/minute', '10/second' or '1000 per hour'") from None
    return value


def _content_types(value: list[str]) -> list[str]:
    return sorted({item.strip().lower() for item in value})


def _default_methods() -> list[Method]:
    return ["POST"]


def _methods(value: list[Method]) -> list[Method]:
    return sorted(set(value), key=HTTP_METHODS.index)


def _id_path(value: str | None) -> str | None:
    if value is not None:
        from hookhub.inbound.payload import parse_path  # the parser's errors name the problem

        parse_path(value)
    return value


Slug = Annotated[str, Field(min_length=1, max_length=MAX_SLUG_CHARS, pattern=SLUG_PATTERN)]
Scheme = Annotated[str | None, AfterValidator(_known_scheme)]
Secret = Annotated[str, Field(min_length=MIN_SECRET_CHARS, max_length=MAX_SECRET_CHARS)]
JsonSchema = Annotated[dict[str, Any] | None, AfterValidator(_draft_2020_12)]
RateLimit = Annotated[str | None, Field(max_length=64), AfterValidator(_rate_limit)]
Methods = Annotated[list[Method], Field(min_length=1), AfterValidator(_methods)]
ContentTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    Field(min_length=1, max_length=20),
    AfterValidator(_content_types),
]
IdPath = Annotated[str | None, Field(max_length=200), AfterValidator(_id_path)]
Tolerance = Annotated[float, Field(gt=0, le=MAX_TOLERANCE_S)]
Window = Annotated[float, Field(gt=0, le=MAX_DEDUPE_WINDOW_S)]
BodyBytes = Annotated[int | None, Field(gt=0)]


class VerificationIn(BaseModel):
    """How requests prove they come from the sender: a scheme over the raw body, or none."""

    model_config = ConfigDict(extra="forbid")

    scheme: Scheme = None
    #: The scheme's secret (for ``bearer``, the token). Generated when a scheme is set without.
    secret: Secret | None = Field(default=None, repr=False)
    #: A bearer token required beside a signature scheme (seed 002: both).
    bearer_token: Secret | None = Field(default=None, repr=False)
    #: A timestamp header is required and must be within ``tolerance_s`` of now.
    replay_protection: bool = False
    tolerance_s: Tolerance = DEFAULT_TOLERANCE_S

    @model_validator(mode="after")
    def _consistent(self) -> VerificationIn:
        if self.scheme is None and (self.secret or self.bearer_token):
            raise ValueError("a secret or bearer token needs a scheme")
        if self.scheme == "bearer" and self.bearer_token:
            raise ValueError("scheme 'bearer' takes its token as the secret")
        return self


class DedupeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    window_s: Window = DEFAULT_DEDUPE_WINDOW_S
    #: Where the delivery id is in a JSON body (``update_id``, ``$.data.id``, ``items[0].id``);
    #: otherwise it is taken from the scheme's or the usual headers.
    id_path: IdPath = None


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: Slug
    description: str | None = Field(default=None, max_length=1000)
    methods: Methods = Field(default_factory=_default_methods)
    #: Accepted media types; a JSON one is parsed (and checked against ``json_schema``).
    content_types: ContentTypes = Field(default_factory=lambda: [JSON_CONTENT_TYPE])
    verification: VerificationIn = Field(default_factory=VerificationIn)
    json_schema: JsonSchema = None
    #: Per client IP; ``null`` for none.
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT
    dedupe: DedupeIn = Field(default_factory=DedupeIn)
    #: Below ``HOOKHUB_MAX_BODY_BYTES`` to refuse smaller bodies; ``null`` for that limit.
    max_body_bytes: BodyBytes = None
    is_active: bool = True


class EndpointConfig(EndpointCreate):
    """One ``[[endpoints]]`` table of the TOML config; its slug is its identity there."""

    @model_validator(mode="after")
    def _secret_given(self) -> EndpointConfig:
        # The API shows a generated secret once; nothing would show one made for the config.
        if self.verification.scheme is not None and self.verification.secret is None:
            raise ValueError(f"endpoint {self.slug!r}: verification.secret is required")
        return self


class EndpointUpdate(BaseModel):
    """Any field of an endpoint; a field left out keeps its value. Nested objects are whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: Slug | None = None
    description: str | None = Field(default=None, max_length=1000)
    methods: Methods | None = None
    content_types: ContentTypes | None = None
    verification: VerificationIn | None = None
    json_schema: JsonSchema = None
    rate_limit: RateLimit = None
    dedupe: DedupeIn | None = None
    max_body_bytes: BodyBytes = None
    is_active: bool | None = None


class VerificationOut(BaseModel):
    scheme: str | None
    #: The first characters of the secret, to tell two apart; the secret itself is never shown.
    secret_prefix: str | None
    bearer_token_prefix: str | None
    replay_protection: bool
    tolerance_s: float


class DedupeOut(BaseModel):
    enabled: bool
    window_s: float
    id_path: str | None


class EndpointOut(BaseModel):
    id: str
    name: str
    slug: str
    url_path: str
    description: str | None
    methods: list[str]
    content_types: list[str]
    verification: VerificationOut
    json_schema: dict[str, Any] | None
    rate_limit: str | None
    dedupe: DedupeOut
    max_body_bytes: int | None
    is_active: bool
    managed_by: ManagedBy
    created_at: UtcDatetime
    updated_at: UtcDatetime


class EndpointWithSecret(EndpointOut):
    """The creation answer: the only time a generated secret is shown in full."""

    secret: str | None


class EndpointRecord(BaseModel):
    """An endpoint as the services see it, secrets included. Never returned by the API."""

    id: str
    name: str
    slug: str
    description: str | None
    methods: list[str]
    content_types: list[str]
    scheme: str | None
    secret: str | None = Field(repr=False)
    bearer_token: str | None = Field(repr=False)
    replay_protection: bool
    tolerance_s: float
    json_schema: dict[str, Any] | None
    rate_limit: str | None
    dedupe_enabled: bool
    dedupe_window_s: float
    dedupe_id_path: str | None
    max_body_bytes: int | None
    is_active: bool
    managed_by: ManagedBy
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def public(self) -> EndpointOut:
        return EndpointOut(
            id=self.id,
            name=self.name,
            slug=self.slug,
            url_path=f"/hooks/{self.slug}",
            description=self.description,
            methods=self.methods,
            content_types=self.content_types,
            verification=VerificationOut(
                scheme=self.scheme,
                secret_prefix=secret_prefix(self.secret),
                bearer_token_prefix=secret_prefix(self.bearer_token),
                replay_protection=self.replay_protection,
                tolerance_s=self.tolerance_s,
            ),
            json_schema=self.json_schema,
            rate_limit=self.rate_limit,
            dedupe=DedupeOut(
                enabled=self.dedupe_enabled,
                window_s=self.dedupe_window_s,
                id_path=self.dedupe_id_path,
            ),
            max_body_bytes=self.max_body_bytes,
            is_active=self.is_active,
            managed_by=self.managed_by,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


def secret_prefix(secret: str | None) -> str | None:
    """The first characters (after ``whsec_`` when there), as ``/webhooks`` shows its secrets."""
    if not secret:
        return None
    marker = WHSEC_PREFIX if secret.startswith(WHSEC_PREFIX) else ""
    return f"{marker}{secret[len(marker) : len(marker) + SECRET_SHOWN_CHARS]}…"


class RequestOut(BaseModel):
    """One incoming request as the history keeps it: secrets masked, body capped."""

    id: str
    endpoint_id: str
    received_at: UtcDatetime
    method: str
    client_ip: str | None
    status_code: int
    verdict: Verdict
    #: Why it was refused (the precise verification failure included), or ``null``.
    reason: str | None
    headers: dict[str, str]
    query: dict[str, str]
    body: str | None
    body_bytes: int
    body_truncated: bool
    delivery_id: str | None
    execution_id: str | None


class ReplayResult(BaseModel):
    success: bool = True
    message: str = "Request replayed"
    request_id: str
    execution_id: str | None


class Deleted(BaseModel):
    success: bool = True
    message: str = "Endpoint deleted"
