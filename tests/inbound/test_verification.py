"""The scheme registry as a whole: dispatch, sign/verify round trips, delivery ids, and what no
scheme may do (leak the secret, parse the body, crash on a malformed header).

Per-scheme vectors live beside this file, one test module per scheme family.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hookhub.inbound.verification import (
    MAX_DELIVERY_ID_CHARS,
    PUBLIC_MESSAGE,
    SCHEMES,
    SIGNERS,
    VerificationError,
    VerifyOptions,
    delivery_id,
    sign,
    verify,
)

#: An injected clock: every window in these tests is measured from here.
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
SECRET = "s3cret-Value_42"
BODY = b'{"title":"Login not working","priority":2}'
#: Every scheme hookhub can sign for (Discord signs with a private key hookhub never holds).
SIGNABLE = sorted(set(SCHEMES) - {"discord"})


def reason(call: Callable[[], object]) -> str:
    """The reason of the VerificationError ``call`` raises; fails the test if it passes."""
    with pytest.raises(VerificationError) as caught:
        call()
    assert caught.value.message == PUBLIC_MESSAGE
    assert caught.value.status_code == 401
    return caught.value.reason


def test_every_scheme_has_a_signer_and_the_issue_names_them_all() -> None:
    assert set(SIGNERS) == set(SCHEMES)
    assert set(SCHEMES) == {
        "bearer",
        "hmac",
        "github",
        "stripe",
        "slack",
        "shopify",
        "standard-webhooks",
        "telegram",
        "viber",
        "discord",
    }


@pytest.mark.parametrize("scheme", SIGNABLE)
def test_what_sign_attaches_verifies(scheme: str) -> None:
    headers = sign(scheme, BODY, SECRET, NOW)
    verify(scheme, headers, BODY, SECRET, NOW)
    # Replay protection on changes nothing for a sender that signs with hookhub.
    verify(scheme, headers, BODY, SECRET, NOW, VerifyOptions(require_timestamp=True))


@pytest.mark.parametrize("scheme", SIGNABLE)
def test_header_names_are_matched_in_any_case(scheme: str) -> None:
    headers = sign(scheme, BODY, SECRET, NOW)
    verify(scheme, {k.upper(): v for k, v in headers.items()}, BODY, SECRET, NOW)
    verify(scheme, {k.lower(): v for k, v in headers.items()}, BODY, SECRET, NOW)


@pytest.mark.parametrize("scheme", SIGNABLE)
def test_the_body_is_never_parsed(scheme: str) -> None:
    # Not UTF-8, not JSON: a scheme that decoded or parsed the body would fail or crash here.
    body = b"\xff\xfe\x00 not json {"
    verify(scheme, sign(scheme, body, SECRET, NOW), body, SECRET, NOW)


@pytest.mark.parametrize("scheme", SIGNABLE)
def test_a_wrong_secret_fails(scheme: str) -> None:
    headers = sign(scheme, BODY, SECRET, NOW)
    assert reason(lambda: verify(scheme, headers, BODY, SECRET + "x", NOW))


@pytest.mark.parametrize("scheme", sorted(set(SIGNABLE) - {"bearer", "telegram"}))
def test_a_tampered_body_fails(scheme: str) -> None:
    headers = sign(scheme, BODY, SECRET, NOW)
    tampered = BODY.replace(b"2", b"3")
    assert reason(lambda: verify(scheme, headers, tampered, SECRET, NOW)) == "signature mismatch"


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_no_headers_at_all_fails(scheme: str) -> None:
    secret = "ab" * 32 if scheme == "discord" else SECRET
    assert reason(lambda: verify(scheme, {}, BODY, secret, NOW))


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_an_empty_secret_fails_closed(scheme: str) -> None:
    # An empty HMAC key or token is one anybody can use: refuse, even if the request "matches".
    headers = sign(scheme, BODY, "x", NOW) if scheme != "discord" else {}
    if scheme == "bearer":
        headers = {"Authorization": "Bearer "}
    if scheme == "telegram":
        headers = {"X-Telegram-Bot-Api-Secret-Token": ""}
    assert "no secret" in reason(lambda: verify(scheme, headers, BODY, "", NOW))


def _failures(scheme: str, secret: str) -> list[dict[str, str]]:
    """Header sets that must each fail, several of them carrying near-copies of the secret."""
    signed = sign(scheme, BODY, secret, NOW)
    near = secret[:-1] + "?"
    cases = [
        {},
        {name: "" for name in signed},
        {name: near for name in signed},
        {name: secret for name in signed},
        {name: f"sha256={near}" for name in signed},
        {name: "\u00e9\u4e2d\ud7ff" for name in signed},
        {"Authorization": f"Bearer {near}", "X-Telegram-Bot-Api-Secret-Token": near},
    ]
    return [headers for headers in cases if headers != signed]


@pytest.mark.parametrize("scheme", SIGNABLE)
def test_no_reason_contains_the_secret_or_what_was_presented(scheme: str) -> None:
    secret = "VERY-distinctive-Secret-0123456789"
    for headers in _failures(scheme, secret):
        why = reason(lambda h=headers: verify(scheme, h, BODY, secret, NOW))
        for leak in (secret, secret[:-1], secret[:12]):
            assert leak not in why
            assert leak not in PUBLIC_MESSAGE
    # A wrong secret on the receiving side must not show up either.
    signed = sign(scheme, BODY, "other", NOW)
    assert secret[:12] not in reason(lambda: verify(scheme, signed, BODY, secret, NOW))


def test_an_unknown_scheme_fails_verification_and_cannot_sign() -> None:
    assert "unknown verification scheme" in reason(lambda: verify("nope", {}, BODY, SECRET, NOW))
    with pytest.raises(ValueError, match="unknown verification scheme"):
        sign("nope", BODY, SECRET, NOW)


def test_sign_refuses_discord_and_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="private key"):
        sign("discord", BODY, "ab" * 32, NOW)
    with pytest.raises(ValueError, match="empty secret"):
        sign("hmac", BODY, "", NOW)


def test_a_naive_now_is_a_programming_error() -> None:
    headers = sign("hmac", BODY, SECRET, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify("hmac", headers, BODY, SECRET, NOW.replace(tzinfo=None))


@pytest.mark.parametrize("tolerance_s", [0.0, -1.0, math.nan, math.inf])
def test_options_refuse_a_window_that_is_not_a_positive_number(tolerance_s: float) -> None:
    with pytest.raises(ValueError, match="tolerance_s"):
        VerifyOptions(tolerance_s=tolerance_s)


@pytest.mark.parametrize("scheme", ["hmac", "stripe", "slack", "standard-webhooks"])
def test_a_custom_window_applies(scheme: str) -> None:
    options = VerifyOptions(tolerance_s=30, require_timestamp=True)
    headers = sign(scheme, BODY, SECRET, NOW - timedelta(seconds=30))
    verify(scheme, headers, BODY, SECRET, NOW, options)
    headers = sign(scheme, BODY, SECRET, NOW - timedelta(seconds=31))
    assert "too old" in reason(lambda: verify(scheme, headers, BODY, SECRET, NOW, options))


@pytest.mark.parametrize("scheme", SIGNABLE)
def test_a_message_id_given_to_sign_is_the_delivery_id(scheme: str) -> None:
    headers = sign(scheme, BODY, SECRET, NOW, message_id="delivery-7")
    assert delivery_id(scheme, headers) == "delivery-7"
    verify(scheme, headers, BODY, SECRET, NOW)


@pytest.mark.parametrize(
    ("scheme", "headers", "expected"),
    [
        (
            "github",
            {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        ),
        ("standard-webhooks", {"webhook-id": "msg_1"}, "msg_1"),
        ("standard-webhooks", {"svix-id": "msg_2"}, "msg_2"),
        ("shopify", {"X-Shopify-Webhook-Id": "b54557e4"}, "b54557e4"),
        ("hmac", {"Idempotency-Key": "key-1"}, "key-1"),
        ("github", {"Idempotency-Key": "key-2", "X-GitHub-Delivery": "gh"}, "key-2"),
        ("standard-webhooks", {"idempotency-key": "key-3", "webhook-id": "msg_3"}, "key-3"),
        # A scheme reads only its own provider's id header.
        ("hmac", {"X-GitHub-Delivery": "gh", "webhook-id": "msg_4"}, None),
        ("telegram", {}, None),
        ("github", {"X-GitHub-Delivery": "   "}, None),
        ("github", {"X-GitHub-Delivery": "x" * (MAX_DELIVERY_ID_CHARS + 1)}, None),
        ("github", {"X-GitHub-Delivery": "x" * MAX_DELIVERY_ID_CHARS}, "x" * MAX_DELIVERY_ID_CHARS),
        ("nope", {"Idempotency-Key": " key-5 "}, "key-5"),
    ],
)
def test_delivery_id(scheme: str, headers: dict[str, str], expected: str | None) -> None:
    assert delivery_id(scheme, headers) == expected


def test_standard_webhooks_sign_makes_an_id_when_none_is_given() -> None:
    first = sign("standard-webhooks", BODY, SECRET, NOW)
    second = sign("standard-webhooks", BODY, SECRET, NOW)
    assert first["webhook-id"].startswith("msg_")
    # Two deliveries of the same body in the same second are still two deliveries.
    assert first["webhook-id"] != second["webhook-id"]
