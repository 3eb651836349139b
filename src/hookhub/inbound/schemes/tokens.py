"""Schemes where the request carries the secret itself: ``bearer`` and ``telegram``.

Neither signs the body, so neither protects it from tampering in transit; they rely on TLS.
The headers they read hold the secret, so request history must mask them
(:data:`SECRET_HEADERS`).
"""

from __future__ import annotations

import hmac
from datetime import datetime

from hookhub.inbound.schemes.base import (
    Headers,
    VerificationError,
    VerifyOptions,
    require_header,
    require_secret,
)

AUTHORIZATION_HEADER = "authorization"
BEARER_PREFIX = "bearer "
#: Telegram ``setWebhook``'s ``secret_token``, sent back on every update:
#: https://core.telegram.org/bots/api#setwebhook
TELEGRAM_SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)
#: Headers whose value is the endpoint's secret itself.
SECRET_HEADERS = frozenset({AUTHORIZATION_HEADER, TELEGRAM_SECRET_HEADER})


def _same_secret(presented: str, secret: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header can carry anything.
    return hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


def verify_bearer(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``Authorization: Bearer <secret>`` (the scheme word in any case)."""
    require_secret(secret)
    value = headers.get(AUTHORIZATION_HEADER, "")
    if value[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        raise VerificationError("missing bearer token")
    if not _same_secret(value[len(BEARER_PREFIX) :].strip(), secret):
        raise VerificationError("wrong bearer token")


def sign_bearer(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def verify_telegram(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``X-Telegram-Bot-Api-Secret-Token`` equals the ``secret_token`` given to setWebhook."""
    require_secret(secret)
    presented = require_header(headers, TELEGRAM_SECRET_HEADER)
    if not _same_secret(presented, secret):
        raise VerificationError(f"wrong {TELEGRAM_SECRET_HEADER}")


def sign_telegram(
    body: bytes, secret: str, now: datetime, message_id: str | None
) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret}
