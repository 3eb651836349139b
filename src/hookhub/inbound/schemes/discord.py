"""``discord``: Ed25519 over ``X-Signature-Timestamp`` + body, checked with the public key.

https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers

The secret is the application's public key (hex, from the developer portal), so hookhub can
verify Discord's requests but never sign one. Discord signs the timestamp, so the window check
is a real replay bound here.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from hookhub.inbound.schemes.base import (
    Headers,
    VerificationError,
    VerifyOptions,
    check_timestamp,
    decode_hex,
    parse_epoch,
    require_header,
    require_secret,
)

DISCORD_SIGNATURE_HEADER = "x-signature-ed25519"
DISCORD_TIMESTAMP_HEADER = "x-signature-timestamp"
ED25519_PUBLIC_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
#: Parsed keys kept: one per Discord endpoint is plenty.
_KEY_CACHE_SIZE = 64


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _verify_key(public_key_hex: str) -> VerifyKey | None:
    raw = decode_hex(public_key_hex.strip(), ED25519_PUBLIC_KEY_BYTES)
    return VerifyKey(raw) if raw is not None else None


def verify_discord(
    headers: Headers, body: bytes, secret: str, now: datetime, options: VerifyOptions
) -> None:
    require_secret(secret)
    key = _verify_key(secret)
    if key is None:
        raise VerificationError("the configured Discord public key is not 64 hex digits")
    presented = require_header(headers, DISCORD_SIGNATURE_HEADER)
    timestamp = require_header(headers, DISCORD_TIMESTAMP_HEADER)
    signature = decode_hex(presented, ED25519_SIGNATURE_BYTES)
    if signature is None:
        raise VerificationError(f"malformed {DISCORD_SIGNATURE_HEADER} header")
    timestamp_s = parse_epoch(timestamp, DISCORD_TIMESTAMP_HEADER)
    try:
        key.verify(timestamp.encode("ascii") + body, signature)
    except BadSignatureError:
        raise VerificationError("signature mismatch") from None
    check_timestamp(timestamp_s, now, options.tolerance_s)


def sign_discord(body: bytes, secret: str, now: datetime, message_id: str | None) -> dict[str, str]:
    raise ValueError(
        "discord requests are signed with the application's private key; "
        "a public key can only verify them"
    )
