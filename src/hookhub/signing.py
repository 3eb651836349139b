"""Signature schemes over raw bytes: pure functions, no clock reads, no I/O.

Outgoing deliveries carry two signatures:

- the **seed 004 scheme**: ``X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>``, where
  the body is ``json.dumps(payload, sort_keys=True)``, so a receiver that re-serialises the
  parsed payload that way (as the seed's own receiver does) computes the same bytes;
- **Standard Webhooks**: ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>``,
  space-separated when several keys are live (secret rotation).

A secret given as ``whsec_<base64>`` is a Standard Webhooks secret: its key is the decoded bytes.
Any other secret string is its own key, as UTF-8. The seed scheme always uses the secret string
as UTF-8, exactly as the seed's receiver does.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from typing import Any

WHSEC_PREFIX = "whsec_"
#: Random bytes in a generated secret (Svix uses 24; more does no harm).
GENERATED_SECRET_BYTES = 32
SEED_SIGNATURE_PREFIX = "sha256="
STANDARD_VERSION = "v1"


class SignatureError(ValueError):
    """A secret or signature header is malformed. The message never contains the secret."""


def seed_body(payload: Any) -> bytes:
    """The delivery body: what ``json.dumps(payload, sort_keys=True)`` gives, as bytes."""
    return json.dumps(payload, sort_keys=True).encode("utf-8")


def seed_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the seed 004 ``X-Webhook-Signature`` value."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SEED_SIGNATURE_PREFIX + digest


def generate_secret() -> str:
    return WHSEC_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_SECRET_BYTES)).decode()


#: Secrets whose decoded key is kept: a few per webhook (rotation), signed at every attempt.
KEYS_KEPT = 4096


@functools.lru_cache(maxsize=KEYS_KEPT)
def standard_key(secret: str) -> bytes:
    """The HMAC key of a secret: decoded ``whsec_`` base64, or the string's UTF-8 bytes.

    Cached: a webhook's secret is decoded once, not at every attempt (a malformed one raises
    every time, as errors are not cached).
    """
    if not secret.startswith(WHSEC_PREFIX):
        return secret.encode("utf-8")
    encoded = secret.removeprefix(WHSEC_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("a whsec_ secret must be base64 after the prefix") from None
    if not key:
        raise SignatureError("a whsec_ secret must not be empty")
    return key


def standard_signature(key: bytes, message_id: str, timestamp_s: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of Standard Webhooks."""
    signed = f"{message_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{STANDARD_VERSION},{base64.b64encode(digest).decode()}"


def standard_signature_header(
    keys: Iterable[bytes], message_id: str, timestamp_s: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: one signature per live key, space-separated."""
    return " ".join(standard_signature(key, message_id, timestamp_s, body) for key in keys)
