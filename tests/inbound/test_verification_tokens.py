"""``bearer`` and ``telegram``: the request carries the secret itself."""

from __future__ import annotations

import pytest

from hookhub.inbound.verification import SECRET_HEADERS, sign, verify
from tests.inbound.test_verification import BODY, NOW, reason

# Telegram's setWebhook: secret_token is 1-256 characters of A-Z, a-z, 0-9, _ and -, and comes
# back in X-Telegram-Bot-Api-Secret-Token on every update
# (https://core.telegram.org/bots/api#setwebhook).
TELEGRAM_TOKEN = "Tg_secret-token_0123456789"


@pytest.mark.parametrize("scheme_word", ["Bearer", "bearer", "BEARER"])
def test_bearer_accepts_the_scheme_word_in_any_case(scheme_word: str) -> None:
    verify("bearer", {"Authorization": f"{scheme_word} tok-1"}, BODY, "tok-1", NOW)


def test_bearer_is_what_seed_002_sends() -> None:
    # The seed's curl: -H "Authorization: Bearer YOUR_BEARER_TOKEN".
    headers = {"Authorization": "Bearer YOUR_BEARER_TOKEN"}
    verify("bearer", headers, BODY, "YOUR_BEARER_TOKEN", NOW)
    assert sign("bearer", BODY, "YOUR_BEARER_TOKEN", NOW) == headers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing bearer token"),
        ({"Authorization": "tok-1"}, "missing bearer token"),
        ({"Authorization": "Bearer"}, "missing bearer token"),
        ({"Authorization": "Bearer "}, "wrong bearer token"),
        ({"Authorization": "Bearer tok-2"}, "wrong bearer token"),
        ({"Authorization": "Bearer tok-1x"}, "wrong bearer token"),
        ({"Authorization": "Bearer tok-"}, "wrong bearer token"),
        ({"Authorization": "Bearer t\u00f6k-1"}, "wrong bearer token"),
    ],
)
def test_bearer_refuses(headers: dict[str, str], expected: str) -> None:
    assert reason(lambda: verify("bearer", headers, BODY, "tok-1", NOW)) == expected


def test_telegram_secret_token() -> None:
    headers = sign("telegram", BODY, TELEGRAM_TOKEN, NOW)
    assert headers == {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN}
    verify("telegram", headers, BODY, TELEGRAM_TOKEN, NOW)
    # The token says nothing about the body: any body with the right token passes.
    verify("telegram", headers, b'{"update_id": 1}', TELEGRAM_TOKEN, NOW)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "missing x-telegram-bot-api-secret-token header"),
        (
            {"X-Telegram-Bot-Api-Secret-Token": "  "},
            "missing x-telegram-bot-api-secret-token header",
        ),
        (
            {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN[:-1]},
            "wrong x-telegram-bot-api-secret-token",
        ),
        (
            {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN + "0"},
            "wrong x-telegram-bot-api-secret-token",
        ),
        (
            {"X-Telegram-Bot-Api-Secret-Token": "\u00e9t\u00e9"},
            "wrong x-telegram-bot-api-secret-token",
        ),
        # Someone else's token scheme is not Telegram's.
        (
            {"Authorization": f"Bearer {TELEGRAM_TOKEN}"},
            "missing x-telegram-bot-api-secret-token header",
        ),
    ],
)
def test_telegram_refuses(headers: dict[str, str], expected: str) -> None:
    assert reason(lambda: verify("telegram", headers, BODY, TELEGRAM_TOKEN, NOW)) == expected


def test_the_headers_that_hold_a_secret_are_named_for_masking() -> None:
    for scheme in ("bearer", "telegram"):
        names = {name.lower() for name in sign(scheme, BODY, "tok", NOW)}
        assert names <= SECRET_HEADERS
