"""Schemes that sign a timestamp with the body: ``stripe``, ``slack``, ``standard-webhooks``.

The timestamp is part of the signed content, so the window check (both ways, ``tolerance_s``)
really bounds a replay; the timestamp is always required. The timestamp is checked after the
signature, so a reason of "too old" also says the signature was right (a clock problem, not a
forgery).
"""

from __future__ import annotations

from datetime import datetime

from hookhub.events import new_id
from hookhub.inbound.schemes.base import (
    MAX_SIGNATURES,
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
from hookhub.signing import SignatureError, standard_key, standard_signature

#: https://docs.stripe.com/webhooks#verify-manually
STRIPE_SIGNATURE_HEADER = "stripe-signature"
STRIPE_SCHEME = "v1"
#: https://docs.slack.dev/authentication/verifying-requests-from-slack
SLACK_SIGNATURE_HEADER = "x-slack-signature"
SLACK_TIMESTAMP_HEADER = "x-slack-request-timestamp"
SLACK_VERSION = "v0"
#: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
#: Svix, the reference sender, may send its own names for the same three headers.
SVIX_ID_HEADER = "svix-id"
SVIX_TIMESTAMP_HEADER = "svix-timestamp"
SVIX_SIGNATURE_HEADER = "svix-signature"
STANDARD_VERSION = "v1"


def verify_stripe(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]`` over ``"{t}.{body}"``.

    The key is the whole ``whsec_...`` string as UTF-8 (Stripe does not decode it). Entries
    other than ``t`` and ``v1`` (the test-mode ``v0``) are ignored; every ``v1`` is tried,
    since Stripe sends one per live secret while one is being rolled.
    """
    require_secret(secret)
    header = require_header(headers, STRIPE_SIGNATURE_HEADER)
    timestamp: str | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and timestamp is None:
            timestamp = value
        elif key == STRIPE_SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise VerificationError(f"no timestamp in {STRIPE_SIGNATURE_HEADER}")
    if not signatures:
        raise VerificationError(f"no {STRIPE_SCHEME} signature in {STRIPE_SIGNATURE_HEADER}")
    timestamp_s = parse_epoch(timestamp, f"{STRIPE_SIGNATURE_HEADER} t=")
    expected = hmac_sha256(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body)
    if not matches_any(expected, (decode_hex(s, SHA256_BYTES) for s in signatures)):
        raise VerificationError("signature mismatch")
    check_timestamp(timestamp_s, now, options.tolerance_s)


def sign_stripe(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    digest = hmac_sha256(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body)
    return {"Stripe-Signature": f"t={timestamp},{STRIPE_SCHEME}={digest.hex()}"}


def _slack_digest(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac_sha256(secret.encode("utf-8"), f"{SLACK_VERSION}:{timestamp}:".encode() + body)


def verify_slack(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """``X-Slack-Signature: v0=<hex>`` over ``v0:{X-Slack-Request-Timestamp}:{body}``."""
    require_secret(secret)
    presented = require_header(headers, SLACK_SIGNATURE_HEADER)
    timestamp = require_header(headers, SLACK_TIMESTAMP_HEADER)
    timestamp_s = parse_epoch(timestamp, SLACK_TIMESTAMP_HEADER)
    version, _, signature = presented.partition("=")
    candidate = decode_hex(signature, SHA256_BYTES) if version == SLACK_VERSION else None
    if candidate is None:
        raise VerificationError(f"malformed {SLACK_SIGNATURE_HEADER} header")
    if not matches_any(_slack_digest(secret, timestamp, body), [candidate]):
        raise VerificationError("signature mismatch")
    check_timestamp(timestamp_s, now, options.tolerance_s)


def sign_slack(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    signature = _slack_digest(secret, timestamp, body).hex()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"{SLACK_VERSION}={signature}",
    }


def _standard_header(headers: Headers, name: str, svix_name: str) -> str:
    if headers.get(name, "").strip():
        return require_header(headers, name)
    if headers.get(svix_name, "").strip():
        return require_header(headers, svix_name)
    raise VerificationError(f"missing {name} header")


def verify_standard_webhooks(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    """Standard Webhooks: ``webhook-signature: v1,<base64> [v1,<base64>...]`` over
    ``"{webhook-id}.{webhook-timestamp}.{body}"``; the secret is ``whsec_<base64>`` or raw.

    Signatures of other versions (``v1a``, asymmetric) are skipped, as the spec says.
    """
    require_secret(secret)
    try:
        key = standard_key(secret)
    except SignatureError:
        raise VerificationError("malformed whsec_ secret") from None
    message_id = _standard_header(headers, STANDARD_ID_HEADER, SVIX_ID_HEADER)
    timestamp = _standard_header(headers, STANDARD_TIMESTAMP_HEADER, SVIX_TIMESTAMP_HEADER)
    presented = _standard_header(headers, STANDARD_SIGNATURE_HEADER, SVIX_SIGNATURE_HEADER)
    timestamp_s = parse_epoch(timestamp, STANDARD_TIMESTAMP_HEADER)
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = hmac_sha256(key, signed)
    candidates = []
    for item in presented.split()[:MAX_SIGNATURES]:
        version, comma, signature = item.partition(",")
        if comma and version == STANDARD_VERSION:
            candidates.append(decode_base64(signature, SHA256_BYTES))
    if not candidates:
        raise VerificationError(f"no {STANDARD_VERSION} signature in {STANDARD_SIGNATURE_HEADER}")
    if not matches_any(expected, candidates):
        raise VerificationError("signature mismatch")
    check_timestamp(timestamp_s, now, options.tolerance_s)


def sign_standard_webhooks(
    body: bytes, secret: str, now: datetime, message_id: str | None
) -> dict[str, str]:
    """The three Standard Webhooks headers; a ``msg_<ULID>`` id when none is given."""
    message_id = message_id if message_id is not None else f"msg_{new_id(now)}"
    timestamp_s = int(now.timestamp())
    signature = standard_signature(standard_key(secret), message_id, timestamp_s, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature,
    }
