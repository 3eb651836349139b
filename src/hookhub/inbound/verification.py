"""Verification of incoming requests: one pure function per scheme over raw bytes.

Every scheme is ``verify(headers, body, secret, now, options) -> None`` and raises
:class:`VerificationError` on any failure. Nothing here parses the body (an erxes receiver
parsed JSON first and ended up signing an empty body), reads the clock (``now`` is given), or
compares secrets or digests other than with :func:`hmac.compare_digest`. Malformed headers,
secrets and keys are failures with a reason, never a crash.

The error's ``message`` is what a caller may see ("Security validation failed"); its ``reason``
is the precise cause, for the log and the request history only. No reason contains the secret
or a presented credential.

Schemes (headers read; what the secret is):

- ``bearer``: ``Authorization: Bearer <secret>``; the token itself.
- ``hmac`` (seed 002): ``X-Webhook-Signature`` (hex, ``sha256=`` optional), optionally
  ``X-Webhook-Timestamp`` (s) or ``X-Timestamp`` (ms), unsigned; the HMAC key.
- ``github``: ``X-Hub-Signature-256: sha256=<hex>``; the webhook secret.
- ``stripe``: ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=...]``; the ``whsec_...`` string.
- ``slack``: ``X-Slack-Signature: v0=<hex>``, ``X-Slack-Request-Timestamp``; the signing secret.
- ``shopify``: ``X-Shopify-Hmac-Sha256`` (base64); the app's client secret.
- ``standard-webhooks``: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (or the
  ``svix-*`` names); ``whsec_<base64>`` or a raw string.
- ``telegram``: ``X-Telegram-Bot-Api-Secret-Token``; the ``secret_token`` given to setWebhook.
- ``viber``: ``X-Viber-Content-Signature`` (hex); the bot's auth token.
- ``discord``: ``X-Signature-Ed25519``, ``X-Signature-Timestamp``; the application's public key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from hookhub.inbound.schemes.base import (
    DEFAULT_TOLERANCE_S,
    PUBLIC_MESSAGE,
    Headers,
    Signer,
    VerificationError,
    Verifier,
    VerifyOptions,
    check_timestamp,
)
from hookhub.inbound.schemes.body_hmac import (
    GITHUB_DELIVERY_HEADER,
    HMAC_SIGNATURE_HEADER,
    HMAC_TIMESTAMP_MS_HEADER,
    HMAC_TIMESTAMP_S_HEADER,
    SHA256_PREFIX,
    SHOPIFY_WEBHOOK_ID_HEADER,
    sign_github,
    sign_hmac,
    sign_shopify,
    sign_viber,
    verify_github,
    verify_hmac,
    verify_shopify,
    verify_viber,
)
from hookhub.inbound.schemes.discord import sign_discord, verify_discord
from hookhub.inbound.schemes.timestamped import (
    STANDARD_ID_HEADER,
    SVIX_ID_HEADER,
    sign_slack,
    sign_standard_webhooks,
    sign_stripe,
    verify_slack,
    verify_standard_webhooks,
    verify_stripe,
)
from hookhub.inbound.schemes.tokens import (
    BEARER_PREFIX,
    SECRET_HEADERS,
    sign_bearer,
    sign_telegram,
    verify_bearer,
    verify_telegram,
)

__all__ = [
    "BEARER_PREFIX",
    "DEFAULT_TOLERANCE_S",
    "DELIVERY_ID_HEADERS",
    "HMAC_SIGNATURE_HEADER",
    "HMAC_TIMESTAMP_MS_HEADER",
    "HMAC_TIMESTAMP_S_HEADER",
    "IDEMPOTENCY_KEY_HEADER",
    "MAX_DELIVERY_ID_CHARS",
    "PUBLIC_MESSAGE",
    "SCHEMES",
    "SECRET_HEADERS",
    "SHA256_PREFIX",
    "SIGNERS",
    "Headers",
    "Signer",
    "VerificationError",
    "Verifier",
    "VerifyOptions",
    "check_timestamp",
    "delivery_id",
    "lower_headers",
    "sign",
    "verify",
    "verify_bearer",
    "verify_hmac",
]

SCHEMES: dict[str, Verifier] = {
    "bearer": verify_bearer,
    "hmac": verify_hmac,
    "github": verify_github,
    "stripe": verify_stripe,
    "slack": verify_slack,
    "shopify": verify_shopify,
    "standard-webhooks": verify_standard_webhooks,
    "telegram": verify_telegram,
    "viber": verify_viber,
    "discord": verify_discord,
}

SIGNERS: dict[str, Signer] = {
    "bearer": sign_bearer,
    "hmac": sign_hmac,
    "github": sign_github,
    "stripe": sign_stripe,
    "slack": sign_slack,
    "shopify": sign_shopify,
    "standard-webhooks": sign_standard_webhooks,
    "telegram": sign_telegram,
    "viber": sign_viber,
    "discord": sign_discord,
}

#: Any scheme: a sender's own id for the delivery, preferred over the scheme's.
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
#: The header(s) in which a scheme's provider names the delivery, first found wins.
DELIVERY_ID_HEADERS: dict[str, tuple[str, ...]] = {
    "github": (GITHUB_DELIVERY_HEADER,),
    "shopify": (SHOPIFY_WEBHOOK_ID_HEADER,),
    "standard-webhooks": (STANDARD_ID_HEADER, SVIX_ID_HEADER),
}
#: A longer id is ignored rather than cut: two ids sharing a prefix must not dedupe as one.
MAX_DELIVERY_ID_CHARS = 255


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, so schemes look them up one way whatever the caller passed."""
    return {name.lower(): value for name, value in headers.items()}


def verify(
    scheme: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now: datetime,
    options: VerifyOptions | None = None,
) -> None:
    """Run ``scheme`` over the request; raise :class:`VerificationError` unless it passes.

    ``now`` must be timezone-aware (ValueError otherwise: a naive one would be read as local
    time and shift every window).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    verifier = SCHEMES.get(scheme)
    if verifier is None:
        raise VerificationError(f"unknown verification scheme {scheme!r}")
    verifier(lower_headers(headers), body, secret, now, options or VerifyOptions())


def sign(
    scheme: str, body: bytes, secret: str, now: datetime, *, message_id: str | None = None
) -> dict[str, str]:
    """The headers a sender of ``scheme`` attaches to ``body`` at ``now``.

    With ``message_id``, the delivery id goes in the scheme's own id header, or in
    ``Idempotency-Key`` for a scheme without one, so :func:`delivery_id` finds it again.
    ``standard-webhooks`` always sends an id, a new ``msg_<ULID>`` unless one is given.
    ValueError for an unknown scheme, an empty secret, and ``discord`` (Discord signs with a
    private key that hookhub never holds).
    """
    signer = SIGNERS.get(scheme)
    if signer is None:
        raise ValueError(f"unknown verification scheme {scheme!r}")
    if not secret:
        raise ValueError("an empty secret signs nothing")
    headers = signer(body, secret, now, message_id)
    if message_id is not None and scheme not in DELIVERY_ID_HEADERS:
        headers["Idempotency-Key"] = message_id
    return headers


def delivery_id(scheme: str, headers: Mapping[str, str]) -> str | None:
    """The sender's id for this delivery, from headers only, for dedupe; ``None`` if none.

    ``Idempotency-Key`` (any scheme) first, then the scheme's own header (``X-GitHub-Delivery``,
    ``X-Shopify-Webhook-Id``, ``webhook-id`` or ``svix-id``). Blank values and values over
    :data:`MAX_DELIVERY_ID_CHARS` count as none. Ids in the body (Telegram ``update_id``, a
    configured JSON path) are the endpoint's business: this never reads the body.
    """
    lowered = lower_headers(headers)
    for name in (IDEMPOTENCY_KEY_HEADER, *DELIVERY_ID_HEADERS.get(scheme, ())):
        value = lowered.get(name, "").strip()
        if value and len(value) <= MAX_DELIVERY_ID_CHARS:
            return value
    return None
