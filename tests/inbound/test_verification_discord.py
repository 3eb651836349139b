"""``discord``: Ed25519 over ``X-Signature-Timestamp`` + body, checked with the public key.

Discord documents the scheme with a PyNaCl example and no vector
(https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers),
so requests here are signed with PyNaCl's ``SigningKey`` as Discord signs them, and Discord's
own ``discord-interactions`` library is asked for its verdict beside hookhub's.
"""

from __future__ import annotations

import pytest
from discord_interactions import verify_key as discord_verify
from nacl.signing import SigningKey

from hookhub.inbound.verification import sign, verify
from tests.inbound.test_verification import NOW, reason

SIGNING_KEY = SigningKey(bytes(range(32)))
PUBLIC_KEY = SIGNING_KEY.verify_key.encode().hex()
OTHER_PUBLIC_KEY = SigningKey(bytes(range(1, 33))).verify_key.encode().hex()
NOW_S = int(NOW.timestamp())
PING = b'{"type":1,"id":"1186354155396530187","application_id":"1186353905600348160"}'


def _headers(
    timestamp: str = str(NOW_S), body: bytes = PING, key: SigningKey = SIGNING_KEY
) -> dict[str, str]:
    signature = key.sign(timestamp.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp}


def _discord_says(headers: dict[str, str], body: bytes, public_key: str) -> bool:
    return discord_verify(
        body, headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"], public_key
    )


def test_discord_accepts_a_request_signed_as_discord_signs() -> None:
    headers = _headers()
    assert _discord_says(headers, PING, PUBLIC_KEY)
    verify("discord", headers, PING, PUBLIC_KEY, NOW)
    # Hex of either case, and a key pasted with surrounding spaces.
    upper = {name: value.upper() for name, value in headers.items()}
    verify("discord", upper, PING, f" {PUBLIC_KEY.upper()} ", NOW)


@pytest.mark.parametrize(
    ("headers", "body", "public_key"),
    [
        (_headers(), PING + b" ", PUBLIC_KEY),
        (_headers(), PING, OTHER_PUBLIC_KEY),
        ({**_headers(), "X-Signature-Timestamp": str(NOW_S + 1)}, PING, PUBLIC_KEY),
        (_headers(key=SigningKey(bytes(32))), PING, PUBLIC_KEY),
        # A small-order public key must not verify anything.
        ({**_headers(), "X-Signature-Ed25519": "00" * 64}, PING, "00" * 32),
    ],
)
def test_discord_refuses_what_discords_library_refuses(
    headers: dict[str, str], body: bytes, public_key: str
) -> None:
    assert not _discord_says(headers, body, public_key)
    assert reason(lambda: verify("discord", headers, body, public_key, NOW)) == "signature mismatch"


@pytest.mark.parametrize(
    "public_key", ["not a key", "ab" * 31, "ab" * 33, "zz" * 32, "ab " * 32, "0x" + "ab" * 31]
)
def test_a_malformed_public_key_is_a_failure_not_a_crash(public_key: str) -> None:
    why = reason(lambda: verify("discord", _headers(), PING, public_key, NOW))
    assert why == "the configured Discord public key is not 64 hex digits"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"X-Signature-Ed25519": None}, "missing x-signature-ed25519 header"),
        ({"X-Signature-Timestamp": None}, "missing x-signature-timestamp header"),
        ({"X-Signature-Ed25519": "xyz"}, "malformed x-signature-ed25519 header"),
        ({"X-Signature-Ed25519": "ab" * 63}, "malformed x-signature-ed25519 header"),
        ({"X-Signature-Ed25519": "ab" * 65}, "malformed x-signature-ed25519 header"),
        ({"X-Signature-Timestamp": "soon"}, "malformed x-signature-timestamp header"),
        ({"X-Signature-Timestamp": "\u0661\u0662"}, "malformed x-signature-timestamp header"),
    ],
)
def test_discord_refuses_malformed_headers(change: dict[str, str | None], expected: str) -> None:
    headers = {k: v for k, v in {**_headers(), **change}.items() if v is not None}
    assert reason(lambda: verify("discord", headers, PING, PUBLIC_KEY, NOW)) == expected


@pytest.mark.parametrize("offset_s", [-300, 300])
def test_discord_timestamp_just_inside_the_window(offset_s: int) -> None:
    verify("discord", _headers(str(NOW_S + offset_s)), PING, PUBLIC_KEY, NOW)


@pytest.mark.parametrize(
    ("offset_s", "expected"),
    [(-301, "timestamp too old (301 s)"), (301, "timestamp in the future (301 s)")],
)
def test_discord_timestamp_just_outside_the_window(offset_s: int, expected: str) -> None:
    headers = _headers(str(NOW_S + offset_s))
    # Discord's library does not look at the time; the signature itself is good.
    assert _discord_says(headers, PING, PUBLIC_KEY)
    assert reason(lambda: verify("discord", headers, PING, PUBLIC_KEY, NOW)) == expected


def test_discord_cannot_be_signed_with_a_public_key() -> None:
    with pytest.raises(ValueError, match="private key"):
        sign("discord", PING, PUBLIC_KEY, NOW)
