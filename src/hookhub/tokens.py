"""Admin API tokens: generation and hashing (pure), and the public view of a stored token.

A token is ``hh_`` plus 43 URL-safe characters (256 random bits). The store keeps only its
SHA-256, so a leaked database does not leak usable tokens; the token is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets

from pydantic import BaseModel, Field

from hookhub.events import UtcDatetime

TOKEN_PREFIX = "hh_"  # noqa: S105 (a visible marker, not a secret)
TOKEN_RANDOM_BYTES = 32
#: How many leading characters of a token are kept to tell tokens apart in listings.
SHOWN_PREFIX_CHARS = 10
MAX_NAME_CHARS = 100


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def shown_prefix(token: str) -> str:
    return token[:SHOWN_PREFIX_CHARS]


class ApiTokenInfo(BaseModel):
    """A stored token as the API shows it: never the token, only its prefix."""

    id: str
    name: str
    prefix: str
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None


class NewApiToken(ApiTokenInfo):
    """The answer to creating a token: the only time ``token`` is ever shown."""

    token: str


class Principal(BaseModel):
    """Who is calling the admin API: the configured admin token or a named API token."""

    name: str = Field(max_length=MAX_NAME_CHARS)
    token_id: str | None = None
