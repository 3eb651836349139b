"""HMAC-SHA256 of the raw body alone: ``hmac`` (seed 002), ``github``, ``shopify``, ``viber``.

The key is always the secret string as UTF-8. They differ only in the header and the encoding.
None of them signs a timestamp, so a captured request verifies again later: dedupe by delivery
id is what stops a replay (``github`` and ``shopify`` send one; ``hmac`` senders can send
``Idempotency-Key``).
"""

from __future__ import annotations

import base64
import re
from datetime import datetime

from hookhub.inbound.schemes.base import (
    SHA256_BYTES,
    Headers,
    VerificationError,
    VerifyOptions,
    check_timestamp,
    decode_base64,
    decode_hex,
    hmac_sha256,
    matches_any,
    parse_epoch,
    require_header,
    require_secret,
)

HMAC_SIGNATURE_HEADER = "x-webhook-signature"
HMAC_TIMESTAMP_S_HEADER = "x-webhook-timestamp"
HMAC_TIMESTAMP_MS_HEADER = "x-timestamp"
SHA256_PREFIX = "sha256="
MS_PER_S = 1000.0
#: Several ``hmac`` signatures may be sent at once while the sender rotates its secret.
_SIGNATURE_SEPARATORS = re.compile(r"[,\s]+")

#: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
GITHUB_SIGNATURE_HEADER = "x-hub-signature-256"
GITHUB_DELIVERY_HEADER = "x-github-delivery"
#: https://shopify.dev/docs/apps/build/webhooks/subscribe/https (verify the webhook)
SHOPIFY_SIGNATURE_HEADER = "x-shopify-hmac-sha256"
SHOPIFY_WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
#: https://developers.viber.com/docs/api/rest-bot-api/#callbacks
VIBER_SIGNATURE_HEADER = "x-viber-content-signature"


def _hmac_timestamp(headers: Headers, options: VerifyOptions, now: datetime) -> None:
    seconds = headers.get(HMAC_TIMESTAMP_S_HEADER, "").strip()
    millis = headers.get(HMAC_TIMESTAMP_MS_HEADER, "").strip()
    if seconds:
        timestamp_s = parse_epoch(seconds, HMAC_TIMESTAMP_S_HEADER, fraction=True)
    elif millis:
        timestamp_s = parse_epoch(millis, HMAC_TIMESTAMP_MS_HEADER, fraction=True) / MS_PER_S
    elif options.require_timestamp:
        raise VerificationError("missing timestamp header")
    else:
        return
    check_timestamp(timestamp_s, now, options.tolerance_s)


def verify_hmac(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """Seed 002: ``X-Webhook-Signature``, hex HMAC-SHA256 of the raw body, ``sha256=`` optional.

    The timestamp (``X-Webhook-Timestamp`` in seconds, else ``X-Timestamp`` in milliseconds)
    is checked against the window but is **not** part of the signed content: seed 002's sender
    signs the body alone (``openssl dgst -sha256 -hmac`` over it), and a receiver that signed
    more would refuse every request that sender makes. A replayed request with a fresh
    timestamp header therefore verifies; dedupe is what refuses it. Several signatures,
    comma- or space-separated, are accepted while the sender rotates.
    """
    require_secret(secret)
    presented = require_header(headers, HMAC_SIGNATURE_HEADER)
    _hmac_timestamp(headers, options, now)
    expected = hmac_sha256(secret.encode("utf-8"), body)
    candidates = (
        decode_hex(item.removeprefix(SHA256_PREFIX), SHA256_BYTES)
        for item in _SIGNATURE_SEPARATORS.split(presented)
    )
    if not matches_any(expected, candidates):
        raise VerificationError("signature mismatch")


def sign_hmac(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    # Bare hex, as seed 002's curl example sends it, and a timestamp so that an endpoint with
    # replay protection on accepts it too.
    return {
        "X-Webhook-Signature": hmac_sha256(secret.encode("utf-8"), body).hex(),
        "X-Webhook-Timestamp": str(int(now.timestamp())),
    }


def _check_body_signature(header: str, candidate: bytes | None, body: bytes, secret: str) -> None:
    """One decoded signature (None: it did not decode) against HMAC-SHA256 of the body."""
    if candidate is None:
        raise VerificationError(f"malformed {header} header")
    if not matches_any(hmac_sha256(secret.encode("utf-8"), body), [candidate]):
        raise VerificationError("signature mismatch")


def verify_github(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``."""
    require_secret(secret)
    presented = require_header(headers, GITHUB_SIGNATURE_HEADER)
    candidate = (
        decode_hex(presented.removeprefix(SHA256_PREFIX), SHA256_BYTES)
        if presented.startswith(SHA256_PREFIX)
        else None
    )
    _check_body_signature(GITHUB_SIGNATURE_HEADER, candidate, body, secret)


def sign_github(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    headers = {"X-Hub-Signature-256": SHA256_PREFIX + hmac_sha256(secret.encode(), body).hex()}
    if message_id is not None:
        headers["X-GitHub-Delivery"] = message_id
    return headers


def verify_shopify(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body, keyed with the app secret."""
    require_secret(secret)
    presented = require_header(headers, SHOPIFY_SIGNATURE_HEADER)
    candidate = decode_base64(presented, SHA256_BYTES)
    _check_body_signature(SHOPIFY_SIGNATURE_HEADER, candidate, body, secret)


def sign_shopify(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    digest = hmac_sha256(secret.encode("utf-8"), body)
    headers = {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode("ascii")}
    if message_id is not None:
        headers["X-Shopify-Webhook-Id"] = message_id
    return headers


def verify_viber(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``X-Viber-Content-Signature``: hex HMAC-SHA256 of the body, keyed with the auth token."""
    require_secret(secret)
    presented = require_header(headers, VIBER_SIGNATURE_HEADER)
    candidate = decode_hex(presented, SHA256_BYTES)
    _check_body_signature(VIBER_SIGNATURE_HEADER, candidate, body, secret)


def sign_viber(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    return {"X-Viber-Content-Signature": hmac_sha256(secret.encode("utf-8"), body).hex()}
